//! The bound stream: stanzas both ways, idle pings, and XEP-0198 stream
//! management (acknowledgements and resumption).
//!
//! A [`Session`] is what survives a broken TCP connection when the client
//! enabled resumption: the connection id, the bound JID, the application's
//! queue and control channel, and the XEP-0198 counters with the stanzas
//! sent but not acknowledged. While attached it is owned by its
//! connection task; when the connection breaks it is parked in the
//! resume table ([`ResumeSlot`]) until a new stream of the same account
//! takes it (`<resume/>`) or the resume timeout ends it. An attached
//! session can be taken over too (the client noticed the broken
//! connection before the server did): the new stream asks the old task to
//! hand it over through the control channel, under the table's lock so
//! that the request cannot be lost to a concurrent detach.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jid::{BareJid, FullJid, ResourcePart};
use minidom::Element;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout};

use super::negotiate::{Authed, Wire, iq_result, other_frame, read_stop};
use super::{
    BoundEntry, C2sEvent, C2sHandle, CloseReason, ConnId, Control, Shared, after, lock, random_id,
    set_attr,
};
use crate::handled::{Handled, Receipts};
use crate::ns;
use crate::reader::Frame;
use crate::writer;

/// Capacity of a connection's control channel.
const CONTROL_QUEUE: usize = 8;
/// A batch of stanzas written before one flush is cut after this many...
const BATCH_MAX_STANZAS: usize = 64;
/// ... or this many bytes.
const BATCH_MAX_BYTES: usize = 64 * 1024;
/// Scratch serialization buffers above this capacity are released.
const SCRATCH_KEEP: usize = 64 * 1024;
/// How long a resuming stream waits for the old connection's task to hand
/// the session over.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an acknowledgement waits for the application to handle what it covers; after
/// it, `h` says what is handled by then (the client re-sends the rest if the stream
/// breaks).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Generations of detached sessions, so an expiry timer never ends a
/// session that was resumed and detached again meanwhile.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// XEP-0198 state of a session.
#[derive(Debug)]
struct SmState {
    /// The resumption id; `None` when the client did not ask for
    /// resumption.
    id: Option<String>,
    /// Stanzas received from the client, and which of them the application has handled
    /// (the `h` we report, `crate::handled`).
    receipts: Arc<Receipts>,
    /// The client asked for an acknowledgement while stanzas were still in the
    /// application's hands: `<a/>` goes out when they are handled, or at this time.
    ack_owed: Option<tokio::time::Instant>,
    /// Stanzas sent to the client.
    sent: u32,
    /// Stanzas sent and not acknowledged, oldest first; the flag is false
    /// for stanzas the server generated itself (answers to the legacy
    /// session iq, ...), which count for `h` but are not the
    /// application's to bounce.
    unacked: VecDeque<(Element, bool)>,
    /// Whether we asked for an acknowledgement and have none yet.
    r_pending: bool,
}

/// Why a client's `<a h='...'/>` cannot be right.
#[derive(Debug, PartialEq, Eq)]
enum AckError {
    /// It acknowledges more than was sent (XEP-0198's `handled-count-too-high`).
    TooHigh { h: u32, sent: u32 },
    /// It is below what the client acknowledged before: counts never go backwards.
    Backwards { h: u32, acked: u32 },
}

impl AckError {
    /// The stream error's text, in words for whoever debugs the client.
    fn text(&self) -> String {
        match self {
            AckError::TooHigh { h, sent } => {
                format!("handled-count-too-high: you acknowledged {h} stanzas, {sent} were sent")
            }
            AckError::Backwards { h, acked } => format!(
                "you acknowledged {h} stanzas after acknowledging {acked}: acknowledgements never go backwards"
            ),
        }
    }
}

impl SmState {
    /// Apply the client's `h` (counts wrap at 2^32, as XEP-0198 says).
    fn ack(&mut self, h: u32) -> Result<(), AckError> {
        let len = u32::try_from(self.unacked.len()).unwrap_or(u32::MAX);
        let acked_before = self.sent.wrapping_sub(len);
        let newly = h.wrapping_sub(acked_before);
        if newly > len {
            // Behind what was acknowledged (within half the counter) or beyond what was sent.
            return Err(if acked_before.wrapping_sub(h) <= u32::MAX / 2 {
                AckError::Backwards {
                    h,
                    acked: acked_before,
                }
            } else {
                AckError::TooHigh { h, sent: self.sent }
            });
        }
        self.unacked.drain(..newly as usize);
        self.r_pending = false;
        Ok(())
    }
}

/// A bound session (see the module docs).
#[derive(Debug)]
pub(super) struct Session {
    conn: ConnId,
    jid: FullJid,
    out_rx: mpsc::Receiver<Element>,
    ctl_rx: mpsc::Receiver<Control>,
    ctl_tx: mpsc::Sender<Control>,
    sm: Option<SmState>,
}

/// An entry of the resume table.
pub(super) struct ResumeSlot {
    bare: BareJid,
    conn: ConnId,
    state: SlotState,
}

enum SlotState {
    /// A connection task owns the session; this reaches it.
    Attached(mpsc::Sender<Control>),
    /// Waiting to be resumed.
    Detached {
        session: Box<Session>,
        generation: u64,
    },
}

/// How the pump of a bound stream ended.
enum End {
    /// The session is over.
    Finish(CloseReason),
    /// The connection broke: keep the session for resumption if it can be.
    Detach(CloseReason),
    /// Another stream resumed the session.
    TakenOver(oneshot::Sender<Box<Session>>),
}

/// Register the bound JID, answer the bind request, tell the application,
/// and run the stream.
pub(super) async fn bind(
    shared: Arc<Shared>,
    mut wire: Wire,
    conn: ConnId,
    authed: Authed,
    resource: ResourcePart,
    iq_id: String,
) {
    let Authed { jid, token } = authed;
    let full = jid.with_resource(&resource);
    let (out_tx, out_rx) = mpsc::channel(shared.cfg.out_queue);
    let (ctl_tx, ctl_rx) = mpsc::channel(CONTROL_QUEUE);
    let old = lock(&shared.bound).insert(
        full.clone(),
        BoundEntry {
            conn,
            ctl: ctl_tx.clone(),
            sm_id: None,
        },
    );
    if let Some(old) = old {
        tracing::info!(jid = %full, old = %old.conn, "c2s: resource bound again; replacing the older login");
        replace(&shared, old).await;
    }
    let mut bind = Element::bare("bind", ns::BIND);
    let mut jid_el = Element::bare("jid", ns::BIND);
    jid_el.append_text(full.to_string());
    bind.append_child(jid_el);
    let session = Session {
        conn,
        jid: full.clone(),
        out_rx,
        ctl_rx,
        ctl_tx: ctl_tx.clone(),
        sm: None,
    };
    if let Err(e) = wire.send_el(&iq_result(&iq_id, Some(bind))).await {
        finish(&shared, Box::new(session), CloseReason::ConnectionLost(e)).await;
        return;
    }
    tracing::info!(jid = %full, "c2s: bound");
    let handle = C2sHandle {
        conn,
        jid: full.clone(),
        out: out_tx,
        ctl: ctl_tx,
    };
    let bound = C2sEvent::Bound {
        conn,
        jid: full,
        token,
        handle,
    };
    if shared.events.send(bound).await.is_err() {
        wire.fail("system-shutdown", None).await;
        finish(&shared, Box::new(session), CloseReason::ClosedByApplication).await;
        return;
    }
    run(shared, wire, Box::new(session)).await;
}

/// Continue a session taken over by a `<resume/>` on a new stream.
pub(super) async fn resume(
    shared: Arc<Shared>,
    mut wire: Wire,
    authed: Authed,
    mut session: Box<Session>,
    h: u32,
) {
    let Some(sm) = session.sm.as_mut() else {
        finish(&shared, session, CloseReason::ResumeExpired).await;
        return;
    };
    if sm.ack(h).is_err() {
        wire.fail("undefined-condition", Some("handled-count-too-high"))
            .await;
        finish(
            &shared,
            session,
            CloseReason::ProtocolError("handled-count-too-high".into()),
        )
        .await;
        return;
    }
    // What the old stream delivered is counted once the application has handled it: the
    // client then re-sends only what never reached it.
    let h = sm.receipts.settle(ACK_WAIT).await;
    sm.ack_owed = None;
    let mut resumed = Element::bare("resumed", ns::SM);
    set_attr(&mut resumed, "previd", sm.id.clone().unwrap_or_default());
    set_attr(&mut resumed, "h", h.to_string());
    // Re-send what the client did not acknowledge, then ask for an ack.
    let mut bytes = writer::serialize(&resumed).unwrap_or_default();
    for (el, _) in &sm.unacked {
        if let Err(e) = writer::serialize_into(el, &mut bytes) {
            tracing::warn!(error = %e, "c2s: dropping unserializable stanza on resume");
        }
    }
    if !sm.unacked.is_empty() {
        bytes.extend_from_slice(b"<r xmlns='urn:xmpp:sm:3'/>");
        sm.r_pending = true;
    }
    if let Err(e) = wire.send(&bytes).await {
        detach(&shared, session, CloseReason::ConnectionLost(e)).await;
        return;
    }
    tracing::info!(jid = %session.jid, "c2s: session resumed");
    let ev = C2sEvent::Resumed {
        conn: session.conn,
        token: authed.token,
    };
    if shared.events.send(ev).await.is_err() {
        wire.fail("system-shutdown", None).await;
        finish(&shared, session, CloseReason::ClosedByApplication).await;
        return;
    }
    run(shared, wire, session).await;
}

/// End an older login of the same full JID (RFC 6120 section 7.7.2.2:
/// the server may terminate the old session with `conflict`).
async fn replace(shared: &Arc<Shared>, old: BoundEntry) {
    if let Some(id) = &old.sm_id {
        let parked = {
            let mut table = lock(&shared.resume);
            let detached = table.get(id).is_some_and(|s| {
                s.conn == old.conn && matches!(s.state, SlotState::Detached { .. })
            });
            if detached { table.remove(id) } else { None }
        };
        if let Some(ResumeSlot {
            state: SlotState::Detached { session, .. },
            ..
        }) = parked
        {
            finish(shared, session, CloseReason::Replaced).await;
            return;
        }
    }
    let _ = old.ctl.try_send(Control::Close {
        condition: Some("conflict"),
        text: Some("Replaced by a new login with the same resource".into()),
        reason: CloseReason::Replaced,
    });
}

/// Take the session `previd` of account `bare` for resumption.
pub(super) async fn take_for_resume(
    shared: &Arc<Shared>,
    bare: &BareJid,
    previd: &str,
) -> Option<Box<Session>> {
    let rx = {
        let mut table = lock(&shared.resume);
        let slot = table.get_mut(previd)?;
        if slot.bare != *bare {
            return None;
        }
        match &slot.state {
            SlotState::Detached { .. } => {
                let SlotState::Detached { session, .. } =
                    std::mem::replace(&mut slot.state, SlotState::Attached(mpsc::channel(1).0))
                else {
                    return None;
                };
                slot.state = SlotState::Attached(session.ctl_tx.clone());
                return Some(session);
            }
            SlotState::Attached(ctl) => {
                // Sent under the lock: a concurrent detach drains the
                // channel under the same lock and hands the session over.
                let (tx, rx) = oneshot::channel();
                ctl.try_send(Control::Takeover(tx)).ok()?;
                rx
            }
        }
    };
    timeout(TAKEOVER_TIMEOUT, rx).await.ok()?.ok()
}

/// Run the bound stream until it ends, then finish, park or hand over the
/// session.
async fn run(shared: Arc<Shared>, mut wire: Wire, mut session: Box<Session>) {
    match pump(&shared, &mut wire, &mut session).await {
        End::Finish(reason) => finish(&shared, session, reason).await,
        End::Detach(reason) => detach(&shared, session, reason).await,
        End::TakenOver(tx) => {
            tracing::info!(jid = %session.jid, "c2s: session taken over by a new connection");
            if let Err(session) = tx.send(session) {
                finish(
                    &shared,
                    session,
                    CloseReason::ConnectionLost("resumption abandoned".into()),
                )
                .await;
            }
        }
    }
}

/// Park a session whose connection broke, if it can be resumed; else end it.
async fn detach(shared: &Arc<Shared>, session: Box<Session>, reason: CloseReason) {
    let resumable = session.sm.as_ref().and_then(|s| s.id.clone());
    let Some(id) = resumable.filter(|_| !shared.cfg.sm_resume_timeout.is_zero()) else {
        finish(shared, session, reason).await;
        return;
    };
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let bare = session.jid.to_bare();
    let conn = session.conn;
    let mut held = Some(session);
    let early = {
        let mut table = lock(&shared.resume);
        // Requests that arrived before the lock win over parking.
        let mut early: Option<Result<oneshot::Sender<Box<Session>>, CloseReason>> = None;
        if let Some(session) = held.as_mut() {
            while let Ok(msg) = session.ctl_rx.try_recv() {
                match msg {
                    Control::Takeover(tx) => early = Some(Ok(tx)),
                    Control::Close { reason, .. } => early = Some(Err(reason)),
                }
            }
        }
        if early.is_none() {
            let parked = table
                .values()
                .filter(|s| matches!(s.state, SlotState::Detached { .. }))
                .count();
            if parked >= shared.cfg.max_detached {
                early = Some(Err(reason.clone()));
            } else if let Some(session) = held.take() {
                table.insert(
                    id.clone(),
                    ResumeSlot {
                        bare,
                        conn,
                        state: SlotState::Detached {
                            session,
                            generation,
                        },
                    },
                );
            }
        }
        early
    };
    let Some(session) = held else {
        tracing::info!(%reason, "c2s: connection lost; session waits for resumption");
        let shared = shared.clone();
        let wait = shared.cfg.sm_resume_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let expired = {
                let mut table = lock(&shared.resume);
                let due = table.get(&id).is_some_and(|s| {
                    matches!(s.state, SlotState::Detached { generation: g, .. } if g == generation)
                });
                if due { table.remove(&id) } else { None }
            };
            if let Some(ResumeSlot {
                state: SlotState::Detached { session, .. },
                ..
            }) = expired
            {
                finish(&shared, session, CloseReason::ResumeExpired).await;
            }
        });
        return;
    };
    match early {
        Some(Ok(tx)) => {
            if let Err(session) = tx.send(session) {
                finish(shared, session, reason).await;
            }
        }
        Some(Err(why)) => finish(shared, session, why).await,
        None => finish(shared, session, reason).await,
    }
}

/// End every session waiting for resumption (server shutdown).
pub(super) async fn finish_detached(shared: &Arc<Shared>) {
    let parked: Vec<Box<Session>> = {
        let mut table = lock(&shared.resume);
        let ids: Vec<String> = table
            .iter()
            .filter(|(_, s)| matches!(s.state, SlotState::Detached { .. }))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| match table.remove(id) {
                Some(ResumeSlot {
                    state: SlotState::Detached { session, .. },
                    ..
                }) => Some(session),
                _ => None,
            })
            .collect()
    };
    for session in parked {
        finish(shared, session, CloseReason::ClosedByApplication).await;
    }
}

/// End a session for good: unregister it and report `Closed` with what the
/// client did not get.
async fn finish(shared: &Arc<Shared>, mut session: Box<Session>, reason: CloseReason) {
    {
        let mut bound = lock(&shared.bound);
        if bound
            .get(&session.jid)
            .is_some_and(|e| e.conn == session.conn)
        {
            bound.remove(&session.jid);
        }
    }
    if let Some(id) = session.sm.as_ref().and_then(|s| s.id.as_ref()) {
        let mut table = lock(&shared.resume);
        if table.get(id).is_some_and(|s| s.conn == session.conn) {
            table.remove(id);
        }
    }
    let mut undelivered: Vec<Element> = session
        .sm
        .take()
        .map(|s| {
            s.unacked
                .into_iter()
                .filter_map(|(el, app)| app.then_some(el))
                .collect()
        })
        .unwrap_or_default();
    session.out_rx.close();
    while let Ok(el) = session.out_rx.try_recv() {
        undelivered.push(el);
    }
    tracing::info!(jid = %session.jid, %reason, undelivered = undelivered.len(), "c2s: session closed");
    let _ = shared
        .events
        .send(C2sEvent::Closed {
            conn: session.conn,
            reason,
            undelivered,
        })
        .await;
}

/// An `<a h=.../>`.
fn ack(h: u32) -> Element {
    let mut a = Element::bare("a", ns::SM);
    set_attr(&mut a, "h", h.to_string());
    a
}

/// Waits until the stanzas read before an `<r/>` are handled (or the time allowed for
/// it has passed); forever when no acknowledgement is owed.
async fn owed_ack(owed: Option<(Arc<Receipts>, tokio::time::Instant)>) -> u32 {
    match owed {
        Some((receipts, until)) => {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            receipts.settle(left).await
        }
        None => std::future::pending().await,
    }
}

fn sm_failed(condition: &str) -> Element {
    let mut failed = Element::bare("failed", ns::SM);
    failed.append_child(Element::bare(condition, ns::XMPP_STANZAS));
    failed
}

/// What to do after handling one inbound frame.
enum Step {
    Continue,
    /// Hand this stanza to the application.
    Deliver(Element, Option<Handled>),
    End(End),
}

/// Pump a bound stream: inbound stanzas to the application (only while
/// the event queue has room and the client is within its stanza rate, so a
/// slow application or a flooding client slows that client down through
/// TCP, and no one else), outbound stanzas to the client (only while the
/// XEP-0198 unacknowledged queue has room), control messages, and the idle
/// timer.
async fn pump(shared: &Arc<Shared>, wire: &mut Wire, session: &mut Session) -> End {
    let cfg = &shared.cfg;
    // With the time it was read.
    let mut pending: Option<(Element, std::time::Instant, Option<Handled>)> = None;
    let mut rate = (cfg.stanzas_per_second > 0.0).then(|| {
        crate::rate::TokenBucket::new(
            cfg.stanza_burst,
            cfg.stanzas_per_second,
            tokio::time::Instant::now(),
        )
    });
    // Over its rate: the client is not read until then (the element that
    // went over is paid for when the time comes).
    let mut paused_until: Option<tokio::time::Instant> = None;
    let mut seen = wire.bytes_read();
    let mut idle_at = after(cfg.idle_timeout);
    let mut pinged = false;
    let mut ping_id: Option<String> = None;
    let mut scratch = Vec::new();
    loop {
        let can_take = session
            .sm
            .as_ref()
            .is_none_or(|s| s.unacked.len() < cfg.sm_max_unacked);
        let owed = session
            .sm
            .as_ref()
            .and_then(|s| Some((s.receipts.clone(), s.ack_owed?)));
        tokio::select! {
            biased;
            ctl = session.ctl_rx.recv() => match ctl {
                Some(Control::Close { condition, text, reason }) => {
                    match condition {
                        Some(c) => wire.fail(c, text.as_deref()).await,
                        None => wire.close().await,
                    }
                    return End::Finish(reason);
                }
                Some(Control::Takeover(tx)) => {
                    wire.fail("conflict", Some("This session was resumed on another connection")).await;
                    return End::TakenOver(tx);
                }
                // The session holds a sender itself; cannot happen.
                None => {}
            },
            h = owed_ack(owed) => {
                if let Some(sm) = session.sm.as_mut() {
                    sm.ack_owed = None;
                }
                if let Err(e) = wire.send_el(&ack(h)).await {
                    return End::Detach(CloseReason::ConnectionLost(e));
                }
            },
            permit = shared.events.reserve(), if pending.is_some() => match permit {
                Ok(permit) => {
                    if let Some((stanza, read_at, handled)) = pending.take() {
                        permit.send(C2sEvent::Stanza { conn: session.conn, stanza, read_at, handled });
                    }
                }
                Err(_) => {
                    wire.fail("system-shutdown", None).await;
                    return End::Finish(CloseReason::ClosedByApplication);
                }
            },
            // What the client is owed goes out before more of what it sends is read: a
            // client that writes without pause is answered as it goes, rather than
            // filling its own queue until it is closed.
            el = session.out_rx.recv(), if can_take => match el {
                Some(el) => {
                    if let Err(e) = write_batch(wire, session, el, cfg.sm_max_unacked, &mut scratch).await {
                        return End::Detach(CloseReason::ConnectionLost(e));
                    }
                }
                None => {
                    wire.close().await;
                    return End::Finish(CloseReason::ClosedByApplication);
                }
            },
            () = crate::rate::sleep_until_some(paused_until) => {
                paused_until = rate
                    .as_mut()
                    .and_then(|b| b.take_or_next(tokio::time::Instant::now()));
            },
            frame = wire.reader.next(), if pending.is_none() && paused_until.is_none() => {
                seen = wire.bytes_read();
                idle_at = after(cfg.idle_timeout);
                pinged = false;
                paused_until = rate
                    .as_mut()
                    .and_then(|b| b.take_or_next(tokio::time::Instant::now()));
                let step = match frame {
                    Ok(Frame::Stanza(el)) => {
                        handle_inbound(shared, wire, session, el, &mut ping_id).await
                    }
                    Ok(Frame::End) => {
                        wire.close().await;
                        Step::End(End::Finish(CloseReason::ClientClosed))
                    }
                    Ok(other) => match other_frame(other) {
                        super::negotiate::Stop::Error { condition, text } => {
                            wire.fail(condition, text.as_deref()).await;
                            Step::End(End::Finish(CloseReason::ProtocolError(condition.into())))
                        }
                        _ => Step::End(End::Finish(CloseReason::ProtocolError("bad-format".into()))),
                    },
                    Err(e) => match read_stop(e) {
                        super::negotiate::Stop::Error { condition, text } => {
                            wire.fail(condition, text.as_deref()).await;
                            Step::End(End::Finish(CloseReason::ProtocolError(condition.into())))
                        }
                        super::negotiate::Stop::Gone(why) | super::negotiate::Stop::Close(why) => {
                            Step::End(End::Detach(CloseReason::ConnectionLost(why)))
                        }
                    },
                };
                match step {
                    Step::Continue => {}
                    Step::Deliver(el, handled) => pending = Some((el, std::time::Instant::now(), handled)),
                    Step::End(end) => return end,
                }
            },
            () = sleep_until(idle_at) => {
                let now_seen = wire.bytes_read();
                // While the application is behind, or the client is over
                // its rate, we do not read, so no activity can be seen.
                if now_seen != seen || pending.is_some() || paused_until.is_some() {
                    seen = now_seen;
                    idle_at = after(cfg.idle_timeout);
                    pinged = false;
                    continue;
                }
                if pinged {
                    wire.fail("connection-timeout", Some("No answer to the ping")).await;
                    // A silent client is the case resumption is for.
                    return End::Detach(CloseReason::Idle);
                }
                let ping = match session.sm.as_mut() {
                    Some(sm) => {
                        sm.r_pending = true;
                        Element::bare("r", ns::SM)
                    }
                    None => {
                        let id = format!("ping-{}", random_id(8));
                        let mut iq = Element::bare("iq", ns::CLIENT);
                        set_attr(&mut iq, "type", "get");
                        set_attr(&mut iq, "id", id.clone());
                        set_attr(&mut iq, "from", wire.domain.clone());
                        set_attr(&mut iq, "to", session.jid.to_string());
                        iq.append_child(Element::bare("ping", ns::PING));
                        ping_id = Some(id);
                        iq
                    }
                };
                if let Err(e) = wire.send_el(&ping).await {
                    return End::Detach(CloseReason::ConnectionLost(e));
                }
                pinged = true;
                idle_at = after(cfg.ping_timeout);
            },
        }
    }
}

/// Handle one element from a bound client.
async fn handle_inbound(
    shared: &Arc<Shared>,
    wire: &mut Wire,
    session: &mut Session,
    mut el: Element,
    ping_id: &mut Option<String>,
) -> Step {
    let cfg = &shared.cfg;
    if el.has_ns(ns::SM) && cfg.stream_management {
        return handle_sm(shared, wire, session, &el).await;
    }
    if !crate::stanza::is_stanza(&el) {
        wire.fail(
            "unsupported-stanza-type",
            Some(&format!("Unexpected <{}/> in {}", el.name(), el.ns())),
        )
        .await;
        return Step::End(End::Finish(CloseReason::ProtocolError(
            "unsupported-stanza-type".into(),
        )));
    }
    // Counted as handled when dropped: at once for what is answered here, when the
    // application is done for what it is given.
    let handled = session.sm.as_ref().map(|sm| sm.receipts.issue());
    if el.name() == "iq" {
        let ty = el.attr("type").unwrap_or_default();
        let id = el.attr("id").unwrap_or_default().to_owned();
        // The answer to our own idle ping: activity was noted already.
        if matches!(ty, "result" | "error") && ping_id.as_deref() == Some(id.as_str()) {
            *ping_id = None;
            return Step::Continue;
        }
        if ty == "set" && el.get_child("session", ns::SESSION).is_some() {
            // RFC 3921 session establishment: a no-op today.
            return stanza_or_lost(wire, session, iq_result(&id, None)).await;
        }
        if ty == "set" && el.get_child("bind", ns::BIND).is_some() {
            let reply =
                crate::stanza::error_reply(&el, "cancel", "not-allowed", Some("Already bound"));
            return match reply {
                Some(r) => stanza_or_lost(wire, session, r).await,
                None => Step::Continue,
            };
        }
    }
    // RFC 6120 section 8.1.2.1: the server stamps the sender.
    set_attr(&mut el, "from", session.jid.to_string());
    Step::Deliver(el, handled)
}

/// Send a stanza the server generated itself, counted for XEP-0198 (the
/// client counts every stanza it receives).
async fn stanza_or_lost(wire: &mut Wire, session: &mut Session, el: Element) -> Step {
    let step = reply_or_lost(wire, &el).await;
    if let Some(sm) = session.sm.as_mut() {
        sm.sent = sm.sent.wrapping_add(1);
        sm.unacked.push_back((el, false));
    }
    step
}

/// Send a non-stanza (or uncounted) element.
async fn reply_or_lost(wire: &mut Wire, el: &Element) -> Step {
    match wire.send_el(el).await {
        Ok(()) => Step::Continue,
        Err(e) => Step::End(End::Detach(CloseReason::ConnectionLost(e))),
    }
}

/// XEP-0198 elements from a bound client.
async fn handle_sm(
    shared: &Arc<Shared>,
    wire: &mut Wire,
    session: &mut Session,
    el: &Element,
) -> Step {
    let cfg = &shared.cfg;
    match el.name() {
        "enable" if session.sm.is_none() => {
            let want_resume = matches!(el.attr("resume"), Some("true" | "1"));
            let id = (want_resume && !cfg.sm_resume_timeout.is_zero()).then(|| random_id(24));
            let mut enabled = Element::bare("enabled", ns::SM);
            if let Some(id) = &id {
                set_attr(&mut enabled, "id", id.clone());
                set_attr(&mut enabled, "resume", "true");
                set_attr(
                    &mut enabled,
                    "max",
                    cfg.sm_resume_timeout.as_secs().to_string(),
                );
                lock(&shared.resume).insert(
                    id.clone(),
                    ResumeSlot {
                        bare: session.jid.to_bare(),
                        conn: session.conn,
                        state: SlotState::Attached(session.ctl_tx.clone()),
                    },
                );
                if let Some(entry) = lock(&shared.bound).get_mut(&session.jid)
                    && entry.conn == session.conn
                {
                    entry.sm_id = Some(id.clone());
                }
            }
            session.sm = Some(SmState {
                id,
                receipts: Arc::default(),
                ack_owed: None,
                sent: 0,
                unacked: VecDeque::new(),
                r_pending: false,
            });
            reply_or_lost(wire, &enabled).await
        }
        "r" | "a" if session.sm.is_none() => {
            // Not silence: without <enable/> these are no element of this stream.
            let text = format!(
                "<{}/> without stream management: send <enable/> first",
                el.name()
            );
            wire.fail("unsupported-stanza-type", Some(&text)).await;
            Step::End(End::Finish(CloseReason::ProtocolError(
                "unsupported-stanza-type".into(),
            )))
        }
        "r" => {
            let Some(sm) = session.sm.as_mut() else {
                return Step::Continue;
            };
            if sm.receipts.all_handled() {
                return reply_or_lost(wire, &ack(sm.receipts.handled())).await;
            }
            // Answered once what was read before it is handled (`pump`).
            sm.ack_owed
                .get_or_insert_with(|| tokio::time::Instant::now() + ACK_WAIT);
            Step::Continue
        }
        "a" => {
            let Some(sm) = session.sm.as_mut() else {
                return Step::Continue;
            };
            let Some(h) = el.attr("h").and_then(|h| h.parse::<u32>().ok()) else {
                wire.fail("bad-format", Some("<a/> without a valid h"))
                    .await;
                return Step::End(End::Finish(CloseReason::ProtocolError("bad-format".into())));
            };
            if let Err(e) = sm.ack(h) {
                wire.fail("undefined-condition", Some(&e.text())).await;
                let reason = match e {
                    AckError::TooHigh { .. } => "handled-count-too-high",
                    AckError::Backwards { .. } => "acknowledgement went backwards",
                };
                return Step::End(End::Finish(CloseReason::ProtocolError(reason.into())));
            }
            Step::Continue
        }
        "enable" | "resume" => reply_or_lost(wire, &sm_failed("unexpected-request")).await,
        other => {
            let text = format!("Unexpected <{other}/> in {}", ns::SM);
            wire.fail("unsupported-stanza-type", Some(&text)).await;
            Step::End(End::Finish(CloseReason::ProtocolError(
                "unsupported-stanza-type".into(),
            )))
        }
    }
}

/// Write `first` and whatever else is queued (bounded), then flush; with
/// XEP-0198 on, keep copies until acknowledged and ask for an ack.
async fn write_batch(
    wire: &mut Wire,
    session: &mut Session,
    first: Element,
    max_unacked: usize,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    let mut count = 0usize;
    let mut bytes = 0usize;
    let mut next = Some(first);
    while let Some(el) = next {
        scratch.clear();
        match writer::serialize_into(&el, scratch) {
            Ok(()) => {
                wire.write(scratch).await?;
                if let Some(sm) = session.sm.as_mut()
                    && crate::stanza::is_stanza(&el)
                {
                    sm.sent = sm.sent.wrapping_add(1);
                    sm.unacked.push_back((el, true));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, name = el.name(), "c2s: dropping unserializable stanza");
            }
        }
        count += 1;
        bytes = bytes.saturating_add(scratch.len());
        let room = session
            .sm
            .as_ref()
            .is_none_or(|s| s.unacked.len() < max_unacked);
        if count >= BATCH_MAX_STANZAS || bytes >= BATCH_MAX_BYTES || !room {
            break;
        }
        next = session.out_rx.try_recv().ok();
    }
    if scratch.capacity() > SCRATCH_KEEP {
        *scratch = Vec::new();
    }
    if let Some(sm) = session.sm.as_mut()
        && !sm.r_pending
        && !sm.unacked.is_empty()
    {
        wire.write(b"<r xmlns='urn:xmpp:sm:3'/>").await?;
        sm.r_pending = true;
    }
    wire.flush().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stanza(i: u32) -> Element {
        let mut m = Element::bare("message", ns::CLIENT);
        set_attr(&mut m, "id", i.to_string());
        m
    }

    #[test]
    fn ack_counting_wraps_and_rejects_too_high() {
        let mut sm = SmState {
            id: None,
            receipts: Arc::default(),
            ack_owed: None,
            sent: u32::MAX - 1,
            unacked: VecDeque::new(),
            r_pending: true,
        };
        for i in 0..4 {
            sm.sent = sm.sent.wrapping_add(1);
            sm.unacked.push_back((stanza(i), true));
        }
        // sent wrapped to 2; 4 unacked means the client had acked up to
        // u32::MAX - 1.
        assert_eq!(sm.sent, 2);
        assert!(sm.ack(u32::MAX).is_ok());
        assert_eq!(sm.unacked.len(), 3);
        assert!(!sm.r_pending);
        assert!(sm.ack(1).is_ok());
        assert_eq!(sm.unacked.len(), 1);
        assert_eq!(sm.unacked[0].0.attr("id"), Some("3"));
        assert_eq!(
            sm.ack(3),
            Err(AckError::TooHigh { h: 3, sent: 2 }),
            "more than sent"
        );
        assert!(sm.ack(1).is_ok(), "repeating the same h is fine");
        // Behind what was acknowledged (across the wrap too) is told as such.
        let back = sm.ack(u32::MAX).unwrap_err();
        assert_eq!(
            back,
            AckError::Backwards {
                h: u32::MAX,
                acked: 1
            }
        );
        assert!(
            back.text().contains("never go backwards"),
            "{}",
            back.text()
        );
        assert!(sm.ack(2).is_ok());
        assert!(sm.unacked.is_empty());
    }
}
