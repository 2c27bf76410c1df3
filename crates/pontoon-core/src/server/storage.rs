//! What a client stores on its server-mode account: XEP-0049 private XML storage (any
//! namespace, such as XEP-0048 `storage:bookmarks`) and XEP-0402 bookmarks in PEP (the
//! `urn:xmpp:bookmarks:1` node of the user's own bare JID: publish, retract, items).
//!
//! Both are kept in the store by the transport and the user's bare JID (their legacy
//! account), as XML, bounded by [`pontoon_store::MAX_ACCOUNT_DATA_ITEMS`] items of each kind
//! and [`pontoon_store::MAX_ACCOUNT_DATA_BYTES`] per item. The two are separate: no
//! XEP-0402 compatibility mirror (so `urn:xmpp:bookmarks:1#compat` is not advertised).
//! Publishing or retracting a bookmark notifies the user's resources (a pubsub event
//! headline), whether or not they asked with `+notify`. Other PEP nodes are not stored:
//! publishing to them gets `feature-not-implemented`, reading them `item-not-found`.
//!
//! The account's own XEP-0054 vCard is kept the same way: a get answers the stored one,
//! or an empty `<vCard/>` when none was set (XEP-0054 allows either that or
//! `item-not-found`; an empty card is what clients handle best).

use jid::BareJid;
use minidom::Element;
use pontoon_store::StoreError;
use pontoon_xmpp::c2s::ConnId;
use tracing::warn;

use super::Router;
use crate::stanza::Refusal;

/// XEP-0049 private XML storage.
pub const NS_PRIVATE: &str = "jabber:iq:private";
/// XEP-0060 publish-subscribe.
pub const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub(super) const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// The XEP-0402 bookmarks node (and payload namespace).
pub const NS_BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";

/// The account-data kind of private storage.
const KIND_PRIVATE: &str = "private";
/// XEP-0054 vCards.
pub const NS_VCARD: &str = "vcard-temp";
/// The account-data kind (and item) of the account's own vCard.
const KIND_VCARD: &str = "vcard";

/// The account-data kind of the bookmarks node.
pub(super) const KIND_BOOKMARKS: &str = "pep:urn:xmpp:bookmarks:1";

/// The refusal for a store error.
fn store_refusal(e: &StoreError) -> Refusal {
    match e {
        StoreError::AccountDataFull(_) | StoreError::AccountDataTooLarge(_) => {
            Refusal::cancel("not-acceptable", format!("Not stored: {e}."))
        }
        _ => {
            warn!(error = %e, "account data store error");
            Refusal::wait("internal-server-error", "The store failed; try again.")
        }
    }
}

fn private_key(el: &Element) -> String {
    format!("{{{}}}{}", el.ns(), el.name())
}

impl Router {
    /// The user on `conn` and their transport.
    fn account_of(&self, conn: ConnId) -> Option<(BareJid, String)> {
        let user = self.conns.get(&conn)?.handle.jid.to_bare();
        let transport = self.transport_of(&user)?;
        Some((user, transport))
    }

    /// XEP-0049: a get or set of `jabber:iq:private`.
    pub(crate) async fn on_private(&mut self, conn: ConnId, iq: &Element, query: &Element) {
        let Some((user, transport)) = self.account_of(conn) else {
            return;
        };
        let children: Vec<&Element> = query.children().collect();
        if children.is_empty() {
            let refusal = Refusal::modify("bad-request", "Private storage needs a child element.");
            self.reply_error(conn, iq, refusal).await;
            return;
        }
        if children.iter().any(|c| {
            let ns = c.ns();
            ns.is_empty() || ns == NS_PRIVATE || ns == "jabber:client" || ns == "jabber:server"
        }) {
            let refusal = Refusal::modify(
                "not-acceptable",
                "That namespace cannot be stored in private storage.",
            );
            self.reply_error(conn, iq, refusal).await;
            return;
        }
        let mut answer = Element::bare("query", NS_PRIVATE);
        if iq.attr("type") == Some("get") {
            let [asked] = children.as_slice() else {
                let refusal = Refusal::modify("bad-request", "Ask for one element at a time.");
                self.reply_error(conn, iq, refusal).await;
                return;
            };
            let key = private_key(asked);
            match self
                .store
                .account_data_item(&transport, user.as_str(), KIND_PRIVATE, &key)
                .await
            {
                // Stored: that element; else the empty element asked for (XEP-0049 2.2).
                Ok(data) => {
                    let stored = data.and_then(|d| d.parse::<Element>().ok());
                    answer.append_child(stored.unwrap_or_else(|| (*asked).clone()));
                }
                Err(e) => {
                    self.reply_error(conn, iq, store_refusal(&e)).await;
                    return;
                }
            }
            self.reply_result(conn, iq, Some(answer)).await;
            return;
        }
        for child in children {
            let data = String::from(child);
            if let Err(e) = self
                .store
                .put_account_data(
                    &transport,
                    user.as_str(),
                    KIND_PRIVATE,
                    &private_key(child),
                    &data,
                )
                .await
            {
                self.reply_error(conn, iq, store_refusal(&e)).await;
                return;
            }
        }
        self.reply_result(conn, iq, None).await;
    }

    /// XEP-0054: a get or set of the account's own vCard.
    pub(crate) async fn on_own_vcard(&mut self, conn: ConnId, iq: &Element, card: &Element) {
        let Some((user, transport)) = self.account_of(conn) else {
            return;
        };
        if card.name() != "vCard" {
            let refusal = Refusal::modify("bad-request", "Expected a <vCard xmlns='vcard-temp'/>.");
            self.reply_error(conn, iq, refusal).await;
            return;
        }
        let store = self.store.clone();
        if iq.attr("type") == Some("get") {
            match store
                .account_data_item(&transport, user.as_str(), KIND_VCARD, KIND_VCARD)
                .await
            {
                Ok(data) => {
                    let stored = data.and_then(|d| d.parse::<Element>().ok());
                    let card = stored.unwrap_or_else(|| Element::bare("vCard", NS_VCARD));
                    self.reply_result(conn, iq, Some(card)).await;
                }
                Err(e) => self.reply_error(conn, iq, store_refusal(&e)).await,
            }
            return;
        }
        let data = String::from(card);
        match store
            .put_account_data(&transport, user.as_str(), KIND_VCARD, KIND_VCARD, &data)
            .await
        {
            Ok(()) => self.reply_result(conn, iq, None).await,
            Err(e) => self.reply_error(conn, iq, store_refusal(&e)).await,
        }
    }

    /// XEP-0402 through XEP-0060: publish, retract or items of the bookmarks node of the
    /// user's own PEP service.
    pub(crate) async fn on_pubsub(&mut self, conn: ConnId, iq: &Element, pubsub: &Element) {
        let Some((user, transport)) = self.account_of(conn) else {
            return;
        };
        let is_set = iq.attr("type") == Some("set");
        let action = pubsub
            .children()
            .find(|c| matches!(c.name(), "publish" | "retract" | "items"));
        let Some(action) = action else {
            let refusal = Refusal::cancel(
                "feature-not-implemented",
                "Only publish, retract and items are supported on your account.",
            );
            self.reply_error(conn, iq, refusal).await;
            return;
        };
        let node = action.attr("node").unwrap_or_default();
        if node != NS_BOOKMARKS2 {
            let refusal = if action.name() == "items" && !is_set {
                Refusal::cancel("item-not-found", format!("No node {node:?} here."))
            } else {
                Refusal::cancel(
                    "feature-not-implemented",
                    format!("Only the {NS_BOOKMARKS2} node is stored on your account."),
                )
            };
            self.reply_error(conn, iq, refusal).await;
            return;
        }
        let store = self.store.clone();
        let account = user.as_str();
        match (action.name(), is_set) {
            ("items", false) => {
                let wanted: Vec<&str> = action
                    .children()
                    .filter(|c| c.name() == "item")
                    .filter_map(|c| c.attr("id"))
                    .collect();
                let items = match store
                    .account_data(&transport, account, KIND_BOOKMARKS)
                    .await
                {
                    Ok(items) => items,
                    Err(e) => {
                        self.reply_error(conn, iq, store_refusal(&e)).await;
                        return;
                    }
                };
                let mut list = super::elem("items", NS_PUBSUB, &[("node", NS_BOOKMARKS2)]);
                for (id, data) in items {
                    if !wanted.is_empty() && !wanted.contains(&id.as_str()) {
                        continue;
                    }
                    let mut item = super::elem("item", NS_PUBSUB, &[("id", &id)]);
                    if let Ok(payload) = data.parse::<Element>() {
                        item.append_child(payload);
                    }
                    list.append_child(item);
                }
                let mut answer = Element::bare("pubsub", NS_PUBSUB);
                answer.append_child(list);
                self.reply_result(conn, iq, Some(answer)).await;
            }
            ("publish", true) => {
                let items: Vec<&Element> =
                    action.children().filter(|c| c.name() == "item").collect();
                let [item] = items.as_slice() else {
                    let refusal = Refusal::modify("bad-request", "Publish exactly one item.");
                    self.reply_error(conn, iq, refusal).await;
                    return;
                };
                let id = item.attr("id").unwrap_or_default();
                let payload = item.children().next();
                let Some(payload) = payload.filter(|p| {
                    p.name() == "conference" && p.ns() == NS_BOOKMARKS2 && !id.is_empty()
                }) else {
                    let refusal = Refusal::modify(
                        "bad-request",
                        "A bookmark is an item whose id is the room's JID, with one <conference xmlns='urn:xmpp:bookmarks:1'/>.",
                    );
                    self.reply_error(conn, iq, refusal).await;
                    return;
                };
                let data = String::from(payload);
                if let Err(e) = store
                    .put_account_data(&transport, account, KIND_BOOKMARKS, id, &data)
                    .await
                {
                    self.reply_error(conn, iq, store_refusal(&e)).await;
                    return;
                }
                let mut published = super::elem("publish", NS_PUBSUB, &[("node", NS_BOOKMARKS2)]);
                published.append_child(super::elem("item", NS_PUBSUB, &[("id", id)]));
                let mut answer = Element::bare("pubsub", NS_PUBSUB);
                answer.append_child(published);
                self.reply_result(conn, iq, Some(answer)).await;
                let mut ev_item = super::elem("item", NS_PUBSUB_EVENT, &[("id", id)]);
                ev_item.append_child(payload.clone());
                self.notify_bookmarks(&user, ev_item).await;
            }
            ("retract", true) => {
                let ids: Vec<&str> = action
                    .children()
                    .filter(|c| c.name() == "item")
                    .filter_map(|c| c.attr("id"))
                    .collect();
                let [id] = ids.as_slice() else {
                    let refusal = Refusal::modify("bad-request", "Retract exactly one item.");
                    self.reply_error(conn, iq, refusal).await;
                    return;
                };
                match store
                    .remove_account_data(&transport, account, KIND_BOOKMARKS, id)
                    .await
                {
                    Ok(true) => {
                        self.reply_result(conn, iq, None).await;
                        let gone = super::elem("retract", NS_PUBSUB_EVENT, &[("id", id)]);
                        self.notify_bookmarks(&user, gone).await;
                    }
                    Ok(false) => {
                        let refusal =
                            Refusal::cancel("item-not-found", format!("No bookmark {id:?}."));
                        self.reply_error(conn, iq, refusal).await;
                    }
                    Err(e) => self.reply_error(conn, iq, store_refusal(&e)).await,
                }
            }
            _ => {
                let refusal = Refusal::modify("bad-request", "Wrong IQ type for this request.");
                self.reply_error(conn, iq, refusal).await;
            }
        }
    }

    /// A pubsub event on the bookmarks node (`item` or `retract`) to the user's resources
    /// (with several instances, every one notifies when the store tells: `changes.rs`).
    async fn notify_bookmarks(&self, user: &BareJid, change: Element) {
        if !self.pushes_via_feed() {
            self.notify_bookmarks_now(user, change).await;
        }
    }

    /// The event itself, to this instance's clients of `user`.
    pub(super) async fn notify_bookmarks_now(&self, user: &BareJid, change: Element) {
        let mut items = super::elem("items", NS_PUBSUB_EVENT, &[("node", NS_BOOKMARKS2)]);
        items.append_child(change);
        let mut event = Element::bare("event", NS_PUBSUB_EVENT);
        event.append_child(items);
        let mut msg = super::elem(
            "message",
            pontoon_xmpp::ns::CLIENT,
            &[
                ("from", user.as_str()),
                ("to", user.as_str()),
                ("type", "headline"),
            ],
        );
        msg.append_child(event);
        self.deliver_to_bare(user, msg).await;
    }
}
