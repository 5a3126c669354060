//! Payments: the record and its Payment Access Token, reservation, the store's verdict, consume,
//! and the history row every state change appends.
pub mod account_token;
pub mod acknowledge;
pub mod binding;
pub mod cancel;
pub mod close;
pub mod confirm;
pub mod consume;
pub mod events;
pub mod manual;
pub mod refund;
pub mod refund_requests;
pub mod refunds;
pub mod reported;
pub mod retry;
pub mod search;
pub(crate) mod seq;
pub mod statistics;
pub mod store_consume;
pub mod sync;
pub mod verify;

use model::{ProductType, Store};
use sqlx::{any::AnyRow, Any, Row, Transaction};

use crate::{crypto, db::Db, now_ms, stores::client::Proof, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Reserved,
    Success,
    Failure,
    Refund,
    /// A reservation no purchase came for: the app said the user cancelled, or it expired. It
    /// still takes its purchase if one comes after all.
    UserClose,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reserved => "RESERVED",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::Refund => "REFUND",
            Status::UserClose => "USER_CLOSE",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "SUCCESS" => Status::Success,
            "FAILURE" => Status::Failure,
            "REFUND" => Status::Refund,
            "USER_CLOSE" => Status::UserClose,
            _ => Status::Reserved,
        }
    }
}

/// Where a state change came from, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Client,
    Server,
    Store,
    /// A support person, by hand.
    Console,
    /// A reconciliation sweep found what the store had not notified.
    Sweep,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Client => "CLIENT",
            Source::Server => "SERVER",
            Source::Store => "STORE",
            Source::Console => "CONSOLE",
            Source::Sweep => "SWEEP",
        }
    }
}

/// A payment as the API reads it. The access token is not here: only its hash and ciphertext
/// are stored, and it is decrypted where it must be handed out.
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: i64,
    pub payment_seq: String,
    pub project_id: i64,
    pub store_app_id: i64,
    pub store: Store,
    pub product_seq: Option<i64>,
    pub store_product_id: String,
    pub product_type: ProductType,
    pub user_id: String,
    pub status: Status,
    pub pending_reason: Option<String>,
    pub consumed: bool,
    pub price_micros: Option<i64>,
    pub currency: Option<String>,
    /// The amount is the item's registered list price: the store gave none (yet).
    pub price_is_list: bool,
    /// Units bought in this one store transaction (Google multi-quantity purchases): the app's server
    /// grants this many.
    pub quantity: i64,
    /// Verified by the purchase's signature alone during a store outage, not yet confirmed with the
    /// store (see [`crate::stores::google::signed`]).
    pub provisional: bool,
    pub payment_id: Option<String>,
    pub original_payment_id: Option<String>,
    pub linked_payment_id: Option<String>,
    pub purchase_token: Option<String>,
    pub access_token_hash: Option<String>,
    access_token_enc: Option<String>,
    pub purchase_time: Option<i64>,
    pub expiry_time: Option<i64>,
    pub renew_time: Option<i64>,
    pub subscription_state: Option<String>,
    pub auto_renewing: Option<bool>,
    pub sandbox: bool,
    pub store_initiated: bool,
    /// Reported by the store before any verify, and not yet claimed by its buyer: it has no user
    /// (an empty user id) and no access token.
    pub unclaimed: bool,
    /// The account value the store keeps on the purchase (see [`binding`]).
    pub store_account_id: Option<String>,
    pub developer_payload: Option<String>,
    pub reserved_at: Option<i64>,
    pub verify_attempts: i64,
    /// The proof kept while the store has not confirmed the purchase.
    pub receipt: Option<String>,
    pub created_at: i64,
}

impl Payment {
    /// `STORE` or `LIST` (see [`Payment::price_is_list`]); none without an amount.
    pub fn price_source(&self) -> Option<&'static str> {
        self.price_micros.map(|_| if self.price_is_list { "LIST" } else { "STORE" })
    }
}

#[cfg(test)]
impl Payment {
    /// A verified payment of `product_type`, for unit tests of rules that read one.
    pub(crate) fn for_tests(product_type: ProductType) -> Payment {
        Payment {
            id: 1,
            payment_seq: "2026120100000001".into(),
            project_id: 1,
            store_app_id: 1,
            store: Store::Google,
            product_seq: None,
            store_product_id: "gem_100".into(),
            product_type,
            user_id: "kim".into(),
            status: Status::Success,
            pending_reason: None,
            consumed: false,
            price_micros: None,
            currency: None,
            price_is_list: false,
            quantity: 1,
            provisional: false,
            payment_id: Some("GPA.1".into()),
            original_payment_id: None,
            linked_payment_id: None,
            purchase_token: None,
            access_token_hash: None,
            access_token_enc: None,
            purchase_time: None,
            expiry_time: None,
            renew_time: None,
            subscription_state: None,
            auto_renewing: None,
            sandbox: false,
            store_initiated: false,
            unclaimed: false,
            store_account_id: None,
            developer_payload: None,
            reserved_at: None,
            verify_attempts: 0,
            receipt: None,
            created_at: 0,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, payment_seq, project_id, store_app_id, store, product_seq, store_product_id, \
    product_type, user_id, status, pending_reason, consumed, price_micros, currency, price_is_list, quantity, \
    confirm_state, payment_id, original_payment_id, linked_payment_id, purchase_token, access_token_hash, \
    access_token_enc, purchase_time, expiry_time, renew_time, subscription_state, auto_renewing, environment, \
    store_initiated, claim_state, store_account_id, developer_payload, reserved_at, verify_attempts, receipt, created_at";

impl Payment {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Payment, Error> {
        let store: String = row.try_get("store")?;
        let product_type: String = row.try_get("product_type")?;
        Ok(Payment {
            id: row.try_get("id")?,
            payment_seq: row.try_get("payment_seq")?,
            project_id: row.try_get("project_id")?,
            store_app_id: row.try_get("store_app_id")?,
            store: Store::parse(&store).ok_or_else(|| Error::Other(format!("stored store {store}")))?,
            product_seq: row.try_get("product_seq")?,
            store_product_id: row.try_get("store_product_id")?,
            product_type: ProductType::parse(&product_type)
                .ok_or_else(|| Error::Other(format!("stored product type {product_type}")))?,
            user_id: row.try_get("user_id")?,
            status: Status::parse(&row.try_get::<String, _>("status")?),
            pending_reason: row.try_get("pending_reason")?,
            consumed: row.try_get::<i64, _>("consumed")? != 0,
            price_micros: row.try_get("price_micros")?,
            currency: row.try_get("currency")?,
            price_is_list: row.try_get::<i64, _>("price_is_list")? != 0,
            quantity: row.try_get("quantity")?,
            provisional: row.try_get::<Option<String>, _>("confirm_state")?.as_deref() == Some("PROVISIONAL"),
            payment_id: row.try_get("payment_id")?,
            original_payment_id: row.try_get("original_payment_id")?,
            linked_payment_id: row.try_get("linked_payment_id")?,
            purchase_token: row.try_get("purchase_token")?,
            access_token_hash: row.try_get("access_token_hash")?,
            access_token_enc: row.try_get("access_token_enc")?,
            purchase_time: row.try_get("purchase_time")?,
            expiry_time: row.try_get("expiry_time")?,
            renew_time: row.try_get("renew_time")?,
            subscription_state: row.try_get("subscription_state")?,
            auto_renewing: row.try_get::<Option<i64>, _>("auto_renewing")?.map(|v| v != 0),
            sandbox: row.try_get::<String, _>("environment")? == "SANDBOX",
            store_initiated: row.try_get::<i64, _>("store_initiated")? != 0,
            unclaimed: row.try_get::<Option<String>, _>("claim_state")?.as_deref() == Some("UNCLAIMED"),
            store_account_id: row.try_get("store_account_id")?,
            developer_payload: row.try_get("developer_payload")?,
            reserved_at: row.try_get("reserved_at")?,
            verify_attempts: row.try_get("verify_attempts")?,
            receipt: row.try_get("receipt")?,
            created_at: row.try_get("created_at")?,
        })
    }

    /// What to ask the store with: the proof the app sent when we kept it, otherwise the identifiers
    /// the store gave us.
    pub fn proof(&self) -> Option<Proof> {
        if let Some(proof) = self.receipt.as_deref().and_then(|r| serde_json::from_str(r).ok()) {
            return Some(proof);
        }
        let product_id = self.store_product_id.clone();
        match self.store {
            Store::Google => self.purchase_token.clone().map(|purchase_token| Proof::Google {
                product_id,
                purchase_token,
                subscription: self.is_subscription(),
            }),
            Store::Apple => self.payment_id.clone().map(Proof::AppleTransactionId),
            Store::OneStore => {
                self.purchase_token.clone().map(|purchase_token| Proof::OneStore { product_id, purchase_token })
            }
        }
    }

    pub fn is_subscription(&self) -> bool {
        self.product_type.is_subscription()
    }

    pub fn is_consumable_type(&self) -> bool {
        self.product_type.is_consumable()
    }

    /// Whether `token` is this payment's access token, compared in constant time.
    pub fn token_matches(&self, token: &str) -> bool {
        self.access_token_hash.as_deref().is_some_and(|hash| crypto::ct_eq(&crypto::sha256_hex(token), hash))
    }

    /// Whether `proof` is the store's proof of this very payment: its purchase token (compared in
    /// constant time, without asking the store), or an Apple signed transaction or receipt that
    /// the store client verifies and that holds this payment's transaction.
    pub async fn is_proven_by(
        &self,
        client: &crate::stores::client::StoreClient,
        proof: &Proof,
    ) -> Result<bool, crate::stores::StoreError> {
        let stored = |value: &Option<String>, given: &str| value.as_deref().is_some_and(|v| crypto::ct_eq(v, given));
        match proof {
            Proof::Google { purchase_token, .. } | Proof::OneStore { purchase_token, .. } => {
                Ok(stored(&self.purchase_token, purchase_token))
            }
            Proof::AppleSignedTransaction(_) => {
                Ok(client.verify(proof).await.is_ok_and(|p| stored(&self.payment_id, &p.transaction_id)))
            }
            Proof::AppleReceipt { receipt_data, .. } => {
                let Some(transaction_id) = self.payment_id.clone() else { return Ok(false) };
                let named = Proof::AppleReceipt {
                    receipt_data: receipt_data.clone(),
                    transaction_id: Some(transaction_id),
                    product_id: None,
                };
                match client.verify(&named).await {
                    Ok(_) => Ok(true),
                    Err(crate::stores::StoreError::Rejected { .. }) => Ok(false),
                    Err(err) => Err(err),
                }
            }
            // A transaction id is a guessable number, not something only the buyer holds.
            Proof::AppleTransactionId(_) => Ok(false),
        }
    }

    /// The access token in clear, for the lists that hand it to the app's server.
    pub fn access_token(&self, cipher: &crypto::Cipher) -> Result<Option<String>, Error> {
        let (Some(hash), Some(sealed)) = (&self.access_token_hash, &self.access_token_enc) else { return Ok(None) };
        cipher.decrypt(crypto::Column::PaymentAccessToken, hash, sealed).map(Some)
    }
}

/// An access token as a payment row keeps it: its hash (what a consume is checked against) and
/// its ciphertext, bound to that hash.
pub(crate) fn sealed_access_token(cipher: &crypto::Cipher, token: &str) -> (String, String) {
    let hash = crypto::sha256_hex(token);
    let sealed = cipher.encrypt(crypto::Column::PaymentAccessToken, &hash, token);
    (hash, sealed)
}

/// A new Payment Access Token: 64 random bytes, URL-safe base64 (86 characters, as NHN's).
pub(crate) fn new_access_token() -> String {
    crypto::random_token(64)
}

pub async fn by_seq(db: &Db, project_id: i64, payment_seq: &str) -> Result<Option<Payment>, Error> {
    find(db, "payment_seq", project_id, payment_seq).await
}

pub async fn by_access_token(db: &Db, project_id: i64, token: &str) -> Result<Option<Payment>, Error> {
    find(db, "access_token_hash", project_id, &crypto::sha256_hex(token)).await
}

/// The project's payment whose unique `column` holds `value`.
async fn find(db: &Db, column: &str, project_id: i64, value: &str) -> Result<Option<Payment>, Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE project_id = $1 AND {column} = $2"))
        .bind(project_id)
        .bind(value)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(Payment::from_row).transpose()
}

pub async fn by_id(db: &Db, id: i64) -> Result<Payment, Error> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1")).bind(id).fetch_one(db.pool()).await?;
    Payment::from_row(&row)
}

/// One row of the payment's history.
pub struct HistoryEntry<'a> {
    pub payment_id: i64,
    pub from: Option<Status>,
    pub to: Status,
    pub event: &'a str,
    pub source: Source,
    /// The console user, for a change made by hand.
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<String>,
}

/// The users whose payments in the store app carry Apple's `appTransactionId`, newest payment
/// first (one Apple Account may have played under several user ids); at most ten.
pub async fn users_of_app_transaction(
    db: &Db,
    store_app_id: i64,
    app_transaction_id: &str,
) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM payments WHERE store_app_id = $1 AND app_transaction_id = $2 AND user_id <> '' \
         GROUP BY user_id ORDER BY MAX(id) DESC LIMIT 10",
    )
    .bind(store_app_id)
    .bind(app_transaction_id)
    .fetch_all(db.pool())
    .await?)
}

/// What Google or ONE store says of the payment's purchase now, asked after the store refused an
/// acknowledge or a consume of it; `None` for Apple (it keeps neither state to read back) or when
/// the store cannot say.
pub(super) async fn read_at_store(
    client: &crate::stores::client::StoreClient,
    payment: &Payment,
) -> Option<crate::stores::StorePurchase> {
    if payment.store == Store::Apple {
        return None;
    }
    client.verify(&payment.proof()?).await.ok()
}

/// A history row about the server's work on the payment at its store (acknowledge, consume,
/// refund requests): the status stays as it is.
pub(crate) async fn append_note(
    tx: &mut Transaction<'static, Any>,
    payment: &Payment,
    event: &str,
    detail: Option<String>,
) -> Result<(), Error> {
    let entry = HistoryEntry {
        payment_id: payment.id,
        from: Some(payment.status),
        to: payment.status,
        event,
        source: Source::Server,
        actor: None,
        reason: None,
        detail,
    };
    append_history(tx, entry).await
}

pub async fn append_history(tx: &mut Transaction<'static, Any>, entry: HistoryEntry<'_>) -> Result<(), Error> {
    append_histories(tx, vec![entry]).await
}

/// Appends every entry in one statement.
pub async fn append_histories(tx: &mut Transaction<'static, Any>, entries: Vec<HistoryEntry<'_>>) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut sql = crate::db::sql::Sql::new(
        "INSERT INTO payment_history (payment_id, from_status, to_status, event, source, actor, reason, detail, \
         created_at) VALUES ",
    );
    sql.push_rows(entries.into_iter().map(|e| {
        vec![
            e.payment_id.into(),
            e.from.map(Status::as_str).into(),
            e.to.as_str().into(),
            e.event.into(),
            e.source.as_str().into(),
            e.actor.into(),
            e.reason.into(),
            e.detail.as_deref().into(),
            now.into(),
        ]
    }));
    sql.build().execute(&mut **tx).await?;
    Ok(())
}

/// A registered item of a store app.
#[derive(Debug, Clone)]
pub struct Product {
    pub product_seq: i64,
    pub store_product_id: String,
    pub name: String,
    pub product_type: ProductType,
    pub in_use: bool,
}

pub async fn product(db: &Db, store_app_id: i64, store_product_id: &str) -> Result<Option<Product>, Error> {
    let row = sqlx::query(
        "SELECT product_seq, store_product_id, name, product_type, status FROM products \
         WHERE store_app_id = $1 AND store_product_id = $2",
    )
    .bind(store_app_id)
    .bind(store_product_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(product_from_row).transpose()
}

pub async fn products_in_use(db: &Db, store_app_id: i64) -> Result<Vec<Product>, Error> {
    let rows = sqlx::query(
        "SELECT product_seq, store_product_id, name, product_type, status FROM products \
         WHERE store_app_id = $1 AND status = 'USE' ORDER BY product_seq",
    )
    .bind(store_app_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(product_from_row).collect()
}

fn product_from_row(row: &AnyRow) -> Result<Product, Error> {
    let product_type: String = row.try_get("product_type")?;
    Ok(Product {
        product_seq: row.try_get("product_seq")?,
        store_product_id: row.try_get("store_product_id")?,
        name: row.try_get("name")?,
        product_type: ProductType::parse(&product_type)
            .ok_or_else(|| Error::Other(format!("stored product type {product_type}")))?,
        in_use: row.try_get::<String, _>("status")? == "USE",
    })
}

/// What a reservation is for.
pub struct NewReservation<'a> {
    pub project_id: i64,
    pub store_app_id: i64,
    pub store: Store,
    pub product: &'a Product,
    pub user_id: &'a str,
    pub developer_payload: Option<&'a str>,
    /// The app's key for this reservation: a retried reserve with the same key returns the first.
    pub idempotency_key: Option<&'a str>,
}

pub enum Reserved {
    New(Payment),
    /// The reservation made before with the same idempotency key.
    Again(Payment),
    /// The idempotency key was used for a reservation of another item.
    KeyUsedElsewhere,
}

/// Creates a payment in RESERVED before the store's purchase screen opens.
pub async fn reserve(db: &Db, new: NewReservation<'_>) -> Result<Reserved, Error> {
    // A clash of two random 8-digit suffixes on one day is rare; a new draw settles it. A clash of
    // idempotency keys is a retry racing its first try: the first one's reservation answers.
    for _ in 0..5 {
        if let Some(key) = new.idempotency_key {
            if let Some(first) = by_idempotency_key(db, &new, key).await? {
                let same = first.store_app_id == new.store_app_id
                    && first.store_product_id == new.product.store_product_id
                    && first.developer_payload.as_deref() == new.developer_payload;
                return Ok(if same { Reserved::Again(first) } else { Reserved::KeyUsedElsewhere });
            }
        }
        let seq = seq::draw();
        let now = now_ms();
        let mut tx = db.begin_write().await?;
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO payments (payment_seq, project_id, store_app_id, store, product_seq, store_product_id, \
             product_type, user_id, status, developer_payload, idempotency_key, reserved_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'RESERVED', $9, $10, $11, $11, $11) RETURNING id",
        )
        .bind(&seq)
        .bind(new.project_id)
        .bind(new.store_app_id)
        .bind(new.store.code())
        .bind(new.product.product_seq)
        .bind(&new.product.store_product_id)
        .bind(new.product.product_type.as_str())
        .bind(new.user_id)
        .bind(new.developer_payload)
        .bind(new.idempotency_key)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from);
        let id = match inserted {
            Ok(id) => id,
            Err(err) if err.is_unique_violation() => continue,
            Err(err) => return Err(err),
        };
        let entry = HistoryEntry {
            payment_id: id,
            from: None,
            to: Status::Reserved,
            event: "RESERVE",
            source: Source::Client,
            actor: None,
            reason: None,
            detail: None,
        };
        append_history(&mut tx, entry).await?;
        tx.commit().await?;
        return Ok(Reserved::New(by_id(db, id).await?));
    }
    Err(Error::Other("no free paymentSeq after five draws".into()))
}

async fn by_idempotency_key(db: &Db, new: &NewReservation<'_>, key: &str) -> Result<Option<Payment>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE project_id = $1 AND user_id = $2 AND idempotency_key = $3"
    ))
    .bind(new.project_id)
    .bind(new.user_id)
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(Payment::from_row).transpose()
}

/// The user's successful, unconsumed payments of a consumable type in `stores`, oldest first.
/// Renewals of a subscription in grace or on hold are held back until the store is paid.
pub async fn unconsumed(db: &Db, project_id: i64, user_id: &str, stores: &[Store]) -> Result<Vec<Payment>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE project_id = $1 AND user_id = $2 AND status = 'SUCCESS' AND consumed = 0 \
         AND product_type IN ('CONSUMABLE', 'CONSUMABLE_AUTO_RENEWABLE') \
         AND (subscription_state IS NULL OR subscription_state IN ('ACTIVE', 'CANCELED')) ORDER BY created_at, id"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    let payments = rows.iter().map(Payment::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(payments.into_iter().filter(|p| stores.contains(&p.store)).collect())
}

/// The user's subscriptions in `stores` that have not expired: the latest payment of each.
pub async fn active_subscriptions(
    db: &Db,
    project_id: i64,
    user_id: &str,
    stores: &[Store],
) -> Result<Vec<Payment>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE project_id = $1 AND user_id = $2 AND status = 'SUCCESS' \
         AND product_type IN ('AUTO_RENEWABLE', 'CONSUMABLE_AUTO_RENEWABLE') AND expiry_time > $3 \
         AND (subscription_state IS NULL OR subscription_state IN ('ACTIVE', 'CANCELED', 'IN_GRACE_PERIOD')) \
         ORDER BY purchase_time DESC, id DESC"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut latest = Vec::new();
    for row in &rows {
        let p = Payment::from_row(row)?;
        let original = p.original_payment_id.clone().unwrap_or_else(|| p.payment_seq.clone());
        if stores.contains(&p.store) && seen.insert((p.store, original)) {
            latest.push(p);
        }
    }
    Ok(latest)
}
