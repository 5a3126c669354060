//! The app server's cancel and revoke of a Google Play subscription (Gamebase's): asked of Google,
//! then recorded as Google reports the subscription afterwards.
use super::{by_seq, refund::RefundSource, sync, Payment};
use crate::{
    services::Services,
    store_apps,
    stores::{client::StoreClient, google::client::Refund, StoreError, StorePurchase, SubscriptionState},
    Error,
};

/// Which change a subscription call asks Google for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Stop renewals; access lasts until the paid period ends.
    Cancel,
    /// End access now with a full refund.
    Revoke,
}

/// Why a change was not asked for, or not made.
#[derive(Debug)]
pub enum Refused {
    NotFound,
    WrongAccessToken,
    NotSubscription,
    NoStoreApp,
    /// The store app's credentials are missing or unusable.
    Configuration(String),
    /// Only Google Play subscriptions are changed by the server.
    NotGoogle,
    Store(StoreError),
}

/// Applies `change` to the subscription `payment_seq` of `project_id`, proven by its access token;
/// the payment as it is afterwards.
pub async fn change(
    services: &Services,
    project_id: i64,
    payment_seq: &str,
    access_token: &str,
    change: Change,
) -> Result<Result<Payment, Refused>, Error> {
    let Some(payment) = by_seq(&services.db, project_id, payment_seq).await? else { return Ok(Err(Refused::NotFound)) };
    if !payment.token_matches(access_token) {
        return Ok(Err(Refused::WrongAccessToken));
    }
    if !payment.is_subscription() {
        return Ok(Err(Refused::NotSubscription));
    }
    let Some(app) = store_apps::by_id(&services.db, &services.cipher, payment.store_app_id).await? else {
        return Ok(Err(Refused::NoStoreApp));
    };
    let client = match services.store_client(&app) {
        Ok(client) => client,
        Err(err) => return Ok(Err(Refused::Configuration(err.to_string()))),
    };
    let StoreClient::Google(google) = &*client else { return Ok(Err(Refused::NotGoogle)) };
    let purchase_token = payment.purchase_token.as_deref().unwrap_or_default();
    let asked = match change {
        Change::Cancel => google.cancel_subscription(purchase_token).await,
        Change::Revoke => google.revoke_subscription(purchase_token, Refund::Full).await,
    };
    if let Err(err) = asked {
        return Ok(Err(Refused::Store(err)));
    }
    let now = match google.subscription(&payment.store_product_id, purchase_token).await {
        Ok(now) => now,
        Err(err) => return Ok(Err(Refused::Store(err))),
    };
    let now = match change {
        // Google reports a revoked subscription as expired; the revocation is what happened.
        Change::Revoke => StorePurchase { subscription_state: Some(SubscriptionState::Revoked), ..now },
        Change::Cancel => now,
    };
    sync::apply(services, app.id, &now, RefundSource::StoreApi).await?;
    Ok(by_seq(&services.db, project_id, payment_seq).await?.ok_or(Refused::NotFound))
}
