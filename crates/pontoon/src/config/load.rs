//! Reading, defaulting and checking a configuration ([`Config::load`], the embedded
//! defaults, validation against the transports built in).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

/// The directory relative paths of the file at `path` are resolved against (`.` for a bare
/// file name).
fn base_dir_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The built-in transport of the embedded defaults: IRC at this domain, not fixed to a
/// network (users log in as `nick%irc.libera.chat@irc.localhost`), disabled.
pub const EMBEDDED_IRC_DOMAIN: &str = "irc.localhost";

impl Config {
    /// The embedded defaults, used when there is no configuration file: server mode on
    /// loopback (c2s on 127.0.0.1:5222 with a generated certificate, the console on
    /// 127.0.0.1:8780), data under `data/`, and one transport `irc` at `irc.localhost`,
    /// disabled until the operator enables it as every transport is.
    pub fn embedded(base_dir: PathBuf) -> Config {
        let mut config = Config {
            base_dir,
            embedded: true,
            ..Config::default()
        };
        config.transports.insert(
            "irc".into(),
            TransportConfig {
                domain: EMBEDDED_IRC_DOMAIN.into(),
                name: Some("IRC".into()),
                public_registration: true,
                ..TransportConfig::default()
            },
        );
        config
    }

    /// Loads `path`; a missing file gives the embedded defaults when `allow_missing`.
    pub fn load(path: &Path, allow_missing: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if allow_missing && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::embedded(base_dir_of(path)));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        Config::from_toml(path, &text)
    }

    /// Reads a configuration from its text, as [`Config::load`] does once the file is read:
    /// TOML syntax and types, then the values, checked against the transports of this build.
    /// `path` names the file in errors, and relative paths are resolved against its directory.
    ///
    /// Any text gives a configuration or an error, never a panic: the fuzz target
    /// `config_load` feeds it arbitrary text.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with(path, text, &crate::transports::available())
    }

    /// [`Config::from_toml`] with the caller's list of the transports built in (the tests').
    pub(super) fn from_toml_with(
        path: &Path,
        text: &str,
        known: &[&str],
    ) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.base_dir = base_dir_of(path);
        config.file = Some(path.to_path_buf());
        config.validate(path, text, known)?;
        Ok(config)
    }

    /// Checks values beyond their types.
    pub(super) fn validate(
        &self,
        path: &Path,
        text: &str,
        known: &[&str],
    ) -> Result<(), ConfigError> {
        let doc = toml_edit::Document::parse(text.to_owned()).ok();
        let locate = |keys: &[&str]| -> String {
            let line = doc.as_ref().and_then(|d| {
                let mut item = d.as_item();
                for k in keys {
                    item = item.get(k)?;
                }
                let span = item.span()?;
                Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
            });
            match line {
                Some(l) => format!("{}:{l}", path.display()),
                None => path.display().to_string(),
            }
        };
        let mut problems = Vec::new();
        let mut problem = |keys: &[&str], message: String| {
            problems.push(Problem {
                location: locate(keys),
                key: keys.join("."),
                message,
            });
        };
        let server_mode = self.general.mode == "server";
        if self.general.mode != "component" && !server_mode {
            problem(
                &["general", "mode"],
                format!(
                    "{:?} is not a mode; use \"component\" or \"server\"",
                    self.general.mode
                ),
            );
        }
        if !matches!(self.general.log_format.as_str(), "text" | "json") {
            problem(
                &["general", "log_format"],
                format!(
                    "{:?} is not a log format; use \"text\" or \"json\"",
                    self.general.log_format
                ),
            );
        }
        let srv = &self.server;
        if srv.listen.parse::<SocketAddr>().is_err() {
            problem(
                &["server", "listen"],
                format!(
                    "{:?} is not an IP:port address (e.g. \"{DEFAULT_SERVER_LISTEN}\")",
                    srv.listen
                ),
            );
        }
        if !srv.direct_tls_listen.is_empty() && srv.direct_tls_addr().is_none() {
            problem(
                &["server", "direct_tls_listen"],
                format!("{:?} is not an IP:port address", srv.direct_tls_listen),
            );
        }
        if srv.cert.is_empty() != srv.key.is_empty() {
            let key = if srv.cert.is_empty() { "cert" } else { "key" };
            problem(
                &["server", key],
                "cert and key go together (PEM files); leave both empty for a generated certificate".into(),
            );
        }
        if !srv.pkcs12.is_empty() && !srv.cert.is_empty() {
            problem(
                &["server", "pkcs12"],
                "use either pkcs12 or cert and key, not both".into(),
            );
        }
        if !srv.cert_password.is_empty() && srv.pkcs12.is_empty() {
            problem(
                &["server", "cert_password"],
                "is the password of the pkcs12 bundle; set pkcs12 too".into(),
            );
        }
        for (keys, message) in self.http.problems() {
            let mut path = vec!["http"];
            path.extend(keys.iter().map(String::as_str));
            problem(&path, message);
        }
        if let Err(e) = self.general.log_filter() {
            problem(&["general", "log_level"], format!("invalid filter: {e}"));
        }
        let url = &self.store.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problem(
                &["store", "url"],
                "must be empty, sqlite:... or postgres://...".into(),
            );
        }
        if !(4096..=64 * 1024 * 1024).contains(&self.limits.max_stanza_bytes) {
            problem(
                &["limits", "max_stanza_bytes"],
                "must be between 4096 and 67108864".into(),
            );
        }
        if !(4..=256).contains(&self.limits.max_depth) {
            problem(&["limits", "max_depth"], "must be between 4 and 256".into());
        }
        if !(1..=65536).contains(&self.limits.session_inbox) {
            problem(
                &["limits", "session_inbox"],
                "must be between 1 and 65536".into(),
            );
        }
        let rate = self.limits.stanzas_per_second;
        if !(rate.is_finite() && (0.0..=100_000.0).contains(&rate)) {
            problem(
                &["limits", "stanzas_per_second"],
                "must be between 0 (no limit) and 100000".into(),
            );
        }
        if !(1..=100_000).contains(&self.limits.stanza_burst) {
            problem(
                &["limits", "stanza_burst"],
                "must be between 1 and 100000".into(),
            );
        }
        if !(1..=100_000).contains(&self.server.max_unauthenticated) {
            problem(
                &["server", "max_unauthenticated"],
                "must be between 1 and 100000".into(),
            );
        }
        if !(1..=self.server.max_unauthenticated.max(1))
            .contains(&self.server.max_unauthenticated_per_address)
        {
            problem(
                &["server", "max_unauthenticated_per_address"],
                "must be between 1 and max_unauthenticated".into(),
            );
        }
        if self.component.host.trim().is_empty() {
            problem(&["component", "host"], "must not be empty".into());
        }
        if self.component.port == 0 {
            problem(&["component", "port"], "must not be 0".into());
        }
        let admin = &self.admin;
        if admin.listen.parse::<SocketAddr>().is_err() {
            problem(
                &["admin", "listen"],
                format!(
                    "{:?} is not an IP:port address (e.g. \"{DEFAULT_ADMIN_LISTEN}\" or \"[::1]:8780\")",
                    admin.listen
                ),
            );
        }
        for j in &admin.jids {
            if let Err(e) = parse_admin_jid(j) {
                problem(&["admin", "jids"], e);
            }
        }
        if !(1..=30 * 86400).contains(&admin.session_idle_timeout) {
            problem(
                &["admin", "session_idle_timeout"],
                "must be between 1 and 2592000 seconds".into(),
            );
        }
        if !(60..=30 * 86400).contains(&admin.session_max_age) {
            problem(
                &["admin", "session_max_age"],
                "must be between 60 and 2592000 seconds".into(),
            );
        } else if admin.session_max_age < admin.session_idle_timeout {
            problem(
                &["admin", "session_max_age"],
                "must not be shorter than session_idle_timeout".into(),
            );
        }
        if !(1..=100).contains(&admin.login_attempts_per_minute) {
            problem(
                &["admin", "login_attempts_per_minute"],
                "must be between 1 and 100".into(),
            );
        }
        let mut domains = BTreeMap::new();
        for (name, t) in &self.transports {
            if let Some(kind) = &t.kind
                && kind != BACKEND_KIND
            {
                problem(
                    &["transports", name, "kind"],
                    format!(
                        "{kind:?} is not a kind: set \"{BACKEND_KIND}\" for a backend process, or leave it out for a transport built in (named by its table)"
                    ),
                );
            } else if t.is_backend() {
                if t.command.first().is_none_or(|p| p.trim().is_empty()) {
                    problem(
                        &["transports", name, "command"],
                        "a backend needs its command line, e.g. [\"python3\", \"/opt/echo.py\"]"
                            .into(),
                    );
                }
            } else if !t.command.is_empty() || !t.env.is_empty() || t.working_dir.is_some() {
                problem(
                    &["transports", name, "command"],
                    format!("command, env and working_dir are for kind = \"{BACKEND_KIND}\""),
                );
            } else if !known.contains(&name.as_str()) {
                problem(
                    &["transports", name],
                    format!(
                        "no transport named {name:?} in this build (available: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            let valid_domain = jid::Jid::new(&t.domain)
                .is_ok_and(|j| j.node().is_none() && j.resource().is_none());
            if !valid_domain {
                problem(
                    &["transports", name, "domain"],
                    format!("{:?} is not a valid domain", t.domain),
                );
            }
            if let Some(other) = domains.insert(t.domain.to_ascii_lowercase(), name) {
                problem(
                    &["transports", name, "domain"],
                    format!("{:?} is already used by transport {other:?}", t.domain),
                );
            }
            if !t.is_backend()
                && known.contains(&name.as_str())
                && let Err(e) = crate::transports::build(name, &t.option_strings())
            {
                problem(&["transports", name, "options"], e);
            }
            if let Some(Err(e)) = t
                .history_days
                .map(pontoon_core::ops::policy::check_history_days)
            {
                problem(&["transports", name, "history_days"], e);
            }
            if let Some(Err(e)) = t
                .history_per_room
                .map(pontoon_core::ops::policy::check_history_per_room)
            {
                problem(&["transports", name, "history_per_room"], e);
            }
            if let Some(Err(e)) = t
                .always_online_limit
                .map(pontoon_core::ops::policy::check_always_online_limit)
            {
                problem(&["transports", name, "always_online_limit"], e);
            }
            if t.secret.is_empty() && !server_mode {
                problem(
                    &["transports", name, "secret"],
                    "must not be empty (it must match the XMPP server's component_secret)".into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Advice about values that are valid but risky, for `check-config` and the log.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.transports.is_empty() {
            out.push(
                "no transport is configured: Pontoon will run but reach no network; add a [transports.<name>] table (see pontoon.example.toml)"
                    .to_owned(),
            );
        }
        if self.admin.enabled && !self.admin.is_loopback() {
            out.push(format!(
                "the admin console listens on {}, not on loopback: put it behind a TLS reverse proxy (it speaks plain HTTP){}",
                self.admin.listen,
                if self.admin.secure_cookies() {
                    ""
                } else {
                    ", and turn secure_cookies back on"
                }
            ));
        }
        out
    }

    /// Where server mode's TLS certificate comes from.
    pub fn tls_source(&self) -> pontoon_xmpp::tls::TlsSource {
        use pontoon_xmpp::tls::TlsSource;
        let s = &self.server;
        if !s.pkcs12.is_empty() {
            TlsSource::Pkcs12 {
                path: self.base_dir.join(&s.pkcs12),
                password: s.cert_password.clone(),
            }
        } else if !s.cert.is_empty() {
            TlsSource::Pem {
                cert: self.base_dir.join(&s.cert),
                key: self.base_dir.join(&s.key),
            }
        } else {
            TlsSource::Generated {
                dir: self.data_dir().join("tls"),
                domains: self.transports.values().map(|t| t.domain.clone()).collect(),
                include_localhost: self.server.listen_addr().ip().is_loopback(),
            }
        }
    }

    /// The data directory, resolved.
    pub fn data_dir(&self) -> PathBuf {
        self.base_dir.join(&self.general.data_dir)
    }

    /// The store URL, resolved.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir().join("pontoon.db").display())
        } else {
            self.store.url.clone()
        }
    }

    /// The key file, resolved.
    pub fn key_file(&self) -> PathBuf {
        if self.store.key_file.is_empty() {
            self.data_dir().join("store.key")
        } else {
            self.base_dir.join(&self.store.key_file)
        }
    }
}
