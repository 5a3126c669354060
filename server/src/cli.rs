//! The server binary's commands.
use std::{io::BufRead, net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use leptos::config::{get_configuration, LeptosOptions};
use model::Role;

use crate::{
    audit,
    config::{Overrides, Settings},
    db::redact,
    demo,
    reference_client::{self, ConsumeBy},
    services,
    startup::Application,
    telemetry, users, Error,
};

#[derive(Parser)]
#[command(name = "server", version, about = "Self-hosted in-app purchase server with a support console")]
pub struct Cli {
    /// A TOML settings file (default: ./iap.toml when it exists).
    #[arg(long, global = true, env = "IAP_CONFIG")]
    config: Option<PathBuf>,
    /// The database: sqlite://FILE or postgres://… (overrides DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// The address to listen on (overrides LEPTOS_SITE_ADDR).
    #[arg(long, global = true)]
    addr: Option<SocketAddr>,
    /// Log JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the console (the default).
    Serve {
        /// Seed the demo project first if the database has no project yet, and serve the store
        /// fakes its apps use (on port 4010 when free).
        #[arg(long)]
        seed_demo: bool,
        /// With --seed-demo: make this many purchases through the API when the database has none.
        #[arg(long, default_value_t = 0)]
        demo_history: usize,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Create a console administrator, or reset its password; the password is read from standard input.
    CreateAdmin {
        #[arg(long)]
        username: String,
    },
    /// Seed the demo project, its store apps, items and console user (safe to repeat).
    Demo,
    /// Add generated payment history to the demo project (for trying the console, and the search
    /// benchmarks, at production size). Never against a production database.
    Seed {
        /// How many payments to add.
        #[arg(long, default_value_t = 100_000)]
        payments: u64,
        /// Distinct users (default: one per eight payments).
        #[arg(long, default_value_t = 0)]
        users: u64,
        /// Spread over this many days before now.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// The local store fakes.
    Stores {
        #[command(subcommand)]
        command: StoresCommand,
    },
    /// The reference client: plays the app and its server against this server and the store
    /// fakes, printing every request and answer.
    Client(ClientArgs),
}

#[derive(clap::Args)]
struct ClientArgs {
    /// This server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    api: String,
    /// The store fakes' base URL.
    #[arg(long, default_value = "http://127.0.0.1:4010")]
    stores: String,
    #[arg(long, default_value = demo::APP_KEY)]
    app_key: String,
    #[arg(long, default_value = demo::SECRET_KEY)]
    secret_key: String,
    /// The app's package name / bundle id.
    #[arg(long, default_value = demo::PACKAGE)]
    package: String,
    /// Print only the outcome, not every request and answer.
    #[arg(long)]
    quiet: bool,
    #[command(subcommand)]
    action: ClientAction,
}

/// Who buys what where.
#[derive(clap::Args)]
struct Item {
    #[arg(long)]
    user: String,
    /// GG, AS or ONESTORE.
    #[arg(long)]
    store: String,
    #[arg(long)]
    product: String,
}

#[derive(Subcommand)]
enum ClientAction {
    /// Items → reserve → pay in the store fake → verify → consume.
    Buy {
        #[command(flatten)]
        item: Item,
        #[arg(long, value_enum, default_value_t = ConsumeBy::Server)]
        consume: ConsumeBy,
    },
    /// A purchase that starts in the store (promo code, promoted purchase): no reservation.
    Redeem {
        #[command(flatten)]
        item: Item,
    },
    /// The user's unconsumed payments, as the app's server lists them.
    Unconsumed {
        #[arg(long)]
        user: String,
    },
    /// The user's active subscriptions.
    Subscriptions {
        #[arg(long)]
        user: String,
    },
    /// Many purchases over every store and item, some refunded: realistic history.
    History {
        #[arg(long, default_value_t = 300)]
        count: usize,
    },
}

#[derive(Subcommand)]
enum StoresCommand {
    /// Serve the store fakes on one port until stopped: Google Play under /google, the App Store
    /// under /apple, ONE store under /onestore, each with its control API under <prefix>/fake.
    Serve {
        #[arg(long, default_value_t = 4010)]
        port: u16,
        /// A ONE store client to accept, as CLIENT_ID:SECRET (repeatable).
        #[arg(long = "onestore-client")]
        onestore_clients: Vec<String>,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        config_file: cli.config,
        database_url: cli.database_url,
        site_addr: cli.addr,
        log_json: cli.log_json,
    };
    let settings = match Settings::load(&overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve { seed_demo: false, demo_history: 0 }) {
        Command::Serve { seed_demo, demo_history } => serve(settings, seed_demo, demo_history).await,
        Command::Migrate => migrate(settings).await,
        Command::CreateAdmin { username } => create_admin(settings, &username).await,
        Command::Demo => seed_demo_now(settings).await,
        Command::Seed { payments, users, days } => {
            seed_payments(settings, crate::seed::Plan { payments, users, days, ..Default::default() }).await
        }
        Command::Stores { command: StoresCommand::Serve { port, onestore_clients } } => {
            serve_fakes(port, &onestore_clients).await
        }
        Command::Client(args) => run_client(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The site settings cargo-leptos compiled in, with our listen address.
fn leptos_options(settings: &Settings) -> LeptosOptions {
    let mut options = get_configuration(None)
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("iap").build());
    options.site_addr = settings.site_addr;
    options
}

async fn serve(mut settings: Settings, seed_demo: bool, demo_history: usize) -> Result<(), Error> {
    let database = redact(&settings.database_url());
    // The demo's store fakes are up before the server, which checks Google pushes with their keys.
    let fakes = match seed_demo {
        true => Some(serve_demo_fakes().await?),
        false => None,
    };
    if let Some((_, base)) = &fakes {
        settings.stores.google_push_keys_url = demo::push_keys_url(base);
        demo::allow_the_fakes(&mut settings);
    }
    let app = Application::build(settings.clone(), leptos_options(&settings)).await?;
    let addr = app.local_addr();
    if let Some((fakes, base)) = fakes {
        seed_and_connect_demo(&app, fakes, &base, demo_history).await?;
    }
    tracing::info!(%addr, database, "serving");
    println!("IAP console: http://{addr}/");
    app.run_until_stopped().await.map_err(|e| Error::Other(format!("server: {e}")))
}

/// The store fakes of the demo, on port 4010 when it is free; their base URL.
async fn serve_demo_fakes() -> Result<(crate::fakes::Fakes, String), Error> {
    let fakes = crate::fakes::Fakes::new();
    let router = fakes.router();
    let base = match crate::fakes::serve(router.clone(), 4010).await {
        Ok(base) => base,
        Err(_) => crate::fakes::serve(router, 0).await.map_err(|e| Error::Other(format!("store fakes: {e}")))?,
    };
    Ok((fakes, base))
}

/// Seeds the demo if the database is empty and points its store apps at the fakes; with
/// `history`, fills an empty payment table through the API once serving.
async fn seed_and_connect_demo(
    app: &Application,
    fakes: crate::fakes::Fakes,
    base: &str,
    history: usize,
) -> Result<(), Error> {
    let services = app.state().services.clone();
    if crate::projects::count(&services.db).await? == 0 {
        demo::seed(&services.db, &services.cipher).await?;
    }
    if users::find_by_username(&services.db, demo::ADMIN_USERNAME).await?.is_some() {
        demo::print_login();
    }
    if crate::projects::find_id_by_name(&services.db, demo::PROJECT_NAME).await?.is_none() {
        return Ok(());
    }
    demo::connect_fakes(&services, &fakes, base).await?;
    let server_base = format!("http://{}", app.local_addr());
    demo::notify_server(&fakes, &server_base);
    println!("store fakes for the demo apps: {base} (try: server client buy --user u1 --store GG --product gem_100)");
    let payments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments").fetch_one(services.db.pool()).await?;
    if history > 0 && payments == 0 {
        let target = reference_client::Target {
            api: server_base,
            stores: base.to_string(),
            app_key: demo::APP_KEY.into(),
            secret_key: demo::SECRET_KEY.into(),
            package: demo::PACKAGE.into(),
            verbose: false,
        };
        tokio::spawn(async move {
            match reference_client::fill_history(&reference_client::Client::new(target), history).await {
                Ok(made) => tracing::info!(made, "demo history made"),
                Err(err) => tracing::warn!(error = %err, "demo history stopped"),
            }
        });
    }
    Ok(())
}

async fn run_client(args: ClientArgs) -> Result<(), Error> {
    let client = reference_client::Client::new(reference_client::Target {
        api: args.api,
        stores: args.stores,
        app_key: args.app_key,
        secret_key: args.secret_key,
        package: args.package,
        verbose: !args.quiet,
    });
    let outcome = match args.action {
        ClientAction::Buy { item, consume } => client.buy(&item.user, &item.store, &item.product, consume).await?,
        ClientAction::Redeem { item } => client.redeem(&item.user, &item.store, &item.product).await?,
        ClientAction::Unconsumed { user } => client.unconsumed(&user).await?,
        ClientAction::Subscriptions { user } => client.active_subscriptions(&user).await?,
        ClientAction::History { count } => {
            serde_json::json!({ "purchases": reference_client::fill_history(&client, count).await? })
        }
    };
    println!("{}", serde_json::to_string_pretty(&outcome).unwrap_or_default());
    Ok(())
}

async fn migrate(settings: Settings) -> Result<(), Error> {
    let database = redact(&settings.database_url());
    services::prepare(settings).await?;
    println!("migrations applied to {database}");
    Ok(())
}

async fn create_admin(settings: Settings, username: &str) -> Result<(), Error> {
    let services = services::prepare(settings).await?;
    eprintln!("password for {username} (one line on standard input):");
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password).map_err(|e| Error::Other(format!("reading the password: {e}")))?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    let (id, created) = users::upsert(&services.db, username, password, Role::Admin, true).await?;
    let action = if created { "user.create" } else { "user.reset_password" };
    audit::record(&services.db, audit::Entry::anonymous("cli", action).target("console_user", id)).await?;
    println!(
        "{} administrator {}",
        if created { "created" } else { "reset the password of" },
        users::normalize_username(username)
    );
    Ok(())
}

async fn seed_demo_now(settings: Settings) -> Result<(), Error> {
    let services = services::prepare(settings).await?;
    demo::seed(&services.db, &services.cipher).await?;
    demo::print_login();
    Ok(())
}

async fn seed_payments(settings: Settings, plan: crate::seed::Plan) -> Result<(), Error> {
    let services = services::prepare(settings).await?;
    let started = std::time::Instant::now();
    let seeded = crate::seed::payments(&services, &plan).await?;
    let secs = started.elapsed().as_secs_f64();
    println!("added {} payments in {secs:.1} s ({:.0} per second)", seeded.inserted, seeded.inserted as f64 / secs);
    Ok(())
}

async fn serve_fakes(port: u16, onestore_clients: &[String]) -> Result<(), Error> {
    let fakes = crate::fakes::Fakes::new();
    for client in onestore_clients {
        let (id, secret) = client
            .split_once(':')
            .ok_or_else(|| Error::Invalid(format!("--onestore-client wants CLIENT_ID:SECRET, got {client}")))?;
        fakes.onestore.add_client(id, secret);
    }
    let base = crate::fakes::serve(fakes.router(), port)
        .await
        .map_err(|e| Error::Other(format!("binding port {port}: {e}")))?;
    println!("store fakes on {base}:");
    println!("  Google Play  API root {base}/google, token endpoint {base}/google/token");
    println!("               a service-account key: POST {base}/google/fake/service-accounts");
    println!("  App Store    {base}/apple/production and {base}/apple/sandbox (verifyReceipt under each)");
    println!("               an API key: POST {base}/apple/fake/keys; the root to trust: GET {base}/apple/fake/root");
    println!("  ONE store    {base}/onestore; a client: POST {base}/onestore/fake/clients");
    crate::startup::shutdown_signal().await;
    Ok(())
}
