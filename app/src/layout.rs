//! The frame around every signed-in page.
use leptos::prelude::*;

use crate::{
    auth::{session_resource, CsrfField, Logout},
    error::Notice,
    hydration::HydrationMarker,
    AppError,
};

/// A signed-in page: the header with navigation and the user, then the page itself. The page's
/// children see the [`crate::model::SessionInfo`] in context (for [`CsrfField`]).
#[component]
pub fn Page(children: ChildrenFn) -> impl IntoView {
    let session = session_resource();
    let logout = ServerAction::<Logout>::new();
    let children = StoredValue::new(children);

    view! {
        <HydrationMarker />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.await {
                    Ok(info) => match info.user.clone() {
                        Some(user) => {
                            let admin = user.role.allows(crate::model::Role::Admin);
                            let info_offset = info.utc_offset_minutes;
                            provide_context(info);
                            view! {
                                <header class="top">
                                    <a class="brand" href="/projects">"IAP console"</a>
                                    <nav>
                                        <a href="/transactions">"Transactions"</a>
                                        <a href="/refunds">"Refunds"</a>
                                        <a href="/notifications">"Notifications"</a>
                                        <a href="/statistics">"Statistics"</a>
                                        <a href="/projects">"Projects"</a>
                                        {admin.then(|| view! {
                                            <a href="/users">"Users"</a>
                                            <a href="/audit">"Audit"</a>
                                        })}
                                    </nav>
                                    <TimeZoneChoice current=info_offset />
                                    <div class="who">
                                        <span class="user">{user.username}</span>
                                        <span class="role">{user.role.as_str()}</span>
                                        <ActionForm action=logout attr:class="logout">
                                            <CsrfField />
                                            <button type="submit">"Sign out"</button>
                                        </ActionForm>
                                    </div>
                                </header>
                                <main>{children.with_value(|c| c())}</main>
                            }
                            .into_any()
                        }
                        None => view! { <Notice error=AppError::Unauthenticated /> }.into_any(),
                    },
                    Err(err) => view! { <Notice error=err /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The time zone the page's times are shown in. A plain form: it works before hydration and
/// without script, and the server renders the chosen zone from its cookie.
#[component]
fn TimeZoneChoice(current: i32) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let here = move || match location.search.get() {
        search if search.is_empty() => location.pathname.get(),
        search => format!("{}?{search}", location.pathname.get()),
    };
    view! {
        <form class="time-zone" method="get" action="/preferences/time-zone">
            <input type="hidden" name="next" value=here />
            <select name="offset" aria-label="Time zone">
                {crate::format::UTC_OFFSETS.map(|m| view! {
                    <option value=m selected=m == current>{crate::format::offset_label(m)}</option>
                }).collect_view()}
            </select>
            <button type="submit">"Set"</button>
        </form>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="login">
            <h1>"Not found"</h1>
            <p><a href="/projects">"Back to the console"</a></p>
        </main>
    }
}
