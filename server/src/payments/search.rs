//! Purchase search for support: one box for any identifier, filters, and keyset pages (no
//! OFFSET, so a deep page costs what the first does).
use app::model::{Store, TransactionPage, TransactionQuery, TransactionRow};
use chrono::NaiveDate;
use sqlx::{Any, QueryBuilder, Row};

use crate::{crypto, db::Db, Error};

pub const PAGE_SIZE: i64 = 50;

/// The query's filters, checked.
struct Filters {
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

fn day_start_ms(day: &str, name: &str) -> Result<i64, Error> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| Error::Invalid(format!("{name} must be a day like 2026-11-25")))?;
    Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis())
}

fn filters(query: &TransactionQuery) -> Result<Filters, Error> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let status = match text(&query.status).as_deref() {
        None => None,
        Some(s) => Some(
            ["RESERVED", "SUCCESS", "FAILURE", "REFUND"]
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
fn push_conditions(sql: &mut QueryBuilder<'_, Any>, f: &Filters) {
    if let Some(q) = &f.q {
        sql.push(" AND (p.payment_seq = ").push_bind(q.clone());
        sql.push(" OR p.user_id = ").push_bind(q.clone());
        sql.push(" OR p.payment_id = ").push_bind(q.clone());
        sql.push(" OR p.original_payment_id = ").push_bind(q.clone());
        sql.push(" OR p.purchase_token = ").push_bind(q.clone());
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

/// One page of payments matching `query`.
pub async fn search(db: &Db, query: &TransactionQuery) -> Result<TransactionPage, Error> {
    let f = filters(query)?;
    let mut sql = QueryBuilder::<Any>::new(
        "SELECT p.id, p.payment_seq, pr.name AS project, p.store, p.user_id, i.name AS product_name, \
         p.store_product_id, p.product_type, p.price_micros, p.currency, p.consumed, p.status, p.payment_id, \
         p.original_payment_id, p.purchase_token, p.access_token_hash, p.reserved_at, p.verified_at, \
         p.refund_time, p.developer_payload, p.is_test, p.created_at \
         FROM payments p JOIN projects pr ON pr.id = p.project_id \
         LEFT JOIN products i ON i.product_seq = p.product_seq WHERE 1 = 1",
    );
    push_conditions(&mut sql, &f);
    let (cmp, order) = if f.oldest_first { (">", "ASC") } else { ("<", "DESC") };
    if let Some((at, id)) = f.after {
        sql.push(format!(" AND (p.created_at {cmp} ")).push_bind(at);
        sql.push(" OR (p.created_at = ").push_bind(at);
        sql.push(format!(" AND p.id {cmp} ")).push_bind(id);
        sql.push("))");
    }
    sql.push(format!(" ORDER BY p.created_at {order}, p.id {order} LIMIT {}", PAGE_SIZE + 1));
    let rows = sql.build().fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let mut page = Vec::with_capacity(rows.len().min(PAGE_SIZE as usize));
    let mut last = None;
    for row in rows.iter().take(PAGE_SIZE as usize) {
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
        consumed: row.try_get::<i64, _>("consumed")? != 0,
        status: row.try_get("status")?,
        payment_id: text("payment_id")?,
        reserved_at: row.try_get("reserved_at")?,
        paid_at: row.try_get("verified_at")?,
        refunded_at: row.try_get("refund_time")?,
        developer_payload: text("developer_payload")?,
        test: row.try_get::<i64, _>("is_test")? != 0,
        matched: matched.filter(|m| !m.is_empty()),
    })
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
