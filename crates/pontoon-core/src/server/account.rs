//! What a user's own account answers in server mode: presence to their other resources,
//! XEP-0199 ping, disco#info of the account, the roster ([`super::roster`]), carbons
//! ([`super::carbons`]), private storage, PEP bookmarks and the own vCard
//! ([`super::storage`]), and a clear error for everything else (`service-unavailable`,
//! never silence).

use jid::Jid;
use minidom::Element;
use pontoon_xmpp::c2s::ConnId;

use super::Router;
use crate::stanza::Refusal;

const NS_PING: &str = "urn:xmpp:ping";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// What disco#info of the account lists.
const ACCOUNT_FEATURES: &[&str] = &[
    NS_DISCO_INFO,
    NS_PING,
    super::carbons::NS_CARBONS,
    super::storage::NS_PRIVATE,
    super::storage::NS_VCARD,
    crate::archive::mam::NS,
    crate::archive::mam::NS_EXTENDED,
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    "http://jabber.org/protocol/pubsub#persistent-items",
];

impl Router {
    /// A stanza with no `to`, or to the user's own bare JID.
    pub(crate) async fn on_own_account(&mut self, conn: ConnId, stanza: Element) {
        match stanza.name() {
            "presence" => self.own_presence(conn, stanza).await,
            "iq" => self.own_iq(conn, stanza).await,
            // A message to oneself goes to one's available resources.
            "message" => {
                if let Some(c) = self.conns.get(&conn) {
                    let bare = c.handle.jid.to_bare();
                    let mut el = stanza;
                    super::set_attr(&mut el, "to", bare.to_string());
                    self.deliver_to_bare(&bare, el).await;
                }
            }
            _ => {}
        }
    }

    /// Presence broadcast: availability of one resource.
    async fn own_presence(&mut self, conn: ConnId, stanza: Element) {
        let available = match stanza.attr("type") {
            None => true,
            Some("unavailable") => false,
            // Subscriptions to oneself and probes of oneself need nothing.
            _ => return,
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let first = available && !c.available;
        c.available = available;
        let full = c.handle.jid.clone();
        let bare = full.to_bare();
        let mut p = stanza;
        super::set_attr(&mut p, "from", full.to_string());
        super::remove_attr(&mut p, "to");
        self.broadcast_own(&bare, conn, &p).await;
        // The service learns the resource's availability as a component would.
        let mut to_service = p.clone();
        super::set_attr(&mut to_service, "to", bare.domain().to_string());
        self.forward_to_service(to_service, super::forward::Origin::Availability, Some(conn))
            .await;
        if first {
            // RFC 6121 section 4.2.2: probe the contacts; the session answers with what it
            // knows of each.
            self.probe_roster(&full).await;
            // What was kept while no client was here (`offline.rs`).
            self.deliver_offline(conn, &bare);
            // And show the new resource the user's other available resources.
            let others: Vec<Jid> = self
                .users
                .get(&bare)
                .into_iter()
                .flatten()
                .filter(|id| **id != conn)
                .filter_map(|id| self.conns.get(id))
                .filter(|c| c.available)
                .map(|c| Jid::from(c.handle.jid.clone()))
                .collect();
            for other in others {
                let p = super::elem(
                    "presence",
                    pontoon_xmpp::ns::CLIENT,
                    &[("from", &other.to_string()), ("to", &full.to_string())],
                );
                self.send_to_conn(conn, p).await;
            }
        }
    }

    /// XEP-0313 on the user's own account: their direct chats, from their transport's
    /// archive (`crate::archive`), answered in a task of its own.
    async fn on_own_archive(&mut self, conn: ConnId, iq: &Element, payload: &Element, kind: &str) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let bare = c.handle.jid.to_bare();
        let out = c.handle.out.clone();
        let archive = self
            .service_of(bare.domain().as_str())
            .and_then(|s| s.control.archive.clone())
            .filter(|a| a.is_on());
        let Some(archive) = archive else {
            let r = Refusal::cancel(
                "service-unavailable",
                "This gateway keeps no archive: its operator turned history off.",
            );
            return self.reply_error(conn, iq, r).await;
        };
        if kind == "get" {
            let form = crate::archive::mam::form();
            return self.reply_result(conn, iq, Some(form)).await;
        }
        let mut iq = iq.clone();
        // The client's own account: answered from the bare JID.
        super::set_attr(&mut iq, "from", c.handle.jid.to_string());
        super::set_attr(&mut iq, "to", bare.to_string());
        let query = crate::archive::query::Query {
            archive,
            out: crate::archive::query::Answers::Client(out),
            whose: crate::archive::query::Whose::User(bare.clone()),
            jid: Jid::from(bare),
        };
        crate::archive::query::serve(query, iq, payload);
    }

    /// An IQ to the user's own account.
    async fn own_iq(&mut self, conn: ConnId, iq: Element) {
        let kind = iq.attr("type").unwrap_or_default().to_owned();
        if !matches!(kind.as_str(), "get" | "set") {
            return;
        }
        let Some(payload) = iq.children().next().cloned() else {
            self.reply_error(
                conn,
                &iq,
                Refusal::modify("bad-request", "An IQ needs a payload."),
            )
            .await;
            return;
        };
        let ns = payload.ns();
        match (ns.as_str(), kind.as_str()) {
            (super::roster::NS_ROSTER, _) => self.on_roster(conn, &iq, &payload).await,
            (NS_PING, "get") => self.reply_result(conn, &iq, None).await,
            (super::carbons::NS_CARBONS, _) => self.on_carbons(conn, &iq, &payload).await,
            (super::storage::NS_PRIVATE, _) => self.on_private(conn, &iq, &payload).await,
            (super::storage::NS_PUBSUB, _) => self.on_pubsub(conn, &iq, &payload).await,
            (super::storage::NS_VCARD, _) => self.on_own_vcard(conn, &iq, &payload).await,
            (crate::archive::mam::NS, _) => self.on_own_archive(conn, &iq, &payload, &kind).await,
            (NS_DISCO_INFO, "get") if payload.attr("node").is_none() => {
                let mut q = Element::bare("query", NS_DISCO_INFO);
                q.append_child(super::elem(
                    "identity",
                    NS_DISCO_INFO,
                    &[("category", "account"), ("type", "registered")],
                ));
                // XEP-0402 section 3: the account's PEP service, with publish-options.
                q.append_child(super::elem(
                    "identity",
                    NS_DISCO_INFO,
                    &[("category", "pubsub"), ("type", "pep")],
                ));
                for f in ACCOUNT_FEATURES {
                    q.append_child(super::elem("feature", NS_DISCO_INFO, &[("var", f)]));
                }
                self.reply_result(conn, &iq, Some(q)).await;
            }
            _ => {
                let refusal = Refusal::cancel(
                    "service-unavailable",
                    format!("Pontoon's server mode does not support {ns} on your account yet."),
                );
                self.reply_error(conn, &iq, refusal).await;
            }
        }
    }

    /// An IQ result for `iq` to the client on `conn`.
    pub(crate) async fn reply_result(&self, conn: ConnId, iq: &Element, payload: Option<Element>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let mut el = super::elem(
            "iq",
            pontoon_xmpp::ns::CLIENT,
            &[("type", "result"), ("to", &c.handle.jid.to_string())],
        );
        if let Some(id) = iq.attr("id") {
            super::set_attr(&mut el, "id", id);
        }
        if let Some(to) = iq.attr("to") {
            super::set_attr(&mut el, "from", to);
        }
        if let Some(p) = payload {
            el.append_child(p);
        }
        self.send_to_conn(conn, el).await;
    }
}
