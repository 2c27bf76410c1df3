//! Offline messages (RFC 6121 section 8.5.2.1.1, XEP-0160) in server mode: a message for a
//! user with no client bound (their session stays online while away, `session/away.rs`) or
//! that a client never acknowledged before its connection ended is kept in the store, with
//! a delay (XEP-0203) saying when; the user's next client gets them when it sends its first
//! available presence, oldest first, and they are forgotten once handed over (a client
//! that drops before acknowledging gives them back, `Router::on_closed`; the hand-over and
//! what is in a connected client's hands are `delivery.rs`'s). A full queue
//! (`pontoon_store::MAX_OFFLINE_MESSAGES`) answers the sender with `resource-constraint`:
//! refused, never silently lost. The writes happen off the router's task ([`Keeper`]). A
//! message nobody came for within `crate::retention::KEEP_OFFLINE_DAYS` is forgotten and
//! its sender told (`crate::retention::expire_offline`).

use std::collections::HashMap;
use std::sync::Arc;

use jid::BareJid;
use minidom::Element;
use pontoon_store::Store;
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::Router;
use crate::batch::BatchWriter;
use crate::stanza::Refusal;

/// Messages waiting to be written, at most (beyond: refused at once).
const QUEUE: usize = 4096;

/// The services' inbound queues, by domain: where an answer to a sender goes.
pub(crate) type Services = HashMap<String, mpsc::Sender<LinkEvent>>;

/// Writes offline messages off the router's task (a flood for an away user must not hold
/// up everyone's stanzas): batched ([`crate::batch`]); what cannot be kept is answered,
/// to its sender, through the service of its domain.
pub(crate) type Keeper = BatchWriter<(String, Element)>;

/// Starts the keeper of `store`; `services` by domain take the refusals.
pub(crate) fn keeper(store: Store, services: Services) -> Keeper {
    let services = Arc::new(services);
    BatchWriter::spawn(
        &store.clone(),
        QUEUE,
        "an offline message",
        Arc::new(move |batch: Vec<(String, Element)>| {
            let store = store.clone();
            let services = services.clone();
            Box::pin(async move {
                for (owner, el) in batch {
                    // (Only an element whose name is not an XML name fails to serialize:
                    // none that was parsed. Bounced, not kept empty.)
                    let Some(xml) = crate::stanza::to_xml(&el) else {
                        let refusal = Refusal::cancel(
                            "bad-request",
                            "The message could not be kept for the offline user.",
                        );
                        answer(&services, &el, &refusal);
                        continue;
                    };
                    let refusal = match store
                        .put_offline(&owner, crate::archive::now_micros(), &xml)
                        .await
                    {
                        Ok(true) => continue,
                        Ok(false) => Refusal::wait(
                            "resource-constraint",
                            "The user is offline and has too many messages waiting; try again later.",
                        ),
                        Err(e) => {
                            warn!(to = %owner, error = %e, "could not keep an offline message");
                            Refusal::wait(
                                "recipient-unavailable",
                                "The user is offline and the message could not be kept.",
                            )
                        }
                    };
                    answer(&services, &el, &refusal);
                }
            })
        }),
    )
}

/// Sends `refusal` of `el` to its sender, through the service of its domain (as the
/// router would forward a client's stanza), without waiting.
pub(crate) fn answer(services: &Services, el: &Element, refusal: &Refusal) {
    let Some(reply) = refusal.reply_to(el) else {
        return;
    };
    let domain = reply
        .attr("to")
        .and_then(|t| jid::Jid::new(t).ok())
        .map(|j| j.domain().to_ascii_lowercase());
    let Some(service) = domain.and_then(|d| services.get(&d)) else {
        return;
    };
    if service
        .try_send(LinkEvent::Stanza(reply, std::time::Instant::now(), None))
        .is_err()
    {
        debug!("a refused offline message's error was not passed on: the service is busy");
    }
}

/// Whether `el` is a message worth keeping: one a person wrote (RFC 6121 keeps `chat` and
/// `normal`; not errors, not room traffic, not a bare chat state, not the gateway's own
/// notices, from its domain, such as a server's greeting during the login), unless it says
/// not to (XEP-0334 `<no-store/>`).
pub(crate) fn keepable(el: &Element) -> bool {
    let from_someone = el
        .attr("from")
        .and_then(|f| jid::Jid::new(f).ok())
        .is_some_and(|f| f.node().is_some());
    from_someone
        && el.name() == "message"
        && matches!(el.attr("type"), None | Some("chat") | Some("normal"))
        && !el.has_child("no-store", "urn:xmpp:hints")
        && el
            .children()
            .any(|c| c.ns() != "http://jabber.org/protocol/chatstates")
}

impl Router {
    /// Keeps `el` for `bare`, who has no client to take it: handed to the keeper without
    /// waiting; when it is too far behind, the sender is told at once.
    pub(crate) async fn keep_offline(&mut self, bare: &BareJid, mut el: Element) {
        if !keepable(&el) {
            debug!(to = %bare, "no client bound; not a message to keep: dropped");
            return;
        }
        let by = jid::Jid::new(bare.domain().as_str()).ok();
        let now = crate::archive::now_micros();
        if !el.has_child("delay", "urn:xmpp:delay")
            && let Some(delay) =
                crate::archive::mam::delay(now, by, Some("Offline storage".to_owned()))
        {
            el.append_child(delay.into());
        }
        let refused = el.clone();
        if !self.offline_keeper().queue((bare.to_string(), el)) {
            let refusal = Refusal::wait(
                "resource-constraint",
                "The user is offline and too many messages are being kept right now; try again later.",
            );
            if let Some(reply) = refusal.reply_to(&refused) {
                self.forward_to_service(reply, super::forward::Origin::Router, None)
                    .await;
            }
        }
    }

    /// The keeper, started with the first message to keep.
    fn offline_keeper(&mut self) -> &Keeper {
        let services = &self.services;
        let store = &self.store;
        self.offline
            .get_or_insert_with(|| keeper(store.clone(), inbound(services)))
    }

    /// Starts the expiry of what nobody came for: each sender is told.
    pub(crate) fn spawn_offline_expiry(&self, shutdown: tokio_util::sync::CancellationToken) {
        tokio::spawn(crate::retention::expire_offline(
            self.store.clone(),
            crate::retention::Expired::Bounce(inbound(&self.services)),
            shutdown,
        ));
    }
}

/// The services' inbound queues by domain.
fn inbound(services: &HashMap<String, super::forward::ServiceLink>) -> Services {
    services
        .iter()
        .map(|(d, l)| (d.clone(), l.routed.inbound.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn what_is_kept() {
        let from = |attrs: &str, inner: &str| {
            el(&format!(
                "<message xmlns='jabber:client' from='bob@irc.example.org' {attrs}>{inner}</message>"
            ))
        };
        assert!(keepable(&from("type='chat'", "<body>hi</body>")));
        assert!(keepable(&from("", "<body>hi</body>")));
        assert!(keepable(&el(
            "<message xmlns='jabber:client' from='#c@irc.example.org/bob'><body>hi</body></message>"
        )));
        assert!(!keepable(&from("type='groupchat'", "<body>hi</body>")));
        assert!(!keepable(&from("type='error'", "<body>hi</body>")));
        let composing = "<composing xmlns='http://jabber.org/protocol/chatstates'/>";
        assert!(!keepable(&from("type='chat'", composing)));
        let no_store = "<body>x</body><no-store xmlns='urn:xmpp:hints'/>";
        assert!(!keepable(&from("type='chat'", no_store)));
        // The gateway's own notices (a server's greeting at login) are not kept.
        assert!(!keepable(&el(
            "<message xmlns='jabber:client' from='irc.example.org' type='chat'><body>MOTD</body></message>"
        )));
        assert!(!keepable(&el("<presence xmlns='jabber:client'/>")));
    }
}
