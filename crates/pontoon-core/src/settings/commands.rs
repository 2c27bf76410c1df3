//! The settings' chat commands, in any case (a phone's keyboard capitalises; and were
//! `Set nickserv-password ...` passed on as a raw command, the password would go to the
//! server): `settings`, `set <name> <value>`, `unset <name>` and `connection`, at a network's JID, or at the transport's for a transport with one
//! network. A user with a session is answered by it (it holds their transport state, and
//! a slow store or a key derivation then delays only them); a registered user without one
//! by a task of its own. Answers come from the JID the command went to.

use std::collections::BTreeMap;

use jid::{BareJid, Jid};
use minidom::Element;
use tracing::warn;
use xmpp_parsers::data_forms::DataForm;

use crate::ops::OpsError;
use crate::ops::settings as ops;
use crate::service::{Offer, Service, busy};
use crate::session::{Session, SessionInput};
use crate::settings::{ONLY_NETWORK, Settings, Values};
use crate::stanza;
use crate::transport::Transport;

/// Settings commands of users without a session, one at a time (see `on_settings`).
static NO_SESSION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    /// The ad-hoc command's form (`super::adhoc`): `None` asks for it, `Some` submits it.
    Form(Option<BTreeMap<String, Vec<String>>>),
}

/// How the user asked, so how they are answered.
#[derive(Clone, Debug)]
pub enum Reply {
    /// By chat: a chat message from the JID the command went to.
    Chat,
    /// By ad-hoc command: the answer to this IQ.
    Command(Element),
}

/// What a settings command comes to.
#[derive(Debug, Default)]
struct Answer {
    /// The sentence for the user.
    text: String,
    /// The form to fill in (the ad-hoc command's first step).
    form: Option<DataForm>,
    /// The network's values, when they changed.
    changed: Option<Values>,
    /// The text says why the request was refused.
    failed: bool,
}

impl Answer {
    fn said(text: String) -> Answer {
        Answer {
            text,
            ..Answer::default()
        }
    }
}

impl Request {
    /// Reads `text` as a settings command, if its first word (in lower case) is one.
    pub fn parse(text: &str) -> Option<Request> {
        let text = text.trim();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim_start();
        let (name, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = name.to_ascii_lowercase();
        match word.to_ascii_lowercase().as_str() {
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
    /// `request` from `user` about `network`, asked by `el` (a chat message, or the IQ of
    /// an ad-hoc command as `reply` says).
    pub(crate) async fn on_settings(
        &mut self,
        el: &Element,
        user: &BareJid,
        network: String,
        request: Request,
        reply: Reply,
    ) {
        let input = SessionInput::Settings {
            network: network.clone(),
            request,
            reply,
        };
        let (request, reply) = match self.offer(user, input) {
            Offer::Taken => return,
            Offer::Busy(_) => {
                self.refuse(el, busy()).await;
                return;
            }
            Offer::NoSession(input) => match *input {
                SessionInput::Settings { request, reply, .. } => (request, reply),
                _ => return,
            },
        };
        let (Some(from), Some(to)) = (
            answering_jid(&network, self.domain()),
            el.attr("from").and_then(|f| Jid::new(f).ok()),
        ) else {
            return;
        };
        // Without a session: server mode has none before its login, which holds the key
        // to the user's state; in component mode a registration is needed.
        if self.session_ctx.ends_with_login || !self.is_user(user).await {
            let text = format!("Register with {} first.", self.cfg.domain);
            self.send(reply.render(from, to, Answer::said(text))).await;
            return;
        }
        if request == Request::Connection {
            let text = "You are not connected: send your presence to the transport first.";
            self.send(reply.render(from, to, Answer::said(text.to_owned())))
                .await;
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
            // One at a time: each reads, changes and writes the user's settings, and two
            // at once could lose one's change. Rare (users with a session are served by
            // it), so one lock for all.
            let _turn = NO_SESSION.lock().await;
            let answer = answer(transport.as_ref(), &state, &network, request).await;
            let _ = out.send(reply.render(from, to, answer)).await;
        });
    }
}

/// The JID that answers about `network` on the transport `domain`: the network's own, or
/// the domain for [`ONLY_NETWORK`].
fn answering_jid(network: &str, domain: &Jid) -> Option<Jid> {
    if network == ONLY_NETWORK {
        return Some(domain.clone());
    }
    crate::escape::legacy_jid(network, domain.domain().as_str(), None).ok()
}

impl Reply {
    /// The stanza carrying `answer` from `from` to `to`.
    fn render(&self, from: Jid, to: Jid, answer: Answer) -> Element {
        match self {
            Reply::Chat => stanza::chat(from, to, &answer.text),
            Reply::Command(iq) => {
                super::adhoc::answer(iq, answer.form, &answer.text, answer.failed)
            }
        }
    }
}

/// Carries out `request` (not [`Request::Connection`]) on `state`.
async fn answer(
    transport: &dyn Transport,
    state: &crate::state::TransportState,
    network: &str,
    request: Request,
) -> Answer {
    let result = match request {
        Request::Show => ops::show(transport, state, network).await.map(Answer::said),
        Request::Set { name, value } => ops::set(transport, state, network, &name, &value)
            .await
            .map(|c| Answer {
                text: c.text,
                changed: Some(c.values),
                ..Answer::default()
            }),
        Request::Unset { name } => {
            ops::unset(transport, state, network, &name)
                .await
                .map(|c| Answer {
                    text: c.text,
                    changed: Some(c.values),
                    ..Answer::default()
                })
        }
        Request::Form(None) => Settings::load(state)
            .await
            .map_err(OpsError::from)
            .map(|s| {
                let empty = Values::new();
                let values = s.network(network).unwrap_or(&empty);
                let specs = &transport.descriptor().network_settings;
                let title = match network {
                    ONLY_NETWORK => "Your settings".to_owned(),
                    n => format!("Your settings for {n}"),
                };
                Answer {
                    form: Some(super::form::form(specs, values, title, &|name, value| {
                        transport.show_setting(name, value)
                    })),
                    ..Answer::default()
                }
            }),
        Request::Form(Some(submitted)) => submit(transport, state, network, &submitted).await,
        Request::Connection => Ok(Answer::said("Not connected.".to_owned())),
    };
    result.unwrap_or_else(|e| Answer {
        text: refused(e),
        failed: true,
        ..Answer::default()
    })
}

/// A submitted form: every change checked first, so that a refused one changes nothing.
async fn submit(
    transport: &dyn Transport,
    state: &crate::state::TransportState,
    network: &str,
    submitted: &BTreeMap<String, Vec<String>>,
) -> Result<Answer, OpsError> {
    use super::form::Change;
    let settings = Settings::load(state).await?;
    let empty = Values::new();
    let values = settings.network(network).unwrap_or(&empty);
    let specs = &transport.descriptor().network_settings;
    let changes = super::form::changes(specs, values, submitted);
    let mut problems = Vec::new();
    for change in &changes {
        if let Change::Set(name, value) = change
            && let Some(spec) = specs.iter().find(|s| &s.name == name)
            && let Err(e) = spec
                .check(value)
                .and_then(|v| transport.check_setting(network, name, &v))
        {
            problems.push(format!("{name}: {}", e.0));
        }
    }
    if !problems.is_empty() {
        return Err(OpsError::Invalid(format!(
            "Nothing was changed. {}",
            problems.join("; ")
        )));
    }
    if changes.is_empty() {
        return Ok(Answer::said("Nothing changed.".to_owned()));
    }
    let mut said = Vec::new();
    let mut changed = None;
    for change in changes {
        let c = match change {
            Change::Set(name, value) => ops::set(transport, state, network, &name, &value).await?,
            Change::Unset(name) => ops::unset(transport, state, network, &name).await?,
        };
        said.push(c.text);
        changed = Some(c.values);
    }
    Ok(Answer {
        text: said.join(" "),
        changed,
        ..Answer::default()
    })
}

/// A refused operation in words (a store failure logged, and said without its details).
fn refused(e: OpsError) -> String {
    match e {
        OpsError::Store(e) => {
            warn!(error = %e, "the user's settings could not be read or written");
            "Your settings could not be read or saved (a storage failure); try again later."
                .to_owned()
        }
        other => other.to_string(),
    }
}

impl Session {
    /// A settings command of the user's: carried out with their transport state, answered
    /// from the network's JID, and a change handed to the legacy session.
    pub(crate) async fn on_settings(&mut self, network: String, request: Request, reply: Reply) {
        let Some(from) = answering_jid(&network, &self.ctx.domain) else {
            return;
        };
        if request == Request::Connection {
            let command = crate::legacy::LegacyCommand::DescribeConnection {
                network: network.clone(),
            };
            if !self.is_online() || self.legacy.send(command).await.is_err() {
                self.notice_from(&from, "Not connected yet: try again in a moment.")
                    .await;
            }
            if let Reply::Command(iq) = &reply {
                let text = format!("The answer comes as a message from {from}.");
                self.send(super::adhoc::answer(iq, None, &text, false))
                    .await;
            }
            return;
        }
        let transport = self.ctx.transport.clone();
        let mut answer = answer(transport.as_ref(), &self.transport_state, &network, request).await;
        if let Some(values) = answer.changed.take() {
            let command = crate::legacy::LegacyCommand::SettingsChanged { network, values };
            // A session that ended meanwhile reads the settings at its next start.
            let _ = self.legacy.send(command).await;
        }
        match reply {
            Reply::Chat => self.notice_from(&from, &answer.text).await,
            Reply::Command(iq) => {
                let el = super::adhoc::answer(&iq, answer.form, &answer.text, answer.failed);
                self.send(el).await
            }
        }
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
        // In any case: a capitalised "Set" is never sent to the network.
        assert_eq!(
            Request::parse("Set nickserv-password pw"),
            Some(Request::Set {
                name: "nickserv-password".into(),
                value: "pw".into()
            })
        );
        assert_eq!(Request::parse("whois bob"), None);
    }
}
