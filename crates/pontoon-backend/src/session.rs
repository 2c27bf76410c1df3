//! One user's session on a backend, as the host keeps it: what is needed to log them in
//! again after a restart (account, saved state, rooms), the commands written but not yet
//! done (bounced if the backend dies), and the task that carries the session's commands
//! to its worker and its events to the core.
//!
//! The worker never waits on one session: events go to the session's task through a
//! bounded queue, and a session whose queue is full is ended rather than allowed to stall
//! everyone else on the process. The other way, each session has a credit of commands the
//! backend may have undone at once (`max_unacked`): its task takes one before it passes a
//! command on and the backend's `done` gives them back, so a backend slower than its user
//! holds that user's commands back (and the core, and the user, wait), nobody else's.

use std::collections::VecDeque;

use pontoon_core::channel::{self, TrySendError};
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, RoomError, SendError};
use pontoon_core::rate::TokenBucket;
use pontoon_core::state::TransportState;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tracing::warn;

use crate::protocol::SessionId;

/// The key of the backend's saved state in the account's transport state.
const STATE_KEY: &str = "backend";
/// Events waiting for the core, per session, before the session is ended as overloaded.
const RELAY_QUEUE: usize = 4096;

/// What the worker tells a session's task.
// Events are the many, saves the few: boxing the event would allocate for each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Relay {
    /// Pass this on to the core.
    Event(LegacyEvent),
    /// Store this as the account's state (or forget it).
    Save(Option<String>),
}

/// A new session, as its task hands it to the worker.
#[derive(Debug)]
pub struct Login {
    /// Its number.
    pub session: SessionId,
    /// The account to log in.
    pub account: LegacyAccount,
    /// What the backend saved for it last time.
    pub state: Option<String>,
    /// Where its events go.
    pub relay: channel::Sender<Relay>,
    /// Its credit of undone commands (see the module's documentation).
    pub credit: Arc<Semaphore>,
}

impl Login {
    /// The host's record of it.
    pub fn into_entry(self, limits: &crate::config::Limits) -> (SessionId, Entry) {
        let mut entry = Entry::new(self.account, self.state, self.relay, limits);
        entry.credit = self.credit;
        (self.session, entry)
    }
}

/// What a session's task tells its worker.
#[derive(Debug)]
pub enum Input {
    /// A new session.
    Login(Login),
    /// One of its commands.
    Command {
        /// The session.
        session: SessionId,
        /// The command.
        command: LegacyCommand,
    },
    /// The core is done with it.
    Logout {
        /// The session.
        session: SessionId,
    },
    /// Pontoon is stopping: stop the process (its input closed first) and end.
    Shutdown,
}

/// The host's record of one session.
pub struct Entry {
    relay: channel::Sender<Relay>,
    /// For logging in again after a restart.
    pub account: LegacyAccount,
    /// The backend's last saved state, for the same.
    pub state: Option<String>,
    /// The rooms the user is in, as the joins that put them there, replayed after a
    /// restart.
    pub rooms: Vec<LegacyCommand>,
    next_seq: u64,
    /// The last command the backend said it has done.
    done_through: u64,
    /// The last of the rooms' joins replayed after a restart: numbered without credit.
    replayed_through: u64,
    /// Commands written and not yet done that mean something to the user if lost: the
    /// event that bounces each.
    unacked: VecDeque<(u64, LegacyEvent)>,
    credit: Arc<Semaphore>,
    bucket: TokenBucket,
    dropped: bool,
}

impl Drop for Entry {
    /// The session's task, waiting for credit, learns the session is over.
    fn drop(&mut self) {
        self.credit.close();
    }
}

/// Why an event was not passed on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Beyond the session's rate; the first drop of a burst says so to the user.
    Flood {
        /// Whether this is the first since the session was last within its rate.
        first: bool,
    },
    /// The session's queue to the core is full, or the core is gone: end it.
    Gone,
}

impl Entry {
    /// A session logging in with `account`.
    pub fn new(
        account: LegacyAccount,
        state: Option<String>,
        relay: channel::Sender<Relay>,
        limits: &crate::config::Limits,
    ) -> Entry {
        Entry {
            relay,
            account,
            state,
            rooms: Vec::new(),
            next_seq: 1,
            done_through: 0,
            replayed_through: 0,
            unacked: VecDeque::new(),
            credit: Arc::new(Semaphore::new(limits.max_unacked)),
            bucket: TokenBucket::new(limits.event_burst, limits.events_per_second, Instant::now()),
            dropped: false,
        }
    }

    /// Numbers `command` (its credit taken by the session's task) for writing, noting what
    /// would bounce it and the rooms it joins or leaves.
    pub fn number(&mut self, command: &LegacyCommand) -> u64 {
        self.remember_room(command);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(bounce) = bounce(command, "the network's backend stopped before sending it") {
            self.unacked.push_back((seq, bounce));
        }
        seq
    }

    /// Numbers a room's join replayed after a restart (no credit was taken for it).
    pub fn number_replay(&mut self, join: &LegacyCommand) -> u64 {
        let seq = self.number(join);
        self.replayed_through = seq;
        seq
    }

    /// Gives back the credit of a command that was not written (bounced at once).
    pub fn refund(&self) {
        self.credit.add_permits(1);
    }

    /// Gives back the credit of the commands written after the replays and not done.
    fn refund_undone(&mut self) {
        let written = self.next_seq - 1;
        let settled = self.done_through.max(self.replayed_through);
        self.credit
            .add_permits(usize::try_from(written.saturating_sub(settled)).unwrap_or(0));
    }

    /// Keeps the rooms a restart must join again.
    pub fn remember_room(&mut self, command: &LegacyCommand) {
        match command {
            LegacyCommand::JoinRoom { room, .. } => {
                self.rooms
                    .retain(|c| !matches!(c, LegacyCommand::JoinRoom { room: r, .. } if r == room));
                self.rooms.push(command.clone());
            }
            LegacyCommand::LeaveRoom { room, .. } => self
                .rooms
                .retain(|c| !matches!(c, LegacyCommand::JoinRoom { room: r, .. } if r == room)),
            _ => {}
        }
    }

    /// The backend has done the commands up to `seq` (a number it was never given, or one
    /// going back, changes nothing more than it can): their credit comes back.
    pub fn done(&mut self, seq: u64) {
        let seq = seq.min(self.next_seq - 1);
        if seq <= self.done_through {
            return;
        }
        let settled = self.done_through.max(self.replayed_through);
        self.credit
            .add_permits(usize::try_from(seq.saturating_sub(settled)).unwrap_or(0));
        self.done_through = seq;
        while self.unacked.front().is_some_and(|(s, _)| *s <= seq) {
            self.unacked.pop_front();
        }
    }

    /// The backend died: bounce what it had not done, and tell the user it is coming back.
    pub fn lost_backend(&mut self, reason: &str) -> Result<(), Refused> {
        self.refund_undone();
        self.next_seq = 1;
        self.done_through = 0;
        self.replayed_through = 0;
        while let Some((_, bounce)) = self.unacked.pop_front() {
            self.pass(Relay::Event(bounce))?;
        }
        // The core shows the outage in the transport's presence; the words are ours.
        self.pass(Relay::Event(LegacyEvent::Reconnecting {
            reason: reason.to_owned(),
        }))?;
        self.pass(Relay::Event(LegacyEvent::Notice {
            text: format!("{reason}. You will be logged in again when it is back."),
        }))
    }

    /// Passes an event from the backend on, within the session's rate.
    pub fn event(&mut self, event: LegacyEvent) -> Result<(), Refused> {
        self.within_rate(Relay::Event(event))
    }

    /// Keeps the backend's state for the account (for a restart) and has it stored, within
    /// the session's rate: each is a store write.
    pub fn save(&mut self, state: Option<String>) -> Result<(), Refused> {
        self.state.clone_from(&state);
        self.within_rate(Relay::Save(state))
    }

    fn within_rate(&mut self, relay: Relay) -> Result<(), Refused> {
        if !self.bucket.try_take(Instant::now()) {
            let first = !self.dropped;
            self.dropped = true;
            return Err(Refused::Flood { first });
        }
        self.dropped = false;
        self.pass(relay)
    }

    /// Passes something on to the session's task without waiting.
    pub fn pass(&self, relay: Relay) -> Result<(), Refused> {
        self.relay.try_send(relay).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Closed(_) => Refused::Gone,
        })
    }
}

/// The event that tells the user a command of theirs was not carried out: a message
/// bounced, a request answered with a failure. `None` for commands nobody waits on.
pub fn bounce(command: &LegacyCommand, reason: &str) -> Option<LegacyEvent> {
    let reason = reason.to_owned();
    Some(match command {
        LegacyCommand::SendMessage { to, id, .. } => LegacyEvent::SendFailed {
            to: to.clone(),
            id: id.clone(),
            reason,
        },
        LegacyCommand::SendRoomMessage { room, ids, .. } => LegacyEvent::RoomSendFailed {
            room: room.clone(),
            ids: ids.clone(),
            error: SendError::Unreachable,
            reason,
        },
        LegacyCommand::JoinRoom { room, .. } => LegacyEvent::RoomJoinFailed {
            room: room.clone(),
            error: RoomError::Busy,
            text: reason,
        },
        LegacyCommand::LookUp { request, .. } => LegacyEvent::LookedUp {
            request: *request,
            details: None,
        },
        LegacyCommand::ListBans { request, .. } => LegacyEvent::BanList {
            request: *request,
            masks: Err(reason),
        },
        LegacyCommand::GetRoomConfig { request, .. } => LegacyEvent::RoomConfig {
            request: *request,
            config: Err(reason),
        },
        LegacyCommand::ListRooms { request, .. } => LegacyEvent::RoomListFailed {
            request: *request,
            text: reason,
        },
        _ => return None,
    })
}

/// Whether `event` ends the session (the core drops it after these).
pub fn ends_session(event: &LegacyEvent) -> bool {
    matches!(
        event,
        LegacyEvent::LoginFailed { .. }
            | LegacyEvent::Unreachable { .. }
            | LegacyEvent::Disconnected { .. }
    )
}

/// What a session's task is made of: the core's ends of the session, its worker, and its
/// place on the process.
pub struct Task {
    /// The session's number.
    pub session: SessionId,
    /// The account to log in.
    pub account: LegacyAccount,
    /// Where its events go, to the core.
    pub events: channel::Sender<LegacyEvent>,
    /// Its commands, from the core.
    pub commands: channel::Receiver<LegacyCommand>,
    /// The account's state, where the backend's is kept.
    pub state: TransportState,
    /// The worker of its process.
    pub worker: mpsc::Sender<Input>,
    /// Its place on the process, freed when the task ends.
    pub seat: crate::pool::Seat,
    /// Its credit of undone commands.
    pub max_unacked: usize,
}

/// Starts the task that links a session of the core to its worker: reads the account's
/// saved state, logs it in, then carries commands one way and events the other until
/// either side is done, holding its `seat` on the process until then.
pub fn spawn(task: Task) {
    tokio::spawn(async move {
        let seat = task.seat;
        run(
            task.session,
            task.account,
            task.events,
            task.commands,
            task.state,
            task.worker,
            task.max_unacked,
        )
        .await;
        drop(seat);
    });
}

async fn run(
    session: SessionId,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    mut commands: channel::Receiver<LegacyCommand>,
    state: TransportState,
    worker: mpsc::Sender<Input>,
    max_unacked: usize,
) {
    let saved = match state.get(STATE_KEY).await {
        Ok(bytes) => bytes.and_then(|b| String::from_utf8(b).ok()),
        Err(e) => {
            warn!(error = %e, "cannot read a backend's saved state; logging in without it");
            None
        }
    };
    let (relay, mut relayed) = channel::bounded(RELAY_QUEUE);
    let credit = Arc::new(Semaphore::new(max_unacked));
    let login = Input::Login(Login {
        session,
        account,
        state: saved,
        relay,
        credit: credit.clone(),
    });
    if worker.send(login).await.is_err() {
        let _ = events
            .send(LegacyEvent::Unreachable {
                reason: "the network's backend is not running".to_owned(),
            })
            .await;
        return;
    }
    // The next command, waiting for credit; events are relayed meanwhile.
    let mut next = None;
    loop {
        tokio::select! {
            command = commands.recv(), if next.is_none() => match command {
                Some(command) => next = Some(command),
                None => break,
            },
            permit = credit.acquire(), if next.is_some() => {
                let Ok(permit) = permit else {
                    // The worker dropped the session: its events' end says how.
                    next = None;
                    continue;
                };
                // Given back by the backend's `done` (through the worker), not by drop.
                permit.forget();
                if let Some(command) = next.take()
                    && worker.send(Input::Command { session, command }).await.is_err()
                {
                    break;
                }
            },
            relay = relayed.recv() => match relay {
                Some(Relay::Event(event)) => {
                    if events.send(event).await.is_err() {
                        break;
                    }
                }
                Some(Relay::Save(value)) => save(&state, value).await,
                None => {
                    // The worker ended the session without the backend saying so.
                    let _ = events
                        .send(LegacyEvent::Disconnected {
                            reason: "the network's backend dropped this session".to_owned(),
                        })
                        .await;
                    return;
                }
            },
        }
    }
    let _ = worker.send(Input::Logout { session }).await;
}

async fn save(state: &TransportState, value: Option<String>) {
    let result = match value {
        Some(value) => state.put(STATE_KEY, value.as_bytes()).await,
        None => state.delete(STATE_KEY).await,
    };
    if let Err(e) = result {
        warn!(error = %e, "cannot keep a backend's saved state");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pontoon_core::legacy::{ClientIds, LegacyId, MessageKind};

    fn send(id: &str) -> LegacyCommand {
        LegacyCommand::SendMessage {
            to: LegacyId::new("bob", None),
            body: "hi".into(),
            kind: MessageKind::Text,
            id: Some(id.into()),
            reply_to: None,
            thread: None,
            attachments: vec![],
        }
    }

    fn join(room: &str) -> LegacyCommand {
        LegacyCommand::JoinRoom {
            room: LegacyId::new(room, None),
            nick: "me".into(),
            password: None,
        }
    }

    fn entry() -> (Entry, channel::Receiver<Relay>) {
        let (tx, rx) = channel::bounded(8);
        let account = LegacyAccount {
            legacy_id: "me".into(),
            secret: None,
            options: Default::default(),
        };
        (
            Entry::new(account, None, tx, &crate::config::Limits::default()),
            rx,
        )
    }

    #[tokio::test]
    async fn what_was_not_done_is_bounced_when_the_backend_dies() {
        let (mut e, mut rx) = entry();
        assert_eq!(e.number(&send("a")), 1);
        assert_eq!(e.number(&send("b")), 2);
        e.done(1);
        e.lost_backend("it crashed").unwrap();
        let Some(Relay::Event(LegacyEvent::SendFailed { id, .. })) = rx.recv().await else {
            panic!()
        };
        assert_eq!(id.as_deref(), Some("b"));
        assert!(matches!(
            rx.recv().await,
            Some(Relay::Event(LegacyEvent::Reconnecting { .. }))
        ));
        // Numbering starts again for the next process.
        assert_eq!(e.number(&send("c")), 1);
    }

    #[test]
    fn rooms_are_remembered_for_a_restart_and_credit_comes_back_with_done() {
        let (mut e, _rx) = entry();
        e.number(&join("#a"));
        e.number(&join("#b"));
        e.number(&join("#a"));
        e.number(&LegacyCommand::LeaveRoom {
            room: LegacyId::new("#b", None),
            reason: None,
        });
        assert_eq!(e.rooms, vec![join("#a")]);
        // Credit: taken by the session's task per command, given back by `done`, never by
        // a replayed join (it took none), all of it when the backend dies.
        let (mut e, _rx) = entry();
        let full = e.credit.available_permits();
        // After a restart the joins are replayed first (seq 1), then commands come.
        e.number_replay(&join("#a"));
        for _ in 0..3 {
            e.credit.try_acquire().unwrap().forget();
            e.number(&send("x"));
        }
        assert_eq!(e.credit.available_permits(), full - 3);
        e.done(3);
        assert_eq!(e.credit.available_permits(), full - 1);
        e.done(99); // beyond what it was given: as far as it was given
        assert_eq!(e.credit.available_permits(), full);
        e.done(1); // going back: nothing
        assert_eq!(e.credit.available_permits(), full);
        e.credit.try_acquire().unwrap().forget();
        e.number(&send("y"));
        let _ = e.lost_backend("gone");
        assert_eq!(e.credit.available_permits(), full);
        let _ = ClientIds::default();
    }

    #[test]
    fn a_flood_is_cut_and_said_once() {
        let (tx, _rx) = channel::bounded(10_000);
        let limits = crate::config::Limits {
            event_burst: 5,
            events_per_second: 0.001,
            ..Default::default()
        };
        let account = LegacyAccount {
            legacy_id: "me".into(),
            secret: None,
            options: Default::default(),
        };
        let mut e = Entry::new(account, None, tx, &limits);
        for _ in 0..5 {
            e.event(LegacyEvent::Connected).unwrap();
        }
        assert_eq!(
            e.event(LegacyEvent::Connected),
            Err(Refused::Flood { first: true })
        );
        assert_eq!(
            e.event(LegacyEvent::Connected),
            Err(Refused::Flood { first: false })
        );
    }
}
