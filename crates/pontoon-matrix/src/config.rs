//! The Matrix transport's options, as the operator sets them (`[transports.matrix]`'s
//! `options`, or the console), checked once into a [`MatrixConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use pontoon_core::net::plausible_host;
use pontoon_core::transport::{OptionKind, OptionSpec};
use url::Url;

/// How the Matrix transport runs.
#[derive(Clone, Debug)]
pub struct MatrixConfig {
    /// The one homeserver every user logs in to (its client-server API base URL); `None`
    /// lets users log in to the homeserver of their Matrix id, within `allowed_homeservers`.
    pub homeserver: Option<Url>,
    /// The server name in the ids of the fixed homeserver's users (`@alice:<this>`), which
    /// completes a bare localpart at registration; unset, users give their whole id.
    pub server_name: Option<String>,
    /// Server names users may log in to when no homeserver is fixed; empty: any public one
    /// (never one that resolves to a loopback or private address).
    pub allowed_homeservers: Vec<String>,
    /// How long one `/sync` long-poll waits for news on the homeserver.
    pub sync_timeout: Duration,
    /// The largest answer read from a homeserver (a `/sync` included); a bigger one is
    /// refused and the session tells the user.
    pub max_response_bytes: usize,
    /// The name Pontoon's device carries in the user's device list.
    pub device_name: String,
    /// How long a message the user sent may wait for the homeserver (while it is away or
    /// rate-limits) before it is bounced to the user.
    pub send_deadline: Duration,
    /// The largest file sent to Matrix from an XMPP client's link.
    pub max_upload_bytes: u64,
    /// Host names of Pontoon's own listeners, whose files (XEP-0363 uploads) may be
    /// fetched even on internal addresses; set by the binary, not an option.
    pub own_hosts: Vec<String>,
    /// How long a session's encryption machine stays in memory after its last work
    /// (decrypting, encrypting, keys arriving); it is built again from the store when
    /// needed.
    pub e2ee_idle: Duration,
    /// Sessions that log in and run their first sync at once; the others wait their turn
    /// (a restart brings every user back together).
    pub logins_at_once: usize,
}

impl Default for MatrixConfig {
    fn default() -> Self {
        MatrixConfig {
            homeserver: None,
            server_name: None,
            allowed_homeservers: Vec::new(),
            sync_timeout: Duration::from_secs(30),
            max_response_bytes: 16 << 20,
            device_name: "Pontoon XMPP gateway".to_owned(),
            send_deadline: Duration::from_secs(120),
            max_upload_bytes: 100 << 20,
            own_hosts: Vec::new(),
            e2ee_idle: Duration::from_secs(60),
            logins_at_once: 8,
        }
    }
}

/// The options the Matrix transport accepts, for the operator's forms: the one list of
/// its keys (`from_options` refuses any other), with the defaults of
/// [`MatrixConfig::default`].
pub const OPTION_SPECS: &[OptionSpec] = &[
    OptionSpec::new(
        "homeserver",
        OptionKind::Text,
        None,
        "Fix the transport to this homeserver (its URL, like https://matrix.example.org); empty lets users log in to the homeserver of their Matrix id.",
    ),
    OptionSpec::new(
        "server_name",
        OptionKind::Host,
        None,
        "The server name in the Matrix ids of the fixed homeserver's users: users may then give a bare user name, and ids of other servers are refused.",
    ),
    OptionSpec::new(
        "allowed_homeservers",
        OptionKind::List,
        Some("any public homeserver"),
        "Server names users may log in to when no homeserver is fixed.",
    ),
    OptionSpec::new(
        "sync_timeout_secs",
        OptionKind::Number {
            min: 1.0,
            max: 300.0,
        },
        Some("30"),
        "How long one /sync long-poll waits on the homeserver.",
    ),
    OptionSpec::new(
        "max_response_kib",
        OptionKind::Number {
            min: 64.0,
            max: 262_144.0,
        },
        Some("16384"),
        "The largest answer read from a homeserver, in KiB.",
    ),
    OptionSpec::new(
        "device_name",
        OptionKind::Text,
        Some("Pontoon XMPP gateway"),
        "The name of Pontoon's device in the user's device list.",
    ),
    OptionSpec::new(
        "send_deadline_secs",
        OptionKind::Number {
            min: 5.0,
            max: 3600.0,
        },
        Some("120"),
        "How long a message may wait for an unreachable homeserver before it is bounced.",
    ),
    OptionSpec::new(
        "max_upload_kib",
        OptionKind::Number {
            min: 1.0,
            max: 4_194_304.0,
        },
        Some("102400"),
        "The largest file a user's client may send to Matrix (fetched from its link and uploaded to the homeserver), in KiB.",
    ),
    OptionSpec::new(
        "e2ee_idle_secs",
        OptionKind::Number {
            min: 0.0,
            max: 86_400.0,
        },
        Some("60"),
        "How long a session keeps its encryption state in memory after its last use (it is reloaded from the store when needed).",
    ),
    OptionSpec::new(
        "logins_at_once",
        OptionKind::Number {
            min: 1.0,
            max: 1000.0,
        },
        Some("8"),
        "How many sessions log in and catch up at once; the others wait their turn (a restart brings every user back together).",
    ),
];

fn number(key: &str, v: &str) -> Result<u64, String> {
    let spec = OPTION_SPECS.iter().find(|s| s.name == key);
    let n = v
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("option {key}: not a whole number: {v:?}"))?;
    if let Some(OptionKind::Number { min, max }) = spec.map(|s| s.kind)
        && !(min..=max).contains(&(n as f64))
    {
        return Err(format!("option {key}: {n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Checks a homeserver URL the operator gave: http or https, a host, no credentials,
/// query or fragment (the API paths are appended to it).
pub fn homeserver_url(v: &str) -> Result<Url, String> {
    let url = Url::parse(v.trim()).map_err(|e| format!("not a URL ({e}): {v:?}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the URL must be http or https: {v:?}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the URL has no host: {v:?}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("the URL must not have a query or fragment: {v:?}"));
    }
    Ok(url)
}

impl MatrixConfig {
    /// The server name of the fixed homeserver's users, where the operator gave it: it
    /// completes a bare user name at registration, and ids of other servers are refused.
    /// Without it, users give their whole Matrix id and the homeserver judges it.
    pub fn fixed_server_name(&self) -> Option<String> {
        self.homeserver.as_ref()?;
        self.server_name.clone()
    }

    /// Builds the configuration from the transport's options, or says what is wrong.
    pub fn from_options(o: &BTreeMap<String, String>) -> Result<MatrixConfig, String> {
        if let Some(k) = o
            .keys()
            .find(|k| !OPTION_SPECS.iter().any(|s| s.name == *k))
        {
            let names: Vec<&str> = OPTION_SPECS.iter().map(|s| s.name).collect();
            return Err(format!(
                "unknown Matrix option {k:?} (known: {})",
                names.join(", ")
            ));
        }
        let mut cfg = MatrixConfig::default();
        if let Some(v) = o.get("homeserver").filter(|v| !v.trim().is_empty()) {
            cfg.homeserver =
                Some(homeserver_url(v).map_err(|e| format!("option homeserver: {e}"))?);
        }
        if let Some(v) = o
            .get("server_name")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            let host = v.rsplit_once(':').map_or(v, |(h, _)| h);
            if !plausible_host(host) {
                return Err(format!("option server_name: not a server name: {v:?}"));
            }
            cfg.server_name = Some(v.to_ascii_lowercase());
        }
        if let Some(v) = o.get("allowed_homeservers") {
            for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let name = name.to_ascii_lowercase();
                if !plausible_host(&name) {
                    return Err(format!(
                        "option allowed_homeservers: not a server name: {name:?}"
                    ));
                }
                cfg.allowed_homeservers.push(name);
            }
        }
        if let Some(v) = o.get("sync_timeout_secs") {
            cfg.sync_timeout = Duration::from_secs(number("sync_timeout_secs", v)?);
        }
        if let Some(v) = o.get("max_response_kib") {
            cfg.max_response_bytes = number("max_response_kib", v)? as usize * 1024;
        }
        if let Some(v) = o.get("max_upload_kib") {
            cfg.max_upload_bytes = number("max_upload_kib", v)? * 1024;
        }
        if let Some(v) = o.get("send_deadline_secs") {
            cfg.send_deadline = Duration::from_secs(number("send_deadline_secs", v)?);
        }
        if let Some(v) = o.get("e2ee_idle_secs") {
            cfg.e2ee_idle = Duration::from_secs(number("e2ee_idle_secs", v)?);
        }
        if let Some(v) = o.get("logins_at_once") {
            let n = number("logins_at_once", v)?;
            cfg.logins_at_once = usize::try_from(n).unwrap_or(1000);
        }
        if let Some(v) = o.get("device_name") {
            let v = v.trim();
            if v.is_empty() || v.len() > 100 || v.chars().any(char::is_control) {
                return Err(
                    "option device_name: 1 to 100 characters, no control characters".to_owned(),
                );
            }
            cfg.device_name = v.to_owned();
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn options() {
        let c = MatrixConfig::from_options(&opts(&[
            ("homeserver", "http://127.0.0.1:8008"),
            ("sync_timeout_secs", "5"),
            ("max_response_kib", "1024"),
            ("e2ee_idle_secs", "0"),
            ("logins_at_once", "2"),
        ]))
        .unwrap();
        assert_eq!(c.e2ee_idle, Duration::ZERO);
        assert_eq!(c.logins_at_once, 2);
        assert_eq!(c.homeserver.unwrap().as_str(), "http://127.0.0.1:8008/");
        assert_eq!(c.sync_timeout, Duration::from_secs(5));
        assert_eq!(c.max_response_bytes, 1 << 20);
        let c = MatrixConfig::from_options(&opts(&[(
            "allowed_homeservers",
            "Matrix.org, example.org",
        )]))
        .unwrap();
        assert_eq!(c.allowed_homeservers, ["matrix.org", "example.org"]);
        for (k, v, says) in [
            ("homeserver", "ftp://x", "http or https"),
            ("homeserver", "https://u:p@x", "user name"),
            ("homeserver", "https://x/?a=b", "query"),
            ("sync_timeout_secs", "0", "outside"),
            ("sync_timeout_secs", "x", "whole number"),
            ("logins_at_once", "0", "outside"),
            ("allowed_homeservers", "a b", "server name"),
            ("nope", "1", "unknown Matrix option"),
        ] {
            let e = MatrixConfig::from_options(&opts(&[(k, v)])).unwrap_err();
            assert!(e.contains(says), "{k}={v}: {e}");
        }
    }
}
