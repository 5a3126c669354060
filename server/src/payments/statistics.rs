//! Sales and refunds per store and currency: by month over a year, by day over a month.
use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use model::{SalesTotal, Statistics, StatisticsQuery};
use sqlx::Row;

use crate::{
    db::{sql::Sql, Db},
    Error,
};

const DAY_MS: i64 = 86_400_000;

/// The first day of the month `YYYY-MM`, or of the current month.
fn month_start(month: Option<&str>) -> Result<NaiveDate, Error> {
    match month.map(str::trim).filter(|m| !m.is_empty()) {
        None => {
            let today = chrono::Utc::now().date_naive();
            Ok(today.with_day(1).expect("every month has a first day"))
        }
        Some(month) => NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|_| Error::Invalid("the month is written like 2026-11".into())),
    }
}

fn ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()
}

#[derive(Default)]
struct Figures {
    payments: i64,
    amount_micros: i64,
    refunds: i64,
    refunded_micros: i64,
}

/// Per (day number since 1970, store, currency): the sums of one query over `time_column`.
async fn per_day(
    db: &Db,
    query: &StatisticsQuery,
    time_column: &str,
    status: &str,
    range: (i64, i64),
) -> Result<Vec<(i64, String, String, i64, i64)>, Error> {
    // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read: cast it back.
    let mut sql = Sql::new(&format!(
        "SELECT {time_column} / {DAY_MS} AS day, store, COALESCE(currency, '') AS currency, COUNT(*) AS n, \
         CAST(COALESCE(SUM(price_micros), 0) AS BIGINT) AS amount FROM payments WHERE {time_column} >= "
    ));
    sql.push_bind(range.0).push(format!(" AND {time_column} < ")).push_bind(range.1);
    sql.push(format!(" AND status IN ({status})"));
    if !query.include_test {
        sql.push(" AND is_test = 0");
    }
    if let Some(project) = query.project {
        sql.push(" AND project_id = ").push_bind(project);
    }
    sql.push(format!(" GROUP BY {time_column} / {DAY_MS}, store, COALESCE(currency, '')"));
    sql.build()
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((r.try_get("day")?, r.try_get("store")?, r.try_get("currency")?, r.try_get("n")?, r.try_get("amount")?))
        })
        .collect()
}

pub async fn statistics(db: &Db, query: &StatisticsQuery) -> Result<Statistics, Error> {
    let month = month_start(query.month.as_deref())?;
    let next_month = month + Months::new(1);
    let year_start = month - Months::new(11);
    let range = (ms(year_start), ms(next_month));
    let sales = per_day(db, query, "verified_at", "'SUCCESS', 'REFUND'", range).await?;
    let refunds = per_day(db, query, "refund_time", "'REFUND'", range).await?;

    let day_text = |day: i64| model::format::utc(day * DAY_MS)[..10].to_string();
    let mut days: BTreeMap<(String, String, String), Figures> = BTreeMap::new();
    for (day, store, currency, n, amount) in sales {
        let f = days.entry((day_text(day), store, currency)).or_default();
        f.payments += n;
        f.amount_micros += amount;
    }
    for (day, store, currency, n, amount) in refunds {
        let f = days.entry((day_text(day), store, currency)).or_default();
        f.refunds += n;
        f.refunded_micros += amount;
    }
    let mut months: BTreeMap<(String, String, String), Figures> = BTreeMap::new();
    for ((day, store, currency), f) in &days {
        let m = months.entry((day[..7].to_string(), store.clone(), currency.clone())).or_default();
        m.payments += f.payments;
        m.amount_micros += f.amount_micros;
        m.refunds += f.refunds;
        m.refunded_micros += f.refunded_micros;
    }
    let shown = month.format("%Y-%m").to_string();
    let total = |((period, store, currency), f): ((String, String, String), Figures)| SalesTotal {
        period,
        store,
        currency,
        payments: f.payments,
        amount: f.amount_micros as f64 / 1e6,
        refunds: f.refunds,
        refunded_amount: f.refunded_micros as f64 / 1e6,
    };
    let mut months: Vec<SalesTotal> = months.into_iter().map(total).collect();
    months.sort_by(|a, b| b.period.cmp(&a.period).then_with(|| (&a.store, &a.currency).cmp(&(&b.store, &b.currency))));
    let days = days.into_iter().filter(|((day, _, _), _)| day.starts_with(&shown)).map(total).collect();
    Ok(Statistics { month: shown, months, days })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_read_as_its_first_day() {
        assert_eq!(month_start(Some("2026-02")).unwrap(), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert!(month_start(Some("2026-13")).is_err());
        assert!(month_start(Some("February")).is_err());
        assert_eq!(month_start(None).unwrap().day(), 1);
    }
}
