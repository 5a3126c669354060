//! One payment, everything about it: the fields, the store's last answer, the history, the other
//! periods of its subscription and the same user's other payments.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_params_map;

use crate::{
    format,
    layout::{Notice, Page},
    model::{PaymentDetail, TransactionRow},
    AppError,
};

#[server(input = GetUrl, endpoint = "payment")]
pub async fn get_payment(payment_seq: String) -> Result<PaymentDetail, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.payment_detail(&req, &payment_seq).await
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
    let detail = Resource::new(move || seq.get(), get_payment);

    view! {
        <section class="payment">
            <Suspense fallback=|| view! { <p class="loading">"Loading the payment…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => view! { <Detail detail /> }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A term and its value, left out when there is no value.
fn field(term: &'static str, value: Option<String>) -> impl IntoView {
    value.filter(|v| !v.is_empty()).map(|v| view! { <dt>{term}</dt><dd>{v}</dd> })
}

#[component]
fn Detail(detail: PaymentDetail) -> impl IntoView {
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
            {field("User ID", Some(s.user_id.clone()))}
            {field("Product", Some(product))}
            {field("Price", Some(format::price(s.price, s.currency.as_deref())))}
            {field("Consumed", Some(consumed))}
            {field("Store reference key", s.payment_id.clone())}
            {field("Original payment", detail.original_payment_id.clone())}
            {field("Linked payment", detail.linked_payment_id.clone())}
            {field("Purchase token", detail.purchase_token.clone())}
            {field("Reserved", s.reserved_at.map(format::time))}
            {field("Purchased", detail.purchase_time.map(format::time))}
            {field("Verified", s.paid_at.map(format::time))}
            {field("Expires", detail.expiry_time.map(format::time))}
            {field("Renewed", detail.renew_time.map(format::time))}
            {field("Refunded", s.refunded_at.map(format::time))}
            {field("Subscription", detail.subscription_state.clone())}
            {field("Auto-renew", detail.auto_renewing.map(|a| if a { "on".into() } else { "off".into() }))}
            {field("Store acknowledgement", Some(detail.ack_state.clone()))}
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
