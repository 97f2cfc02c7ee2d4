//! The HTTP server: SSR pages, server functions, static files and health checks,
//! behind compression and request tracing.

mod access;
mod assets;
mod credentials;
mod edge;
mod oauth;
mod page_routes;
mod runs;

pub use runs::EngineRuns;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use app::model::{User, LOCAL_USER_EMAIL};
use app::ports::Store;
use app::server_context::ServerContext;
use app::services::sessions::{Accounts, SignInLimits};
use app::services::workflows::Workflows;
use app::{shell, App};
use axum::extract::MatchedPath;
use axum::http::StatusCode;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::api::{self, ApiKeys, ApiState};
use crate::bus::Bus;
use crate::config::{DatabaseSettings, EdgeSettings, HttpLimits, Role, SecretKeySource, SiteSettings, TriggerSettings};
use crate::engine::{Engine, EngineSettings};
use crate::store;
use crate::triggers::webhooks::HookCache;

/// Reads the site settings: `Leptos.toml` when present, then `LEPTOS_*`
/// environment variables over it (cargo-leptos sets those when it runs the server).
pub fn load_site_options(site: &SiteSettings) -> anyhow::Result<LeptosOptions> {
    let config = if Path::new(&site.site_config).exists() {
        let path = site.site_config.to_str().context("the site config path is not UTF-8")?;
        leptos_config::get_configuration(Some(path))
    } else {
        tracing::warn!(path = %site.site_config.display(), "site config not found; using LEPTOS_* variables and defaults");
        leptos_config::get_configuration(None)
    }
    .map_err(|e| anyhow::anyhow!("reading the site configuration: {e}"))?;
    let mut options = config.leptos_options;
    if let Some(addr) = site.addr {
        options.site_addr = addr;
    }
    Ok(options)
}

/// A server that is listening.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    pub hooks: Arc<HookCache>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Cancelled on SIGTERM or Ctrl-C (or by a test): the server stops
    /// accepting requests and the engine starts draining.
    pub stop: tokio_util::sync::CancellationToken,
}

/// What `start` serves with.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub database: DatabaseSettings,
    pub engine: EngineSettings,
    pub secret_key: SecretKeySource,
    pub role: Role,
    pub limits: HttpLimits,
    pub triggers: TriggerSettings,
    pub edge: EdgeSettings,
}

/// Connects the store (migrating it), binds the listen address and serves in a
/// background task. With port 0 the OS picks a free port (tests do this).
pub async fn start(settings: ServerSettings, options: LeptosOptions) -> anyhow::Result<RunningServer> {
    let ServerSettings { database, engine, secret_key, role, limits, triggers, edge } = settings;
    let (database, limits, triggers) = (&database, &limits, &triggers);
    let store = store::connect(database).await?;
    if role != Role::Worker {
        crate::marketplace::install_built_ins(store.as_ref()).await.context("installing the built-in templates")?;
    }
    let signals = Bus::connect(database).await.context("listening for other Weft processes")?;
    let secrets = Arc::new(crate::secrets::SecretBox::load(&secret_key).context("the secret key")?);
    let engine = EngineSettings { public_url: edge.public_url.clone(), ..engine };
    let engine = Engine::new(store.clone(), engine, signals.clone(), secrets.clone())?;
    let configuration =
        crate::settings::EngineConfiguration::start(store.clone(), engine.clone(), signals.clone(), secrets.clone())
            .await?;
    engine.spawn_workers(true);
    let listener =
        TcpListener::bind(options.site_addr).await.with_context(|| format!("listening on {}", options.site_addr))?;
    let addr = listener.local_addr()?;
    let hooks = Arc::new(HookCache::new(triggers.webhook_cache, signals.clone()));
    let api_keys = Arc::new(ApiKeys::default());
    let runs = Arc::new(EngineRuns { engine: engine.clone(), store: store.clone() });
    let changed = hooks.clone();
    let workflows = Workflows::new(store.clone(), Arc::new(move |id| changed.workflow_changed(id)));
    let credentials = app::services::credentials::Credentials::new(store.clone(), secrets.clone());
    let variables = app::services::variables::Variables::new(store.clone());
    let api = ApiState {
        store: store.clone(),
        engine: engine.clone(),
        runs: runs.clone(),
        keys: api_keys.clone(),
        hooks: hooks.clone(),
        hook_limits: Arc::new(crate::api::hooks::limits::WebhookLimits::new(
            triggers.webhook_calls_per_path_per_second,
            triggers.webhook_calls_per_user_per_second,
        )),
        workflows: workflows.clone(),
        credentials: credentials.clone(),
        variables: variables.clone(),
        webhook_headers: Arc::new(api::KeptHeaders::new(&triggers.webhook_headers)),
    };
    app::model::triggers::set_min_schedule_interval(std::time::Duration::from_secs(triggers.cron_min_interval_secs));
    if role != Role::Web && !triggers.cron_tick.is_zero() {
        crate::triggers::cron::spawn(
            store.clone(),
            engine.clone(),
            triggers.cron_tick,
            hooks.schedules_changed.clone(),
        );
    }
    let router = match role {
        Role::Worker => health_router(api, limits, &edge),
        Role::Web | Role::All => {
            let accounts = Accounts::new(SignInLimits::default());
            credentials::follow_revocations(&signals, &accounts, &api_keys);
            let credentials_revoked = credentials::announcer(signals.clone());
            let ctx = ServerContext {
                store: store.clone(),
                accounts,
                api_keys,
                runs,
                configuration,
                workflows,
                credentials,
                variables,
                credentials_revoked,
                secure_cookies: edge.served_over_https(),
            };
            router(ctx, api, limits, &edge, options)
        }
    };
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let (stop, engine) = (stop.clone(), engine.clone());
        async move {
            tokio::select! {
                _ = shutdown_signal() => stop.cancel(),
                _ = stop.cancelled() => {}
            }
            // Runs start draining while the server waits for open requests
            // (a synchronous webhook waits for its run).
            engine.begin_shutdown();
        }
    });
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            // The client's address reaches handlers (sign-in limits count per address).
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            // No Nagle: a page streamed in chunks would otherwise wait for the
            // client's delayed ACK (40 ms) before sending its second chunk.
            let listener = listener.tap_io(|tcp| {
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::debug!(%error, "TCP_NODELAY not set on a connection");
                }
            });
            axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await
        }
    });
    tracing::info!(%addr, backend = store.backend(), ?role, worker = engine.worker_id(), "weft is listening on http://{addr}");
    Ok(RunningServer { addr, store, engine, hooks, task, stop })
}

pub async fn local_user(store: &dyn Store) -> anyhow::Result<User> {
    if let Some(user) = store.user_by_email(LOCAL_USER_EMAIL).await? {
        return Ok(user);
    }
    match store.create_user(LOCAL_USER_EMAIL, None, false).await {
        Ok(user) => Ok(user),
        // Another process created it first.
        Err(app::error::AppError::Conflict(_)) => {
            store.user_by_email(LOCAL_USER_EMAIL).await?.context("the local user vanished")
        }
        Err(other) => Err(other.into()),
    }
}

/// `/healthz`, `/readyz` and `/metrics`: what every role serves (`/metrics`
/// only to whom [`edge::MetricsAccess`] lets in).
fn health_routes<S: Clone + Send + Sync + 'static>(api: &ApiState, edge: &EdgeSettings) -> Router<S> {
    crate::metrics::handle();
    let (metrics_store, metrics_engine) = (api.store.clone(), api.engine.clone());
    let store = api.store.clone();
    let metrics_access = axum::middleware::from_fn_with_state(
        Arc::new(edge::MetricsAccess::new(edge.metrics_token.clone())),
        edge::metrics_access,
    );
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || crate::metrics::render(metrics_store.clone(), metrics_engine.clone())).layer(metrics_access),
        )
        .route(
            "/readyz",
            get(move || {
                let store = store.clone();
                async move {
                    match store.ping().await {
                        Ok(()) => (StatusCode::OK, "ready"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                    }
                }
            }),
        )
}

/// A worker's router: health and metrics only.
pub fn health_router(api: ApiState, limits: &HttpLimits, edge: &EdgeSettings) -> Router {
    with_layers(health_routes(&api, edge), limits)
}

pub fn router(
    ctx: ServerContext,
    api: ApiState,
    limits: &HttpLimits,
    edge: &EdgeSettings,
    options: LeptosOptions,
) -> Router {
    let routes = generate_route_list(App);
    let access = axum::middleware::from_fn_with_state(ctx.clone(), access::page_access);
    // Read once here: a page's shell names the bundle by this address.
    let assets = assets::BuildAssets::load(&options.site_root, &options.site_pkg_dir).unwrap_or_else(|error| {
        tracing::warn!(%error, "reading the browser bundle to name it by its hash");
        assets::BuildAssets::unreadable()
    });
    let asset_root = app::AssetRoot(assets.root.clone());
    let page_routes = page_routes::router(ctx.clone(), api.engine.clone());
    let oauth_routes = oauth::router(ctx.clone(), api.engine.clone(), edge.public_url.clone());
    let context = move || {
        provide_context(ctx.clone());
        provide_context(asset_root.clone());
        edge::provide_page_policy();
    };
    let pages = Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .route_layer(access)
        .layer(axum::middleware::from_fn(access::same_origin_server_functions))
        .layer(axum::middleware::from_fn(access::server_function_status));
    let router = Router::new()
        .merge(health_routes(&api, edge))
        .nest("/api/v1", api::router(api.clone()))
        .nest("/resume", api::resume::router(api.clone()))
        .nest("/hooks", api::hooks_router(api))
        .merge(pages)
        .merge(page_routes)
        .merge(oauth_routes)
        .merge(assets.routes())
        // The "not found" page shows the top bar too, so it needs the context.
        .fallback(leptos_axum::file_and_error_handler_with_context(context, shell))
        .layer(axum::middleware::from_fn(assets::cache_policy))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(edge::ClientAddresses::new(edge.trusted_proxies.clone())),
            edge::client_address,
        ));
    with_layers(router, limits).with_state(options)
}

/// Security headers on every answer (outermost, so timeouts and refusals get
/// them too; a page's own Content-Security-Policy, with its nonce, is kept),
/// request ids, a trace span per request (method, matched route, request id),
/// compression (gzip and brotli; tiny bodies and event streams are left alone),
/// a timeout and a body limit.
fn with_layers<S: Clone + Send + Sync + 'static>(router: Router<S>, limits: &HttpLimits) -> Router<S> {
    use axum::http::{header, HeaderValue};
    let request_id = HeaderName::from_static("x-request-id");
    router.layer(
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
            .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(edge::STATIC_POLICY),
            ))
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
                let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
                tracing::info_span!("request", method = %request.method(), route, request_id = id)
            }))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(axum::middleware::from_fn(crate::metrics::track_requests))
            .layer(CompressionLayer::new())
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout)),
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
