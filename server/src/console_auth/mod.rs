//! Console authentication: password hashing, sign-in throttling, and what a session holds.
pub mod password;
pub mod throttle;

use tower_sessions::{Expiry, Session};

use crate::{crypto, db::Db, users::ConsoleUser, Error};

/// Session keys. The session holds only these values; everything else is read fresh from the
/// database on each request. The user's session epoch is kept too: resetting the password,
/// disabling the user or changing the role moves the user's epoch on, and a session signed in
/// under an older one is over (on every instance, since each reads the user's row).
const USER_ID: &str = "user_id";
const EPOCH: &str = "session_epoch";
const CSRF: &str = "csrf";
/// A session nobody has signed in to holds only its CSRF token (for the sign-in form). Anyone can
/// create one with a page load, so it lasts half an hour without use, not a signed-in session's
/// working day: what a flood of page loads leaves behind is gone within the half hour.
const ANONYMOUS_IDLE: time::Duration = time::Duration::minutes(30);

/// This session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    if let Some(token) = session.get::<String>(CSRF).await? {
        return Ok(token);
    }
    if session.get::<i64>(USER_ID).await?.is_none() {
        session.set_expiry(Some(Expiry::OnInactivity(ANONYMOUS_IDLE)));
    }
    let token = crypto::random_token(32);
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// Whether `presented` is this session's CSRF token. A session without a token accepts nothing.
pub async fn csrf_matches(session: &Session, presented: &str) -> Result<bool, Error> {
    Ok(match session.get::<String>(CSRF).await? {
        Some(expected) => crypto::ct_eq(&expected, presented),
        None => false,
    })
}

/// The enabled user this session was signed in for, if the session has not ended since: the
/// user's session epoch is still the one it was signed in under.
pub async fn signed_in_user(db: &Db, session: &Session) -> Result<Option<ConsoleUser>, Error> {
    let Some(id) = session.get::<i64>(USER_ID).await? else { return Ok(None) };
    let epoch = session.get::<i64>(EPOCH).await?;
    let user = crate::users::find_by_id(db, id).await?;
    Ok(user.filter(|u| !u.disabled && Some(u.session_epoch) == epoch))
}

/// Binds the session to the user under a new session id and a new CSRF token, so neither an id
/// nor a token planted before sign-in (by a sibling subdomain's cookie, say) is worth anything
/// afterwards. The pages read the new token with the session on their next navigation. The
/// session lasts `idle` without use from now on.
pub async fn sign_in(session: &Session, user: &ConsoleUser, idle: time::Duration) -> Result<(), Error> {
    session.cycle_id().await?;
    session.set_expiry(Some(Expiry::OnInactivity(idle)));
    session.insert(USER_ID, user.id).await?;
    session.insert(EPOCH, user.session_epoch).await?;
    session.insert(CSRF, crypto::random_token(32)).await?;
    Ok(())
}

/// Deletes the session and its record.
pub async fn sign_out(session: &Session) -> Result<(), Error> {
    session.flush().await?;
    Ok(())
}
