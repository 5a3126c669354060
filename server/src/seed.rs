//! Payment history in bulk (`server seed --payments 1000000`): a year of purchases of the demo
//! project's items by a large user base, in the proportions a live game sees — mostly consumed
//! successes, some refunds, abandoned reservations, failures, renewals of subscriptions — so that
//! the console and its search can be tried, and measured, at production size.
//!
//! Rows go in as multi-row inserts, many per transaction, straight into `payments` (no history
//! rows: a seeded payment has no past to show). Every value is generated, never copied, and every
//! successful payment gets its own Payment Access Token, stored as the API stores it.
use model::{ProductType, Store};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sqlx::Row as _;

use crate::{crypto, demo, now_ms, services::Services, Error};

/// Rows per transaction.
const ROWS_PER_TX: usize = 10_000;
const COLUMNS: &str = "payment_seq, project_id, store_app_id, store, product_seq, store_product_id, product_type, \
    user_id, status, consumed, consumed_at, consume_source, price_micros, currency, country_code, store_txn_key, \
    payment_id, original_payment_id, purchase_token, access_token_hash, access_token_enc, reserved_at, verified_at, \
    purchase_time, expiry_time, refund_time, environment, is_test, created_at, updated_at";
const DAY_MS: i64 = 86_400_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Plan {
    pub payments: u64,
    /// Distinct users; a few buy often, most rarely.
    pub users: u64,
    /// Purchases spread over this many days before now.
    pub days: u32,
    /// Makes the same rows for the same plan and database state.
    pub seed: u64,
    /// Also make this many successful unconsumed consumables in the last hour and hand their
    /// paymentSeq and access token back (the consume benchmark and reliability suite use them).
    pub unconsumed: u64,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan { payments: 100_000, users: 0, days: 365, seed: 1, unconsumed: 0 }
    }
}

/// A payment the app's server could consume now.
#[derive(Clone, Debug)]
pub struct Consumable {
    pub payment_seq: String,
    pub access_token: String,
}

#[derive(Debug, Default)]
pub struct Seeded {
    pub inserted: u64,
    pub consumable: Vec<Consumable>,
}

struct Item {
    store_app_id: i64,
    store: Store,
    product_seq: i64,
    store_product_id: String,
    product_type: ProductType,
    price_micros: i64,
}

/// Adds `plan.payments` payments (and `plan.unconsumed` consumable ones) to the demo project,
/// creating the demo project first when it is missing.
pub async fn payments(services: &Services, plan: &Plan) -> Result<Seeded, Error> {
    demo::seed(&services.db, &services.cipher).await?;
    let project_id =
        crate::projects::find_id_by_name(&services.db, demo::PROJECT_NAME).await?.ok_or(Error::NotFound)?;
    let items = items(services, project_id).await?;
    // Row numbers continue after what is there, so repeated seeding never repeats a key.
    let start: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM payments").fetch_one(services.db.pool()).await?;
    let users = if plan.users == 0 { (plan.payments / 8).max(10) } else { plan.users };
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(plan.seed ^ start as u64),
        now: now_ms(),
        items,
        users,
        days: i64::from(plan.days.max(1)),
        cipher: &services.cipher,
    };
    let mut seeded = Seeded::default();
    let total = plan.payments + plan.unconsumed;
    // Rows per INSERT. SQLite binds parameters in time growing with the square of their number,
    // so it takes short statements (1,000 rows of 30 values ran at 900 rows/s); PostgreSQL's
    // limit is 65,535 values.
    let batch = match services.db.engine() {
        crate::db::Engine::Sqlite => 32,
        crate::db::Engine::Postgres => 1_000,
    };
    let mut next = 0u64;
    while next < total {
        let mut tx = services.db.begin_write().await?;
        for _ in 0..ROWS_PER_TX / batch {
            if next >= total {
                break;
            }
            let count = (total - next).min(batch as u64);
            let rows: Vec<NewRow> = (next..next + count)
                .map(|n| {
                    let number = start + n as i64 + 1;
                    if n < plan.payments {
                        generator.history_row(number)
                    } else {
                        generator.unconsumed_row(number)
                    }
                })
                .collect();
            seeded.inserted += insert(&mut tx, project_id, &rows).await?;
            let recent = generator.now - 3_600_000;
            seeded.consumable.extend(rows.into_iter().filter_map(|row| {
                let open = row.status == "SUCCESS" && row.consumed == 0 && row.created_at > recent;
                let access_token = row.access_token.filter(|_| open && row.product_type.is_consumable())?;
                Some(Consumable { payment_seq: row.payment_seq, access_token })
            }));
            next += count;
        }
        tx.commit().await?;
    }
    // Fresh planner statistics, as after any bulk load: with stale ones PostgreSQL may walk a
    // partial index of every unconsumed payment to find one paymentSeq.
    sqlx::query("ANALYZE payments").execute(services.db.writer()).await?;
    Ok(seeded)
}

async fn items(services: &Services, project_id: i64) -> Result<Vec<Item>, Error> {
    let rows = sqlx::query(
        "SELECT a.id AS app_id, a.store, p.product_seq, p.store_product_id, p.product_type FROM products p \
         JOIN store_apps a ON a.id = p.store_app_id WHERE a.project_id = $1 AND p.status = 'USE' ORDER BY p.product_seq",
    )
    .bind(project_id)
    .fetch_all(services.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let product_type: String = row.try_get("product_type")?;
            let store: String = row.try_get("store")?;
            let store_product_id: String = row.try_get("store_product_id")?;
            let price_micros = if store_product_id.contains("500") {
                4_990_000
            } else if store_product_id.contains("monthly") {
                9_990_000
            } else {
                990_000
            };
            Ok(Item {
                store_app_id: row.try_get("app_id")?,
                store: Store::parse(&store).ok_or_else(|| Error::Other(format!("stored store {store}")))?,
                product_seq: row.try_get("product_seq")?,
                store_product_id,
                product_type: ProductType::parse(&product_type)
                    .ok_or_else(|| Error::Other(format!("stored product type {product_type}")))?,
                price_micros,
            })
        })
        .collect()
}

/// One payment row, as the API would have left it.
struct NewRow {
    payment_seq: String,
    store_app_id: i64,
    store: Store,
    product_seq: i64,
    store_product_id: String,
    product_type: ProductType,
    user_id: String,
    status: &'static str,
    consumed: i64,
    consumed_at: Option<i64>,
    price_micros: Option<i64>,
    currency: Option<&'static str>,
    country_code: Option<&'static str>,
    store_txn_key: Option<String>,
    payment_id: Option<String>,
    original_payment_id: Option<String>,
    purchase_token: Option<String>,
    access_token: Option<String>,
    access_token_enc: Option<String>,
    verified_at: Option<i64>,
    expiry_time: Option<i64>,
    refund_time: Option<i64>,
    is_test: i64,
    created_at: i64,
}

struct Generator<'a> {
    rng: StdRng,
    now: i64,
    items: Vec<Item>,
    users: u64,
    days: i64,
    cipher: &'a crypto::Cipher,
}

const MARKETS: &[(&str, &str, i64)] =
    &[("KR", "KRW", 1_300), ("US", "USD", 1), ("JP", "JPY", 150), ("DE", "EUR", 1), ("TW", "TWD", 32)];

impl Generator<'_> {
    fn history_row(&mut self, number: i64) -> NewRow {
        let created_at = self.now - self.rng.gen_range(0..self.days * DAY_MS);
        let roll = self.rng.gen_range(0..1000);
        let status = match roll {
            // A reservation older than the default `jobs.reservation_ttl_hours` has been closed
            // by the expiry job, as it would be in a running system.
            0..=29 if self.now - created_at > 3 * DAY_MS => "USER_CLOSE",
            0..=29 => "RESERVED",
            30..=49 => "FAILURE",
            50..=74 => "REFUND",
            _ => "SUCCESS",
        };
        // Most consumables are consumed within minutes; a few are left for the unconsumed list.
        let consumed = matches!(status, "SUCCESS" | "REFUND") && self.rng.gen_range(0..100) < 97;
        self.row(number, created_at, status, consumed)
    }

    fn unconsumed_row(&mut self, number: i64) -> NewRow {
        let created_at = self.now - self.rng.gen_range(0..1_800_000);
        let mut row = self.row(number, created_at, "SUCCESS", false);
        if !row.product_type.is_consumable() {
            // Unconsumed rows are for consuming: turn a subscription pick into the first consumable.
            let item = self.items.iter().find(|i| i.product_type == ProductType::Consumable).expect("a consumable");
            row.store_app_id = item.store_app_id;
            row.store = item.store;
            row.product_seq = item.product_seq;
            row.store_product_id = item.store_product_id.clone();
            row.product_type = item.product_type;
        }
        row
    }

    fn row(&mut self, number: i64, created_at: i64, status: &'static str, consumed: bool) -> NewRow {
        let item = &self.items[self.rng.gen_range(0..self.items.len())];
        // Skewed: a tenth of the users make about half of the purchases.
        let user = if self.rng.gen_bool(0.5) {
            self.rng.gen_range(0..(self.users / 10).max(1))
        } else {
            self.rng.gen_range(0..self.users)
        };
        let (country, currency, rate) = MARKETS[self.rng.gen_range(0..MARKETS.len())];
        let paid = status == "SUCCESS" || status == "REFUND";
        let day = chrono::DateTime::from_timestamp_millis(created_at).unwrap_or_default().format("%Y%m%d");
        let reference = match item.store {
            Store::Google => {
                format!("GPA.{:04}-{:04}-{:04}-{:05}", number % 9973, number % 8191, number % 7919, number)
            }
            Store::Apple => format!("{}", 2_000_000_000_000_000 + number),
            Store::OneStore => format!("SANDBOX{:015}", 3_000_000_000 + number),
        };
        let subscription = item.product_type.is_subscription();
        let original = subscription.then(|| {
            // Renewals point at the first payment of their subscription.
            if self.rng.gen_range(0..3) == 0 {
                reference.clone()
            } else {
                match item.store {
                    Store::Apple => format!("{}", 2_000_000_000_000_000 + number / 7),
                    _ => format!("{}..{}", reference.split("..").next().unwrap_or(&reference), number % 12),
                }
            }
        });
        let token = paid.then(crate::payments::new_access_token);
        let consumable = item.product_type.is_consumable();
        NewRow {
            payment_seq: format!("{day}{:08}", number % 100_000_000),
            store_app_id: item.store_app_id,
            store: item.store,
            product_seq: item.product_seq,
            store_product_id: item.store_product_id.clone(),
            product_type: item.product_type,
            user_id: format!("user-{user:08}"),
            status,
            consumed: i64::from(consumed && consumable),
            consumed_at: (consumed && consumable).then(|| created_at + self.rng.gen_range(1_000..600_000)),
            price_micros: paid.then_some(item.price_micros * rate),
            currency: paid.then_some(currency),
            country_code: paid.then_some(country),
            store_txn_key: paid.then(|| reference.clone()),
            payment_id: paid.then(|| reference.clone()),
            original_payment_id: original.filter(|_| paid),
            purchase_token: (paid && item.store == Store::Google).then(|| crypto::random_token(48)),
            access_token_enc: token.as_deref().map(|t| crate::payments::sealed_access_token(&self.cipher, t).1),
            access_token: token,
            verified_at: paid.then_some(created_at + 2_000),
            expiry_time: (paid && subscription).then_some(created_at + 30 * DAY_MS),
            refund_time: (status == "REFUND").then(|| created_at + self.rng.gen_range(DAY_MS..20 * DAY_MS)),
            is_test: i64::from(self.rng.gen_range(0..50) == 0),
            created_at,
        }
    }
}

/// Inserts `rows` in one statement; rows whose paymentSeq or store transaction is taken are skipped.
async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    project_id: i64,
    rows: &[NewRow],
) -> Result<u64, Error> {
    let mut sql = format!("INSERT INTO payments ({COLUMNS}) VALUES ");
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        let b = i * 30;
        sql.push('(');
        sql.push_str(&(1..=30).map(|c| format!("${}", b + c)).collect::<Vec<_>>().join(","));
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.payment_seq.clone())
            .bind(project_id)
            .bind(row.store_app_id)
            .bind(row.store.code())
            .bind(row.product_seq)
            .bind(row.store_product_id.clone())
            .bind(row.product_type.as_str())
            .bind(row.user_id.clone())
            .bind(row.status)
            .bind(row.consumed)
            .bind(row.consumed_at)
            .bind(row.consumed_at.map(|_| "SERVER"))
            .bind(row.price_micros)
            .bind(row.currency)
            .bind(row.country_code)
            .bind(row.store_txn_key.clone())
            .bind(row.payment_id.clone())
            .bind(row.original_payment_id.clone())
            .bind(row.purchase_token.clone())
            .bind(row.access_token.as_deref().map(crypto::sha256_hex))
            .bind(row.access_token_enc.clone())
            .bind(row.created_at)
            .bind(row.verified_at)
            .bind(row.verified_at)
            .bind(row.expiry_time)
            .bind(row.refund_time)
            .bind(if row.is_test == 1 { "SANDBOX" } else { "PRODUCTION" })
            .bind(row.is_test)
            .bind(row.created_at)
            .bind(row.refund_time.or(row.consumed_at).unwrap_or(row.created_at));
    }
    Ok(query.execute(&mut **tx).await?.rows_affected())
}
