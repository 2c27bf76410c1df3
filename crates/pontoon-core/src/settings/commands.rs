//! The settings' chat commands, in any case (a phone's keyboard capitalises; and were
//! `Set nickserv-password ...` passed on as a raw command, the password would go to the
//! server): `settings`, `set <name> <value>`, `unset <name>` and `connection`, at a network's JID, or at the transport's for a transport with one
//! network. A user with a session is answered by it (it holds their transport state, and
//! a slow store or a key derivation then delays only them); a registered user without one
//! by a task of its own. Answers come from the JID the command went to. A room's settings
//! are typed in the room, `/settings`, `/set <name> <value>`, `/unset <name>`
//! ([`Request::parse_in_room`]), and answered there.

use std::collections::BTreeMap;

use jid::{BareJid, Jid};
use minidom::Element;
use tracing::warn;
use xmpp_parsers::data_forms::DataForm;

use crate::ops::OpsError;
use crate::ops::settings as ops;
use crate::service::{Offer, Service, busy};
use crate::session::{Session, SessionInput};
use crate::settings::{ONLY_NETWORK, Scope, Settings, Values};
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
    /// Typed in a room by this resource: a message from the room itself (to the user's
    /// resources in the room, else to this one).
    Room(Jid),
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

    /// A change: its sentence, and the values for the running session.
    fn changed(c: ops::Changed) -> Answer {
        Answer {
            text: c.text,
            changed: Some(c.values),
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

    /// Reads a room message as a room settings command (`/settings`, `/set`, `/unset`).
    pub fn parse_in_room(body: &str) -> Option<Request> {
        let command = body.trim_start().strip_prefix('/')?;
        let word = command.split_whitespace().next()?.to_ascii_lowercase();
        match word.as_str() {
            "settings" | "set" | "unset" => Request::parse(command),
            _ => None,
        }
    }
}

impl Service {
    /// `request` from `user` about `scope`, asked by `el` (a chat message, or the IQ of
    /// an ad-hoc command as `reply` says).
    pub(crate) async fn on_settings(
        &mut self,
        el: &Element,
        user: &BareJid,
        scope: Scope,
        request: Request,
        reply: Reply,
    ) {
        let input = SessionInput::Settings {
            scope: scope.clone(),
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
            answering_jid(&scope, self.domain()),
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
            let answer = answer(transport.as_ref(), &state, &scope, request).await;
            let _ = out.send(reply.render(from, to, answer).into()).await;
        });
    }
}

/// The JID that answers about `scope` on the transport `domain`: the network's own (the
/// domain for [`ONLY_NETWORK`]), or the room's.
fn answering_jid(scope: &Scope, domain: &Jid) -> Option<Jid> {
    let local = match scope {
        Scope::Network(n) if n == ONLY_NETWORK => return Some(domain.clone()),
        Scope::Network(n) => n.clone(),
        Scope::Room(r) => r.to_string(),
    };
    crate::escape::legacy_jid(&local, domain.domain().as_str(), None).ok()
}

impl Reply {
    /// The stanza carrying `answer` from `from` to `to`.
    fn render(&self, from: Jid, to: Jid, answer: Answer) -> Element {
        match self {
            Reply::Chat => stanza::chat(from, to, &answer.text),
            Reply::Room(_) => stanza::groupchat(from, to, &answer.text),
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
    scope: &Scope,
    request: Request,
) -> Answer {
    let result = match request {
        Request::Show => ops::show(transport, state, scope).await.map(Answer::said),
        Request::Set { name, value } => ops::set(transport, state, scope, &name, &value)
            .await
            .map(Answer::changed),
        Request::Unset { name } => ops::unset(transport, state, scope, &name)
            .await
            .map(Answer::changed),
        Request::Form(None) => Settings::load_from(state, scope.state_key())
            .await
            .map_err(OpsError::from)
            .map(|s| {
                let empty = Values::new();
                let values = s.network(&scope.key()).unwrap_or(&empty);
                let specs = scope.specs(transport.descriptor());
                Answer {
                    form: Some(super::form::form(
                        specs,
                        values,
                        scope.title(),
                        &|name, value| transport.show_setting(name, value),
                    )),
                    ..Answer::default()
                }
            }),
        Request::Form(Some(submitted)) => submit(transport, state, scope, &submitted).await,
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
    scope: &Scope,
    submitted: &BTreeMap<String, Vec<String>>,
) -> Result<Answer, OpsError> {
    use super::form::Change;
    let settings = Settings::load_from(state, scope.state_key()).await?;
    let empty = Values::new();
    let key = scope.key();
    let values = settings.network(&key).unwrap_or(&empty);
    let specs = scope.specs(transport.descriptor());
    let changes = super::form::changes(specs, values, submitted);
    let mut problems = Vec::new();
    for change in &changes {
        if let Change::Set(name, value) = change
            && let Some(spec) = specs.iter().find(|s| &s.name == name)
            && let Err(e) = spec
                .check(value)
                .and_then(|v| transport.check_setting(&key, name, &v))
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
            Change::Set(name, value) => ops::set(transport, state, scope, &name, &value).await?,
            Change::Unset(name) => ops::unset(transport, state, scope, &name).await?,
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
    /// from the network's or room's JID, and a change handed to the legacy session.
    pub(crate) async fn on_settings(&mut self, scope: Scope, request: Request, reply: Reply) {
        let Some(from) = answering_jid(&scope, &self.ctx.domain) else {
            return;
        };
        if request == Request::Connection {
            let Scope::Network(network) = &scope else {
                return;
            };
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
        let mut answer = answer(transport.as_ref(), &self.transport_state, &scope, request).await;
        let room = match &scope {
            Scope::Room(room) => Some(room.clone()),
            Scope::Network(_) => None,
        };
        if let Some(values) = answer.changed.take() {
            let command = match scope {
                Scope::Network(network) => {
                    crate::legacy::LegacyCommand::SettingsChanged { network, values }
                }
                Scope::Room(room) => {
                    crate::legacy::LegacyCommand::RoomSettingsChanged { room, values }
                }
            };
            // A session that ended meanwhile reads the settings at its next start.
            let _ = self.legacy.send(command).await;
        }
        match reply {
            Reply::Chat => self.notice_from(&from, &answer.text).await,
            Reply::Room(typed_by) => match room {
                Some(room) if self.in_room(&room) => self.on_room_notice(room, answer.text).await,
                _ => {
                    let el = stanza::groupchat(from, typed_by, &answer.text);
                    self.send(el).await
                }
            },
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

    #[test]
    fn a_rooms_settings_are_typed_with_a_slash() {
        assert_eq!(Request::parse_in_room("/settings"), Some(Request::Show));
        assert_eq!(
            Request::parse_in_room("/SET key sekrit"),
            Some(Request::Set {
                name: "key".into(),
                value: "sekrit".into()
            })
        );
        assert_eq!(
            Request::parse_in_room("/unset key"),
            Some(Request::Unset { name: "key".into() })
        );
        // Said in the room as before: no slash, another command, or `connection`.
        for said in ["settings", "set key x", "/me sets", "/connection", "/", ""] {
            assert_eq!(Request::parse_in_room(said), None, "{said}");
        }
    }
}
