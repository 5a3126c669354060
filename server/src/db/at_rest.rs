//! The encryption key against the data at start-up: an instance with another key than the one the
//! database was written with stops with a clear message instead of failing on every request, and
//! ciphertexts an earlier version wrote without their place (`v1:`) are sealed again to it.
use sqlx::Row;

use super::Db;
use crate::{
    crypto::{Cipher, Column},
    now_ms, Error,
};

const KEY_CHECK: &str = "iap-server encryption key check";

/// Refuses a key that does not open this database's data, then upgrades legacy ciphertexts.
pub async fn prepare(db: &Db, cipher: &Cipher) -> Result<(), Error> {
    check_key(db, cipher).await?;
    upgrade_legacy(db, cipher).await
}

fn wrong_key() -> Error {
    Error::Crypto(
        "the encryption key is not the one this database was written with: start every instance with the same \
         encryption_key (IAP_ENCRYPTION_KEY) or key file (IAP_ENCRYPTION_KEY_FILE)"
            .into(),
    )
}

async fn check_key(db: &Db, cipher: &Cipher) -> Result<(), Error> {
    if stored_check(db).await?.is_none() {
        // A database from before the check: its own secrets say whether the key is theirs.
        if !opens_existing(db, cipher).await? {
            return Err(wrong_key());
        }
        sqlx::query(
            "INSERT INTO encryption_key_check (id, sealed, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(cipher.encrypt(Column::KeyCheck, "1", KEY_CHECK))
        .bind(now_ms())
        .execute(db.writer())
        .await?;
    }
    // Read back: of instances starting at once with different keys, the first one's stays.
    let sealed = stored_check(db).await?.ok_or_else(|| Error::Other("the key check was not stored".into()))?;
    match cipher.decrypt(Column::KeyCheck, "1", &sealed) {
        Ok(text) if text == KEY_CHECK => Ok(()),
        _ => Err(wrong_key()),
    }
}

async fn stored_check(db: &Db) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar("SELECT sealed FROM encryption_key_check WHERE id = 1").fetch_optional(db.pool()).await?)
}

/// Whether the key opens one stored secret, if there is any (a fresh database: yes).
async fn opens_existing(db: &Db, cipher: &Cipher) -> Result<bool, Error> {
    let found: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, credentials_enc FROM store_apps WHERE credentials_enc IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    if let Some((id, sealed)) = found {
        return Ok(open(cipher, Column::StoreAppCredentials, &id.to_string(), &sealed).is_ok());
    }
    let found: Option<(i64, String)> =
        sqlx::query_as("SELECT id, secret_enc FROM webhook_endpoints WHERE secret_enc <> '' ORDER BY id LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    if let Some((id, sealed)) = found {
        return Ok(open(cipher, Column::WebhookSecret, &id.to_string(), &sealed).is_ok());
    }
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT access_token_hash, access_token_enc FROM payments WHERE access_token_enc IS NOT NULL \
         AND access_token_hash IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    Ok(match found {
        Some((hash, sealed)) => open(cipher, Column::PaymentAccessToken, &hash, &sealed).is_ok(),
        None => true,
    })
}

/// A ciphertext of either version.
fn open(cipher: &Cipher, column: Column, row: &str, sealed: &str) -> Result<String, Error> {
    if Cipher::is_legacy(sealed) {
        cipher.decrypt_legacy(sealed)
    } else {
        cipher.decrypt(column, row, sealed)
    }
}

/// One encrypted column: its table, the column, and the column holding the value it is bound to.
struct Sealed {
    table: &'static str,
    column: &'static str,
    row: &'static str,
    kind: Column,
}

const SEALED: [Sealed; 6] = [
    Sealed { table: "store_apps", column: "credentials_enc", row: "id", kind: Column::StoreAppCredentials },
    Sealed {
        table: "payments",
        column: "access_token_enc",
        row: "access_token_hash",
        kind: Column::PaymentAccessToken,
    },
    Sealed { table: "projects", column: "user_token_key_enc", row: "secret_hash", kind: Column::UserTokenKey },
    Sealed {
        table: "projects",
        column: "previous_user_token_key_enc",
        row: "previous_secret_hash",
        kind: Column::UserTokenKey,
    },
    Sealed { table: "webhook_endpoints", column: "secret_enc", row: "id", kind: Column::WebhookSecret },
    Sealed { table: "webhook_endpoints", column: "previous_secret_enc", row: "id", kind: Column::WebhookSecret },
];

/// Seals every `v1:` ciphertext to its place, a batch at a time, each update conditional on the
/// value read (another instance may be doing the same). Once done, `v1:` values no longer open.
async fn upgrade_legacy(db: &Db, cipher: &Cipher) -> Result<(), Error> {
    let mut upgraded = 0;
    for sealed in &SEALED {
        let select = format!(
            "SELECT id, CAST({row} AS TEXT) AS bound, {column} AS sealed FROM {table} \
             WHERE {column} LIKE 'v1:%' ORDER BY id LIMIT 500",
            row = sealed.row,
            column = sealed.column,
            table = sealed.table
        );
        let update =
            format!("UPDATE {} SET {col} = $1 WHERE id = $2 AND {col} = $3", sealed.table, col = sealed.column);
        loop {
            let rows = sqlx::query(&select).fetch_all(db.pool()).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let id: i64 = row.try_get("id")?;
                let old: String = row.try_get("sealed")?;
                let bound: Option<String> = row.try_get("bound")?;
                let plain = cipher.decrypt_legacy(&old).map_err(|_| wrong_key())?;
                // A value with nothing to bind it to (a previous key whose hash is gone) is dropped.
                let new = bound.map(|bound| cipher.encrypt(sealed.kind, &bound, &plain));
                sqlx::query(&update).bind(new).bind(id).bind(&old).execute(db.writer()).await?;
                upgraded += 1;
            }
        }
    }
    if upgraded > 0 {
        tracing::info!(upgraded, "sealed stored secrets to their rows");
    }
    Ok(())
}
