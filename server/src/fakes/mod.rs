//! Local stand-ins for the stores' HTTP APIs, speaking their wire formats, for our tests, the demo
//! and app developers' own tests. Production code never calls into this tree.
pub mod apple;
pub mod faults;
pub mod google;
pub mod jwt;
pub mod onestore;
pub mod tokens;

use axum::Router;
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
