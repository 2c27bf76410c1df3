//! Operator configuration of the IRC transport.
//!
//! The operator either fixes the transport to one network (then JIDs carry no `%server`
//! part) or lets users reach any network, optionally restricted to a list. Options arrive
//! as a flat string map (the store's per-transport options), so parsing is strict: an
//! unknown key is an error naming it, rather than a silently ignored typo.

use std::collections::BTreeMap;
use std::time::Duration;

use pontoon_core::transport::{OptionKind, OptionSpec};

/// Where to connect: one IRC server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// Whether to verify the server's certificate (only turned off by the operator).
    pub verify_cert: bool,
}

/// Configuration of the IRC transport.
#[derive(Clone, Debug, PartialEq)]
pub struct IrcConfig {
    /// The one network this transport is fixed to; addresses then have no `%server` part.
    pub fixed_server: Option<ServerAddr>,
    /// When not fixed: the server host names users may connect to; empty means any public
    /// host (loopback and private addresses are then refused).
    pub allowed_networks: Vec<String>,
    /// Lines that may be sent at once before pacing starts.
    pub flood_burst: u32,
    /// Lines per second after the burst.
    pub flood_per_second: f64,
    /// The real name (gecos) sent at registration.
    pub realname: String,
    /// The quit message used when the session ends without a reason of its own.
    pub quit_message: String,
    /// How long a TCP (and TLS) connect may take; registration may take four times that.
    pub connect_timeout: Duration,
    /// When not fixed: the port used for every network (6667, or 6697 with TLS).
    pub network_port: u16,
    /// When not fixed: whether to use TLS for every network.
    pub network_tls: bool,
    /// When not fixed: whether to verify certificates.
    pub network_verify_cert: bool,
    /// How often contacts' presence is polled with ISON where the server has no MONITOR
    /// (or its MONITOR list is full).
    pub presence_poll_interval: Duration,
    /// How long a room listing (LIST) may take before it fails.
    pub list_timeout: Duration,
    /// IRC server connections one user session may hold at once.
    pub max_networks_per_user: usize,
    /// Channels one connection may be in (or joining) at once.
    pub max_channels: usize,
    /// When not fixed: the ports users may choose per network (their `port` setting), as
    /// inclusive ranges; `network_port` is always allowed.
    pub user_ports: Vec<(u16, u16)>,
}

/// The ports users may choose by default: IRC's own (plain and TLS).
pub const DEFAULT_USER_PORTS: &str = "6660-6669,6679,6697,7000,7070,9999";

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            fixed_server: None,
            allowed_networks: Vec::new(),
            flood_burst: 10,
            flood_per_second: 2.0,
            realname: "Pontoon XMPP gateway user".to_owned(),
            quit_message: "Pontoon XMPP gateway".to_owned(),
            connect_timeout: Duration::from_secs(15),
            network_port: 6667,
            network_tls: false,
            network_verify_cert: true,
            presence_poll_interval: Duration::from_secs(30),
            list_timeout: Duration::from_secs(60),
            max_networks_per_user: 8,
            max_channels: 100,
            user_ports: parse_ports(DEFAULT_USER_PORTS).unwrap_or_default(),
        }
    }
}

/// The options the IRC transport accepts, for the operator's forms: the one list of its
/// keys (`from_options` refuses any other), with the defaults of [`IrcConfig::default`].
pub const OPTION_SPECS: &[OptionSpec] = &[
    OptionSpec::new(
        "connect_host",
        OptionKind::Host,
        None,
        "Fix the transport to this one IRC server; empty lets users choose networks.",
    ),
    OptionSpec::new(
        "connect_port",
        OptionKind::Number {
            min: 1.0,
            max: 65535.0,
        },
        Some("6667 (6697 with TLS)"),
        "TCP port of the server (or of every network when not fixed).",
    ),
    OptionSpec::new(
        "tls",
        OptionKind::Bool,
        Some("false"),
        "Speak TLS to the server.",
    ),
    OptionSpec::new(
        "tls_verify",
        OptionKind::Bool,
        Some("true"),
        "Verify the server's TLS certificate.",
    ),
    OptionSpec::new(
        "allowed_networks",
        OptionKind::List,
        None,
        "When not fixed: the only server host names users may reach (comma-separated); empty means any public host.",
    ),
    OptionSpec::new(
        "user_ports",
        OptionKind::List,
        Some(DEFAULT_USER_PORTS),
        "When not fixed: the ports users may choose per network (ports and ranges, comma-separated); connect_port is always allowed.",
    ),
    OptionSpec::new(
        "flood_burst",
        OptionKind::Number {
            min: 1.0,
            max: 10_000.0,
        },
        Some("10"),
        "Lines sent at once before pacing starts.",
    ),
    OptionSpec::new(
        "flood_per_second",
        OptionKind::Number {
            min: 0.001,
            max: 100_000.0,
        },
        Some("2"),
        "Lines per second after the burst.",
    ),
    OptionSpec::new(
        "realname",
        OptionKind::Text,
        Some("Pontoon XMPP gateway user"),
        "Real name (gecos) sent at registration.",
    ),
    OptionSpec::new(
        "quit_message",
        OptionKind::Text,
        Some("Pontoon XMPP gateway"),
        "Quit message when a session ends without a reason of its own.",
    ),
    OptionSpec::new(
        "connect_timeout",
        OptionKind::Number {
            min: 0.001,
            max: 600.0,
        },
        Some("15"),
        "Seconds a TCP and TLS connect may take.",
    ),
    OptionSpec::new(
        "presence_poll_interval",
        OptionKind::Number {
            min: 1.0,
            max: 3600.0,
        },
        Some("30"),
        "Seconds between ISON presence polls where the server has no MONITOR.",
    ),
    OptionSpec::new(
        "max_networks_per_user",
        OptionKind::Number {
            min: 1.0,
            max: 1000.0,
        },
        Some("8"),
        "IRC connections one user may hold at once.",
    ),
    OptionSpec::new(
        "max_channels",
        OptionKind::Number {
            min: 1.0,
            max: 10_000.0,
        },
        Some("100"),
        "Channels one connection may be in at once.",
    ),
];

fn known(key: &str) -> bool {
    OPTION_SPECS.iter().any(|s| s.name == key)
}

/// Reads `6660-6669,6697`: ports and inclusive ranges.
fn parse_ports(list: &str) -> Result<Vec<(u16, u16)>, String> {
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p != 0);
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|item| {
            let range = match item.split_once('-') {
                Some((a, b)) => port(a).zip(port(b)).filter(|(a, b)| a <= b),
                None => port(item).map(|p| (p, p)),
            };
            range.ok_or_else(|| format!("option user_ports: not a port or range: {item:?}"))
        })
        .collect()
}

fn parse_count(key: &str, v: &str, max: usize) -> Result<usize, String> {
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("option {key}: expected 1 to {max}, got {v:?}"))
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("option {key}: expected true or false, got {v:?}")),
    }
}

fn no_controls(key: &str, v: &str) -> Result<String, String> {
    if v.chars().any(char::is_control) {
        Err(format!("option {key}: control characters are not allowed"))
    } else {
        Ok(v.trim().to_owned())
    }
}

impl IrcConfig {
    /// Builds the configuration from the operator's options.
    ///
    /// Keys: `connect_host`, `connect_port` (default 6667, or 6697 with TLS), `tls`,
    /// `tls_verify` (default true), `allowed_networks` (comma list), `flood_burst`,
    /// `flood_per_second`, `realname`, `quit_message`, `connect_timeout` (seconds),
    /// `presence_poll_interval` (seconds between ISON polls, 1 to 3600, default 30),
    /// `max_networks_per_user` (connections per user, 1 to 1000, default 8),
    /// `max_channels` (channels per connection, 1 to 10000, default 100).
    /// An unknown key is an error naming it.
    pub fn from_options(o: &BTreeMap<String, String>) -> Result<IrcConfig, String> {
        if let Some(k) = o.keys().find(|k| !known(k)) {
            let names: Vec<&str> = OPTION_SPECS.iter().map(|s| s.name).collect();
            return Err(format!(
                "unknown IRC option {k:?} (known: {})",
                names.join(", ")
            ));
        }
        let mut cfg = IrcConfig::default();
        let tls = match o.get("tls") {
            Some(v) => parse_bool("tls", v)?,
            None => false,
        };
        let verify = match o.get("tls_verify") {
            Some(v) => parse_bool("tls_verify", v)?,
            None => true,
        };
        let port = match o.get("connect_port") {
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("option connect_port: not a port number: {v:?}"))?,
            None if tls => 6697,
            None => 6667,
        };
        cfg.network_port = port;
        cfg.network_tls = tls;
        cfg.network_verify_cert = verify;
        if let Some(host) = o
            .get("connect_host")
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
        {
            if !crate::address::plausible_host(host) {
                return Err(format!("option connect_host: not a host name: {host:?}"));
            }
            cfg.fixed_server = Some(ServerAddr {
                host: host.to_ascii_lowercase(),
                port,
                tls,
                verify_cert: verify,
            });
        }
        if let Some(list) = o.get("allowed_networks") {
            for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !crate::address::plausible_host(n) {
                    return Err(format!("option allowed_networks: not a host name: {n:?}"));
                }
                cfg.allowed_networks.push(n.to_ascii_lowercase());
            }
        }
        if let Some(v) = o.get("flood_burst") {
            cfg.flood_burst = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|b| (1..=10_000).contains(b))
                .ok_or_else(|| format!("option flood_burst: expected 1 to 10000, got {v:?}"))?;
        }
        if let Some(v) = o.get("flood_per_second") {
            cfg.flood_per_second = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= 100_000.0)
                .ok_or_else(|| {
                    format!("option flood_per_second: expected a positive number, got {v:?}")
                })?;
        }
        if let Some(v) = o.get("realname") {
            cfg.realname = no_controls("realname", v)?;
        }
        if let Some(v) = o.get("quit_message") {
            cfg.quit_message = no_controls("quit_message", v)?;
        }
        if let Some(v) = o.get("connect_timeout") {
            let secs = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
                .ok_or_else(|| format!("option connect_timeout: expected seconds, got {v:?}"))?;
            cfg.connect_timeout = Duration::from_secs_f64(secs);
        }
        if let Some(v) = o.get("presence_poll_interval") {
            let secs = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && (1.0..=3600.0).contains(s))
                .ok_or_else(|| {
                    format!("option presence_poll_interval: expected 1 to 3600 seconds, got {v:?}")
                })?;
            cfg.presence_poll_interval = Duration::from_secs_f64(secs);
        }
        if let Some(v) = o.get("max_networks_per_user") {
            cfg.max_networks_per_user = parse_count("max_networks_per_user", v, 1000)?;
        }
        if let Some(v) = o.get("max_channels") {
            cfg.max_channels = parse_count("max_channels", v, 10_000)?;
        }
        if let Some(v) = o.get("user_ports") {
            cfg.user_ports = parse_ports(v)?;
        }
        Ok(cfg)
    }

    /// Whether the operator named `host` explicitly (the fixed server, or one listed in
    /// `allowed_networks`): only then may it resolve to a loopback or private address.
    pub fn explicit_host(&self, host: &str) -> bool {
        let host = host.trim();
        self.fixed_server
            .as_ref()
            .is_some_and(|f| f.host.eq_ignore_ascii_case(host))
            || self
                .allowed_networks
                .iter()
                .any(|n| n.eq_ignore_ascii_case(host))
    }

    /// Whether a user may choose `port` for a network (see [`IrcConfig::user_ports`]).
    pub fn user_port_allowed(&self, port: u16) -> bool {
        port == self.network_port
            || self
                .user_ports
                .iter()
                .any(|(a, b)| (*a..=*b).contains(&port))
    }

    /// The server to use for `host` when the transport is not fixed.
    pub fn network_addr(&self, host: &str) -> ServerAddr {
        ServerAddr {
            host: host.to_owned(),
            port: self.network_port,
            tls: self.network_tls,
            verify_cert: self.network_verify_cert,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ports() {
        let mut o = BTreeMap::new();
        o.insert("user_ports".to_owned(), "6697, 7000-7002".to_owned());
        let cfg = IrcConfig::from_options(&o).unwrap();
        assert_eq!(cfg.user_ports, vec![(6697, 6697), (7000, 7002)]);
        assert!(cfg.user_port_allowed(7001) && cfg.user_port_allowed(6667));
        assert!(!cfg.user_port_allowed(22));
        for bad in ["0", "7002-7000", "x", "70000"] {
            o.insert("user_ports".to_owned(), bad.to_owned());
            assert!(IrcConfig::from_options(&o).is_err(), "{bad}");
        }
        assert!(IrcConfig::default().user_port_allowed(6697));
    }

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = IrcConfig::from_options(&BTreeMap::new()).unwrap();
        assert_eq!(c.fixed_server, None);
        assert_eq!(c.flood_burst, 10);
        assert_eq!(c.flood_per_second, 2.0);
        assert_eq!(c.connect_timeout, Duration::from_secs(15));
        assert_eq!(c.realname, "Pontoon XMPP gateway user");
        assert_eq!(c.presence_poll_interval, Duration::from_secs(30));
        assert_eq!(c.list_timeout, Duration::from_secs(60));
        assert_eq!(c.max_networks_per_user, 8);
        assert_eq!(c.max_channels, 100);
        let c = IrcConfig::from_options(&opts(&[
            ("max_networks_per_user", "2"),
            ("max_channels", " 30 "),
        ]))
        .unwrap();
        assert_eq!((c.max_networks_per_user, c.max_channels), (2, 30));
        for bad in ["0", "-1", "many", "1001"] {
            assert!(
                IrcConfig::from_options(&opts(&[("max_networks_per_user", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(IrcConfig::from_options(&opts(&[("max_channels", "0")])).is_err());
        let c = IrcConfig::from_options(&opts(&[("presence_poll_interval", "2")])).unwrap();
        assert_eq!(c.presence_poll_interval, Duration::from_secs(2));
        for bad in ["0", "0.5", "3601", "soon", "NaN"] {
            assert!(
                IrcConfig::from_options(&opts(&[("presence_poll_interval", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn fixed_with_tls_defaults_to_6697() {
        let c = IrcConfig::from_options(&opts(&[
            ("connect_host", "irc.Example.org"),
            ("tls", "true"),
        ]))
        .unwrap();
        let s = c.fixed_server.unwrap();
        assert_eq!(s.host, "irc.example.org");
        assert_eq!(s.port, 6697);
        assert!(s.tls && s.verify_cert);
        let c = IrcConfig::from_options(&opts(&[
            ("connect_host", "h.org"),
            ("connect_port", "7000"),
            ("tls_verify", "false"),
        ]))
        .unwrap();
        let s = c.fixed_server.unwrap();
        assert_eq!((s.port, s.tls, s.verify_cert), (7000, false, false));
    }

    /// Every spec is a key `from_options` takes, and its default is the one in force:
    /// numbers and booleans given as their default change nothing.
    #[test]
    fn specs_match_the_parser() {
        let base = IrcConfig::from_options(&BTreeMap::new()).unwrap();
        for s in OPTION_SPECS {
            let Some(d) = s.default.filter(|_| s.name != "connect_port") else {
                continue;
            };
            let c = IrcConfig::from_options(&opts(&[(s.name, d)]))
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(c, base, "{}", s.name);
        }
        let c = IrcConfig::from_options(&opts(&[("connect_port", "6667")])).unwrap();
        assert_eq!(c, base);
        for s in OPTION_SPECS {
            if let OptionKind::Number { min, max } = s.kind {
                let over = format!("{}", max * 2.0 + 1.0);
                assert!(
                    IrcConfig::from_options(&opts(&[(s.name, &over)])).is_err(),
                    "{}",
                    s.name
                );
                let low = format!("{}", min);
                assert!(
                    IrcConfig::from_options(&opts(&[(s.name, &low)])).is_ok(),
                    "{}",
                    s.name
                );
            }
        }
        let mut names: Vec<&str> = OPTION_SPECS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPTION_SPECS.len());
    }

    #[test]
    fn refusals() {
        let e = IrcConfig::from_options(&opts(&[("colour", "blue")])).unwrap_err();
        assert!(e.contains("colour"), "{e}");
        assert!(IrcConfig::from_options(&opts(&[("connect_port", "0")])).is_err());
        assert!(IrcConfig::from_options(&opts(&[("tls", "maybe")])).is_err());
        assert!(IrcConfig::from_options(&opts(&[("flood_per_second", "-1")])).is_err());
        assert!(IrcConfig::from_options(&opts(&[("connect_host", "bad host")])).is_err());
        assert!(IrcConfig::from_options(&opts(&[("realname", "a\r\nQUIT")])).is_err());
    }

    #[test]
    fn allowed_list() {
        let c = IrcConfig::from_options(&opts(&[(
            "allowed_networks",
            "irc.libera.chat, IRC.OFTC.net,",
        )]))
        .unwrap();
        assert_eq!(c.allowed_networks, vec!["irc.libera.chat", "irc.oftc.net"]);
        assert!(c.explicit_host("irc.oftc.net"));
        assert!(!c.explicit_host("irc.evil.example"));
        let c = IrcConfig::from_options(&opts(&[("connect_host", "irc.example.org")])).unwrap();
        assert!(c.explicit_host("irc.example.org"));
        assert!(!IrcConfig::default().explicit_host("localhost"));
    }
}
