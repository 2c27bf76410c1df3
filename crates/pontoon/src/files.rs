//! The public file listener, wired from `[http]`: media links for every service, upload
//! slots for server mode's, and the `pontoon-http` listener that serves both, with the
//! presence badges of the services' users who turned theirs on.

use std::collections::HashMap;

use anyhow::Context;
use pontoon_core::media::MediaLinks;
use pontoon_store::Store;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;

/// The links every service mints for network files, when the listener is on.
pub fn media_links(cfg: &Config, store: &Store) -> Option<MediaLinks> {
    cfg.http.enabled.then(|| {
        MediaLinks::new(
            store.clone(),
            cfg.http.public_url(),
            cfg.http.media_link_lifetime(),
        )
    })
}

/// Binds the listener (a bad address stops startup) and serves it, with its sweep, until
/// `shutdown`; `None` when `[http]` is off. `networks` are the running services with
/// their transports: whose media links it serves, and whose users' presence badges.
pub async fn start(
    cfg: &Config,
    store: &Store,
    networks: HashMap<String, pontoon_http::Network>,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !cfg.http.enabled {
        return Ok(None);
    }
    let http = &cfg.http;
    let scanner = (!http.upload.scanner.is_empty()).then(|| pontoon_http::Scanner {
        command: http.upload.scanner.clone(),
        timeout: std::time::Duration::from_secs(http.upload.scanner_timeout_secs),
    });
    let services: Vec<_> = networks.values().map(|n| n.control.clone()).collect();
    let files = pontoon_http::FileService::new(
        pontoon_http::FileConfig {
            dir: cfg.data_dir().join("uploads"),
            retention: http.retention(),
            scanner,
            max_media_bytes: http.max_media_size.bytes().unwrap_or(0),
        },
        store.clone(),
        media_links(cfg, store),
        networks,
    )
    .context("the upload directory cannot be created")?;
    let listener = tokio::net::TcpListener::bind(http.listen_addr())
        .await
        .with_context(|| {
            format!(
                "the file listener cannot listen on {} (change [http] listen)",
                http.listen
            )
        })?;
    info!(
        addr = %listener.local_addr()?,
        public_url = %http.public_url(),
        "file listener up"
    );
    let presence = pontoon_http::PresenceService::new(store.clone(), services);
    let router = files.router().merge(presence.router());
    let task = tokio::spawn(async move {
        let sweep = tokio::spawn(files.sweep(shutdown.clone()));
        pontoon_http::server::serve(
            listener,
            router,
            pontoon_http::server::Limits::default(),
            shutdown,
        )
        .await;
        let _ = sweep.await;
    });
    Ok(Some(task))
}
