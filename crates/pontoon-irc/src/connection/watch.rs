//! Contacts' presence: MONITOR or ISON polling, and the changes reported to the core.
//!
//! The watching state is boxed and made only once the user follows someone on this
//! server: most connections follow nobody, and inline it was about 150 bytes of every
//! connection (performance pass 4).

use super::*;

/// A connection's presence watching.
#[derive(Default)]
pub(super) struct Watching {
    /// The watches were set up on the server (after the MOTD) in this attempt.
    synced: bool,
    /// Made at the first nick followed.
    state: Option<Box<WatchState>>,
}

/// What following contacts takes, once there are contacts to follow.
#[derive(Default)]
struct WatchState {
    watcher: Watcher,
    /// When the pending MONITOR changes go out (batched).
    flush_at: Option<Instant>,
    /// Nicks to take off the server's MONITOR list at the next flush.
    monitor_remove: Vec<String>,
    /// When the next ISON poll is due.
    ison_next: Option<Instant>,
    /// When the last ISON poll went out.
    ison_sent_at: Option<Instant>,
    /// The server does not know ISON (421): nothing is polled.
    ison_refused: bool,
}

impl Watching {
    /// The nicks followed, if any ever were.
    pub(super) fn watcher(&mut self) -> Option<&mut Watcher> {
        self.state.as_mut().map(|s| &mut s.watcher)
    }

    /// Starts following `nick` (see [`Watcher::add`]).
    pub(super) fn add(&mut self, nick: &str, is: &ISupport) -> bool {
        self.state
            .get_or_insert_with(Box::default)
            .watcher
            .add(nick, is)
    }

    /// How many nicks are followed.
    pub(super) fn len(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.watcher.len())
    }

    /// Stops following `nick`; a `MONITOR -` goes out at the next flush if it was on the
    /// server's list.
    pub(super) fn remove(&mut self, nick: String, is: &ISupport) {
        if let Some(s) = &mut self.state
            && s.watcher.remove(&nick, is)
        {
            s.monitor_remove.push(nick);
        }
    }

    /// Whether the watches are set up on the server in this attempt.
    pub(super) fn synced(&self) -> bool {
        self.synced
    }

    /// The next time something is due (a MONITOR flush, an ISON poll).
    pub(super) fn next_due(&self) -> Option<Instant> {
        let s = self.state.as_ref()?;
        [s.flush_at, s.ison_next].into_iter().flatten().min()
    }

    /// Whether the MONITOR flush and the ISON poll are due at `now`.
    pub(super) fn due(&self, now: Instant) -> (bool, bool) {
        self.state.as_ref().map_or((false, false), |s| {
            (
                s.flush_at.is_some_and(|t| now >= t),
                s.ison_next.is_some_and(|t| now >= t),
            )
        })
    }

    /// The connection ended: the next one sets its watches up afresh.
    pub(super) fn connection_reset(&mut self) {
        self.synced = false;
        if let Some(s) = &mut self.state {
            s.watcher.connection_reset();
            s.flush_at = None;
            s.monitor_remove.clear();
            s.ison_next = None;
            s.ison_sent_at = None;
            s.ison_refused = false;
        }
    }

    /// The server does not know ISON: stop polling.
    pub(super) fn ison_refused(&mut self) {
        if let Some(s) = &mut self.state {
            s.ison_refused = true;
            s.ison_next = None;
            s.watcher.clear_ison_pending();
        }
    }

    /// An ISON reply came: poll again at once if nicks are still unasked.
    pub(super) fn ison_answered(&mut self) {
        if let Some(s) = &mut self.state
            && !s.watcher.ison_waiting()
            && s.watcher.poll_due()
        {
            s.ison_next = Some(Instant::now());
        }
    }
}

impl Conn {
    /// Reports presence changes of watched nicks.
    pub(super) fn report(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            let contact = self.contact(&c.nick);
            self.emit(LegacyEvent::ContactPresence {
                contact,
                availability: c.availability,
                status: c.status,
            });
        }
    }

    /// Contacts were added or removed: send the changes soon, in one batch.
    pub(super) fn watch_changed(&mut self) {
        if !self.registered || !self.watch.synced {
            return;
        }
        if let Some(s) = &mut self.watch.state
            && s.flush_at.is_none()
        {
            s.flush_at = Some(Instant::now() + WATCH_BATCH);
        }
    }

    /// Sets up the watches on the server (once per connection, after the MOTD).
    pub(super) fn sync_watches(&mut self) {
        self.watch.synced = true;
        self.flush_watches();
    }

    /// Sends pending MONITOR changes and schedules ISON for what MONITOR does not cover.
    pub(super) fn flush_watches(&mut self) {
        let headroom = self.watch_headroom();
        let Some(s) = &mut self.watch.state else {
            return;
        };
        s.flush_at = None;
        if !self.registered || !self.watch.synced {
            return;
        }
        if !headroom {
            // The queue is nearly full: try again once it has drained a little.
            s.flush_at = Some(Instant::now() + Duration::from_secs(1));
            return;
        }
        let removals = std::mem::take(&mut s.monitor_remove);
        let adds = match self.isupport.monitor {
            Some(limit) => s.watcher.to_monitor(limit.min(presence::MAX_WATCHED)),
            None => Vec::new(),
        };
        let lines = presence::monitor_lines('-', &removals)
            .into_iter()
            .chain(presence::monitor_lines('+', &adds));
        for line in lines {
            if !self.queue_control(line) {
                break;
            }
        }
        self.schedule_poll();
    }

    /// Whether the queue has room for a full set of MONITOR or ISON lines (1000 nicks fit
    /// in about 65 lines each way).
    pub(super) fn watch_headroom(&self) -> bool {
        MAX_QUEUED_LINES.saturating_sub(self.user_q.len()) >= WATCH_HEADROOM
    }

    /// Plans the next ISON poll: now if a polled nick was never answered for, else at the
    /// regular interval; none when nothing is polled.
    pub(super) fn schedule_poll(&mut self) {
        let interval = self.poll_interval();
        let Some(s) = &mut self.watch.state else {
            return;
        };
        if s.ison_refused || s.watcher.ison_targets().is_empty() {
            s.ison_next = None;
            return;
        }
        let now = Instant::now();
        if s.watcher.poll_due() {
            s.ison_next = Some(now);
        } else if s.ison_next.is_none() {
            s.ison_next = Some(now + interval);
        }
    }

    pub(super) fn poll_interval(&self) -> Duration {
        self.cfg.presence_poll_interval.max(MIN_POLL_INTERVAL)
    }

    /// Polls the nicks MONITOR does not cover with ISON, in lines within the limit, paced
    /// like every other line.
    pub(super) fn poll_ison(&mut self) {
        let interval = self.poll_interval();
        let headroom = self.watch_headroom();
        let Some(s) = &mut self.watch.state else {
            return;
        };
        s.ison_next = None;
        if !self.registered || !self.watch.synced || s.ison_refused {
            return;
        }
        let targets = s.watcher.ison_targets();
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        s.ison_next = Some(now + interval);
        if s.watcher.ison_waiting() {
            // The last poll is still unanswered: give it up to two intervals.
            if s.ison_sent_at.is_some_and(|t| now < t + interval * 2) {
                return;
            }
            s.watcher.clear_ison_pending();
        }
        if !headroom {
            // The queue is nearly full: poll at the next interval instead.
            return;
        }
        s.ison_sent_at = Some(now);
        let mut lines = Vec::new();
        for (line, names) in presence::ison_lines(&targets) {
            if !s.watcher.ison_asked(&names, &self.isupport) {
                break;
            }
            lines.push(line);
        }
        for line in lines {
            if !self.queue_control(line) {
                break;
            }
        }
    }
}
