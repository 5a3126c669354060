//! Items (products) of a project's store apps. An item is never deleted — payments refer to it —
//! only stopped; its store product id and type are fixed once payments may refer to them.
use model::{ItemRow, ProductType, Store};

use crate::{db::Db, now_ms, Error};

pub async fn in_project(db: &Db, project_id: i64) -> Result<Vec<ItemRow>, Error> {
    Ok(sqlx::query_as::<_, ItemRow>(
        "SELECT p.product_seq, p.store_app_id AS store_app, a.store, p.store_product_id, p.name, p.product_type, \
         p.status, p.updated_at FROM products p JOIN store_apps a ON a.id = p.store_app_id WHERE a.project_id = $1 \
         ORDER BY a.store, p.store_product_id",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?)
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
