//! The legacy contacts a session follows, and their presence as the user's clients see it.

use crate::legacy::LegacyId;
use jid::Jid;
use tracing::warn;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::*;

/// A contact the session follows.
#[derive(Debug, Default)]
pub(super) struct Followed {
    /// Their last known presence.
    pub(super) presence: Option<(Availability, Option<String>)>,
    /// What the network told of them, once it did; boxed, since many contacts are never
    /// described (IRC's).
    pub(super) profile: Option<Box<Profile>>,
}

/// What the network told of a contact ([`LegacyEvent::ContactUpdated`]).
#[derive(Debug)]
pub(super) struct Profile {
    /// The name they show.
    pub(super) name: Option<String>,
    /// Their picture (`crate::avatar`).
    pub(super) avatar: crate::avatar::Shown,
}

/// What a message the user sent from another client of the network starts with, shown
/// from the contact where their server does not let the gateway send it as theirs.
pub(super) const SENT_ELSEWHERE: &str = "[you, from another client] ";

impl Session {
    /// What the user's server grants, when a message is `by_user` and the server lets the
    /// gateway send messages as the user (XEP-0356): it is then shown as theirs.
    pub(super) fn sent_as_user(&self, by_user: bool) -> Option<crate::privilege::Privileges> {
        if !by_user {
            return None;
        }
        self.ctx
            .privileges
            .of(self.user.domain().as_str())
            .filter(|p| p.message_outgoing)
    }

    /// Most contacts one session follows; beyond it AddContact is ignored (hostile clients).
    pub(super) const MAX_CONTACTS: usize = 2000;

    /// Follows a contact without answering anyone; its presence comes when the network says.
    pub(super) async fn follow_silently(&mut self, contact: LegacyId) {
        if self.contacts.contains_key(&contact) || self.contacts.len() >= Self::MAX_CONTACTS {
            return;
        }
        self.contacts.insert(contact.clone(), Followed::default());
        let _ = self
            .legacy
            .send(LegacyCommand::AddContact { contact })
            .await;
    }

    pub(super) async fn add_contact(&mut self, contact: LegacyId, reply_to: Jid) {
        let known = match self.contacts.get(&contact) {
            Some(known) => known.presence.clone(),
            None => {
                if self.contacts.len() >= Self::MAX_CONTACTS {
                    warn!("too many contacts followed; ignoring more");
                    return;
                }
                self.contacts.insert(contact.clone(), Followed::default());
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
        contact: &LegacyId,
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
        // Their picture's hash (XEP-0153), where the network described them.
        if let Some(profile) = self.contacts.get(contact).and_then(|c| c.profile.as_ref()) {
            p.payloads.push(profile.avatar.update_element());
        }
        if availability != Availability::Offline {
            // What the chat with them takes (XEP-0115): their network's verbs.
            p.payloads
                .extend(crate::disco::caps_of(&self.contact_info(contact)));
        }
        self.send(Element::from(p)).await;
    }

    /// disco#info of the direct chat with `contact`: their name, their network's verbs.
    pub(crate) fn contact_info(&self, contact: &LegacyId) -> xmpp_parsers::disco::DiscoInfoResult {
        crate::disco::contact_info(
            &self.ctx.transport.contact_name(contact),
            self.verbs_for(contact),
        )
    }

    /// The network's contact list, whole: each contact is followed and put in the user's
    /// roster (`roster.rs`). Beyond [`Self::MAX_CONTACTS`] the rest is left out, with a
    /// warning.
    pub(super) async fn on_contact_list(&mut self, contacts: Vec<crate::legacy::Contact>) {
        if contacts.len() > Self::MAX_CONTACTS {
            warn!(
                count = contacts.len(),
                "contact list longer than a session follows; the rest left out"
            );
        }
        for contact in contacts.into_iter().take(Self::MAX_CONTACTS) {
            self.on_contact_updated(contact).await;
        }
    }

    /// A contact was added to the user's list on the network, or changed name or picture:
    /// a new or renamed contact goes into the user's roster with their name (`roster.rs`),
    /// and a new picture is fetched and its hash shown with their presence (`avatars.rs`).
    pub(super) async fn on_contact_updated(&mut self, contact: crate::legacy::Contact) {
        if !self.contacts.contains_key(&contact.id) {
            if self.contacts.len() >= Self::MAX_CONTACTS {
                return;
            }
            self.contacts
                .insert(contact.id.clone(), Followed::default());
        }
        let before = self
            .contacts
            .get(&contact.id)
            .and_then(|c| c.profile.as_ref())
            .map(|p| p.name.clone());
        let change = self.note_profile(&contact);
        if change.introduce {
            let name = contact.name.clone().filter(|n| !n.is_empty());
            self.put_in_roster(&contact.id, name, before).await;
        }
        if change.picture {
            self.show_picture(&contact.id).await;
        }
    }

    /// A contact was removed from the user's list on the network: they leave the roster.
    pub(super) async fn on_contact_removed(&mut self, contact: LegacyId) {
        self.contacts.remove(&contact);
        self.take_out_of_roster(contact).await;
    }
}
