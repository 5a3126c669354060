//! What the stores asked before deciding a refund of this payment, and what was answered; under
//! the SUPPORT policy, where a support person chooses the preference sent.
use leptos::prelude::*;

use crate::{
    auth::CsrfField,
    format,
    model::{RefundRequestRow, REFUND_PREFERENCES},
    AppError,
};

#[server(endpoint = "payment/refund-request")]
pub async fn choose_refund_preference(
    _csrf: String,
    payment_seq: String,
    request: i64,
    preference: String,
) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.choose_refund_preference(&req, &payment_seq, request, &preference).await
}

#[component]
pub fn RefundRequests(
    requests: Vec<RefundRequestRow>,
    seq: String,
    can_act: bool,
    choose: ServerAction<ChooseRefundPreference>,
) -> impl IntoView {
    if requests.is_empty() {
        return None;
    }
    let rows = requests
        .into_iter()
        .map(|r| {
            let kind = match r.kind.as_str() {
                "CONSUMPTION_REQUEST" => "Apple consumption request",
                _ => "Google chargeback review",
            };
            let outcome = match (&r.answer, &r.last_error) {
                (Some(answer), _) => format!(
                    "{} at {}: {answer}",
                    r.decided_by.clone().unwrap_or_default(),
                    format::optional_time(r.answered_at)
                ),
                (None, Some(why)) => why.clone(),
                (None, None) => String::new(),
            };
            let open = r.status == "OPEN" && r.chosen_preference.is_none();
            let form = (can_act && open).then(|| {
                let seq = seq.clone();
                view! {
                    <ActionForm action=choose attr:class="inline-form refund-choice">
                        <CsrfField />
                        <input type="hidden" name="payment_seq" value=seq />
                        <input type="hidden" name="request" value=r.id />
                        <select name="preference">
                            {REFUND_PREFERENCES.map(|p| view! { <option value=p>{p}</option> }).collect_view()}
                        </select>
                        <button type="submit" disabled=move || choose.pending().get()>"Send"</button>
                    </ActionForm>
                }
            });
            view! {
                <tr class="refund-request">
                    <td>{format::time(r.received_at)}</td>
                    <td>{kind} {r.reason.clone().map(|reason| format!(" ({reason})"))}</td>
                    <td class="status">{r.status.clone()}</td>
                    <td>{format::time(r.deadline_at)}</td>
                    <td class="outcome">{outcome} {form}</td>
                </tr>
            }
        })
        .collect_view();
    Some(view! {
        <h2>"Refund requests"</h2>
        {move || choose.value().get().and_then(Result::err).map(|error| view! { <crate::error::Notice error /> })}
        <table class="grid results refund-requests">
            <thead>
                <tr><th>"Asked"</th><th>"What"</th><th>"Status"</th><th>"Answer by"</th><th>"Answer"</th></tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    })
}
