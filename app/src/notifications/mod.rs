//! The store-notification inbox: what each store told us, what became of it, and for support a
//! way to read the raw body and to have a notification processed again. The filters live in the
//! URL, as on the other lists.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    layout::Page,
    model::{NotificationPage, NotificationQuery, NotificationRow, Role, SessionInfo, Store},
    projects::list_projects,
    AppError,
};

#[server(input = GetUrl, endpoint = "notifications")]
pub async fn get_notifications(#[server(default)] query: NotificationQuery) -> Result<NotificationPage, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.notifications(&req, query).await
}

/// Returns the id it was given, for the page to say which one was queued.
#[server(endpoint = "notification/reprocess")]
pub async fn reprocess_notification(_csrf: String, id: i64) -> Result<i64, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.reprocess_notification(&req, id).await.map(|()| id)
}

pub const STATUSES: [(&str, &str); 4] = [
    ("RECEIVED", "Received (waiting)"),
    ("PROCESSED", "Processed"),
    ("IGNORED", "Ignored"),
    ("FAILED", "Failed (will be retried)"),
];

#[component]
pub fn NotificationsPage() -> impl IntoView {
    view! {
        <Page>
            <Inbox />
        </Page>
    }
}

#[component]
fn Inbox() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| NotificationQuery::from_params(|name| p.get(name).filter(|v| !v.is_empty())))
    });
    let reprocess = ServerAction::<ReprocessNotification>::new();
    let page = Resource::new(move || (query.get(), reprocess.version().get()), |(query, _)| get_notifications(query));
    let support = use_context::<SessionInfo>().and_then(|s| s.user).is_some_and(|u| u.role.allows(Role::Support));

    view! {
        <section class="notifications">
            <h1>"Store notifications"</h1>
            <Filters query=query.get_untracked() />
            {move || reprocess.value().get().map(|result| match result {
                Ok(id) => view! {
                    <p class="callout" id="reprocessed">
                        {format!("Notification {id} is due again: the background worker takes it at its next pass.")}
                    </p>
                }.into_any(),
                Err(error) => view! { <Notice error /> }.into_any(),
            })}
            <Suspense fallback=|| view! { <p class="loading">"Loading notifications…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(found) if found.rows.is_empty() => {
                            view! { <p class="empty">"No notification matches."</p> }.into_any()
                        }
                        Ok(found) => {
                            let next = found.next.clone().map(|after| {
                                let next_query = NotificationQuery { after: Some(after), ..query.get_untracked() };
                                format!("/notifications?{}", next_query.to_query_string())
                            });
                            view! {
                                <InboxTable rows=found.rows support reprocess />
                                {next.map(|href| view! { <a class="next" href=href>"Older notifications →"</a> })}
                            }
                            .into_any()
                        }
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A plain GET form: submitting it loads `/notifications?…`, so the filters are in the URL.
#[component]
fn Filters(query: NotificationQuery) -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    let project = query.project;
    let option = |value: &'static str, label: &'static str, current: &Option<String>| {
        view! { <option value=value selected=current.as_deref() == Some(value)>{label}</option> }
    };
    view! {
        <form class="search" method="get" action="/notifications">
            <Suspense fallback=|| view! { <select name="project" aria-label="Project"><option value="">"All projects"</option></select> }>
                {move || Suspend::new(async move {
                    let list = projects.await.unwrap_or_default();
                    view! {
                        <select name="project" aria-label="Project">
                            <option value="">"All projects"</option>
                            {list.into_iter().map(|p| view! {
                                <option value=p.id selected=project == Some(p.id)>{p.name}</option>
                            }).collect_view()}
                        </select>
                    }
                })}
            </Suspense>
            <select name="store" aria-label="Store">
                {option("", "All stores", &query.store)}
                {Store::ALL.map(|s| option(s.code(), s.label(), &query.store)).collect_view()}
            </select>
            <select name="status" aria-label="Status">
                {option("", "Any status", &query.status)}
                {STATUSES.map(|(value, label)| option(value, label, &query.status)).collect_view()}
            </select>
            <label>"Received since " <input type="date" name="since" value=query.since.clone().unwrap_or_default() /></label>
            <button type="submit">"Show"</button>
        </form>
    }
}

#[component]
fn InboxTable(
    rows: Vec<NotificationRow>,
    support: bool,
    reprocess: ServerAction<ReprocessNotification>,
) -> impl IntoView {
    view! {
        <table class="grid results inbox">
            <thead>
                <tr>
                    <th>"Received"</th>
                    <th>"Store"</th>
                    <th>"Kind"</th>
                    <th>"Status"</th>
                    <th>"Payment"</th>
                    <th>"Attempts"</th>
                    <th>"Last error"</th>
                    {support.then(|| view! { <th></th> })}
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <InboxLine row support reprocess /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn InboxLine(row: NotificationRow, support: bool, reprocess: ServerAction<ReprocessNotification>) -> impl IntoView {
    let kind = match (&row.notification_type, &row.subtype) {
        (Some(kind), Some(subtype)) => format!("{kind} / {subtype}"),
        (Some(kind), None) => kind.clone(),
        (None, _) => "(unknown)".into(),
    };
    let app = match (&row.project, &row.app_name) {
        (Some(project), Some(app)) => format!("{project} · {app}"),
        _ => "no app of ours".into(),
    };
    let waiting = matches!(row.status.as_str(), "RECEIVED" | "FAILED");
    let next_try = row.next_attempt_at.filter(|_| waiting).map(|at| format!("next try {}", format::time(at)));
    let purchase = row.purchase_ref.clone().map(|reference| {
        let href = format!("/transactions?q={}&include_test=true", model::urls::encode(&reference));
        view! { <a class="purchase-ref" href=href title=reference>" purchase"</a> }
    });
    let id = row.id;
    view! {
        <tr class="notification-row" id=format!("notification-{id}")>
            <td>{format::time(row.received_at)}</td>
            <td>
                {row.store.clone()}
                <span class="hint">{format!(" {app}")}</span>
            </td>
            <td>
                <span class="kind">{kind}</span>
                {row.recovered_at.map(|at| view! {
                    <span class="badge recovered" title=format!("the store could not deliver it; a sweep found it in the store's history at {}", format::time(at))>
                        "recovered"
                    </span>
                })}
                {(!row.authenticated).then(|| view! {
                    <span class="badge weaker hint-only" title="a Google push without a verified OIDC token: only a hint to ask Google">
                        "hint only"
                    </span>
                })}
            </td>
            <td>
                <span class="status">{row.status.clone()}</span>
                {next_try.map(|t| view! { <span class="hint">{format!(" {t}")}</span> })}
                {row.covered_by.map(|other| view! {
                    <span class="hint">{format!(" answered by notification {other}")}</span>
                })}
            </td>
            <td>
                {row.payment_seq.clone().map(|seq| view! { <a class="seq" href=format!("/payments/{seq}")>{seq.clone()}</a> })}
                {purchase}
            </td>
            <td class="count">{row.attempts}</td>
            <td class:error=row.status == "FAILED">{row.last_error.clone().unwrap_or_default()}</td>
            {support.then(|| view! {
                <td class="inbox-actions">
                    <ActionForm action=reprocess attr:class="inline-form">
                        <CsrfField />
                        <input type="hidden" name="id" value=id />
                        <button type="submit" disabled=move || reprocess.pending().get()>"Reprocess"</button>
                    </ActionForm>
                    {match (row.body.clone(), row.body_pruned_at) {
                        (Some(body), _) => view! {
                            <details class="raw-body">
                                <summary>"Body"</summary>
                                <pre class="raw">{body}</pre>
                            </details>
                        }.into_any(),
                        (None, Some(at)) => view! { <span class="hint">{format!("body pruned {}", format::time(at))}</span> }.into_any(),
                        (None, None) => view! { <span class="hint">"body pruned"</span> }.into_any(),
                    }}
                </td>
            })}
        </tr>
    }
}
