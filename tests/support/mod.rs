//! Fresh databases for tests: a temporary SQLite file always, and a new
//! PostgreSQL database per test when `WEFT_TEST_DATABASE_URL` names a server.

#![allow(dead_code)]

pub mod client;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use app::ports::Store;
use sqlx::Connection;
use weft::config::DatabaseSettings;

/// The variable naming a PostgreSQL database the tests may create databases from.
pub const POSTGRES_URL_VAR: &str = "WEFT_TEST_DATABASE_URL";

pub struct TestDb {
    pub settings: DatabaseSettings,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/weft.db", dir.path().display());
        Self { settings: DatabaseSettings::with_url(url), postgres: None, _dir: Some(dir) }
    }

    /// A new, empty database on the configured PostgreSQL server, or `None` when
    /// none is configured. Under CI a missing URL is an error, so the PostgreSQL
    /// half of the suite can never be skipped there by accident.
    pub async fn postgres() -> Option<Self> {
        let admin_url = match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(std::env::var_os("CI").is_none(), "{POSTGRES_URL_VAR} must be set under CI");
                eprintln!("skipped: set {POSTGRES_URL_VAR} to run the PostgreSQL tests");
                return None;
            }
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("weft_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos);
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create a test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self { settings: DatabaseSettings::with_url(url), postgres: Some((admin_url, name)), _dir: None })
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        weft::store::connect(&self.settings).await.expect("open the test store")
    }

    /// Drops the PostgreSQL database (SQLite files go with the temporary directory).
    pub async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
            }
        }
    }
}

/// `postgres://u@h:5432/old?x=y` with the database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (authority, path_and_query) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash + 1..]),
        None => (rest, ""),
    };
    let query = path_and_query.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

/// Declares each listed `async fn name(store: Arc<dyn Store>)` as two tests,
/// `sqlite::name` and `postgres::name`, each on a fresh database.
#[macro_export]
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite();
                    super::$name(db.store().await).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres().await else { return };
                    super::$name(db.store().await).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// Declares each listed `async fn name(db: &TestDb)` as two tests,
/// `sqlite::name` and `postgres::name`, each with a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let db = $crate::support::TestDb::sqlite();
                super::$name(&db).await;
                db.cleanup().await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let Some(db) = $crate::support::TestDb::postgres().await else { return };
                super::$name(&db).await;
                db.cleanup().await;
            })*
        }
    };
}

/// Starts the real server on 127.0.0.1:0 over `db`; returns it and its base URL.
pub async fn start_server(db: &TestDb) -> (weft::server::RunningServer, String) {
    start_server_configured(db, |_| {}).await
}

/// [`start_server`] with the settings changed by `configure` first.
pub async fn start_server_configured(
    db: &TestDb,
    configure: impl FnOnce(&mut weft::server::ServerSettings),
) -> (weft::server::RunningServer, String) {
    start_server_configured_site(db, configure, |_| {}).await
}

/// [`start_server_configured`], and the site options (where static files are
/// served from…) changed by `configure_site`.
pub async fn start_server_configured_site(
    db: &TestDb,
    configure: impl FnOnce(&mut weft::server::ServerSettings),
    configure_site: impl FnOnce(&mut leptos::prelude::LeptosOptions),
) -> (weft::server::RunningServer, String) {
    capture_logs();
    let site = weft::config::SiteSettings {
        site_config: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Leptos.toml"),
        addr: Some("127.0.0.1:0".parse().unwrap()),
        limits: weft::config::HttpLimits { max_body_bytes: 64 * 1024, ..Default::default() },
        triggers: weft::config::TriggerSettings {
            cron_tick: std::time::Duration::from_millis(100),
            ..Default::default()
        },
        retention: Default::default(),
        edge: Default::default(),
    };
    let mut options = weft::server::load_site_options(&site).expect("site options");
    configure_site(&mut options);
    let mut engine = weft::engine::EngineSettings::default();
    engine.http.allow_loopback = true;
    let mut settings = weft::server::ServerSettings {
        database: db.settings.clone(),
        engine,
        secret_key: Default::default(),
        role: weft::config::Role::All,
        limits: site.limits,
        triggers: site.triggers,
        edge: site.edge,
    };
    configure(&mut settings);
    let running = weft::server::start(settings, options).await.expect("the server starts");
    let base = format!("http://{}", running.addr);
    (running, base)
}

/// A small valid definition named `name`.
pub fn definition(name: &str) -> app::model::WorkflowDefinition {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "nodes": [
            {"id": "greet", "type": "template", "config": {"template": "Hello {{ input.who }}"}},
            {"id": "wait", "type": "delay", "config": {"ms": 10}}
        ],
        "edges": [{"from": "greet", "to": "wait"}]
    }))
    .expect("a valid test definition")
}

/// The longest any test request may take: a server that stops answering fails
/// the test with a timeout instead of stalling the whole suite.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The password of every user the tests create.
pub const PASSWORD: &str = "password-123";

/// A client that does not follow redirects (so tests see them) and carries
/// `cookie` (a session) when given.
pub fn browser(cookie: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(cookie) = cookie {
        headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    }
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

/// Signs in through the sign-in server function; the client carries the session.
pub async fn sign_in(base: &str, email: &str, password: &str) -> Result<reqwest::Client, reqwest::Response> {
    client::Browser::sign_in(base, email, password).await.map(client::Browser::into_client)
}

/// `weft_session=…` from a response's `Set-Cookie`.
pub fn session_cookie_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("weft_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// Creates a user (through the store) and signs them in.
pub async fn signed_in_user(store: &dyn app::ports::Store, base: &str, email: &str, admin: bool) -> reqwest::Client {
    client::Browser::signed_in_user(store, base, email, admin).await.into_client()
}

/// Everything the database holds, as text: every row of every table
/// (PostgreSQL), or the SQLite file and its write-ahead log byte for byte.
/// What a secret is looked for in.
pub async fn everything_stored(db: &TestDb) -> String {
    use sqlx::Row;
    let url = db.settings.url.clone();
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let mut all = String::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT t::text FROM \"{table}\" t")).fetch_all(&mut conn).await.unwrap();
            for row in rows {
                all.push_str(&row.get::<String, _>(0));
                all.push('\n');
            }
        }
        all
    } else {
        let path = url.trim_start_matches("sqlite://").split('?').next().unwrap().to_string();
        let mut all = String::new();
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        all
    }
}

/// Every log line the servers of this test binary wrote (every crate, down to
/// debug), for tests that look for a secret in the logs.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Keeps the last few megabytes: a long test binary does not grow it without bound.
const MAX_LOGS: usize = 8 * 1024 * 1024;

struct LogBuffer;

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut logs = LOGS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if logs.len() + bytes.len() > MAX_LOGS {
            let drop = (logs.len() + bytes.len() - MAX_LOGS).min(logs.len());
            logs.drain(..drop);
        }
        logs.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the test binary's log subscriber once: warnings to the test's
/// captured output (shown when a test fails), everything down to debug (from
/// Weft, sqlx, hyper, reqwest…) to [`logs`].
fn capture_logs() {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let to_test_output = tracing_subscriber::fmt::TestWriter::new().with_max_level(tracing::Level::WARN);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .with_writer(to_test_output.and(|| LogBuffer))
        .try_init();
}

/// What [`capture_logs`] kept so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_owned()
}
