//! Refunds: every refunded, voided or revoked payment of a period, and who had the most of them.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    layout::Page,
    model::{RefundQuery, RefundReport, Role, SessionInfo},
    AppError,
};

#[server(input = GetUrl, endpoint = "refunds")]
pub async fn get_refunds(#[server(default)] query: RefundQuery) -> Result<RefundReport, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.refund_report(&req, query).await
}

#[server(endpoint = "abuse/clear")]
pub async fn clear_abuse_flag(_csrf: String, id: i64) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.clear_abuse_flag(&req, id).await
}

#[component]
pub fn RefundsPage() -> impl IntoView {
    view! {
        <Page>
            <Refunds />
        </Page>
    }
}

#[component]
fn Refunds() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| {
            let get = |name: &str| p.get(name).filter(|v| !v.is_empty());
            RefundQuery {
                store: get("store"),
                from: get("from"),
                to: get("to"),
                min_refunds: get("min_refunds").and_then(|m| m.parse().ok()),
                missed_only: get("missed_only").is_some_and(|v| v == "true"),
            }
        })
    });
    let clear = ServerAction::<ClearAbuseFlag>::new();
    let report = Resource::new(move || (query.get(), clear.version().get()), |(query, _)| get_refunds(query));
    let current = query.get_untracked();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();

    view! {
        <section class="refunds">
            <h1>"Refunds"</h1>
            <form class="search" method="get" action="/refunds">
                <select name="store" aria-label="Store">
                    <option value="">"All stores"</option>
                    <option value="GG" selected=current.store.as_deref() == Some("GG")>"Google Play"</option>
                    <option value="AS" selected=current.store.as_deref() == Some("AS")>"App Store"</option>
                    <option value="ONESTORE" selected=current.store.as_deref() == Some("ONESTORE")>"ONE store"</option>
                </select>
                <label>"From " <input type="date" name="from" value=value(&current.from) /></label>
                <label>"To " <input type="date" name="to" value=value(&current.to) /></label>
                <label>
                    "Users with at least "
                    <input
                        type="number"
                        min="1"
                        name="min_refunds"
                        aria-label="Minimum refunds per user"
                        value=current.min_refunds.unwrap_or(1).to_string()
                    />
                    " refunds"
                </label>
                <label>
                    <input type="checkbox" name="missed_only" value="true" checked=current.missed_only />
                    " Only refunds no notification reported"
                </label>
                <button type="submit">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Loading refunds…"</p> }>
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(report) => view! { <Report report clear /> }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Report(report: RefundReport, clear: ServerAction<ClearAbuseFlag>) -> impl IntoView {
    let can_clear = use_context::<SessionInfo>().and_then(|s| s.user).is_some_and(|u| u.role.allows(Role::Support));
    view! {
        <h2>"Flagged users"</h2>
        {if report.flags.is_empty() {
            view! { <p class="empty">"No user is flagged by the abuse rules."</p> }.into_any()
        } else {
            view! {
                <table class="results abuse-flags">
                    <thead>
                        <tr><th>"Flagged"</th><th>"Project"</th><th>"User ID"</th><th>"Rule"</th><th>"Why"</th><th></th></tr>
                    </thead>
                    <tbody>
                        {report.flags.into_iter().map(|f| {
                            let href = format!("/transactions?q={}&include_test=true", f.user_id);
                            view! {
                                <tr>
                                    <td>{format::time(f.created_at)}</td>
                                    <td>{f.project}</td>
                                    <td><a href=href>{f.user_id}</a></td>
                                    <td><span class="badge">{f.rule}</span></td>
                                    <td>{f.detail.unwrap_or_default()}</td>
                                    <td>{can_clear.then(|| view! {
                                        <ActionForm action=clear attr:class="inline-form">
                                            <CsrfField />
                                            <input type="hidden" name="id" value=f.id />
                                            <button type="submit">"Clear"</button>
                                        </ActionForm>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <h2>"By user"</h2>
        <table class="results refund-users">
            <thead>
                <tr><th>"Project"</th><th>"User ID"</th><th>"Refunds"</th><th>"Amount"</th></tr>
            </thead>
            <tbody>
                {report
                    .users
                    .into_iter()
                    .map(|u| {
                        let href = format!("/transactions?q={}&include_test=true", u.user_id);
                        view! {
                            <tr>
                                <td>{u.project}</td>
                                <td><a href=href>{u.user_id}</a></td>
                                <td class="count">{u.refunds}</td>
                                <td>{u.amounts}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        <h2>"Refunded payments"</h2>
        <table class="results refund-rows">
            <thead>
                <tr>
                    <th>"Transaction ID"</th><th>"Refunded"</th><th>"Kind"</th><th>"Source"</th><th>"Store"</th>
                    <th>"User ID"</th><th>"Product"</th><th>"Amount"</th><th>"Consumed before"</th><th>"Reason"</th>
                </tr>
            </thead>
            <tbody>
                {report
                    .refunds
                    .into_iter()
                    .map(|r| {
                        let href = format!("/payments/{}", r.payment_seq);
                        view! {
                            <tr class:claw-back=r.was_consumed>
                                <td class="seq"><a href=href>{r.payment_seq.clone()}</a></td>
                                <td>{format::time(r.refunded_at)}</td>
                                <td>{r.kind}</td>
                                <td>
                                    {r.source}
                                    {r.missed_notification.then(|| view! { <span class="badge missed">"never notified"</span> })}
                                </td>
                                <td>{r.store}</td>
                                <td>{r.user_id}</td>
                                <td>{r.product_id}</td>
                                <td>
                                    {format::price(r.amount, r.currency.as_deref())}
                                    {r.refunded_share.map(|share| format!(" ({} of the price)", format::share(share)))}
                                </td>
                                <td>{if r.was_consumed { "yes: claw back" } else { "no" }}</td>
                                <td>{r.reason.unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
