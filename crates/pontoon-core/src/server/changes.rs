//! Several instances serving one domain on one PostgreSQL store: a user's roster and
//! bookmarks change on whichever instance one of their clients is connected to, and their
//! other clients may be on another. The store's change feed (`pontoon_store::ChangeFeed`)
//! tells every instance; each pushes the item, as it is in the store now, to its own clients
//! of the user. With a feed the instance that made a change pushes through it too (one path,
//! no double push); without one (SQLite) pushes go out at once (`roster.rs`, `storage.rs`).

use jid::BareJid;
use minidom::Element;
use pontoon_store::{Change, RosterItem};
use tracing::{debug, warn};

use super::Router;
use super::storage::{KIND_BOOKMARKS, NS_PUBSUB_EVENT};

impl Router {
    /// Whether roster pushes and bookmark events wait for the store's change feed.
    pub(super) fn pushes_via_feed(&self) -> bool {
        self.feed_on
    }

    /// What the change feed told (`None`: it ended; pushes go out at once from now on).
    pub(super) async fn on_store_change(&mut self, change: Option<Change>) {
        let Some(change) = change else {
            warn!(
                "the store's change feed ended: roster and bookmark changes reach only this instance's clients"
            );
            self.feed_on = false;
            return;
        };
        match change {
            Change::Roster {
                transport,
                account,
                contact,
            } => {
                let Some(user) = self.local_user(&account) else {
                    return;
                };
                let item = match self.store.roster_item(&transport, &account, &contact).await {
                    Ok(Some(item)) => item,
                    Ok(None) => RosterItem {
                        contact_jid: contact,
                        name: None,
                        groups: Vec::new(),
                        subscription: "remove".to_owned(),
                    },
                    Err(e) => {
                        debug!(error = %e, "could not read a changed roster item");
                        return;
                    }
                };
                self.push_now(&user, &item).await;
            }
            Change::AccountData {
                transport,
                account,
                kind,
                item,
            } if kind == KIND_BOOKMARKS => {
                let Some(user) = self.local_user(&account) else {
                    return;
                };
                let stored = self
                    .store
                    .account_data_item(&transport, &account, &kind, &item)
                    .await;
                let change = match stored {
                    Ok(Some(data)) => {
                        let Ok(payload) = data.parse::<Element>() else {
                            return;
                        };
                        let mut ev = super::elem("item", NS_PUBSUB_EVENT, &[("id", &item)]);
                        ev.append_child(payload);
                        ev
                    }
                    Ok(None) => super::elem("retract", NS_PUBSUB_EVENT, &[("id", &item)]),
                    Err(e) => {
                        debug!(error = %e, "could not read a changed bookmark");
                        return;
                    }
                };
                self.notify_bookmarks_now(&user, change).await;
            }
            _ => {}
        }
    }

    /// `account` as a user with a client bound here.
    fn local_user(&self, account: &str) -> Option<BareJid> {
        let user = account.parse::<BareJid>().ok()?;
        self.users.contains_key(&user).then_some(user)
    }
}
