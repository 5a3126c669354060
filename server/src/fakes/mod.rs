//! Local stand-ins for the stores' HTTP APIs, speaking their wire formats, for our tests, the demo
//! and app developers' own tests. Production code never calls into this tree.
pub mod apple;
pub mod faults;
pub mod google;
pub mod jwt;
pub mod keys;
pub mod onestore;
pub mod tokens;

use axum::{extract::State, http::StatusCode, Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;

/// Every fake on one router, each under its store's prefix: `/google`, `/apple`, `/onestore`.
#[derive(Default)]
pub struct Fakes {
    pub google: google::FakeGoogle,
    pub apple: apple::FakeApple,
    pub onestore: onestore::FakeOneStore,
}

impl Fakes {
    pub fn new() -> Fakes {
        Fakes::default()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .nest("/google", self.google.router())
            .nest("/apple", self.apple.router())
            .nest("/onestore", self.onestore.router())
    }
}

/// Serves `router` on 127.0.0.1 at `port` (0 for any) in the background; returns the base URL.
pub async fn serve(router: Router, port: u16) -> std::io::Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(error = %err, "store fake stopped");
        }
    });
    Ok(format!("http://{addr}"))
}

/// The client a fake sends its notifications with, as the store's own servers would.
pub(crate) fn sender() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().expect("a reqwest client builds")
}

/// A fake that pushes the store's notifications (RTDN, ASSN v2, PNS) to a URL it is given.
pub trait Notifies {
    /// Where notifications go from now on; `None` stops them.
    fn set_notify_url(&self, url: Option<String>);
}

#[derive(Deserialize)]
struct NotifyUrl {
    url: Option<String>,
}

/// `POST <prefix>/fake/notifications` of every fake: `{"url":"http://…"}`, or `{"url":null}` to stop.
async fn set_notify_url<F: Notifies + Clone + Send + Sync + 'static>(
    State(fake): State<F>,
    Json(body): Json<NotifyUrl>,
) -> StatusCode {
    fake.set_notify_url(body.url);
    StatusCode::OK
}
