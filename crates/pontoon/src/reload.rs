//! SIGHUP: what a running gateway takes from its configuration file without a restart.
//!
//! Two things, the ones an operator changes on a live service: the log level
//! (`[general] log_level`) and, in server mode, the TLS certificate (a renewed file, or
//! other paths in `[server]`). Everything else in the file applies at the next start;
//! the log says so. A file with errors changes nothing: the gateway keeps running as it
//! was and the log names the problem, as `check-config` would.

use std::path::PathBuf;
use std::sync::Arc;

use pontoon_admin::logs::LogFilter;
use pontoon_xmpp::tls::{CertSlot, TlsSource};
use tracing::{info, warn};

use crate::config::Config;

/// What SIGHUP reloads, and where from.
pub struct Reloader {
    /// The configuration file; `None` on the embedded defaults (nothing to read again).
    file: Option<PathBuf>,
    log_filter: LogFilter,
    /// Server mode: the listeners' certificate and the source it was read from.
    cert: Option<(Arc<CertSlot>, TlsSource)>,
}

impl Reloader {
    /// A reloader for the gateway started from `cfg`, whose logging goes through
    /// `log_filter`.
    pub fn new(cfg: &Config, log_filter: LogFilter) -> Reloader {
        Reloader {
            file: cfg.file.clone(),
            log_filter,
            cert: None,
        }
    }

    /// Server mode: the certificate the listeners present, read from `source`.
    pub fn with_cert(mut self, cert: Arc<CertSlot>, source: TlsSource) -> Reloader {
        self.cert = Some((cert, source));
        self
    }

    /// Reads the file again and applies the log level and the TLS certificate.
    pub async fn reload(&mut self) {
        let cfg = match &self.file {
            None => None,
            Some(path) => match Config::load(path, false) {
                Ok(cfg) => Some(cfg),
                Err(e) => {
                    warn!(error = %e, "reload: the configuration file has errors; nothing was changed");
                    return;
                }
            },
        };
        if let Some(cfg) = &cfg {
            self.reload_log_level(cfg);
        }
        if let Some((slot, source)) = &mut self.cert {
            if let Some(cfg) = &cfg {
                *source = cfg.tls_source();
            }
            let (slot, read) = (slot.clone(), source.clone());
            match tokio::task::spawn_blocking(move || slot.reload(&read)).await {
                Ok(Ok(_)) => info!(
                    "reload: TLS certificate read again; new connections get it, connected clients keep theirs"
                ),
                Ok(Err(e)) => warn!(
                    error = %e,
                    "reload: TLS certificate not changed; the previous one stays in use"
                ),
                Err(e) => warn!(error = %e, "reload: reading the TLS certificate failed"),
            }
        }
        info!("reload done: other settings apply at the next start");
    }

    fn reload_log_level(&self, cfg: &Config) {
        if std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) {
            info!("reload: RUST_LOG is set and wins over [general] log_level; log level unchanged");
            return;
        }
        match cfg.general.log_filter() {
            Ok(filter) => self.log_filter.set_base(filter),
            // `Config::load` checks the level: this is a file changed in between.
            Err(e) => warn!(error = %e, "reload: [general] log_level not applied"),
        }
    }
}
