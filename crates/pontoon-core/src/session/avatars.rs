//! Contacts' names and pictures as the session shows them (`crate::avatar`): what the
//! network told of each contact, their picture fetched in the background and its hash
//! added to their presence, and their vCard answered with it.

use minidom::Element;
use tracing::{Instrument, debug};

use super::contacts::Profile;
use super::*;
use crate::avatar::Shown;

/// What a contact's update changed ([`Session::note_profile`]).
pub(super) struct ProfileChange {
    /// They are new to the session, or show another name: ask them into the roster.
    pub(super) introduce: bool,
    /// Their picture's hash (or its absence) is newly known: show it.
    pub(super) picture: bool,
}

impl Session {
    /// Keeps what the network told of `contact`; a picture not fetched yet is fetched in
    /// the background (then [`Session::on_avatar_fetched`]).
    pub(super) fn note_profile(&mut self, contact: &crate::legacy::Contact) -> ProfileChange {
        let Some(followed) = self.contacts.get_mut(&contact.id) else {
            return ProfileChange {
                introduce: false,
                picture: false,
            };
        };
        let name = contact.name.clone().filter(|n| !n.is_empty());
        let introduce = followed.profile.as_ref().is_none_or(|p| p.name != name);
        let current = followed.profile.as_ref().map(|p| &p.avatar);
        let next = Shown::after(current, contact.avatar.as_deref());
        let profile = followed.profile.get_or_insert_with(|| {
            Box::new(Profile {
                name: None,
                avatar: Shown::None,
            })
        });
        profile.name = name;
        let Some(next) = next else {
            return ProfileChange {
                introduce,
                picture: false,
            };
        };
        // Known at once when another session fetched it.
        let next = match next {
            Shown::Pending(r) => match self.ctx.avatars.get(&r) {
                Some(avatar) => Shown::Known(r, avatar.sha1),
                None => Shown::Pending(r),
            },
            other => other,
        };
        let fetch = match &next {
            Shown::Pending(r) => Some(r.clone()),
            _ => None,
        };
        profile.avatar = next;
        let picture = fetch.is_none();
        if let Some(reference) = fetch {
            self.fetch_avatar(contact.id.clone(), reference);
        }
        ProfileChange { introduce, picture }
    }

    /// Fetches `reference` in the background, telling the session when it came.
    fn fetch_avatar(&self, contact: LegacyId, reference: Box<str>) {
        let Some(turn) = self.ctx.avatars.waiting_turn() else {
            debug!(contact = %contact, "too many pictures waiting; this one is not fetched");
            return;
        };
        let ctx = self.ctx.clone();
        let state = self.transport_state.clone();
        let inbox = self.inbox.clone();
        let fetch = async move {
            let _turn = turn;
            let sha1 = match ctx
                .avatars
                .fetch(ctx.transport.as_ref(), state, &reference)
                .await
            {
                Ok(avatar) => Some(avatar.sha1),
                Err(e) => {
                    debug!(contact = %contact, error = %e, "a contact's picture was not fetched");
                    None
                }
            };
            if let Some(inbox) = inbox.upgrade() {
                let input = SessionInput::AvatarFetched {
                    contact,
                    reference,
                    sha1,
                };
                let _ = inbox.send(input).await;
            }
        };
        tokio::spawn(fetch.in_current_span());
    }

    /// A picture fetched: its hash goes with the contact's presence, if they still show it.
    pub(super) async fn on_avatar_fetched(
        &mut self,
        contact: LegacyId,
        reference: Box<str>,
        sha1: Option<[u8; 20]>,
    ) {
        let Some(sha1) = sha1 else {
            return;
        };
        let Some(profile) = self
            .contacts
            .get_mut(&contact)
            .and_then(|c| c.profile.as_mut())
        else {
            return;
        };
        if profile.avatar.reference() != Some(&*reference) {
            return;
        }
        profile.avatar = Shown::Known(reference, sha1);
        self.show_picture(&contact).await;
    }

    /// Shows `contact`'s picture, newly known (or known to be none): the XEP-0084
    /// notification of a picture, then their presence again with its hash (XEP-0153),
    /// where the session knows their presence (a client reads the hash of any presence).
    pub(super) async fn show_picture(&self, contact: &LegacyId) {
        let shown = self
            .contacts
            .get(contact)
            .and_then(|c| c.profile.as_ref())
            .map(|p| &p.avatar);
        // Only a picture is notified: "none" is said by the presence's empty hash, and a
        // notification for every contact without one would double a login's stanzas.
        let avatar = match shown {
            Some(Shown::Known(reference, _)) => self.ctx.avatars.get(reference),
            _ => None,
        };
        if let (Some(avatar), Some(jid)) = (avatar, self.contact_jid(contact)) {
            let event = crate::avatar::pep::metadata_event(Some(&avatar));
            let to = Jid::from(self.user.clone());
            let mut m = crate::stanza::elem(
                "message",
                pontoon_xmpp::ns::CLIENT,
                &[
                    ("type", "headline"),
                    ("from", jid.as_str()),
                    ("to", to.as_str()),
                ],
            );
            m.append_child(event);
            self.send(m).await;
        }
        let Some((availability, status)) =
            self.contacts.get(contact).and_then(|c| c.presence.clone())
        else {
            return;
        };
        self.send_contact_presence(contact, availability, status, None)
            .await;
    }

    /// Answers a vCard request to `contact` (XEP-0054): their name and picture, fetched
    /// first if it is not at hand (in the background, the answer sent when it comes).
    pub(crate) async fn answer_vcard(&mut self, contact: &LegacyId, iq: Element) {
        let profile = self.contacts.get(contact).and_then(|c| c.profile.as_ref());
        let name = profile
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| self.ctx.transport.contact_name(contact));
        if profile.and_then(|p| p.avatar.reference()).is_none() {
            // No picture: the network may say more of them (`crate::lookup`).
            if let Err(iq) = self.look_up(contact.clone(), name.clone(), iq).await {
                let card = crate::avatar::vcard(&name, None);
                self.send(crate::stanza::iq_result_to(&iq, Some(card)))
                    .await;
            }
            return;
        }
        self.answer_with_picture(contact, iq, move |iq, avatar| {
            let card = crate::avatar::vcard(&name, avatar);
            Some(crate::stanza::iq_result_to(iq, Some(card)))
        })
        .await;
    }

    /// Answers a pubsub request to `contact` for their XEP-0084 picture (`crate::avatar::pep`).
    pub(crate) async fn answer_avatar_items(&mut self, contact: &LegacyId, iq: Element) {
        self.answer_with_picture(contact, iq, |iq, avatar| {
            let request = iq.children().next()?;
            match crate::avatar::pep::answer(request, avatar) {
                Ok(pubsub) => Some(crate::stanza::iq_result_to(iq, Some(pubsub))),
                Err(refusal) => refusal.reply_to(iq),
            }
        })
        .await;
    }

    /// Answers `iq` with `contact`'s picture: at once where it is at hand (or no turn to
    /// wait for it is free: many answers waiting), else when it has been fetched, in the
    /// background.
    async fn answer_with_picture<F>(&self, contact: &LegacyId, iq: Element, answer: F)
    where
        F: FnOnce(&Element, Option<&crate::avatar::Avatar>) -> Option<Element> + Send + 'static,
    {
        let reference = self
            .contacts
            .get(contact)
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.avatar.reference())
            .map(str::to_owned);
        let cached = reference.as_deref().and_then(|r| self.ctx.avatars.get(r));
        let turn = match (&reference, &cached) {
            (Some(_), None) => self.ctx.avatars.waiting_turn(),
            _ => None,
        };
        let (Some(reference), Some(turn)) = (reference, turn) else {
            if let Some(reply) = answer(&iq, cached.as_deref()) {
                self.send(reply).await;
            }
            return;
        };
        let ctx = self.ctx.clone();
        let state = self.transport_state.clone();
        let work = async move {
            let _turn = turn;
            let avatar = ctx
                .avatars
                .fetch(ctx.transport.as_ref(), state, &reference)
                .await
                .ok();
            if let Some(reply) = answer(&iq, avatar.as_deref()) {
                let _ = ctx.out.send(reply.into()).await;
            }
        };
        tokio::spawn(work.in_current_span());
    }
}
