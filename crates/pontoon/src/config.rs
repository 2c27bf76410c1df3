//! The TOML configuration: static wiring (mode, domains, secrets, ports, storage, limits).
//!
//! Every key has a default, so Pontoon runs without a file. Errors name the key and the
//! line at fault, because an operator reads them in a terminal, not in a debugger.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pontoon_store::TransportPolicy;
use serde::Deserialize;

/// The commented example written by `pontoon init`.
pub const EXAMPLE: &str = include_str!("../../../pontoon.example.toml");

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[general]`.
    pub general: General,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[limits]`.
    pub limits: Limits,
    /// `[component]`.
    pub component: Component,
    /// `[admin]`.
    pub admin: AdminSection,
    /// `[server]`: the client listener of server mode.
    pub server: ServerSection,
    /// `[transports.NAME]`.
    pub transports: BTreeMap<String, TransportConfig>,
    /// Directory of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[general]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// `component` (an XEP-0114 component of an XMPP server) or `server` (XMPP clients
    /// connect to Pontoon itself).
    pub mode: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// tracing filter.
    pub log_level: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            mode: "server".into(),
            data_dir: "data".into(),
            log_level: "info".into(),
        }
    }
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database URL; empty for the SQLite file in the data directory.
    pub url: String,
    /// Key file; empty for `<data_dir>/store.key`.
    pub key_file: String,
    /// Days the message id map keeps a message's ids (corrections and retractions of older
    /// messages are refused with item-not-found).
    pub message_id_retention_days: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: String::new(),
            key_file: String::new(),
            message_id_retention_days: 30,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest stanza accepted, in bytes.
    pub max_stanza_bytes: usize,
    /// Deepest nesting accepted.
    pub max_depth: usize,
    /// Capacity of each session's inbox.
    pub session_inbox: usize,
    /// Requests and messages one user may send per second, after a burst of
    /// `stanza_burst` (zero: no limit). Server mode reads each client connection no faster
    /// (any stanza counts there); every transport refuses a user's IQs and messages
    /// beyond it with `policy-violation`.
    pub stanzas_per_second: f64,
    /// The burst allowed before `stanzas_per_second` applies.
    pub stanza_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let rate = pontoon_core::rate_limit::StanzaRate::default();
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            session_inbox: 256,
            stanzas_per_second: rate.per_second,
            stanza_burst: rate.burst,
        }
    }
}

impl Limits {
    /// The per-user stanza rate.
    pub fn stanza_rate(&self) -> pontoon_core::rate_limit::StanzaRate {
        pontoon_core::rate_limit::StanzaRate {
            per_second: self.stanzas_per_second,
            burst: self.stanza_burst,
        }
    }
}

/// `[component]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Component {
    /// Host XMPP server address.
    pub host: String,
    /// Its component port.
    pub port: u16,
}

impl Default for Component {
    fn default() -> Self {
        Component {
            host: "127.0.0.1".into(),
            port: 5347,
        }
    }
}

/// Where server mode listens for clients by default: loopback only.
pub const DEFAULT_SERVER_LISTEN: &str = "127.0.0.1:5222";

/// `[server]`: the client-to-server listener of server mode.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// `IP:port` for STARTTLS client streams.
    pub listen: String,
    /// `IP:port` for XEP-0368 direct TLS client streams (none when empty).
    pub direct_tls_listen: String,
    /// PEM certificate chain (with `key`); empty with `pkcs12` empty: a generated local CA.
    pub cert: String,
    /// PEM private key (with `cert`).
    pub key: String,
    /// PKCS#12 bundle (instead of `cert` and `key`).
    pub pkcs12: String,
    /// Password of the PKCS#12 bundle.
    pub cert_password: String,
    /// Allow plain-text logins (no TLS) from loopback clients.
    pub allow_plaintext_on_loopback: bool,
    /// Allow logins the legacy network cannot check (an IRC server without SASL); unset:
    /// only when `listen` is a loopback address.
    pub allow_unauthenticated_legacy_logins: Option<bool>,
    /// Most client connections that have not logged in yet, over every listener.
    pub max_unauthenticated: usize,
    /// Most of those from one address (IPv6: per /64).
    pub max_unauthenticated_per_address: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: DEFAULT_SERVER_LISTEN.into(),
            direct_tls_listen: String::new(),
            cert: String::new(),
            key: String::new(),
            pkcs12: String::new(),
            cert_password: String::new(),
            allow_plaintext_on_loopback: false,
            allow_unauthenticated_legacy_logins: None,
            max_unauthenticated: 256,
            max_unauthenticated_per_address: 32,
        }
    }
}

impl std::fmt::Debug for ServerSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSection")
            .field("listen", &self.listen)
            .field("direct_tls_listen", &self.direct_tls_listen)
            .field("cert", &self.cert)
            .field("pkcs12", &self.pkcs12)
            .field("cert_password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ServerSection {
    /// The STARTTLS listen address (the default when invalid; validation reports it).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 5222)))
    }

    /// The direct TLS listen address, if any.
    pub fn direct_tls_addr(&self) -> Option<SocketAddr> {
        self.direct_tls_listen.parse().ok()
    }

    /// Whether unchecked legacy logins are allowed.
    pub fn allow_unauthenticated(&self) -> bool {
        self.allow_unauthenticated_legacy_logins
            .unwrap_or(self.listen_addr().ip().is_loopback())
    }
}

/// Where the web console, REST API and metrics listen by default: loopback only.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8780";

/// `[admin]`: the web console, its REST API and metrics, and XMPP admin JIDs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Serve the console at all.
    pub enabled: bool,
    /// `IP:port` to listen on.
    pub listen: String,
    /// Bare JIDs allowed to use the ad-hoc commands on the transport domains.
    pub jids: Vec<String>,
    /// Seconds without a request after which a console session ends.
    pub session_idle_timeout: u64,
    /// Seconds after which a console session ends whatever the activity.
    pub session_max_age: u64,
    /// Failed logins allowed per minute and client address (IPv6: per /64), at most 100.
    pub login_attempts_per_minute: u32,
    /// Mark session cookies `Secure`; unset: on unless `listen` is a loopback address.
    pub secure_cookies: Option<bool>,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            enabled: true,
            listen: DEFAULT_ADMIN_LISTEN.into(),
            jids: Vec::new(),
            session_idle_timeout: 1800,
            session_max_age: 43200,
            login_attempts_per_minute: 5,
            secure_cookies: None,
        }
    }
}

impl AdminSection {
    /// The listen address (valid once the configuration is validated; the default otherwise).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 8780)))
    }

    /// Whether the console listens on loopback only.
    pub fn is_loopback(&self) -> bool {
        self.listen_addr().ip().is_loopback()
    }

    /// Whether session cookies carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or(!self.is_loopback())
    }

    /// Idle timeout of a console session.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_timeout)
    }

    /// Maximum age of a console session.
    pub fn session_max(&self) -> Duration {
        Duration::from_secs(self.session_max_age)
    }

    /// The admin JIDs, parsed (invalid entries, refused by validation, are skipped).
    pub fn admin_jids(&self) -> Vec<jid::BareJid> {
        self.jids
            .iter()
            .filter_map(|j| parse_admin_jid(j).ok())
            .collect()
    }
}

/// An admin JID: a bare JID with a local part (`user@example.org`).
fn parse_admin_jid(text: &str) -> Result<jid::BareJid, String> {
    let bare = jid::BareJid::new(text).map_err(|e| format!("{text:?} is not a bare JID: {e}"))?;
    if bare.node().is_none() {
        return Err(format!(
            "{text:?} is a domain; a user's bare JID (user@example.org) is needed"
        ));
    }
    Ok(bare)
}

fn yes() -> bool {
    true
}

/// `[transports.NAME]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// Component domain.
    pub domain: String,
    /// Component secret shared with the XMPP server (component mode only).
    #[serde(default)]
    pub secret: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Policy seed: enabled.
    #[serde(default)]
    pub enabled: bool,
    /// Policy seed: public registration.
    #[serde(default = "yes")]
    pub public_registration: bool,
    /// Policy seed: manual registration only.
    #[serde(default)]
    pub manual_registration_only: bool,
    /// Policy seed: allowed XMPP server domains.
    #[serde(default)]
    pub allowed_servers: Vec<String>,
    /// Policy seed: allowed JIDs or domains.
    #[serde(default)]
    pub allow_list: Vec<String>,
    /// Transport options (`[transports.NAME.options]`): connect host and port, TLS, flood
    /// limits... as the transport defines them. Seeded into the store like the policy.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

impl std::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("domain", &self.domain)
            .field("secret", &"<redacted>")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    /// The policy this table seeds the store with.
    pub fn policy_seed(&self) -> TransportPolicy {
        TransportPolicy {
            enabled: self.enabled,
            public_registration: self.public_registration,
            manual_registration_only: self.manual_registration_only,
            allowed_servers: self.allowed_servers.clone(),
            allow_list: self.allow_list.clone(),
            options: self.option_strings(),
            ..TransportPolicy::default()
        }
    }

    /// The options as the store keeps them: strings (TOML strings unquoted, lists joined by commas).
    pub fn option_strings(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// A configuration error, located in the file where possible.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax or type errors.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the line and key.
        message: String,
    },
    /// Values that parse but make no sense.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// One invalid value.
#[derive(Debug)]
pub struct Problem {
    /// The file and line, when known.
    pub location: String,
    /// The key, dotted.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.key, self.message)
    }
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
            ..Config::default()
        };
        config.transports.insert(
            "irc".into(),
            TransportConfig {
                domain: EMBEDDED_IRC_DOMAIN.into(),
                secret: String::new(),
                name: Some("IRC".into()),
                enabled: false,
                public_registration: true,
                manual_registration_only: false,
                allowed_servers: Vec::new(),
                allow_list: Vec::new(),
                options: BTreeMap::new(),
            },
        );
        config
    }

    /// Loads `path`; a missing file gives the embedded defaults when `allow_missing`.
    pub fn load(path: &Path, allow_missing: bool) -> Result<Config, ConfigError> {
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if allow_missing && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::embedded(base_dir));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.base_dir = base_dir;
        config.validate(path, &text, &crate::transports::available())?;
        Ok(config)
    }

    /// Checks values beyond their types.
    fn validate(&self, path: &Path, text: &str, known: &[&str]) -> Result<(), ConfigError> {
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
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.general.log_level) {
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
            if !known.contains(&name.as_str()) {
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
            if known.contains(&name.as_str())
                && let Err(e) = crate::transports::build(name, &t.option_strings())
            {
                problem(&["transports", name, "options"], e);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t.toml".into(),
            message: e.to_string(),
        })?;
        c.base_dir = ".".into();
        c.validate(Path::new("t.toml"), text, &["test"])?;
        Ok(c)
    }

    #[test]
    fn example_is_valid_and_empty_is_default() {
        let c = check(EXAMPLE).unwrap();
        assert_eq!(c.component.port, 5347);
        assert!(c.transports.is_empty());
        assert!(check("").is_ok());
    }

    #[test]
    fn errors_name_key_and_line() {
        let text = "[general]\nmode = \"component\"\n\n[transports.test]\ndomain = \"not a domain@\"\nsecret = \"\"\n";
        let err = check(text).unwrap_err().to_string();
        assert!(err.contains("t.toml:5: transports.test.domain"), "{err}");
        assert!(err.contains("t.toml:6: transports.test.secret"), "{err}");
        let err = check("[general]\nmood = 1\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("mood"), "{err}");
        let err = check("[transports.nosuch]\ndomain = \"a.b\"\nsecret = \"s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml:1: transports.nosuch"), "{err}");
    }
    #[test]
    fn server_mode() {
        // Defaults: loopback, generated certificate, unchecked logins only on loopback.
        let c = check("[general]\nmode = \"server\"\n").unwrap();
        assert_eq!(c.server.listen_addr().to_string(), DEFAULT_SERVER_LISTEN);
        assert!(c.server.allow_unauthenticated());
        assert!(!c.server.allow_plaintext_on_loopback);
        assert!(c.server.direct_tls_addr().is_none());
        assert!(matches!(
            c.tls_source(),
            pontoon_xmpp::tls::TlsSource::Generated {
                include_localhost: true,
                ..
            }
        ));
        let c = check("[general]\nmode = \"server\"\n[server]\nlisten = \"0.0.0.0:5222\"\npkcs12 = \"c.p12\"\ncert_password = \"pw\"\n").unwrap();
        assert!(!c.server.allow_unauthenticated());
        assert!(matches!(
            c.tls_source(),
            pontoon_xmpp::tls::TlsSource::Pkcs12 { .. }
        ));
        assert!(!format!("{:?}", c.server).contains("\"pw\""));
        // The example's [server] is the defaults.
        let e = check(EXAMPLE).unwrap();
        assert_eq!(
            e.server.listen,
            c.server.listen.replace("0.0.0.0", "127.0.0.1")
        );
        // Errors name key and line.
        let text = "[general]\nmode = \"server\"\n[server]\nlisten = \"nope\"\ncert = \"a.pem\"\ncert_password = \"x\"\n";
        let err = check(text).unwrap_err().to_string();
        assert!(err.contains("t.toml:4: server.listen"), "{err}");
        assert!(
            err.contains("t.toml:5: server.key") || err.contains("server.key"),
            "{err}"
        );
        assert!(err.contains("t.toml:6: server.cert_password"), "{err}");
        let err = check("[general]\nmode = \"peer\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml:2: general.mode"), "{err}");
        // No secret needed in server mode, still in component mode.
        let mut c: Config =
            toml::from_str("[transports.irc]\ndomain = \"irc.localhost\"\n").unwrap();
        c.general.mode = "component".into();
        let err = c
            .validate(Path::new("t.toml"), "", &["irc"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("transports.irc.secret"), "{err}");
        c.general.mode = "server".into();
        c.validate(Path::new("t.toml"), "", &["irc"]).unwrap();
    }

    #[test]
    fn embedded_defaults_are_server_mode_on_loopback() {
        // No file: server mode, c2s and console on loopback, a generated certificate,
        // data under data/, one disabled IRC transport not fixed to a network.
        let c = Config::load(Path::new("/nonexistent/dir/pontoon.toml"), true).unwrap();
        assert_eq!(c.general.mode, "server");
        assert_eq!(c.server.listen_addr().to_string(), DEFAULT_SERVER_LISTEN);
        assert_eq!(c.admin.listen, DEFAULT_ADMIN_LISTEN);
        assert!(c.admin.enabled);
        assert!(!c.server.allow_plaintext_on_loopback);
        assert!(matches!(
            c.tls_source(),
            pontoon_xmpp::tls::TlsSource::Generated { .. }
        ));
        assert_eq!(c.data_dir(), Path::new("/nonexistent/dir/data"));
        let irc = &c.transports["irc"];
        assert_eq!(irc.domain, EMBEDDED_IRC_DOMAIN);
        assert!(!irc.enabled);
        assert!(irc.options.is_empty());
        let mut text = String::new();
        for (name, t) in &c.transports {
            text.push_str(&format!("[transports.{name}]\ndomain = {:?}\n", t.domain));
        }
        c.validate(Path::new("t.toml"), &text, &["irc"]).unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        // A file, even an empty one, has no built-in transport; its mode defaults to server.
        let e = check("").unwrap();
        assert_eq!(e.general.mode, "server");
        assert!(e.transports.is_empty());
        // Component configurations say so.
        assert_eq!(check(EXAMPLE).unwrap().general.mode, "component");
        // Not found is only allowed where asked.
        assert!(Config::load(Path::new("/nonexistent/dir/pontoon.toml"), false).is_err());
    }

    #[test]
    fn admin_defaults() {
        let c = check("").unwrap();
        assert!(c.admin.enabled);
        assert_eq!(c.admin.listen_addr().to_string(), "127.0.0.1:8780");
        assert!(c.admin.is_loopback());
        assert!(
            !c.admin.secure_cookies(),
            "plain HTTP on loopback by default"
        );
        assert_eq!(c.admin.session_idle(), Duration::from_secs(1800));
        assert_eq!(c.admin.session_max(), Duration::from_secs(43200));
        assert_eq!(c.admin.login_attempts_per_minute, 5);
        assert!(c.admin.admin_jids().is_empty());
        assert!(c.warnings().is_empty());
        // The example spells out the same defaults.
        let e = check(EXAMPLE).unwrap();
        assert_eq!(e.admin.listen, c.admin.listen);
        assert_eq!(e.admin.enabled, c.admin.enabled);
        assert_eq!(e.admin.secure_cookies(), c.admin.secure_cookies());
        assert_eq!(e.admin.session_idle_timeout, c.admin.session_idle_timeout);
        assert_eq!(e.admin.session_max_age, c.admin.session_max_age);
        assert_eq!(
            e.admin.login_attempts_per_minute,
            c.admin.login_attempts_per_minute
        );
    }

    #[test]
    fn admin_values() {
        let c = check(
            "[admin]\nenabled = false\nlisten = \"[::1]:9000\"\njids = [\"Boss@Example.org\", \"ops@example.net\"]\nsession_idle_timeout = 600\nsession_max_age = 600\nlogin_attempts_per_minute = 10\n",
        )
        .unwrap();
        assert!(!c.admin.enabled);
        assert_eq!(c.admin.listen_addr().port(), 9000);
        assert!(c.admin.is_loopback());
        let jids: Vec<String> = c.admin.admin_jids().iter().map(|j| j.to_string()).collect();
        assert_eq!(jids, ["boss@example.org", "ops@example.net"]);

        // Public address: secure cookies by default and a warning.
        let c = check("[admin]\nlisten = \"0.0.0.0:8780\"\n").unwrap();
        assert!(c.admin.secure_cookies());
        let w = c.warnings().join("\n");
        assert!(w.contains("0.0.0.0:8780") && w.contains("TLS"), "{w}");
        let c = check("[admin]\nlisten = \"192.0.2.1:80\"\nsecure_cookies = false\n").unwrap();
        assert!(!c.admin.secure_cookies());
        assert!(c.warnings().join("").contains("secure_cookies"));
        // Disabled: nothing to warn about.
        let c = check("[admin]\nenabled = false\nlisten = \"0.0.0.0:8780\"\n").unwrap();
        assert!(c.warnings().is_empty());
        let c = check("[admin]\nsecure_cookies = true\n").unwrap();
        assert!(c.admin.secure_cookies());
    }

    #[test]
    fn admin_errors_name_key_and_line() {
        let text = "[admin]\nlisten = \"localhost\"\njids = [\"example.org\", \"a@b/res\"]\nsession_idle_timeout = 0\nsession_max_age = 100000000\nlogin_attempts_per_minute = 0\n";
        let err = check(text).unwrap_err().to_string();
        assert!(err.contains("t.toml:2: admin.listen"), "{err}");
        assert!(
            err.contains("t.toml:3: admin.jids: \"example.org\" is a domain"),
            "{err}"
        );
        assert!(err.contains("t.toml:3: admin.jids: \"a@b/res\""), "{err}");
        assert!(
            err.contains("t.toml:4: admin.session_idle_timeout"),
            "{err}"
        );
        assert!(err.contains("t.toml:5: admin.session_max_age"), "{err}");
        assert!(
            err.contains("t.toml:6: admin.login_attempts_per_minute"),
            "{err}"
        );
        let err = check("[admin]\nsession_idle_timeout = 7200\nsession_max_age = 3600\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:3: admin.session_max_age: must not be shorter"),
            "{err}"
        );
        // Port 0: any free port (the log says which).
        assert!(check("[admin]\nlisten = \"127.0.0.1:0\"\n").is_ok());
        let err = check("[admin]\nlisen = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("lisen"), "{err}");
    }
}
