//! The server-mode roster (RFC 6121): stored by Pontoon, keyed by the transport and the
//! user's bare JID (their legacy account), never with a password. Adding an item makes the
//! legacy session follow the contact's presence; removing it stops that.

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use pontoon_store::RosterItem;
use pontoon_xmpp::c2s::ConnId;
use tracing::warn;

use super::Router;
use crate::stanza::Refusal;

/// The roster namespace.
pub const NS_ROSTER: &str = "jabber:iq:roster";

fn item_element(item: &RosterItem) -> Element {
    let mut el = super::elem(
        "item",
        NS_ROSTER,
        &[
            ("jid", item.contact_jid.as_str()),
            ("subscription", item.subscription.as_str()),
        ],
    );
    if let Some(name) = &item.name {
        super::set_attr(&mut el, "name", name.as_str());
    }
    for g in &item.groups {
        let mut group = Element::bare("group", NS_ROSTER);
        group.append_text(g.clone());
        el.append_child(group);
    }
    el
}

impl Router {
    pub(crate) fn transport_of(&self, user: &BareJid) -> Option<String> {
        self.service_of(user.domain().as_str())
            .map(|s| s.control.transport().to_owned())
    }

    /// A roster get or set from the client on `conn`.
    pub(crate) async fn on_roster(&mut self, conn: ConnId, iq: &Element, query: &Element) {
        let Some(me) = self.conns.get(&conn).map(|c| c.handle.jid.clone()) else {
            return;
        };
        let user = me.to_bare();
        let Some(transport) = self.transport_of(&user) else {
            return;
        };
        if iq.attr("type") == Some("get") {
            match self.store.roster(&transport, user.as_str()).await {
                Ok(items) => {
                    let mut q = Element::bare("query", NS_ROSTER);
                    for item in &items {
                        q.append_child(item_element(item));
                    }
                    self.reply_result(conn, iq, Some(q)).await;
                }
                Err(e) => {
                    warn!(error = %e, "could not read a roster");
                    self.reply_error(
                        conn,
                        iq,
                        Refusal::wait(
                            "internal-server-error",
                            "The roster could not be read; try again.",
                        ),
                    )
                    .await;
                }
            }
            return;
        }
        let items: Vec<&Element> = query.children().filter(|c| c.name() == "item").collect();
        let [item] = items.as_slice() else {
            self.reply_error(
                conn,
                iq,
                Refusal::modify("bad-request", "A roster set has exactly one item."),
            )
            .await;
            return;
        };
        let Some(contact) = item.attr("jid").and_then(|j| BareJid::new(j).ok()) else {
            self.reply_error(
                conn,
                iq,
                Refusal::modify("bad-request", "The roster item needs a valid bare 'jid'."),
            )
            .await;
            return;
        };
        if contact.domain() != user.domain() || contact.node().is_none() {
            let refusal = Refusal::modify(
                "not-acceptable",
                format!("Only contacts on {} can be in this roster.", user.domain()),
            );
            self.reply_error(conn, iq, refusal).await;
            return;
        }
        if item.attr("subscription") == Some("remove") {
            let result = self
                .store
                .remove_roster_item(&transport, user.as_str(), contact.as_str())
                .await;
            match result {
                Ok(_) => {
                    self.reply_result(conn, iq, None).await;
                    let gone = RosterItem {
                        contact_jid: contact.to_string(),
                        name: None,
                        groups: Vec::new(),
                        subscription: "remove".to_owned(),
                    };
                    self.push(&user, &gone).await;
                    // The legacy session stops following the contact.
                    self.presence_to_service(&me, &contact, Some("unsubscribe"))
                        .await;
                }
                Err(e) => self.roster_not_changed(conn, iq, e).await,
            }
            return;
        }
        let new = RosterItem {
            contact_jid: contact.to_string(),
            name: item
                .attr("name")
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            groups: item
                .children()
                .filter(|c| c.name() == "group")
                .map(|g| g.text())
                .filter(|g| !g.is_empty())
                .take(16)
                .collect(),
            // Legacy contacts show presence both ways once followed.
            subscription: "both".to_owned(),
        };
        match self
            .store
            .put_roster_item(&transport, user.as_str(), &new)
            .await
        {
            Ok(()) => {
                self.reply_result(conn, iq, None).await;
                self.push(&user, &new).await;
                self.presence_to_service(&me, &contact, Some("probe")).await;
            }
            Err(pontoon_store::StoreError::RosterFull(n)) => {
                self.reply_error(
                    conn,
                    iq,
                    Refusal::wait(
                        "resource-constraint",
                        format!("Your roster is full ({n} contacts)."),
                    ),
                )
                .await;
            }
            Err(e) => self.roster_not_changed(conn, iq, e).await,
        }
    }

    /// A roster push of `item` to every bound resource of `user` (RFC 6121 section 2.1.6).
    /// The store refused a roster change: logged, and the client may try again.
    async fn roster_not_changed(&self, conn: ConnId, iq: &Element, e: impl std::fmt::Display) {
        warn!(error = %e, "could not change a roster");
        let refusal = Refusal::wait(
            "internal-server-error",
            "The roster could not be changed; try again.",
        );
        self.reply_error(conn, iq, refusal).await;
    }

    async fn push(&self, user: &BareJid, item: &RosterItem) {
        // With several instances, every one pushes when the store tells (`changes.rs`).
        if !self.pushes_via_feed() {
            self.push_now(user, item).await;
        }
    }

    /// The push itself, to this instance's clients of `user`.
    pub(super) async fn push_now(&self, user: &BareJid, item: &RosterItem) {
        let Some(set) = self.users.get(user) else {
            return;
        };
        for conn in set {
            let Some(c) = self.conns.get(conn) else {
                continue;
            };
            let mut q = Element::bare("query", NS_ROSTER);
            q.append_child(item_element(item));
            let id = format!("push-{}", rand::random::<u32>());
            let mut push = super::elem(
                "iq",
                pontoon_xmpp::ns::CLIENT,
                &[
                    ("type", "set"),
                    ("id", &id),
                    ("to", &c.handle.jid.to_string()),
                ],
            );
            push.append_child(q);
            self.send_to_conn(*conn, push).await;
        }
    }

    /// A presence of `kind` from `me` to `contact`, handed to the contact's service.
    async fn presence_to_service(&mut self, me: &FullJid, contact: &BareJid, kind: Option<&str>) {
        let mut p = super::elem(
            "presence",
            pontoon_xmpp::ns::CLIENT,
            &[("from", &me.to_string()), ("to", contact.as_str())],
        );
        if let Some(k) = kind {
            super::set_attr(&mut p, "type", k);
        }
        self.forward_to_service(p, super::forward::Origin::Router, None)
            .await;
    }

    /// Probes every roster contact of `me`'s account (at their initial presence).
    pub(crate) async fn probe_roster(&mut self, me: &FullJid) {
        let user = me.to_bare();
        let Some(transport) = self.transport_of(&user) else {
            return;
        };
        match self.store.roster(&transport, user.as_str()).await {
            Ok(items) => {
                for item in items {
                    if let Ok(contact) = BareJid::new(&item.contact_jid) {
                        self.presence_to_service(me, &contact, Some("probe")).await;
                    }
                }
            }
            Err(e) => warn!(error = %e, "could not read a roster to probe it"),
        }
    }

    /// A subscription request from the user to a contact adds it to the roster (RFC 6121
    /// section 3.1.2); an unsubscribe removes nothing (only a roster remove does).
    pub(crate) async fn note_subscription(&mut self, conn: ConnId, stanza: &Element, to: &Jid) {
        if stanza.attr("type") != Some("subscribe") {
            return;
        }
        let Some(me) = self.conns.get(&conn).map(|c| c.handle.jid.clone()) else {
            return;
        };
        let user = me.to_bare();
        let contact = to.to_bare();
        if contact.domain() != user.domain() {
            return;
        }
        let Some(transport) = self.transport_of(&user) else {
            return;
        };
        let existing = self.roster_item(&transport, &user, &contact).await;
        if existing.is_some() {
            return;
        }
        let item = RosterItem {
            contact_jid: contact.to_string(),
            name: None,
            groups: Vec::new(),
            subscription: "both".to_owned(),
        };
        self.put_and_push(&transport, &user, &item).await;
    }
}

impl Router {
    /// Server mode: the roster is the legacy contact list. A subscription request from a
    /// legacy contact (the network listed them, `Session::on_contact_list`) adds them to
    /// the stored roster with the name they show (XEP-0172 `<nick/>`), or renames them; an
    /// `unsubscribed` removes them. Either is pushed to the user's clients, which never
    /// see the request itself. Returns whether `presence` was such a request.
    pub(crate) async fn on_contact_subscription(&self, user: &BareJid, presence: &Element) -> bool {
        let kind = presence.attr("type");
        if !matches!(kind, Some("subscribe" | "unsubscribed")) {
            return false;
        }
        let Some(contact) = presence.attr("from").and_then(|f| BareJid::new(f).ok()) else {
            return false;
        };
        if contact.domain() != user.domain() || contact.node().is_none() {
            return false;
        }
        let Some(transport) = self.transport_of(user) else {
            return false;
        };
        if kind == Some("unsubscribed") {
            match self
                .store
                .remove_roster_item(&transport, user.as_str(), contact.as_str())
                .await
            {
                Ok(true) => {
                    let gone = RosterItem {
                        contact_jid: contact.to_string(),
                        name: None,
                        groups: Vec::new(),
                        subscription: "remove".to_owned(),
                    };
                    self.push(user, &gone).await;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "could not remove a legacy contact from the roster"),
            }
            return true;
        }
        let name = presence
            .get_child("nick", xmpp_parsers::ns::NICK)
            .map(Element::text)
            .filter(|n| !n.is_empty());
        let existing = self.roster_item(&transport, user, &contact).await;
        let item = match existing {
            Some(i) if name.is_none() || i.name == name => return true,
            Some(mut i) => {
                i.name = name;
                i
            }
            None => RosterItem {
                contact_jid: contact.to_string(),
                name,
                groups: Vec::new(),
                subscription: "both".to_owned(),
            },
        };
        self.put_and_push(&transport, user, &item).await;
        true
    }
}

impl Router {
    /// Stores `item` in `user`'s roster and pushes it to their clients.
    async fn put_and_push(&self, transport: &str, user: &BareJid, item: &RosterItem) {
        match self
            .store
            .put_roster_item(transport, user.as_str(), item)
            .await
        {
            Ok(()) => self.push(user, item).await,
            Err(e) => {
                warn!(error = %e, contact = %item.contact_jid, "could not add a contact to the roster")
            }
        }
    }

    /// `user`'s stored roster item for `contact`, if any (a store error reads as none).
    async fn roster_item(
        &self,
        transport: &str,
        user: &BareJid,
        contact: &BareJid,
    ) -> Option<RosterItem> {
        self.store
            .roster_item(transport, user.as_str(), contact.as_str())
            .await
            .ok()
            .flatten()
    }
}
