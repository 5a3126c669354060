//! A project's webhooks: endpoints and their signing secrets, the delivery log, dead letters and
//! replays.
use leptos::{prelude::*, server_fn::codec::GetUrl};

use crate::{
    auth::CsrfField,
    format,
    layout::Notice,
    model::{DeliveryRow, ReplayRequest, Role, SessionInfo, WebhookEndpointView, WebhookSecret, Webhooks},
    AppError,
};

#[server(input = GetUrl, endpoint = "webhooks")]
pub async fn get_webhooks(project: i64) -> Result<Webhooks, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.webhooks(&req, project).await
}

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

#[component]
pub fn WebhooksSection(project: i64) -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let rotate = ServerAction::<RotateWebhookSecret>::new();
    let toggle = ServerAction::<SetWebhookEnabled>::new();
    let replay = ServerAction::<ReplayWebhooks>::new();
    let hooks = Resource::new(
        move || create.version().get() + rotate.version().get() + toggle.version().get() + replay.version().get(),
        move |_| get_webhooks(project),
    );
    let role = use_context::<SessionInfo>().and_then(|s| s.user).map(|u| u.role);
    let admin = role.is_some_and(|r| r.allows(Role::Admin));
    let support = role.is_some_and(|r| r.allows(Role::Support));
    let secret_shown = move || {
        let shown = create.value().get().or_else(|| rotate.value().get());
        shown.map(|result| match result {
            Ok(s) => view! {
                <div class="callout" id="webhook-secret">
                    <p>{format!("Signing secret of endpoint {}. Copy it now: it will not be shown again.", s.endpoint)}</p>
                    <code class="secret-key">{s.secret}</code>
                </div>
            }
            .into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })
    };
    let replayed = move || {
        replay.value().get().map(|result| match result {
            Ok(n) => view! { <p class="callout" id="replayed">{format!("{n} deliveries scheduled.")}</p> }.into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })
    };

    view! {
        <h2>"Webhooks"</h2>
        <p class="hint">
            "Signed events (Standard Webhooks) to the app's server: payments succeeded, consumed and refunded, "
            "subscription changes, abuse flags. Retried with growing delays for about three days."
        </p>
        {secret_shown}
        <Suspense fallback=|| view! { <p class="loading">"Loading webhooks…"</p> }>
            {move || Suspend::new(async move {
                match hooks.await {
                    Ok(h) => view! {
                        <Endpoints list=h.endpoints admin rotate toggle />
                        <h3>"Dead letters"</h3>
                        <Deliveries rows=h.dead_letters id="dead-letters" />
                        <h3>"Latest deliveries"</h3>
                        <Deliveries rows=h.deliveries id="delivery-log" />
                    }
                    .into_any(),
                    Err(err) => view! { <Notice error=err /> }.into_any(),
                }
            })}
        </Suspense>
        {admin.then(|| view! {
            <ActionForm action=create attr:class="inline-form" attr:id="add-webhook">
                <CsrfField />
                <input type="hidden" name="project" value=project />
                <label>"Endpoint URL" <input name="url" type="url" required placeholder="https://game.example/iap-events" /></label>
                <label>"Event types (* for all)" <input name="event_types" value="*" /></label>
                <button type="submit">"Add endpoint"</button>
            </ActionForm>
        })}
        {support.then(|| view! {
            <ActionForm action=replay attr:class="inline-form" attr:id="replay">
                <CsrfField />
                <input type="hidden" name="replay[project]" value=project />
                <label>"Event id" <input name="replay[event_id]" placeholder="evt_…" /></label>
                <label>"or from" <input type="date" name="replay[from]" /></label>
                <label>"to" <input type="date" name="replay[to]" /></label>
                <label>"or user id" <input name="replay[user_id]" /></label>
                <button type="submit">"Send again"</button>
            </ActionForm>
        })}
        {replayed}
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
        <table class="results" id=id>
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
