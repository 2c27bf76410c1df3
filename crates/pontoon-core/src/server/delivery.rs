//! Messages in a client's hands (server mode): a message worth keeping
//! (`offline::keepable`) that the router gives a connected client is also a row of the
//! store's offline messages, *held* by this instance under a mark, until the client has it
//! (`C2sEvent::Delivered`: its XEP-0198 acknowledgement, or the write when the client has
//! no stream management). A client that leaves without acknowledging gives it back to the
//! user's other clients or, with none left, to the offline queue (`Router::on_closed`); a
//! process killed meanwhile leaves the row held by a dead instance, and the user's next
//! client gets it as an offline message (released before every hand-over,
//! [`Router::deliver_offline`]). So a `kill -9` loses nothing a client had not
//! acknowledged; at worst a client gets a message twice (at least once, as XEP-0198's own
//! resumption).
//!
//! The writes go through one [`BatchWriter`] in order (hold, delivered, release), so an
//! acknowledgement never overtakes the row it deletes; one transaction per batch, not one
//! per message, and a message acknowledged within its batch's 50 ms is never written at
//! all ([`settled_in_batch`]): a client that acknowledges promptly costs the store nothing
//! (measured with SQLite: 55 µs of CPU per message held and deleted in batches of 64, 0
//! when both fall in one batch). Room traffic is not held: the room's archive has it
//! (XEP-0313).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jid::BareJid;
use minidom::Element;
use pontoon_store::{Delivery, Store};
use pontoon_xmpp::c2s::{ConnId, Outgoing};
use tracing::{debug, warn};

use super::Router;
use crate::batch::BatchWriter;

/// Deliveries waiting to be written, at most (beyond: the message goes out unheld).
const QUEUE: usize = 8192;
/// Messages read from the store at a time while handing offline messages over.
const PAGE: i64 = 100;

/// This instance's marks on messages in its clients' hands.
#[derive(Clone)]
pub(crate) struct Ledger {
    /// The instance that holds them (the cluster's id for this process, or one of its own).
    holder: Arc<str>,
    /// The last mark given.
    last: Arc<AtomicU64>,
    store: Store,
    /// Started with the first message held.
    writer: Option<BatchWriter<Delivery>>,
}

impl Ledger {
    /// A ledger of `holder` over `store`.
    pub(crate) fn new(store: Store, holder: String) -> Self {
        Ledger {
            holder: holder.into(),
            last: Arc::default(),
            store,
            writer: None,
        }
    }

    /// A fresh mark.
    fn mark(&self) -> u64 {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn writer(&mut self) -> &BatchWriter<Delivery> {
        let store = &self.store;
        let holder = &self.holder;
        self.writer.get_or_insert_with(|| {
            let store = store.clone();
            let holder = holder.clone();
            BatchWriter::spawn(
                &store.clone(),
                QUEUE,
                "a delivery record",
                Arc::new(move |batch: Vec<Delivery>| {
                    let store = store.clone();
                    let holder = holder.clone();
                    let batch = settled_in_batch(batch);
                    Box::pin(async move {
                        if batch.is_empty() {
                            return;
                        }
                        match store.apply_deliveries(&holder, &batch).await {
                            Ok(()) => {
                                let count = |f: fn(&Delivery) -> bool| batch.iter().filter(|d| f(d)).count();
                                debug!(
                                    held = count(|d| matches!(d, Delivery::Hold { .. })),
                                    delivered = count(|d| matches!(d, Delivery::Delivered(_))),
                                    released = count(|d| matches!(d, Delivery::Release(_))),
                                    "recorded messages in clients' hands"
                                );
                            }
                            // The messages are in the clients' hands; what is missing is
                            // their insurance against a crash before the acknowledgement.
                            Err(e) => warn!(error = %e, records = batch.len(), "could not record messages in clients' hands"),
                        }
                    })
                }),
            )
        })
    }

    /// Holds `el` for `owner` if it is worth keeping: its mark, or `None` (not kept, or
    /// the writer too far behind: it goes out unheld).
    pub(crate) fn hold(&mut self, owner: &BareJid, el: &Element) -> Option<u64> {
        if !super::offline::keepable(el) {
            return None;
        }
        let mark = self.mark();
        let record = Delivery::Hold {
            owner: owner.to_string(),
            time: crate::archive::now_micros(),
            stanza: String::from(el),
            mark: i64::try_from(mark).ok()?,
        };
        self.writer().queue(record).then_some(mark)
    }

    /// The client has the messages `marks`: forgotten.
    pub(crate) fn delivered(&mut self, marks: Vec<u64>) {
        for mark in marks.into_iter().filter_map(|m| i64::try_from(m).ok()) {
            self.writer().queue(Delivery::Delivered(mark));
        }
    }

    /// No client took `mark`: an offline message again, for the user's next client.
    pub(crate) fn release(&mut self, mark: u64) {
        if let Ok(mark) = i64::try_from(mark) {
            self.writer().queue(Delivery::Release(mark));
        }
    }

    /// Waits until what was queued before is written.
    async fn settled(&self) {
        if let Some(w) = &self.writer {
            w.settled().await;
        }
    }
}

/// `batch` without the messages held and acknowledged within it: nothing to write for
/// those (in order, an acknowledgement comes after its hold).
fn settled_in_batch(batch: Vec<Delivery>) -> Vec<Delivery> {
    let held: std::collections::HashSet<i64> = batch
        .iter()
        .filter_map(|d| match d {
            Delivery::Hold { mark, .. } => Some(*mark),
            _ => None,
        })
        .collect();
    let settled: std::collections::HashSet<i64> = batch
        .iter()
        .filter_map(|d| match d {
            Delivery::Delivered(mark) if held.contains(mark) => Some(*mark),
            _ => None,
        })
        .collect();
    if settled.is_empty() {
        return batch;
    }
    batch
        .into_iter()
        .filter(|d| match d {
            Delivery::Hold { mark, .. } | Delivery::Delivered(mark) => !settled.contains(mark),
            Delivery::Release(_) => true,
        })
        .collect()
}

impl Router {
    /// The client `conn` has the messages `marks` (`C2sEvent::Delivered`).
    pub(crate) fn on_delivered(&mut self, conn: ConnId, marks: Vec<u64>) {
        debug!(%conn, count = marks.len(), "messages acknowledged");
        self.ledger.delivered(marks);
    }

    /// Hands what was kept for `bare` to the client `conn`, in a task of its own (waiting
    /// for room in that client's queue holds up nobody else), once what is on its way to
    /// the store is there: each message is held for that client until it acknowledges it
    /// (see the module docs); what dead instances held for `bare` is released first (only
    /// theirs: one small update per login, not a sweep of every user's rows).
    pub(crate) fn deliver_offline(&self, conn: ConnId, bare: &BareJid) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let out = c.handle.out.clone();
        let to = c.handle.jid.to_string();
        let owner = bare.to_string();
        let by = jid::Jid::new(bare.domain().as_str()).ok();
        let keeper = self.offline.clone();
        let ledger = self.ledger.clone();
        tokio::spawn(async move {
            if let Some(keeper) = keeper {
                keeper.settled().await;
            }
            ledger.settled().await;
            let store = &ledger.store;
            let alive_since = crate::cluster::alive_since(crate::archive::now_micros());
            match store
                .release_stale_holds(&owner, &ledger.holder, alive_since)
                .await
            {
                Ok(0) => {}
                Ok(n) => debug!(
                    released = n,
                    "messages a dead instance held are offline messages again"
                ),
                Err(e) => warn!(error = %e, "could not release what dead instances held"),
            }
            loop {
                let page = match store.offline_messages(&owner, PAGE).await {
                    Ok(page) if page.is_empty() => return,
                    Ok(page) => page,
                    Err(e) => {
                        warn!(error = %e, user = %owner, "could not read offline messages");
                        return;
                    }
                };
                for m in page {
                    let Ok(mut el) = m.stanza.parse::<Element>() else {
                        let _ = store.forget_offline(m.seq).await;
                        continue;
                    };
                    let mark = ledger.mark();
                    let Ok(mark_i64) = i64::try_from(mark) else {
                        return;
                    };
                    match store.hold_offline(m.seq, &ledger.holder, mark_i64).await {
                        Ok(true) => {}
                        // Taken by another client meanwhile.
                        Ok(false) => continue,
                        Err(e) => {
                            warn!(error = %e, user = %owner, "could not hand offline messages over");
                            return;
                        }
                    }
                    super::set_attr(&mut el, "to", &to);
                    // One held while a client had it went out live, without a delay.
                    if !el.has_child("delay", "urn:xmpp:delay")
                        && let Some(delay) = crate::archive::mam::delay(
                            m.time,
                            by.clone(),
                            Some("Offline storage".to_owned()),
                        )
                    {
                        el.append_child(delay.into());
                    }
                    let sent = Outgoing {
                        stanza: el,
                        delivery: Some(mark),
                    };
                    if out.send(sent).await.is_err() {
                        // The client is gone: this one and the rest wait for the next.
                        let release = [Delivery::Release(mark_i64)];
                        if let Err(e) = store.apply_deliveries(&ledger.holder, &release).await {
                            warn!(error = %e, user = %owner, "could not give an offline message back");
                        }
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(mark: i64) -> Delivery {
        Delivery::Hold {
            owner: "a@x".into(),
            time: 0,
            stanza: "<m/>".into(),
            mark,
        }
    }

    #[test]
    fn what_is_acknowledged_within_its_batch_is_never_written() {
        let batch = vec![
            hold(1),
            hold(2),
            Delivery::Delivered(1),
            Delivery::Delivered(0),
            Delivery::Release(2),
            hold(3),
        ];
        assert_eq!(
            settled_in_batch(batch),
            vec![
                hold(2),
                Delivery::Delivered(0),
                Delivery::Release(2),
                hold(3)
            ]
        );
        assert!(settled_in_batch(vec![hold(5), Delivery::Delivered(5)]).is_empty());
    }
}
