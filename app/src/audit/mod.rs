//! The audit log, for admins: who did what to what, when, from where, and why.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    error::Notice,
    format,
    layout::Page,
    model::{AuditPage, AuditQuery},
    AppError,
};

#[server(input = GetUrl, endpoint = "audit")]
pub async fn get_audit(#[server(default)] query: AuditQuery) -> Result<AuditPage, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.audit_log(&req, query).await
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    view! {
        <Page>
            <AuditLog />
        </Page>
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| {
            let get = |name: &str| p.get(name).filter(|v| !v.is_empty());
            AuditQuery {
                actor: get("actor"),
                action: get("action"),
                from: get("from"),
                to: get("to"),
                after: get("after"),
            }
        })
    });
    let page = Resource::new(move || query.get(), get_audit);
    let current = query.get_untracked();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let next_href = move |after: String| {
        let q = query.get_untracked();
        let pairs = [("actor", q.actor), ("action", q.action), ("from", q.from), ("to", q.to), ("after", Some(after))];
        let query: Vec<String> =
            pairs.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", model::urls::encode(&v)))).collect();
        format!("/audit?{}", query.join("&"))
    };

    view! {
        <section class="audit">
            <h1>"Audit log"</h1>
            <form class="search" method="get" action="/audit">
                <input name="actor" value=value(&current.actor) placeholder="Actor" aria-label="Actor" />
                <input name="action" value=value(&current.action) placeholder="Action, e.g. login.failed" aria-label="Action" />
                <label>"From " <input type="date" name="from" value=value(&current.from) /></label>
                <label>"To " <input type="date" name="to" value=value(&current.to) /></label>
                <button type="submit">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading the log…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(found) => {
                            let next = found.next.clone().map(next_href);
                            view! {
                                <table class="results audit-log">
                                    <thead>
                                        <tr><th>"When"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Reason"</th><th>"Change"</th><th>"Address"</th></tr>
                                    </thead>
                                    <tbody>
                                        {found
                                            .rows
                                            .into_iter()
                                            .map(|r| view! {
                                                <tr>
                                                    <td>{format::time(r.at)}</td>
                                                    <td>{r.actor}</td>
                                                    <td class="action">{r.action}</td>
                                                    <td>{r.target.unwrap_or_default()}</td>
                                                    <td>{r.reason.unwrap_or_default()}</td>
                                                    <td>{r.detail.unwrap_or_default()}</td>
                                                    <td>{r.ip.unwrap_or_default()}</td>
                                                </tr>
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                {next.map(|href| view! { <a class="next" href=href>"Older entries →"</a> })}
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
