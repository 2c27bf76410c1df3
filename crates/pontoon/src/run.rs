//! `pontoon run`: wires one component link and one service per configured transport and
//! the admin console (web, REST API, metrics) over their control handles, then waits for a
//! signal and shuts down in order (users told, legacy sessions closed, links closed,
//! console stopped, store flushed).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pontoon_admin::logs::{LogBuffer, LogFilter, Repeats};
use pontoon_admin::{AccountFromForm, AdminConfig, Gateway};
use pontoon_core::{Service, ServiceConfig};
use pontoon_store::{Store, StoreKey};
use pontoon_xmpp::component::{ComponentConfig, LinkEvent, spawn_link};
use pontoon_xmpp::limits::Limits;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::config::Config;
use crate::reload::Reloader;
use crate::transports;

/// Stanzas buffered per link in each direction; beyond this, senders wait.
const LINK_QUEUE: usize = 1024;

/// The longest a shutdown may take after SIGTERM, whatever the sessions are doing: users
/// are logged out (each service waits 5 s for its sessions), links and the console close;
/// what is not done by then is abandoned with a warning and the process exits.
pub const SHUTDOWN_WITHIN: Duration = Duration::from_secs(12);

/// Opens the store named by the configuration, creating the key and database if missing.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let key = store_key(cfg)?;
    let url = cfg.store_url();
    Store::open(&url, key)
        .await
        .with_context(|| format!("cannot open the store at {}", redact_url(&url)))
}

/// The key of the store `cfg` names: `PONTOON_STORE_KEY`, else the key file (created when
/// missing).
pub fn store_key(cfg: &Config) -> anyhow::Result<StoreKey> {
    match store_key_from_env() {
        Some(k) => StoreKey::from_base64(&k).context("PONTOON_STORE_KEY is not a valid key"),
        None => StoreKey::load_or_create(&cfg.key_file())
            .with_context(|| format!("store key {}", cfg.key_file().display())),
    }
}

/// The store key given in the environment (`PONTOON_STORE_KEY`, when set and not empty),
/// which takes the place of the key file.
pub fn store_key_from_env() -> Option<String> {
    std::env::var("PONTOON_STORE_KEY")
        .ok()
        .filter(|k| !k.is_empty())
}

/// The URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Installs the process's logging: the configured filter (`RUST_LOG` wins over
/// `general.log_level`) wrapped in the console's run-time filter, so debug logging can be
/// switched per transport without a restart; output to stderr; the console's in-memory
/// buffer of recent events; and the hold on warnings that keep repeating.
fn init_logging(cfg: &Config) -> (LogBuffer, LogFilter, Repeats) {
    let base = EnvFilter::try_from_default_env()
        .or_else(|_| cfg.general.log_filter())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = LogFilter::from_env_filter(base);
    let buffer = LogBuffer::default();
    let repeats = Repeats::default();
    // Colour codes only for a person at a terminal: a file or journald gets plain text.
    let text = (!cfg.general.json_logs()).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = cfg.general.json_logs().then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    // A subscriber may already be installed (tests); keep it then.
    let _ = tracing_subscriber::registry()
        .with(filter.clone())
        .with(text)
        .with(json)
        .with(buffer.clone())
        .with(repeats.clone())
        .try_init();
    (buffer, filter, repeats)
}

/// The console's settings from `[admin]`.
fn admin_config(cfg: &Config) -> AdminConfig {
    AdminConfig {
        listen: cfg.admin.listen_addr(),
        session_idle: cfg.admin.session_idle(),
        session_max: cfg.admin.session_max(),
        login_attempts_per_minute: cfg.admin.login_attempts_per_minute,
        secure_cookies: cfg.admin.secure_cookies(),
    }
}

/// The console's registration checks: the transport built with its options in force (the
/// stored policy's, which the console reads at each call), so `connect_host`,
/// `allowed_networks` and the like apply to the operator's registrations as to the users'.
fn account_from_form() -> AccountFromForm {
    Arc::new(|name, options, values| {
        transports::build(name, options)?
            .account_from_form(values)
            .map_err(|e| e.0)
    })
}

/// One transport, built but not yet running.
struct Pending {
    name: String,
    service: Service,
    /// Component mode: the link's configuration and the stanzas for it.
    link: Option<(ComponentConfig, mpsc::Receiver<pontoon_xmpp::OutStanza>)>,
    from_link_tx: mpsc::Sender<LinkEvent>,
    from_link_rx: mpsc::Receiver<LinkEvent>,
}

/// Server mode's shared channels: stanzas from every service to the router, and users
/// whose legacy session ended.
struct ServerWiring {
    out_tx: mpsc::Sender<pontoon_xmpp::OutStanza>,
    out_rx: mpsc::Receiver<pontoon_xmpp::OutStanza>,
    ended_tx: mpsc::Sender<jid::BareJid>,
    ended_rx: mpsc::Receiver<jid::BareJid>,
    /// The store's change feed, with several instances (roster and bookmark pushes).
    changes: Option<pontoon_store::ChangeFeed>,
}

/// Runs the gateway until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    let (logs, log_filter, repeats) = init_logging(&cfg);
    // Runs to the very end, so lines held back during the shutdown are counted too.
    let logging_done = CancellationToken::new();
    let repeats_reporter = repeats.spawn_reporter(logging_done.clone());
    info!(version = %env!("CARGO_PKG_VERSION"), mode = %cfg.general.mode, "Pontoon starting");
    for w in cfg.warnings() {
        warn!("{w}");
    }
    std::fs::create_dir_all(cfg.data_dir())
        .with_context(|| format!("cannot create {}", cfg.data_dir().display()))?;
    let store = open_store(&cfg).await?;
    let shutdown = CancellationToken::new();
    // PostgreSQL: this process is one of the store's instances (sessions leased, changes
    // told by the store); SQLite is one instance's own.
    let (cluster, changes) = join_cluster(&cfg, &store, &shutdown).await?;
    if cfg.transports.is_empty() {
        warn!("no transports configured: add a [transports.NAME] table (see `pontoon init`)");
    }
    let admins = cfg.admin.admin_jids();
    // Build every service first and start nothing until the console is bound, so a bad
    // listen address stops startup before any link is opened.
    let mut pending = Vec::new();
    let server_mode = cfg.general.mode == "server";
    let wiring = server_mode.then(|| {
        let (out_tx, out_rx) = mpsc::channel(LINK_QUEUE);
        let (ended_tx, ended_rx) = mpsc::channel(LINK_QUEUE);
        ServerWiring {
            out_tx,
            out_rx,
            ended_tx,
            ended_rx,
            changes: changes.clone(),
        }
    });
    // Transports fetch files from Pontoon's own listener even where it is internal.
    transports::trust_hosts(cfg.http.public_host().into_iter().collect());
    let media_links = crate::files::media_links(&cfg, &store);
    let mut built: HashMap<String, Arc<dyn pontoon_core::Transport>> = HashMap::new();
    for (name, t) in &cfg.transports {
        let seed = t.policy_seed();
        let policy = store.seed_transport_policy(name, &seed).await?;
        let transport = transports::open(name, t, &cfg.base_dir, &policy.options)
            .await
            .map_err(|e| anyhow::anyhow!("transport {name}: {e}"))?;
        built.insert(name.clone(), transport.clone());
        if let Some(d) = crate::policy_drift::drift(name, &seed, &policy, cli_flag(&cfg)) {
            warn!(
                transport = %name,
                keys = %d.keys.join(", "),
                apply = %d.command,
                "the configuration file's policy differs from the store's, which is in force; to apply the file's values run the `apply` command (or change them in the console)"
            );
        }
        if !policy.enabled {
            let flag = cli_flag(&cfg);
            info!(transport = %name, "transport is disabled; enable it in the console or with `pontoon{flag} policy set {name} enabled=true`");
        }
        let (component_out_tx, out_rx) = mpsc::channel(LINK_QUEUE);
        let out_tx = match &wiring {
            Some(w) => w.out_tx.clone(),
            None => component_out_tx,
        };
        let (in_tx, in_rx) = mpsc::channel(LINK_QUEUE);
        let mut link_cfg = ComponentConfig::new(
            cfg.component.host.clone(),
            cfg.component.port,
            t.domain.clone(),
            t.secret.clone(),
        );
        link_cfg.limits = Limits {
            max_stanza_bytes: cfg.limits.max_stanza_bytes,
            max_depth: cfg.limits.max_depth,
        };
        let rebuild_name = name.clone();
        let mut service = Service::new(
            ServiceConfig {
                transport_name: name.clone(),
                domain: t.domain.clone(),
                display_name: t.name.clone().unwrap_or_else(|| name.clone()),
                inbox_capacity: cfg.limits.session_inbox,
                admins: admins.clone(),
                stanza_rate: cfg.limits.stanza_rate(),
            },
            transport,
            store.clone(),
            out_tx,
        )
        .await?
        // Option edits from the console apply at run time.
        .with_rebuild(Arc::new(move |options| {
            transports::build(&rebuild_name, options)
        }));
        if let Some(links) = &media_links {
            service = service.with_media_links(links.clone());
        }
        service = service.with_cluster(cluster.clone(), changes.clone());
        if let Some(w) = &wiring {
            service = service.with_server_mode(pontoon_core::server::ServerOptions {
                allow_unauthenticated: cfg.server.allow_unauthenticated(),
                ended: w.ended_tx.clone(),
                uploads: cfg.http.upload_policy(name).map(Arc::new),
            });
        }
        pending.push(Pending {
            name: name.clone(),
            service,
            link: (!server_mode).then_some((link_cfg, out_rx)),
            from_link_tx: in_tx,
            from_link_rx: in_rx,
        });
    }

    // Server mode's client router: made before the console, which watches it.
    let router_watch = server_mode.then(|| pontoon_core::watchdog::LoopWatch::new("client router"));
    let client_counts = server_mode.then(pontoon_core::server::ClientCounts::default);
    let mut console = None;
    if cfg.admin.enabled {
        let gateway = Gateway {
            store: store.clone(),
            services: pending.iter().map(|p| p.service.control()).collect(),
            loops: router_watch.iter().cloned().collect(),
            clients: client_counts.clone(),
            validate_options: Arc::new(|name, options| transports::check(name, None, options)),
            option_specs: Arc::new(transports::option_specs),
            test_connection: Arc::new(|name, options| match transports::build(name, options) {
                Ok(t) => t.test_connection(),
                Err(e) => Box::pin(async move { Err(e) }),
            }),
            account_from_form: account_from_form(),
            backend_processes: Arc::new(|name| {
                transports::running(name).map_or_else(Vec::new, |b| b.processes())
            }),
            logs,
            log_filter: log_filter.clone(),
            mode: cfg.general.mode.clone(),
            version: env!("CARGO_PKG_VERSION"),
        };
        // The error's text already names its cause: keep anyhow from repeating it.
        let bound = pontoon_admin::bind(admin_config(&cfg), gateway)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("the admin console cannot start (change [admin] listen, or set [admin] enabled = false)")?;
        let url = format!("http://{}/", bound.local_addr()?);
        if store.count_admins().await? == 0 {
            warn!(
                console = %url,
                "no console administrator yet: create one with `pontoon{} admin add <name>`",
                cli_flag(&cfg)
            );
        }
        console = Some(tokio::spawn(bound.serve(shutdown.clone())));
    } else {
        info!("admin console disabled ([admin] enabled = false)");
    }
    let networks = pending
        .iter()
        .filter_map(|p| {
            let transport = built.remove(&p.name)?;
            let control = p.service.control();
            Some((p.name.clone(), pontoon_http::Network { transport, control }))
        })
        .collect();
    let file_listener = crate::files::start(&cfg, &store, networks, shutdown.clone()).await?;
    let mut reloader = Reloader::new(&cfg, log_filter.clone());
    let debug_watch =
        pontoon_admin::logs::spawn_debug_watch(store.clone(), log_filter, shutdown.clone());

    let mut router = None;
    if let Some(w) = wiring {
        let routed: Vec<pontoon_core::server::RoutedService> = pending
            .iter()
            .map(|p| pontoon_core::server::RoutedService {
                control: p.service.control(),
                inbound: p.from_link_tx.clone(),
            })
            .collect();
        let watch = router_watch
            .clone()
            .unwrap_or_else(|| pontoon_core::watchdog::LoopWatch::new("client router"));
        let counts = client_counts.unwrap_or_default();
        let (task, cert) =
            start_server(&cfg, &store, routed, w, watch, counts, shutdown.clone()).await?;
        router = Some(task);
        reloader = reloader.with_cert(cert, cfg.tls_source());
    }
    let notify_parts = crate::service_manager::Parts {
        store: store.clone(),
        services: pending.iter().map(|p| p.service.control()).collect(),
        loops: router_watch.iter().cloned().collect(),
    };
    let watched: Vec<pontoon_core::watchdog::LoopWatch> = pending
        .iter()
        .map(|p| p.service.control().watch().clone())
        .chain(router_watch)
        .collect();
    let watchdog = tokio::spawn(pontoon_core::watchdog::watch(watched, shutdown.clone()));
    let retention = Duration::from_secs(
        cfg.store
            .message_id_retention_days
            .max(1)
            .saturating_mul(86_400),
    );
    let id_retention = tokio::spawn(pontoon_core::retention::keep_bounded(
        store.clone(),
        retention,
        shutdown.clone(),
    ));
    let mut tasks = Vec::new();
    for p in pending {
        let link = p
            .link
            .map(|(link_cfg, to_link)| spawn_link(link_cfg, p.from_link_tx, to_link));
        let service = tokio::spawn(p.service.run(p.from_link_rx, shutdown.clone()));
        tasks.push((p.name, service, link));
    }
    // systemd (Type=notify) hears READY=1 once this serves; nothing without $NOTIFY_SOCKET.
    crate::service_manager::spawn(notify_parts, shutdown.clone());
    signals.wait(&mut reloader).await;
    crate::service_manager::stopping().await;
    info!("shutting down: logging users out");
    shutdown.cancel();
    id_retention.abort();
    let stopping = crate::shutdown::Running {
        services: tasks,
        router,
        console,
        file_listener,
        debug_watch,
        watchdog,
    }
    .stop();
    let stopping = async {
        stopping.await;
        // After the services logged their users out through them.
        transports::stop_backends().await;
    };
    if tokio::time::timeout(SHUTDOWN_WITHIN, stopping)
        .await
        .is_err()
    {
        warn!(
            within_secs = SHUTDOWN_WITHIN.as_secs(),
            "shutdown did not complete in time; exiting anyway"
        );
    }
    // Every session ended: what they handed the store's writers (archive, id map, server
    // mode's ledgers) is written before another instance may take their users over.
    store.finish_writers().await;
    if let Some(cluster) = &cluster {
        // Every session ended: their leases are free at once for the other instances.
        cluster.leave().await;
    }
    if tokio::time::timeout(Duration::from_secs(2), store.close())
        .await
        .is_err()
    {
        warn!("the store did not close in time");
    }
    logging_done.cancel();
    let _ = repeats_reporter.await;
    info!("stopped");
    Ok(())
}

/// With a PostgreSQL store, joins its instances (`pontoon_core::cluster`) and starts the
/// change feed; `(None, None)` with SQLite.
async fn join_cluster(
    cfg: &Config,
    store: &Store,
    shutdown: &CancellationToken,
) -> anyhow::Result<(
    Option<Arc<pontoon_core::cluster::Cluster>>,
    Option<pontoon_store::ChangeFeed>,
)> {
    if store.backend() != pontoon_store::Backend::Postgres {
        return Ok((None, None));
    }
    let address = if cfg.general.mode == "server" {
        cfg.server.listen.clone()
    } else {
        String::new()
    };
    let cluster = pontoon_core::cluster::Cluster::join(store.clone(), &address)
        .await
        .context("cannot join the store's instances")?;
    cluster.spawn_heartbeat(shutdown.clone());
    let changes = store
        .change_feed(shutdown.clone())
        .await
        .context("cannot listen to the store's changes")?;
    Ok((Some(cluster), changes))
}

/// Server mode: the TLS setup, the c2s listeners and the router between them and the
/// services. Returns the router's task and the certificate the listeners present.
async fn start_server(
    cfg: &Config,
    store: &Store,
    routed: Vec<pontoon_core::server::RoutedService>,
    wiring: ServerWiring,
    watch: pontoon_core::watchdog::LoopWatch,
    counts: pontoon_core::server::ClientCounts,
    shutdown: CancellationToken,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    std::sync::Arc<pontoon_xmpp::tls::CertSlot>,
)> {
    use pontoon_xmpp::c2s::{C2sConfig, C2sServer, ListenMode};
    use pontoon_xmpp::tls::{self, TlsOrigin};
    let setup = tls::load(&cfg.tls_source()).context("server mode: TLS certificate")?;
    match &setup.origin {
        TlsOrigin::GeneratedCa { ca } => warn!(
            ca = %ca.display(),
            "generated a self-signed certificate; clients must trust {}",
            ca.display()
        ),
        TlsOrigin::GeneratedServerCert { ca } | TlsOrigin::Reused { ca } => info!(
            ca = %ca.display(),
            "using the generated certificate; clients must trust {}",
            ca.display()
        ),
        TlsOrigin::Pem => info!("TLS certificate loaded from PEM files"),
        TlsOrigin::Pkcs12 => info!("TLS certificate loaded from the PKCS#12 bundle"),
    }
    let domains: Vec<String> = cfg.transports.values().map(|t| t.domain.clone()).collect();
    let mut c2s = C2sConfig::new(domains.clone(), Some(setup.config));
    c2s.allow_plaintext_on_loopback = cfg.server.allow_plaintext_on_loopback;
    c2s.limits = Limits {
        max_stanza_bytes: cfg.limits.max_stanza_bytes,
        max_depth: cfg.limits.max_depth,
    };
    c2s.stanzas_per_second = cfg.limits.stanzas_per_second;
    c2s.stanza_burst = cfg.limits.stanza_burst;
    c2s.max_unauthenticated = cfg.server.max_unauthenticated;
    c2s.max_unauthenticated_per_address = cfg.server.max_unauthenticated_per_address;
    let (abandoned_tx, abandoned_rx) = mpsc::channel(LINK_QUEUE);
    let auth = pontoon_core::server::LegacyAuthenticator::new(
        routed.iter().map(|r| r.control.clone()),
        abandoned_tx,
    );
    let (events_tx, events_rx) = mpsc::channel(LINK_QUEUE);
    let server =
        C2sServer::new(c2s, auth, events_tx).map_err(|e| anyhow::anyhow!("server mode: {e}"))?;
    let addr = cfg.server.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("server mode: cannot listen on {addr} ([server] listen)"))?;
    let local = listener.local_addr()?;
    server.spawn_listener(listener, ListenMode::StartTls);
    let mut direct = None;
    if let Some(addr) = cfg.server.direct_tls_addr() {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("server mode: cannot listen on {addr} ([server] direct_tls_listen)")
        })?;
        direct = Some(listener.local_addr()?);
        server.spawn_listener(listener, ListenMode::DirectTls);
    }
    info!(
        listen = %local,
        direct_tls = %direct.map_or_else(|| "off".to_owned(), |a| a.to_string()),
        domains = %domains.join(", "),
        "server mode: listening for XMPP clients"
    );
    let router = pontoon_core::server::Router::new(routed, store.clone())
        .with_watch(watch)
        .with_counts(counts)
        .with_changes(wiring.changes);
    let task = tokio::spawn(router.run(
        events_rx,
        wiring.out_rx,
        wiring.ended_rx,
        abandoned_rx,
        shutdown,
    ));
    // The services keep their clones of the senders.
    drop(wiring.out_tx);
    drop(wiring.ended_tx);
    Ok((task, setup.cert))
}

/// The signals `run` acts on, handled from the start so that one arriving during startup
/// is not the default action (SIGHUP's would end the process).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }

    /// Waits for SIGTERM or SIGINT, reloading on every SIGHUP meanwhile (one received during
    /// startup included).
    async fn wait(&mut self, reloader: &mut Reloader) {
        loop {
            tokio::select! {
                _ = self.term.recv() => break info!("SIGTERM received"),
                _ = self.int.recv() => break info!("SIGINT received"),
                _ = self.hup.recv() => {
                    info!("SIGHUP received: reloading the log level and the TLS certificate");
                    reloader.reload().await;
                }
            }
        }
    }
}

/// What the commands the log suggests need to act on this gateway's store: nothing with a
/// configuration file, `--embedded-defaults` on the embedded defaults.
pub(crate) fn cli_flag(cfg: &Config) -> &'static str {
    if cfg.embedded {
        " --embedded-defaults"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The console's registrations follow the transport's options in force.
    #[test]
    fn registration_checks_use_the_transport_options() {
        let check = super::account_from_form();
        let values = map(&[("username", "bob"), ("network", "irc.oftc.net")]);
        // Any network without options...
        let a = check("irc", &BTreeMap::new(), &values).unwrap();
        assert_eq!(a.options["network"], "irc.oftc.net");
        // ...only the allowed ones with allowed_networks...
        let allowed = map(&[("allowed_networks", "irc.libera.chat")]);
        assert!(check("irc", &allowed, &values).is_err());
        let ok = map(&[("username", "bob"), ("network", "irc.libera.chat")]);
        assert!(check("irc", &allowed, &ok).is_ok());
        // ...and none with a fixed server.
        let fixed = map(&[("connect_host", "irc.example.org")]);
        let a = check("irc", &fixed, &values).unwrap();
        assert!(!a.options.contains_key("network"), "{:?}", a.options);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(super::redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
