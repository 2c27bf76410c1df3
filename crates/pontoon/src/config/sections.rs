//! The sections of the file, each with its defaults: `[general]`, `[store]`, `[limits]`,
//! `[component]`, `[server]`, `[admin]`, `[transports.NAME]`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pontoon_store::TransportPolicy;
use serde::Deserialize;

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
    /// How log lines are written to standard error: `text` (one readable line per event;
    /// colours only on a terminal) or `json` (one JSON object per line, for log shippers).
    pub log_format: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            mode: "server".into(),
            data_dir: "data".into(),
            log_level: "info".into(),
            log_format: "text".into(),
        }
    }
}

impl General {
    /// Whether log lines are JSON objects (`log_format = "json"`).
    pub fn json_logs(&self) -> bool {
        self.log_format == "json"
    }

    /// The tracing filter `log_level` spells, as the process installs it (`RUST_LOG` aside),
    /// or what is wrong with it.
    ///
    /// Stricter than `EnvFilter::try_new`, whose parser (tracing-subscriber 0.3.23) hangs or
    /// panics on some text (found with the fuzz target `config_load`, and in that parser's
    /// code):
    /// - span field values (`[span{field=value}]`) are refused. Read as regular expressions,
    ///   their automaton can take exponential time and memory to build (`.*a` then 16 dots:
    ///   over a minute); read literally (`with_regex(false)`), two directives whose fields
    ///   sort equal fail an assertion in debug builds. Span names and field names
    ///   (`[span{field}]=debug`) are accepted; one transport's debug logs are switched on
    ///   from the console instead (its `debug_logging`), or with `RUST_LOG`.
    /// - each directive is trimmed first: the parser slices the untrimmed text at the trimmed
    ///   text's offsets, which panics on a directive that starts with a space and then a
    ///   non-ASCII character.
    pub fn log_filter(&self) -> Result<tracing_subscriber::EnvFilter, String> {
        let mut directives = Vec::new();
        for directive in self.log_level.split(',').map(str::trim) {
            if has_field_value(directive) {
                return Err(format!(
                    "{directive:?}: span field values ({{field=value}}) are not accepted"
                ));
            }
            directives.push(directive);
        }
        // No field value is left to read as a regular expression; literal reading is kept
        // should one ever get through.
        tracing_subscriber::EnvFilter::builder()
            .with_regex(false)
            .parse(directives.join(","))
            .map_err(|e| e.to_string())
    }
}

/// Whether a filter directive has a `=` inside braces (a span field value), wherever the
/// braces are: a superset of what tracing's parser reads as field values.
fn has_field_value(directive: &str) -> bool {
    directive.split('{').skip(1).any(|after| {
        after
            .split('}')
            .next()
            .is_some_and(|inside| inside.contains('='))
    })
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
pub(super) fn parse_admin_jid(text: &str) -> Result<jid::BareJid, String> {
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
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// `"backend"` for a network reached through a backend process (docs/backends.md);
    /// unset for the transports built in, which are named by the table.
    #[serde(default)]
    pub kind: Option<String>,
    /// A backend's program and arguments. Read from this file only: the console and the
    /// store cannot change what Pontoon runs.
    #[serde(default)]
    pub command: Vec<String>,
    /// A backend's whole environment (Pontoon's own is not passed on, but `PATH`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A backend's working directory.
    #[serde(default)]
    pub working_dir: Option<std::path::PathBuf>,
    /// Users served by one backend process; 0 (the default) for all in one.
    #[serde(default)]
    pub users_per_process: usize,
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
    /// Policy seed: days the message archive keeps (0: nothing is archived); unset:
    /// [`pontoon_store::DEFAULT_HISTORY_DAYS`].
    #[serde(default)]
    pub history_days: Option<u32>,
    /// Policy seed: messages the archive keeps per room, at most (0: no count limit);
    /// unset: [`pontoon_store::DEFAULT_HISTORY_PER_ROOM`].
    #[serde(default)]
    pub history_per_room: Option<u32>,
    /// Policy seed: users stay online while away (their legacy session stays connected and
    /// in its rooms while no XMPP client of theirs is online) unless they say otherwise;
    /// unset: no.
    #[serde(default)]
    pub always_online_default: Option<bool>,
    /// Policy seed: at most this many users are kept online while away at once (0: nobody
    /// is); unset: [`pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT`].
    #[serde(default)]
    pub always_online_limit: Option<u32>,
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

/// The `kind` of a backend transport.
pub const BACKEND_KIND: &str = "backend";

impl TransportConfig {
    /// Whether this transport is a backend process.
    pub fn is_backend(&self) -> bool {
        self.kind.as_deref() == Some(BACKEND_KIND)
    }

    /// How to run this backend transport named `name`, relative paths taken from
    /// `base_dir`; `None` for a built-in transport.
    pub fn backend(
        &self,
        name: &str,
        base_dir: &std::path::Path,
    ) -> Option<pontoon_backend::BackendConfig> {
        if !self.is_backend() {
            return None;
        }
        let mut command = self.command.clone();
        // A program named by a relative path is the configuration's, like its other files;
        // a bare name is looked up in PATH.
        if let Some(program) = command.first_mut()
            && program.contains('/')
            && std::path::Path::new(program.as_str()).is_relative()
        {
            *program = base_dir.join(program.as_str()).display().to_string();
        }
        Some(pontoon_backend::BackendConfig {
            name: name.to_owned(),
            command,
            env: self.env.clone(),
            working_dir: self.working_dir.as_ref().map(|d| base_dir.join(d)),
            users_per_process: self.users_per_process,
            // The store's options, in force, are set when the transport starts.
            options: BTreeMap::new(),
            limits: pontoon_backend::Limits::default(),
        })
    }

    /// The policy this table seeds the store with.
    pub fn policy_seed(&self) -> TransportPolicy {
        TransportPolicy {
            enabled: self.enabled,
            public_registration: self.public_registration,
            manual_registration_only: self.manual_registration_only,
            allowed_servers: self.allowed_servers.clone(),
            allow_list: self.allow_list.clone(),
            options: self.option_strings(),
            history_days: self
                .history_days
                .unwrap_or(pontoon_store::DEFAULT_HISTORY_DAYS),
            history_per_room: self
                .history_per_room
                .unwrap_or(pontoon_store::DEFAULT_HISTORY_PER_ROOM),
            always_online_default: self.always_online_default.unwrap_or(false),
            always_online_limit: self
                .always_online_limit
                .unwrap_or(pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT),
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
