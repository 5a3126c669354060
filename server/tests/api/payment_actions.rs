//! What support does to one payment from its page: ask the store again, change its status.
use app::{
    model::{Reverification, Role},
    AppError,
};
use serde_json::json;
use server::fakes::{apple::NewPurchase, faults::FaultKind};

use crate::shop::{shop, Shop};

async fn change(
    as_user: &crate::helpers::TestApp,
    seq: &str,
    to: &str,
    reason: &str,
    extra: &[(&str, &str)],
) -> Result<(), AppError> {
    let csrf = as_user.csrf().await;
    let mut form = vec![("_csrf", csrf.as_str()), ("payment_seq", seq), ("to", to), ("reason", reason)];
    form.extend_from_slice(extra);
    as_user.post_fn("/api/payment/status", &form).await
}

async fn buy_gem(shop: &Shop, user: &str) -> serde_json::Value {
    let gem = shop.google_gem().await;
    shop.verify(user, "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await
}

#[tokio::test]
async fn support_marks_a_missed_charge_as_success_and_the_app_server_can_then_consume_it() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let seq = shop.reserve("kim", "AS", "gem_100").await;
    // The charge the user's receipt shows is one the App Store confirms.
    let charged = shop.fakes.apple.add_purchase(NewPurchase::consumable(server::demo::PACKAGE, "gem_100")).await;
    let success = [("receipt", charged.transaction_id.as_str()), ("price", "0.99"), ("currency", "usd")];

    change(&support, &seq, "SUCCESS", "charged on the user's Apple receipt", &success).await.unwrap();
    let listed = shop.unconsumed("kim").await;
    let token = listed[0]["accessToken"].as_str().unwrap();
    let consumed = shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": token})).await;

    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["paymentSeq"], seq.as_str());
    assert_eq!(listed[0]["currency"], "USD");
    consumed.ok();
    let history: (String, String, String, String) = sqlx::query_as(
        "SELECT h.to_status, h.source, h.actor, h.reason FROM payment_history h JOIN payments p ON p.id = h.payment_id \
         WHERE p.payment_seq = $1 AND h.event = 'MANUAL_SUCCESS'",
    )
    .bind(&seq)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        history,
        ("SUCCESS".into(), "CONSOLE".into(), "support-user".into(), "charged on the user's Apple receipt".into())
    );
    let audit: (String, String, String) = sqlx::query_as(
        "SELECT actor, reason, detail FROM audit_log WHERE action = 'payment.status' AND target_id = $1",
    )
    .bind(&seq)
    .fetch_one(shop.app.db.pool())
    .await
    .unwrap();
    assert_eq!(audit.0, "support-user");
    let expected =
        format!("RESERVED → SUCCESS, confirmed by the store, receipt {}, price 0.99 USD", charged.transaction_id);
    assert!(audit.2.starts_with(&expected), "{}", audit.2);
}

#[tokio::test]
async fn a_viewer_can_neither_change_a_status_nor_ask_the_store() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let seq = shop.reserve("lee", "AS", "gem_100").await;
    let csrf = viewer.csrf().await;

    let changed = change(&viewer, &seq, "REFUND", "viewer tries", &[]).await;
    let asked =
        viewer.post_fn::<Reverification>("/api/payment/reverify", &[("_csrf", &csrf), ("payment_seq", &seq)]).await;

    assert_eq!(changed, Err(AppError::Forbidden));
    assert_eq!(asked, Err(AppError::Forbidden));
    assert_eq!(shop.status_of(&seq).await, "RESERVED");
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'payment.%'").await, 0);
}

#[tokio::test]
async fn a_change_without_a_reason_or_with_a_bad_price_changes_nothing() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let seq = shop.reserve("max", "AS", "gem_100").await;
    let good = [("receipt", "2000000999"), ("price", "1.99"), ("currency", "USD")];

    let no_reason = change(&support, &seq, "SUCCESS", "  ", &good).await;
    let bad_price = change(
        &support,
        &seq,
        "SUCCESS",
        "charged",
        &[("receipt", "2000000999"), ("price", "-1"), ("currency", "USD")],
    )
    .await;
    let no_receipt =
        change(&support, &seq, "SUCCESS", "charged", &[("receipt", ""), ("price", "1.99"), ("currency", "USD")]).await;
    let unknown = change(&support, &seq, "CONSUMED", "why not", &[]).await;

    for refused in [no_reason, bad_price, no_receipt, unknown] {
        assert!(matches!(refused, Err(AppError::Invalid(_))), "{refused:?}");
    }
    assert_eq!(shop.status_of(&seq).await, "RESERVED");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE source = 'CONSOLE'").await, 0);
}

#[tokio::test]
async fn a_manual_refund_is_final_and_says_whether_the_item_must_be_clawed_back() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let paid = buy_gem(&shop, "nia").await;
    let seq = paid["paymentSeq"].as_str().unwrap();
    shop.server("/v1/service/consume", json!({"paymentSeq": seq, "accessToken": paid["accessToken"]})).await.ok();
    let google_reservation = shop.reserve("nia", "GG", "gem_100").await;

    change(&support, seq, "REFUND", "chargeback reported by the user", &[]).await.unwrap();
    let again = change(&support, seq, "REFUND", "twice", &[]).await;
    let back = change(&support, seq, "SUCCESS", "undo", &[("receipt", "x"), ("price", "1"), ("currency", "USD")]).await;
    let google_success = change(
        &support,
        &google_reservation,
        "SUCCESS",
        "charged",
        &[("receipt", "GPA.1"), ("price", "1"), ("currency", "USD")],
    )
    .await;

    assert_eq!(shop.status_of(seq).await, "REFUND");
    assert!(matches!(again, Err(AppError::Invalid(_))));
    assert!(matches!(back, Err(AppError::Invalid(_))));
    assert!(matches!(google_success, Err(AppError::Invalid(_))), "Google reservations are asked of the store instead");
    let refund: (String, i64, String) =
        sqlx::query_as("SELECT source, was_consumed, reason FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE p.payment_seq = $1")
            .bind(seq)
            .fetch_one(shop.app.db.pool())
            .await
            .unwrap();
    assert_eq!(refund, ("MANUAL".into(), 1, "chargeback reported by the user".into()));
}

#[tokio::test]
async fn asking_the_store_again_lays_its_answer_beside_our_record() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let gem = shop.google_gem().await;
    let paid = shop.verify("oli", "GG", json!({"productId": "gem_100", "purchaseToken": gem.purchase_token})).await;
    let seq = paid["paymentSeq"].as_str().unwrap();
    let ask = [("payment_seq", seq)];

    let agreeing: Reverification = support.submit("/api/payment/reverify", &ask).await.unwrap();
    assert!(shop.fakes.google.void(&gem.purchase_token, 0, 1).await);
    let voided: Reverification = support.submit("/api/payment/reverify", &ask).await.unwrap();

    assert_eq!(agreeing.error, None);
    assert!(agreeing.comparisons.iter().all(|c| !c.differs()), "{:?}", agreeing.comparisons);
    let status = voided.comparisons.iter().find(|c| c.field == "Status").unwrap();
    assert_eq!((status.ours.as_str(), status.store.as_str()), ("SUCCESS", "REFUND"));
    assert!(voided.raw.is_some());
    assert_eq!(shop.status_of(seq).await, "SUCCESS", "asking changes nothing");
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action = 'payment.reverify'").await, 2);
}

#[tokio::test]
async fn asking_the_store_during_an_outage_reports_it_instead_of_failing() {
    let shop = shop().await;
    let support = shop.app.signed_in_as(Role::Support).await;
    let paid = buy_gem(&shop, "pat").await;
    let seq = paid["paymentSeq"].as_str().unwrap();
    shop.fakes.google.faults().inject("productsv2.get", FaultKind::Status(503), 3);
    let csrf = support.csrf().await;

    let answer: Reverification =
        support.post_fn("/api/payment/reverify", &[("_csrf", &csrf), ("payment_seq", seq)]).await.unwrap();

    assert!(answer.comparisons.is_empty());
    assert!(answer.error.unwrap().contains("unavailable"));
}
