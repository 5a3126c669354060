//! The console's backend: the server side of every server function, with sign-in and role
//! enforced here, where no page can skip it.
pub mod export;

use std::net::SocketAddr;

use app::{
    backend::Backend,
    model::{
        AuditPage, AuditQuery, LoginResult, NewProjectKeys, PaymentDetail, ProjectSummary, RefundQuery, RefundReport,
        Role, SessionInfo, TransactionPage, TransactionQuery, UserInfo,
    },
    AppError,
};
use axum::extract::ConnectInfo;
use http::request::Parts;
use tower_sessions::Session;

use crate::{
    audit,
    auth::{self, password, throttle},
    projects,
    state::AppState,
    users::{self, ConsoleUser},
};

pub struct ConsoleBackend {
    state: AppState,
}

impl ConsoleBackend {
    pub fn new(state: AppState) -> Self {
        ConsoleBackend { state }
    }

    /// The signed-in, enabled user whose role allows `needed`.
    pub(crate) async fn require(&self, req: &Parts, needed: Role) -> Result<ConsoleUser, AppError> {
        let user = self.current_user(req).await?.ok_or(AppError::Unauthenticated)?;
        if user.role.allows(needed) {
            Ok(user)
        } else {
            Err(AppError::Forbidden)
        }
    }

    async fn current_user(&self, req: &Parts) -> Result<Option<ConsoleUser>, AppError> {
        let session = session(req)?;
        let Some(id) = auth::signed_in_user_id(session).await? else {
            return Ok(None);
        };
        Ok(users::find_by_id(&self.state.db, id).await?.filter(|u| !u.disabled))
    }
}

fn session(req: &Parts) -> Result<&Session, AppError> {
    req.extensions.get::<Session>().ok_or_else(|| {
        tracing::error!("the session layer is missing");
        AppError::Internal
    })
}

fn client_ip(req: &Parts) -> Option<std::net::IpAddr> {
    req.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn session_info(&self, req: &Parts) -> Result<SessionInfo, AppError> {
        let csrf = auth::csrf_token(session(req)?).await?;
        let user = self.current_user(req).await?.map(|u| UserInfo { username: u.username, role: u.role });
        Ok(SessionInfo { user, csrf })
    }

    async fn login(&self, req: &Parts, username: &str, password: &str) -> Result<LoginResult, AppError> {
        let db = &self.state.db;
        let ip = client_ip(req);
        let keys = throttle::Keys::new(username, ip);
        if let Some(retry_after_secs) = throttle::locked_for(db, &keys).await? {
            return Ok(LoginResult::Throttled { retry_after_secs });
        }
        let user = users::find_by_username(db, username).await?;
        let stored = user.as_ref().map(|u| u.password_hash().to_string());
        let verified = password::verify(password.to_string(), stored).await;
        match user {
            Some(user) if verified && !user.disabled => {
                throttle::record_success(db, &keys).await?;
                auth::sign_in(session(req)?, user.id).await?;
                users::record_login(db, user.id).await?;
                audit::record(db, audit::Entry::by(&user, "login").ip(ip)).await?;
                Ok(LoginResult::SignedIn)
            }
            _ => {
                let locked = throttle::record_failure(db, &keys, &self.state.settings.login).await?;
                audit::record(db, audit::Entry::anonymous(&users::normalize_username(username), "login.failed").ip(ip))
                    .await?;
                Ok(match locked {
                    Some(retry_after_secs) => LoginResult::Throttled { retry_after_secs },
                    None => LoginResult::BadCredentials,
                })
            }
        }
    }

    async fn logout(&self, req: &Parts) -> Result<(), AppError> {
        if let Some(user) = self.current_user(req).await? {
            audit::record(&self.state.db, audit::Entry::by(&user, "logout").ip(client_ip(req))).await?;
        }
        auth::sign_out(session(req)?).await?;
        Ok(())
    }

    async fn list_projects(&self, req: &Parts) -> Result<Vec<ProjectSummary>, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(projects::list(&self.state.db).await?)
    }

    async fn create_project(&self, req: &Parts, name: &str) -> Result<NewProjectKeys, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let created = projects::create(&self.state.db, name, None).await?;
        audit::record(
            &self.state.db,
            audit::Entry::by(&user, "project.create")
                .target("project", created.id)
                .project(created.id)
                .ip(client_ip(req)),
        )
        .await?;
        Ok(NewProjectKeys {
            project_id: created.id,
            name: projects::validate_name(name)?,
            app_key: created.app_key,
            secret_key: created.secret_key,
        })
    }

    async fn search_transactions(&self, req: &Parts, query: TransactionQuery) -> Result<TransactionPage, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(crate::payments::search::search(&self.state.db, &query).await?)
    }

    async fn payment_detail(&self, req: &Parts, payment_seq: &str) -> Result<PaymentDetail, AppError> {
        self.require(req, Role::Viewer).await?;
        crate::payments::search::detail(&self.state.db, payment_seq).await?.ok_or(AppError::NotFound)
    }

    async fn refund_report(&self, req: &Parts, query: RefundQuery) -> Result<RefundReport, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(crate::payments::refunds::report(&self.state.db, &query).await?)
    }

    async fn audit_log(&self, req: &Parts, query: AuditQuery) -> Result<AuditPage, AppError> {
        self.require(req, Role::Admin).await?;
        Ok(audit::search(&self.state.db, &query).await?)
    }
}
