//! One payment, everything about it: the fields, the store's last answer, the history, the other
//! periods of its subscription and the same user's other payments.
mod refund_requests;

use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_params_map;
use refund_requests::{ChooseRefundPreference, RefundRequests};

use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    layout::Page,
    model::{allowed_status_changes, PaymentDetail, Reverification, Role, SessionInfo, TransactionRow},
    AppError,
};

#[server(input = GetUrl, endpoint = "payment")]
pub async fn get_payment(payment_seq: String) -> Result<PaymentDetail, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.payment_detail(&req, &payment_seq).await
}

#[server(endpoint = "payment/reverify")]
pub async fn reverify_payment(_csrf: String, payment_seq: String) -> Result<Reverification, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.reverify_payment(&req, &payment_seq).await
}

#[server(endpoint = "payment/status")]
pub async fn change_status(
    _csrf: String,
    payment_seq: String,
    to: String,
    reason: String,
    #[server(default)] receipt: String,
    #[server(default)] price: String,
    #[server(default)] currency: String,
) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    let change = crate::model::StatusChange { payment_seq, to, reason, receipt, price, currency };
    backend.change_payment_status(&req, change).await
}

#[component]
pub fn PaymentPage() -> impl IntoView {
    view! {
        <Page>
            <PaymentView />
        </Page>
    }
}

#[component]
fn PaymentView() -> impl IntoView {
    let params = use_params_map();
    let seq = Memo::new(move |_| params.with(|p| p.get("seq").unwrap_or_default()));
    let change = ServerAction::<ChangeStatus>::new();
    let choose = ServerAction::<ChooseRefundPreference>::new();
    let detail = Resource::new(
        move || (seq.get(), change.version().get() + choose.version().get()),
        |(seq, _)| get_payment(seq),
    );
    let can_act = use_context::<SessionInfo>().and_then(|s| s.user).is_some_and(|u| u.role.allows(Role::Support));

    view! {
        <section class="payment">
            <Suspense fallback=|| view! { <p class="loading">"Loading the payment…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => {
                            let actions = can_act.then(|| {
                                let (seq, status, store) = (
                                    detail.summary.payment_seq.clone(),
                                    detail.summary.status.clone(),
                                    detail.summary.store.clone(),
                                );
                                view! { <Actions seq status store change /> }
                            });
                            view! { {actions} <Detail detail can_act choose /> }.into_any()
                        }
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// What a support person can do: ask the store again, and change the status where NHN allows it.
#[component]
fn Actions(seq: String, status: String, store: String, change: ServerAction<ChangeStatus>) -> impl IntoView {
    let reverify = ServerAction::<ReverifyPayment>::new();
    let allowed = allowed_status_changes(&status, &store);
    let change_error = move || match change.value().get() {
        Some(Err(err)) => Some(view! { <Notice error=err /> }),
        _ => None,
    };
    let seq = StoredValue::new(seq);
    let seq_field = move || view! { <input type="hidden" name="payment_seq" value=seq.get_value() /> };
    view! {
        <div class="actions">
            <ActionForm action=reverify attr:class="inline-form" attr:id="reverify-form">
                <CsrfField />
                {seq_field()}
                <button type="submit" disabled=move || reverify.pending().get()>"Ask the store now"</button>
            </ActionForm>
            {allowed.contains(&"SUCCESS").then(|| view! {
                <details class="change" id="change-success">
                    <summary>"Mark as SUCCESS…"</summary>
                    <ActionForm action=change attr:class="stacked-form">
                        <CsrfField />
                        {seq_field()}
                        <input type="hidden" name="to" value="SUCCESS" />
                        <label>"Receipt number (store order or transaction id)" <input name="receipt" required maxlength="200" /></label>
                        <label>"Price" <input name="price" required inputmode="decimal" placeholder="4.99" /></label>
                        <label>"Currency" <input name="currency" required maxlength="3" placeholder="USD" /></label>
                        <label>"Reason" <textarea name="reason" required maxlength="500"></textarea></label>
                        <button type="submit" disabled=move || change.pending().get()>"Mark as SUCCESS"</button>
                    </ActionForm>
                </details>
            })}
            {allowed.contains(&"REFUND").then(|| view! {
                <details class="change" id="change-refund">
                    <summary>"Mark as REFUND…"</summary>
                    <ActionForm action=change attr:class="stacked-form">
                        <CsrfField />
                        {seq_field()}
                        <input type="hidden" name="to" value="REFUND" />
                        <p class="hint">"A refund is final: the payment leaves the unconsumed list and cannot be changed again."</p>
                        <label>"Reason" <textarea name="reason" required maxlength="500"></textarea></label>
                        <button type="submit" disabled=move || change.pending().get()>"Mark as REFUND"</button>
                    </ActionForm>
                </details>
            })}
        </div>
        {change_error}
        {move || reverify.value().get().map(|answer| match answer {
            Ok(answer) => view! { <StoreAnswer answer /> }.into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })}
    }
}

/// The store's answer beside our record, differences marked.
#[component]
fn StoreAnswer(answer: Reverification) -> impl IntoView {
    view! {
        <section class="store-answer" id="store-answer">
            <h2>"The store, asked at " {format::time(answer.checked_at)}</h2>
            {answer.error.map(|e| view! { <p class="notice" role="alert">{e}</p> })}
            {(!answer.comparisons.is_empty()).then(|| view! {
                <table class="grid compare">
                    <thead><tr><th>"Field"</th><th>"Our record"</th><th>"The store"</th></tr></thead>
                    <tbody>
                        {answer.comparisons.into_iter().map(|c| {
                            let class = if c.differs() { "differs" } else { "" };
                            view! { <tr class=class><td>{c.field}</td><td>{c.ours}</td><td>{c.store}</td></tr> }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {answer.raw.map(|raw| view! {
                <details><summary>"The store's raw answer"</summary><pre class="raw">{raw}</pre></details>
            })}
        </section>
    }
}

/// A term and its value, left out when there is no value.
fn field(term: &'static str, value: Option<String>) -> impl IntoView {
    value.filter(|v| !v.is_empty()).map(|v| view! { <dt>{term}</dt><dd>{v}</dd> })
}

#[component]
fn Detail(detail: PaymentDetail, can_act: bool, choose: ServerAction<ChooseRefundPreference>) -> impl IntoView {
    let s = &detail.summary;
    let product = match &s.product_name {
        Some(name) => format!("{name} ({}, {})", s.product_id, s.product_type),
        None => format!("{} ({})", s.product_id, s.product_type),
    };
    let consumed = if s.consumed {
        format!(
            "yes, {} by {}",
            format::optional_time(detail.consumed_at),
            detail.consume_source.clone().unwrap_or_default()
        )
    } else {
        "no".into()
    };
    view! {
        <h1>
            "Payment " <span class="seq">{s.payment_seq.clone()}</span>
            {s.test.then(|| view! { <span class="badge">"test"</span> })}
        </h1>
        <dl class="fields">
            {field("Status", Some(s.status.clone()))}
            {field("Pending because", detail.pending_reason.clone())}
            {field("Failed because", detail.failure_reason.clone())}
            {field("Project", Some(s.project.clone()))}
            {field("Store", Some(format!("{} — {}", s.store, detail.app_id)))}
            {field("User ID", Some(match s.unclaimed {
                true => "unclaimed: reported by the store before any verify; its buyer's verify claims it".into(),
                false => s.user_id.clone(),
            }))}
            {field("Product", Some(product))}
            {field("Price", Some(match s.list_price {
                true => format!("{} (the item's list price: the store gave no amount)", format::price(s.price, s.currency.as_deref())),
                false => format::price(s.price, s.currency.as_deref()),
            }))}
            {field("Consumed", Some(consumed))}
            {field("Store reference key", s.payment_id.clone())}
            {field("Original payment", detail.original_payment_id.clone())}
            {field("Linked payment", detail.linked_payment_id.clone())}
            {field("Purchase token", detail.purchase_token.clone())}
            {field("Apple app transaction", detail.app_transaction_id.clone())}
            {field("Reserved", s.reserved_at.map(format::time))}
            {field("Purchased", detail.purchase_time.map(format::time))}
            {field("Verified", s.paid_at.map(format::time))}
            {field("Expires", detail.expiry_time.map(format::time))}
            {field("Renewed", detail.renew_time.map(format::time))}
            {field("Refunded", s.refunded_at.map(format::time))}
            {field("Subscription", detail.subscription_state.clone())}
            {field("Auto-renew", detail.auto_renewing.map(|a| if a { "on".into() } else { "off".into() }))}
            {field("Store acknowledgement", Some(detail.ack_state.clone()))}
            {field("Consumed at the store", detail.store_consumed_at.map(format::time))}
            {field("Verification attempts", Some(detail.verify_attempts.to_string()))}
            {field("Developer payload", s.developer_payload.clone())}
        </dl>
        <h2>"History"</h2>
        <ol class="history">
            {detail
                .history
                .iter()
                .map(|h| {
                    let change = match &h.from {
                        Some(from) if *from != h.to => format!("{from} → {}", h.to),
                        _ => h.to.clone(),
                    };
                    let why = [h.reason.clone(), h.detail.clone(), h.actor.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · ");
                    view! {
                        <li>
                            <time>{format::time(h.at)}</time>
                            <strong>{h.event.clone()}</strong>
                            <span>{change}</span>
                            <span class="source">{h.source.clone()}</span>
                            <span class="why">{why}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
        <RefundRequests requests=detail.refund_requests.clone() seq=s.payment_seq.clone() can_act choose />
        <h2>"Store notifications"</h2>
        {if detail.notifications.is_empty() {
            view! { <p class="empty">"None about this purchase."</p> }.into_any()
        } else {
            view! {
                <table class="grid results payment-notifications">
                    <thead>
                        <tr><th>"Received"</th><th>"Kind"</th><th>"Status"</th><th>"Last error"</th></tr>
                    </thead>
                    <tbody>
                        {detail
                            .notifications
                            .iter()
                            .map(|n| {
                                let kind = [n.notification_type.clone(), n.subtype.clone()]
                                    .into_iter()
                                    .flatten()
                                    .collect::<Vec<_>>()
                                    .join(" ");
                                view! {
                                    <tr class="payment-notification">
                                        <td>{format::time(n.received_at)}</td>
                                        <td class="kind">{kind}</td>
                                        <td class="status">{n.status.clone()}</td>
                                        <td>{n.last_error.clone().unwrap_or_default()}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
                .into_any()
        }}
        {(!detail.related.is_empty()).then(|| view! {
            <h2>"Other periods of this subscription"</h2>
            <PaymentList rows=detail.related.clone() />
        })}
        <h2>"This user's other payments"</h2>
        {if detail.user_payments.is_empty() {
            view! { <p class="empty">"None."</p> }.into_any()
        } else {
            view! { <PaymentList rows=detail.user_payments.clone() /> }.into_any()
        }}
        {detail.store_response.clone().map(|raw| view! {
            <h2>"The store's answer"</h2>
            <pre class="raw">{raw}</pre>
        })}
    }
}

#[component]
fn PaymentList(rows: Vec<TransactionRow>) -> impl IntoView {
    view! {
        <ul class="payment-list">
            {rows
                .into_iter()
                .map(|r| {
                    let href = format!("/payments/{}", r.payment_seq);
                    view! {
                        <li>
                            <a href=href>{r.payment_seq.clone()}</a>
                            {format!(
                                " {} {} {} {}",
                                r.store,
                                r.product_id,
                                r.status,
                                format::optional_time(r.paid_at.or(r.reserved_at)),
                            )}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
