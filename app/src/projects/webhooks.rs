//! A project's webhooks: endpoints and their signing secrets, the delivery log, dead letters and
//! replays.
use leptos::prelude::*;

use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    model::{DeliveryRow, ReplayRequest, Role, SessionInfo, WebhookEndpointView, WebhookSecret, Webhooks},
    AppError,
};

#[server(endpoint = "webhooks/create")]
pub async fn create_webhook(
    _csrf: String,
    project: i64,
    url: String,
    #[server(default)] event_types: String,
) -> Result<WebhookSecret, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.create_webhook(&req, project, &url, &event_types).await
}

#[server(endpoint = "webhooks/rotate")]
pub async fn rotate_webhook_secret(_csrf: String, endpoint: i64, grace_hours: i64) -> Result<WebhookSecret, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.rotate_webhook_secret(&req, endpoint, grace_hours).await
}

#[server(endpoint = "webhooks/enabled")]
pub async fn set_webhook_enabled(_csrf: String, endpoint: i64, enabled: bool) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_webhook_enabled(&req, endpoint, enabled).await
}

#[server(endpoint = "webhooks/replay")]
pub async fn replay_webhooks(_csrf: String, replay: ReplayRequest) -> Result<usize, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.replay_webhooks(&req, replay).await
}

/// The webhook forms of a project page; a successful one reloads the page's project.
#[derive(Clone, Copy)]
pub struct WebhookActions {
    pub create: ServerAction<CreateWebhook>,
    pub rotate: ServerAction<RotateWebhookSecret>,
    pub toggle: ServerAction<SetWebhookEnabled>,
    pub replay: ServerAction<ReplayWebhooks>,
}

impl WebhookActions {
    pub fn new() -> WebhookActions {
        WebhookActions {
            create: ServerAction::new(),
            rotate: ServerAction::new(),
            toggle: ServerAction::new(),
            replay: ServerAction::new(),
        }
    }

    pub fn version(&self) -> usize {
        self.create.version().get()
            + self.rotate.version().get()
            + self.toggle.version().get()
            + self.replay.version().get()
    }
}

/// What the forms answered: a secret to show once, a replay count, or an error. Outside the
/// project's reloading part of the page, so it stays while the project reloads.
#[component]
pub fn WebhookOutcome(actions: WebhookActions) -> impl IntoView {
    let secret_shown = move || {
        let shown = actions.create.value().get().or_else(|| actions.rotate.value().get());
        shown.map(|result| match result {
            Ok(s) => view! {
                <div class="callout" id="webhook-secret">
                    <p>{format!("Signing secret of webhook endpoint {}. Copy it now: it will not be shown again.", s.endpoint)}</p>
                    <code class="secret-key">{s.secret}</code>
                </div>
            }
            .into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })
    };
    let replayed = move || {
        actions.replay.value().get().map(|result| match result {
            Ok(n) => view! { <p class="callout" id="replayed">{format!("{n} deliveries scheduled.")}</p> }.into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })
    };
    let toggled = move || actions.toggle.value().get().and_then(Result::err).map(|error| view! { <Notice error /> });
    view! { {secret_shown} {replayed} {toggled} }
}

#[component]
pub fn WebhooksSection(project: i64, hooks: Webhooks, actions: WebhookActions) -> impl IntoView {
    let role = use_context::<SessionInfo>().and_then(|s| s.user).map(|u| u.role);
    let admin = role.is_some_and(|r| r.allows(Role::Admin));
    let support = role.is_some_and(|r| r.allows(Role::Support));
    view! {
        <h2>"Webhooks"</h2>
        <p class="hint">
            "Signed events (Standard Webhooks) to the app's server: payments succeeded, consumed and refunded, "
            "subscription changes, abuse flags. Retried with growing delays for about three days."
        </p>
        <Endpoints list=hooks.endpoints admin rotate=actions.rotate toggle=actions.toggle />
        {admin.then(|| view! {
            <ActionForm action=actions.create attr:class="inline-form" attr:id="add-webhook">
                <CsrfField />
                <input type="hidden" name="project" value=project />
                <label>"Endpoint URL" <input name="url" type="url" required placeholder="https://game.example/iap-events" /></label>
                <label>"Event types (* for all)" <input name="event_types" value="*" /></label>
                <button type="submit">"Add endpoint"</button>
            </ActionForm>
        })}
        <h3>"Dead letters"</h3>
        <Deliveries rows=hooks.dead_letters id="dead-letters" />
        {support.then(|| view! {
            <ActionForm action=actions.replay attr:class="inline-form" attr:id="replay">
                <CsrfField />
                <input type="hidden" name="replay[project]" value=project />
                <label>"Event id" <input name="replay[event_id]" placeholder="evt_…" /></label>
                <label>"or from" <input type="date" name="replay[from]" /></label>
                <label>"to" <input type="date" name="replay[to]" /></label>
                <label>"or user id" <input name="replay[user_id]" /></label>
                <button type="submit">"Send again"</button>
            </ActionForm>
        })}
        <h3>"Latest deliveries"</h3>
        <Deliveries rows=hooks.deliveries id="delivery-log" />
    }
}

#[component]
fn Endpoints(
    list: Vec<WebhookEndpointView>,
    admin: bool,
    rotate: ServerAction<RotateWebhookSecret>,
    toggle: ServerAction<SetWebhookEnabled>,
) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No endpoints yet."</p> }.into_any();
    }
    view! {
        <table class="grid" id="webhook-endpoints">
            <thead>
                <tr>
                    <th>"Endpoint"</th><th>"Events"</th><th>"State"</th><th class="num">"Delivered"</th>
                    <th class="num">"Pending"</th><th class="num">"Dead"</th><th></th>
                </tr>
            </thead>
            <tbody>
                {list.into_iter().map(|e| view! {
                    <tr class="webhook-row">
                        <td><code>{e.url.clone()}</code></td>
                        <td>{e.event_types.clone()}</td>
                        <td>
                            {if e.enabled { "enabled" } else { "disabled" }}
                            {e.previous_secret_valid_until.map(|t| format!(" · old secret until {}", format::time(t)))}
                        </td>
                        <td class="num">{e.delivered}</td>
                        <td class="num">{e.pending}</td>
                        <td class="num">{e.dead}</td>
                        <td>{admin.then(|| view! {
                            <ActionForm action=toggle attr:class="inline-form">
                                <CsrfField />
                                <input type="hidden" name="endpoint" value=e.id />
                                <input type="hidden" name="enabled" value=(!e.enabled).to_string() />
                                <button type="submit">{if e.enabled { "Disable" } else { "Enable" }}</button>
                            </ActionForm>
                            <ActionForm action=rotate attr:class="inline-form">
                                <CsrfField />
                                <input type="hidden" name="endpoint" value=e.id />
                                <input type="hidden" name="grace_hours" value="24" />
                                <button type="submit">"Rotate secret"</button>
                            </ActionForm>
                        })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Deliveries(rows: Vec<DeliveryRow>, id: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty" id=id>"None."</p> }.into_any();
    }
    view! {
        <table class="grid results" id=id>
            <thead>
                <tr>
                    <th>"Event"</th><th>"Type"</th><th>"User"</th><th>"Endpoint"</th><th>"Status"</th>
                    <th class="num">"Tries"</th><th>"Last answer"</th><th>"Created"</th><th>"Next try"</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|d| view! {
                    <tr>
                        <td><code>{d.event_id}</code></td>
                        <td>{d.event_type}</td>
                        <td>{d.user_id.unwrap_or_default()}</td>
                        <td class="num">{d.endpoint}</td>
                        <td class="status">{d.status}</td>
                        <td class="num">{d.attempts}</td>
                        <td>{d.last_status_code.map(|c| c.to_string()).or(d.last_error).unwrap_or_default()}</td>
                        <td>{format::time(d.created_at)}</td>
                        <td>{format::optional_time(d.next_attempt_at)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
