//! `make bench`: the figures of BENCHMARKS.md, measured in one run on this machine. Prints a table
//! and writes every figure as JSON (default `bench-results.json`).
//!
//! cargo bench -p server --bench iap -- [--quick] [--only consume,apple,verify,notifications,search,page]
//!     [--engines sqlite,postgres] [--out FILE]
//! PostgreSQL: IAP_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432; "" skips it).
mod apple;
mod consume;
mod notifications;
mod page;
mod search;
mod verify;

use serde::Serialize;
use server::services::Services;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }

    /// The PostgreSQL server URL for PostgreSQL, None for SQLite.
    pub fn postgres_url(self) -> Option<&'static str> {
        match self {
            Engine::Sqlite => None,
            Engine::Postgres => Some(postgres().expect("PostgreSQL is configured")),
        }
    }
}

fn postgres() -> Option<&'static str> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("IAP_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        (!url.is_empty()).then_some(url)
    })
    .as_deref()
}

#[derive(Serialize)]
pub struct Figure {
    section: String,
    name: String,
    value: f64,
    unit: String,
    target: Option<String>,
    met: Option<bool>,
}

#[derive(Serialize, Default)]
pub struct Report {
    machine: String,
    started: String,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, section: &str, name: &str, value: f64, unit: &str, target: Option<(&str, bool)>) {
        let figure = Figure {
            section: section.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            target: target.map(|(t, _)| t.into()),
            met: target.map(|(_, met)| met),
        };
        println!("  {:<58} {:>12} {:<8} {}", figure.name, format_value(value), unit, verdict(&figure));
        self.figures.push(figure);
    }

    pub fn note(&mut self, section: &str, note: &str) {
        println!("  note: {note}");
        self.notes.push(format!("{section}: {note}"));
    }

    /// Writes what is measured so far: a run cut short keeps its figures.
    fn save(&self, path: &str) {
        std::fs::write(path, serde_json::to_string_pretty(self).expect("JSON")).expect("the results file");
    }

    fn print_table(&self) {
        let mut section = "";
        println!("\n{:<58} {:>12} {:<8} target", "figure", "value", "unit");
        for f in &self.figures {
            if f.section != section {
                section = &f.section;
                println!("\n## {section}");
            }
            println!("{:<58} {:>12} {:<8} {}", f.name, format_value(f.value), f.unit, verdict(f));
        }
        for note in &self.notes {
            println!("note: {note}");
        }
    }
}

fn format_value(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

fn verdict(f: &Figure) -> String {
    match (&f.target, f.met) {
        (Some(target), Some(true)) => format!("{target}: met"),
        (Some(target), _) => format!("{target}: MISSED"),
        _ => String::new(),
    }
}

pub async fn demo_project(services: &Services) -> i64 {
    server::projects::find_id_by_name(&services.db, server::demo::PROJECT_NAME)
        .await
        .expect("a query")
        .expect("the demo project")
}

struct Args {
    quick: bool,
    only: Option<Vec<String>>,
    engines: Option<Vec<String>>,
    out: String,
}

fn args() -> Args {
    let mut args = Args { quick: false, only: None, engines: None, out: "bench-results.json".into() };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--only" => args.only = given.next().map(|v| v.split(',').map(String::from).collect()),
            "--out" => args.out = given.next().expect("--out FILE"),
            "--engines" => args.engines = given.next().map(|v| v.split(',').map(String::from).collect()),
            // cargo bench passes --bench.
            _ => {}
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let wants = |part: &str| args.only.as_ref().is_none_or(|only| only.iter().any(|o| o == part));
    let wants_engine = |name: &str| args.engines.as_ref().is_none_or(|only| only.iter().any(|e| e == name));
    let mut engines = Vec::new();
    if wants_engine("sqlite") {
        engines.push(Engine::Sqlite);
    }
    if postgres().is_some() && wants_engine("postgres") {
        engines.push(Engine::Postgres);
    }
    let mut report = Report {
        machine: format!("{} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), os()),
        started: chrono::Utc::now().to_rfc3339(),
        ..Report::default()
    };
    if wants("consume") {
        for &engine in &engines {
            println!("\n## consume ({})", engine.label());
            consume::run(&mut report, engine, args.quick).await;
            report.save(&args.out);
        }
    }
    if wants("apple") {
        println!("\n## Apple JWS verification");
        apple::run(&mut report, args.quick).await;
        report.save(&args.out);
    }
    if wants("verify") {
        for &engine in &engines {
            println!("\n## verify end to end ({})", engine.label());
            verify::run(&mut report, engine, args.quick).await;
            report.save(&args.out);
        }
    }
    if wants("notifications") {
        for &engine in &engines {
            println!("\n## notifications burst ({})", engine.label());
            notifications::run(&mut report, engine, args.quick).await;
            report.save(&args.out);
        }
    }
    if wants("search") {
        for &engine in &engines {
            let sizes: &[u64] = match (engine, args.quick) {
                (_, true) => &[20_000],
                (Engine::Sqlite, false) => &[100_000, 1_000_000],
                (Engine::Postgres, false) => &[100_000, 1_000_000, 10_000_000],
            };
            println!("\n## search ({})", engine.label());
            search::run(&mut report, engine, sizes).await;
            report.save(&args.out);
        }
    }
    if wants("page") {
        println!("\n## page weight");
        page::run(&mut report);
    }
    report.print_table();
    report.save(&args.out);
    println!("\nfigures written to {}", args.out);
}

fn os() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| std::env::consts::OS.into())
}
