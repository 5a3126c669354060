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
        AuditPage, AuditQuery, ConnectionCheck, ConsoleUserRow, LoginResult, NewProjectKeys, NotificationPage,
        NotificationQuery, PaymentDetail, ProjectDetail, ProjectSummary, RefundQuery, RefundReport, ReplayRequest,
        Reverification, Role, RotatedSecret, SessionInfo, Statistics, StatisticsQuery, StatusChange, StoreAppForm,
        TransactionPage, TransactionQuery, UserChange, WebhookSecret,
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
    /// One page of the store-notification inbox; every role may read it, and only support and
    /// admins get the raw bodies.
    async fn notifications(&self, req: &Parts, query: NotificationQuery) -> Result<NotificationPage, AppError>;
    /// Makes a notification due for processing now; support and admins, audited.
    async fn reprocess_notification(&self, req: &Parts, id: i64) -> Result<(), AppError>;
    /// Asks the store about the payment now; support and admins.
    async fn reverify_payment(&self, req: &Parts, payment_seq: &str) -> Result<Reverification, AppError>;
    /// The preference sent for an open refund request under the SUPPORT policy; support and admins,
    /// audited.
    async fn choose_refund_preference(
        &self,
        req: &Parts,
        payment_seq: &str,
        request_id: i64,
        preference: &str,
    ) -> Result<(), AppError>;
    /// Support and admins; the reason is mandatory and the change is audited.
    async fn change_payment_status(&self, req: &Parts, change: StatusChange) -> Result<(), AppError>;
    /// Keys (no secrets), store apps (secrets masked) and items; every role may read it.
    async fn project_detail(&self, req: &Parts, project_id: i64) -> Result<ProjectDetail, AppError>;
    /// Admins only, as every change below.
    async fn rotate_secret(&self, req: &Parts, project_id: i64, grace_hours: i64) -> Result<RotatedSecret, AppError>;
    async fn set_key_enabled(&self, req: &Parts, project_id: i64, enabled: bool) -> Result<(), AppError>;
    /// What callers holding only the AppKey may do: the user-binding rule and the build-in model.
    async fn set_project_policy(
        &self,
        req: &Parts,
        project_id: i64,
        user_binding: &str,
        client_consume: bool,
    ) -> Result<(), AppError>;
    /// What is answered when a store asks about a refund, and whether the app's customers consented
    /// to consumption data going to Apple.
    async fn set_refund_policy(
        &self,
        req: &Parts,
        project_id: i64,
        policy: &str,
        consent: bool,
    ) -> Result<(), AppError>;
    async fn save_store_app(&self, req: &Parts, form: StoreAppForm) -> Result<i64, AppError>;
    async fn check_store_app(&self, req: &Parts, store_app_id: i64) -> Result<ConnectionCheck, AppError>;
    async fn add_item(
        &self,
        req: &Parts,
        store_app_id: i64,
        store_product_id: &str,
        name: &str,
        product_type: &str,
    ) -> Result<i64, AppError>;
    async fn rename_item(&self, req: &Parts, product_seq: i64, name: &str) -> Result<(), AppError>;
    async fn set_item_status(&self, req: &Parts, product_seq: i64, status: &str) -> Result<(), AppError>;
    /// Replaces the item's registered prices (`1200 KRW, 0.99 USD`, the default first).
    async fn set_item_prices(&self, req: &Parts, product_seq: i64, prices: &str) -> Result<(), AppError>;
    async fn list_users(&self, req: &Parts) -> Result<Vec<ConsoleUserRow>, AppError>;
    async fn create_user(&self, req: &Parts, username: &str, password: String, role: Role) -> Result<i64, AppError>;
    async fn update_user(&self, req: &Parts, user_id: i64, change: UserChange) -> Result<(), AppError>;
    /// Clears an abuse flag after review; support and admins.
    async fn clear_abuse_flag(&self, req: &Parts, flag_id: i64) -> Result<(), AppError>;
    /// Admins only: endpoints and their secrets.
    async fn create_webhook(
        &self,
        req: &Parts,
        project_id: i64,
        url: &str,
        event_types: &str,
    ) -> Result<WebhookSecret, AppError>;
    async fn rotate_webhook_secret(
        &self,
        req: &Parts,
        endpoint_id: i64,
        grace_hours: i64,
    ) -> Result<WebhookSecret, AppError>;
    async fn set_webhook_enabled(&self, req: &Parts, endpoint_id: i64, enabled: bool) -> Result<(), AppError>;
    /// Support and admins: sends events again; returns how many deliveries were scheduled.
    async fn replay_webhooks(&self, req: &Parts, replay: ReplayRequest) -> Result<usize, AppError>;
    /// Sales and refunds; every role may read them.
    async fn statistics(&self, req: &Parts, query: StatisticsQuery) -> Result<Statistics, AppError>;
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
