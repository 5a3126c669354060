//! The reference client: plays the app (and its server) against this server and the store fakes,
//! over HTTP, printing each request and answer. It shows every flow of the API in the order an app
//! makes its calls, and fills the demo with history.
use std::time::Duration;

use serde_json::{json, Value};

use crate::Error;

/// Where the client calls, and as whom.
#[derive(Clone)]
pub struct Target {
    /// This server's base URL.
    pub api: String,
    /// The store fakes' base URL (`server stores serve`, or the demo's).
    pub stores: String,
    pub app_key: String,
    pub secret_key: String,
    /// The app's package name / bundle id in every store.
    pub package: String,
    /// Print every request and answer.
    pub verbose: bool,
}

pub struct Client {
    target: Target,
    http: reqwest::Client,
}

/// How a bought item is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsumeBy {
    /// The app's server, with the SecretKey (recommended).
    Server,
    /// The app itself, in the build-in model.
    App,
    /// Left unconsumed.
    None,
}

impl Client {
    pub fn new(target: Target) -> Client {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
        Client { target, http }
    }

    /// Posts as an SDK should: an answer of 4029 (too many requests) is tried again after a pause.
    async fn post(&self, base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Result<Value, Error> {
        let mut pause = Duration::from_millis(100);
        loop {
            let answer = self.post_once(base, path, headers, body).await?;
            if answer["header"]["resultCode"] != 4029 || pause > Duration::from_secs(5) {
                return Ok(answer);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    async fn post_once(&self, base: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Result<Value, Error> {
        if self.target.verbose {
            println!("→ POST {path}\n{}", serde_json::to_string_pretty(body).unwrap_or_default());
        }
        let mut request = self.http.post(format!("{base}{path}")).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| Error::Other(format!("POST {path}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Other(format!("POST {path}: {e}")))?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if self.target.verbose {
            println!("← {status}\n{}\n", serde_json::to_string_pretty(&answer).unwrap_or_default());
        }
        Ok(answer)
    }

    /// A call of the app's SDK; fails unless the envelope says it succeeded.
    pub async fn sdk(&self, path: &str, body: Value) -> Result<Value, Error> {
        let answer = self.post(&self.target.api, path, &[("x-nhn-tciap-appkey", &self.target.app_key)], &body).await?;
        result(answer)
    }

    /// A call of the app's server.
    pub async fn server(&self, path: &str, body: Value) -> Result<Value, Error> {
        let headers = [("x-nhn-tciap-appkey", self.target.app_key.as_str()), ("x-secret-key", &self.target.secret_key)];
        result(self.post(&self.target.api, path, &headers, &body).await?)
    }

    /// A call of a store fake's control API: what the user does in the store.
    async fn store(&self, path: &str, body: Value) -> Result<Value, Error> {
        self.post(&self.target.stores, path, &[], &body).await
    }

    /// A call of the app's SDK on behalf of its signed-in `user`, with the user token the app's
    /// server minted for them: the SDK's lists then show the user's own secrets.
    pub async fn sdk_as(&self, user: &str, path: &str, body: Value) -> Result<Value, Error> {
        let token = crate::projects::keys::mint_user_token(
            &self.target.secret_key,
            user,
            chrono::Utc::now().timestamp() + 3600,
        );
        let headers = [("x-nhn-tciap-appkey", self.target.app_key.as_str()), ("x-user-token", &token)];
        result(self.post(&self.target.api, path, &headers, &body).await?)
    }

    /// Pays in the store fake for `product_id` (or redeems a promotion for it) as `user` and
    /// returns what the store hands the app, in the shape `/v1/sdk/verify` takes. The purchase
    /// carries the user's account value, as the app passes it to the store's purchase call.
    pub async fn pay_in_store(
        &self,
        user: &str,
        store: &str,
        product_id: &str,
        subscription: bool,
        promotion: bool,
    ) -> Result<Value, Error> {
        let package = &self.target.package;
        Ok(match store {
            "GG" => {
                let path = if subscription { "/google/fake/subscriptions" } else { "/google/fake/products" };
                let account = crate::payments::binding::google_account_id(user);
                let mut body = json!({"packageName": package, "productId": product_id, "accountId": account});
                if promotion {
                    body["promo"] = json!(true);
                }
                let bought = self.store(path, body).await?;
                json!({"productId": product_id, "purchaseToken": bought["purchaseToken"], "subscription": subscription})
            }
            "AS" => {
                let kind = if subscription { "autoRenewable" } else { "consumable" };
                let token = crate::payments::binding::apple_account_token(user);
                let body = json!({"bundleId": package, "productId": product_id, "type": kind, "offerCode": promotion,
                                  "appAccountToken": token});
                let bought = self.store("/apple/fake/purchases", body).await?;
                json!({"signedTransaction": bought["signedTransaction"]})
            }
            "ONESTORE" => {
                let body = json!({"packageName": package, "productId": product_id, "sandbox": true});
                let bought = self.store("/onestore/fake/purchases", body).await?;
                json!({"productId": product_id, "purchaseToken": bought["purchaseToken"]})
            }
            other => return Err(Error::Invalid(format!("unknown store {other}: GG, AS or ONESTORE"))),
        })
    }

    /// The whole purchase: items → reserve → pay in the store → verify → consume.
    pub async fn buy(&self, user: &str, store: &str, product_id: &str, consume: ConsumeBy) -> Result<Value, Error> {
        let items = self.sdk("/v1/sdk/products", json!({"storeCode": store})).await?;
        let item = items
            .as_array()
            .and_then(|items| items.iter().find(|i| i["productId"] == product_id))
            .ok_or_else(|| Error::Invalid(format!("{product_id} is not an item in use in {store}")))?;
        let subscription = item["productType"] != "CONSUMABLE";
        let reserved =
            self.sdk("/v1/sdk/reserve", json!({"userId": user, "storeCode": store, "productId": product_id})).await?;
        let mut verify = json!({"userId": user, "storeCode": store, "paymentSeq": reserved["paymentSeq"]});
        let bought = self.pay_in_store(user, store, product_id, subscription, false).await?;
        merge(&mut verify, bought.clone());
        let payment = self.sdk("/v1/sdk/verify", verify).await?;
        if payment["isConsumable"] == true {
            let mut proof = json!({"paymentSeq": payment["paymentSeq"], "accessToken": payment["accessToken"]});
            match consume {
                ConsumeBy::Server => drop(self.server("/v1/service/consume", proof).await?),
                // The app consumes by itself only with the store's proof of this very payment.
                ConsumeBy::App => {
                    merge(&mut proof, bought);
                    drop(self.sdk("/v1/sdk/consume", proof).await?)
                }
                ConsumeBy::None => {}
            }
        }
        Ok(payment)
    }

    /// A purchase the store started (a promo code, a promoted purchase): verified with no
    /// reservation.
    pub async fn redeem(&self, user: &str, store: &str, product_id: &str) -> Result<Value, Error> {
        let mut verify = json!({"userId": user, "storeCode": store});
        merge(&mut verify, self.pay_in_store(user, store, product_id, false, true).await?);
        self.sdk("/v1/sdk/verify", verify).await
    }

    pub async fn unconsumed(&self, user: &str) -> Result<Value, Error> {
        self.server("/v1/service/consumable", json!({"userChannel": "GF", "userKey": user})).await
    }

    pub async fn active_subscriptions(&self, user: &str) -> Result<Value, Error> {
        self.sdk_as(user, "/v1/sdk/subscriptions/active", json!({"userId": user})).await
    }

    /// Refunds a purchase in the store fake, which notifies the server if it was told where.
    pub async fn refund_in_store(&self, store: &str, payment: &Value) -> Result<(), Error> {
        let path = match (store, payment["paymentId"].as_str(), payment["paymentToken"].as_str()) {
            ("AS", Some(transaction), _) => format!("/apple/fake/transactions/{transaction}/refund"),
            ("GG", _, Some(token)) => format!("/google/fake/purchases/{token}/void"),
            ("ONESTORE", _, Some(token)) => format!("/onestore/fake/purchases/{token}/refund"),
            _ => return Err(Error::Invalid(format!("no store reference to refund in {payment}"))),
        };
        self.store(&path, json!({})).await.map(drop)
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// The envelope's `result`, or its failure as an error.
fn result(answer: Value) -> Result<Value, Error> {
    if answer["header"]["isSuccessful"] == true {
        Ok(answer["result"].clone())
    } else {
        Err(Error::Other(format!(
            "{} {}",
            answer["header"]["resultCode"],
            answer["header"]["resultMessage"].as_str().unwrap_or("(no message)")
        )))
    }
}

/// Fills the demo with `count` purchases over every store and item kind: most consumed, some left
/// unconsumed, a few refunded afterwards, some redeemed in the store.
pub async fn fill_history(client: &Client, count: usize) -> Result<usize, Error> {
    let catalogue: &[(&str, &[&str])] = &[
        ("GG", &["gem_100", "gem_500", "premium_monthly", "gem_pass_weekly"]),
        ("AS", &["gem_100", "gem_500", "premium_monthly", "gem_pass_weekly"]),
        ("ONESTORE", &["gem_100"]),
    ];
    let mut made = 0;
    for n in 0..count {
        let (store, products) = catalogue[n % catalogue.len()];
        let product = products[(n / catalogue.len()) % products.len()];
        let user = format!("player-{:03}", n % 40);
        let consume = match n % 10 {
            0 | 1 => ConsumeBy::None,
            _ => ConsumeBy::Server,
        };
        let outcome = if n % 17 == 5 && product.starts_with("gem_") && store != "ONESTORE" {
            client.redeem(&user, store, product).await
        } else {
            client.buy(&user, store, product, consume).await
        };
        match outcome {
            Ok(payment) => {
                made += 1;
                if n % 13 == 7 {
                    client.refund_in_store(store, &payment).await?;
                }
            }
            Err(err) => tracing::warn!(store, product, error = %err, "a demo purchase failed"),
        }
    }
    Ok(made)
}
