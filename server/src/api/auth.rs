//! Who is calling: the app (its SDK) by AppKey, or the app's server by AppKey and SecretKey; and,
//! on the app's calls, which user, when the app's server vouches for its signed-in user with a
//! user token.
//!
//! The AppKey ships inside every app, so it identifies a project and proves nothing else: an
//! AppKey call learns nothing secret about a user unless it carries that user's token.
use std::net::IpAddr;

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use super::{
    envelope::{ApiError, Code},
    limit::Bucket,
};
use crate::{
    crypto::{self, Cipher},
    http::client_addr::ClientAddr,
    now_ms,
    projects::{self, ApiProject, Policy},
    state::AppState,
};

pub const APP_KEY_HEADER: &str = "x-nhn-tciap-appkey";
pub const SECRET_KEY_HEADER: &str = "x-secret-key";
pub const USER_TOKEN_HEADER: &str = "x-user-token";

/// The key's last-used time is written at most this often, not on every request.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;
/// The longest a user token may be valid for, however far ahead its app's server dates it.
const MAX_USER_TOKEN_SECS: i64 = 30 * 86_400;

/// A call from the app, identified by its project's AppKey. Not `Debug`: it holds the caller's
/// user token.
#[derive(Clone)]
pub struct App {
    pub project_id: i64,
    pub policy: Policy,
    /// The request's `X-User-Token`, checked against a user id with [`App::authenticates`].
    user_token: Option<String>,
    user_token_keys: Vec<(String, String)>,
}

/// A call from the app's server: the AppKey and the project's SecretKey (unless the project is in
/// NHN-compatible mode, where the AppKey alone is accepted as NHN accepts it).
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub project_id: i64,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|ClientAddr(ip)| *ip)
}

async fn project(parts: &Parts, state: &AppState) -> Result<ApiProject, ApiError> {
    let app_key = header(parts, APP_KEY_HEADER).ok_or(Code::AppKeyUnknown)?;
    if app_key.len() > 64 {
        return Err(Code::AppKeyUnknown.into());
    }
    let project = projects::by_app_key(&state.db, app_key).await?.ok_or(Code::AppKeyUnknown)?;
    if !project.enabled {
        return Err(Code::AppKeyDisabled.into());
    }
    if project.last_used_at.is_none_or(|at| now_ms() - at > LAST_USED_GRANULARITY_MS) {
        // Best effort: a failed bookkeeping write must not fail the call.
        projects::touch_key(&state.db, project.id).await;
    }
    Ok(project)
}

impl FromRequestParts<AppState> for App {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<App, ApiError> {
        let project = project(parts, state).await?;
        // Public callers share one allowance per project and have their own per address, apart
        // from the app's server: a flood with the AppKey cannot starve the server's consumes.
        let address = client_address(parts);
        if !state.limiter.allow(Bucket::App(project.id))
            || !state.limiter.allow(Bucket::AppAddress(project.id, address))
        {
            return Err(Code::RateLimited.into());
        }
        Ok(App {
            project_id: project.id,
            policy: project.policy,
            user_token: header(parts, USER_TOKEN_HEADER).map(String::from),
            user_token_keys: project.user_token_keys,
        })
    }
}

impl FromRequestParts<AppState> for Server {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Server, ApiError> {
        let project = project(parts, state).await?;
        let given = header(parts, SECRET_KEY_HEADER);
        let accepted = match given {
            None => !project.require_secret,
            Some(secret) => {
                let hash = crypto::sha256_hex(secret);
                // Both comparisons always run, so timing does not tell which secret matched.
                let current = crypto::ct_eq(&hash, &project.secret_hash);
                let previous = project.previous_secret_hash.as_deref().is_some_and(|previous| {
                    crypto::ct_eq(&hash, previous) && project.previous_secret_expires_at.is_some_and(|t| t > now_ms())
                });
                current | previous
            }
        };
        if !accepted {
            return Err(Code::SecretKeyInvalid.into());
        }
        // Counted once authenticated, so only the app's own server spends this allowance.
        if !state.limiter.allow(Bucket::Server(project.id)) {
            return Err(Code::RateLimited.into());
        }
        Ok(Server { project_id: project.id })
    }
}

impl App {
    /// Whether the request proves that it acts for `user_id`: its `X-User-Token` was minted for that
    /// user by the app's server and has not expired. No token is `false`; a token that does not
    /// hold is refused (4035), so an app never silently gets less than it asked for.
    pub fn authenticates(&self, cipher: &Cipher, user_id: &str) -> Result<bool, ApiError> {
        let Some(token) = &self.user_token else { return Ok(false) };
        let keys = self
            .user_token_keys
            .iter()
            .map(|(secret_hash, sealed)| {
                cipher.decrypt(crypto::Column::UserTokenKey, secret_hash, sealed).map_err(ApiError::from)
            })
            .collect::<Result<Vec<_>, _>>()?;
        match check_user_token(token, user_id, &keys, now_ms() / 1000) {
            Ok(()) => Ok(true),
            Err(why) => Err(ApiError::new(Code::UserTokenInvalid, why)),
        }
    }
}

/// A user token as the app's server mints it for its signed-in `user`, valid until `expiry` (Unix
/// seconds): `<expiry>.<signature>`, the signature the base64url HMAC-SHA256 of `<user>.<expiry>`
/// under [`projects::user_token_key`] of the SecretKey (README, "User tokens").
pub fn mint_user_token(secret_key: &str, user: &str, expiry: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &projects::user_token_key(secret_key));
    let signature = ring::hmac::sign(&key, format!("{user}.{expiry}").as_bytes());
    format!("{expiry}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// Checks `token` (as [`mint_user_token`] makes it) for `user_id` at `now` seconds against `keys`
/// (each base64 of a [`projects::user_token_key`]).
fn check_user_token(token: &str, user_id: &str, keys: &[String], now: i64) -> Result<(), &'static str> {
    let (expiry, signature) = token.split_once('.').ok_or("a user token is <expiry>.<signature>")?;
    let expires: i64 = expiry.parse().map_err(|_| "the user token's expiry is not a number of seconds")?;
    if expires <= now {
        return Err("the user token has expired");
    }
    if expires - now > MAX_USER_TOKEN_SECS {
        return Err("a user token may be valid for 30 days at most");
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "the user token's signature is not base64url")?;
    let message = format!("{user_id}.{expiry}");
    // Every key is tried, so timing does not tell which one matched.
    let matched = keys.iter().fold(false, |matched, key| {
        let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key) else { return matched };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        ring::hmac::verify(&key, message.as_bytes(), &signature).is_ok() | matched
    });
    if matched {
        Ok(())
    } else {
        Err("the user token is not signed for this user with the project's SecretKey")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(secret: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(projects::user_token_key(secret))
    }

    #[test]
    fn a_user_token_minted_as_the_readme_shows_is_accepted_for_its_user_only() {
        // Minted with the README's Python example: SecretKey "s3cret", user "user-1", expiry 2000000000.
        let token = "2000000000.WuJZKkSxGwkfdF9M6_WpaQY2R-r0fmeA-gGCn7zsWgc";
        let keys = [key_of("s3cret")];
        let now = 2_000_000_000 - 3600;

        assert_eq!(mint_user_token("s3cret", "user-1", 2_000_000_000), token, "the Rust minting agrees");
        assert_eq!(check_user_token(token, "user-1", &keys, now), Ok(()));
        assert!(check_user_token(token, "user-2", &keys, now).is_err(), "another user");
        assert!(check_user_token(token, "user-1", &[key_of("other")], now).is_err(), "another SecretKey");
        assert!(check_user_token(token, "user-1", &keys, 2_000_000_000).is_err(), "expired");
        assert!(check_user_token(token, "user-1", &keys, now - MAX_USER_TOKEN_SECS).is_err(), "too far ahead");
        assert!(check_user_token("garbage", "user-1", &keys, now).is_err());
        assert_eq!(check_user_token(token, "user-1", &[key_of("other"), key_of("s3cret")], now), Ok(()), "rotation");
    }
}
