//! Who is calling: the app (its SDK) by AppKey, or the app's server by AppKey and SecretKey; and,
//! on the app's calls, which user, when the app's server vouches for its signed-in user with a
//! user token. What holds for each key is `projects::keys`; this is where the HTTP request meets it.
//!
//! The AppKey ships inside every app, so it identifies a project and proves nothing else: an
//! AppKey call learns nothing secret about a user unless it carries that user's token.
use std::net::IpAddr;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    envelope::{ApiError, Code},
    limit::Bucket,
};
use crate::{
    crypto::Cipher,
    http::client_addr::ClientAddr,
    projects::{
        keys::{self, ApiProject},
        Policy,
    },
    state::AppState,
};

pub const APP_KEY_HEADER: &str = "x-nhn-tciap-appkey";
pub const SECRET_KEY_HEADER: &str = "x-secret-key";
pub const USER_TOKEN_HEADER: &str = "x-user-token";

/// A call from the app, identified by its project's AppKey. Not `Debug`: it holds the caller's
/// user token.
#[derive(Clone)]
pub struct App {
    pub project_id: i64,
    pub policy: Policy,
    /// The request's `X-User-Token`, checked against a user id with [`App::authenticates`].
    user_token: Option<String>,
    project: ApiProject,
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
    keys::identify(&state.db, &state.key_touches, app_key).await?.map_err(|refusal| match refusal {
        keys::Refusal::Unknown => Code::AppKeyUnknown.into(),
        keys::Refusal::Disabled => Code::AppKeyDisabled.into(),
    })
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
            project,
        })
    }
}

impl FromRequestParts<AppState> for Server {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Server, ApiError> {
        let project = project(parts, state).await?;
        let accepted = project.accepts_secret(header(parts, SECRET_KEY_HEADER));
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
        match self.project.check_user_token(cipher, token, user_id)? {
            Ok(()) => Ok(true),
            Err(why) => Err(ApiError::new(Code::UserTokenInvalid, why)),
        }
    }
}
