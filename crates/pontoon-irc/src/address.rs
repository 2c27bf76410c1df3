//! JID localparts to IRC targets and back.
//!
//! Rooms are `#chan%server` and contacts `nick%server`; when the operator fixed the
//! transport to one network the `%server` part is absent. The core has already unescaped
//! the localpart (XEP-0106) and XMPP servers lowercase it, so every id built here is
//! lowercase too: the same channel or nick always maps to the same JID.

use std::net::IpAddr;

use pontoon_core::legacy::LegacyId;
use pontoon_core::transport::Invalid;

use crate::config::IrcConfig;

// Shared with every transport that connects where users ask (SSRF rules).
use pontoon_core::net::internal_host;
pub use pontoon_core::net::{internal_ip, loopback_ip, plausible_host};

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
    // The name is the lower-cased localpart cut at its last `%` (one string, not three).
    let mut name = local.trim().to_lowercase();
    let server = name.rfind('%').map(|at| {
        let server = name.split_off(at + 1);
        name.pop(); // the `%`
        server
    });
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
    // Asked of every message's address: most are a room or a contact, told apart before
    // anything is copied (lower-casing adds or removes no `%`, `#` or `&`).
    let local = local.trim();
    if local.contains('%') || local.starts_with(['#', '&']) {
        return None;
    }
    let local = local.to_lowercase();
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
    fn literal_internal_addresses_are_refused() {
        // Literal addresses are refused at parse time too.
        let c = open(&[]);
        assert!(parse(&c, "nick%::ffff:10.0.0.1").is_err());
        assert!(parse(&c, "nick%169.254.169.254").is_err());
    }
}
