//! The settings' chat commands, in lower case (upper case goes to the network as its own
//! command, `crate::raw`): `settings`, `set <name> <value>`, `unset <name>` and
//! `connection`, at a network's JID, or at the transport's for a transport with one
//! network. A user with a session is answered by it (it holds their transport state, and
//! a slow store or a key derivation then delays only them); a registered user without one
//! by a task of its own. Answers come from the JID the command went to.

use jid::{BareJid, Jid};
use minidom::Element;
use tracing::warn;

use crate::ops::OpsError;
use crate::ops::settings as ops;
use crate::service::{Offer, Service, busy};
use crate::session::{Session, SessionInput};
use crate::settings::ONLY_NETWORK;
use crate::stanza;

/// The commands and one line of help each, for help texts.
pub const HELP: &[(&str, &str)] = &[
    ("settings", "your settings for this network"),
    (
        "set <name> <value>",
        "change one (a list of commands goes on the lines after \"set <name>\")",
    ),
    ("unset <name>", "clear one"),
    (
        "connection",
        "how your connection stands: server, encryption, nick, since when",
    ),
];

/// A settings command, read from a chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `settings`: the network's settings.
    Show,
    /// `set <name> <value>` (the value may span the following lines).
    Set {
        /// The setting.
        name: String,
        /// Its value, as typed.
        value: String,
    },
    /// `unset <name>`.
    Unset {
        /// The setting.
        name: String,
    },
    /// `connection`: how the connection to the network stands.
    Connection,
}

impl Request {
    /// Reads `text` as a settings command, if its first word (in lower case) is one.
    pub fn parse(text: &str) -> Option<Request> {
        let text = text.trim();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim_start();
        let (name, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = name.to_ascii_lowercase();
        match word {
            "settings" => Some(Request::Show),
            "connection" => Some(Request::Connection),
            "set" => Some(Request::Set {
                name,
                value: value.to_owned(),
            }),
            "unset" => Some(Request::Unset { name }),
            _ => None,
        }
    }
}

impl Service {
    /// `request` from `user` (writing from `from`) about `network`.
    pub(crate) async fn on_settings(
        &mut self,
        el: &Element,
        user: &BareJid,
        network: String,
        request: Request,
    ) {
        let input = SessionInput::Settings {
            network: network.clone(),
            request,
        };
        let request = match self.offer(user, input) {
            Offer::Taken => return,
            Offer::Busy(_) => {
                self.refuse(el, busy()).await;
                return;
            }
            Offer::NoSession(input) => match *input {
                SessionInput::Settings { request, .. } => request,
                _ => return,
            },
        };
        let (Some(from), Some(to)) = (
            self.settings_jid(&network),
            el.attr("from").and_then(|f| Jid::new(f).ok()),
        ) else {
            return;
        };
        // Without a session: server mode has none before its login, which holds the key
        // to the user's state; in component mode a registration is needed.
        if self.session_ctx.ends_with_login || !self.is_user(user).await {
            let text = format!("Register with {} first.", self.cfg.domain);
            self.send(stanza::chat(from, to, &text)).await;
            return;
        }
        if request == Request::Connection {
            let text = "You are not connected: send your presence to the transport first.";
            self.send(stanza::chat(from, to, text)).await;
            return;
        }
        let transport = self.transport.clone();
        let state = crate::state::TransportState::new(
            self.store.clone(),
            &self.cfg.transport_name,
            user.as_str(),
        );
        let out = self.out.clone();
        tokio::spawn(async move {
            let text = match answer(transport.as_ref(), &state, &network, request).await {
                Ok(changed) => changed.0,
                Err(text) => text,
            };
            let _ = out.send(stanza::chat(from, to, &text)).await;
        });
    }

    /// The JID that answers about `network`.
    fn settings_jid(&self, network: &str) -> Option<Jid> {
        if network == ONLY_NETWORK {
            return Some(self.domain().clone());
        }
        crate::escape::legacy_jid(network, self.domain().domain().as_str(), None).ok()
    }
}

/// Carries out `request` (not [`Request::Connection`]): the sentence for the user, and the
/// network's values when they changed; or the refusal, in words.
async fn answer(
    transport: &dyn crate::transport::Transport,
    state: &crate::state::TransportState,
    network: &str,
    request: Request,
) -> Result<(String, Option<crate::settings::Values>), String> {
    let result = match request {
        Request::Show => ops::show(transport, state, network)
            .await
            .map(|text| (text, None)),
        Request::Set { name, value } => ops::set(transport, state, network, &name, &value)
            .await
            .map(|c| (c.text, Some(c.values))),
        Request::Unset { name } => ops::unset(transport, state, network, &name)
            .await
            .map(|c| (c.text, Some(c.values))),
        Request::Connection => return Err("not connected".to_owned()),
    };
    result.map_err(|e| match e {
        OpsError::Store(e) => {
            warn!(error = %e, "the user's settings could not be read or written");
            "Your settings could not be read or saved (a storage failure); try again later."
                .to_owned()
        }
        other => other.to_string(),
    })
}

impl Session {
    /// A settings command of the user's: carried out with their transport state, answered
    /// from the network's JID, and a change handed to the legacy session.
    pub(crate) async fn on_settings(&mut self, network: String, request: Request) {
        let from = if network == ONLY_NETWORK {
            Some(self.ctx.domain.clone())
        } else {
            self.contact_jid(&network)
        };
        let Some(from) = from else {
            return;
        };
        if request == Request::Connection {
            let command = crate::legacy::LegacyCommand::DescribeConnection { network };
            if !self.is_online() || self.legacy.send(command).await.is_err() {
                self.notice_from(&from, "Not connected yet: try again in a moment.")
                    .await;
            }
            return;
        }
        let transport = self.ctx.transport.clone();
        let answer = answer(transport.as_ref(), &self.transport_state, &network, request).await;
        let text = match answer {
            Ok((text, Some(values))) => {
                let command = crate::legacy::LegacyCommand::Configure { network, values };
                // A session that ended meanwhile reads the settings at its next start.
                let _ = self.legacy.send(command).await;
                text
            }
            Ok((text, None)) | Err(text) => text,
        };
        self.notice_from(&from, &text).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_in_lower_case() {
        assert_eq!(Request::parse(" settings "), Some(Request::Show));
        assert_eq!(Request::parse("connection"), Some(Request::Connection));
        assert_eq!(
            Request::parse("set Nick  bob_"),
            Some(Request::Set {
                name: "nick".into(),
                value: " bob_".into()
            })
        );
        assert_eq!(
            Request::parse("set commands\nMODE me +i\nAWAY :x"),
            Some(Request::Set {
                name: "commands".into(),
                value: "MODE me +i\nAWAY :x".into()
            })
        );
        assert_eq!(
            Request::parse("unset nick"),
            Some(Request::Unset {
                name: "nick".into()
            })
        );
        // Upper case is the network's own command.
        assert_eq!(Request::parse("SET x y"), None);
        assert_eq!(Request::parse("whois bob"), None);
    }
}
