//! The user's settings per IRC network (`pontoon_core::settings`): which there are, how
//! each value is checked, and what a connection takes from them. They apply to the next
//! connection the session opens to the network (the next login; a reconnect after the
//! server dropped the connection keeps what it had): on a live connection, a nick change
//! is a room nick change and an identification is the user's own
//! `PRIVMSG NickServ :IDENTIFY ...`.
//!
//! The home network's login with the registration's password is never changed by them:
//! its SASL account stays the registered nick and SASL stays on, whatever `nick`, `account`,
//! `sasl` or `nickserv-password` say, so that no setting can lock a user out (in server
//! mode that password is the login itself, and settings can only be changed once logged
//! in).

use pontoon_core::settings::{ONLY_NETWORK, SettingKind, SettingSpec, Settings, Values};
use pontoon_core::transport::Invalid;

use crate::address;
use crate::config::IrcConfig;
use crate::encoding::{self, ChannelCharsets, Charset};

/// The nick to connect with.
pub const NICK: &str = "nick";
/// The server's password (`PASS`).
pub const SERVER_PASSWORD: &str = "server-password";
/// The services password: SASL, else `IDENTIFY`.
pub const NICKSERV_PASSWORD: &str = "nickserv-password";
/// The services account, where it is not the nick.
pub const ACCOUNT: &str = "account";
/// Whether to log in with SASL (`off`: by `IDENTIFY` only).
pub const SASL: &str = "sasl";
/// IRC commands sent after connecting.
pub const COMMANDS: &str = "commands";
/// The pacing's burst, within the operator's.
pub const BURST: &str = "flood-burst";
/// The pacing's rate, within the operator's.
pub const PER_SECOND: &str = "flood-per-second";
/// The network's port, among those the operator lets users choose.
pub const PORT: &str = "port";
/// Whether to speak TLS to the network.
pub const TLS: &str = "tls";
/// What text that is not UTF-8 is read as (`crate::encoding`).
pub const ENCODING: &str = "encoding";
/// What the user's text is written in, instead of UTF-8.
pub const SEND_ENCODING: &str = "send-encoding";
/// A channel's key (`+k`), given when joining it (a room setting).
pub const KEY: &str = "key";
/// The client certificate (CertFP), made by the gateway (`crate::certfp`).
pub const CLIENT_CERTIFICATE: &str = "client-certificate";

/// Most commands sent after connecting.
pub const MAX_COMMANDS: u8 = 8;
/// Longest password: it must fit one IRC line with `PRIVMSG NickServ :IDENTIFY account `.
pub const MAX_PASSWORD: usize = 300;

/// The settings the IRC transport offers per network.
pub fn specs(cfg: &IrcConfig) -> Vec<SettingSpec> {
    // Whole lines a second: the operator's rate, rounded down, at least one.
    let max_rate = (cfg.flood_per_second.floor() as u32).max(1);
    // With one fixed server, its port and TLS are the operator's.
    let reach = (cfg.fixed_server.is_none()).then(|| {
        [
            SettingSpec::new(
                PORT,
                SettingKind::Number { min: 1, max: 65535 },
                "the network's port (6697 is usual with TLS), among those the operator allows",
            ),
            SettingSpec::new(TLS, SettingKind::Bool, "speak TLS to the network")
                .with_default(if cfg.network_tls { "on" } else { "off" }),
        ]
    });
    let mut specs = vec![
        SettingSpec::new(
            NICK,
            SettingKind::Text,
            "the nick to connect with, instead of your registered one or the one you join rooms with",
        ),
        SettingSpec::new(
            SERVER_PASSWORD,
            SettingKind::Secret,
            "the server's own password (PASS), for private servers and bouncers",
        ),
        SettingSpec::new(
            NICKSERV_PASSWORD,
            SettingKind::Secret,
            "your services password: a SASL login where the server offers it, else IDENTIFY to NickServ once connected",
        ),
        SettingSpec::new(
            ACCOUNT,
            SettingKind::Text,
            "your services account name, where it is not your nick",
        ),
        SettingSpec::new(
            SASL,
            SettingKind::Bool,
            "on (the default): log in with SASL where offered; off: only IDENTIFY to NickServ",
        )
        .with_default("on"),
        SettingSpec::new(
            ENCODING,
            SettingKind::Text,
            "what others' text that is not UTF-8 is read as (windows-1251, koi8-r, iso-8859-2, shift_jis, gbk...)",
        )
        .with_default(&encoding::name(encoding::DEFAULT_FALLBACK)),
        SettingSpec::new(
            SEND_ENCODING,
            SettingKind::Text,
            "what your text is sent in, for networks whose users cannot read UTF-8 (characters it lacks become ?)",
        )
        .with_default(&encoding::name(encoding::DEFAULT_SEND)),
        SettingSpec::new(
            CLIENT_CERTIFICATE,
            SettingKind::Secret,
            "type generate: the gateway makes you a client certificate, presented over TLS and used for SASL EXTERNAL; register its fingerprint with NickServ (CERT ADD)",
        ),
        SettingSpec::new(
            COMMANDS,
            SettingKind::Lines { max: MAX_COMMANDS },
            "IRC commands sent once connected, one per line (MODE yournick +x, PRIVMSG ChanServ :...)",
        ),
        SettingSpec::new(
            BURST,
            SettingKind::Number {
                min: 1,
                max: cfg.flood_burst.max(1),
            },
            "how many lines go out at once before pacing starts (at most the operator's)",
        ),
        SettingSpec::new(
            PER_SECOND,
            SettingKind::Number {
                min: 1,
                max: max_rate,
            },
            "lines a second once paced (at most the operator's)",
        ),
    ];
    specs.extend(reach.into_iter().flatten());
    specs
}

/// The settings the IRC transport offers per channel, at the room's JID.
pub fn room_specs() -> Vec<SettingSpec> {
    vec![
        SettingSpec::new(
            KEY,
            SettingKind::Secret,
            "the channel's key (+k), given when you join without a room password",
        ),
        SettingSpec::new(
            ENCODING,
            SettingKind::Text,
            "what others' text in this channel that is not UTF-8 is read as, where it differs from the network's",
        ),
        SettingSpec::new(
            SEND_ENCODING,
            SettingKind::Text,
            "what your messages to this channel are sent in, where it differs from the network's",
        ),
    ]
}

/// The IRC meaning of a setting's value, checked after its kind
/// ([`pontoon_core::Transport::check_setting`]).
pub fn check(cfg: &IrcConfig, network: &str, name: &str, value: &str) -> Result<String, Invalid> {
    if network == ONLY_NETWORK && cfg.fixed_server.is_none() {
        return Err(Invalid(
            "this transport reaches several IRC networks: send settings to the network's own address (irc.example.net at this transport)".to_owned(),
        ));
    }
    match name {
        NICK if !address::valid_nick(value) => Err(Invalid(format!(
            "{value:?} is not a valid IRC nick: start with a letter or one of []\\`_^{{|}}, then letters, digits and those or '-', at most {} characters",
            address::MAX_NICK_LEN
        ))),
        ACCOUNT if value.contains(' ') || value.starts_with(':') || value.len() > 64 => {
            Err(Invalid(
                "an account name is one word of at most 64 bytes, not starting with ':'".to_owned(),
            ))
        }
        SERVER_PASSWORD | NICKSERV_PASSWORD if value.len() > MAX_PASSWORD => Err(Invalid(format!(
            "a password of at most {MAX_PASSWORD} bytes, to fit one IRC line"
        ))),
        PORT => match value.parse::<u16>() {
            Ok(p) if cfg.user_port_allowed(p) => Ok(value.to_owned()),
            _ => Err(Invalid(format!(
                "port {value} is not one users may choose here (the operator allows {}{})",
                cfg.network_port,
                cfg.user_ports
                    .iter()
                    .map(|(a, b)| if a == b {
                        format!(", {a}")
                    } else {
                        format!(", {a}-{b}")
                    })
                    .collect::<String>()
            ))),
        },
        KEY if value.contains([' ', ',']) || value.starts_with(':') || value.len() > 64 => {
            Err(Invalid(
                "a channel key is one word of at most 64 bytes, without commas, not starting with ':'".to_owned(),
            ))
        }
        ENCODING | SEND_ENCODING => encoding::lookup(value)
            .map(encoding::name)
            .map_err(Invalid),
        CLIENT_CERTIFICATE if value.eq_ignore_ascii_case(crate::certfp::GENERATE) => {
            crate::certfp::generate().map_err(|e| Invalid(e.to_string()))
        }
        CLIENT_CERTIFICATE => Err(Invalid(
            "send \"set client-certificate generate\": the gateway makes the key, which never leaves it".to_owned(),
        )),
        COMMANDS => {
            for line in value.lines() {
                crate::raw::check(line).map_err(|e| Invalid(format!("{line:?}: {e}")))?;
            }
            Ok(value.to_owned())
        }
        _ => Ok(value.to_owned()),
    }
}

/// How a stored value is shown where its kind hides it: a client certificate by its
/// fingerprints ([`pontoon_core::Transport::show_setting`]).
pub fn show(name: &str, value: &str) -> Option<String> {
    (name == CLIENT_CERTIFICATE).then(|| match crate::certfp::fingerprints(value) {
        Ok(fp) => format!("a certificate with fingerprints {fp}"),
        Err(e) => e.to_string(),
    })
}

/// How a services password is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Identify {
    /// By SASL only (the registration's password: in server mode it checks the login).
    #[default]
    SaslOnly,
    /// By SASL where the server offers it, else `IDENTIFY` to NickServ once connected.
    SaslThenNickServ,
    /// By `IDENTIFY` to NickServ only.
    NickServOnly,
}

/// What one connection takes from the settings of its network (and the registration).
#[derive(Default)]
pub struct Login {
    /// The nick, if set.
    pub nick: Option<String>,
    /// The services password: the setting's, else the registration's on the home network.
    pub password: Option<String>,
    /// The services account, if not the nick.
    pub account: Option<String>,
    /// How the password is used.
    pub identify: Identify,
    /// The server password.
    pub server_password: Option<String>,
    /// Commands to send once connected.
    pub commands: Vec<String>,
    /// The user's pacing, if they set it.
    pub burst: Option<u32>,
    /// The user's rate, if they set it.
    pub per_second: Option<u32>,
    /// The network's port, if they set it.
    pub port: Option<u16>,
    /// Whether to speak TLS, if they set it.
    pub tls: Option<bool>,
    /// The client certificate to present over TLS, if they made one.
    pub certificate: Option<crate::certfp::ClientCert>,
    /// Whether to log in with SASL EXTERNAL (the certificate) first.
    pub external: bool,
    /// What text that is not UTF-8 is read as, if they chose.
    pub fallback: Option<Charset>,
    /// What their text is written in, if not UTF-8.
    pub send: Option<Charset>,
    /// Channels whose text that is not UTF-8 is read in a charset of their own.
    pub channel_fallbacks: ChannelCharsets,
    /// Channels the user's messages to are written in a charset of their own.
    pub channel_sends: ChannelCharsets,
}

// Hand-written so that passwords never reach a log.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("nick", &self.nick)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("account", &self.account)
            .field("identify", &self.identify)
            .field(
                "server_password",
                &self.server_password.as_ref().map(|_| "<redacted>"),
            )
            .field("commands", &self.commands.len())
            .field("certificate", &self.certificate)
            .field("external", &self.external)
            .field("fallback", &self.fallback)
            .field("send", &self.send)
            .finish()
    }
}

impl Login {
    /// The login for a connection to a network with `values` set; `registered` is the
    /// registration's nick and password where this is the home network and it has one.
    pub fn new(values: Option<&Values>, registered: Option<(String, String)>) -> Login {
        let get = |name: &str| values.and_then(|v| v.get(name)).cloned();
        let sasl = get(SASL).is_none_or(|v| v == "on");
        let home = registered.is_some();
        let (password, account, identify) = match (registered, get(NICKSERV_PASSWORD)) {
            // The home network's login, untouched (see the module's comment).
            (Some((nick, password)), _) => (Some(password), Some(nick), Identify::SaslOnly),
            (None, Some(p)) if sasl => (Some(p), get(ACCOUNT), Identify::SaslThenNickServ),
            (None, Some(p)) => (Some(p), get(ACCOUNT), Identify::NickServOnly),
            (None, None) => (None, None, Identify::SaslOnly),
        };
        let number = |name: &str| get(name).and_then(|v| v.parse().ok());
        let certificate = get(CLIENT_CERTIFICATE).and_then(|pem| {
            crate::certfp::parse(&pem)
                .map_err(
                    |e| tracing::warn!(error = %e, "the user's client certificate is not used"),
                )
                .ok()
        });
        Login {
            // Presented on every TLS connection; SASL EXTERNAL only where no registration's
            // password logs in (see the module's comment).
            external: certificate.is_some() && sasl && !home,
            certificate,
            fallback: get(ENCODING)
                .and_then(|e| encoding::lookup(&e).ok())
                .filter(|e| *e != encoding::DEFAULT_FALLBACK),
            send: get(SEND_ENCODING)
                .and_then(|e| encoding::lookup(&e).ok())
                .filter(|e| *e != encoding::DEFAULT_SEND),
            channel_fallbacks: ChannelCharsets::default(),
            channel_sends: ChannelCharsets::default(),
            nick: get(NICK).filter(|n| address::valid_nick(n)),
            password,
            account,
            identify,
            server_password: get(SERVER_PASSWORD),
            commands: get(COMMANDS)
                .map(|c| c.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            burst: number(BURST),
            per_second: number(PER_SECOND),
            port: get(PORT).and_then(|p| p.parse().ok()),
            tls: get(TLS).map(|t| t == "on"),
        }
    }

    /// Takes the encodings of the channels of the connection's network `key` from the
    /// user's room settings (every room, on a transport fixed to one server).
    pub fn with_channels<'a>(
        mut self,
        rooms: Option<&'a Settings>,
        key: &str,
        fixed: bool,
    ) -> Login {
        let Some(rooms) = rooms else {
            return self;
        };
        let here = |room: &'a str| -> Option<&'a str> {
            match room.rsplit_once('%') {
                Some((name, network)) if fixed || network == key => Some(name),
                None if fixed => Some(room),
                _ => None,
            }
        };
        let charset =
            |values: &Values, name: &str| values.get(name).and_then(|e| encoding::lookup(e).ok());
        let mut fallbacks = Vec::new();
        let mut sends = Vec::new();
        for (room, values) in rooms.iter() {
            let Some(chan) = here(room) else { continue };
            if let Some(cs) = charset(values, ENCODING) {
                fallbacks.push((chan, cs));
            }
            if let Some(cs) = charset(values, SEND_ENCODING) {
                sends.push((chan, cs));
            }
        }
        self.channel_fallbacks = ChannelCharsets::new(fallbacks);
        self.channel_sends = ChannelCharsets::new(sends);
        self
    }

    /// The pacing: the user's where set, never above the operator's.
    pub fn pacing(&self, cfg: &IrcConfig) -> (u32, f64) {
        let burst = self
            .burst
            .map_or(cfg.flood_burst, |b| b.min(cfg.flood_burst));
        let rate = self.per_second.map_or(cfg.flood_per_second, |r| {
            f64::from(r).min(cfg.flood_per_second)
        });
        (burst.max(1), rate)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::ServerAddr;

    fn values(kv: &[(&str, &str)]) -> Values {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_are_checked_for_irc() {
        let open = IrcConfig::default();
        assert!(check(&open, ONLY_NETWORK, NICK, "bob").is_err());
        assert!(check(&open, "irc.example.net", NICK, "1bob").is_err());
        assert_eq!(check(&open, "irc.example.net", NICK, "bob").unwrap(), "bob");
        assert!(check(&open, "n", COMMANDS, "MODE me +x\nQUIT :bye").is_err());
        assert!(check(&open, "n", COMMANDS, "PASS x").is_err());
        assert!(check(&open, "n", COMMANDS, "MODE me +x\nPRIVMSG ChanServ :HELP").is_ok());
        assert!(check(&open, "n", ACCOUNT, "a b").is_err());
        let fixed = IrcConfig {
            fixed_server: Some(ServerAddr {
                host: "irc.test".into(),
                port: 6667,
                tls: false,
                verify_cert: true,
            }),
            ..IrcConfig::default()
        };
        assert!(check(&fixed, ONLY_NETWORK, NICK, "bob").is_ok());
        let limits = specs(&fixed);
        let burst = limits.iter().find(|s| s.name == BURST).unwrap();
        assert!(burst.check("11").is_err() && burst.check("10").is_ok());
    }

    #[test]
    fn a_login_takes_its_settings() {
        let cfg = IrcConfig::default();
        let home = || Some(("alice".to_owned(), "pw".to_owned()));
        let plain = Login::new(None, home());
        assert_eq!(plain.identify, Identify::SaslOnly);
        assert_eq!(plain.password.as_deref(), Some("pw"));
        assert_eq!(plain.pacing(&cfg), (cfg.flood_burst, cfg.flood_per_second));
        let v = values(&[
            (NICKSERV_PASSWORD, "ns"),
            (NICK, "bobby"),
            (COMMANDS, "MODE bobby +x\nAWAY :x"),
            (BURST, "3"),
            (PER_SECOND, "99"),
        ]);
        let l = Login::new(Some(&v), None);
        assert_eq!(
            (l.password.as_deref(), l.identify, l.nick.as_deref()),
            (Some("ns"), Identify::SaslThenNickServ, Some("bobby"))
        );
        // The home network's login stays the registration's, whatever the settings say.
        let h = Login::new(Some(&v), home());
        assert_eq!(
            (h.password.as_deref(), h.account.as_deref(), h.identify),
            (Some("pw"), Some("alice"), Identify::SaslOnly)
        );
        assert_eq!(l.commands.len(), 2);
        assert_eq!(l.pacing(&cfg), (3, cfg.flood_per_second));
        let off = values(&[(SASL, "off")]);
        assert_eq!(Login::new(Some(&off), home()).identify, Identify::SaslOnly);
        let off_ns = values(&[(SASL, "off"), (NICKSERV_PASSWORD, "ns")]);
        assert_eq!(
            Login::new(Some(&off_ns), None).identify,
            Identify::NickServOnly
        );
        assert_eq!(Login::new(Some(&off), None).password, None);
        assert!(!format!("{l:?}").contains("ns\""), "{l:?}");
    }

    #[test]
    fn a_connection_takes_its_channels_encodings() {
        let mut rooms = Settings::default();
        rooms.set("#ru%irc.a", ENCODING, "koi8-r".into()).unwrap();
        rooms
            .set("#ru%irc.a", SEND_ENCODING, "koi8-r".into())
            .unwrap();
        rooms
            .set("#pl%irc.b", ENCODING, "iso-8859-2".into())
            .unwrap();
        rooms.set("#k%irc.a", KEY, "sekrit".into()).unwrap();
        let a = Login::new(None, None).with_channels(Some(&rooms), "irc.a", false);
        let koi = encoding::lookup("koi8-r").ok();
        assert_eq!(a.channel_fallbacks.for_line(b"PRIVMSG #RU :x"), koi);
        assert_eq!(a.channel_sends.for_line(b"PRIVMSG #ru :x"), koi);
        assert_eq!(a.channel_fallbacks.for_line(b"PRIVMSG #pl :x"), None);
        // On a fixed server every room is the server's.
        let fixed = Login::new(None, None).with_channels(Some(&rooms), "irc.x", true);
        assert!(
            fixed
                .channel_fallbacks
                .for_line(b"PRIVMSG #pl :x")
                .is_some()
        );
        assert!(
            Login::new(None, None)
                .with_channels(None, "irc.a", false)
                .channel_sends
                .is_empty()
        );
        assert!(check(&IrcConfig::default(), "#k%irc.a", KEY, "a,b").is_err());
    }
}
