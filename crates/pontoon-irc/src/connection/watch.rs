//! Contacts' presence: MONITOR or ISON polling, and the changes reported to the core.

use super::*;

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
        if self.registered && self.watch_synced && self.watch_flush_at.is_none() {
            self.watch_flush_at = Some(Instant::now() + WATCH_BATCH);
        }
    }

    /// Sets up the watches on the server (once per connection, after the MOTD).
    pub(super) fn sync_watches(&mut self) {
        self.watch_synced = true;
        self.flush_watches();
    }

    /// Sends pending MONITOR changes and schedules ISON for what MONITOR does not cover.
    pub(super) fn flush_watches(&mut self) {
        self.watch_flush_at = None;
        if !self.registered || !self.watch_synced {
            return;
        }
        if !self.watch_headroom() {
            // The queue is nearly full: try again once it has drained a little.
            self.watch_flush_at = Some(Instant::now() + Duration::from_secs(1));
            return;
        }
        let removals = std::mem::take(&mut self.monitor_remove);
        for line in presence::monitor_lines('-', &removals) {
            if !self.queue_control(line) {
                break;
            }
        }
        if let Some(limit) = self.isupport.monitor {
            let adds = self.watcher.to_monitor(limit.min(presence::MAX_WATCHED));
            for line in presence::monitor_lines('+', &adds) {
                if !self.queue_control(line) {
                    break;
                }
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
        if self.ison_refused || self.watcher.ison_targets().is_empty() {
            self.ison_next = None;
            return;
        }
        let now = Instant::now();
        if self.watcher.poll_due() {
            self.ison_next = Some(now);
        } else if self.ison_next.is_none() {
            self.ison_next = Some(now + self.poll_interval());
        }
    }

    pub(super) fn poll_interval(&self) -> Duration {
        self.cfg.presence_poll_interval.max(MIN_POLL_INTERVAL)
    }

    /// Polls the nicks MONITOR does not cover with ISON, in lines within the limit, paced
    /// like every other line.
    pub(super) fn poll_ison(&mut self) {
        self.ison_next = None;
        if !self.registered || !self.watch_synced || self.ison_refused {
            return;
        }
        let targets = self.watcher.ison_targets();
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        let interval = self.poll_interval();
        self.ison_next = Some(now + interval);
        if self.watcher.ison_waiting() {
            // The last poll is still unanswered: give it up to two intervals.
            if self.ison_sent_at.is_some_and(|t| now < t + interval * 2) {
                return;
            }
            self.watcher.clear_ison_pending();
        }
        if !self.watch_headroom() {
            // The queue is nearly full: poll at the next interval instead.
            return;
        }
        for (line, names) in presence::ison_lines(&targets) {
            if !self.watcher.ison_asked(&names, &self.isupport) || !self.queue_control(line) {
                break;
            }
        }
        self.ison_sent_at = Some(now);
    }
}
