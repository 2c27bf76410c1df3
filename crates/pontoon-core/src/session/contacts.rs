//! The legacy contacts a session follows, and their presence as the user's clients see it.

use jid::Jid;
use tracing::warn;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::*;

impl Session {
    /// Most contacts one session follows; beyond it AddContact is ignored (hostile clients).
    const MAX_CONTACTS: usize = 2000;

    /// Follows a contact without answering anyone; its presence comes when the network says.
    pub(super) async fn follow_silently(&mut self, contact: String) {
        if self.contacts.contains_key(&contact) || self.contacts.len() >= Self::MAX_CONTACTS {
            return;
        }
        self.contacts.insert(contact.clone(), None);
        let _ = self
            .legacy
            .send(LegacyCommand::AddContact { contact })
            .await;
    }

    pub(super) async fn add_contact(&mut self, contact: String, reply_to: Jid) {
        let known = match self.contacts.get(&contact) {
            Some(known) => known.clone(),
            None => {
                if self.contacts.len() >= Self::MAX_CONTACTS {
                    warn!("too many contacts followed; ignoring more");
                    return;
                }
                self.contacts.insert(contact.clone(), None);
                let _ = self
                    .legacy
                    .send(LegacyCommand::AddContact {
                        contact: contact.clone(),
                    })
                    .await;
                None
            }
        };
        let (availability, status) = known.unwrap_or((Availability::Offline, None));
        self.send_contact_presence(&contact, availability, status, Some(reply_to))
            .await;
    }

    /// A legacy contact's presence, to `to` or to the user's bare JID.
    pub(super) async fn send_contact_presence(
        &self,
        contact: &str,
        availability: Availability,
        status: Option<String>,
        to: Option<Jid>,
    ) {
        let Some(jid) = self.contact_jid(contact) else {
            return;
        };
        let kind = if availability == Availability::Offline {
            PresenceType::Unavailable
        } else {
            PresenceType::None
        };
        let mut p = Presence::new(kind)
            .with_from(jid)
            .with_to(to.unwrap_or_else(|| Jid::from(self.user.clone())));
        p.show = show_of(availability);
        if let Some(status) = status {
            p.set_status("", status);
        }
        self.send(p.into()).await;
    }
}
