use leptos::config::LeptosOptions;
use reqwest::{header, Client, Response};
use serde::de::DeserializeOwned;
use server::{
    config::{Overrides, Settings},
    db::Db,
    Application,
};
pub use testing::{fresh_database_url, temp_dir, unique_name, TempDir};

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: Db,
    pub state: server::state::AppState,
    /// Kept so the SQLite file and the generated key outlive the test.
    _data_dir: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app with settings changed by `configure` after they are loaded.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = temp_dir();
    let mut settings = Settings::load(&Overrides {
        database_url: Some(fresh_database_url(&data_dir.0)),
        site_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..Overrides::default()
    })
    .expect("settings");
    settings.data_dir = data_dir.0.clone();
    settings.encryption_key_file = Some(data_dir.0.join("test.key"));
    // Tests run sweeps themselves, when they want one.
    settings.sweeps.interval_secs = 0;
    // Tests play many players from one loopback address; the flood test sets its own limit.
    settings.api.app_per_address_per_second = 0;
    // The fakes and the tests' receivers listen on 127.0.0.1, as the demo's do; 127.0.0.2 and
    // beyond stand in for internal hosts that stay refused.
    server::demo::allow_the_fakes(&mut settings);
    configure(&mut settings);
    if std::env::var("TEST_LOG").is_ok() {
        server::telemetry::init(&settings.log);
    }
    let leptos_options = LeptosOptions::builder().output_name("iap").site_addr(settings.site_addr).build();
    let app = Application::build(settings, leptos_options).await.expect("app starts");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let db = state.db.clone();
    server::demo::seed(&db, &state.cipher).await.expect("demo seed");
    tokio::spawn(app.run_until_stopped());
    TestApp { base, client: new_client(), db, state, _data_dir: data_dir }
}

/// The app serving requests but running no background work (no jobs, no inbox worker), so a row
/// a test changes through the console stays as the console left it until the test looks.
pub async fn spawn_app_without_workers() -> TestApp {
    let data_dir = temp_dir();
    let mut settings =
        Settings::load(&Overrides { database_url: Some(fresh_database_url(&data_dir.0)), ..Overrides::default() })
            .expect("settings");
    settings.data_dir = data_dir.0.clone();
    settings.encryption_key_file = Some(data_dir.0.join("test.key"));
    settings.sweeps.interval_secs = 0;
    server::demo::allow_the_fakes(&mut settings);
    let leptos_options = LeptosOptions::builder().output_name("iap").build();
    let services = server::services::prepare(settings).await.expect("app prepares");
    let state = server::state::AppState::new(services, leptos_options);
    server::demo::seed(&state.db, &state.cipher).await.expect("demo seed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = server::http::router(state.clone());
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await
    });
    TestApp { base, client: new_client(), db: state.db.clone(), state, _data_dir: data_dir }
}

/// The server's outbound client allowed to call the store fakes on 127.0.0.1, for tests that
/// drive a store client directly.
pub fn fake_http(timeout: std::time::Duration) -> server::outbound::Http {
    let settings =
        server::outbound::OutboundSettings { allow_hosts: vec!["127.0.0.1".into()], store_url_overrides: true };
    server::outbound::Http::new(&settings, timeout)
}

/// Longer than any answer of the server takes, so that a request the server never answers fails
/// its test by name instead of holding up the whole suite.
pub const REQUEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A browser stand-in: keeps cookies, does not follow redirects (tests look at them).
pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_LIMIT)
        .build()
        .unwrap()
}

/// An app's own server or a store: plain requests, with the same limit as the browser stand-in.
pub fn plain_client() -> Client {
    Client::builder().timeout(REQUEST_LIMIT).build().unwrap()
}

/// Waits for something that another party sends (a store's notification, a webhook), failing the
/// test with `what` when it has not come within 30 s: a delivery that never comes must not hang the
/// suite.
pub async fn within_30s<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(std::time::Duration::from_secs(30), future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not come within 30 s"),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Calls a GET server function and decodes its JSON answer (ok or error).
    pub async fn get_fn<T: DeserializeOwned>(&self, path: &str) -> Result<T, app::AppError> {
        decode(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// Calls a POST server function with a form, as the hydrated console does.
    pub async fn post_fn<T: DeserializeOwned>(&self, path: &str, form: &[(&str, &str)]) -> Result<T, app::AppError> {
        decode(self.post_form(path, form).await).await
    }

    /// A console form as the signed-in browser submits it: with this session's CSRF token.
    pub async fn submit<T: DeserializeOwned>(&self, path: &str, form: &[(&str, &str)]) -> Result<T, app::AppError> {
        let csrf = self.csrf().await;
        let mut with_token = vec![("_csrf", csrf.as_str())];
        with_token.extend_from_slice(form);
        self.post_fn(path, &with_token).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn csrf(&self) -> String {
        let session: model::SessionInfo = self.get_fn("/api/session").await.unwrap();
        session.csrf
    }

    pub async fn login(&self, username: &str, password: &str) -> model::LoginResult {
        let csrf = self.csrf().await;
        self.post_fn("/api/login", &[("_csrf", &csrf), ("username", username), ("password", password), ("next", "")])
            .await
            .unwrap()
    }

    pub async fn login_as_demo_admin(&self) {
        let result = self.login(server::demo::ADMIN_USERNAME, server::demo::ADMIN_PASSWORD).await;
        assert_eq!(result, model::LoginResult::SignedIn);
    }

    /// Another instance of the server on the same database and encryption key, as a second
    /// machine behind a load balancer would be.
    pub async fn second_instance(&self) -> TestApp {
        let mut settings = (*self.state.settings).clone();
        settings.site_addr = "127.0.0.1:0".parse().unwrap();
        let leptos_options = LeptosOptions::builder().output_name("iap").site_addr(settings.site_addr).build();
        let app = Application::build(settings, leptos_options).await.expect("second instance starts");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            client: new_client(),
            db: state.db.clone(),
            state,
            _data_dir: TempDir(std::env::temp_dir().join(unique_name())),
        }
    }

    /// A second browser on the same server, with its own cookies.
    pub fn another_browser(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            client: new_client(),
            db: self.db.clone(),
            state: self.state.clone(),
            _data_dir: TempDir(std::env::temp_dir().join(unique_name())),
        }
    }

    /// A console user with the given role, and a client signed in as that user.
    pub async fn signed_in_as(&self, role: model::Role) -> TestApp {
        let username = format!("{}-user", role.as_str().to_lowercase());
        server::users::upsert(&self.db, &username, "a long enough password".into(), role, true).await.unwrap();
        let other = self.another_browser();
        assert_eq!(other.login(&username, "a long enough password").await, model::LoginResult::SignedIn);
        other
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(self.db.pool()).await.unwrap()
    }
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, app::AppError> {
    let ok = response.status().is_success() || response.status().is_redirection();
    let body = response.text().await.unwrap();
    if ok {
        Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("decoding {body}: {e}")))
    } else {
        Err(serde_json::from_str(&body).unwrap_or_else(|e| panic!("decoding error {body}: {e}")))
    }
}
