//! What a process is started with: typed settings with defaults, overridden
//! by environment variables or command-line flags (clap reads both). Secrets
//! are never printed. This module imports nothing from the rest of the crate;
//! each part turns its own settings into what it runs with.

mod hosts;
mod proxies;
mod redact;

pub use hosts::{unbracketed, AllowedHost};
pub use proxies::TrustedProxy;
pub use redact::{url_without_password, Secret};

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

/// The database, and its connection pool.
#[derive(Clone, Args)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (the default, a file created on first start) or `postgres://…`.
    #[arg(
        long = "database-url",
        env = "WEFT_DATABASE_URL",
        default_value = "sqlite://data/weft.db",
        hide_env_values = true
    )]
    pub url: String,
    #[command(flatten)]
    pub pool: PoolSettings,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &url_without_password(&self.url))
            .field("pool", &self.pool)
            .finish()
    }
}

/// Pool limits: the equivalents of pool_size / max_overflow / pool_timeout /
/// pool_recycle in other ecosystems. Defaults depend on the backend.
#[derive(Debug, Clone, Args)]
pub struct PoolSettings {
    /// Most connections open at once (default: 8 on SQLite, 20 on PostgreSQL).
    #[arg(long = "db-max-connections", env = "WEFT_DB_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Connections kept open even when idle.
    #[arg(long = "db-min-connections", env = "WEFT_DB_MIN_CONNECTIONS", default_value_t = 1)]
    pub min_connections: u32,
    /// How long a query waits for a free connection before failing.
    #[arg(long = "db-acquire-timeout-ms", env = "WEFT_DB_ACQUIRE_TIMEOUT_MS", default_value = "5000", value_parser = parse_ms)]
    pub acquire_timeout: Duration,
    /// Idle connections above the minimum are closed after this long.
    #[arg(long = "db-idle-timeout-ms", env = "WEFT_DB_IDLE_TIMEOUT_MS", default_value = "600000", value_parser = parse_ms)]
    pub idle_timeout: Duration,
    /// Connections are replaced after this long (recycling).
    #[arg(long = "db-max-lifetime-ms", env = "WEFT_DB_MAX_LIFETIME_MS", default_value = "1800000", value_parser = parse_ms)]
    pub max_lifetime: Duration,
    /// Statements slower than this are logged with their duration.
    #[arg(long = "db-slow-query-ms", env = "WEFT_DB_SLOW_QUERY_MS", default_value = "200", value_parser = parse_ms)]
    pub slow_query: Duration,
    /// SQLite only: how long a writer waits for the write lock.
    #[arg(long = "db-busy-timeout-ms", env = "WEFT_DB_BUSY_TIMEOUT_MS", default_value = "5000", value_parser = parse_ms)]
    pub busy_timeout: Duration,
}

fn parse_ms(text: &str) -> Result<Duration, String> {
    text.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("`{text}` is not a number of milliseconds"))
}

impl PoolSettings {
    pub fn apply<DB: sqlx::Database>(
        &self,
        options: sqlx::pool::PoolOptions<DB>,
        default_max: u32,
    ) -> sqlx::pool::PoolOptions<DB> {
        let max = self.max_connections.unwrap_or(default_max).max(1);
        options
            .max_connections(max)
            .min_connections(self.min_connections.min(max))
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DatabaseSettings {
    /// For tests and tools: these settings with every pool default.
    pub fn with_url(url: impl Into<String>) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            pool: PoolSettings,
        }
        let defaults = Defaults::try_parse_from(["weft"]).expect("pool defaults parse");
        Self { url: url.into(), pool: defaults.pool }
    }

    /// The backend, chosen once from the URL's scheme.
    pub fn backend(&self) -> anyhow::Result<Backend> {
        let scheme = self.url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => bail!("unsupported database URL scheme `{scheme}`: use sqlite://PATH or postgres://…"),
        }
    }
}

/// Where the site settings (address, static files) come from.
#[derive(Debug, Clone, Args)]
pub struct SiteSettings {
    /// The Leptos site configuration read at start (see README).
    #[arg(long = "site-config", env = "WEFT_SITE_CONFIG", default_value = "Leptos.toml")]
    pub site_config: PathBuf,
    /// Listen address; overrides `site-addr` from the site configuration.
    #[arg(long = "addr", env = "WEFT_ADDR")]
    pub addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub limits: HttpLimits,
    #[command(flatten)]
    pub triggers: TriggerSettings,
    #[command(flatten)]
    pub retention: RetentionSettings,
    #[command(flatten)]
    pub edge: EdgeSettings,
}

/// How the process meets the network: the address browsers reach it at, the
/// proxies in front of it, who may read `/metrics`.
#[derive(Debug, Clone, Default, Args)]
pub struct EdgeSettings {
    /// The address browsers use to reach Weft (`https://weft.example.com`).
    /// When it is `https`, the session cookie is `Secure`.
    #[arg(long = "public-url", env = "WEFT_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Reverse proxies in front of Weft, comma-separated addresses or networks
    /// (`10.0.0.5,fd00::/8`). Only a request whose TCP peer is one of them has
    /// its client address taken from `X-Forwarded-For`.
    #[arg(long = "trusted-proxies", env = "WEFT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// A token `/metrics` requires, as `Authorization: Bearer <token>`. Without
    /// one, `/metrics` answers only requests from this machine's loopback
    /// addresses that no proxy forwarded.
    #[arg(long = "metrics-token", env = "WEFT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
}

/// Webhook and cron behaviour.
#[derive(Debug, Clone, Args)]
pub struct TriggerSettings {
    /// Cache what webhook paths run (turn off only to measure the cache).
    #[arg(long = "webhook-cache", env = "WEFT_WEBHOOK_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_cache: bool,
    /// How often the cron scheduler looks for due schedules; 0 turns it off.
    #[arg(long = "cron-tick-ms", env = "WEFT_CRON_TICK_MS", default_value = "1000", value_parser = parse_ms)]
    pub cron_tick: Duration,
    /// The shortest interval between two firings of one schedule, in seconds:
    /// faster schedules are refused when saved, and a stored one is tried at most once per interval.
    #[arg(long = "cron-min-interval-secs", env = "WEFT_CRON_MIN_INTERVAL_SECS", default_value_t = 60)]
    pub cron_min_interval_secs: u64,
    /// Calls a second one webhook path takes in this process (bursts of twice that); 0: no limit.
    #[arg(
        long = "webhook-calls-per-path-per-second",
        env = "WEFT_WEBHOOK_CALLS_PER_PATH_PER_SECOND",
        default_value_t = 100
    )]
    pub webhook_calls_per_path_per_second: u32,
    /// Calls a second all of one user's webhooks take in this process (bursts of twice that); 0: no limit.
    #[arg(
        long = "webhook-calls-per-user-per-second",
        env = "WEFT_WEBHOOK_CALLS_PER_USER_PER_SECOND",
        default_value_t = 300
    )]
    pub webhook_calls_per_user_per_second: u32,
    /// Request headers a webhook keeps in the run's input besides the built-in
    /// harmless ones (content type, user agent, event names…), comma-separated.
    #[arg(long = "webhook-headers", env = "WEFT_WEBHOOK_HEADERS", value_delimiter = ',', value_parser = parse_header_name)]
    pub webhook_headers: Vec<String>,
}

impl EdgeSettings {
    /// Whether browsers reach Weft over HTTPS (the public URL says so).
    pub fn served_over_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

/// An `http` or `https` URL with a host, as `url` writes it (scheme in lower
/// case). Kept as text: a parsed `Url` would make the settings large.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` is not an http(s) URL with a host (https://weft.example.com)"));
    }
    Ok(url.to_string())
}

/// A header name as HTTP spells it (lower case), or why it is not one.
fn parse_header_name(text: &str) -> Result<String, String> {
    let name = text.trim().to_ascii_lowercase();
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(name)
    } else {
        Err(format!("`{text}` is not a header name"))
    }
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self {
            webhook_cache: true,
            cron_tick: Duration::from_secs(1),
            cron_min_interval_secs: 60,
            webhook_calls_per_path_per_second: 100,
            webhook_calls_per_user_per_second: 300,
            webhook_headers: Vec::new(),
        }
    }
}

/// Limits on every HTTP request.
#[derive(Debug, Clone, Args)]
pub struct HttpLimits {
    /// Largest request body accepted (413 above it).
    #[arg(long = "max-body-bytes", env = "WEFT_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest a request may take to answer (408 after it); streams are not cut.
    #[arg(long = "request-timeout-ms", env = "WEFT_REQUEST_TIMEOUT_MS", default_value = "300000", value_parser = parse_ms)]
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { max_body_bytes: 2 * 1024 * 1024, request_timeout: Duration::from_secs(300) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_follows_the_url_scheme() {
        assert_eq!(DatabaseSettings::with_url("sqlite://data/weft.db").backend().unwrap(), Backend::Sqlite);
        assert_eq!(DatabaseSettings::with_url("postgres://u@h/db").backend().unwrap(), Backend::Postgres);
        assert_eq!(DatabaseSettings::with_url("postgresql://u@h/db").backend().unwrap(), Backend::Postgres);
    }

    #[test]
    fn an_unknown_scheme_is_a_clear_error() {
        let error = DatabaseSettings::with_url("mysql://h/db").backend().unwrap_err().to_string();
        assert_eq!(error, "unsupported database URL scheme `mysql`: use sqlite://PATH or postgres://…");
    }

    #[test]
    fn the_public_url_is_an_http_or_https_url() {
        assert_eq!(parse_public_url(" HTTPS://Weft.Example.com ").unwrap(), "https://weft.example.com/");
        assert!(parse_public_url("http://127.0.0.1:3000").is_ok());
        for bad in ["weft.example.com", "ftp://weft.example.com", "https://", "file:///tmp"] {
            assert!(parse_public_url(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn webhook_header_names_are_checked_and_lower_cased() {
        assert_eq!(parse_header_name(" X-Shopify-Topic ").unwrap(), "x-shopify-topic");
        assert_eq!(parse_header_name("x y").unwrap_err(), "`x y` is not a header name");
        assert!(parse_header_name("").is_err());
    }

    #[test]
    fn pool_defaults_are_sensible() {
        let settings = DatabaseSettings::with_url("sqlite://x.db");
        assert_eq!(settings.pool.max_connections, None);
        assert_eq!(settings.pool.acquire_timeout, Duration::from_secs(5));
    }
}

/// What a `weft serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Serves the web app and API; executions it starts go to the queue for workers.
    Web,
    /// Runs executions from the queue (and cron schedules); serves only
    /// `/healthz`, `/readyz` and `/metrics`.
    Worker,
    /// Both (the default, and what a single process needs).
    All,
}

/// How this process takes part in the shared execution queue.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    #[arg(long = "role", env = "WEFT_ROLE", value_enum, default_value = "all")]
    pub role: Role,
    /// Executions running in this process at once; more wait in the queue.
    #[arg(long = "max-running-executions", env = "WEFT_MAX_RUNNING_EXECUTIONS", default_value_t = 512)]
    pub max_running_executions: usize,
    /// How long a lease on a running execution lasts without renewal: the
    /// executions of a process that dies are taken over about this long after
    /// its last renewal (renewals happen every quarter lease).
    #[arg(long = "lease-ms", env = "WEFT_LEASE_MS", default_value = "20000", value_parser = parse_lease)]
    pub lease: Duration,
    /// At shutdown, how long running nodes may take to finish before the rest
    /// of their executions is handed back to the queue.
    #[arg(long = "shutdown-grace-ms", env = "WEFT_SHUTDOWN_GRACE_MS", default_value = "10000", value_parser = parse_ms)]
    pub shutdown_grace: Duration,
}

fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = parse_ms(text)?;
    if lease < Duration::from_millis(400) {
        return Err(format!("a lease of {text} ms is too short to renew in time (at least 400)"));
    }
    Ok(lease)
}

/// How runs are executed: concurrency limits and the node kinds' settings.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Nodes of one execution running at once.
    #[arg(long = "max-parallel-nodes", env = "WEFT_MAX_PARALLEL_NODES", default_value_t = 16)]
    pub max_parallel_nodes: usize,
    /// Nodes running at once across all executions of this process.
    #[arg(long = "max-running-nodes", env = "WEFT_MAX_RUNNING_NODES", default_value_t = 256)]
    pub max_running_nodes: usize,
    /// The share of this process's running executions and running-node slots
    /// one user's runs may hold, in percent: the rest stays for other users'
    /// runs (a user's further runs wait in the queue while others' are claimed).
    #[arg(long = "max-user-share-percent", env = "WEFT_MAX_USER_SHARE_PERCENT", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_user_share_percent: u32,
    /// Event streams (live run views) one user may hold open in each process.
    #[arg(long = "max-event-streams-per-user", env = "WEFT_MAX_EVENT_STREAMS_PER_USER", default_value_t = 32)]
    pub max_event_streams_per_user: usize,
    /// The largest output one node may produce (as JSON); a bigger one fails the node.
    #[arg(long = "max-node-output-bytes", env = "WEFT_MAX_NODE_OUTPUT_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_node_output_bytes: usize,
    /// The most items one node with `for_each` may run; a longer list fails the node.
    #[arg(long = "max-for-each-items", env = "WEFT_MAX_FOR_EACH_ITEMS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_for_each_items: u64,
    /// How deep workflows may call workflows (`workflow` nodes): a run at
    /// this depth cannot start another, which stops runaway recursion.
    #[arg(long = "max-workflow-depth", env = "WEFT_MAX_WORKFLOW_DEPTH",
          default_value_t = app::model::node_config::DEFAULT_MAX_WORKFLOW_DEPTH,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_workflow_depth: u32,
    /// OpenAI-compatible API base URL (OpenAI, Ollama, vLLM, llama.cpp).
    #[arg(long = "llm-base-url", env = "WEFT_LLM_BASE_URL", default_value = "https://api.openai.com/v1")]
    pub llm_base_url: String,
    #[arg(long = "llm-api-key", env = "WEFT_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<Secret>,
    #[arg(long = "llm-model", env = "WEFT_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,
    #[arg(long = "llm-timeout-ms", env = "WEFT_LLM_TIMEOUT_MS", default_value = "120000", value_parser = parse_ms)]
    pub llm_timeout: Duration,
    #[arg(long = "llm-max-concurrency", env = "WEFT_LLM_MAX_CONCURRENCY", default_value_t = 16)]
    pub llm_max_concurrency: usize,
    #[arg(long = "llm-cache-ttl-ms", env = "WEFT_LLM_CACHE_TTL_MS", default_value = "86400000", value_parser = parse_ms)]
    pub llm_cache_ttl: Duration,
    #[arg(long = "llm-cache-capacity", env = "WEFT_LLM_CACHE_CAPACITY", default_value_t = 10_000)]
    pub llm_cache_capacity: u64,
    /// Let users share cached LLM answers (off: each user has their own, so a
    /// cached answer tells nobody what another user asked).
    #[arg(long = "llm-cache-shared", env = "WEFT_LLM_CACHE_SHARED")]
    pub llm_cache_shared: bool,
    /// Let `http` nodes reach loopback addresses (127.0.0.0/8, ::1).
    #[arg(long = "http-allow-loopback", env = "WEFT_HTTP_ALLOW_LOOPBACK")]
    pub http_allow_loopback: bool,
    /// Let `http` nodes reach private, link-local and metadata addresses.
    #[arg(long = "http-allow-private", env = "WEFT_HTTP_ALLOW_PRIVATE")]
    pub http_allow_private: bool,
    /// Hosts `http` nodes may reach whatever their address, comma-separated:
    /// `name`, `name:port`, `10.0.0.5:8080`, `[fd00::1]:443`.
    #[arg(long = "http-allow-hosts", env = "WEFT_HTTP_ALLOW_HOSTS", value_delimiter = ',')]
    pub http_allow_hosts: Vec<AllowedHost>,
    /// A proxy for every `http` node request (`http://proxy:3128`). It resolves
    /// names itself, past the address guard. `HTTP_PROXY` and friends are ignored.
    #[arg(long = "http-proxy", env = "WEFT_HTTP_PROXY")]
    pub http_proxy: Option<String>,
    #[arg(long = "http-max-body-bytes", env = "WEFT_HTTP_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub http_max_body_bytes: usize,
    /// Fuel one template render may use before it is stopped (minijinja:
    /// steps, plus bytes built and items iterated).
    #[arg(long = "template-fuel", env = "WEFT_TEMPLATE_FUEL", default_value_t = 20_000_000)]
    pub template_fuel: u64,
    /// The longest text one template may render.
    #[arg(long = "template-max-output-bytes", env = "WEFT_TEMPLATE_MAX_OUTPUT_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub template_max_output_bytes: usize,
    #[arg(long = "code-memory-limit-mb", env = "WEFT_CODE_MEMORY_LIMIT_MB", default_value_t = 64)]
    pub code_memory_limit_mb: usize,
    #[arg(long = "code-time-limit-ms", env = "WEFT_CODE_TIME_LIMIT_MS", default_value = "5000", value_parser = parse_ms)]
    pub code_time_limit: Duration,
    #[command(flatten)]
    pub secret_key: SecretKeyArgs,
}

impl EngineArgs {
    /// Where the sealing key comes from.
    pub fn secret_key_source(&self) -> SecretKeySource {
        self.secret_key.source()
    }
}

/// The key that seals secrets stored in the database (the LLM API key,
/// credentials), and during a rotation the one it replaces.
#[derive(Debug, Clone, Args)]
pub struct SecretKeyArgs {
    /// The key (64 hex digits). Every process sharing a database needs the same one.
    #[arg(id = "secret_key", long = "secret-key", env = "WEFT_SECRET_KEY", hide_env_values = true)]
    pub key: Option<Secret>,
    /// Without `--secret-key`: a file holding it, created on first start.
    #[arg(
        id = "secret_key_file",
        long = "secret-key-file",
        env = "WEFT_SECRET_KEY_FILE",
        default_value = "data/secret.key"
    )]
    pub file: std::path::PathBuf,
    /// While rotating: the key being replaced. Secrets sealed under it still
    /// open; everything new is sealed under the current key, and
    /// `weft secrets rotate` re-seals the rest.
    #[arg(
        id = "secret_key_previous",
        long = "secret-key-previous",
        env = "WEFT_SECRET_KEY_PREVIOUS",
        hide_env_values = true
    )]
    pub previous: Option<Secret>,
}

impl SecretKeyArgs {
    pub fn source(&self) -> SecretKeySource {
        SecretKeySource { key_hex: self.key.clone(), file: self.file.clone(), previous_hex: self.previous.clone() }
    }
}

/// Where the sealing key comes from: `key_hex` if given, else `file` (created
/// with a new random key on first start, readable by its owner only); and the
/// key being rotated away from, if any.
#[derive(Debug, Clone)]
pub struct SecretKeySource {
    pub key_hex: Option<Secret>,
    pub file: PathBuf,
    pub previous_hex: Option<Secret>,
}

impl Default for SecretKeySource {
    fn default() -> Self {
        Self { key_hex: None, file: PathBuf::from("data/secret.key"), previous_hex: None }
    }
}

/// Retention of finished executions.
#[derive(Debug, Clone, Args)]
pub struct RetentionSettings {
    /// Delete finished executions older than this many days (0: keep forever).
    #[arg(long = "retention-max-age-days", env = "WEFT_RETENTION_MAX_AGE_DAYS", default_value_t = 30)]
    pub max_age_days: u32,
    /// Keep at most this many finished executions per workflow (0: no limit).
    #[arg(long = "retention-max-per-workflow", env = "WEFT_RETENTION_MAX_PER_WORKFLOW", default_value_t = 1000)]
    pub max_per_workflow: u32,
    /// How often retention runs, in seconds (0: never).
    #[arg(long = "retention-interval-secs", env = "WEFT_RETENTION_INTERVAL_SECS", default_value_t = 300)]
    pub interval_secs: u64,
    /// Executions deleted per transaction (small: on SQLite, each batch holds the writer).
    #[arg(long = "retention-batch", env = "WEFT_RETENTION_BATCH", default_value_t = 100)]
    pub batch: u32,
    /// The most of the time retention may spend deleting (1–100 %).
    #[arg(long = "retention-duty-percent", env = "WEFT_RETENTION_DUTY_PERCENT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub duty_percent: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { max_age_days: 30, max_per_workflow: 1000, interval_secs: 300, batch: 100, duty_percent: 10 }
    }
}
