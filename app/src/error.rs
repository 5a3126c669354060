use leptos::prelude::*;
use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// The one error type of the console: what a server function can answer instead of a result.
/// It crosses the wire, so it carries only text meant for the person at the browser; server-side
/// detail is logged where the error is made, never sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// No signed-in console user; the page offers the way to `/login`.
    #[error("Please sign in.")]
    Unauthenticated,
    /// Signed in, but the role does not allow this.
    #[error("Your role does not allow this.")]
    Forbidden,
    /// The form's CSRF token is missing or does not belong to this session (e.g. the session expired).
    #[error("This form has expired. Reload the page and try again.")]
    Csrf,
    /// The input was refused; the text says what to fix.
    #[error("{0}")]
    Invalid(String),
    #[error("Not found.")]
    NotFound,
    /// A failure on the server (database, store); details are in the server log under the request id.
    #[error("Something went wrong on the server. Try again; if it persists, check the server log.")]
    Internal,
    /// The request never reached the function or the answer could not be read (network, encoding).
    #[error("The server could not be reached: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

/// An error in words, with the way forward when there is one.
#[component]
pub fn Notice(error: AppError) -> impl IntoView {
    let sign_in = matches!(error, AppError::Unauthenticated | AppError::Csrf);
    view! {
        <div class="notice" role="alert">
            <p>{error.to_string()}</p>
            {sign_in.then(|| view! { <a href="/login">"Sign in"</a> })}
        </div>
    }
}
