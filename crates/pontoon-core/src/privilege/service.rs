//! The service's part of the privileges: answers to the IQs sessions send the user's server
//! (roster, bookmarks) go to the session that asked, and a user who unregisters has the transport's contacts taken out of their
//! roster (XEP-0100 says the gateway's contacts leave with it; without the roster
//! permission the user's server keeps them, as before).

use std::collections::HashMap;

use jid::BareJid;
use minidom::Element;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{info, warn};

use super::roster as wire;
use crate::service::Service;
use crate::session::SessionInput;
use crate::stanza::Header;

/// Rosters read to take an unregistered user's contacts out, by the read's id. Bounded:
/// beyond it, the contacts stay (logged).
#[derive(Debug, Default)]
pub struct Forgetting {
    reads: HashMap<String, BareJid>,
    next: u64,
}

/// Most roster reads for unregistered users waiting at once.
const MAX_FORGETTING: usize = 256;

impl Service {
    /// An IQ result or error: an answer to a roster IQ of the gateway's goes where it was
    /// asked from; anything else answers nothing the gateway asked, and is dropped (never
    /// answered: RFC 6120 8.2.3).
    pub(crate) async fn on_iq_answer(&mut self, el: Element, header: Header) {
        let id = header.id.as_deref().unwrap_or_default();
        // From the user's server (their bare JID), or, for a features query, one of their
        // clients (a full JID: its server stamps it).
        let features = id
            .strip_prefix(super::SESSION_IQ_PREFIX)
            .is_some_and(|rest| rest.starts_with('c'));
        if !(wire::from_host(&header.from) || (features && header.from.resource().is_some())) {
            return;
        }
        let user = header.user().clone();
        if id.starts_with(super::SESSION_IQ_PREFIX) {
            let Some(session) = self.sessions.get(&user) else {
                return;
            };
            match session.tx.try_send(SessionInput::HostAnswer { stanza: el }) {
                Ok(()) => {}
                // The session's inbox is full or closed: the write stays pending there, and
                // the item is as the server left it; the next login reconciles.
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                    warn!(user = %user, "roster answer dropped: the session is busy or ending");
                }
            }
        } else if id.starts_with(wire::FORGET_ID_PREFIX)
            && self.forgetting.reads.get(id) == Some(&user)
        {
            self.forgetting.reads.remove(id);
            self.forget_items(&el, &user).await;
        }
    }

    /// Reads `user`'s roster to take the transport's contacts out of it, where their server
    /// lets the gateway (called when they unregister).
    pub(crate) async fn forget_roster(&mut self, user: &BareJid) {
        let access = self.privileges.roster(user.domain().as_str());
        if !(access.get() && access.set()) {
            return;
        }
        if self.forgetting.reads.len() >= MAX_FORGETTING {
            warn!(user = %user, "too many unregistrations at once: the transport's contacts stay in this user's roster");
            return;
        }
        self.forgetting.next += 1;
        let id = format!("{}{}", wire::FORGET_ID_PREFIX, self.forgetting.next);
        self.forgetting.reads.insert(id.clone(), user.clone());
        let get = wire::get(&self.domain_jid, user, id);
        self.send(get).await;
    }

    async fn forget_items(&mut self, answer: &Element, user: &BareJid) {
        let domain = self.cfg.domain.clone();
        let Some(items) = (answer.attr("type") == Some("result"))
            .then(|| wire::read_items(answer, &domain))
            .flatten()
        else {
            warn!(user = %user, "the server refused to read the roster of an unregistered user; the transport's contacts stay in it");
            return;
        };
        info!(user = %user, items = items.len(), "taking the transport's contacts out of an unregistered user's roster");
        for (n, (jid, _)) in items.into_iter().enumerate() {
            // Answers to these come back with this prefix and an unknown id: dropped.
            let id = format!("{}{}-{n}", wire::FORGET_ID_PREFIX, self.forgetting.next);
            let set = wire::set(&self.domain_jid, user, id, jid, None);
            self.send(set).await;
        }
    }
}
