use serde_json::json;

use crate::shop::shop;

#[tokio::test]
async fn a_reservation_the_user_cancelled_is_closed_and_still_takes_its_purchase_if_one_comes() {
    let shop = shop().await;
    let seq = shop.reserve("user-c", "GG", "gem_100").await;

    let by_someone_else = shop.sdk("/v1/sdk/close", json!({"userId": "user-x", "paymentSeq": seq})).await;
    let closed = shop.sdk("/v1/sdk/close", json!({"userId": "user-c", "paymentSeq": seq})).await;
    let again = shop.sdk("/v1/sdk/close", json!({"userId": "user-c", "paymentSeq": seq})).await;
    let unknown = shop.sdk("/v1/sdk/close", json!({"userId": "user-c", "paymentSeq": "2026120300000000"})).await;

    assert_eq!(by_someone_else.code(), 4008);
    assert_eq!(closed.ok()["status"], "USER_CLOSE");
    assert_eq!((again.code(), unknown.code()), (4009, 4004));
    assert_eq!(shop.count("SELECT COUNT(*) FROM payment_history WHERE event = 'USER_CLOSE'").await, 1);

    let bought = shop.google_gem().await;
    let verified = shop
        .sdk(
            "/v1/sdk/verify",
            json!({"userId": "user-c", "storeCode": "GG", "paymentSeq": seq, "productId": "gem_100", "purchaseToken": bought.purchase_token}),
        )
        .await;
    assert_eq!(verified.ok()["paymentSeq"], seq.as_str(), "the user paid after all: the reservation takes it");
    assert_eq!(verified.ok()["status"], "SUCCESS");
    assert_eq!(shop.count("SELECT COUNT(*) FROM payments").await, 1);
}

#[tokio::test]
async fn reservations_no_purchase_came_for_expire_and_one_whose_proof_is_kept_does_not() {
    let shop = shop().await;
    let (old, kept, fresh) = (
        shop.reserve("user-e", "GG", "gem_100").await,
        shop.reserve("user-e", "GG", "gem_100").await,
        shop.reserve("user-e", "GG", "gem_100").await,
    );
    let four_days = 4 * 86_400_000_i64;
    sqlx::query("UPDATE payments SET reserved_at = reserved_at - $1 WHERE payment_seq IN ($2, $3)")
        .bind(four_days)
        .bind(&old)
        .bind(&kept)
        .execute(shop.app.db.pool())
        .await
        .unwrap();
    // A proof kept for another verification attempt (the store was down): its purchase exists.
    sqlx::query("UPDATE payments SET receipt = '{}' WHERE payment_seq = $1")
        .bind(&kept)
        .execute(shop.app.db.pool())
        .await
        .unwrap();

    let expired = server::payments::close::expire_reservations(&shop.app.db, 72).await.unwrap();

    assert_eq!(expired, 1);
    assert_eq!(shop.status_of(&old).await, "USER_CLOSE");
    assert_eq!((shop.status_of(&kept).await, shop.status_of(&fresh).await), ("RESERVED".into(), "RESERVED".into()));
    let reason: String = sqlx::query_scalar("SELECT reason FROM payment_history WHERE event = 'EXPIRE'")
        .fetch_one(shop.app.db.pool())
        .await
        .unwrap();
    assert_eq!(reason, "no purchase came within 72 hours of the reservation");
    assert_eq!(server::payments::close::expire_reservations(&shop.app.db, 0).await.unwrap(), 0, "0 never expires");
}
