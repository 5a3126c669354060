//! The console's backend: the server side of every server function, with sign-in and role
//! enforced here, where no page can skip it.
pub mod export;
pub mod time_zone;

use app::{
    backend::Backend,
    model::{
        AuditPage, AuditQuery, ConnectionCheck, ConsoleUserRow, ListPrice, LoginResult, NewProjectKeys,
        NotificationPage, NotificationQuery, PaymentDetail, ProjectDetail, ProjectSummary, RefundQuery, RefundReport,
        ReplayRequest, Reverification, Role, RotatedSecret, SessionInfo, Statistics, StatisticsQuery, StatusChange,
        Store, StoreAppForm, TransactionPage, TransactionQuery, UserChange, UserInfo, WebhookSecret,
    },
    AppError,
};
use http::request::Parts;
use tower_sessions::Session;

use crate::{
    audit,
    console_auth::{self, password, throttle},
    items,
    payments::{binding::UserBinding, manual, refund_requests},
    projects,
    state::AppState,
    store_apps, store_notifications,
    users::{self, ConsoleUser},
    webhooks,
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

    /// The audit row of a user's change to one thing of a project, for the change to write in its
    /// own transaction (or after it, where there is no transaction to share).
    fn entry(
        req: &Parts,
        user: &ConsoleUser,
        action: &'static str,
        target: (&'static str, i64),
        project_id: i64,
        detail: String,
    ) -> audit::Entry {
        let entry = audit::Entry::by(user.id, &user.username, action)
            .target(target.0, target.1)
            .project(project_id)
            .ip(client_ip(req));
        if detail.is_empty() {
            entry
        } else {
            entry.detail(detail)
        }
    }

    async fn current_user(&self, req: &Parts) -> Result<Option<ConsoleUser>, AppError> {
        let session = session(req)?;
        Ok(console_auth::signed_in_user(&self.state.db, session).await?)
    }
}

fn session(req: &Parts) -> Result<&Session, AppError> {
    req.extensions.get::<Session>().ok_or_else(|| {
        tracing::error!("the session layer is missing");
        AppError::Internal
    })
}

fn client_ip(req: &Parts) -> Option<std::net::IpAddr> {
    req.extensions.get::<crate::http::client_addr::ClientAddr>().map(|c| c.0)
}

#[async_trait::async_trait]
impl Backend for ConsoleBackend {
    async fn session_info(&self, req: &Parts) -> Result<SessionInfo, AppError> {
        let csrf = console_auth::csrf_token(session(req)?).await?;
        let user = self.current_user(req).await?.map(|u| UserInfo { username: u.username, role: u.role });
        Ok(SessionInfo { user, csrf, utc_offset_minutes: time_zone::offset_minutes(&req.headers) })
    }

    async fn login(&self, req: &Parts, username: &str, password: &str) -> Result<LoginResult, AppError> {
        let db = &self.state.db;
        let ip = client_ip(req);
        let limits = &self.state.settings.login;
        let keys = throttle::Keys::new(username, ip);
        // Counted before the (slow, bounded) password check, so a parallel burst gets no more
        // checks than the limit allows.
        if let throttle::Attempt::Locked(retry_after_secs) = throttle::attempt(db, &keys, limits).await? {
            return Ok(LoginResult::Throttled { retry_after_secs });
        }
        let user = users::find_by_username(db, username).await?;
        let stored = user.as_ref().map(|u| u.password_hash().to_string());
        let verified = password::verify(password.to_string(), stored).await;
        match user {
            Some(user) if verified && !user.disabled => {
                throttle::succeeded(db, &keys).await?;
                let idle = time::Duration::minutes(self.state.settings.session.idle_minutes);
                console_auth::sign_in(session(req)?, &user, idle).await?;
                users::record_login(db, user.id).await?;
                audit::record(db, audit::Entry::by(user.id, &user.username, "login").ip(ip)).await?;
                Ok(LoginResult::SignedIn)
            }
            _ => {
                let locked = throttle::failed(db, &keys, limits).await?;
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
            audit::record(&self.state.db, audit::Entry::by(user.id, &user.username, "logout").ip(client_ip(req)))
                .await?;
        }
        console_auth::sign_out(session(req)?).await?;
        Ok(())
    }

    async fn list_projects(&self, req: &Parts) -> Result<Vec<ProjectSummary>, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(projects::list(&self.state.db).await?)
    }

    async fn create_project(&self, req: &Parts, name: &str) -> Result<NewProjectKeys, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let created = projects::create(&self.state.db, &self.state.cipher, name, None).await?;
        audit::record(
            &self.state.db,
            audit::Entry::by(user.id, &user.username, "project.create")
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
        let state = &self.state;
        let client_of = |app: &crate::store_apps::StoreAppRecord| state.store_client(app);
        Ok(crate::payments::search::search_with_order_lookup(&state.db, &state.cipher, client_of, &query).await?)
    }

    async fn payment_detail(&self, req: &Parts, payment_seq: &str) -> Result<PaymentDetail, AppError> {
        self.require(req, Role::Viewer).await?;
        let mut detail =
            crate::payments::search::detail(&self.state.db, payment_seq).await?.ok_or(AppError::NotFound)?;
        detail.notifications = crate::store_notifications::listing::about_payment(&self.state.db, payment_seq).await?;
        Ok(detail)
    }

    async fn refund_report(&self, req: &Parts, query: RefundQuery) -> Result<RefundReport, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(crate::payments::refunds::report(&self.state.db, &query).await?)
    }

    async fn notifications(&self, req: &Parts, query: NotificationQuery) -> Result<NotificationPage, AppError> {
        let user = self.require(req, Role::Viewer).await?;
        let mut page = store_notifications::listing::list(&self.state.db, &query).await?;
        if !user.role.allows(Role::Support) {
            page.rows.iter_mut().for_each(|row| row.body = None);
        }
        Ok(page)
    }

    async fn reprocess_notification(&self, req: &Parts, id: i64) -> Result<(), AppError> {
        let user = self.require(req, Role::Support).await?;
        let db = &self.state.db;
        let found = store_notifications::listing::summary(db, id).await?.ok_or(AppError::NotFound)?;
        if !store_notifications::listing::requeue(db, id).await? {
            return Err(AppError::NotFound);
        }
        let kind = found.kind.as_deref().unwrap_or("unknown kind");
        let mut entry = audit::Entry::by(user.id, &user.username, "notification.reprocess")
            .target("notification", id)
            .detail(format!("{} {kind}, was {}", found.store, found.status))
            .ip(client_ip(req));
        if let Some(project) = found.project_id {
            entry = entry.project(project);
        }
        Ok(audit::record(db, entry).await?)
    }

    async fn audit_log(&self, req: &Parts, query: AuditQuery) -> Result<AuditPage, AppError> {
        self.require(req, Role::Admin).await?;
        Ok(audit::search(&self.state.db, &query).await?)
    }

    async fn reverify_payment(&self, req: &Parts, payment_seq: &str) -> Result<Reverification, AppError> {
        let user = self.require(req, Role::Support).await?;
        Ok(manual::reverify(&self.state, payment_seq, &user, client_ip(req)).await?)
    }

    async fn change_payment_status(&self, req: &Parts, change: StatusChange) -> Result<(), AppError> {
        let user = self.require(req, Role::Support).await?;
        let requested = manual::Change {
            to: &change.to,
            reason: &change.reason,
            receipt: &change.receipt,
            price: &change.price,
            currency: &change.currency,
        };
        Ok(manual::change_status(&self.state, &change.payment_seq, requested, &user, client_ip(req)).await?)
    }

    async fn choose_refund_preference(
        &self,
        req: &Parts,
        payment_seq: &str,
        request_id: i64,
        preference: &str,
    ) -> Result<(), AppError> {
        let user = self.require(req, Role::Support).await?;
        let chosen = refund_requests::Preference::parse(preference)
            .filter(|p| *p != refund_requests::Preference::Prorated)
            .ok_or_else(|| AppError::Invalid(format!("unknown refund preference {preference}")))?;
        let payment = manual::by_seq_anywhere(&self.state.db, payment_seq).await?;
        let entry = audit::Entry::by(user.id, &user.username, "payment.refund_request.choose")
            .target("payment", payment_seq)
            .project(payment.project_id)
            .detail(format!("request {request_id}: {}", chosen.as_str()))
            .ip(client_ip(req));
        Ok(refund_requests::choose(&self.state, payment_seq, request_id, chosen, &user.username, entry).await?)
    }

    async fn project_detail(&self, req: &Parts, project_id: i64) -> Result<ProjectDetail, AppError> {
        let user = self.require(req, Role::Viewer).await?;
        let mut detail = projects::detail(&self.state.db, &self.state.cipher, project_id).await?;
        // An endpoint URL's path and query may hold the app server's own token: admins only.
        if !user.role.allows(Role::Admin) {
            detail.webhooks.endpoints.iter_mut().for_each(|e| e.url = crate::stores::scrub(&e.url));
        }
        Ok(detail)
    }

    async fn rotate_secret(&self, req: &Parts, project_id: i64, grace_hours: i64) -> Result<RotatedSecret, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let entry = audit::Entry::by(user.id, &user.username, "project.secret.rotate")
            .target("project", project_id)
            .project(project_id)
            .ip(client_ip(req));
        Ok(projects::keys::rotate_secret(&self.state.db, &self.state.cipher, project_id, grace_hours, entry).await?)
    }

    async fn set_key_enabled(&self, req: &Parts, project_id: i64, enabled: bool) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let action = if enabled { "project.key.enable" } else { "project.key.disable" };
        let entry = Self::entry(req, &user, action, ("project", project_id), project_id, String::new());
        Ok(projects::keys::set_key_enabled(&self.state.db, project_id, enabled, entry).await?)
    }

    async fn set_project_policy(
        &self,
        req: &Parts,
        project_id: i64,
        user_binding: &str,
        client_consume: bool,
    ) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let binding = UserBinding::parse(user_binding)
            .ok_or_else(|| AppError::Invalid(format!("unknown user binding {user_binding}")))?;
        let policy = projects::Policy { user_binding: binding, client_consume };
        projects::set_policy(&self.state.db, project_id, policy).await?;
        let detail =
            format!("user binding {}, app consume {}", binding.as_str(), if client_consume { "on" } else { "off" });
        let entry = Self::entry(req, &user, "project.policy", ("project", project_id), project_id, detail);
        Ok(audit::record(&self.state.db, entry).await?)
    }

    async fn set_refund_policy(
        &self,
        req: &Parts,
        project_id: i64,
        policy: &str,
        consent: bool,
    ) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let parsed = refund_requests::RefundPolicy::parse(policy)
            .ok_or_else(|| AppError::Invalid(format!("unknown refund policy {policy}")))?;
        let detail = format!(
            "refund policy {}, Apple consumption consent {}",
            parsed.as_str(),
            if consent { "on" } else { "off" }
        );
        let entry = Self::entry(req, &user, "project.refund_policy", ("project", project_id), project_id, detail);
        Ok(refund_requests::set_policy(&self.state.db, project_id, parsed, consent, entry).await?)
    }

    async fn save_store_app(&self, req: &Parts, form: StoreAppForm) -> Result<i64, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let store = Store::parse(&form.store).ok_or_else(|| AppError::Invalid("choose a store".into()))?;
        let app_form = store_apps::AppForm {
            id: form.id,
            project_id: form.project,
            store,
            name: &form.name,
            store_app_id: &form.store_app_id,
            environment_policy: &form.environment_policy,
            enabled: form.enabled,
            consume_at_store: form.consume_at_store,
            fields: &form.fields,
        };
        let action = if form.id.is_some() { "store_app.update" } else { "store_app.create" };
        let ip = client_ip(req);
        let entry = |id: i64, changed: &[String]| {
            let detail = format!("{} {}; fields: {}", store.code(), form.store_app_id.trim(), changed.join(", "));
            audit::Entry::by(user.id, &user.username, action)
                .target("store_app", id)
                .project(form.project)
                .detail(detail)
                .ip(ip)
        };
        Ok(store_apps::save(&self.state.db, &self.state.cipher, &self.state.http, app_form, entry).await?)
    }

    async fn check_store_app(&self, req: &Parts, store_app_id: i64) -> Result<ConnectionCheck, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let state = &self.state;
        let app = store_apps::by_id(&state.db, &state.cipher, store_app_id).await?.ok_or(AppError::NotFound)?;
        let check = store_apps::check(&app, &state.http).await;
        let target = ("store_app", store_app_id);
        let entry = Self::entry(req, &user, "store_app.check", target, app.project_id, check.message.clone());
        audit::record(&state.db, entry).await?;
        Ok(check)
    }

    async fn add_item(
        &self,
        req: &Parts,
        store_app_id: i64,
        store_product_id: &str,
        name: &str,
        product_type: &str,
    ) -> Result<i64, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let state = &self.state;
        let app = store_apps::by_id(&state.db, &state.cipher, store_app_id).await?.ok_or(AppError::NotFound)?;
        let detail = format!("{} {} {product_type}", app.store.code(), store_product_id.trim());
        let entry = |seq| Self::entry(req, &user, "item.create", ("item", seq), app.project_id, detail);
        Ok(items::add(&state.db, store_app_id, store_product_id, name, product_type, entry).await?)
    }

    async fn rename_item(&self, req: &Parts, product_seq: i64, name: &str) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let project = items::project_of(&self.state.db, product_seq).await?;
        let detail = format!("name {}", name.trim());
        let entry = Self::entry(req, &user, "item.update", ("item", product_seq), project, detail);
        Ok(items::rename(&self.state.db, product_seq, name, entry).await?)
    }

    async fn set_item_status(&self, req: &Parts, product_seq: i64, status: &str) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let project = items::project_of(&self.state.db, product_seq).await?;
        let detail = format!("status {status}");
        let entry = Self::entry(req, &user, "item.status", ("item", product_seq), project, detail);
        Ok(items::set_status(&self.state.db, product_seq, status, entry).await?)
    }

    async fn set_item_prices(&self, req: &Parts, product_seq: i64, prices: &str) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let project = items::project_of(&self.state.db, product_seq).await?;
        let prices = items::parse_prices(prices)?;
        let listed = prices.iter().map(ListPrice::label).collect::<Vec<_>>().join(", ");
        let detail = format!("prices {}", if listed.is_empty() { "none" } else { &listed });
        let entry = Self::entry(req, &user, "item.prices", ("item", product_seq), project, detail);
        Ok(items::set_prices(&self.state.db, product_seq, &prices, entry).await?)
    }

    async fn list_users(&self, req: &Parts) -> Result<Vec<ConsoleUserRow>, AppError> {
        self.require(req, Role::Admin).await?;
        Ok(users::list(&self.state.db).await?)
    }

    async fn create_user(&self, req: &Parts, username: &str, password: String, role: Role) -> Result<i64, AppError> {
        let admin = self.require(req, Role::Admin).await?;
        let (id, _) = users::upsert(&self.state.db, username, password, role, false).await?;
        let entry = audit::Entry::by(admin.id, &admin.username, "user.create")
            .target("user", users::normalize_username(username))
            .detail(format!("role {}", role.as_str()))
            .ip(client_ip(req));
        audit::record(&self.state.db, entry).await?;
        Ok(id)
    }

    async fn update_user(&self, req: &Parts, user_id: i64, change: UserChange) -> Result<(), AppError> {
        let admin = self.require(req, Role::Admin).await?;
        let (update, action) = match change {
            UserChange::Role(role) => (users::Update::Role(role), "user.role"),
            UserChange::Disable => (users::Update::Disabled(true), "user.disable"),
            UserChange::Enable => (users::Update::Disabled(false), "user.enable"),
            UserChange::ResetPassword(password) => (users::Update::Password(password), "user.password.reset"),
        };
        let ip = client_ip(req);
        let entry = |username: &str, detail| {
            audit::Entry::by(admin.id, &admin.username, action).target("user", username).detail(detail).ip(ip)
        };
        Ok(users::update(&self.state.db, user_id, update, entry).await?)
    }

    async fn statistics(&self, req: &Parts, query: StatisticsQuery) -> Result<Statistics, AppError> {
        self.require(req, Role::Viewer).await?;
        Ok(crate::payments::statistics::statistics(&self.state.db, &query).await?)
    }

    async fn clear_abuse_flag(&self, req: &Parts, flag_id: i64) -> Result<(), AppError> {
        let user = self.require(req, Role::Support).await?;
        let entry = |project| Self::entry(req, &user, "abuse.clear", ("abuse_flag", flag_id), project, String::new());
        Ok(crate::abuse::clear(&self.state.db, flag_id, entry).await?)
    }

    async fn create_webhook(
        &self,
        req: &Parts,
        project_id: i64,
        url: &str,
        event_types: &str,
    ) -> Result<WebhookSecret, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let ip = client_ip(req);
        let entry = |id: i64| {
            let entry = audit::Entry::by(user.id, &user.username, "webhook.create")
                .target("webhook", id)
                .project(project_id)
                .ip(ip);
            entry.detail(crate::stores::scrub(url.trim()))
        };
        let (db, cipher, http) = (&self.state.db, &self.state.cipher, &self.state.http);
        let (id, secret) = webhooks::endpoints::create(db, cipher, http, project_id, url, event_types, entry).await?;
        Ok(WebhookSecret { endpoint: id, secret })
    }

    async fn rotate_webhook_secret(
        &self,
        req: &Parts,
        endpoint_id: i64,
        grace_hours: i64,
    ) -> Result<WebhookSecret, AppError> {
        let user = self.require(req, Role::Admin).await?;
        let project = webhooks::endpoints::project_of(&self.state.db, endpoint_id).await?;
        let entry = audit::Entry::by(user.id, &user.username, "webhook.secret.rotate")
            .target("webhook", endpoint_id)
            .project(project)
            .detail(format!("previous secret kept {grace_hours} h"))
            .ip(client_ip(req));
        let secret =
            webhooks::endpoints::rotate_secret(&self.state.db, &self.state.cipher, endpoint_id, grace_hours, entry)
                .await?;
        Ok(WebhookSecret { endpoint: endpoint_id, secret })
    }

    async fn set_webhook_enabled(&self, req: &Parts, endpoint_id: i64, enabled: bool) -> Result<(), AppError> {
        let user = self.require(req, Role::Admin).await?;
        let project = webhooks::endpoints::project_of(&self.state.db, endpoint_id).await?;
        let action = if enabled { "webhook.enable" } else { "webhook.disable" };
        let entry = Self::entry(req, &user, action, ("webhook", endpoint_id), project, String::new());
        Ok(webhooks::endpoints::set_enabled(&self.state.db, endpoint_id, enabled, entry).await?)
    }

    async fn replay_webhooks(&self, req: &Parts, replay: ReplayRequest) -> Result<usize, AppError> {
        let user = self.require(req, Role::Support).await?;
        let which = replay_of(&replay)?;
        let scheduled = webhooks::replay::schedule(&self.state.db, replay.project, which).await?;
        let detail = format!("{scheduled} deliveries scheduled");
        let entry = Self::entry(req, &user, "webhook.replay", ("project", replay.project), replay.project, detail);
        audit::record(&self.state.db, entry).await?;
        Ok(scheduled)
    }
}

/// The replay a console form asks for: the first of event id, day range and user id filled in.
fn replay_of(replay: &ReplayRequest) -> Result<webhooks::replay::Which<'_>, AppError> {
    let filled = |v: &str| !v.trim().is_empty();
    if filled(&replay.event_id) {
        return Ok(webhooks::replay::Which::Event(&replay.event_id));
    }
    if filled(&replay.from) || filled(&replay.to) {
        let day = |v: &str, name| crate::db::sql::day_start_ms(v, name).map_err(AppError::from);
        let from = day(&replay.from, "from")?;
        let to = day(&replay.to, "to")? + 86_400_000;
        return Ok(webhooks::replay::Which::Range(from, to));
    }
    if filled(&replay.user_id) {
        return Ok(webhooks::replay::Which::User(&replay.user_id));
    }
    Err(AppError::Invalid("give an event id, a range of days or a user id".into()))
}

/// What a console page is told of a domain error: refusals as they are, infrastructure failures
/// logged here and replaced by a generic message.
impl From<crate::Error> for AppError {
    fn from(err: crate::Error) -> Self {
        match err {
            crate::Error::Invalid(msg) => AppError::Invalid(msg),
            crate::Error::NotFound => AppError::NotFound,
            other => {
                tracing::error!(error = %other, "request failed");
                AppError::Internal
            }
        }
    }
}
