//! A test shop: the server with the demo project, whose store apps point at the store fakes, and
//! helpers to call its API as the app and as the app's server.
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{
    demo,
    fakes::{self, google, Fakes},
};

use crate::helpers::{plain_client, spawn_app_with, TestApp};

pub struct Shop {
    pub app: TestApp,
    pub fakes: Fakes,
    pub http: reqwest::Client,
}

pub async fn shop() -> Shop {
    shop_with(|_| {}).await
}

/// The shop with settings changed by `configure`.
pub async fn shop_with(configure: impl FnOnce(&mut server::config::Settings)) -> Shop {
    let fakes = Fakes::new();
    let base = fakes::serve(fakes.router(), 0).await.unwrap();
    let app = spawn_app_with(|settings| {
        settings.stores.google_push_keys_url = demo::push_keys_url(&base);
        configure(settings)
    })
    .await;
    demo::connect_fakes(&app.state, &fakes, &base).await.unwrap();
    Shop { app, fakes, http: plain_client() }
}

/// A response's HTTP status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["header"]["resultCode"].as_i64().unwrap()
    }

    pub fn ok(&self) -> &Value {
        assert_eq!(self.code(), 0, "{}", self.body);
        assert!(self.body["header"]["isSuccessful"].as_bool().unwrap());
        &self.body["result"]
    }
}

impl Shop {
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.app.base)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        Answer { status, body: response.json().await.unwrap() }
    }

    /// A call from the app's SDK: AppKey only.
    pub async fn sdk(&self, path: &str, body: Value) -> Answer {
        self.post(path, &[("x-nhn-tciap-appkey", demo::APP_KEY)], &body).await
    }

    /// A call from the app's SDK for its signed-in `user`: AppKey and the user token the app's
    /// server minted for them.
    pub async fn sdk_as(&self, user: &str, path: &str, body: Value) -> Answer {
        let token = self.user_token(user);
        self.post(path, &[("x-nhn-tciap-appkey", demo::APP_KEY), ("x-user-token", &token)], &body).await
    }

    /// A user token for `user`, valid for an hour, as the app's server mints it.
    pub fn user_token(&self, user: &str) -> String {
        server::projects::keys::mint_user_token(demo::SECRET_KEY, user, chrono::Utc::now().timestamp() + 3600)
    }

    /// Sets what the demo project lets AppKey callers do.
    pub async fn set_policy(&self, user_binding: server::payments::binding::UserBinding, client_consume: bool) {
        let id = server::projects::find_id_by_name(&self.app.db, demo::PROJECT_NAME).await.unwrap().unwrap();
        let policy = server::projects::Policy { user_binding, client_consume };
        server::projects::set_policy(&self.app.db, id, policy).await.unwrap();
    }

    /// A call from the app's server: AppKey and SecretKey.
    pub async fn server(&self, path: &str, body: Value) -> Answer {
        self.post(path, &[("x-nhn-tciap-appkey", demo::APP_KEY), ("x-secret-key", demo::SECRET_KEY)], &body).await
    }

    pub async fn reserve(&self, user: &str, store: &str, product: &str) -> String {
        let answer =
            self.sdk("/v1/sdk/reserve", json!({"userId": user, "storeCode": store, "productId": product})).await;
        let result = answer.ok();
        assert_eq!(result["status"], "RESERVED");
        result["paymentSeq"].as_str().unwrap().to_string()
    }

    pub async fn google_gem(&self) -> google::Created {
        let new = google::NewProduct { package: demo::PACKAGE, product_id: "gem_100", ..Default::default() };
        self.fakes.google.add_product(new).await
    }

    /// A sandbox ONE store gem for the demo app, bought in Korea; its purchase token.
    pub fn onestore_gem(&self) -> String {
        self.fakes.onestore.add_purchase(fakes::onestore::NewPurchase {
            market: server::stores::onestore::Market::Korea,
            package: demo::PACKAGE,
            product: "gem_100",
            sandbox: true,
            developer_payload: None,
        })
    }

    pub async fn unconsumed(&self, user: &str) -> Vec<Value> {
        let answer = self.server("/v1/service/consumable", json!({"userChannel": "GF", "userKey": user})).await;
        answer.ok().as_array().unwrap().clone()
    }
}

impl Shop {
    /// A Google subscription to `product_id` for the demo app, renewing every `days`.
    pub async fn google_subscription(&self, product_id: &str, days: u64) -> google::Created {
        self.fakes
            .google
            .add_subscription(google::NewSubscription {
                period: std::time::Duration::from_secs(days * 86_400),
                ..google::NewSubscription::monthly(demo::PACKAGE, product_id)
            })
            .await
    }
}

impl Shop {
    pub fn callback(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    /// Waits until the background worker has worked off every stored notification (none is left
    /// waiting, except those about a purchase no verify has recorded: they wait for one), as an
    /// app's server would wait for the webhook.
    pub async fn inbox_settled(&self) {
        let wait_ms = self.app.state.settings.notifications.unknown_purchase_wait_secs * 1000;
        let mut waiting = "SELECT COUNT(*) FROM store_notifications WHERE status = 'RECEIVED'".to_string();
        if wait_ms > 0 {
            waiting.push_str(&format!(" AND next_attempt_at <> received_at + {wait_ms}"));
        }
        for _ in 0..400 {
            if self.count(&waiting).await == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("notifications still waiting after 10 s");
    }

    /// The demo Google app takes a purchase's Play Billing signature while Google is down, with the
    /// fake's license key.
    pub async fn google_signature_fallback(&self) {
        let settings: String = sqlx::query_scalar("SELECT settings FROM store_apps WHERE store = 'GG'")
            .fetch_one(self.app.db.pool())
            .await
            .unwrap();
        let mut settings: Value = serde_json::from_str(&settings).unwrap();
        settings["outageFallback"] = json!("SIGNATURE");
        settings["licenseKey"] = json!(google::license_key());
        sqlx::query("UPDATE store_apps SET settings = $1 WHERE store = 'GG'")
            .bind(settings.to_string())
            .execute(self.app.db.pool())
            .await
            .unwrap();
    }

    /// The status of the payment `seq`, as stored.
    pub async fn status_of(&self, seq: &str) -> String {
        sqlx::query_scalar("SELECT status FROM payments WHERE payment_seq = $1")
            .bind(seq)
            .fetch_one(self.app.db.pool())
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(self.app.db.pool()).await.unwrap()
    }

    pub async fn verify(&self, user: &str, store: &str, purchase: Value) -> Value {
        let mut body = json!({"userId": user, "storeCode": store});
        body.as_object_mut().unwrap().extend(purchase.as_object().unwrap().clone());
        self.sdk("/v1/sdk/verify", body).await.ok().clone()
    }
}
