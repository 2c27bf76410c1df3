//! JID localparts to IRC targets and back.
//!
//! Rooms are `#chan%server` and contacts `nick%server`; when the operator fixed the
//! transport to one network the `%server` part is absent. The core has already unescaped
//! the localpart (XEP-0106) and XMPP servers lowercase it, so every id built here is
//! lowercase too: the same channel or nick always maps to the same JID.

use std::net::{IpAddr, Ipv4Addr};

use pontoon_core::legacy::LegacyId;
use pontoon_core::transport::Invalid;

use crate::config::IrcConfig;

/// Longest nick accepted from users (ngircd's `MaxNickLength`, most networks allow less).
pub const MAX_NICK_LEN: usize = 30;
/// Longest channel name accepted (RFC 2812 says 50; some networks allow more).
pub const MAX_CHANNEL_LEN: usize = 64;

/// What an address names on IRC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A channel, lowercase, with its `#` or `&`.
    Channel(String),
    /// A nick, lowercase.
    Nick(String),
}

/// A parsed address: the target and the server it lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The channel or nick.
    pub target: Target,
    /// The server host, or `None` when the transport is fixed to one network.
    pub server: Option<String>,
}

/// Whether `c` may appear in a nick after its first character.
fn nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

/// Checks IRC nick rules (RFC 2812 plus the common length limit).
pub fn valid_nick(nick: &str) -> bool {
    let mut chars = nick.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || "[]\\`_^{|}".contains(c) => {}
        _ => return false,
    }
    nick.len() <= MAX_NICK_LEN && chars.all(nick_char)
}

/// Checks a channel name: `#` or `&`, then no space, comma, BEL, control character or `%`.
pub fn valid_channel(chan: &str) -> bool {
    let mut chars = chan.chars();
    if !matches!(chars.next(), Some('#' | '&')) {
        return false;
    }
    chan.len() >= 2
        && chan.len() <= MAX_CHANNEL_LEN
        && chars.all(|c| !c.is_control() && !c.is_whitespace() && c != ',' && c != '%')
}

/// Whether `host` looks like a host name or an IP address one could connect to.
pub fn plausible_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Whether an IPv4 address is this machine, a private or shared network, link-local,
/// unspecified ("this network"), broadcast, multicast or reserved.
fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // 0.0.0.0/8, "this network" (0.0.0.0 reaches the local host)
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || a >= 240 // 240.0.0.0/4, reserved
}

/// Whether `ip` is one users must not make the gateway connect to: loopback, private,
/// link-local, unspecified, multicast and the like, IPv4 or IPv6, including IPv4 addresses
/// embedded in IPv6 (`::ffff:10.0.0.1`, NAT64 `64:ff9b::10.0.0.1`).
pub fn internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let seg = v6.segments();
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return internal_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
                || (seg[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
                || (seg[0] & 0xffc0) == 0xfec0 // fec0::/10, old site-local
                || seg[..6] == [0; 6] // ::/96, IPv4-compatible (deprecated)
        }
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8, `::1`, or IPv4 loopback mapped into
/// IPv6): traffic to it never leaves this machine.
pub fn loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a host names this machine or a private network (refused unless the operator
/// listed it explicitly, so users cannot point the gateway at internal services). Only
/// the name is checked here; the addresses it resolves to are checked when connecting.
fn internal_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(internal_ip)
}

/// Checks that users may connect to `host` under this configuration.
pub fn check_network(cfg: &IrcConfig, host: &str) -> Result<String, Invalid> {
    let host = host.trim().to_ascii_lowercase();
    if let Some(fixed) = &cfg.fixed_server {
        return if host == fixed.host {
            Ok(host)
        } else {
            Err(Invalid(format!(
                "this gateway only connects to {}; leave out the %server part",
                fixed.host
            )))
        };
    }
    if !plausible_host(&host) {
        return Err(Invalid(format!("{host:?} is not a valid server name")));
    }
    let allowed = if cfg.allowed_networks.is_empty() {
        !internal_host(&host)
    } else {
        cfg.allowed_networks.contains(&host)
    };
    if allowed {
        Ok(host)
    } else {
        Err(Invalid(format!(
            "connecting to {host} is not allowed on this gateway"
        )))
    }
}

/// Parses an (unescaped) JID localpart into a channel or nick on a server.
pub fn parse(cfg: &IrcConfig, local: &str) -> Result<Parsed, Invalid> {
    let local = local.trim().to_lowercase();
    let (name, server) = match local.rsplit_once('%') {
        Some((name, server)) => (name.to_owned(), Some(server.to_owned())),
        None => (local.clone(), None),
    };
    let server = match (server, cfg.fixed_server.is_some()) {
        (Some(s), true) => {
            check_network(cfg, &s)?;
            None
        }
        (None, true) => None,
        (Some(s), false) => Some(check_network(cfg, &s)?),
        (None, false) => {
            return Err(Invalid(format!(
                "add the IRC server to the address, like {name}%irc.example.org"
            )));
        }
    };
    let target = if name.starts_with('#') || name.starts_with('&') {
        if !valid_channel(&name) {
            return Err(Invalid(format!("{name:?} is not a valid IRC channel name")));
        }
        Target::Channel(name)
    } else {
        if !valid_nick(&name) {
            return Err(Invalid(format!(
                "{name:?} is not a valid IRC nick (letters, digits and []\\`_^{{|}}-, at most {MAX_NICK_LEN})"
            )));
        }
        Target::Nick(name)
    };
    Ok(Parsed { target, server })
}

/// A localpart naming a whole network (`irc.libera.chat`, `127.0.0.1`), for its room
/// directory: `None` when it is not one (the transport is fixed, or the localpart has a
/// `%server` part or does not look like a host), else the normalised host or why it is
/// refused.
pub fn parse_network(cfg: &IrcConfig, local: &str) -> Option<Result<String, Invalid>> {
    if cfg.fixed_server.is_some() {
        return None;
    }
    let local = local.trim().to_lowercase();
    if local.contains('%') || local.starts_with(['#', '&']) {
        return None;
    }
    // Nicks have no dots or colons; hosts and IP addresses do.
    let hostlike = local.contains('.') || local.parse::<IpAddr>().is_ok();
    hostlike.then(|| check_network(cfg, &local))
}

/// The room id of `chan` on `server` (`None` when fixed): `#chan%server`.
pub fn room_id(chan: &str, server: Option<&str>) -> LegacyId {
    LegacyId::new(&chan.to_lowercase(), server)
}

/// The contact id of `nick` on `server` (`None` when fixed): `nick%server`.
pub fn contact_id(nick: &str, server: Option<&str>) -> LegacyId {
    LegacyId::new(&nick.to_lowercase(), server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerAddr;

    fn fixed() -> IrcConfig {
        IrcConfig {
            fixed_server: Some(ServerAddr {
                host: "irc.kraken.test".into(),
                port: 6667,
                tls: false,
                verify_cert: true,
            }),
            ..IrcConfig::default()
        }
    }

    fn open(allowed: &[&str]) -> IrcConfig {
        IrcConfig {
            allowed_networks: allowed.iter().map(|s| (*s).to_owned()).collect(),
            ..IrcConfig::default()
        }
    }

    #[test]
    fn rooms_and_contacts_round_trip() {
        let c = open(&[]);
        let p = parse(&c, "#Rust%irc.libera.chat").unwrap();
        assert_eq!(p.target, Target::Channel("#rust".into()));
        assert_eq!(p.server.as_deref(), Some("irc.libera.chat"));
        assert_eq!(
            room_id("#Rust", p.server.as_deref()),
            "#rust%irc.libera.chat"
        );
        let p = parse(&c, "john_doe%irc.libera.chat").unwrap();
        assert_eq!(p.target, Target::Nick("john_doe".into()));
        assert_eq!(
            contact_id("John_Doe", p.server.as_deref()),
            "john_doe%irc.libera.chat"
        );
        let again = parse(&c, &contact_id("John_Doe", p.server.as_deref())).unwrap();
        assert_eq!(again, p);
        let p = parse(&c, "&local%irc.example.org").unwrap();
        assert_eq!(p.target, Target::Channel("&local".into()));
    }

    #[test]
    fn fixed_server_has_no_suffix() {
        let c = fixed();
        let p = parse(&c, "#chan").unwrap();
        assert_eq!(
            p,
            Parsed {
                target: Target::Channel("#chan".into()),
                server: None
            }
        );
        assert_eq!(room_id("#chan", None), "#chan");
        // Naming the fixed server is tolerated, another one is refused.
        assert_eq!(parse(&c, "#chan%irc.kraken.test").unwrap().server, None);
        let e = parse(&c, "#chan%irc.libera.chat").unwrap_err();
        assert!(e.0.contains("only connects to irc.kraken.test"), "{e}");
    }

    #[test]
    fn refusals() {
        let c = open(&["irc.libera.chat"]);
        let e = parse(&c, "#chan%irc.evil.example").unwrap_err();
        assert_eq!(
            e.0,
            "connecting to irc.evil.example is not allowed on this gateway"
        );
        assert!(
            parse(&c, "#chan")
                .unwrap_err()
                .0
                .contains("add the IRC server")
        );
        assert!(parse(&c, "#a b%irc.libera.chat").is_err());
        assert!(parse(&c, "#a,b%irc.libera.chat").is_err());
        assert!(parse(&c, "#%irc.libera.chat").is_err());
        assert!(parse(&c, "#\u{7}%irc.libera.chat").is_err());
        assert!(parse(&c, "1nick%irc.libera.chat").is_err());
        assert!(parse(&c, "ni ck%irc.libera.chat").is_err());
        assert!(parse(&c, "nick\r\nQUIT%irc.libera.chat").is_err());
        assert!(parse(&c, &format!("{}%irc.libera.chat", "a".repeat(31))).is_err());
        assert!(parse(&c, &format!("{}%irc.libera.chat", "a".repeat(30))).is_ok());
        assert!(parse(&c, "nick%bad_host").is_err());
        // Without a list: any public host, but not internal ones.
        let c = open(&[]);
        assert!(parse(&c, "nick%irc.oftc.net").is_ok());
        assert!(parse(&c, "nick%127.0.0.1").is_err());
        assert!(parse(&c, "nick%localhost").is_err());
        assert!(parse(&c, "nick%192.168.1.1").is_err());
        // Listed explicitly, internal hosts are fine (tests, private networks).
        let c = open(&["127.0.0.1"]);
        assert!(parse(&c, "nick%127.0.0.1").is_ok());
    }

    #[test]
    fn networks() {
        let c = open(&["irc.libera.chat", "127.0.0.1"]);
        assert_eq!(
            parse_network(&c, "IRC.Libera.Chat").unwrap().unwrap(),
            "irc.libera.chat"
        );
        assert_eq!(
            parse_network(&c, "127.0.0.1").unwrap().unwrap(),
            "127.0.0.1"
        );
        let e = parse_network(&c, "irc.evil.example").unwrap().unwrap_err();
        assert!(e.0.contains("not allowed"), "{e}");
        assert!(parse_network(&c, "a..b").unwrap().is_err());
        assert_eq!(parse_network(&c, "bob"), None);
        assert_eq!(parse_network(&c, "bob%irc.libera.chat"), None);
        assert_eq!(parse_network(&c, "#a.b%irc.libera.chat"), None);
        // Without a list, internal hosts are refused as for rooms.
        let c = open(&[]);
        assert!(parse_network(&c, "irc.oftc.net").unwrap().is_ok());
        assert!(parse_network(&c, "127.0.0.1").unwrap().is_err());
        assert!(parse_network(&c, "::1").unwrap().is_err());
        // Fixed: the domain itself is the network; localparts never are.
        assert_eq!(parse_network(&fixed(), "irc.kraken.test"), None);
    }

    #[test]
    fn nick_rules() {
        for ok in ["a", "[x]", "nick-1", "_x", "^^", "{|}"] {
            assert!(valid_nick(ok), "{ok}");
        }
        for bad in ["", "-a", "1a", "a b", "a:b", "a!b", "a@b", "a\0"] {
            assert!(!valid_nick(bad), "{bad:?}");
        }
    }

    #[test]
    fn internal_addresses() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(internal_ip(ip), "{bad}");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2001:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(!internal_ip(ip), "{good}");
        }
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(loopback_ip(lo.parse().unwrap()), "{lo}");
        }
        for not in ["10.0.0.1", "::", "0.0.0.0", "fe80::1"] {
            assert!(!loopback_ip(not.parse().unwrap()), "{not}");
        }
        // Literal addresses are refused at parse time too.
        let c = open(&[]);
        assert!(parse(&c, "nick%::ffff:10.0.0.1").is_err());
        assert!(parse(&c, "nick%169.254.169.254").is_err());
    }

    #[test]
    fn hosts() {
        assert!(plausible_host("irc.libera.chat"));
        assert!(plausible_host("::1"));
        assert!(!plausible_host("a..b"));
        assert!(!plausible_host("-a.b"));
        assert!(!plausible_host(""));
    }
}
