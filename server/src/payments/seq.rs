//! The paymentSeq: the date and eight random digits, 16 digits as NHN's (`2016122110023124`).
//! Eight digits a day clash now and then (thousands of times a day at a million payments a day),
//! so every writer of a new payment tells a paymentSeq clash from its other unique keys (the store
//! transaction, the kept proof, the idempotency key) and draws again.
use rand::Rng;

/// A new paymentSeq for a payment written today.
pub(crate) fn draw() -> String {
    #[cfg(test)]
    if let Some(seq) = clash::next() {
        return seq;
    }
    format!("{}{:08}", chrono::Utc::now().format("%Y%m%d"), rand::thread_rng().gen_range(0..100_000_000))
}

/// What the tests of every writer of new payments share: draws forced to clash, and a scratch
/// server with the demo project.
#[cfg(test)]
pub(crate) mod clash {
    use std::{cell::RefCell, collections::VecDeque};

    use model::Store;

    use crate::{
        config::{Overrides, Settings},
        payments::{self, NewReservation, Reserved},
        services::Services,
        store_apps::{self, StoreAppRecord},
        stores::{PurchaseState, StorePurchase},
    };

    thread_local! {
        // Per thread: a `#[tokio::test]` runs the code it tests on its own thread.
        static FORCED: RefCell<VecDeque<String>> = const { RefCell::new(VecDeque::new()) };
    }

    /// The next draw on this thread returns `seq`; the ones after it are random again.
    pub(crate) fn force_next(seq: &str) {
        FORCED.with(|forced| forced.borrow_mut().push_back(seq.to_string()));
    }

    pub(super) fn next() -> Option<String> {
        FORCED.with(|forced| forced.borrow_mut().pop_front())
    }

    /// Whether every forced draw was taken: a test whose clash was never drawn proves nothing.
    pub(crate) fn all_drawn() -> bool {
        FORCED.with(|forced| forced.borrow().is_empty())
    }

    /// The domain on a fresh database (SQLite, or `IAP_TEST_DATABASE`) with the demo project, and
    /// the demo's Google app.
    pub(crate) async fn services() -> (Services, StoreAppRecord, testing::TempDir) {
        let dir = testing::temp_dir();
        let overrides = Overrides { database_url: Some(testing::fresh_database_url(&dir.0)), ..Overrides::default() };
        let mut settings = Settings::load(&overrides).expect("settings");
        settings.data_dir = dir.0.clone();
        settings.encryption_key_file = Some(dir.0.join("test.key"));
        let services = crate::services::prepare(settings).await.expect("services");
        crate::demo::seed(&services.db, &services.cipher).await.expect("demo seed");
        let app = store_apps::find(&services.db, &services.cipher, Store::Google, crate::demo::PACKAGE)
            .await
            .expect("store app")
            .expect("the demo's Google app");
        (services, app, dir)
    }

    /// A new reservation of 100 gems by `user` in `app`.
    pub(crate) async fn reservation(services: &Services, app: &StoreAppRecord, user: &str) -> payments::Payment {
        let product = payments::product(&services.db, app.id, "gem_100").await.unwrap().unwrap();
        let new = NewReservation {
            project_id: app.project_id,
            store_app_id: app.id,
            store: Store::Google,
            product: &product,
            user_id: user,
            developer_payload: None,
            idempotency_key: None,
        };
        match payments::reserve(&services.db, new).await.unwrap() {
            Reserved::New(payment) => payment,
            _ => panic!("a new reservation"),
        }
    }

    /// A paid Google purchase of `product_id` with store transaction `transaction_id`.
    pub(crate) fn google_purchase(product_id: &str, transaction_id: &str) -> StorePurchase {
        StorePurchase {
            store: Store::Google,
            product_id: product_id.into(),
            transaction_id: transaction_id.into(),
            original_transaction_id: None,
            linked_transaction_id: None,
            purchase_token: Some(format!("token-{transaction_id}")),
            purchase_time_ms: crate::now_ms(),
            state: PurchaseState::Purchased,
            consumed: Some(false),
            acknowledged: Some(true),
            quantity: 1,
            price_micros: Some(1_200_000),
            currency: Some("USD".into()),
            expiry_time_ms: None,
            auto_renewing: None,
            subscription_state: None,
            sandbox: true,
            store_initiated: false,
            developer_payload: None,
            account_id: None,
            refunded_share: None,
            raw: serde_json::json!({"orderId": transaction_id}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clash;
    use crate::payments;

    #[tokio::test]
    async fn a_reservation_whose_payment_seq_clashes_with_another_payment_draws_again() {
        let (services, app, _dir) = clash::services().await;
        let first = clash::reservation(&services, &app, "alice").await;
        clash::force_next(&first.payment_seq);

        let second = clash::reservation(&services, &app, "bob").await;

        assert!(clash::all_drawn());
        assert_ne!(second.payment_seq, first.payment_seq);
        assert_eq!(second.user_id, "bob");
        let first_again = payments::by_seq(&services.db, app.project_id, &first.payment_seq).await.unwrap().unwrap();
        assert_eq!(
            (first_again.id, first_again.user_id.as_str()),
            (first.id, "alice"),
            "the first payment is untouched"
        );
    }
}
