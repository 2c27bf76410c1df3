//! The ad-hoc commands (XEP-0050) every user may run at the transport's domain, beside the
//! operator's: `sync-contacts`, the chat command `sync contacts` as a button for clients
//! that show commands (the network's contact list into the roster again, written where the
//! user's server lets the gateway, else asked in), and `always-online`
//! ([`super::always_online`]).

use minidom::Element;
use xmpp_parsers::disco::Item;

use super::wire::{command_error, command_info, command_items, completed};
use crate::service::Service;
use crate::session::SessionInput;
use crate::stanza::{Header, Refusal};

/// Node of the command putting the network's contacts into the roster again.
pub const SYNC_CONTACTS: &str = "sync-contacts";
/// Every user's commands at the domain: node and name.
pub const COMMANDS: &[(&str, &str)] = &[
    (SYNC_CONTACTS, "Sync contacts"),
    (super::always_online::NODE, super::always_online::NAME),
];

/// Whether `node` is one of every user's commands at the domain.
pub fn is_user_command(node: &str) -> bool {
    COMMANDS.iter().any(|(n, _)| *n == node)
}

impl Service {
    /// Every user's commands at the domain, for disco#items.
    pub(crate) fn user_domain_command_items(&self) -> Vec<Item> {
        command_items(self.domain(), COMMANDS)
    }

    /// disco#info of one of every user's commands.
    pub(crate) fn user_domain_command_info(&self, node: &str) -> Option<Element> {
        command_info(COMMANDS, node)
    }

    /// Runs one of every user's commands: it completes at once, with a note.
    pub(crate) async fn on_user_domain_command(
        &mut self,
        el: &Element,
        header: &Header,
        is_get: bool,
    ) {
        let node = el
            .get_child("command", super::NS_COMMANDS)
            .and_then(|c| c.attr("node"))
            .unwrap_or_default();
        let reply = if is_get {
            let r = Refusal::modify("bad-request", "Commands are run with an IQ of type set.");
            command_error(el, &r, None)
        } else if node == super::always_online::NODE {
            return self.on_always_online_command(el, header).await;
        } else {
            let user = header.user().clone();
            let (text, failed) = match self.hand_to_session(&user, SessionInput::SyncContacts) {
                None => (
                    "Your contacts on the network are being put into your roster.".to_owned(),
                    false,
                ),
                Some(why) => (why, true),
            };
            Some(completed(el, SYNC_CONTACTS, SYNC_CONTACTS, &text, failed))
        };
        if let Some(reply) = reply {
            self.send(reply).await;
        }
    }
}
