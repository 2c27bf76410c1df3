//! IQs the network answers: what it says of a person, as their vCard (XEP-0054), a room's
//! ban list, as its outcast list (XEP-0045 §9.5), and a room's settings, as its
//! configuration form (§10.2, `crate::muc::config`).
//!
//! A vCard request to a contact or to a room occupant, on a network that looks people up
//! ([`Verbs::lookup`](crate::legacy::Verbs::lookup): IRC's WHOIS), asks the user's legacy
//! session and answers with the real name, account, server, address, idle time and away
//! message the network gives. A few questions wait at once per session; beyond them, or
//! when the network does not answer in time, the plain vCard (the name) answers, and a ban
//! list is refused with `remote-server-timeout`.

use std::time::Duration;

use minidom::Element;
use tokio::time::Instant;

use crate::legacy::{ContactDetails, LegacyCommand, LegacyId};
use crate::session::Session;
use crate::stanza::{Refusal, iq_result_to};

/// Questions waiting at once per session.
const MAX_WAITING: usize = 8;
/// How long a question waits for the network (IRC answers within its own 10 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(12);
/// Longest part of a network's answer shown.
const MAX_PART: usize = 200;
/// Most bans shown in an outcast list.
const MAX_BANS: usize = 500;

/// What an IQ waiting for the network asked.
#[derive(Debug)]
enum Asked {
    /// The vCard of this nick.
    Vcard(String),
    /// The outcast list of a room.
    Bans,
    /// The configuration form of a room.
    Config,
}

/// One IQ waiting for the network.
#[derive(Debug)]
struct Waiting {
    request: u64,
    iq: Element,
    asked: Asked,
    until: Instant,
}

/// A session's questions to the network in progress.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    waiting: Vec<Waiting>,
    next: u64,
}

impl Lookups {
    /// The earliest deadline, for the session's timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.waiting.iter().map(|w| w.until).min()
    }
}

/// The vCard of `nick`, with what the network said of them.
pub(crate) fn vcard(nick: &str, details: Option<&ContactDetails>) -> Element {
    let part = |text: &str| -> String {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        clean.chars().take(MAX_PART).collect()
    };
    let name = details
        .and_then(|d| d.name.as_deref())
        .map(part)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| nick.to_owned());
    let mut lines = Vec::new();
    if let Some(d) = details {
        let mut say = |label: &str, value: &Option<String>| {
            if let Some(v) = value.as_deref().map(part).filter(|v| !v.is_empty()) {
                lines.push(format!("{label}: {v}"));
            }
        };
        say("Account", &d.account);
        say("Server", &d.server);
        say("Address", &d.address);
        say("Away", &d.away);
        if let Some(idle) = d.idle_secs {
            lines.push(format!("Idle: {}", idle_text(idle)));
        }
    }
    let field = |name: &str, text: &str| {
        Element::builder(name, xmpp_parsers::ns::VCARD)
            .append(text.to_owned())
            .build()
    };
    let mut card = Element::builder("vCard", xmpp_parsers::ns::VCARD)
        .append(field("FN", &name))
        .append(field("NICKNAME", nick))
        .build();
    if !lines.is_empty() {
        card.append_child(field("DESC", &lines.join("\n")));
    }
    card
}

fn idle_text(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

impl Session {
    /// Answers the vCard request `iq` for `contact` (`nick` on the network) with what the
    /// network says of them; hands `iq` back where the network looks nobody up (the
    /// caller answers as before).
    pub(crate) async fn look_up(
        &mut self,
        contact: LegacyId,
        nick: String,
        iq: Element,
    ) -> Result<(), Element> {
        if !self.verbs_for(&contact).lookup {
            return Err(iq);
        }
        let ask = |request| LegacyCommand::LookUp { request, contact };
        self.ask(ask, iq, Asked::Vcard(nick)).await;
        Ok(())
    }

    /// Answers the vCard request `iq` to an occupant of `room` (the nick is the IQ's
    /// resource): what the network says of them, or the nick.
    pub(crate) async fn answer_occupant_vcard(&mut self, room: &LegacyId, iq: Element) {
        let nick = iq
            .attr("to")
            .and_then(|t| jid::Jid::new(t).ok())
            .and_then(|j| j.resource().map(|r| r.as_str().to_owned()))
            .unwrap_or_default();
        let iq = match self.ctx.transport.occupant_contact(room, &nick) {
            Some(contact) => match self.look_up(contact, nick.clone(), iq).await {
                Ok(()) => return,
                Err(iq) => iq,
            },
            None => iq,
        };
        self.send(iq_result_to(&iq, Some(vcard(&nick, None)))).await;
    }

    /// Lists the bans of `room` (joined, on a network that keeps them), answering the
    /// admin IQ get `iq`.
    pub(crate) async fn list_bans(&mut self, room: LegacyId, iq: Element) {
        let ask = |request| LegacyCommand::ListBans { request, room };
        self.ask(ask, iq, Asked::Bans).await;
    }

    /// Reads the configuration of `room` (joined, on a network that keeps one), answering
    /// the owner IQ get `iq` with its form.
    pub(crate) async fn ask_room_config(&mut self, room: LegacyId, iq: Element) {
        let ask = |request| LegacyCommand::GetRoomConfig { request, room };
        self.ask(ask, iq, Asked::Config).await;
    }

    /// The network's answer to configuration `request`: the form.
    pub(crate) async fn on_room_config(
        &mut self,
        request: u64,
        config: Result<crate::legacy::RoomConfig, String>,
    ) {
        let Some(w) = self.answered(request) else {
            return;
        };
        match (config, &w.asked) {
            (Ok(config), Asked::Config) => {
                let form = crate::muc::config::form(&config);
                self.send(iq_result_to(&w.iq, Some(form))).await;
            }
            (Err(text), _) => self.unanswered(w, &text).await,
            (Ok(_), _) => {
                self.unanswered(w, "The network answered another question.")
                    .await
            }
        }
    }

    /// Sends the command `make` builds with the next request id, and keeps `iq` for its
    /// answer; or answers at once when too many wait or the legacy session is gone.
    async fn ask(&mut self, make: impl FnOnce(u64) -> LegacyCommand, iq: Element, asked: Asked) {
        let waiting = Waiting {
            request: self.lookups.next + 1,
            iq,
            asked,
            until: Instant::now() + ANSWER_WITHIN,
        };
        if self.lookups.waiting.len() >= MAX_WAITING {
            let text = "Too many questions wait for the network; try again in a moment.";
            return self.unanswered(waiting, text).await;
        }
        self.lookups.next = waiting.request;
        if self.legacy.send(make(waiting.request)).await.is_err() {
            let text = "The connection to the network ended.";
            return self.unanswered(waiting, text).await;
        }
        self.lookups.waiting.push(waiting);
    }

    /// What a question the network did not answer gets: the plain vCard, or `text`.
    async fn unanswered(&self, w: Waiting, text: &str) {
        match w.asked {
            Asked::Vcard(nick) => {
                self.send(iq_result_to(&w.iq, Some(vcard(&nick, None))))
                    .await
            }
            Asked::Bans | Asked::Config => {
                let refusal = Refusal::wait("remote-server-timeout", text);
                self.bounce(&w.iq, refusal).await
            }
        }
    }

    /// The waiting IQ of `request`, taken out.
    fn answered(&mut self, request: u64) -> Option<Waiting> {
        let pos = self
            .lookups
            .waiting
            .iter()
            .position(|w| w.request == request)?;
        Some(self.lookups.waiting.swap_remove(pos))
    }

    /// The network's answer to lookup `request`.
    pub(crate) async fn on_looked_up(&mut self, request: u64, details: Option<ContactDetails>) {
        let Some(w) = self.answered(request) else {
            return;
        };
        match &w.asked {
            Asked::Vcard(nick) => {
                let card = vcard(nick, details.as_ref());
                self.send(iq_result_to(&w.iq, Some(card))).await;
            }
            Asked::Bans | Asked::Config => {
                self.unanswered(w, "The network answered another question.")
                    .await
            }
        }
    }

    /// The network's answer to ban list `request`: the masks as outcasts.
    pub(crate) async fn on_ban_list(&mut self, request: u64, masks: Result<Vec<String>, String>) {
        let Some(w) = self.answered(request) else {
            return;
        };
        match (masks, &w.asked) {
            (Ok(masks), Asked::Bans) => {
                let domain = self.ctx.domain.domain().as_str().to_owned();
                let mut query = Element::builder("query", crate::inbound::muc_admin::NS).build();
                for mask in masks.iter().take(MAX_BANS) {
                    if let Some(item) = crate::inbound::muc_admin::outcast(mask, &domain) {
                        query.append_child(item);
                    }
                }
                self.send(iq_result_to(&w.iq, Some(query))).await;
            }
            (Err(text), _) => self.unanswered(w, &text).await,
            (Ok(_), Asked::Vcard(_) | Asked::Config) => {
                self.unanswered(w, "The network answered another question.")
                    .await
            }
        }
    }

    /// When the session next has something to do by the clock: a room listing or a
    /// question here timing out, or the roster's (`session/roster.rs`).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.directory.next_deadline(),
            self.lookups.next_deadline(),
            self.roster_due(),
            self.held_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Questions the network did not answer in time.
    pub(crate) async fn expire_lookups(&mut self) {
        let now = Instant::now();
        let (late, waiting): (Vec<Waiting>, Vec<Waiting>) =
            std::mem::take(&mut self.lookups.waiting)
                .into_iter()
                .partition(|w| w.until <= now);
        self.lookups.waiting = waiting;
        for w in late {
            self.unanswered(w, "The network did not answer in time.")
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_vcard_says_what_the_network_said() {
        let details = ContactDetails {
            name: Some("Bob \u{7}Builder".into()),
            account: Some("bob".into()),
            server: Some("irc.test".into()),
            idle_secs: Some(125),
            away: Some("lunch".into()),
            ..Default::default()
        };
        let card = vcard("bob", Some(&details));
        let text = |n: &str| card.get_child(n, xmpp_parsers::ns::VCARD).unwrap().text();
        assert_eq!(text("FN"), "Bob Builder");
        assert_eq!(text("NICKNAME"), "bob");
        assert_eq!(
            text("DESC"),
            "Account: bob\nServer: irc.test\nAway: lunch\nIdle: 2 min"
        );
        let plain = vcard("bob", None);
        assert_eq!(
            plain
                .get_child("FN", xmpp_parsers::ns::VCARD)
                .unwrap()
                .text(),
            "bob"
        );
        assert!(plain.get_child("DESC", xmpp_parsers::ns::VCARD).is_none());
        assert_eq!(idle_text(7300), "2 h 1 min");
    }
}
