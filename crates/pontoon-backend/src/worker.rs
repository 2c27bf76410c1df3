//! One backend process slot, supervised: an explicit loop over its two phases. Up, it
//! writes the sessions' commands, reads their events (each line checked: a session the
//! process was not given is refused, a session's flood is cut), and pings; a backend that
//! dies, closes its output, does not answer a ping, stops taking input or leaves too many
//! commands undone is killed, its sessions' undone commands bounced and its users told.
//! Down, it restarts the process after a backoff doubled at each failure in a row, then
//! logs every user back in and into their rooms. One task per process, whatever the
//! number of users; no call in it waits on a session or on the pipe.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use pontoon_core::legacy::{LegacyCommand, LegacyEvent};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{info, warn};

use crate::config::BackendConfig;
use crate::process::{Process, StartError, Tail};
use crate::protocol::{FromBackend, Hello, SessionId, ToBackend};
use crate::session::{self, Entry, Input, Refused, Relay};

/// Largest state a backend may save per account (the store's own bound).
const MAX_SAVED: usize = 64 * 1024;

/// What the console shows of one backend process.
#[derive(Debug, Default)]
pub struct Status {
    state: std::sync::Mutex<String>,
    restarts: AtomicU32,
    /// Sessions it serves (counted by the pool, which assigns them).
    pub sessions: Arc<AtomicUsize>,
    /// Its last stderr lines.
    pub tail: Tail,
}

impl Status {
    fn set(&self, state: String) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    /// Its state in words: running since when, or restarting and why.
    pub fn state(&self) -> String {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// How many times it was restarted.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }
}

type Starting = Pin<Box<dyn Future<Output = Result<(Process, Hello), StartError>> + Send>>;

/// A running process and what the worker is waiting from it.
struct Running {
    process: Process,
    since: Instant,
    /// The ping awaiting its pong, and until when.
    ping: Option<(u64, Instant)>,
    next_ping: Instant,
}

/// The supervisor of one process slot.
pub struct Worker {
    cfg: Arc<BackendConfig>,
    /// What the first process said: later ones must say the same.
    hello: Arc<Hello>,
    status: Arc<Status>,
    inputs: mpsc::Receiver<Input>,
    sessions: HashMap<SessionId, Entry>,
    failures: u32,
    pings: u64,
    complaints: Complaints,
}

impl Worker {
    /// A worker for `cfg`'s backend, fed by `inputs`.
    pub fn new(
        cfg: Arc<BackendConfig>,
        hello: Arc<Hello>,
        status: Arc<Status>,
        inputs: mpsc::Receiver<Input>,
    ) -> Worker {
        Worker {
            cfg,
            hello,
            status,
            inputs,
            sessions: HashMap::new(),
            failures: 0,
            pings: 0,
            complaints: Complaints::default(),
        }
    }

    /// Runs until every input sender is gone; `first` is a process already started (the
    /// one whose hello described the transport), or `None` to start one.
    pub async fn run(mut self, first: Option<Process>) {
        let mut running = first.and_then(|p| self.up(p));
        let mut starting: Option<Starting> = None;
        let mut restart_at = Instant::now();
        loop {
            if let Some(r) = running.as_mut() {
                let deadline = r.ping.map(|(_, at)| at).unwrap_or(r.next_ping);
                // Back-pressure: no new input while the backend is behind on what it has.
                let has_room = r.process.stdin.has_room();
                let lost = tokio::select! {
                    input = self.inputs.recv(), if has_room => match input {
                        Some(Input::Shutdown) | None => break,
                        Some(input) => self.input_up(r, input).err(),
                    },
                    () = r.process.stdin.room(), if !has_room => None,
                    line = r.process.lines.recv() => match line {
                        Some(Ok(message)) => self.on_line(r, message).err(),
                        Some(Err(bad)) => {
                            self.complaints.say(&self.cfg.name, format_args!("a line refused: {bad}"));
                            None
                        }
                        None => Some(String::new()),
                    },
                    _ = sleep_until(deadline) => self.ping(r).err(),
                };
                if let Some(why) = lost {
                    let Some(r) = running.take() else { continue };
                    let how = if why.is_empty() {
                        r.process.ended().await
                    } else {
                        let how = r.process.end().await;
                        format!("{why}; killed ({how})")
                    };
                    let stable = r.since.elapsed() >= self.cfg.limits.stable_after;
                    restart_at = self.down(&how, stable);
                }
            } else {
                tokio::select! {
                    input = self.inputs.recv() => match input {
                        Some(Input::Shutdown) | None => break,
                        Some(input) => self.input_down(input),
                    },
                    started = async {
                        match starting.as_mut() {
                            Some(start) => start.await,
                            None => std::future::pending().await,
                        }
                    }, if starting.is_some() => {
                        starting = None;
                        match started {
                            Ok((process, hello)) => {
                                self.compare(&hello);
                                running = self.up(process);
                                if running.is_none() {
                                    restart_at = self.down("its input closed at once", false);
                                }
                            }
                            Err(e) => restart_at = self.down(&e.to_string(), false),
                        }
                    }
                    _ = sleep_until(restart_at), if starting.is_none() => {
                        let cfg = self.cfg.clone();
                        let tail = self.status.tail.clone();
                        starting = Some(Box::pin(async move { Process::start(&cfg, &tail).await }));
                    }
                }
            }
        }
        if let Some(r) = running {
            let how = r.process.stop().await;
            info!(transport = %self.cfg.name, "backend stopped: {how}");
        }
    }

    /// A process is up (welcomed): log everyone in; `None` if it takes no input.
    fn up(&mut self, process: Process) -> Option<Running> {
        let now = Instant::now();
        let running = Running {
            process,
            since: now,
            ping: None,
            next_ping: now + self.cfg.limits.ping_interval,
        };
        let mut stuck = false;
        for (id, entry) in &mut self.sessions {
            stuck |= login(&running.process, *id, entry).is_err();
        }
        if stuck {
            return None;
        }
        let pid = running
            .process
            .pid()
            .map_or_else(|| "?".to_owned(), |p| p.to_string());
        self.status.set(format!("running (pid {pid})"));
        info!(transport = %self.cfg.name, sessions = self.sessions.len(), "backend running");
        Some(running)
    }

    /// The process is gone: bounce, tell the users, and say when to try again.
    fn down(&mut self, how: &str, stable: bool) -> Instant {
        if stable {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(&self.cfg.limits, self.failures);
        self.status.restarts.fetch_add(1, Ordering::Relaxed);
        self.status
            .set(format!("restarting in {}s: {how}", wait.as_secs()));
        warn!(transport = %self.cfg.name, reason = %how, retry_in = ?wait, sessions = self.sessions.len(), "backend down");
        let reason = format!("The network's backend stopped ({how}); Pontoon is restarting it");
        self.sessions
            .retain(|_, entry| entry.lost_backend(&reason) != Err(Refused::Gone));
        Instant::now() + wait
    }

    /// A later process must describe the same transport: the core keeps the first
    /// description until the transport is rebuilt.
    fn compare(&self, hello: &Hello) {
        if hello.descriptor != self.hello.descriptor || hello.addresses != self.hello.addresses {
            warn!(transport = %self.cfg.name, "the restarted backend describes itself differently; Pontoon keeps the first description until it restarts");
        }
    }

    fn input_up(&mut self, r: &mut Running, input: Input) -> Result<(), String> {
        match input {
            Input::Login(new) => {
                let (session, mut entry) = new.into_entry(&self.cfg.limits);
                let result = login(&r.process, session, &mut entry);
                self.sessions.insert(session, entry);
                result
            }
            Input::Command { session, command } => {
                let Some(entry) = self.sessions.get_mut(&session) else {
                    return Ok(());
                };
                let seq = entry.number(&command);
                r.process
                    .send(&ToBackend::Command {
                        session,
                        seq,
                        command,
                    })
                    .map_err(|e| e.to_string())
            }
            Input::Shutdown => Ok(()),
            Input::Logout { session } => {
                if self.sessions.remove(&session).is_some() {
                    r.process
                        .send(&ToBackend::Logout { session })
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }

    fn input_down(&mut self, input: Input) {
        match input {
            Input::Login(new) => {
                // Logged in when the backend is back.
                let (session, entry) = new.into_entry(&self.cfg.limits);
                self.sessions.insert(session, entry);
            }
            Input::Command { session, command } => {
                if let Some(entry) = self.sessions.get_mut(&session) {
                    // Not written: its credit comes back at once.
                    entry.refund();
                    // A join now is refused (below); a leave is remembered for the rejoin.
                    if !matches!(command, LegacyCommand::JoinRoom { .. }) {
                        entry.remember_room(&command);
                    }
                    if let Some(bounce) =
                        session::bounce(&command, "the network's backend is restarting")
                        && entry.pass(Relay::Event(bounce)) == Err(Refused::Gone)
                    {
                        self.sessions.remove(&session);
                    }
                }
            }
            Input::Logout { session } => {
                self.sessions.remove(&session);
            }
            Input::Shutdown => {}
        }
    }

    fn on_line(&mut self, r: &mut Running, message: FromBackend) -> Result<(), String> {
        let name = &self.cfg.name;
        match message {
            FromBackend::Event { session, event } => {
                let Some(entry) = self.sessions.get_mut(&session) else {
                    self.complaints.say(
                        name,
                        format_args!("an event for session {session}, which it does not have"),
                    );
                    return Ok(());
                };
                let ends = session::ends_session(&event);
                match entry.event(event) {
                    Ok(()) if ends => {
                        self.sessions.remove(&session);
                    }
                    Ok(()) => {}
                    Err(Refused::Flood { first }) => {
                        self.complaints.say(
                            name,
                            format_args!("session {session} sends too many events; dropped"),
                        );
                        if first {
                            let _ = entry.pass(Relay::Event(LegacyEvent::Notice {
                                text: "The network sent more than Pontoon passes on at once; some of it was dropped.".to_owned(),
                            }));
                        }
                    }
                    Err(Refused::Gone) => {
                        warn!(transport = %name, session, "a session's events are not taken fast enough; ending it");
                        self.sessions.remove(&session);
                        r.process
                            .send(&ToBackend::Logout { session })
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            FromBackend::Done { session, seq } => {
                if let Some(entry) = self.sessions.get_mut(&session) {
                    entry.done(seq);
                }
            }
            FromBackend::SaveState { session, state } => match self.sessions.get_mut(&session) {
                Some(_) if state.as_ref().is_some_and(|s| s.len() > MAX_SAVED) => {
                    self.complaints.say(
                        name,
                        format_args!("a saved state of more than {MAX_SAVED} bytes; refused"),
                    );
                }
                Some(entry) => {
                    if entry.save(state).is_err() {
                        self.complaints.say(
                            name,
                            format_args!("session {session} saves its state too often; dropped"),
                        );
                    }
                }
                None => self.complaints.say(
                    name,
                    format_args!("a state for session {session}, which it does not have"),
                ),
            },
            FromBackend::Pong { request } => {
                if r.ping.is_some_and(|(sent, _)| sent == request) {
                    r.ping = None;
                    r.next_ping = Instant::now() + self.cfg.limits.ping_interval;
                }
            }
            FromBackend::Hello(_) => self.complaints.say(name, format_args!("a second hello")),
        }
        Ok(())
    }

    /// Sends a ping, or, if the last is unanswered, gives up on the process; a backend
    /// that reads none of its input for as long is given up on too.
    fn ping(&mut self, r: &mut Running) -> Result<(), String> {
        let within = self.cfg.limits.answer_timeout;
        if r.process.stdin.stalled(within) {
            return Err(format!("it read none of its input for {within:?}"));
        }
        if let Some((request, _)) = r.ping {
            if r.process.stdin.queued() > 0 {
                // It reads, slowly (a burst): the ping may still be queued. Wait on.
                r.ping = Some((request, Instant::now() + within));
                return Ok(());
            }
            return Err(format!("it did not answer a ping within {within:?}"));
        }
        self.pings += 1;
        r.ping = Some((self.pings, Instant::now() + self.cfg.limits.answer_timeout));
        r.process
            .send(&ToBackend::Ping {
                request: self.pings,
            })
            .map_err(|e| e.to_string())
    }
}

/// Logs `entry` in on `process`, and back into its rooms.
fn login(process: &Process, session: SessionId, entry: &mut Entry) -> Result<(), String> {
    process
        .send(&ToBackend::Login {
            session,
            account: entry.account.clone(),
            state: entry.state.clone(),
        })
        .map_err(|e| e.to_string())?;
    for join in std::mem::take(&mut entry.rooms) {
        let seq = entry.number_replay(&join);
        process
            .send(&ToBackend::Command {
                session,
                seq,
                command: join,
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The wait before the `failures`-th restart in a row.
fn backoff(limits: &crate::config::Limits, failures: u32) -> Duration {
    let doubled = limits
        .restart_first
        .saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(limits.restart_max)
}

/// Logs what a backend did wrong, at most once a second, counting what was not logged.
#[derive(Default)]
struct Complaints {
    last: Option<Instant>,
    unsaid: u64,
}

impl Complaints {
    fn say(&mut self, transport: &str, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            self.unsaid += 1;
            return;
        }
        self.last = Some(now);
        warn!(transport = %transport, also = self.unsaid, "backend sent {what}");
        self.unsaid = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_to_a_cap() {
        let limits = crate::config::Limits::default();
        let waits: Vec<u64> = (1..=9).map(|f| backoff(&limits, f).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
