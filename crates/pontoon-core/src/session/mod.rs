//! One actor per (user, transport): the user's legacy login and everything routed to it.
//!
//! The service hands the session the user's presences and messages through a bounded
//! inbox; the session drives the transport's legacy session and turns its events into
//! stanzas. All resources of one user share the session, so the legacy network sees one
//! login however many clients the user runs.

use crate::legacy::LegacyId;
use pontoon_xmpp::OutStanza;
use std::collections::VecDeque;
use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, warn};
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};

use crate::control::{ServiceCounters, SessionState, SessionStatus};
use crate::escape;
use crate::legacy::{Availability, LegacyAccount, LegacyCommand, LegacyEvent};
use crate::stanza::{self, Refusal};
use crate::transport::Transport;

mod avatars;
pub mod away;
pub mod away_messages;
mod backlog;
mod bookmarks;
mod contacts;
mod events;
mod inbox;
mod inputs;
mod latency;
mod lease;
mod lifecycle;
mod outbox;
mod pace;
mod roster;
#[cfg(test)]
mod tests;

pub use bookmarks::Choice as BookmarkChoice;
pub use inbox::{InboxSender, SessionInput};

/// The service's handle on a running session.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    /// The session's inbox.
    pub tx: InboxSender,
    /// Tells this session apart from a later one of the same user.
    pub generation: u64,
    /// State, resources and rooms, kept up to date by the session (what the transport's
    /// presence and the operator's tools report).
    pub status: Arc<SessionStatus>,
    /// The transport's state of the user, as the session has it (in server mode sealed by
    /// the login's password): what the file listener fetches the user's media with.
    pub state: crate::state::TransportState,
    /// The `updated_at` of the registration the session logged in with; `None` for an
    /// anonymous session. Lets the service notice an operator's edit or delete.
    pub registration: Option<i64>,
    /// The service asked it to log out; it stays listed until it has, so the user never
    /// has two sessions at once (inputs meanwhile come back as leftovers).
    pub ending: bool,
}

/// A finished session, with what it had not read yet (handled again by the service).
#[derive(Debug)]
pub struct SessionEnded {
    /// The user.
    pub user: BareJid,
    /// Which session of theirs.
    pub generation: u64,
    /// The session's inbox, still open: what the service hands the session until it has
    /// forgotten it lands here, not in a closed inbox (a message the user sent as their
    /// old session ended was bounced "Your legacy session just ended" while the presence
    /// that logs them in again was already on its way).
    inbox: crate::channel::Receiver<SessionInput>,
}

impl SessionEnded {
    /// The inputs the session never read, in the order they came; closes the inbox. The
    /// service calls it once it has forgotten the session, so nothing arrives after.
    pub fn leftovers(&mut self) -> Vec<SessionInput> {
        self.inbox.close();
        let mut leftovers = Vec::new();
        while let Ok(input) = self.inbox.try_recv() {
            leftovers.push(input);
        }
        leftovers
    }
}

/// What a session needs from its service.
#[derive(Clone)]
pub struct SessionContext {
    /// The transport's name (`irc`), for log spans.
    pub transport_name: String,
    /// The transport domain, as a JID.
    pub domain: Jid,
    /// The transport's display name.
    pub display_name: String,
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Stanzas to the XMPP side.
    pub out: mpsc::Sender<OutStanza>,
    /// Payloads added to every presence the transport sends (entity capabilities).
    pub presence_payloads: Vec<Element>,
    /// Told when the session ends.
    pub ended: mpsc::Sender<SessionEnded>,
    /// Capacity of the session inbox.
    pub inbox_capacity: usize,
    /// Server mode: a session lasts as long as the user's login, and ends when their last
    /// stream closes (the router says so), not when no resource is available and no room
    /// joined: a client that sent no presence, or went unavailable, is still logged in.
    pub ends_with_login: bool,
    /// The service's counters, shared with every session.
    pub counters: Arc<ServiceCounters>,
    /// The store, for look-ups in the message id map.
    pub store: pontoon_store::Store,
    /// Where records for the message id map go.
    pub id_map: crate::id_map::IdMapWriter,
    /// Links for the network's files clients cannot fetch themselves, where the operator
    /// set up the HTTP listener (`crate::media`).
    pub media: Option<crate::media::MediaLinks>,
    /// Contacts' pictures fetched by the service's sessions (`crate::avatar`).
    pub avatars: Arc<crate::avatar::AvatarCache>,
    /// What the user's server lets the gateway do for them (XEP-0356, component mode).
    pub privileges: Arc<crate::privilege::Granted>,
    /// The transport's message archive (`crate::archive`).
    pub archive: Arc<crate::archive::Archive>,
    /// The places for sessions kept online while away (`away.rs`).
    pub away: Arc<away::AwaySlots>,
    /// Where messages wait while the session has no connection (`crate::outbox`).
    pub outbox: Arc<crate::outbox::Outbox>,
    /// With several instances on one store, this one (`crate::cluster`): sessions are
    /// leased.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

#[derive(Debug, PartialEq, Eq)]
enum LegacyState {
    LoggingIn,
    Online,
}

/// The session actor's state. What it does with inputs is in `inputs.rs`, with the legacy
/// session's events in `events.rs`, with contacts in `contacts.rs`; rooms in [`crate::muc`],
/// message verbs in `crate::verbs`.
pub(crate) struct Session {
    pub(crate) ctx: Arc<SessionContext>,
    pub(crate) user: BareJid,
    /// Names this session among the service's (for the archive, `crate::archive::recent`).
    pub(crate) generation: u64,
    /// The user's available resources and what each last said (show, status).
    resources: crate::small::Map<Jid, (Option<Show>, Option<String>), 1>,
    state: LegacyState,
    pub(crate) legacy: crate::channel::Sender<LegacyCommand>,
    /// What waited for the connection, read from the store, being sent (`outbox.rs`).
    /// Boxed: rare, and 8 bytes instead of a `VecDeque`'s 32 in every session.
    #[allow(clippy::box_collection)]
    held: Option<Box<VecDeque<crate::outbox::Waiting>>>,
    /// When the oldest message kept while there is no connection is due to be bounced.
    held_due: Option<tokio::time::Instant>,
    /// What the message verbs remember (reactions, echoes, new threads): made at the
    /// first, as most sessions never react or start a thread (`crate::verbs::Memory`).
    pub(crate) verb_memory: Option<Box<crate::verbs::Memory>>,
    /// What each network carries natively, as the transport said (`crate::verbs`).
    pub(crate) verbs: Vec<(Option<String>, crate::legacy::Verbs)>,
    last_sent_presence: Option<(Availability, Option<String>)>,
    /// Boxed: a map keeps room for a few more entries than it holds, and a room is a few
    /// hundred bytes (performance pass 4).
    pub(crate) rooms: crate::small::Map<LegacyId, Box<crate::muc::Room>>,
    pub(crate) status: Arc<SessionStatus>,
    /// The transport said the connection dropped and it is connecting again.
    reconnecting: bool,
    /// How many of the transport's connections said their queue is backed up
    /// (`backlog.rs`).
    backlog: u8,
    /// Some message was handed to the transport tracked (`backlog.rs`).
    tracked: bool,
    /// Joined rooms at the last status update, to notice a change cheaply (u16: the
    /// struct's bytes are counted, `tests.rs`; a user in more rooms than that is told
    /// again, no harm).
    published_rooms: u16,
    /// The transport's pace as the session sees it (`backlog.rs`).
    pace: backlog::Pace,
    pub(crate) directory: crate::directory::Directory,
    /// vCard requests waiting for the network's lookup (`crate::lookup`).
    pub(crate) lookups: crate::lookup::Lookups,
    /// Followed contacts and their last known presence.
    contacts: crate::small::Map<LegacyId, contacts::Followed>,
    /// How the network's contacts get into the user's roster.
    roster: roster::RosterSync,
    /// The rooms the user is in, for their bookmarks (once the network said).
    bookmarking: Option<Box<bookmarks::Bookmarking>>,
    /// Recent outgoing message ids, the resource that sent each (so a late delivery failure
    /// is bounced to that resource: servers drop errors sent to a bare JID) and its
    /// origin-id (so the network's id names it by both, `LegacyEvent::MessageSent`).
    sent: VecDeque<(String, Jid, Option<String>)>,
    /// Server mode: logins waiting for the legacy login's outcome.
    login_waiters: Vec<(
        tokio::sync::oneshot::Sender<crate::server::LoginOutcome>,
        bool,
    )>,
    /// The network checked the user's credentials.
    authenticated: bool,
    /// The session's own inbox, for its background work's results (a contact's picture
    /// fetched); weak, so that it never keeps the inbox open.
    inbox: crate::channel::WeakSender<SessionInput>,
    /// The transport's state of the user, to fetch with as the user (contacts' pictures).
    pub(crate) transport_state: crate::state::TransportState,
    /// Staying online while away (`away.rs`).
    away: away::Away,
}

/// A session's inbox and the transport's events, as its run reads them.
type Receivers = (
    crate::channel::Receiver<SessionInput>,
    crate::channel::Receiver<LegacyEvent>,
);

/// How many message ids are remembered for bounces.
const SENT_MEMORY: usize = 64;

/// Starts a session for `user` logging in with `account`; the first input is usually the
/// presence that triggered the login (with `resume`, there is none: `session/away.rs`).
pub fn spawn(
    ctx: Arc<SessionContext>,
    user: BareJid,
    account: LegacyAccount,
    generation: u64,
    (registration, always_online, resume): (Option<i64>, bool, bool),
) -> SessionHandle {
    let status = Arc::new(SessionStatus::new(account.legacy_id.clone()));
    let (tx, rx) = crate::channel::bounded(ctx.inbox_capacity);
    let tx = InboxSender(tx);
    let (ev_tx, ev_rx) = crate::channel::bounded(ctx.inbox_capacity);
    // `transport` again on the child span: a filter directive such as
    // `[{transport=irc}]=debug` looks only at the spans a task enters, not at their parents.
    let span = tracing::info_span!(
        "session",
        transport = ctx.transport_name.as_str(),
        user = user.as_str()
    );
    let mut state =
        crate::state::TransportState::new(ctx.store.clone(), &ctx.transport_name, user.as_str());
    // Server mode: what the transport keeps, only the user's next login can read.
    if ctx.ends_with_login
        && let Some(password) = &account.secret
    {
        state = state.sealed_by_password(password);
    }
    let inbox = (tx.0.downgrade(), state.clone());
    let handle_status = status.clone();
    // Logging in, boxed apart from the session's run: the task's future keeps its captures
    // and its largest await for the session's whole life, and the lease's store queries are
    // over a kilobyte (performance pass 4).
    let startup = Box::pin(async move {
        // With several instances, one owns the session: the lease first (`lease.rs`).
        let leased = lease::take(&ctx, &user, resume).await;
        if leased == Ok(true) {
            // Taken from a dead instance, maybe: what it had handed to the network waits
            // again, for this session's connection (`crate::outbox`).
            ctx.outbox.release_stale().await;
        }
        // The transport spawns its tasks in the session's span, so their logs carry it too.
        // Without a transport session, the events' sender stays with the task until the
        // session ends: a queue closed early reads as a legacy session that ended
        // unexpectedly, which a quiet end must not show the user.
        let (legacy, events_kept) = match &leased {
            Ok(_) => {
                info!(legacy_id = %account.legacy_id, "logging in to the legacy network");
                let legacy = ctx.transport.start_session(account, ev_tx, inbox.1.clone());
                (legacy, None)
            }
            // Started by the gateway, and another instance serves the user: it ends quietly.
            Err(_) if resume => {
                if let Some(tx) = inbox.0.upgrade() {
                    let logout = SessionInput::Logout {
                        reason: "Served by another instance of the gateway".to_owned(),
                    };
                    let _ = tx.try_send(logout);
                }
                (crate::channel::bounded(1).0, Some(ev_tx))
            }
            // The login fails as an unreachable network does: the same path answers the
            // clients and ends the session.
            Err(reason) => {
                let _ = ev_tx
                    .send(LegacyEvent::Unreachable {
                        reason: reason.clone(),
                    })
                    .await;
                (crate::channel::bounded(1).0, Some(ev_tx))
            }
        };
        let mut session = Session::new(ctx, user, generation, legacy, status, inbox);
        session.away.always_online = always_online;
        session.away.resume = resume;
        (
            Box::new(session),
            (rx, ev_rx),
            leased == Ok(true),
            events_kept,
        )
    });
    let task = async move {
        let (session, receivers, leased, events_kept) = startup.await;
        session.run(receivers, leased, events_kept).await;
    };
    tokio::spawn(task.instrument(span));
    let status = handle_status;
    SessionHandle {
        tx,
        generation,
        status,
        state,
        registration,
        ending: false,
    }
}

fn availability(show: Option<&Show>) -> Availability {
    match show {
        None => Availability::Available,
        Some(Show::Away) => Availability::Away,
        Some(Show::Xa) => Availability::ExtendedAway,
        Some(Show::Dnd) => Availability::DoNotDisturb,
        Some(Show::Chat) => Availability::Chat,
    }
}

fn show_of(a: Availability) -> Option<Show> {
    match a {
        Availability::Away => Some(Show::Away),
        Availability::ExtendedAway => Some(Show::Xa),
        Availability::DoNotDisturb => Some(Show::Dnd),
        Availability::Chat => Some(Show::Chat),
        Availability::Available | Availability::Offline => None,
    }
}

impl Session {
    /// A session that is logging in, before its task starts.
    fn new(
        ctx: Arc<SessionContext>,
        user: BareJid,
        generation: u64,
        legacy: crate::channel::Sender<LegacyCommand>,
        status: Arc<SessionStatus>,
        (inbox, transport_state): (
            crate::channel::WeakSender<SessionInput>,
            crate::state::TransportState,
        ),
    ) -> Session {
        Session {
            ctx,
            user,
            generation,
            resources: crate::small::Map::default(),
            state: LegacyState::LoggingIn,
            legacy,
            held: None,
            held_due: None,
            verbs: Vec::new(),
            last_sent_presence: None,
            rooms: crate::small::Map::default(),
            status,
            reconnecting: false,
            backlog: 0,
            tracked: false,
            published_rooms: 0,
            pace: backlog::Pace::default(),
            verb_memory: None,
            directory: Default::default(),
            lookups: Default::default(),
            contacts: crate::small::Map::default(),
            roster: Default::default(),
            bookmarking: None,
            sent: VecDeque::new(),
            login_waiters: Vec::new(),
            authenticated: false,
            inbox,
            transport_state,
            away: Default::default(),
        }
    }

    /// The session task. `self` is boxed (an async fn keeps a by-value `self` twice in its
    /// future), and every input and event is handled in a boxed future: the future lives as
    /// long as the session, and inline it would be as large as the largest handler
    /// (bench/README.md, performance pass 3). Room messages from the network were inline
    /// until performance pass 4: with the vocabulary's larger events their handler was 1 KiB
    /// of every session's future, for the price of one allocation per message.
    ///
    /// A function returning an `async move` block, not an `async fn`, which would keep each
    /// argument twice. The task's other belongings come here too, rather than waiting
    /// beside this future in the task's: `leased` (the lease is given up once the session
    /// has ended) and `events_kept` (the events' sender of a session without a transport
    /// session, dropped only then). Performance pass 4: the task fits a 512-byte cell.
    #[allow(clippy::manual_async_fn)]
    fn run(
        mut self: Box<Self>,
        (mut inbox, mut events): Receivers,
        leased: bool,
        events_kept: Option<crate::channel::Sender<LegacyEvent>>,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move {
            // Boxed and kept while the session has a deadline (`rate::sleep_until_kept`).
            let mut timer: crate::rate::KeptTimer = None;
            loop {
                // Back-pressure from the store's writers (`pace.rs`).
                if self.ctx.writers_behind() {
                    Box::pin(self.ctx.writers_caught_up()).await;
                }
                let done = tokio::select! {
                    // Boxed as queued: this future would otherwise keep room for an input.
                    input = inbox.recv_stamped() => match input {
                        Some(input) => {
                            let (input, _) = *input;
                            let presence = matches!(input, SessionInput::Presence { .. });
                            // Boxed by `on_input`, each kind of input to its own size.
                            let done = self.on_input(input).await;
                            if presence {
                                self.publish_resources();
                            }
                            done
                        }
                        None => Box::pin(self.logout("Pontoon is shutting down")).await,
                    },
                    event = events.recv_stamped() => match event {
                        Some(event) if matches!(event.0, LegacyEvent::RoomMessage { .. }) => {
                            let (event, sent_at) = *event;
                            Box::pin(self.on_room_message(event, sent_at)).await;
                            false
                        }
                        Some(event) => {
                            let (event, sent_at) = *event;
                            Box::pin(self.on_event(event, sent_at)).await
                        }
                        None => {
                            Box::pin(self.end_with_notice("The legacy session ended unexpectedly.")).await;
                            true
                        }
                    },
                    () = std::future::ready(()), if self.has_held_to_send() => {
                        Box::pin(self.send_next_held()).await;
                        false
                    }
                    () = crate::rate::sleep_until_kept(&mut timer, self.next_deadline()) => {
                        Box::pin(self.expire_held()).await;
                        Box::pin(self.expire_listings()).await;
                        Box::pin(self.expire_lookups()).await;
                        Box::pin(self.roster_tick()).await;
                        false
                    }
                };
                if done {
                    break;
                }
                self.publish_rooms();
            }
            debug!("session ended");
            if self.tracked {
                // The transport is done with what it was handed (written, or failed and told).
                Box::pin(self.ctx.outbox.settle_all(&self.user)).await;
            }
            self.release_away();
            self.ctx
                .archive
                .span(self.user.as_str(), None, (false, None));
            self.answer_logins(|| {
                crate::server::LoginOutcome::TemporaryFailure(
                    "The legacy session ended before the login completed".to_owned(),
                )
            });
            self.status.set_state(SessionState::Ending);
            Box::pin(self.fail_listings("Your legacy session ended.")).await;
            // Whatever arrived after the decision to end goes back to the service with the
            // inbox itself, which starts a new session if the user came back meanwhile: nothing
            // is read by nobody.
            let ended = SessionEnded {
                user: self.user.clone(),
                generation: self.generation,
                inbox,
            };
            let _ = Box::pin(self.ctx.ended.send(ended)).await;
            drop(events_kept);
            if leased {
                Box::pin(lease::give_up(&self.ctx, &self.user)).await;
            }
        }
    }

    /// Sends `stanzas` in order.
    pub(crate) async fn send_all<S: Into<OutStanza>>(&self, stanzas: Vec<S>) {
        for el in stanzas {
            self.send(el).await;
        }
    }

    pub(crate) async fn send(&self, el: impl Into<OutStanza>) {
        let el = el.into();
        if let OutStanza::Element(e) = &el
            && e.attr("type") == Some("error")
        {
            ServiceCounters::bump(&self.ctx.counters.errors);
            crate::stanza::log_error_sent(e);
        }
        // A closed outbound channel means the gateway is stopping; nothing left to tell.
        // Without waiting when there is room; waiting for room (back-pressure from the link)
        // in a boxed future: every handler of the session awaits `send`, and tokio's send
        // future inline made the session task's future 2.5 KiB larger for a rare case.
        if let Err(mpsc::error::TrySendError::Full(el)) = self.ctx.out.try_send(el) {
            let _ = Box::pin(self.ctx.out.send(el)).await;
        }
    }

    /// Shows the operator the user's resources (after a presence changed them).
    fn publish_resources(&self) {
        self.status.set_resources(self.resources.keys());
    }

    /// Shows the operator the rooms joined, when their number changed (each step adds or
    /// removes rooms, never both, so the count tells a change).
    fn publish_rooms(&mut self) {
        let joined = u16::try_from(self.joined_rooms().count()).unwrap_or(u16::MAX);
        if joined != self.published_rooms {
            self.published_rooms = joined;
            self.status.set_rooms(self.joined_rooms());
        }
    }

    fn presence(&self, kind: PresenceType) -> Presence {
        let bare = matches!(kind, PresenceType::None);
        let mut p = Presence::new(kind)
            .with_from(self.ctx.domain.clone())
            .with_to(Jid::from(self.user.clone()));
        if bare {
            p.payloads
                .extend(self.ctx.presence_payloads.iter().cloned());
        }
        p
    }

    /// What the network or the gateway tells the user outside any conversation, from the
    /// transport's JID.
    pub(crate) async fn notice(&self, text: &str) {
        self.notice_from(&self.ctx.domain, text).await;
    }

    /// A notice from `from`: the transport, or one of its networks (`crate::raw`).
    pub(crate) async fn notice_from(&self, from: &Jid, text: &str) {
        self.show(crate::render::Shown {
            from,
            chat: crate::render::Chat::Gateway,
            nick: None,
            ids: &crate::legacy::ClientIds::none(),
            id: None,
            body: Some(text),
            payloads: Vec::new(),
        })
        .await;
    }

    /// No resource is online to the transport and none is in a room, and the session is
    /// not kept online while away.
    fn idle(&self) -> bool {
        // A session the gateway started to stay online while away (`away.rs`) has no client
        // by design: the user's server answering its probe with "unavailable" while it logs
        // in (a takeover's lease wait makes that likely) must not end it.
        !self.ctx.ends_with_login && self.unused() && !self.is_away() && !self.away.resume
    }

    /// No resource available and no room joined.
    fn unused(&self) -> bool {
        self.resources.is_empty() && !self.in_rooms()
    }

    /// Sends `text` to the contact `to`, and records it as the user's own under the id
    /// their client gave it (no network acknowledges direct messages with an id yet).
    pub(crate) async fn send_legacy_message(
        &mut self,
        to: LegacyId,
        text: crate::inbound::Text,
        (reply_to, thread): (Option<String>, Option<String>),
        stanza: &Element,
    ) {
        let id = stanza.attr("id").map(str::to_owned);
        let ids = crate::ids::client_ids(stanza);
        if let (Some(id), Some(from)) = (&id, stanza.attr("from").and_then(|f| Jid::new(f).ok())) {
            if self.sent.len() >= SENT_MEMORY {
                self.sent.pop_front();
            }
            self.sent
                .push_back((id.clone(), from, ids.origin_id.clone()));
        }
        if let Some(mapped) = ids.origin_id.clone().or_else(|| ids.id.clone()) {
            let xmpp_ids = crate::verbs::id_map::direct_ids(&ids);
            self.remember_own_message(&to, "", &mapped, xmpp_ids);
        }
        self.keep_sent(&to, stanza);
        let command = LegacyCommand::SendMessage {
            to,
            body: text.body,
            kind: text.kind,
            id,
            reply_to,
            thread,
            attachments: text.attachments,
        };
        self.message_to_legacy(command, stanza).await;
    }

    pub(crate) async fn bounce(&self, stanza: &Element, refusal: Refusal) {
        if let Some(reply) = refusal.reply_to(stanza) {
            self.send(reply).await;
        }
    }

    /// The legacy login succeeded and the session is not logging in again.
    pub(crate) fn is_online(&self) -> bool {
        self.state == LegacyState::Online
    }

    pub(crate) fn contact_jid(&self, legacy_id: &str) -> Option<Jid> {
        match escape::legacy_jid(legacy_id, self.ctx.domain.domain(), None) {
            Ok(jid) => Some(jid),
            Err(e) => {
                warn!(error = %e, "legacy id does not map to a JID; dropped");
                None
            }
        }
    }
}
