//! Refund requests: Apple's CONSUMPTION_REQUEST and Google's chargeback review are answered from
//! the ledger under the project's refund policy, shown on the payment and in its history.
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{apple, faults::FaultKind, Notifies},
};

use crate::shop::{shop, Shop};

/// The demo project's refund policy, set through the console as an admin sets it.
async fn set_refund_policy(shop: &Shop, policy: &str, consent: bool) {
    shop.app.login_as_demo_admin().await;
    let mut form = vec![("project", "1"), ("refund_policy", policy)];
    if consent {
        form.push(("consumption_consent", "true"));
    }
    shop.app.submit::<()>("/api/project/refunds", &form).await.unwrap();
}

async fn consume(shop: &Shop, payment: &Value) {
    shop.server(
        "/v1/service/consume",
        json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]}),
    )
    .await
    .ok();
}

async fn detail(shop: &Shop, payment: &Value) -> model::PaymentDetail {
    let seq = payment["paymentSeq"].as_str().unwrap();
    shop.app.get_fn(&format!("/api/payment?payment_seq={seq}")).await.unwrap()
}

async fn history_events(shop: &Shop, payment: &Value) -> Vec<String> {
    detail(shop, payment).await.history.into_iter().map(|h| h.event).collect()
}

/// An App Store gem bought, verified and (if `consumed`) consumed by the app's server.
async fn apple_gem(shop: &Shop, user: &str, consumed: bool) -> (apple::Created, Value) {
    shop.fakes.apple.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/AS/v2", demo::PACKAGE))));
    let bought = shop.fakes.apple.add_purchase(apple::NewPurchase::consumable(demo::PACKAGE, "gem_100")).await;
    let payment = shop.verify(user, "AS", json!({"signedTransaction": bought.signed_transaction})).await;
    if consumed {
        consume(shop, &payment).await;
    }
    (bought, payment)
}

/// A Google gem bought, verified and (if `consumed`) consumed; its purchase token.
async fn google_gem(shop: &Shop, user: &str, consumed: bool) -> (String, Value) {
    shop.fakes.google.set_notify_url(Some(shop.callback(&format!("/callback/subscription/{}/GG", demo::PACKAGE))));
    let gem = shop.google_gem().await;
    let payment = shop.verify(user, "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    if consumed {
        consume(shop, &payment).await;
    }
    (gem.purchase_token, payment)
}

#[tokio::test]
async fn apple_s_consumption_request_for_a_consumed_gem_is_answered_delivered_from_the_ledger() {
    let shop = shop().await;
    set_refund_policy(&shop, "LEDGER", true).await;
    let (bought, payment) = apple_gem(&shop, "kim", true).await;

    assert!(shop.fakes.apple.send_notification(&bought.transaction_id, "CONSUMPTION_REQUEST", None).await);
    shop.inbox_settled().await;

    let sent = shop.fakes.apple.consumption_requests(&bought.transaction_id);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["customerConsented"], true);
    assert_eq!(sent[0]["deliveryStatus"], "DELIVERED");
    assert_eq!(sent[0]["consumptionPercentage"], 100_000);
    assert!(sent[0].get("refundPreference").is_none(), "LEDGER sends the facts alone: {}", sent[0]);
    let shown = detail(&shop, &payment).await.refund_requests;
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (shown[0].kind.as_str(), shown[0].status.as_str(), shown[0].decided_by.as_deref()),
        ("CONSUMPTION_REQUEST", "ANSWERED", Some("policy LEDGER"))
    );
    assert_eq!(shown[0].reason.as_deref(), Some("UNINTENDED_PURCHASE"));
    let events = history_events(&shop, &payment).await;
    assert!(events.ends_with(&["REFUND_REQUEST".into(), "REFUND_REQUEST_ANSWERED".into()]), "{events:?}");
}

#[tokio::test]
async fn without_the_customers_consent_nothing_goes_to_apple_and_the_payment_says_why() {
    let shop = shop().await;
    let (bought, payment) = apple_gem(&shop, "kim", true).await;

    assert!(shop.fakes.apple.send_notification(&bought.transaction_id, "CONSUMPTION_REQUEST", None).await);
    shop.inbox_settled().await;

    assert!(shop.fakes.apple.consumption_requests(&bought.transaction_id).is_empty());
    shop.app.login_as_demo_admin().await;
    let shown = detail(&shop, &payment).await.refund_requests;
    assert_eq!(shown[0].status, "WITHHELD");
    assert!(shown[0].last_error.as_deref().unwrap().contains("consent"), "{:?}", shown[0].last_error);
    assert!(history_events(&shop, &payment).await.contains(&"REFUND_REQUEST_WITHHELD".into()));
}

#[tokio::test]
async fn under_the_defend_policy_google_hears_decline_for_a_consumed_gem_and_approve_for_one_never_delivered() {
    let shop = shop().await;
    set_refund_policy(&shop, "DEFEND", false).await;
    let (consumed_token, consumed) = google_gem(&shop, "kim", true).await;
    let (waiting_token, _) = google_gem(&shop, "lee", false).await;

    let used = shop.fakes.google.chargeback(&consumed_token).await.unwrap();
    let undelivered = shop.fakes.google.chargeback(&waiting_token).await.unwrap();
    shop.inbox_settled().await;

    let declined = shop.fakes.google.chargeback_review(&used).expect("answered");
    let approved = shop.fakes.google.chargeback_review(&undelivered).expect("answered");
    assert_eq!(declined["refundPreference"], "DECLINE");
    assert_eq!(declined["consumptionPercentageMilliunits"], 100_000);
    assert_eq!(declined["sampleContentProvided"], false);
    assert_eq!(declined["pendingRefundToken"], used.as_str());
    assert!(declined["consumptionUsageEvents"][0]["consumptionTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(approved["refundPreference"], "APPROVE");
    assert_eq!(approved["consumptionPercentageMilliunits"], 0);
    assert!(approved.get("consumptionUsageEvents").is_none(), "nothing was used: {approved}");
    let shown = detail(&shop, &consumed).await.refund_requests;
    assert_eq!((shown[0].kind.as_str(), shown[0].status.as_str()), ("CHARGEBACK_REVIEW", "ANSWERED"));
    let window = shown[0].deadline_at - shown[0].received_at;
    assert!((24 * 3_600_000 - 60_000..=24 * 3_600_000).contains(&window), "24 h from Google's event: {window}");
}

#[tokio::test]
async fn under_the_support_policy_a_chargeback_waits_for_a_person_and_sends_their_choice_once() {
    let shop = shop().await;
    set_refund_policy(&shop, "SUPPORT", false).await;
    let (token, payment) = google_gem(&shop, "kim", true).await;

    let pending = shop.fakes.google.chargeback(&token).await.unwrap();
    shop.inbox_settled().await;
    let waiting = detail(&shop, &payment).await.refund_requests.remove(0);
    let next: i64 = shop.count("SELECT next_attempt_at FROM refund_requests").await;
    let seq = payment["paymentSeq"].as_str().unwrap();
    let id = waiting.id.to_string();
    let form = [("payment_seq", seq), ("request", id.as_str()), ("preference", "APPROVE")];
    shop.app.submit::<()>("/api/payment/refund-request", &form).await.unwrap();
    let second = [("payment_seq", seq), ("request", id.as_str()), ("preference", "DECLINE")];
    let again = shop.app.submit::<()>("/api/payment/refund-request", &second).await;

    assert_eq!(waiting.status, "OPEN");
    assert_eq!(next, waiting.deadline_at - 2 * 3_600_000, "the ledger answers 2 h before the window closes");
    assert!(matches!(again, Err(app::AppError::Invalid(_))), "{again:?}");
    let review = shop.fakes.google.chargeback_review(&pending).expect("answered");
    assert_eq!(review["refundPreference"], "APPROVE");
    let answered = detail(&shop, &payment).await.refund_requests.remove(0);
    assert_eq!((answered.status.as_str(), answered.decided_by.as_deref()), ("ANSWERED", Some("demo")));
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action = 'payment.refund_request.choose'").await, 1);
}

#[tokio::test]
async fn a_chargeback_review_google_cannot_take_now_is_retried_until_it_is_answered() {
    let shop = shop().await;
    let (token, payment) = google_gem(&shop, "kim", true).await;
    shop.fakes.google.faults().inject("orders.reviewrefund", FaultKind::Status(503), 1);

    let pending = shop.fakes.google.chargeback(&token).await.unwrap();
    shop.inbox_settled().await;
    let (status, attempts, error): (String, i64, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM refund_requests")
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    sqlx::query("UPDATE refund_requests SET next_attempt_at = 0").execute(shop.app.db.pool()).await.unwrap();
    let retried = server::payments::refund_requests::run_due(&shop.app.state).await.unwrap();

    assert_eq!((status.as_str(), attempts), ("OPEN", 1));
    assert!(error.unwrap().contains("unavailable"));
    assert_eq!(retried, 1);
    assert_eq!(shop.fakes.google.chargeback_review(&pending).unwrap()["refundPreference"], "NEUTRAL");
    shop.app.login_as_demo_admin().await;
    assert_eq!(detail(&shop, &payment).await.refund_requests[0].status, "ANSWERED");
}

#[tokio::test]
async fn a_request_past_its_window_is_expired_not_sent() {
    let shop = shop().await;
    set_refund_policy(&shop, "LEDGER", true).await;
    let (bought, payment) = apple_gem(&shop, "kim", true).await;
    shop.fakes.apple.faults().inject("consumption", FaultKind::Status(500), 1);

    assert!(shop.fakes.apple.send_notification(&bought.transaction_id, "CONSUMPTION_REQUEST", None).await);
    shop.inbox_settled().await;
    sqlx::query("UPDATE refund_requests SET next_attempt_at = 0, deadline_at = 1")
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    server::payments::refund_requests::run_due(&shop.app.state).await.unwrap();

    assert!(shop.fakes.apple.consumption_requests(&bought.transaction_id).is_empty());
    assert_eq!(detail(&shop, &payment).await.refund_requests[0].status, "EXPIRED");
}
