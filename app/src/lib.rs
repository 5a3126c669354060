//! The support console: pages, the DTOs they exchange with the server, and the server functions
//! that carry them. Compiled twice: with `ssr` into the server, with `hydrate` into the browser.
#![recursion_limit = "256"]

pub mod audit;
pub mod auth;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod error;
pub mod format;
mod hydration;
mod layout;
pub mod notifications;
pub mod payment;
pub mod projects;
pub mod refunds;
pub mod statistics;
pub mod transactions;
pub mod users;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    path,
};

/// The shared vocabulary, under the name the pages have always used.
pub use ::model;
pub use error::AppError;

/// Pages that need a signed-in console user. The server redirects anonymous requests for them to
/// `/login` before rendering; their server functions check the session again on every call.
pub fn requires_sign_in(path: &str) -> bool {
    path != "/login" && !path.starts_with("/login/")
}

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/iap.css" />
        <Title text="IAP console" />
        <Router>
            <Routes fallback=|| view! { <layout::NotFound /> }>
                <Route path=path!("/login") view=auth::LoginPage />
                <Route path=path!("/") view=|| view! { <Redirect path="/projects" /> } />
                <Route path=path!("/projects") view=projects::ProjectsPage />
                <Route path=path!("/projects/:id") view=projects::detail::ProjectPage />
                <Route path=path!("/transactions") view=transactions::TransactionsPage />
                <Route path=path!("/payments/:seq") view=payment::PaymentPage />
                <Route path=path!("/refunds") view=refunds::RefundsPage />
                <Route path=path!("/notifications") view=notifications::NotificationsPage />
                <Route path=path!("/statistics") view=statistics::StatisticsPage />
                <Route path=path!("/users") view=users::UsersPage />
                <Route path=path!("/audit") view=audit::AuditLogPage />
            </Routes>
        </Router>
    }
}
