//! The [`Transport`] implementation: what the core sees of IRC.
//!
//! It describes the registration form, maps JID localparts to channels and nicks (see
//! [`crate::address`]), and starts one [`crate::session`] per user.

use std::collections::BTreeMap;
use std::sync::Arc;

use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId};
use pontoon_core::transport::{
    Address, Descriptor, FieldKind, Invalid, RawRefused, RegistrationField, Transport,
    TransportCommand,
};

use crate::address::{self, Target};
use crate::config::IrcConfig;
use crate::gate::ConnectGate;
use crate::session;

/// What the IRC transport says of itself; a transport open to any server also asks for
/// the server to connect to at login.
fn descriptor(cfg: &IrcConfig) -> Descriptor {
    let fixed = cfg.fixed_server.is_some();
    let mut fields = vec![
        RegistrationField::new("username", "Nickname", FieldKind::Text, true),
        RegistrationField::new(
            "password",
            "Password (for SASL, optional)",
            FieldKind::Password,
            false,
        ),
    ];
    if !fixed {
        fields.push(RegistrationField::new(
            "network",
            "IRC server to connect to at login (optional)",
            FieldKind::Text,
            false,
        ));
    }
    let (instructions, prompt) = if fixed {
        (
            "Choose your IRC nickname. Give your NickServ password to log in with SASL.",
            "Enter the IRC nick of the contact.",
        )
    } else {
        (
            "Choose your IRC nickname. Give your NickServ password to log in with SASL, and the server it is for to connect there at login.",
            "Enter the IRC nick and server of the contact, like nick%irc.example.org.",
        )
    };
    Descriptor {
        gateway_type: "irc".to_owned(),
        registration_instructions: instructions.to_owned(),
        registration_fields: fields,
        prompt: prompt.to_owned(),
        // With several networks, raw commands go to each network's JID instead.
        commands: if fixed {
            vec![TransportCommand {
                name: "raw".to_owned(),
                help: "raw <IRC command>: sent to the server as you type it (WHOIS nick, MODE #chan, PRIVMSG NickServ :...); its answer comes back here".to_owned(),
            }]
        } else {
            Vec::new()
        },
        network_settings: crate::settings::specs(cfg),
        room_settings: crate::settings::room_specs(),
        one_network: fixed,
    }
}

/// The IRC transport.
pub struct IrcTransport {
    cfg: Arc<IrcConfig>,
    descriptor: Descriptor,
    /// Shared by every session's connections: how many open at once per server.
    gate: Arc<ConnectGate>,
}

impl IrcTransport {
    /// A transport with this configuration.
    pub fn new(cfg: IrcConfig) -> Self {
        IrcTransport {
            descriptor: descriptor(&cfg),
            cfg: Arc::new(cfg),
            gate: Arc::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &IrcConfig {
        &self.cfg
    }
}

impl Transport for IrcTransport {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn pacing(&self) -> Option<pontoon_core::transport::Pacing> {
        Some(pontoon_core::transport::Pacing {
            burst: self.cfg.flood_burst,
            per_second: self.cfg.flood_per_second,
        })
    }

    fn test_connection(&self) -> pontoon_core::transport::ConnectionTest {
        let cfg = Arc::clone(&self.cfg);
        Box::pin(async move { crate::probe::probe(&cfg, crate::probe::PROBE_LIMIT).await })
    }

    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid> {
        let nick = values.get("username").map(|s| s.trim()).unwrap_or_default();
        if !address::valid_nick(nick) {
            return Err(Invalid(format!(
                "{nick:?} is not a valid IRC nick: start with a letter or one of []\\`_^{{|}}, then letters, digits and those or '-', at most {} characters",
                address::MAX_NICK_LEN
            )));
        }
        let password = values.get("password").filter(|p| !p.is_empty()).cloned();
        if password
            .as_deref()
            .is_some_and(|p| p.contains(['\r', '\n', '\0']))
        {
            return Err(Invalid(
                "the password contains a line break or NUL".to_owned(),
            ));
        }
        let mut options = BTreeMap::new();
        if self.cfg.fixed_server.is_none()
            && let Some(net) = values
                .get("network")
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
        {
            options.insert(
                "network".to_owned(),
                address::check_network(&self.cfg, net)?,
            );
        }
        Ok(LegacyAccount {
            legacy_id: nick.to_owned(),
            secret: password,
            options,
        })
    }

    fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid> {
        let p = address::parse(&self.cfg, input)?;
        match p.target {
            Target::Nick(nick) => Ok(address::contact_id(&nick, p.server.as_deref())),
            Target::Channel(_) => Err(Invalid(
                "that is a channel; join it as a room instead".to_owned(),
            )),
        }
    }

    fn network_help(&self, network: &str) -> Option<String> {
        Some(crate::raw::help(network))
    }

    /// A line typed to a network's JID goes to its server as the user wrote it, once
    /// `crate::raw` found it one harmless line.
    fn check_raw(&self, _network: &str, line: &str) -> Result<(), RawRefused> {
        crate::raw::check(line)
    }

    fn check_setting(&self, network: &str, name: &str, value: &str) -> Result<String, Invalid> {
        crate::settings::check(&self.cfg, network, name, value)
    }

    fn show_setting(&self, name: &str, value: &str) -> Option<String> {
        crate::settings::show(name, value)
    }

    /// The one place an IRC address is parsed: `#chan%server` and `nick%server` (the
    /// server left out when the transport is fixed to one) become a [`LegacyId`] whose
    /// network is the server, which the session reads without parsing again.
    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        if let Some(network) = address::parse_network(&self.cfg, local) {
            return network.map(Address::Network);
        }
        let p = address::parse(&self.cfg, local)?;
        Ok(match p.target {
            Target::Channel(chan) => Address::Room(address::room_id(&chan, p.server.as_deref())),
            Target::Nick(nick) => Address::Contact(address::contact_id(&nick, p.server.as_deref())),
        })
    }

    fn occupant_contact(&self, room: &LegacyId, nick: &str) -> Option<LegacyId> {
        address::valid_nick(nick).then(|| address::contact_id(nick, room.network()))
    }

    fn anonymous_account(&self, nick: &str) -> Option<LegacyAccount> {
        let nick = nick.trim();
        address::valid_nick(nick).then(|| LegacyAccount {
            legacy_id: nick.to_owned(),
            secret: None,
            options: BTreeMap::new(),
        })
    }

    // The state holds the user's settings per network (`crate::settings`).
    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        state: pontoon_core::state::TransportState,
    ) -> channel::Sender<LegacyCommand> {
        session::start(self.cfg.clone(), self.gate.clone(), account, events, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerAddr;

    fn open() -> IrcTransport {
        IrcTransport::new(IrcConfig {
            allowed_networks: vec!["irc.libera.chat".into()],
            ..IrcConfig::default()
        })
    }

    fn fixed() -> IrcTransport {
        IrcTransport::new(IrcConfig {
            fixed_server: Some(ServerAddr {
                host: "irc.kraken.test".into(),
                port: 6667,
                tls: false,
                verify_cert: true,
            }),
            ..IrcConfig::default()
        })
    }

    fn form(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn forms() {
        let t = open();
        assert_eq!(t.descriptor().registration_fields.len(), 3);
        assert_eq!(fixed().descriptor().registration_fields.len(), 2);
        assert_eq!(t.descriptor().registration_fields[0].label, "Nickname");
        let a = t
            .account_from_form(&form(&[
                ("username", "Alice"),
                ("password", "pw"),
                ("network", "IRC.libera.chat"),
            ]))
            .unwrap();
        assert_eq!(a.legacy_id, "Alice");
        assert_eq!(a.secret.as_deref(), Some("pw"));
        assert_eq!(
            a.options.get("network").map(String::as_str),
            Some("irc.libera.chat")
        );
        let a = t.account_from_form(&form(&[("username", "bob")])).unwrap();
        assert_eq!(a.secret, None);
        assert!(a.options.is_empty());
        assert!(t.account_from_form(&form(&[("username", "1bad")])).is_err());
        assert!(
            t.account_from_form(&form(&[("username", &"a".repeat(31))]))
                .is_err()
        );
        let e = t
            .account_from_form(&form(&[
                ("username", "bob"),
                ("network", "irc.evil.example"),
            ]))
            .unwrap_err();
        assert!(e.0.contains("not allowed"));
    }

    #[test]
    fn addresses() {
        let t = open();
        // Parsed once: the id carries the server as its network.
        let Address::Room(room) = t.parse_address("#Rust%irc.libera.chat").unwrap() else {
            panic!("not a room");
        };
        assert_eq!(
            (room.name(), room.network()),
            ("#rust", Some("irc.libera.chat"))
        );
        assert_eq!(room, "#rust%irc.libera.chat");
        let Address::Contact(bob) = t.parse_address("Bob%irc.libera.chat").unwrap() else {
            panic!("not a contact");
        };
        assert_eq!(
            (bob.name(), bob.network()),
            ("bob", Some("irc.libera.chat"))
        );
        assert!(t.parse_address("bob").is_err());
        assert_eq!(t.contact_name(&bob), "bob");
        assert_eq!(
            t.parse_address("irc.libera.chat").unwrap(),
            Address::Network("irc.libera.chat".into())
        );
        assert!(
            t.parse_address("irc.evil.example")
                .unwrap_err()
                .0
                .contains("not allowed")
        );
        assert!(t.normalize_contact("#rust%irc.libera.chat").is_err());
        assert_eq!(
            t.occupant_contact(&room, "Bob").as_deref(),
            Some("bob%irc.libera.chat")
        );
        let f = fixed();
        let Address::Room(room) = f.parse_address("#rust").unwrap() else {
            panic!("not a room");
        };
        assert_eq!((room.name(), room.network()), ("#rust", None));
        assert_eq!(f.occupant_contact(&room, "Bob").as_deref(), Some("bob"));
        assert_eq!(f.occupant_contact(&room, "bad nick"), None);
        assert_eq!(f.normalize_contact("Bob").unwrap(), "bob");
        assert!(f.parse_address("irc.kraken.test").is_err());
        let anon = f.anonymous_account("guest").unwrap();
        assert_eq!(
            (anon.legacy_id.as_str(), anon.secret.clone()),
            ("guest", None)
        );
        assert!(f.anonymous_account("bad nick").is_none());
        assert_eq!(f.descriptor().gateway_type, "irc");
    }
}
