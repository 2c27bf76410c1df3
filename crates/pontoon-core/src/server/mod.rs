//! Server mode: XMPP clients log in to Pontoon itself (`nick%network@domain`) and the
//! legacy network checks their password.
//!
//! The [`Router`] sits between the c2s listener (`pontoon_xmpp::c2s`) and the services:
//! it keeps the bound resources of every user, answers what a user's own account answers
//! (roster, ping, presence to their other resources: [`account`], [`roster`]), hands every
//! stanza addressed to a transport domain to that domain's [`Service`](crate::Service) as
//! if it came over a component link, and delivers what the services send to the right
//! resources. Logins go through [`auth::LegacyAuthenticator`].
//!
//! Delivery to a bare JID: messages go to every available resource (every bound one when
//! none is available), presence to every bound resource. XEP-0280 carbons copy what one
//! resource sends or alone receives to the others that asked for it ([`carbons`]).

pub mod account;
pub mod auth;
pub mod carbons;
mod changes;
mod counts;
mod delivery;
mod forward;
pub(crate) mod offline;
pub mod roster;
pub mod storage;

use pontoon_xmpp::OutStanza;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use jid::{BareJid, Jid};
use minidom::Element;
use pontoon_store::Store;
use pontoon_xmpp::c2s::{C2sEvent, C2sHandle, ConnId, Outgoing};
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::control::ServiceControl;
use crate::stanza::Refusal;
use crate::watchdog::LoopWatch;
pub use counts::ClientCounts;
use forward::{Forwarded, Origin, ServiceLink};

pub use auth::{LOGIN_TIMEOUT, LegacyAuthenticator, LoginGuard};

// Element helpers shared with the rest of the core (server mode used them first).
pub(crate) use crate::stanza::{elem, remove_attr, set_attr};

/// The outcome of a server-mode login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The legacy login succeeded (or the session was already online with this password).
    Success,
    /// Wrong credentials, refused by the network or the policy; a readable text.
    NotAuthorized(String),
    /// The check could not be made now (network unreachable, timeout, shutting down).
    TemporaryFailure(String),
}

/// Server-mode settings of one service.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Allow logins the legacy network cannot check (an IRC server without SASL: no
    /// [`LegacyEvent::Authenticated`](crate::legacy::LegacyEvent::Authenticated)).
    pub allow_unauthenticated: bool,
    /// Told the bare JID of every user whose legacy session ended, so the router closes
    /// their streams (they log in again, which logs in to the network again).
    pub ended: mpsc::Sender<BareJid>,
    /// The XEP-0363 upload service the domain offers, if the operator configured one.
    pub uploads: Option<std::sync::Arc<crate::upload::UploadPolicy>>,
}

/// What a service keeps of a server-mode login: a salted hash of the password.
pub(crate) struct ServerAccount {
    pub(crate) salt: [u8; 16],
    pub(crate) hash: [u8; 32],
}

/// A service's server-mode state.
pub(crate) struct ServerState {
    pub(crate) options: ServerOptions,
    pub(crate) accounts: HashMap<BareJid, ServerAccount>,
}

/// One service as the router sees it.
#[derive(Clone, Debug)]
pub struct RoutedService {
    /// Its operator handle (for logouts).
    pub control: ServiceControl,
    /// Where stanzas for its domain go (what a component link would deliver).
    pub inbound: mpsc::Sender<LinkEvent>,
}

/// One bound client connection.
struct Conn {
    handle: C2sHandle,
    available: bool,
    /// XEP-0280 carbons enabled by this resource.
    carbons: bool,
    /// Closed for not reading its stanzas: what still comes for it is dropped without
    /// closing (and logging) again for each stanza; cleared when it resumes its stream.
    not_reading: std::sync::atomic::AtomicBool,
}

/// Routes stanzas between c2s connections and the services. Built by [`Router::new`],
/// driven by [`Router::run`].
///
/// The router never waits on a service or a client: services get stanzas through
/// `forward` (a bounded backlog, drained as they take them), clients through their
/// bounded queues (a client that does not read is closed). Its only waits are the store
/// (roster, private storage), bounded by each client's stanza rate.
pub struct Router {
    services: HashMap<String, ServiceLink>,
    store: Store,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<BareJid, BTreeSet<ConnId>>,
    watch: LoopWatch,
    counts: ClientCounts,
    /// When the client stanza being handled was read (where its latency starts).
    read_at: Instant,
    /// The XEP-0198 receipt of the client stanza being handled: handed to the service with
    /// it, else dropped (handled) when the router is done with it.
    handled: Option<pontoon_xmpp::handled::Handled>,
    /// Writes offline messages (`offline.rs`), started with the first.
    offline: Option<offline::Keeper>,
    /// Messages in clients' hands until they acknowledge them (`delivery.rs`).
    ledger: delivery::Ledger,
    /// With several instances, the store's change feed: roster and bookmark changes reach
    /// the user's clients through it, whichever instance made them (`changes.rs`).
    /// (Taken by `run`; `feed_on` says whether there is one.)
    changes: Option<tokio::sync::broadcast::Receiver<pontoon_store::Change>>,
    feed_on: bool,
}

impl Router {
    /// A router over `services` (one per served domain).
    pub fn new(services: impl IntoIterator<Item = RoutedService>, store: Store) -> Self {
        Router {
            ledger: delivery::Ledger::new(store.clone(), crate::cluster::instance_id().to_owned()),
            services: services
                .into_iter()
                .map(|s| (s.control.domain().to_ascii_lowercase(), ServiceLink::new(s)))
                .collect(),
            store,
            conns: HashMap::new(),
            users: HashMap::new(),
            watch: LoopWatch::new("client router"),
            counts: ClientCounts::default(),
            read_at: Instant::now(),
            handled: None,
            offline: None,
            changes: None,
            feed_on: false,
        }
    }

    /// Reports the router's progress through `watch` (made before the router, so the
    /// console can be given it first); see [`crate::watchdog`].
    pub fn with_watch(mut self, watch: LoopWatch) -> Self {
        self.watch = watch;
        self
    }

    /// With several instances on one store: roster pushes and bookmark events go out when
    /// `feed` tells of the change, on every instance (the one that made it too).
    pub fn with_changes(mut self, feed: Option<pontoon_store::ChangeFeed>) -> Self {
        self.changes = feed.map(|f| f.subscribe());
        self.feed_on = self.changes.is_some();
        self
    }

    /// Keeps `counts` up to date with the clients connected (made before the router, like
    /// `watch`).
    pub fn with_counts(mut self, counts: ClientCounts) -> Self {
        self.counts = counts;
        self
    }

    /// Runs until `shutdown`: `events` from the c2s listener, `out` from the services,
    /// `ended` users whose legacy session is over, `abandoned` logins whose connection
    /// never bound (see [`LoginGuard`]).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<C2sEvent>,
        mut out: mpsc::Receiver<OutStanza>,
        mut ended: mpsc::Receiver<BareJid>,
        mut abandoned: mpsc::Receiver<BareJid>,
        shutdown: CancellationToken,
    ) {
        let watch = self.watch.clone();
        let mut changes = self.changes.take();
        self.spawn_offline_expiry(shutdown.clone());
        loop {
            let backlogged = self.services.values().any(ServiceLink::backlogged);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // What the services send first: they must never wait on the router long.
                Some(el) = out.recv() => {
                    let _busy = watch.busy();
                    self.deliver(el.into_element()).await;
                }
                () = std::future::poll_fn(|cx| self.poll_backlogs(cx)), if backlogged => {}
                Some(ev) = events.recv() => {
                    let _busy = watch.busy();
                    self.on_event(ev).await;
                }
                Some(user) = ended.recv() => self.on_ended(&user),
                change = crate::cluster::next_change(&mut changes) => {
                    let _busy = watch.busy();
                    if change.is_none() {
                        changes = None;
                    }
                    self.on_store_change(change).await;
                }
                Some(user) = abandoned.recv() => {
                    let _busy = watch.busy();
                    self.on_abandoned(user);
                }
                else => break,
            }
        }
        // Deliver what the services say while they log users out, for a moment.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while let Ok(Some(el)) = tokio::time::timeout_at(deadline, out.recv()).await {
            self.deliver(el.into_element()).await;
        }
        for conn in self.conns.values() {
            conn.handle.close(
                Some("system-shutdown"),
                Some("The gateway is shutting down".to_owned()),
            );
        }
    }

    fn service_of(&self, domain: &str) -> Option<&RoutedService> {
        self.services
            .get(&domain.to_ascii_lowercase())
            .map(|l| &l.routed)
    }

    /// Moves backlogged stanzas into the services that have room; ready when any moved.
    fn poll_backlogs(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut ready = false;
        for link in self.services.values_mut().filter(|l| l.backlogged()) {
            ready |= link.poll_drain(cx).is_ready();
        }
        if ready {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    async fn on_event(&mut self, ev: C2sEvent) {
        match ev {
            C2sEvent::Bound {
                conn,
                jid,
                handle,
                mut token,
            } => {
                if let Some(guard) = token.downcast_mut::<LoginGuard>() {
                    guard.mark_bound();
                }
                info!(%conn, %jid, "client bound");
                self.users.entry(jid.to_bare()).or_default().insert(conn);
                self.conns.insert(
                    conn,
                    Conn {
                        handle,
                        available: false,
                        carbons: false,
                        not_reading: false.into(),
                    },
                );
                self.counts.set(self.conns.len(), self.users.len());
            }
            C2sEvent::Resumed { conn, mut token } => {
                if let Some(guard) = token.downcast_mut::<LoginGuard>() {
                    guard.mark_bound();
                }
                debug!(%conn, "client resumed its stream");
                // A new stream: whether it reads its stanzas is judged afresh.
                if let Some(c) = self.conns.get(&conn) {
                    c.not_reading
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
            }
            C2sEvent::Stanza {
                conn,
                stanza,
                read_at,
                handled,
            } => {
                self.read_at = read_at;
                self.handled = handled;
                self.on_client_stanza(conn, stanza).await;
                self.handled = None;
            }
            C2sEvent::Delivered { conn, deliveries } => self.on_delivered(conn, deliveries),
            C2sEvent::Closed {
                conn,
                reason,
                undelivered,
            } => self.on_closed(conn, &reason.to_string(), undelivered).await,
        }
    }

    async fn on_closed(&mut self, conn: ConnId, reason: &str, undelivered: Vec<Outgoing>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let full = Jid::from(c.handle.jid.clone());
        let bare = c.handle.jid.to_bare();
        info!(%conn, jid = %full, %reason, "client gone");
        let last = match self.users.get_mut(&bare) {
            Some(set) => {
                set.remove(&conn);
                set.is_empty()
            }
            None => true,
        };
        if last {
            self.users.remove(&bare);
        }
        self.counts.set(self.conns.len(), self.users.len());
        if c.available {
            // As a server does for a client that vanished: unavailable presence from it.
            let from = full.to_string();
            let mut p = elem(
                "presence",
                pontoon_xmpp::ns::CLIENT,
                &[("type", "unavailable"), ("from", &from)],
            );
            self.broadcast_own(&bare, conn, &p).await;
            set_attr(&mut p, "to", bare.domain().to_string());
            self.forward_to_service(p, Origin::Router, None).await;
        }
        // Messages the client never acknowledged go to its other resources (RFC 6120
        // section 10.5.4 treats them as sent to the bare JID); with none left, they are kept
        // for the next (`offline.rs`; one held in the store already is released there,
        // `delivery.rs`).
        for Outgoing {
            stanza: el,
            delivery,
        } in undelivered
        {
            if el.name() != "message" || el.attr("type") == Some("error") {
                continue;
            }
            match delivery {
                Some(mark) if last => self.ledger.release(mark),
                None if last => self.keep_offline(&bare, el).await,
                mark => {
                    self.deliver_marked(&bare, el, mark).await;
                }
            }
        }
        if last && let Some(s) = self.service_of(bare.domain().as_str()) {
            s.control.server_logout(bare);
        }
    }

    /// A login whose connection never bound: without another bound client, log out.
    fn on_abandoned(&mut self, user: BareJid) {
        if self.users.contains_key(&user) {
            return;
        }
        if let Some(s) = self.service_of(user.domain().as_str()) {
            info!(user = %user, "a login was not followed by a bound client: logging out");
            s.control.server_logout(user);
        }
    }

    /// A user's legacy session ended: close their streams so their clients log in again.
    fn on_ended(&mut self, user: &BareJid) {
        let Some(conns) = self.users.get(user) else {
            return;
        };
        info!(user = %user, "legacy session ended: closing the user's streams");
        for id in conns {
            if let Some(c) = self.conns.get(id) {
                c.handle.close(
                    Some("reset"),
                    Some("Your legacy session ended; log in again".to_owned()),
                );
            }
        }
    }

    /// A stanza from a client (its `from` is the bound full JID).
    async fn on_client_stanza(&mut self, conn: ConnId, stanza: Element) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let me = c.handle.jid.clone();
        let bare = me.to_bare();
        let to = match stanza.attr("to").map(Jid::new) {
            None => None,
            Some(Ok(j)) => Some(j),
            Some(Err(e)) => {
                self.reply_error(
                    conn,
                    &stanza,
                    Refusal::modify("jid-malformed", format!("Invalid address: {e}")),
                )
                .await;
                return;
            }
        };
        match to {
            None => self.on_own_account(conn, stanza).await,
            Some(to) if to.to_bare() == bare => {
                if to.resource().is_some() && stanza.name() != "iq" {
                    // To one of the user's own resources.
                    self.deliver(stanza).await;
                } else {
                    self.on_own_account(conn, stanza).await;
                }
            }
            Some(to) if self.service_of(to.domain().as_str()).is_some() => {
                if stanza.name() == "presence" && to.node().is_some() {
                    self.note_subscription(conn, &stanza, &to).await;
                }
                if stanza.name() == "message" {
                    self.carbon_sent(conn, &bare, &stanza).await;
                }
                self.forward_to_service(stanza, Origin::Client, Some(conn))
                    .await;
            }
            Some(to) => {
                let refusal = Refusal::cancel(
                    "remote-server-not-found",
                    format!(
                        "{} is not reachable from this gateway (it talks to its own networks only)",
                        to.domain()
                    ),
                );
                self.reply_error(conn, &stanza, refusal).await;
            }
        }
    }

    /// Hands a stanza to the service of its `to` domain without waiting (see
    /// `forward`); one that cannot be taken is refused to `conn`, the client it came
    /// from.
    async fn forward_to_service(&mut self, stanza: Element, origin: Origin, conn: Option<ConnId>) {
        let domain = stanza
            .attr("to")
            .and_then(|t| Jid::new(t).ok())
            .map(|j| j.domain().to_ascii_lowercase())
            .unwrap_or_default();
        let Some(link) = self.services.get_mut(&domain) else {
            debug!(%domain, "no service for stanza");
            return;
        };
        // The router's own stanzas start now; a client's when it was read.
        let (read_at, handled) = match origin {
            Origin::Router => (Instant::now(), None),
            Origin::Client => (self.read_at, self.handled.take()),
            Origin::Availability => (self.read_at, None),
        };
        let refused = match link.forward(stanza, read_at, handled, origin) {
            Forwarded::Queued => return,
            Forwarded::Stopped => {
                warn!(%domain, "the service is not running; stanza refused");
                return;
            }
            Forwarded::Full(stanza) => stanza,
        };
        warn!(%domain, origin = %origin.as_str(), "the service is too far behind; stanza refused");
        if let Some(conn) = conn {
            let refusal = Refusal::wait(
                "resource-constraint",
                "The gateway is too busy to take this now; try again in a moment.",
            );
            self.reply_error(conn, &refused, refusal).await;
        }
    }

    /// Sends the error reply for `stanza` to the client on `conn`.
    pub(crate) async fn reply_error(&self, conn: ConnId, stanza: &Element, refusal: Refusal) {
        if let Some(reply) = refusal.reply_to(stanza) {
            self.send_to_conn(conn, reply).await;
        }
    }

    /// Writes `el` to one connection without waiting: a client that does not read its
    /// (bounded) queue must not hold up everyone else, so it is closed with
    /// `resource-constraint` instead (it may resume and get what it acknowledged).
    pub(crate) async fn send_to_conn(&self, conn: ConnId, el: Element) {
        self.send_marked(conn, el.into());
    }

    /// [`Router::send_to_conn`] with the stanza's delivery mark (`delivery.rs`); false when
    /// the client did not take it.
    fn send_marked(&self, conn: ConnId, out: Outgoing) -> bool {
        use tokio::sync::mpsc::error::TrySendError;
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        match c.handle.out.try_send(out) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => {
                debug!(%conn, "connection gone; stanza dropped");
                false
            }
            Err(TrySendError::Full(_)) => {
                if c.not_reading
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    debug!(%conn, "client closed for not reading; stanza dropped");
                    return false;
                }
                let closing = c.handle.close(
                    Some("resource-constraint"),
                    Some("Too many stanzas are waiting for this client".to_owned()),
                );
                if closing {
                    warn!(%conn, jid = %c.handle.jid, "client does not read its stanzas; closing it");
                }
                false
            }
        }
    }

    /// Sends `p` (from the user's resource `from`) to the user's other bound resources.
    async fn broadcast_own(&self, bare: &BareJid, from: ConnId, p: &Element) {
        let Some(set) = self.users.get(bare) else {
            return;
        };
        for id in set.iter().filter(|id| **id != from) {
            if let Some(c) = self.conns.get(id) {
                let mut copy = p.clone();
                set_attr(&mut copy, "to", c.handle.jid.to_string());
                self.send_to_conn(*id, copy).await;
            }
        }
    }

    /// Delivers a stanza addressed to a user (from a service, or from another resource).
    async fn deliver(&mut self, el: Element) {
        let Some(to) = el.attr("to").and_then(|t| Jid::new(t).ok()) else {
            debug!(name = el.name(), "stanza without a valid 'to' dropped");
            return;
        };
        let bare = to.to_bare();
        // The roster follows the legacy contact list even before a client is bound (the
        // legacy login comes first in server mode).
        if el.name() == "presence" && self.on_contact_subscription(&bare, &el).await {
            return;
        }
        if !self.users.contains_key(&bare) {
            // Kept for the user's next client, if worth keeping (`offline.rs`).
            if el.name() == "message" {
                self.keep_offline(&bare, el).await;
            } else {
                debug!(to = %to, name = el.name(), "no client bound for stanza; dropped");
            }
            return;
        }
        // What the user sent from another client of a network: a carbon, for the resources
        // that asked for carbons.
        if self.sent_elsewhere(&bare, &el).await {
            return;
        }
        // Carbons are for messages from outside the user's account.
        let foreign = el.name() == "message"
            && el
                .attr("from")
                .and_then(|f| Jid::new(f).ok())
                .is_none_or(|f| f.to_bare() != bare);
        // Held in the store until a client acknowledges it (`delivery.rs`).
        let mark = self.ledger.hold(&bare, &el);
        if let Some(res) = to.resource() {
            let target = self.users.get(&bare).and_then(|set| {
                set.iter()
                    .find(|id| {
                        self.conns
                            .get(id)
                            .is_some_and(|c| c.handle.jid.resource() == res)
                    })
                    .copied()
            });
            match target {
                Some(id) => {
                    let out = Outgoing {
                        stanza: el.clone(),
                        delivery: mark,
                    };
                    if !self.send_marked(id, out)
                        && let Some(mark) = mark
                    {
                        self.ledger.release(mark);
                    }
                    if foreign {
                        self.carbon_received(&bare, &[id], &el).await;
                    }
                }
                // RFC 6121 section 8.5.3.2: a message to a gone resource goes to the bare
                // JID; other stanzas are dropped.
                None if el.name() == "message" => {
                    let got = self.deliver_marked(&bare, el.clone(), mark).await;
                    if foreign {
                        self.carbon_received(&bare, &got, &el).await;
                    }
                }
                None => debug!(to = %to, "resource gone; stanza dropped"),
            }
            return;
        }
        if foreign {
            let got = self.deliver_marked(&bare, el.clone(), mark).await;
            self.carbon_received(&bare, &got, &el).await;
        } else {
            self.deliver_marked(&bare, el, mark).await;
        }
    }

    /// Delivers to the bare JID: messages to the available resources (every bound one if
    /// none is available), everything else to every bound resource. Returns the resources
    /// it went to.
    pub(crate) async fn deliver_to_bare(&self, bare: &BareJid, el: Element) -> Vec<ConnId> {
        self.send_to_bare(bare, el, None)
    }

    /// [`Router::deliver_to_bare`] with the message's delivery mark: released to the
    /// offline queue when no client took it (`delivery.rs`).
    async fn deliver_marked(
        &mut self,
        bare: &BareJid,
        el: Element,
        mark: Option<u64>,
    ) -> Vec<ConnId> {
        let got = self.send_to_bare(bare, el, mark);
        if got.is_empty()
            && let Some(mark) = mark
        {
            self.ledger.release(mark);
        }
        got
    }

    fn send_to_bare(&self, bare: &BareJid, el: Element, mark: Option<u64>) -> Vec<ConnId> {
        let mut got = Vec::new();
        let Some(set) = self.users.get(bare) else {
            return got;
        };
        if el.name() == "iq" {
            debug!(to = %bare, "iq to a bare JID dropped");
            return got;
        }
        let any_available = set
            .iter()
            .any(|id| self.conns.get(id).is_some_and(|c| c.available));
        for id in set {
            let Some(c) = self.conns.get(id) else {
                continue;
            };
            if el.name() == "message" && any_available && !c.available {
                continue;
            }
            let out = Outgoing {
                stanza: el.clone(),
                delivery: mark,
            };
            if self.send_marked(*id, out) {
                got.push(*id);
            }
        }
        got
    }
}
