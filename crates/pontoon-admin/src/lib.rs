//! Pontoon's operator side: the web console, the REST API (`/api/v1`), Prometheus metrics
//! (`/metrics`) and health endpoints (`/healthz`, `/readyz`), all on one listener
//! (loopback by default).
//!
//! The binary builds a [`Gateway`] (the store, one [`ServiceControl`] per transport, the
//! log buffer and filter) and calls [`bind`] then [`Bound::serve`] (or [`serve`]).
//! Everything the console and the API change goes to the store first and is then pushed
//! to the running service with [`ServiceControl::reload`], so it takes effect at once and
//! survives a restart.
//!
//! Modules, one job each:
//! - `auth`: console sessions, CSRF tokens, the login rate limit, cookies.
//! - `ops`: the operations shared by the console and the API (policy changes,
//!   registrations, sessions), with one error type mapped to both; [`admins`]
//!   (administrators and API tokens) is public, the CLI uses it too.
//! - `pages`: the server-rendered console (askama templates in `templates/`).
//! - `api`: the REST API, one module per resource, and its OpenAPI document.
//! - `prometheus`: the Prometheus exposition, rendered from the services' counters.
//! - `health`: liveness and readiness.
//! - [`logs`]: the in-memory log view and the run-time debug switch per transport.
//! - `rates`: message rates for the overview.
//!
//! The HTTP server itself (connection cap, header and request time limits) is
//! `pontoon_http::server`, shared with the public file listener.
//! - `web`: security headers, time formatting and other small HTTP helpers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use pontoon_core::ServiceControl;
use pontoon_core::legacy::LegacyAccount;
use pontoon_http::server;
use tokio_util::sync::CancellationToken;

mod api;
mod auth;
mod exposition;
mod health;
mod history;
pub mod logs;
mod ops;
mod pages;
mod prometheus;
mod rates;
mod web;

pub use health::not_ready;
pub use ops::{OpError, admins};
pub use pages::segment;

/// Largest request body accepted (forms and JSON).
const BODY_LIMIT: usize = 64 * 1024;

/// Settings of the console listener.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// Where to listen (loopback by default: the console is an operator's tool).
    pub listen: SocketAddr,
    /// A console session ends after this long without a request.
    pub session_idle: Duration,
    /// A console session ends this long after login, however busy.
    pub session_max: Duration,
    /// Login attempts allowed per client address (IPv6: per /64) and minute, counted from
    /// their start (a successful one is given back); more are answered 429. At most 100.
    pub login_attempts_per_minute: u32,
    /// Whether the session cookie carries `Secure` (set it when a TLS proxy fronts the
    /// console; a plain-HTTP console on loopback cannot use it).
    pub secure_cookies: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8780)),
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 60 * 60),
            login_attempts_per_minute: 5,
            secure_cookies: false,
        }
    }
}

/// Checks a transport's options map (`transport`, `options`); `Err` holds a message for the
/// operator. Made by the binary from the transport's own option parser.
pub type ValidateOptions =
    Arc<dyn Fn(&str, &BTreeMap<String, String>) -> Result<(), String> + Send + Sync>;

/// The options a transport accepts (`transport`), for the console's typed form: empty for
/// a transport that describes none. Made by the binary from the transports' own lists.
pub type OptionSpecs =
    Arc<dyn Fn(&str) -> &'static [pontoon_core::transport::OptionSpec] + Send + Sync>;

/// Runs a transport's connection test (`transport`, `options` in force), as
/// [`pontoon_core::Transport::test_connection`] of the transport built with those options.
pub type TestConnection = Arc<
    dyn Fn(&str, &BTreeMap<String, String>) -> pontoon_core::transport::ConnectionTest
        + Send
        + Sync,
>;

/// The processes of a backend transport (by name), as its host sees them; empty for a
/// transport built in.
pub type BackendProcesses =
    Arc<dyn Fn(&str) -> Vec<pontoon_backend::pool::ProcessView> + Send + Sync>;

/// Turns registration form values (`username`, `password` and per-registration options
/// such as `network`) into the account to store, as the transport checks and normalises
/// them (`transport`, `options`, `values`): `options` are the transport's options in force
/// (from its stored policy: `connect_host`, `allowed_networks`...), so the operator's
/// registrations follow the same rules as the users' own. `Err` holds a message for the
/// operator. Made by the binary from [`pontoon_core::Transport::account_from_form`].
pub type AccountFromForm = Arc<
    dyn Fn(
            &str,
            &BTreeMap<String, String>,
            &BTreeMap<String, String>,
        ) -> Result<LegacyAccount, String>
        + Send
        + Sync,
>;

/// What the console operates on: the running gateway.
#[derive(Clone)]
pub struct Gateway {
    /// The store (policies, registrations, admin accounts, API tokens).
    pub store: pontoon_store::Store,
    /// One handle per configured transport, in configuration order.
    pub services: Vec<ServiceControl>,
    /// Loops every user depends on besides the services' own (server mode's client
    /// router): readiness fails while one is stalled (see `pontoon_core::watchdog`).
    pub loops: Vec<pontoon_core::watchdog::LoopWatch>,
    /// Server mode: the clients connected (`None` in component mode).
    pub clients: Option<pontoon_core::server::ClientCounts>,
    /// Checks a transport's options before they are stored.
    pub validate_options: ValidateOptions,
    /// The options each transport accepts, described (typed form on the Transports page).
    pub option_specs: OptionSpecs,
    /// The transports' connection tests (Transports page).
    pub test_connection: TestConnection,
    /// Checks and normalises registrations made by the operator.
    pub account_from_form: AccountFromForm,
    /// A backend transport's processes (Transports page, API).
    pub backend_processes: BackendProcesses,
    /// Recent log events, shown on the Logs page and by the API.
    pub logs: logs::LogBuffer,
    /// The run-time log filter (debug logging per transport).
    pub log_filter: logs::LogFilter,
    /// How the gateway runs (`component`).
    pub mode: String,
    /// Pontoon's version.
    pub version: &'static str,
}

/// How long readiness and `/metrics` wait for the store: a wedged store must not hang
/// them (probes have short timeouts of their own).
const STORE_WITHIN: Duration = Duration::from_secs(2);

impl Gateway {
    /// The transports' policies, or why the store gave none within [`STORE_WITHIN`].
    pub(crate) async fn policies_now(
        &self,
    ) -> Result<Vec<(String, pontoon_store::TransportPolicy)>, String> {
        policies_within(&self.store).await
    }

    /// Whether the gateway has a component link (component mode; server mode serves its
    /// clients itself and has none, so the console shows no link state there).
    pub(crate) fn has_link(&self) -> bool {
        self.mode != "server"
    }

    /// Every loop users depend on: each service's, then the others (see `loops`).
    pub(crate) fn all_loops(&self) -> impl Iterator<Item = &pontoon_core::watchdog::LoopWatch> {
        self.services
            .iter()
            .map(|c| c.watch())
            .chain(self.loops.iter())
    }
}

/// The transports' policies, or why `store` gave none within [`STORE_WITHIN`].
async fn policies_within(
    store: &pontoon_store::Store,
) -> Result<Vec<(String, pontoon_store::TransportPolicy)>, String> {
    match tokio::time::timeout(STORE_WITHIN, store.transport_policies()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", STORE_WITHIN.as_secs())),
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("services", &self.services)
            .field("mode", &self.mode)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why the console could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address could not be bound (in use, no permission, no such address).
    #[error("cannot listen on {addr} for the admin console: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("admin console: {0}")]
    Serve(#[from] std::io::Error),
}

/// Everything the handlers share.
pub(crate) struct AppState {
    pub(crate) cfg: AdminConfig,
    pub(crate) gw: Gateway,
    pub(crate) sessions: auth::Sessions,
    pub(crate) limiter: auth::LoginLimiter,
    /// Password checks allowed to run at once (see `pages::login`).
    pub(crate) login_slots: Arc<tokio::sync::Semaphore>,
    pub(crate) metrics: prometheus::Exporter,
    pub(crate) rates: rates::Rates,
    /// The Overview's charts.
    pub(crate) history: history::History,
    pub(crate) started: Instant,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    fn new(cfg: AdminConfig, gw: Gateway) -> Shared {
        Arc::new(AppState {
            sessions: auth::Sessions::new(cfg.session_idle, cfg.session_max),
            limiter: auth::LoginLimiter::new(cfg.login_attempts_per_minute),
            login_slots: Arc::new(tokio::sync::Semaphore::new(pages::LOGINS_AT_ONCE)),
            metrics: prometheus::Exporter::new(),
            rates: rates::Rates::default(),
            history: history::History::default(),
            started: Instant::now(),
            cfg,
            gw,
        })
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The whole HTTP surface: console, API, metrics and health, with security headers, the
/// body limit (413), a time limit per request (408 after 30 s) and chunked request bodies
/// refused (400; see `server::framing`). Client IP addresses (for the login rate limit)
/// come from `ConnectInfo<SocketAddr>` when the router is served with it, as
/// [`Bound::serve`] does.
pub fn router(cfg: AdminConfig, gw: Gateway) -> Router {
    router_with(AppState::new(cfg, gw))
}

fn router_with(state: Shared) -> Router {
    Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes(state.clone()))
        .merge(prometheus::routes())
        .merge(health::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(|req, next| {
            server::request_timeout(server::REQUEST_TIMEOUT, req, next)
        }))
        .layer(axum::middleware::from_fn(server::framing))
        .layer(axum::middleware::map_response(web::security_headers))
        .with_state(state)
}

/// A bound, not yet serving console (see [`bind`]).
pub struct Bound {
    listener: tokio::net::TcpListener,
    state: Shared,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// Binds `cfg.listen`, so a bad address fails at once with a clear error, before the
/// gateway starts serving.
pub async fn bind(cfg: AdminConfig, gw: Gateway) -> Result<Bound, AdminError> {
    let addr = cfg.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })?;
    Ok(Bound {
        listener,
        state: AppState::new(cfg, gw),
    })
}

impl Bound {
    /// The address actually bound (differs from the configured one for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, AdminError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` is cancelled, then finishes the requests in flight (for up
    /// to 5 s). At most 256 connections are open at once; a client gets 10 s to send a
    /// request's headers (also the longest idle time of a keep-alive connection) and 30 s
    /// for the whole request.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), AdminError> {
        let addr = self.local_addr()?;
        tracing::info!(%addr, "admin console listening on http://{addr}/");
        let stop_sampler = shutdown.child_token();
        let sampler = tokio::spawn(rates::sample(self.state.clone(), stop_sampler.clone()));
        let app = router_with(self.state);
        server::serve(self.listener, app, server::Limits::default(), shutdown).await;
        stop_sampler.cancel();
        let _ = sampler.await;
        Ok(())
    }
}

/// Binds `cfg.listen` and serves until `shutdown` is cancelled ([`bind`] + [`Bound::serve`]).
pub async fn serve(
    cfg: AdminConfig,
    gw: Gateway,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    bind(cfg, gw).await?.serve(shutdown).await
}
