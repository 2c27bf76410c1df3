//! The operator's ad-hoc commands (XEP-0050, forms from XEP-0004) on the transport domain.
//!
//! Only the admin JIDs of the configuration ([`crate::ServiceConfig::admins`]) see and run
//! them; others get an empty command list and `forbidden`. They answer even while the
//! transport is disabled (so an admin can enable it). Changes go through the store, then
//! the service applies them at once, exactly as it applies the console's.
//!
//! A command that needs input answers `executing` with a form and a session id; the
//! submitted form completes it with a `<note type='info'/>`. Sessions waiting for a form
//! are few and short-lived (see [`MAX_PENDING`], [`EXPIRE_AFTER`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jid::{BareJid, Jid};
use minidom::Element;
use tokio::time::Instant;
use tracing::info;
use xmpp_parsers::data_forms::DataForm;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::presence::Presence;

use crate::ops::audit::{self, action};
use crate::ops::registrations as ops;
use crate::service::Service;
use crate::stanza::{self, Header, Refusal};
use crate::transport::FieldKind;

pub mod always_online;
mod run;
pub mod user;
pub(crate) mod wire;
use wire::{command_element, command_error, first, sentence, submitted, with_attr};

/// The ad-hoc commands namespace, also the disco node listing the commands.
pub const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";
pub(crate) const NS_DATA: &str = "jabber:x:data";

/// Node of the command listing sessions (completes at once with a result form).
pub const LIST_SESSIONS: &str = "list-sessions";
/// Node of the command registering a user (form: `jid` plus the registration fields).
pub const ADD_REGISTRATION: &str = "add-registration";
/// Node of the command deleting a registration (form: `jid`).
pub const REMOVE_REGISTRATION: &str = "remove-registration";
/// Node of the command enabling the transport (completes at once).
pub const ENABLE_TRANSPORT: &str = "enable-transport";
/// Node of the command disabling the transport (completes at once; sessions end).
pub const DISABLE_TRANSPORT: &str = "disable-transport";
/// Node of the command messaging every user with a session (form: `body`).
pub const ANNOUNCE: &str = "announce";
/// Node of the command ending one user's session (form: `jid`, optional `reason`).
pub const DISCONNECT_SESSION: &str = "disconnect-session";

/// Every command: node and name, in the order they are listed.
pub const COMMANDS: &[(&str, &str)] = &[
    (LIST_SESSIONS, "List sessions"),
    (ADD_REGISTRATION, "Add a registration"),
    (REMOVE_REGISTRATION, "Remove a registration"),
    (ENABLE_TRANSPORT, "Enable the transport"),
    (DISABLE_TRANSPORT, "Disable the transport"),
    (ANNOUNCE, "Announce a message to all users"),
    (DISCONNECT_SESSION, "Disconnect a session"),
];

/// Most command sessions waiting for a form at once, over all admins.
pub const MAX_PENDING: usize = 32;
/// How long a command session waits for its form.
pub const EXPIRE_AFTER: Duration = Duration::from_secs(600);
/// Most sessions `list-sessions` shows one by one (the stanza stays small).
const MAX_LISTED: usize = 500;

/// One command waiting for its form.
#[derive(Debug)]
struct PendingCommand {
    node: &'static str,
    /// The full JID that started it; nobody else may continue it.
    owner: Jid,
    started: Instant,
}

/// Command sessions waiting for a form (bounded and expiring).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    sessions: HashMap<String, PendingCommand>,
    next: u64,
}

impl Pending {
    /// Forgets sessions older than [`EXPIRE_AFTER`].
    pub(crate) fn expire(&mut self) {
        if self.sessions.is_empty() {
            return;
        }
        let now = Instant::now();
        self.sessions
            .retain(|_, p| now.duration_since(p.started) < EXPIRE_AFTER);
    }

    /// A session id never given out before (XEP-0050 wants them unique).
    fn fresh_id(&mut self, node: &str) -> String {
        self.next += 1;
        format!("{node}:{}", self.next)
    }

    /// A new waiting session of `node`, or `None` when too many are waiting.
    fn start(&mut self, node: &'static str, owner: Jid) -> Option<String> {
        self.expire();
        if self.sessions.len() >= MAX_PENDING {
            return None;
        }
        let id = self.fresh_id(node);
        self.sessions.insert(
            id.clone(),
            PendingCommand {
                node,
                owner,
                started: Instant::now(),
            },
        );
        Some(id)
    }
}

/// The static node name for a requested node, if it is a command.
fn command_node(node: &str) -> Option<&'static str> {
    COMMANDS.iter().map(|(n, _)| *n).find(|n| *n == node)
}

fn needs_form(node: &str) -> bool {
    matches!(
        node,
        ADD_REGISTRATION | REMOVE_REGISTRATION | ANNOUNCE | DISCONNECT_SESSION
    )
}

/// What a command step ends with.
enum Outcome {
    /// Done: a note, and maybe a result form.
    Completed {
        note: String,
        note_type: &'static str,
        form: Option<DataForm>,
    },
    /// The submitted values are not acceptable (`bad-request` / `bad-payload`); the
    /// session stays open for another try.
    BadPayload(String),
    /// Another refusal (store failure, conflict); the session stays open.
    Refused(Refusal),
}

fn info_note(note: impl Into<String>) -> Outcome {
    Outcome::Completed {
        note: note.into(),
        note_type: "info",
        form: None,
    }
}

/// The user's bare JID in field `jid`, or why not (the console's and the API's check).
fn jid_value(values: &BTreeMap<String, Vec<String>>) -> Result<BareJid, Outcome> {
    let text = first(values, "jid");
    if text.is_empty() {
        return Err(Outcome::BadPayload("The field jid is required.".to_owned()));
    }
    crate::control::user_jid(text).map_err(|e| Outcome::BadPayload(sentence(&e)))
}

impl Service {
    /// Whether `user` may run the operator's commands.
    pub(crate) fn is_admin(&self, user: &BareJid) -> bool {
        self.cfg.admins.iter().any(|a| a == user)
    }

    /// disco#info of the command list node and of each command node, if `node` is one of
    /// them (command nodes only for admins).
    pub(crate) fn commands_info(
        &self,
        user: &BareJid,
        node: &str,
    ) -> Option<Result<Element, Refusal>> {
        if node == NS_COMMANDS {
            return Some(Ok(DiscoInfoResult {
                node: Some(node.to_owned()),
                identities: vec![Identity::new(
                    "automation",
                    "command-list",
                    "en",
                    "Commands",
                )],
                features: [NS_COMMANDS].iter().map(|f| (*f).to_owned()).collect(),
                extensions: vec![],
            }
            .into()));
        }
        let (node, name) = COMMANDS.iter().find(|(n, _)| *n == node)?;
        if !self.is_admin(user) {
            return Some(Err(Refusal::cancel(
                "item-not-found",
                format!("No such node {node:?}."),
            )));
        }
        Some(Ok(wire::node_info(node, name)))
    }

    /// disco#items of the command list node: the operator's commands for admins, and every
    /// user's own (their settings).
    pub(crate) fn commands_items(&self, user: &BareJid) -> Element {
        let mut items: Vec<Item> = if self.is_admin(user) {
            wire::command_items(self.domain(), COMMANDS)
        } else {
            vec![]
        };
        // Every user's own: their settings, where the domain takes them, and `user.rs`'s.
        if self.settings_at_domain() {
            items.extend(self.user_command_items(self.domain()));
        }
        items.extend(self.user_domain_command_items());
        DiscoItemsResult {
            node: Some(NS_COMMANDS.to_owned()),
            items,
            rsm: None,
        }
        .into()
    }

    /// An IQ with a `<command/>` payload to the domain: answers it (and sends what the
    /// command queued for after the answer).
    pub(crate) async fn on_adhoc(
        &mut self,
        el: &Element,
        header: &Header,
        command: &Element,
        is_get: bool,
    ) {
        let reply = self.adhoc_reply(el, header, command, is_get).await;
        if let Some(reply) = reply {
            self.send(reply).await;
        }
        self.flush_after_reply().await;
    }

    async fn adhoc_reply(
        &mut self,
        el: &Element,
        header: &Header,
        command: &Element,
        is_get: bool,
    ) -> Option<Element> {
        if is_get {
            let r = Refusal::modify("bad-request", "Commands are run with an IQ of type set.");
            return command_error(el, &r, None);
        }
        let user = header.user().clone();
        let requested = command.attr("node").unwrap_or_default();
        let Some(node) = command_node(requested) else {
            let r = Refusal::cancel("item-not-found", format!("No command {requested:?}."));
            return command_error(el, &r, None);
        };
        if !self.is_admin(&user) {
            info!(user = %user, node, "ad-hoc command refused: not an admin");
            let r = Refusal::cancel(
                "forbidden",
                "Only the gateway's administrators may run this command.",
            );
            return command_error(el, &r, None);
        }
        let action = command.attr("action").unwrap_or("execute");
        let sessionid = command.attr("sessionid").filter(|s| !s.is_empty());
        match action {
            "execute" | "complete" | "next" | "cancel" => {}
            "prev" => {
                let r = Refusal::modify("bad-request", "This command has no previous stage.");
                return command_error(el, &r, Some("bad-action"));
            }
            other => {
                let r = Refusal::modify("bad-request", format!("Unknown action {other:?}."));
                return command_error(el, &r, Some("malformed-action"));
            }
        }
        let sessionid = match sessionid {
            Some(id) => {
                let Some(pending) = self.adhoc.sessions.get(id) else {
                    let r = Refusal::cancel(
                        "not-allowed",
                        "This command session is over (completed, canceled or expired); start the command again.",
                    );
                    return command_error(el, &r, Some("session-expired"));
                };
                if pending.node != node || pending.owner != header.from {
                    let r = Refusal::modify(
                        "bad-request",
                        "This session id is not yours or not this command's.",
                    );
                    return command_error(el, &r, Some("bad-sessionid"));
                }
                id.to_owned()
            }
            None if action == "cancel" => {
                // Nothing was started; canceling it is trivially done.
                let id = self.adhoc.fresh_id(node);
                let done = command_element(node, &id, "canceled");
                return Some(stanza::iq_result(
                    &self.domain().clone(),
                    header,
                    Some(done),
                ));
            }
            None => {
                let form = submitted(command);
                if needs_form(node) && form.is_none() {
                    // First stage: hand out the form.
                    let Some(id) = self.adhoc.start(node, header.from.clone()) else {
                        let r = Refusal::wait(
                            "resource-constraint",
                            "Too many commands are waiting for a form; try again in a few minutes.",
                        );
                        return command_error(el, &r, None);
                    };
                    let answer = wire::executing(node, &id, self.command_form(node));
                    return Some(stanza::iq_result(
                        &self.domain().clone(),
                        header,
                        Some(answer),
                    ));
                }
                // A one-stage command, or a form submitted with the first request.
                String::new()
            }
        };
        if action == "cancel" {
            self.adhoc.sessions.remove(&sessionid);
            let done = command_element(node, &sessionid, "canceled");
            return Some(stanza::iq_result(
                &self.domain().clone(),
                header,
                Some(done),
            ));
        }
        let values = submitted(command).unwrap_or_default();
        info!(user = %user, node, "ad-hoc command");
        let outcome = self.run_command(node, &values, user.as_str()).await;
        let sessionid = if sessionid.is_empty() {
            self.adhoc.fresh_id(node)
        } else {
            sessionid
        };
        match outcome {
            Outcome::Completed {
                note,
                note_type,
                form,
            } => {
                self.adhoc.sessions.remove(&sessionid);
                let mut answer = command_element(node, &sessionid, "completed");
                let note = Element::builder("note", NS_COMMANDS).append(note).build();
                answer.append_child(with_attr(note, "type", note_type));
                if let Some(form) = form {
                    answer.append_child(crate::explicit::form(form));
                }
                Some(stanza::iq_result(
                    &self.domain().clone(),
                    header,
                    Some(answer),
                ))
            }
            Outcome::BadPayload(text) => {
                let r = Refusal::modify("bad-request", text);
                command_error(el, &r, Some("bad-payload"))
            }
            Outcome::Refused(r) => command_error(el, &r, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_sessions_are_bounded() {
        let mut p = Pending::default();
        let owner = Jid::new("admin@localhost/r").unwrap();
        let ids: Vec<_> = (0..MAX_PENDING)
            .map(|_| p.start(ANNOUNCE, owner.clone()))
            .collect();
        assert!(ids.iter().all(Option::is_some));
        assert!(p.start(ANNOUNCE, owner).is_none());
    }

    #[test]
    fn submitted_values_keep_every_line() {
        let cmd: Element = "<command xmlns='http://jabber.org/protocol/commands' node='announce'>\
            <x xmlns='jabber:x:data' type='submit'><field var='body'><value>a</value><value>b</value></field></x></command>"
            .parse()
            .unwrap();
        let v = submitted(&cmd).unwrap();
        assert_eq!(v.get("body").unwrap().join("\n"), "a\nb");
        assert!(command_node("announce").is_some());
        assert!(command_node("nope").is_none());
    }
}
