//! Purchase search for support: one box for any identifier, filters, and keyset pages (no
//! OFFSET, so a deep page costs what the first does).
use std::sync::Arc;

use model::{HistoryRow, PaymentDetail, Store, TransactionPage, TransactionQuery, TransactionRow};
use sqlx::Row;

use crate::{
    crypto::{self, Cipher},
    db::{
        sql::{day_start_ms, Sql},
        Db,
    },
    store_apps::{self, StoreAppRecord},
    stores::{client::StoreClient, StoreError},
    Error,
};

pub const PAGE_SIZE: i64 = 50;

/// The query's filters, checked: every search and CSV export reads its input through [`filters`].
pub struct Filters {
    q: Option<String>,
    project: Option<i64>,
    store: Option<Store>,
    product: Option<String>,
    status: Option<&'static str>,
    consumed: Option<bool>,
    include_test: bool,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    oldest_first: bool,
    after: Option<(i64, i64)>,
}

pub fn filters(query: &TransactionQuery) -> Result<Filters, Error> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let status = match text(&query.status).as_deref() {
        None => None,
        Some(s) => Some(
            ["RESERVED", "SUCCESS", "FAILURE", "REFUND", "USER_CLOSE"]
                .into_iter()
                .find(|known| *known == s)
                .ok_or_else(|| Error::Invalid(format!("unknown status {s}")))?,
        ),
    };
    let store = match text(&query.store) {
        None => None,
        Some(code) => Some(Store::parse(&code).ok_or_else(|| Error::Invalid(format!("unknown store {code}")))?),
    };
    let after = match text(&query.after) {
        None => None,
        Some(cursor) => {
            let (at, id) = cursor.split_once('.').ok_or_else(|| Error::Invalid("unreadable page cursor".into()))?;
            let parse = |v: &str| v.parse::<i64>().map_err(|_| Error::Invalid("unreadable page cursor".into()));
            Some((parse(at)?, parse(id)?))
        }
    };
    let q = text(&query.q);
    if q.as_deref().is_some_and(|q| q.len() > 4096) {
        return Err(Error::Invalid("the search text is too long".into()));
    }
    Ok(Filters {
        q,
        project: query.project,
        store,
        product: text(&query.product),
        status,
        consumed: query.consumed,
        include_test: query.include_test,
        from_ms: text(&query.from).map(|d| day_start_ms(&d, "from")).transpose()?,
        // "to" includes the whole day.
        to_ms: text(&query.to).map(|d| day_start_ms(&d, "to").map(|t| t + 86_400_000)).transpose()?,
        oldest_first: query.oldest_first,
        after,
    })
}

/// Appends the query's conditions to `sql` (which ends in a WHERE clause).
fn push_conditions(sql: &mut Sql, f: &Filters) {
    if let Some(q) = &f.q {
        sql.push(" AND (p.payment_seq = ").push_bind(q.clone());
        sql.push(" OR p.user_id = ").push_bind(q.clone());
        sql.push(" OR p.payment_id = ").push_bind(q.clone());
        sql.push(" OR p.original_payment_id = ").push_bind(q.clone());
        sql.push(" OR p.purchase_token = ").push_bind(q.clone());
        sql.push(" OR p.app_transaction_id = ").push_bind(q.clone());
        sql.push(" OR p.access_token_hash = ").push_bind(crypto::sha256_hex(q));
        sql.push(")");
    }
    if let Some(project) = f.project {
        sql.push(" AND p.project_id = ").push_bind(project);
    }
    if let Some(store) = f.store {
        sql.push(" AND p.store = ").push_bind(store.code());
    }
    if let Some(product) = &f.product {
        sql.push(" AND p.store_product_id = ").push_bind(product.clone());
    }
    if let Some(status) = f.status {
        sql.push(" AND p.status = ").push_bind(status);
    }
    if let Some(consumed) = f.consumed {
        sql.push(" AND p.consumed = ").push_bind(i64::from(consumed));
    }
    if !f.include_test {
        sql.push(" AND p.is_test = 0");
    }
    if let Some(from) = f.from_ms {
        sql.push(" AND p.created_at >= ").push_bind(from);
    }
    if let Some(to) = f.to_ms {
        sql.push(" AND p.created_at < ").push_bind(to);
    }
}

/// What a result row shows, and what the detail page adds.
const SELECT: &str = "SELECT p.id, p.payment_seq, pr.name AS project, p.store, p.user_id, i.name AS product_name, \
     p.store_product_id, p.product_type, p.price_micros, p.currency, p.price_is_list, p.consumed, p.status, p.payment_id, \
     p.original_payment_id, p.purchase_token, p.access_token_hash, p.reserved_at, p.verified_at, \
     p.refund_time, p.developer_payload, p.is_test, p.created_at, p.project_id, p.product_seq, \
     p.linked_payment_id, p.purchase_time, p.expiry_time, p.renew_time, p.subscription_state, p.auto_renewing, \
     p.pending_reason, p.failure_reason, p.consumed_at, p.consume_source, p.verify_attempts, p.ack_state, \
     p.store_response, p.claim_state, p.app_transaction_id, p.store_consumed_at, a.store_app_id AS app_id \
     FROM payments p JOIN projects pr ON pr.id = p.project_id JOIN store_apps a ON a.id = p.store_app_id \
     LEFT JOIN products i ON i.product_seq = p.product_seq WHERE 1 = 1";

/// One page of payments matching `query`.
pub async fn search(db: &Db, query: &TransactionQuery) -> Result<TransactionPage, Error> {
    search_page(db, query, PAGE_SIZE).await
}

/// [`search`]; and when that finds nothing for what looks like an App Store order id (the `MK…`
/// number on the buyer's receipt e-mail, which no payment stores), the payments of the
/// transactions Apple's Look Up Order ID names, asked of each enabled App Store app in scope and
/// marked as matched by the order id (`client_of` gives an app's store client). An app whose
/// store cannot answer is passed over.
pub async fn search_with_order_lookup(
    db: &Db,
    cipher: &Cipher,
    client_of: impl Fn(&StoreAppRecord) -> Result<Arc<StoreClient>, StoreError>,
    query: &TransactionQuery,
) -> Result<TransactionPage, Error> {
    let page = search(db, query).await?;
    let apple_in_scope = matches!(query.store.as_deref().map(str::trim), None | Some("") | Some("AS"));
    let order = query.q.as_deref().map(str::trim).filter(|q| looks_like_apple_order_id(q));
    let Some(order) = order.filter(|_| page.rows.is_empty() && query.after.is_none() && apple_in_scope) else {
        return Ok(page);
    };
    let mut rows: Vec<TransactionRow> = Vec::new();
    for app in store_apps::enabled_of_store(db, cipher, Store::Apple, query.project).await? {
        let client = match client_of(&app) {
            Ok(client) => client,
            Err(err) => {
                tracing::info!(store_app = app.id, error = %err, "order id not looked up: the app is not configured");
                continue;
            }
        };
        let StoreClient::Apple { client, .. } = client.as_ref() else { continue };
        let transactions = match client.look_up_order(order).await {
            Ok(transactions) => transactions,
            Err(err) => {
                tracing::info!(store_app = app.id, error = %crate::stores::scrub(&err.to_string()), "order id not found");
                continue;
            }
        };
        for transaction in transactions {
            let by_transaction = TransactionQuery { q: Some(transaction.transaction_id), ..query.clone() };
            for mut row in search(db, &by_transaction).await?.rows {
                if rows.iter().all(|r| r.payment_seq != row.payment_seq) {
                    row.matched = Some("Apple order id".into());
                    rows.push(row);
                }
            }
        }
    }
    Ok(TransactionPage { rows, next: None })
}

/// Apple order ids are ten or so capital letters and digits starting with M (`MK5TTTVWJH`).
fn looks_like_apple_order_id(q: &str) -> bool {
    (8..=16).contains(&q.len()) && q.starts_with('M') && q.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Up to `limit` payments matching `query`, and the cursor of what follows.
pub async fn search_page(db: &Db, query: &TransactionQuery, limit: i64) -> Result<TransactionPage, Error> {
    let f = filters(query)?;
    let mut sql = Sql::new(SELECT);
    push_conditions(&mut sql, &f);
    let (cmp, order) = if f.oldest_first { (">", "ASC") } else { ("<", "DESC") };
    if let Some((at, id)) = f.after {
        // The first condition alone bounds the index range, so a deep page starts at its cursor
        // instead of walking every newer row (an OR of the two cases hid the bound from both
        // engines' planners: 300 ms at a million rows); the second orders ties.
        sql.push(format!(" AND p.created_at {cmp}= ")).push_bind(at);
        sql.push(format!(" AND (p.created_at {cmp} ")).push_bind(at);
        sql.push(format!(" OR p.id {cmp} ")).push_bind(id);
        sql.push(")");
    }
    sql.push(format!(" ORDER BY p.created_at {order}, p.id {order} LIMIT {}", limit + 1));
    let rows = sql.build().fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > limit;
    let mut page = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = None;
    for row in rows.iter().take(limit as usize) {
        last = Some((row.try_get::<i64, _>("created_at")?, row.try_get::<i64, _>("id")?));
        page.push(read_row(row, f.q.as_deref())?);
    }
    Ok(TransactionPage { rows: page, next: more.then(|| last.map(|(at, id)| format!("{at}.{id}"))).flatten() })
}

/// The row, with which identifier the search text matched.
fn read_row(row: &sqlx::any::AnyRow, q: Option<&str>) -> Result<TransactionRow, Error> {
    let text = |name: &str| row.try_get::<Option<String>, _>(name);
    let payment_seq: String = row.try_get("payment_seq")?;
    let user_id: String = row.try_get("user_id")?;
    let matched = q.map(|q| {
        let hash = crypto::sha256_hex(q);
        let candidates = [
            ("paymentSeq", Some(payment_seq.clone())),
            ("user id", Some(user_id.clone())),
            ("store reference key", text("payment_id").ok().flatten()),
            ("original transaction", text("original_payment_id").ok().flatten()),
            ("purchase token", text("purchase_token").ok().flatten()),
            ("Apple app transaction", text("app_transaction_id").ok().flatten()),
        ];
        candidates
            .into_iter()
            .find(|(_, value)| value.as_deref() == Some(q))
            .map(|(name, _)| name.to_string())
            .or_else(|| {
                (text("access_token_hash").ok().flatten().as_deref() == Some(hash.as_str()))
                    .then(|| "access token".into())
            })
            .unwrap_or_default()
    });
    Ok(TransactionRow {
        payment_seq,
        project: row.try_get("project")?,
        store: row.try_get("store")?,
        user_id,
        product_name: text("product_name")?,
        product_id: row.try_get("store_product_id")?,
        product_type: row.try_get("product_type")?,
        price: row.try_get::<Option<i64>, _>("price_micros")?.map(|m| m as f64 / 1_000_000.0),
        currency: text("currency")?,
        list_price: row.try_get::<i64, _>("price_is_list")? != 0,
        consumed: row.try_get::<i64, _>("consumed")? != 0,
        status: row.try_get("status")?,
        payment_id: text("payment_id")?,
        reserved_at: row.try_get("reserved_at")?,
        paid_at: row.try_get("verified_at")?,
        refunded_at: row.try_get("refund_time")?,
        developer_payload: text("developer_payload")?,
        test: row.try_get::<i64, _>("is_test")? != 0,
        unclaimed: text("claim_state")?.as_deref() == Some("UNCLAIMED"),
        matched: matched.filter(|m| !m.is_empty()),
    })
}

/// Everything about the payment `payment_seq`: its fields, the store's answer, its history, the
/// other periods of its subscription and the user's other payments.
pub async fn detail(db: &Db, payment_seq: &str) -> Result<Option<PaymentDetail>, Error> {
    let mut sql = Sql::new(SELECT);
    sql.push(" AND p.payment_seq = ").push_bind(payment_seq);
    let Some(row) = sql.build().fetch_optional(db.pool()).await? else { return Ok(None) };
    let text = |name: &str| row.try_get::<Option<String>, _>(name);
    let id: i64 = row.try_get("id")?;
    let summary = read_row(&row, None)?;
    let history = sqlx::query_as::<_, HistoryRow>(
        "SELECT created_at AS at, from_status AS \"from\", to_status AS \"to\", event, source, actor, reason, detail \
         FROM payment_history WHERE payment_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    let others = |q: Option<String>| TransactionQuery { q, include_test: true, ..TransactionQuery::default() };
    let original = text("original_payment_id")?;
    let related = match &original {
        Some(original) => search(db, &others(Some(original.clone()))).await?.rows,
        None => Vec::new(),
    };
    let project_id: i64 = row.try_get("project_id")?;
    let mut user_query = others(Some(summary.user_id.clone()));
    user_query.project = Some(project_id);
    let user_payments = search(db, &user_query).await?.rows;
    let not_this = |rows: Vec<TransactionRow>| rows.into_iter().filter(|r| r.payment_seq != payment_seq).collect();
    let store_response = text("store_response")?.map(|raw| {
        serde_json::from_str::<serde_json::Value>(&raw).and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or(raw)
    });
    Ok(Some(PaymentDetail {
        app_id: row.try_get("app_id")?,
        product_seq: row.try_get("product_seq")?,
        original_payment_id: original,
        linked_payment_id: text("linked_payment_id")?,
        purchase_token: text("purchase_token")?,
        app_transaction_id: text("app_transaction_id")?,
        store_consumed_at: row.try_get("store_consumed_at")?,
        purchase_time: row.try_get("purchase_time")?,
        expiry_time: row.try_get("expiry_time")?,
        renew_time: row.try_get("renew_time")?,
        subscription_state: text("subscription_state")?,
        auto_renewing: row.try_get::<Option<i64>, _>("auto_renewing")?.map(|v| v != 0),
        pending_reason: text("pending_reason")?,
        failure_reason: text("failure_reason")?,
        consumed_at: row.try_get("consumed_at")?,
        consume_source: text("consume_source")?,
        verify_attempts: row.try_get("verify_attempts")?,
        ack_state: row.try_get("ack_state")?,
        store_response,
        history,
        related: not_this(related),
        user_payments: not_this(user_payments),
        // The notifications domain reads its own table: the console adds them.
        notifications: Vec::new(),
        refund_requests: super::refund_requests::of_payment(db, id).await?,
        summary,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_cursors_statuses_and_stores_are_checked() {
        let query = |f: fn(&mut TransactionQuery)| {
            let mut q = TransactionQuery::default();
            f(&mut q);
            filters(&q)
        };

        let window = query(|q| {
            q.from = Some("2026-11-01".into());
            q.to = Some("2026-11-01".into());
        })
        .unwrap();

        assert_eq!(window.to_ms.unwrap() - window.from_ms.unwrap(), 86_400_000);
        assert!(query(|q| q.from = Some("yesterday".into())).is_err());
        assert!(query(|q| q.after = Some("12.x".into())).is_err());
        assert!(query(|q| q.status = Some("PAID".into())).is_err());
        assert!(query(|q| q.store = Some("XX".into())).is_err());
        assert_eq!(query(|q| q.after = Some("12.34".into())).unwrap().after, Some((12, 34)));
    }
}
