//! The paced outgoing queue: what may be written now under the flood bucket, QUIT, and the
//! control lines that jump the user's messages.

use super::*;

impl Conn {
    /// When the next line may be written, if there is one.
    pub(super) fn next_send(&mut self, now: Instant) -> Option<Instant> {
        let has = !self.reg_q.is_empty() || (self.registered && !self.user_q.is_empty());
        has.then(|| self.bucket.next_available(now))
    }

    /// Writes what the bucket allows. Returns true when QUIT was written.
    pub(super) async fn write_ready<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
    ) -> Result<bool, String> {
        let now = Instant::now();
        let mut buf: Vec<u8> = Vec::new();
        let mut quit = false;
        // Tracked messages whose last line is in this write.
        let mut settled = Vec::new();
        loop {
            let sendable = !self.reg_q.is_empty() || (self.registered && !self.user_q.is_empty());
            if !sendable || !self.bucket.try_take(now) {
                break;
            }
            let mut message = false;
            let line = if let Some(l) = self.reg_q.pop_front() {
                l
            } else {
                match self.user_q.pop_front() {
                    Some(out) if out.line == AWAY_MARKER => match self.away.take_line() {
                        Some(line) => line,
                        None => continue,
                    },
                    Some(out) => {
                        if let Some(info) = out.info {
                            self.on_message_written(*info);
                        }
                        settled.extend(out.receipt);
                        message = out.message;
                        out.line
                    }
                    None => break,
                }
            };
            quit |= line.starts_with("QUIT");
            // The user's messages in their channel's or network's send-encoding; every
            // other line (registration, passwords, tags, control lines) stays UTF-8.
            let charset = self
                .extras
                .as_deref()
                .filter(|_| message)
                .and_then(|x| x.channel_sends.for_line(line.as_bytes()).or(x.send));
            match charset {
                Some(charset) => {
                    // The tags stay UTF-8 (IRCv3); the rest is the user's line.
                    let split = if line.starts_with('@') {
                        line.find(' ').map_or(line.len(), |i| i + 1)
                    } else {
                        0
                    };
                    let (tags, rest) = line.split_at(split);
                    buf.extend_from_slice(tags.as_bytes());
                    buf.extend_from_slice(&crate::encoding::encode(rest, charset));
                }
                None => buf.extend_from_slice(line.as_bytes()),
            }
            buf.extend_from_slice(b"\r\n");
            if quit {
                break;
            }
        }
        // What a burst (registration, a reconnect's JOINs, a paste) grew, given back.
        pontoon_core::channel::shrink_drained(&mut self.reg_q, KEEP_SLOTS);
        pontoon_core::channel::shrink_drained(&mut self.user_q, KEEP_SLOTS);
        if buf.is_empty() {
            self.note_backlog();
            return Ok(false);
        }
        match timeout(WRITE_TIMEOUT, wr.write_all(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("write failed: {e}")),
            Err(_) => return Err("the server stopped reading".to_owned()),
        }
        match timeout(WRITE_TIMEOUT, wr.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("write failed: {e}")),
            Err(_) => return Err("the server stopped reading".to_owned()),
        }
        for receipt in settled {
            self.emit(LegacyEvent::Settled { receipt });
        }
        self.note_backlog();
        Ok(quit)
    }

    /// Tells the core when the user's queue becomes backed up (what is left after a write
    /// waits for the flood bucket) or empty again, once per change (`LegacyEvent::Backlog`).
    pub(super) fn note_backlog(&mut self) {
        let waiting = !self.user_q.is_empty();
        if waiting != self.backlog_told {
            self.backlog_told = waiting;
            self.emit(LegacyEvent::Backlog { waiting });
        }
    }

    pub(super) fn queue_quit(&mut self, reason: &str) {
        let line = line::build("QUIT", &[], Some(reason));
        let now = Instant::now();
        // Everything queued goes out before the QUIT, if the pacing allows it soon.
        let ahead = self.reg_q.len() + self.user_q.len() + 1;
        if self.registered && self.bucket.available_within(now, QUIT_FLUSH) >= ahead as f64 {
            self.user_q.push_back(Out {
                line,
                message: false,
                info: None,
                receipt: None,
            });
        } else {
            // Too much to send in time (or not logged in): say so, then quit at once.
            let text = format!(
                "the connection to {} is closing and it could not be sent in time",
                self.host_name()
            );
            self.fail_queue(&text);
            self.reg_q.push_back(line);
        }
        self.quitting = Some(now + QUIT_LINGER + Duration::from_secs(10));
    }

    /// Queues a control line (JOIN, PART, TOPIC, ...) behind the user's messages, within
    /// the same bound. Returns false when the queue is full and the line was dropped.
    #[must_use]
    pub(super) fn queue_control(&mut self, line: String) -> bool {
        if self.user_q.len() >= MAX_QUEUED_LINES {
            debug!(server = %self.addr.host, "queue full; dropping a control line");
            return false;
        }
        self.user_q.push_back(Out {
            line,
            message: false,
            info: None,
            receipt: None,
        });
        true
    }
}
