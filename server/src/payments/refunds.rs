//! The refunds report: what was refunded, voided or revoked in a period, and who had the most
//! refunds (Gamebase's "abuse monitoring").
use std::collections::BTreeMap;

use model::{RefundQuery, RefundReport, RefundRow, RefundUser, Store};
use sqlx::Row;

use crate::db::sql::day_start_ms;
use crate::{
    db::{sql::Sql, Db},
    Error,
};

const NEWEST: i64 = 200;

/// The period and store conditions, appended to `sql`.
fn push_conditions(sql: &mut Sql, query: &RefundQuery) -> Result<(), Error> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    if let Some(store) = text(&query.store) {
        let store = Store::parse(&store).ok_or_else(|| Error::Invalid(format!("unknown store {store}")))?;
        sql.push(" AND p.store = ").push_bind(store.code());
    }
    if let Some(from) = text(&query.from) {
        sql.push(" AND r.refunded_at >= ").push_bind(day_start_ms(&from, "from")?);
    }
    if let Some(to) = text(&query.to) {
        sql.push(" AND r.refunded_at < ").push_bind(day_start_ms(&to, "to")? + 86_400_000);
    }
    // A reversed refund is no refund: it stays on the payment's history.
    sql.push(" AND r.reversed_at IS NULL");
    if query.missed_only {
        sql.push(" AND r.missed_notification = 1");
    }
    Ok(())
}

pub async fn report(db: &Db, query: &RefundQuery) -> Result<RefundReport, Error> {
    let mut rows = Sql::new(
        "SELECT p.payment_seq, pr.name AS project, p.store, r.user_id, p.store_product_id, r.kind, r.source, \
         r.refunded_at, r.reason, r.was_consumed, r.amount_micros, r.currency, r.missed_notification, r.share_milli \
         FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN projects pr ON pr.id = r.project_id WHERE 1 = 1",
    );
    push_conditions(&mut rows, query)?;
    rows.push(format!(" ORDER BY r.refunded_at DESC, r.id DESC LIMIT {NEWEST}"));
    let refunds = rows
        .build()
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(RefundRow {
                payment_seq: r.try_get("payment_seq")?,
                project: r.try_get("project")?,
                store: r.try_get("store")?,
                user_id: r.try_get("user_id")?,
                product_id: r.try_get("store_product_id")?,
                kind: r.try_get("kind")?,
                source: r.try_get("source")?,
                refunded_at: r.try_get("refunded_at")?,
                reason: r.try_get("reason")?,
                was_consumed: r.try_get::<i64, _>("was_consumed")? != 0,
                amount: r.try_get::<Option<i64>, _>("amount_micros")?.map(|m| m as f64 / 1_000_000.0),
                currency: r.try_get("currency")?,
                missed_notification: r.try_get::<i64, _>("missed_notification")? != 0,
                refunded_share: r.try_get("share_milli")?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read: cast it back.
    let mut per_user = Sql::new(
        "SELECT pr.name AS project, r.user_id, r.currency, COUNT(*) AS refunds, \
         CAST(SUM(r.amount_micros) AS BIGINT) AS amount \
         FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN projects pr ON pr.id = r.project_id WHERE 1 = 1",
    );
    push_conditions(&mut per_user, query)?;
    per_user.push(" GROUP BY pr.name, r.user_id, r.currency");
    let mut users: BTreeMap<(String, String), (i64, Vec<String>)> = BTreeMap::new();
    for r in per_user.build().fetch_all(db.pool()).await? {
        let key = (r.try_get::<String, _>("project")?, r.try_get::<String, _>("user_id")?);
        let entry = users.entry(key).or_default();
        entry.0 += r.try_get::<i64, _>("refunds")?;
        if let (Some(amount), Some(currency)) =
            (r.try_get::<Option<i64>, _>("amount")?, r.try_get::<Option<String>, _>("currency")?)
        {
            entry.1.push(format!("{:.2} {currency}", amount as f64 / 1_000_000.0));
        }
    }
    let threshold = query.min_refunds.unwrap_or(1);
    let mut users: Vec<RefundUser> = users
        .into_iter()
        .filter(|(_, (count, _))| *count >= threshold)
        .map(|((project, user_id), (refunds, amounts))| RefundUser {
            project,
            user_id,
            refunds,
            amounts: amounts.join(", "),
        })
        .collect();
    users.sort_by(|a, b| b.refunds.cmp(&a.refunds).then_with(|| a.user_id.cmp(&b.user_id)));
    Ok(RefundReport { refunds, users, flags: crate::abuse::open_flags(db).await? })
}
