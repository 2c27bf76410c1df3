//! `pontoon run`: wires one component link and one service per configured transport, then
//! waits for a signal and shuts down in order (users told, legacy sessions closed, links
//! closed, store flushed).

use std::time::Duration;

use anyhow::Context;
use pontoon_core::{Service, ServiceConfig};
use pontoon_store::{Store, StoreKey};
use pontoon_xmpp::component::{ComponentConfig, spawn_link};
use pontoon_xmpp::limits::Limits;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::transports;

/// Stanzas buffered per link in each direction; beyond this, senders wait.
const LINK_QUEUE: usize = 1024;

/// Opens the store named by the configuration, creating the key and database if missing.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let key = match std::env::var("PONTOON_STORE_KEY") {
        Ok(k) if !k.is_empty() => {
            StoreKey::from_base64(&k).context("PONTOON_STORE_KEY is not a valid key")?
        }
        _ => StoreKey::load_or_create(&cfg.key_file())
            .with_context(|| format!("store key {}", cfg.key_file().display()))?,
    };
    let url = cfg.store_url();
    Store::open(&url, key)
        .await
        .with_context(|| format!("cannot open the store at {}", redact_url(&url)))
}

/// The URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.general.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the gateway until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    init_logging(&cfg);
    info!(version = env!("CARGO_PKG_VERSION"), mode = %cfg.general.mode, "Pontoon starting");
    std::fs::create_dir_all(cfg.data_dir())
        .with_context(|| format!("cannot create {}", cfg.data_dir().display()))?;
    let store = open_store(&cfg).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    if cfg.transports.is_empty() {
        warn!("no transports configured: add a [transports.NAME] table (see `pontoon init`)");
    }
    for (name, t) in &cfg.transports {
        let seed = t.policy_seed();
        let policy = store.seed_transport_policy(name, &seed).await?;
        let transport = transports::build(name, &policy.options)
            .map_err(|e| anyhow::anyhow!("transport {name}: {e}"))?;
        if policy != seed {
            warn!(transport = %name, "the policy in the store differs from the configuration file; the store's is in force (change it with `pontoon policy set`)");
        }
        if !policy.enabled {
            info!(transport = %name, "transport is disabled; enable it with `pontoon policy set {name} enabled=true`");
        }
        let (out_tx, out_rx) = mpsc::channel(LINK_QUEUE);
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
        let link = spawn_link(link_cfg, in_tx, out_rx);
        let service = Service::new(
            ServiceConfig {
                transport_name: name.clone(),
                domain: t.domain.clone(),
                display_name: t.name.clone().unwrap_or_else(|| name.clone()),
                inbox_capacity: cfg.limits.session_inbox,
            },
            transport,
            store.clone(),
            out_tx,
        )
        .await?;
        let service = tokio::spawn(service.run(in_rx, shutdown.clone()));
        tasks.push((name.clone(), service, link));
    }
    wait_for_signal().await?;
    info!("shutting down: logging users out");
    shutdown.cancel();
    for (name, service, link) in tasks {
        if let Err(e) = service.await {
            warn!(transport = %name, error = %e, "service task failed");
        }
        // The service dropped its side of the link: the link flushes and closes the stream.
        if tokio::time::timeout(Duration::from_secs(5), link)
            .await
            .is_err()
        {
            warn!(transport = %name, "component link did not close in time");
        }
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(super::redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
