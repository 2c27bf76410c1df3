//! What the network says of a person, as their vCard (XEP-0054): a vCard request to a
//! contact or to a room occupant, on a network that looks people up
//! ([`Verbs::lookup`](crate::legacy::Verbs::lookup): IRC's WHOIS), asks the user's legacy
//! session and answers with the real name, account, server, address, idle time and away
//! message the network gives. A few lookups wait at once per session; beyond them, or when
//! the network does not answer in time, the plain vCard (the name) answers.

use std::time::Duration;

use minidom::Element;
use tokio::time::Instant;

use crate::legacy::{ContactDetails, LegacyCommand, LegacyId};
use crate::session::Session;

/// Lookups waiting at once per session.
const MAX_WAITING: usize = 8;
/// How long a lookup waits for the network (IRC answers within its own 10 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(12);
/// Longest part of a network's answer shown.
const MAX_PART: usize = 200;

/// One vCard request waiting for the network.
#[derive(Debug)]
struct Waiting {
    request: u64,
    iq: Element,
    nick: String,
    until: Instant,
}

/// A session's lookups in progress.
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
        if self.lookups.waiting.len() >= MAX_WAITING {
            self.send(crate::stanza::iq_result_to(&iq, Some(vcard(&nick, None))))
                .await;
            return Ok(());
        }
        self.lookups.next += 1;
        let request = self.lookups.next;
        let command = LegacyCommand::LookUp { request, contact };
        if self.legacy.send(command).await.is_err() {
            self.send(crate::stanza::iq_result_to(&iq, Some(vcard(&nick, None))))
                .await;
            return Ok(());
        }
        self.lookups.waiting.push(Waiting {
            request,
            iq,
            nick,
            until: Instant::now() + ANSWER_WITHIN,
        });
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
        let contact = self.ctx.transport.occupant_contact(room, &nick);
        let iq = match contact {
            Some(contact) => match self.look_up(contact, nick.clone(), iq).await {
                Ok(()) => return,
                Err(iq) => iq,
            },
            None => iq,
        };
        self.send(crate::stanza::iq_result_to(&iq, Some(vcard(&nick, None))))
            .await;
    }

    /// The network's answer to lookup `request`.
    pub(crate) async fn on_looked_up(&mut self, request: u64, details: Option<ContactDetails>) {
        let Some(pos) = self
            .lookups
            .waiting
            .iter()
            .position(|w| w.request == request)
        else {
            return;
        };
        let w = self.lookups.waiting.swap_remove(pos);
        let card = vcard(&w.nick, details.as_ref());
        self.send(crate::stanza::iq_result_to(&w.iq, Some(card)))
            .await;
    }

    /// When the session's next request times out: a room listing or a lookup.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.directory.next_deadline(), self.lookups.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Lookups the network did not answer in time get the plain vCard.
    pub(crate) async fn expire_lookups(&mut self) {
        let now = Instant::now();
        let (late, waiting): (Vec<Waiting>, Vec<Waiting>) =
            std::mem::take(&mut self.lookups.waiting)
                .into_iter()
                .partition(|w| w.until <= now);
        self.lookups.waiting = waiting;
        for w in late {
            self.send(crate::stanza::iq_result_to(
                &w.iq,
                Some(vcard(&w.nick, None)),
            ))
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
