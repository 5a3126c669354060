//! Items (products) of a project's store apps. An item is never deleted — payments refer to it —
//! only stopped; its store product id and type are fixed once payments may refer to them.
use model::{ItemRow, ListPrice, ProductType, Store};
use sqlx::Row;

use crate::{db::Db, now_ms, payments::manual, Error};

pub async fn in_project(db: &Db, project_id: i64) -> Result<Vec<ItemRow>, Error> {
    let mut items = sqlx::query_as::<_, ItemRow>(
        "SELECT p.product_seq, p.store_app_id AS store_app, a.store, p.store_product_id, p.name, p.product_type, \
         p.status, p.updated_at FROM products p JOIN store_apps a ON a.id = p.store_app_id WHERE a.project_id = $1 \
         ORDER BY a.store, p.store_product_id",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    let prices = sqlx::query(
        "SELECT pp.product_seq, pp.currency, pp.price_micros FROM product_prices pp \
         JOIN products p ON p.product_seq = pp.product_seq JOIN store_apps a ON a.id = p.store_app_id \
         WHERE a.project_id = $1 ORDER BY pp.product_seq, pp.position",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    for row in prices {
        let seq: i64 = row.try_get("product_seq")?;
        let price = ListPrice { currency: row.try_get("currency")?, price_micros: row.try_get("price_micros")? };
        if let Some(item) = items.iter_mut().find(|i| i.product_seq == seq) {
            item.list_prices.push(price);
        }
    }
    Ok(items)
}

/// Reads the console's price list, `1200 KRW, 0.99 USD` (the code first or last), default first.
/// Empty clears the list.
pub fn parse_prices(text: &str) -> Result<Vec<ListPrice>, Error> {
    let mut prices: Vec<ListPrice> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (a, b) = entry
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::Invalid(format!("\"{entry}\" is not a price such as 1200 KRW or 0.99 USD")))?;
        let (amount, code) = if a.trim().starts_with(|c: char| c.is_ascii_digit()) { (a, b) } else { (b, a) };
        let price = ListPrice { currency: manual::currency(code)?, price_micros: manual::price_micros(amount)? };
        if prices.iter().any(|p| p.currency == price.currency) {
            return Err(Error::Invalid(format!(
                "{} is listed twice: an item has one price per currency",
                price.currency
            )));
        }
        prices.push(price);
    }
    if prices.len() > 50 {
        return Err(Error::Invalid("an item has at most 50 registered prices".into()));
    }
    Ok(prices)
}

/// Replaces the item's registered prices, with its audit row, in one transaction.
pub async fn set_prices(
    db: &Db,
    product_seq: i64,
    prices: &[ListPrice],
    audit: crate::audit::Entry,
) -> Result<(), Error> {
    let mut tx = db.begin_write().await?;
    let touched = sqlx::query("UPDATE products SET updated_at = $1 WHERE product_seq = $2")
        .bind(now_ms())
        .bind(product_seq)
        .execute(&mut *tx)
        .await?;
    if touched.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    sqlx::query("DELETE FROM product_prices WHERE product_seq = $1").bind(product_seq).execute(&mut *tx).await?;
    for (position, price) in prices.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_prices (product_seq, currency, price_micros, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(product_seq)
        .bind(&price.currency)
        .bind(price.price_micros)
        .bind(position as i64)
        .execute(&mut *tx)
        .await?;
    }
    crate::audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

/// The price a payment of the item is recorded at when its store gives no amount: the one in the
/// purchase's currency when the store named one (none when that currency is not registered), the
/// item's default when it did not.
pub(crate) async fn list_price(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    product_seq: i64,
    currency: Option<&str>,
) -> Result<Option<ListPrice>, Error> {
    let row = sqlx::query(
        "SELECT currency, price_micros FROM product_prices WHERE product_seq = $1 AND (currency = $2 OR $2 IS NULL) \
         ORDER BY position LIMIT 1",
    )
    .bind(product_seq)
    .bind(currency)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(row) => Some(ListPrice { currency: row.try_get("currency")?, price_micros: row.try_get("price_micros")? }),
        None => None,
    })
}

fn validate_name(name: &str) -> Result<&str, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::Invalid("an item name has 1 to 100 characters".into()));
    }
    Ok(name)
}

/// The project an item belongs to, for permission and audit.
pub async fn project_of(db: &Db, product_seq: i64) -> Result<i64, Error> {
    sqlx::query_scalar(
        "SELECT a.project_id FROM products p JOIN store_apps a ON a.id = p.store_app_id WHERE p.product_seq = $1",
    )
    .bind(product_seq)
    .fetch_optional(db.pool())
    .await?
    .ok_or(Error::NotFound)
}

/// Registers an item; returns its productSeq. The audit row `audit` makes of it is written with it.
pub async fn add(
    db: &Db,
    store_app_id: i64,
    store_product_id: &str,
    name: &str,
    product_type: &str,
    audit: impl FnOnce(i64) -> crate::audit::Entry,
) -> Result<i64, Error> {
    let store_product_id = store_product_id.trim();
    let valid_id = !store_product_id.is_empty()
        && store_product_id.len() <= 150
        && store_product_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid_id {
        return Err(Error::Invalid("a store item id is 1 to 150 letters, digits, dots, dashes or underscores".into()));
    }
    let name = validate_name(name)?;
    let product_type = ProductType::parse(product_type)
        .ok_or_else(|| Error::Invalid(format!("unknown product type {product_type}")))?;
    let store: Option<String> = sqlx::query_scalar("SELECT store FROM store_apps WHERE id = $1")
        .bind(store_app_id)
        .fetch_optional(db.pool())
        .await?;
    // ONE store subscriptions are read through endpoints no source confirms: an item that could
    // never be verified is refused now, not when a customer has paid for it.
    if store.as_deref() == Some(Store::OneStore.code()) && product_type != ProductType::Consumable {
        return Err(Error::Invalid(
            "this server verifies ONE store one-time items only: register a ONE store item as CONSUMABLE".into(),
        ));
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
        "INSERT INTO products (store_app_id, store_product_id, name, product_type, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'USE', $5, $5) RETURNING product_seq",
    )
    .bind(store_app_id)
    .bind(store_product_id)
    .bind(name)
    .bind(product_type.as_str())
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let seq = match inserted.map_err(Error::from) {
        Ok(seq) => seq,
        Err(e) if e.is_unique_violation() => {
            return Err(Error::Invalid(format!("this app already has an item with the store id {store_product_id}")))
        }
        Err(e) => return Err(e),
    };
    crate::audit::record_in(&mut tx, audit(seq)).await?;
    tx.commit().await?;
    Ok(seq)
}

pub async fn rename(db: &Db, product_seq: i64, name: &str, audit: crate::audit::Entry) -> Result<(), Error> {
    update(db, product_seq, "name", validate_name(name)?, audit).await
}

/// USE or STOP. A stopped item is left out of the SDK's item list and refused at reservation.
pub async fn set_status(db: &Db, product_seq: i64, status: &str, audit: crate::audit::Entry) -> Result<(), Error> {
    if !matches!(status, "USE" | "STOP") {
        return Err(Error::Invalid("an item's status is USE or STOP".into()));
    }
    update(db, product_seq, "status", status, audit).await
}

/// Sets one column of the item, with its audit row, in one transaction.
async fn update(db: &Db, product_seq: i64, column: &str, value: &str, audit: crate::audit::Entry) -> Result<(), Error> {
    let sql = format!("UPDATE products SET {column} = $1, updated_at = $2 WHERE product_seq = $3");
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(&sql).bind(value).bind(now_ms()).bind(product_seq).execute(&mut *tx).await?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    crate::audit::record_in(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_list_reads_with_the_code_first_or_last_and_keeps_its_order() {
        let prices = parse_prices(" 1200 KRW, usd 0.99 ,, ").unwrap();
        let labels: Vec<String> = prices.iter().map(ListPrice::label).collect();
        assert_eq!(labels, ["1200 KRW", "0.99 USD"]);
        assert_eq!(prices[1].price_micros, 990_000);
        assert!(parse_prices("").unwrap().is_empty());
    }

    #[test]
    fn a_price_list_refuses_a_currency_twice_an_amount_without_a_code_and_a_bad_amount() {
        for bad in ["1 USD, 2 usd", "1200", "1,2 EUR", "-1 USD", "1.0000001 USD", "12 dollars"] {
            assert!(matches!(parse_prices(bad), Err(Error::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_price_label_is_exact_so_the_console_field_reads_back_what_it_shows() {
        let price = ListPrice { currency: "KWD".into(), price_micros: 1_250_500 };
        assert_eq!(price.label(), "1.2505 KWD");
        assert_eq!(parse_prices(&price.label()).unwrap(), [price]);
    }
}
