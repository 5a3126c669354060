//! Console authentication: password hashing, sign-in throttling, and what a session holds.
pub mod password;
pub mod throttle;

use tower_sessions::Session;

use crate::{crypto, Error};

/// Session keys. The session holds only these two values; everything else is read fresh from the
/// database on each request, so disabling a user or changing a role takes effect at once.
const USER_ID: &str = "user_id";
const CSRF: &str = "csrf";

/// This session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    if let Some(token) = session.get::<String>(CSRF).await? {
        return Ok(token);
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

pub async fn signed_in_user_id(session: &Session) -> Result<Option<i64>, Error> {
    Ok(session.get::<i64>(USER_ID).await?)
}

/// Binds the session to the user under a new session id (so an id planted before sign-in is
/// worthless afterwards), keeping the CSRF token the page already holds.
pub async fn sign_in(session: &Session, user_id: i64) -> Result<(), Error> {
    session.cycle_id().await?;
    session.insert(USER_ID, user_id).await?;
    Ok(())
}

/// Deletes the session and its record.
pub async fn sign_out(session: &Session) -> Result<(), Error> {
    session.flush().await?;
    Ok(())
}
