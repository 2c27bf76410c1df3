//! The message archive: what users are shown in rooms, kept for XEP-0313 (MAM) queries on
//! the room's JID ([`mam`]) and for the history a client asks for when it joins
//! ([`history`]).
//!
//! One [`Archive`] per service. Sessions hand it each room message as they render it
//! (`crate::render`), without waiting: a room message is kept once per room however many
//! users are in it ([`recent`] gives every copy the first one's stanza-id), written in
//! batches ([`crate::batch`]), and read by each user within the spans they were in the room
//! (`pontoon_store::SpanChange`). The operator's retention (days and messages per room,
//! `history_days` and `history_per_room` in the transport's policy) bounds it; with
//! `history_days = 0` nothing is archived.

pub mod history;
pub mod mam;
pub(crate) mod query;
pub(crate) mod recent;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use minidom::Element;
use pontoon_store::{ArchiveRecord, ArchiveWrite, SpanChange, Store};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::batch::BatchWriter;
pub(crate) use recent::IdsRecord;
use recent::{Claim, Recent};

/// Records waiting for the writer, at most (a busy minute of a large gateway's rooms).
const QUEUE: usize = 16_384;
/// Archive queries answered at once per transport; more wait for their turn.
const QUERIES_AT_ONCE: usize = 8;

/// What a session hands the writer.
enum Write {
    /// A message (checked by the writer).
    Message(ArchiveRecord),
    Span(SpanChange),
    EndSpans(i64),
}

/// One service's archive.
pub struct Archive {
    transport: Arc<str>,
    /// The owner of a room's archive (none: empty), shared by its records.
    room_owner: Arc<str>,
    writer: BatchWriter<Write>,
    recent: Mutex<Recent>,
    /// Days kept (0: nothing is archived), from the policy.
    days: AtomicU32,
    /// Messages kept per room (0: no count limit), from the policy.
    per_room: AtomicU32,
    /// Turns for queries ([`QUERIES_AT_ONCE`]).
    pub(crate) queries: Arc<Semaphore>,
    store: Store,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("transport", &self.transport)
            .field("days", &self.days)
            .finish()
    }
}

/// `d` in microseconds, as the store's times are (saturating).
pub(crate) fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Microseconds since the epoch, the archive's clock.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, micros)
}

impl Archive {
    /// The archive of `transport`, writing to `store`; keeps `days` days and `per_room`
    /// messages per room until [`Archive::set_retention`] says otherwise.
    pub fn spawn(store: Store, transport: &str, days: u32, per_room: u32) -> Arc<Archive> {
        let transport_name = transport.to_owned();
        let writer_store = store.clone();
        let writer = BatchWriter::spawn(
            &store,
            QUEUE,
            "an archived message",
            Arc::new(move |writes: Vec<Write>| {
                let store = writer_store.clone();
                let transport = transport_name.clone();
                Box::pin(async move {
                    let writes: Vec<ArchiveWrite> = writes
                        .into_iter()
                        .filter_map(|w| to_store(&transport, w))
                        .collect();
                    if let Err(e) = store.write_archive(&writes).await {
                        warn!(error = %e, records = writes.len(), "could not archive messages");
                    }
                })
            }),
        );
        // Before any session: whoever the last run (or another instance that died) left in
        // a room is in none now.
        writer.queue(Write::EndSpans(now_micros()));
        Arc::new(Archive {
            transport: transport.into(),
            room_owner: "".into(),
            writer,
            recent: Mutex::new(Recent::new()),
            days: AtomicU32::new(days),
            per_room: AtomicU32::new(per_room),
            queries: Arc::new(Semaphore::new(QUERIES_AT_ONCE)),
            store,
        })
    }

    /// The policy's retention (the console changed it).
    pub fn set_retention(&self, days: u32, per_room: u32) {
        self.days.store(days, Ordering::Relaxed);
        self.per_room.store(per_room, Ordering::Relaxed);
    }

    /// Messages are archived.
    pub fn is_on(&self) -> bool {
        self.days.load(Ordering::Relaxed) > 0
    }

    /// The transport's name.
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// The store it writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The stanza-id of a room message the session `taker.0` (whose user wrote it if
    /// `taker.1`) is about to show: the network's id, or the one another session gave its
    /// copy, or a fresh one (whether the archive is on or not). `first` says this session
    /// archives it (never with the archive off), `record` who records its ids in the id map.
    pub(crate) fn room_message_id(
        &self,
        room: &str,
        (network_id, author, text): (Option<&str>, &str, &str),
        taker: (u64, bool),
    ) -> Claim {
        let network_id = network_id.filter(|id| !id.is_empty() && id.len() <= 256);
        let fresh = || crate::ids::stanza_id_for(network_id);
        let mut claim = match self.recent.lock() {
            Ok(mut recent) => recent.claim(
                room,
                (network_id, author, text),
                taker,
                Instant::now(),
                fresh,
            ),
            // No claims: this copy has an id of its own, and each user records theirs.
            Err(_) => Claim {
                id: fresh(),
                first: true,
                record: IdsRecord::ByUser,
            },
        };
        // With the archive off, copies still share one id and one id-map record.
        claim.first &= self.is_on();
        claim
    }

    /// Archives `stanza` (XML, without a `to`: as shown in the room `room`, said by `author`)
    /// under `stanza_id`.
    pub(crate) fn keep_room_message(
        &self,
        room: &str,
        stanza_id: &str,
        author: &str,
        stanza: String,
    ) {
        if !self.is_on() {
            return;
        }
        self.writer.queue(Write::Message(ArchiveRecord {
            transport: self.transport.clone(),
            owner: self.room_owner.clone(),
            chat: room.into(),
            stanza_id: stanza_id.into(),
            time: now_micros(),
            author: author.into(),
            stanza: stanza.into(),
        }));
    }

    /// Archives `stanza`, a message between `owner` and their contact `contact` (either
    /// way; `author` is who wrote it), in `owner`'s own archive under `stanza_id` (server
    /// mode: Pontoon is the user's server, and their archive is its to keep).
    pub(crate) fn keep_direct(
        &self,
        (owner, contact): (&str, &str),
        stanza_id: &str,
        author: &str,
        stanza: Element,
    ) {
        if !self.is_on() {
            return;
        }
        let Some(stanza) = crate::stanza::to_xml(&stanza) else {
            tracing::debug!("a message is not archived: it does not serialize");
            return;
        };
        self.writer.queue(Write::Message(ArchiveRecord {
            transport: self.transport.clone(),
            owner: owner.into(),
            chat: contact.into(),
            stanza_id: stanza_id.into(),
            time: now_micros(),
            author: author.into(),
            stanza: stanza.into(),
        }));
    }

    /// `user` is in `room` from now on (`true`), or no longer (`false`); `room` `None`: in
    /// no room of the transport (their session ended).
    /// `at`: when (microseconds), if not now.
    pub(crate) fn span(&self, user: &str, room: Option<&str>, (enter, at): (bool, Option<i64>)) {
        if !self.is_on() {
            return;
        }
        self.writer.queue(Write::Span(SpanChange {
            transport: self.transport.to_string(),
            room: room.map(str::to_owned),
            user: user.to_owned(),
            at: at.unwrap_or_else(now_micros),
            enter,
            instance: crate::cluster::instance_id().to_owned(),
        }));
    }

    /// Waits until what was handed over before is written (a query then sees it).
    pub async fn settled(&self) {
        self.writer.settled().await;
    }

    /// The writer is far behind: a session should wait before its next input
    /// ([`crate::batch::BatchWriter::behind`]).
    pub fn behind(&self) -> bool {
        self.writer.behind()
    }

    /// Waits (boundedly) until the writer is no longer behind.
    pub async fn caught_up(&self) {
        self.writer.caught_up().await;
    }
}

fn to_store(transport: &str, w: Write) -> Option<ArchiveWrite> {
    Some(match w {
        Write::Message(record) => {
            // What the store would refuse is left out here, not in the batch it would spoil.
            if let Err(e) = record.check() {
                tracing::debug!(error = %e, "a room message is not archived");
                return None;
            }
            ArchiveWrite::Message(record)
        }
        Write::Span(s) => ArchiveWrite::Span(s),
        Write::EndSpans(at) => ArchiveWrite::EndSpans {
            transport: Some(transport.to_owned()),
            at,
            alive_since: crate::cluster::alive_since(at),
            instance: crate::cluster::instance_id().to_owned(),
        },
    })
}
