//! The settings as XEP-0050 ad-hoc commands for every user, at a network's JID (or the
//! transport's, for a transport with one network): `settings`, a form with the current
//! values, and `connection`; at a room's JID, `settings` with the room's. They carry the same requests as the chat commands
//! (`super::commands`). The form needs no command session of its own: what is submitted
//! is checked against the values as they are then, so the session id is fixed.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::data_forms::DataForm;
use xmpp_parsers::disco::Item;

use super::Scope;
use super::commands::{Reply, Request};
use crate::adhoc::NS_COMMANDS;
use crate::adhoc::wire::{
    command_element, command_error, command_info, command_items, completed, executing, node_info,
    submitted,
};
use crate::service::Service;
use crate::stanza::{self, Header, Refusal};

/// The node of the settings form.
pub const SETTINGS: &str = "settings";
/// The node describing the connection.
pub const CONNECTION: &str = "connection";
/// The user's commands: node and name.
pub const COMMANDS: &[(&str, &str)] = &[(SETTINGS, "Settings"), (CONNECTION, "Connection info")];
/// The user's commands at a room's JID.
pub const ROOM_COMMANDS: &[(&str, &str)] = &[(SETTINGS, "Room settings")];
/// The session id of every answer (see the module's comment).
const SESSION: &str = "settings";

/// The answer to the command `iq`: `form` to fill in, or done, with `text` as its note
/// (an error note when `failed`).
pub(crate) fn answer(iq: &Element, form: Option<DataForm>, text: &str, failed: bool) -> Element {
    let node = iq
        .get_child("command", NS_COMMANDS)
        .and_then(|c| c.attr("node"))
        .unwrap_or(SETTINGS);
    match form {
        Some(form) => stanza::iq_result_to(iq, Some(executing(node, SESSION, form))),
        None => completed(iq, node, SESSION, text, failed),
    }
}

impl Service {
    /// Whether the user's commands are at the transport's own JID (else at each network's).
    pub(crate) fn settings_at_domain(&self) -> bool {
        let d = self.transport.descriptor();
        d.one_network && !d.network_settings.is_empty()
    }

    /// The user's commands at `jid` (a network's, or the domain's), for disco#items.
    pub(crate) fn user_command_items(&self, jid: &Jid) -> Vec<Item> {
        if self.transport.descriptor().network_settings.is_empty() {
            return Vec::new();
        }
        command_items(jid, COMMANDS)
    }

    /// The user's commands at a room's `jid`, for disco#items.
    pub(crate) fn room_command_items(&self, jid: &Jid) -> Vec<Item> {
        if self.transport.descriptor().room_settings.is_empty() {
            return Vec::new();
        }
        command_items(jid, ROOM_COMMANDS)
    }

    /// disco#info of the room settings' node, where the transport has room settings.
    pub(crate) fn room_command_info(&self) -> Option<Result<Element, Refusal>> {
        if self.transport.descriptor().room_settings.is_empty() {
            return None;
        }
        let (node, name) = ROOM_COMMANDS.first()?;
        Some(Ok(node_info(node, name)))
    }

    /// disco#info of a user command's node, if `node` is one.
    pub(crate) fn user_command_info(&self, node: &str) -> Option<Element> {
        command_info(COMMANDS, node)
    }

    /// A `<command/>` IQ from a user to `scope`'s JID: a network's (the domain's for
    /// `ONLY_NETWORK`) or a room's.
    pub(crate) async fn on_user_command(
        &mut self,
        el: &Element,
        header: &Header,
        command: &Element,
        scope: Scope,
        is_get: bool,
    ) {
        let commands = match scope {
            Scope::Network(_) => COMMANDS,
            Scope::Room(_) => ROOM_COMMANDS,
        };
        let node = command.attr("node").unwrap_or_default();
        let action = command.attr("action").unwrap_or("execute");
        let refused = if is_get {
            let r = Refusal::modify("bad-request", "Commands are run with an IQ of type set.");
            Some((r, None))
        } else if scope.specs(self.transport.descriptor()).is_empty()
            || !commands.iter().any(|(n, _)| *n == node)
        {
            let r = Refusal::cancel("item-not-found", format!("No command {node:?}."));
            Some((r, None))
        } else if !matches!(action, "execute" | "complete" | "next" | "cancel") {
            let r = Refusal::modify("bad-request", format!("Unknown action {action:?}."));
            Some((r, Some("malformed-action")))
        } else {
            None
        };
        if let Some((r, specific)) = refused {
            if let Some(e) = command_error(el, &r, specific) {
                self.send(e).await;
            }
            return;
        }
        if action == "cancel" {
            let done = command_element(node, SESSION, "canceled");
            self.send(stanza::iq_result_to(el, Some(done))).await;
            return;
        }
        let request = if node == CONNECTION {
            Request::Connection
        } else {
            Request::Form(submitted(command))
        };
        let user = header.user().clone();
        let reply = Reply::Command(el.clone());
        self.on_settings(el, &user, scope, request, reply).await;
    }
}
