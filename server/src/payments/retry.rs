//! The background work that makes verification reliable: payments whose proof could not be
//! checked are verified again, Google and ONE store purchases whose acknowledgement failed are
//! acknowledged again, consumed payments due at their store are consumed there, each with a
//! growing delay, and payments verified by a signature alone are confirmed with their store. Several instances can run it: each row is claimed before it
//! is worked on ([`crate::db::Db::claim_due`]).
use std::time::Duration;

use super::{
    acknowledge, by_id, store_consume,
    verify::{self, Outcome, Request},
    Source,
};
use crate::{
    services::Services,
    store_apps,
    stores::client::{Proof, StoreClient},
    Error,
};

/// How long a claimed row is left to its claimer before another instance may take it.
const CLAIM: Duration = Duration::from_secs(120);
const BATCH: i64 = 20;

/// Runs the due work once; returns how many payments it handled. Each kind of work runs whatever
/// became of the other.
pub async fn run_due(services: &Services) -> Result<usize, Error> {
    let reverified = reverify_due(services).await;
    let acknowledged = acknowledge_due(services).await;
    let consumed = store_consume_due(services).await;
    let confirmed = super::confirm::confirm_due(services).await;
    if let Err(err) = &confirmed {
        tracing::warn!(error = %err, "confirmation pass failed");
    }
    if let Err(err) = &reverified {
        tracing::warn!(error = %err, "re-verification pass failed");
    }
    if let Err(err) = &acknowledged {
        tracing::warn!(error = %err, "acknowledgement pass failed");
    }
    Ok(reverified.unwrap_or_default() + acknowledged.unwrap_or_default() + confirmed.unwrap_or_default() + consumed?)
}

async fn reverify_due(services: &Services) -> Result<usize, Error> {
    let ids = services.db.claim_due("payments", "next_verify_at", "status = 'RESERVED'", CLAIM, BATCH).await?;
    for id in &ids {
        if let Err(err) = reverify(services, *id).await {
            tracing::warn!(payment = id, error = %err, "re-verification failed");
        }
    }
    Ok(ids.len())
}

/// Verifies the waiting payment `id` again with the proof it keeps.
pub async fn reverify(services: &Services, id: i64) -> Result<(), Error> {
    let payment = by_id(&services.db, id).await?;
    let seq = payment.payment_seq.clone();
    let proof: Proof = serde_json::from_str(payment.receipt.as_deref().unwrap_or_default())
        .map_err(|e| Error::Other(format!("kept proof of payment {seq}: {e}")))?;
    let app = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await?.ok_or(Error::NotFound)?;
    let client = services.store_client(&app).map_err(|e| Error::Other(e.to_string()))?;
    let request = Request {
        project_id: payment.project_id,
        app: &app,
        user_id: &payment.user_id,
        payment_seq: Some(&seq),
        proof: &proof,
        source: Source::Server,
        policy: crate::projects::policy(&services.db, payment.project_id).await?,
        // The claim was the app's, made when the proof was kept.
        user_authenticated: false,
        // What the device signed is not kept: a retry asks the store.
        signed: None,
    };
    match verify::verify(&services.db, &services.cipher, &client, &request).await? {
        Outcome::Verified { .. } => tracing::info!(payment = %seq, "verified on retry"),
        Outcome::Pending { reason, .. } => tracing::info!(payment = %seq, ?reason, "still pending"),
        Outcome::Refused(refusal) => tracing::warn!(payment = %seq, ?refusal, "refused on retry"),
    }
    Ok(())
}

async fn acknowledge_due(services: &Services) -> Result<usize, Error> {
    // A refunded purchase is not asked again: Google refuses to acknowledge it, for ever.
    let pending = "ack_state = 'PENDING' AND status = 'SUCCESS'";
    let ids = services.db.claim_due("payments", "next_ack_at", pending, CLAIM, BATCH).await?;
    for id in &ids {
        if let Some((payment, client)) = with_client(services, *id, "acknowledge").await? {
            acknowledge::acknowledge(&services.db, &client, &payment).await?;
        }
    }
    Ok(ids.len())
}

async fn store_consume_due(services: &Services) -> Result<usize, Error> {
    // A payment refunded since our consume is left alone: there is nothing to sell again.
    let due = "consumed = 1 AND status = 'SUCCESS'";
    let ids = services.db.claim_due("payments", "next_store_consume_at", due, CLAIM, BATCH).await?;
    for id in &ids {
        if let Some((payment, client)) = with_client(services, *id, "consume at the store").await? {
            store_consume::consume_at_store(&services.db, &client, &payment).await?;
        }
    }
    Ok(ids.len())
}

/// The payment and its store's client; `None` (logged) when its app is gone or its settings make
/// no client, in which case the claim lapses and the work is tried again later.
async fn with_client(
    services: &Services,
    id: i64,
    work: &str,
) -> Result<Option<(super::Payment, std::sync::Arc<StoreClient>)>, Error> {
    let payment = by_id(&services.db, id).await?;
    let Some(app) = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await? else {
        return Ok(None);
    };
    match services.store_client(&app) {
        Ok(client) => Ok(Some((payment, client))),
        Err(err) => {
            tracing::warn!(payment = %payment.payment_seq, error = %err, "cannot {work}: store app settings");
            Ok(None)
        }
    }
}
