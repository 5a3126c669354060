//! Signing in and out, and the session every page reads.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    error::Notice,
    hydration::HydrationMarker,
    model::{LoginResult, SessionInfo},
    AppError,
};

/// The signed-in user and the CSRF token. A GET, so it needs no token itself.
#[server(input = GetUrl, endpoint = "session")]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.session_info(&req).await
}

/// `_csrf` is checked by the server's CSRF layer before this function runs, as for every POST.
#[server(endpoint = "login")]
pub async fn login(_csrf: String, username: String, password: String, next: String) -> Result<LoginResult, AppError> {
    let (backend, req) = crate::backend::current()?;
    let result = backend.login(&req, &username, &password).await?;
    if result == LoginResult::SignedIn {
        leptos_axum::redirect(model::urls::safe_next(&next));
    }
    Ok(result)
}

#[server(endpoint = "logout")]
pub async fn logout(_csrf: String) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.logout(&req).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The session, refetched on every navigation so the header and the CSRF token follow sign-in and
/// sign-out. Blocking, so the server-rendered page already carries the token (forms work before
/// the wasm has loaded).
pub fn session_resource() -> Resource<Result<SessionInfo, AppError>> {
    let location = leptos_router::hooks::use_location();
    Resource::new_blocking(move || location.pathname.get(), |_| get_session())
}

/// The hidden field that carries this session's CSRF token in a form. Needs a [`SessionInfo`] in context.
#[component]
pub fn CsrfField() -> impl IntoView {
    let csrf = use_context::<SessionInfo>().map(|s| s.csrf).unwrap_or_default();
    view! { <input type="hidden" name="_csrf" value=csrf /> }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let session = session_resource();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();

    let message = move || {
        login.value().get().map(|result| match result {
            Ok(LoginResult::SignedIn) => "Signed in.".to_string(),
            Ok(LoginResult::BadCredentials) => "Wrong username or password.".to_string(),
            Ok(LoginResult::Throttled { retry_after_secs }) => {
                format!("Too many failed attempts. Try again in {} minute(s).", retry_after_secs.div_ceil(60))
            }
            Err(err) => err.to_string(),
        })
    };

    view! {
        <HydrationMarker />
        <main class="login">
            <h1>"IAP console"</h1>
            <Suspense>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(info) => {
                            let signed_in = info.user.as_ref().map(|u| u.username.clone());
                            view! {
                                {signed_in.map(|name| view! {
                                    <p class="hint">
                                        "Signed in as " <strong>{name}</strong> ". "
                                        <a href="/projects">"Go to projects"</a>
                                    </p>
                                })}
                                <ActionForm action=login attr:class="login-form">
                                    <input type="hidden" name="_csrf" value=info.csrf />
                                    <input type="hidden" name="next" value=next />
                                    <label>
                                        "Username"
                                        <input name="username" autocomplete="username" required autofocus />
                                    </label>
                                    <label>
                                        "Password"
                                        <input type="password" name="password" autocomplete="current-password" required />
                                    </label>
                                    <button type="submit" disabled=move || login.pending().get()>"Sign in"</button>
                                </ActionForm>
                            }
                            .into_any()
                        }
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
            <p class="form-error" role="alert">{message}</p>
        </main>
    }
}
