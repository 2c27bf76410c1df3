//! The persisted outbox: a message a user sends while their session has no connection to
//! the network (the legacy login under way, or the transport reconnecting) waits in the
//! store (`pontoon_store`'s `outbox` table), not in memory, so that a restart or a
//! `kill -9` meanwhile loses none of it.
//!
//! - The session keeps it ([`Outbox::keep`]) and sends what waits when it connects, oldest
//!   first, through the same verbs as a live message; then forgets it.
//! - A message is bounced to its sender, never dropped: when the user's queue is full
//!   ([`pontoon_store::MAX_OUTBOX_MESSAGES`]), when the session ends without connecting, and
//!   when it waited longer than [`MAX_WAIT`] (the service sweeps those of users without a
//!   session, [`Outbox::take_stale`]; a session bounces its own).
//! - A graceful shutdown keeps what waits for the next run ([`Outbox::shutting_down`]).
//! - A message handed to a transport whose queue is backed up (IRC's flood pacing,
//!   `LegacyEvent::Backlog`) is kept too ([`Outbox::hand`]) until the transport settles it
//!   (`LegacyEvent::Settled`) or the session ends; if the process dies first, it waits
//!   again at the next start, or when another instance takes the session over
//!   ([`Outbox::release_stale`]), and goes out at the next connection. At least once: a
//!   message written just before the crash may go out twice.
//!
//! The service keeps the set of users with something waiting, so a session's connection
//! asks the store only when there is something to send.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use pontoon_store::{OutboxChat, Store, StoreError};
use tracing::{info, warn};

use crate::legacy::{ChatId, LegacyId};

/// How long a message may wait for the network before it is bounced, at most (a transport
/// may say less: `Transport::send_deadline`).
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// How long a message may wait for `transport`'s network.
pub(crate) fn max_wait(transport: &dyn crate::transport::Transport) -> Duration {
    transport
        .send_deadline()
        .map_or(MAX_WAIT, |d| d.min(MAX_WAIT))
}

/// How often the service looks for messages that waited too long.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// One message that waited, as the session sends it.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// Its place in the queue (what [`Outbox::forget`] takes).
    pub(crate) seq: i64,
    /// When it was kept (microseconds since the epoch).
    pub(crate) time: i64,
    /// Where it goes.
    pub(crate) chat: ChatId,
    /// The message as the user sent it.
    pub(crate) stanza: Element,
}

/// A transport's outbox in the store.
pub struct Outbox {
    store: Store,
    transport: String,
    /// The users with something waiting; `None` when it could not be read at start (then
    /// every connection asks the store).
    waiting: Mutex<Option<HashSet<BareJid>>>,
    closing: AtomicBool,
    /// When the service's next sweep for stale messages is due ([`Outbox::sweep_due`]).
    next_sweep: Mutex<std::time::Instant>,
}

impl Outbox {
    /// The outbox of `transport`, with the users who have something waiting from the last
    /// run.
    pub async fn open(store: Store, transport: &str) -> Outbox {
        // What this process's previous run handed to its transports waits again.
        release_stale(&store).await;
        let waiting = match store.outbox_owners(transport).await {
            Ok(owners) => Some(
                owners
                    .iter()
                    .filter_map(|o| o.parse::<BareJid>().ok())
                    .collect(),
            ),
            Err(e) => {
                warn!(error = %e, "could not read who has messages waiting; every login will look");
                None
            }
        };
        Outbox {
            store,
            transport: transport.to_owned(),
            waiting: Mutex::new(waiting),
            closing: AtomicBool::new(false),
            next_sweep: Mutex::new(std::time::Instant::now()),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Option<HashSet<BareJid>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `stanza`, sent by `owner` to `chat`; false when their queue is full.
    pub(crate) async fn keep(
        &self,
        owner: &BareJid,
        chat: &ChatId,
        stanza: &Element,
    ) -> Result<bool, StoreError> {
        let chat = outbox_chat(chat)?;
        let time = crate::archive::now_micros();
        let kept = self
            .store
            .put_outbox(
                &self.transport,
                owner.as_str(),
                &chat,
                time,
                &String::from(stanza),
            )
            .await?;
        if kept && let Some(set) = self.waiting().as_mut() {
            set.insert(owner.clone());
        }
        Ok(kept)
    }

    /// Keeps `stanza`, sent by `owner` to `chat` and handed to a transport whose queue is
    /// backed up, until the transport settles it ([`Outbox::settle`]): the receipt.
    pub(crate) async fn hand(
        &self,
        owner: &BareJid,
        chat: &ChatId,
        stanza: &Element,
    ) -> Result<u64, StoreError> {
        let chat = outbox_chat(chat)?;
        let seq = self
            .store
            .put_outbox_handed(
                (
                    &self.transport,
                    owner.as_str(),
                    crate::cluster::instance_id(),
                ),
                &chat,
                crate::archive::now_micros(),
                &String::from(stanza),
            )
            .await?;
        u64::try_from(seq).map_err(|_| StoreError::Invalid("negative outbox seq"))
    }

    /// The transport is done with the handed message `receipt`.
    pub(crate) async fn settle(&self, receipt: u64) {
        let Ok(seq) = i64::try_from(receipt) else {
            return;
        };
        if let Err(e) = self.store.settle_outbox(seq).await {
            // Sent again after a crash, at worst: twice rather than never.
            warn!(error = %e, "could not forget a message the network took");
        }
    }

    /// `owner`'s session ended: its transport is done with all it was handed.
    pub(crate) async fn settle_all(&self, owner: &BareJid) {
        let holder = crate::cluster::instance_id();
        if let Err(e) = self
            .store
            .settle_outbox_of(&self.transport, owner.as_str(), holder)
            .await
        {
            warn!(error = %e, "could not forget the messages the network took");
        }
    }

    /// What dead instances handed to their transports waits again (a session taken over
    /// from one, `session/lease.rs`): the users it waits for are looked up again.
    pub(crate) async fn release_stale(&self) {
        if release_stale(&self.store).await == 0 {
            return;
        }
        match self.store.outbox_owners(&self.transport).await {
            Ok(owners) => {
                *self.waiting() = Some(owners.iter().filter_map(|o| o.parse().ok()).collect());
            }
            Err(_) => *self.waiting() = None,
        }
    }

    /// Whether `owner` may have something waiting (false: certainly not).
    pub(crate) fn may_hold(&self, owner: &BareJid) -> bool {
        self.waiting()
            .as_ref()
            .is_none_or(|set| set.contains(owner))
    }

    /// What waits for `owner`, oldest first. A row that no longer reads as a message (it
    /// cannot be sent, nor bounced: there is no sender to read) is logged and forgotten.
    pub(crate) async fn take_for(&self, owner: &BareJid) -> Result<Vec<Waiting>, StoreError> {
        let rows = self.store.outbox(&self.transport, owner.as_str()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let waiting = read_row(row.seq, row.time, &row.chat, &row.stanza);
                if waiting.is_none() {
                    warn!(seq = row.seq, "a kept message no longer reads; forgotten");
                }
                waiting
            })
            .collect())
    }

    /// Forgets `owner`'s messages up to `through` (sent or bounced).
    pub(crate) async fn forget(&self, owner: &BareJid, through: i64) {
        if let Err(e) = self
            .store
            .delete_outbox(&self.transport, owner.as_str(), through)
            .await
        {
            // Sent again at the next connection: twice rather than never.
            warn!(error = %e, "could not forget a message sent from the outbox");
        }
    }

    /// Notes that nothing waits for `owner` (their last read found nothing).
    pub(crate) fn drained(&self, owner: &BareJid) {
        if let Some(set) = self.waiting().as_mut() {
            set.remove(owner);
        }
    }

    /// Takes what waited longer than `max_wait`, except for the users in `skip` (they have
    /// a session, which sends or bounces its own): the caller bounces each.
    pub(crate) async fn take_stale(
        &self,
        skip: &[&str],
        max_wait: Duration,
    ) -> Result<Vec<(BareJid, Waiting)>, StoreError> {
        let before = crate::archive::now_micros().saturating_sub(crate::archive::micros(max_wait));
        let rows = self
            .store
            .take_stale_outbox(&self.transport, before, skip)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(owner, row)| {
                let owner = owner.parse::<BareJid>().ok()?;
                let waiting = read_row(row.seq, row.time, &row.chat, &row.stanza)?;
                Some((owner, waiting))
            })
            .collect())
    }

    /// Whether the service's sweep for stale messages is due (once a minute, the first
    /// at start); when it is, the next is set.
    pub(crate) fn sweep_due(&self) -> bool {
        let now = std::time::Instant::now();
        let mut next = self
            .next_sweep
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now < *next {
            return false;
        }
        *next = now + SWEEP_EVERY;
        true
    }

    /// The service is stopping: what waits stays for the next run instead of being
    /// bounced as the sessions end.
    pub(crate) fn shutting_down(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Whether [`Outbox::shutting_down`] was called.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }
}

/// How the store names `chat`.
fn outbox_chat(chat: &ChatId) -> Result<OutboxChat, StoreError> {
    let id = serde_json::to_string(chat.id())
        .map_err(|_| StoreError::Invalid("legacy id not serializable"))?;
    Ok(match chat {
        ChatId::Contact(_) => OutboxChat::Contact(id),
        ChatId::Room(_) => OutboxChat::Room(id),
    })
}

/// Releases what other, dead instances handed to their transports (every transport's);
/// how many.
async fn release_stale(store: &Store) -> u64 {
    let alive_since = crate::cluster::alive_since(crate::archive::now_micros());
    match store
        .release_stale_outbox(crate::cluster::instance_id(), alive_since)
        .await
    {
        Ok(n) => {
            if n > 0 {
                info!(
                    messages = n,
                    "messages a stopped instance had handed to its network wait to be sent again"
                );
            }
            n
        }
        Err(e) => {
            warn!(error = %e, "could not look for messages a stopped instance had handed to its network");
            0
        }
    }
}

fn read_row(seq: i64, time: i64, chat: &OutboxChat, stanza: &str) -> Option<Waiting> {
    let chat = match chat {
        OutboxChat::Contact(id) => ChatId::Contact(serde_json::from_str::<LegacyId>(id).ok()?),
        OutboxChat::Room(id) => ChatId::Room(serde_json::from_str::<LegacyId>(id).ok()?),
    };
    let stanza = stanza.parse::<Element>().ok()?;
    Some(Waiting {
        seq,
        time,
        chat,
        stanza,
    })
}

impl crate::service::Service {
    /// Bounces what waited longer than [`MAX_WAIT`] for users without a session (those
    /// with one send or bounce their own when they connect or end); run from the
    /// service's tick, a store query a minute.
    pub(crate) async fn sweep_outbox(&mut self) {
        let outbox = self.session_ctx.outbox.clone();
        if !outbox.sweep_due() {
            return;
        }
        let live: Vec<String> = self.sessions.keys().map(|u| u.to_string()).collect();
        let skip: Vec<&str> = live.iter().map(String::as_str).collect();
        let stale = match outbox.take_stale(&skip, max_wait(&*self.transport)).await {
            Ok(stale) => stale,
            Err(e) => {
                warn!(error = %e, "could not look for messages that waited too long");
                return;
            }
        };
        for (owner, held) in stale {
            tracing::info!(user = %owner, "a message waited too long for the connection: bounced");
            self.refuse(&held.stanza, waited_too_long(&self.cfg.display_name))
                .await;
        }
    }
}

/// The bounce of a message that waited longer than allowed for the network
/// `display_name` (the condition the transports' own deadlines use too).
pub(crate) fn waited_too_long(display_name: &str) -> crate::stanza::Refusal {
    crate::stanza::Refusal::wait(
        "recipient-unavailable",
        format!("Not sent: {display_name} could not be reached in time."),
    )
}

/// Whether a message kept at `time` (microseconds) waited longer than `max_wait`.
pub(crate) fn too_old(time: i64, max_wait: Duration) -> bool {
    crate::archive::now_micros().saturating_sub(time) > crate::archive::micros(max_wait)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pontoon_store::StoreKey;

    #[tokio::test]
    async fn kept_messages_come_back_in_order_and_are_forgotten() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([1; 32]))
            .await
            .unwrap();
        let outbox = Outbox::open(store.clone(), "irc").await;
        let alice: BareJid = "alice@example.org".parse().unwrap();
        assert!(!outbox.may_hold(&alice));
        let bob = ChatId::Contact(LegacyId::new("bob%50", Some("irc.example.org")));
        let room = ChatId::Room(LegacyId::new("#a%b", None));
        let m1: Element =
            "<message xmlns='jabber:client' to='x@y' id='1'><body>one</body></message>"
                .parse()
                .unwrap();
        let m2: Element = "<message xmlns='jabber:client' to='x@y' id='2' type='groupchat'><body>two</body></message>"
            .parse()
            .unwrap();
        assert!(outbox.keep(&alice, &bob, &m1).await.unwrap());
        assert!(outbox.keep(&alice, &room, &m2).await.unwrap());
        assert!(outbox.may_hold(&alice));
        // A new run sees the same.
        let again = Outbox::open(store, "irc").await;
        assert!(again.may_hold(&alice));
        let waiting = again.take_for(&alice).await.unwrap();
        assert_eq!(waiting.len(), 2);
        assert_eq!(waiting[0].chat, bob);
        assert_eq!(waiting[0].stanza, m1);
        assert_eq!(waiting[1].chat, room);
        assert_eq!(waiting[1].stanza, m2);
        assert!(!too_old(waiting[0].time, MAX_WAIT));
        again.forget(&alice, waiting[1].seq).await;
        assert!(again.take_for(&alice).await.unwrap().is_empty());
        again.drained(&alice);
        assert!(!again.may_hold(&alice));
        assert!(again.take_stale(&[], MAX_WAIT).await.unwrap().is_empty());
    }
}
