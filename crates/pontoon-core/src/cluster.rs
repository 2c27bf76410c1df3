//! Several instances on one PostgreSQL store: each session has one owner instance.
//!
//! An instance joins with a random id ([`Cluster::join`]) and keeps a heartbeat in the
//! store every [`HEARTBEAT_EVERY`]; it is alive to the others for [`LEASE_TIME`] after its
//! last one. A session takes the lease of its (transport, user) before it logs in to the
//! network (`session/lease.rs`) and gives it up when it ends, so one account has one legacy
//! connection however many instances serve it. When an instance dies (`kill -9`), its
//! leases lapse with its heartbeat and the sessions can start on another instance.
//!
//! An instance that cannot renew its heartbeat for [`FENCE_AFTER`] while other instances
//! were alive ends its sessions ([`Cluster::fence`]), before its leases lapse and another
//! instance may start them: cut off from the database but not from the networks, it would
//! otherwise keep a second legacy connection for the same account. Alone, it keeps them
//! (nobody could take them over; the database's outage is no reason to log users out).
//!
//! A SQLite store is one instance's: no cluster, no leases (`None` wherever a cluster is
//! optional).

use std::sync::Arc;
use std::time::Duration;

use pontoon_store::{Change, Lease, Store, StoreError};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How long an instance counts as alive after its last heartbeat: its sessions' leases
/// lapse this long after it died.
pub const LEASE_TIME: Duration = Duration::from_secs(10);

/// How often an instance renews its heartbeat (a third of [`LEASE_TIME`], so two missed
/// beats are survivable).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);

/// How long an instance goes without renewing its heartbeat before it ends its sessions
/// (when others were alive): half of [`LEASE_TIME`], after which another may take them.
pub const FENCE_AFTER: Duration = Duration::from_secs(5);

/// How long one heartbeat may take: less than [`HEARTBEAT_EVERY`], so that a database that
/// does not answer is counted as failing on time.
const BEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long after their last heartbeat dead instances are forgotten.
const FORGET_DEAD_AFTER: Duration = Duration::from_secs(86_400);

/// This instance, among the others on the store.
#[derive(Debug)]
pub struct Cluster {
    store: Store,
    id: String,
    address: String,
    /// True while this instance has ended its sessions for want of a heartbeat
    /// ([`Cluster::fence`]).
    fenced: watch::Sender<bool>,
}

/// The earliest heartbeat (microseconds) of an instance still alive at `now`: one whose
/// last heartbeat is older is dead, its leases and what it held free to take.
pub fn alive_since(now: i64) -> i64 {
    now - crate::archive::micros(LEASE_TIME)
}

/// This process's id among the store's instances: host, process id and a random part (a
/// restarted process is another instance). What the process holds for its clients and
/// transports is marked with it (`server::delivery`, `crate::outbox`), with or without a
/// cluster, so that a later run knows it is not its own.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        format!(
            "{}{}{}-{:08x}",
            host,
            if host.is_empty() { "" } else { "-" },
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

impl Cluster {
    /// Joins the store's instances; `address` is where clients may be sent (server mode's
    /// listener as others reach it; `""` for none).
    pub async fn join(store: Store, address: &str) -> Result<Arc<Cluster>, StoreError> {
        let id = instance_id().to_owned();
        store
            .heartbeat(&id, address, crate::archive::now_micros())
            .await?;
        info!(instance = %id, "joined the store's instances (sessions are leased)");
        Ok(Arc::new(Cluster {
            store,
            id,
            address: address.to_owned(),
            fenced: watch::Sender::new(false),
        }))
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Says when this instance must not serve sessions (true: its heartbeat failed for
    /// [`FENCE_AFTER`] while other instances were alive; the services end their sessions)
    /// and when it may again (false: the heartbeat is renewed).
    pub fn fence(&self) -> watch::Receiver<bool> {
        self.fenced.subscribe()
    }

    /// One heartbeat, given up after [`BEAT_TIMEOUT`] (a database that does not answer
    /// must not hold the fence back), and whether other live instances are there (who could
    /// take this one's sessions over).
    async fn beat(&self, others: &mut Vec<String>) -> Result<bool, String> {
        let now = crate::archive::now_micros();
        let alive_since = alive_since(now);
        let beat = async {
            self.store.heartbeat(&self.id, &self.address, now).await?;
            let live = self.store.live_instances(alive_since).await?;
            let live: Vec<String> = live
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| *id != self.id)
                .collect();
            if others.iter().any(|was| !live.contains(was)) {
                self.end_dead_spans(now, alive_since).await;
            }
            *others = live;
            Ok::<bool, StoreError>(!others.is_empty())
        };
        match tokio::time::timeout(BEAT_TIMEOUT, beat).await {
            Ok(Ok(others)) => Ok(others),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", BEAT_TIMEOUT.as_secs())),
        }
    }

    /// An instance is gone (died, or stopped): whoever it had in a room is in it no longer,
    /// for what they may read of the room's archive (`pontoon_store::ArchiveWrite::EndSpans`).
    /// Those it had rejoin through their sessions' takeover, from the takeover on.
    async fn end_dead_spans(&self, now: i64, alive_since: i64) {
        let end = pontoon_store::ArchiveWrite::EndSpans {
            transport: None,
            at: now,
            alive_since,
            instance: self.id.clone(),
        };
        match self.store.write_archive(&[end]).await {
            Ok(()) => {
                info!("an instance is gone: its users' presence in rooms ended in the archive")
            }
            Err(e) => {
                warn!(error = %e, "could not end a dead instance's room spans in the archive")
            }
        }
    }

    /// Beats until `shutdown` (then [`Cluster::leave`] once the services have stopped).
    pub fn spawn_heartbeat(
        self: &Arc<Self>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            let mut beats: u64 = 0;
            // Said once per outage, not every 3 s.
            let mut failing = false;
            let mut last_ok = tokio::time::Instant::now();
            // At the last heartbeat, other instances were alive.
            let mut others = false;
            // Which (to see one die).
            let mut live_others = Vec::new();
            loop {
                // The fence falls on time, not at the next heartbeat's failure.
                let fence_due = others && !*me.fenced.borrow();
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    () = tokio::time::sleep_until(last_ok + FENCE_AFTER), if fence_due => {
                        warn!(
                            "no heartbeat for {} s while other instances were alive: ending this instance's sessions before another takes them over",
                            FENCE_AFTER.as_secs()
                        );
                        me.fenced.send_replace(true);
                        continue;
                    }
                }
                match me.beat(&mut live_others).await {
                    Ok(now_others) => {
                        if now_others != others {
                            if now_others {
                                info!(
                                    "other instances are alive: this one ends its sessions if it loses the database"
                                );
                            } else {
                                info!(
                                    "no other instance is alive: this one keeps its sessions through a database outage"
                                );
                            }
                        }
                        others = now_others;
                        last_ok = tokio::time::Instant::now();
                        if failing {
                            failing = false;
                            info!("this instance's heartbeat is renewed again");
                        }
                        me.fenced.send_if_modified(|f| std::mem::replace(f, false));
                    }
                    Err(e) if !failing => {
                        failing = true;
                        warn!(error = %e, "could not renew this instance's heartbeat: after 10 s other instances may take its sessions over");
                    }
                    Err(_) => {}
                }
                beats += 1;
                // Once an hour or so.
                if beats % 1200 == 1 {
                    let before =
                        crate::archive::now_micros() - crate::archive::micros(FORGET_DEAD_AFTER);
                    match me.store.forget_dead_instances(before).await {
                        Ok(0) => {}
                        Ok(n) => info!(forgotten = n, "instances dead for a day forgotten"),
                        Err(e) => debug!(error = %e, "could not forget dead instances"),
                    }
                }
            }
        })
    }

    /// Takes the lease of `user`'s session on `transport`.
    pub async fn acquire(&self, transport: &str, user: &str) -> Result<Lease, StoreError> {
        let alive_since = alive_since(crate::archive::now_micros());
        self.store
            .acquire_lease(transport, user, &self.id, alive_since)
            .await
    }

    /// Gives up the lease of `user`'s session on `transport`.
    pub async fn release(&self, transport: &str, user: &str) {
        if let Err(e) = self.store.release_lease(transport, user, &self.id).await {
            // It lapses with this instance, or is taken over: nothing is lost.
            warn!(error = %e, "could not give up a session's lease");
        }
    }

    /// Asks the instance holding `user`'s session on `transport` to end it, so that it
    /// can start here (the user logged in to this instance).
    pub async fn ask_release(&self, transport: &str, user: &str) {
        if let Err(e) = self.store.ask_release(transport, user, &self.id).await {
            warn!(error = %e, "could not ask for a session to move here");
        }
    }

    /// Leaves: every lease of this instance is free at once.
    pub async fn leave(&self) {
        match self.store.leave_cluster(&self.id).await {
            Ok(()) => info!(instance = %self.id, "left the store's instances"),
            Err(e) => {
                warn!(error = %e, "could not leave the store's instances; its leases lapse with its heartbeat")
            }
        }
    }
}

/// The next word of [`Cluster::fence`] (never, without a cluster).
pub async fn next_fence(fence: &mut Option<watch::Receiver<bool>>) -> bool {
    let Some(rx) = fence.as_mut() else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *fence = None;
        return std::future::pending().await;
    }
    *rx.borrow_and_update()
}

/// The next change a subscription to the store's change feed tells (a lagging one reads as
/// [`Change::Resync`]); `None` once the feed is gone. Never ready without a subscription.
pub async fn next_change(feed: &mut Option<broadcast::Receiver<Change>>) -> Option<Change> {
    let Some(rx) = feed.as_mut() else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(change) => Some(change),
        Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::Resync),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}
