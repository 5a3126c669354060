//! The seam between the console and the server that owns the data.
//!
//! `app` cannot depend on `server` (the server depends on `app` for its pages), so the console states
//! what it needs as a trait, and the server implements it and hands it in as Leptos context. Every
//! method receives the request parts: the implementation reads the session from them and enforces
//! sign-in and role itself, so no page or server function can forget to.
use std::sync::Arc;

use http::request::Parts;
use leptos::prelude::use_context;

use crate::{
    model::{
        AuditPage, AuditQuery, LoginResult, NewProjectKeys, PaymentDetail, ProjectSummary, RefundQuery, RefundReport,
        SessionInfo, TransactionPage, TransactionQuery,
    },
    AppError,
};

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The signed-in user, if any, and this session's CSRF token (created on first use).
    async fn session_info(&self, req: &Parts) -> Result<SessionInfo, AppError>;
    async fn login(&self, req: &Parts, username: &str, password: &str) -> Result<LoginResult, AppError>;
    async fn logout(&self, req: &Parts) -> Result<(), AppError>;
    async fn list_projects(&self, req: &Parts) -> Result<Vec<ProjectSummary>, AppError>;
    /// Admins only.
    async fn create_project(&self, req: &Parts, name: &str) -> Result<NewProjectKeys, AppError>;
    /// One page of a purchase search; every role may search.
    async fn search_transactions(&self, req: &Parts, query: TransactionQuery) -> Result<TransactionPage, AppError>;
    /// Everything about one payment; every role may read it.
    async fn payment_detail(&self, req: &Parts, payment_seq: &str) -> Result<PaymentDetail, AppError>;
    /// Refunds over a period and who had them; every role may read it.
    async fn refund_report(&self, req: &Parts, query: RefundQuery) -> Result<RefundReport, AppError>;
    /// Admins only.
    async fn audit_log(&self, req: &Parts, query: AuditQuery) -> Result<AuditPage, AppError>;
}

/// The backend as it travels through Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend and the current request, from inside a server function or a server-side render.
pub fn current() -> Result<(SharedBackend, Parts), AppError> {
    let backend = use_context::<SharedBackend>().ok_or(AppError::Internal)?;
    let parts = use_context::<Parts>().ok_or(AppError::Internal)?;
    Ok((backend, parts))
}
