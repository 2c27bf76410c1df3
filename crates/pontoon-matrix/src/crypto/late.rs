//! Messages whose room key had not come when they did. A sender's device shares a room's
//! key over to-device messages, which may arrive after the message itself (a slow or
//! offline device, a key forwarded later by another of the user's devices). Such a message
//! is shown at once as undecryptable, in words, and kept here a while; when a later sync
//! brings to-device messages, it is decrypted again, and the session shows the text in
//! place of the words (an XEP-0308 correction, `session/e2ee.rs`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ruma::OwnedRoomId;
use ruma::events::AnySyncTimelineEvent;
use ruma::serde::Raw;

use super::{Crypto, Decrypted};

/// Most messages kept per session; beyond, the oldest is given up.
const MAX_WAITING: usize = 32;

/// How long a message waits for its key.
const WAIT_FOR: Duration = Duration::from_secs(3600);

/// Messages waiting for their room key (none, and nothing allocated, in most sessions).
#[derive(Default)]
pub(super) struct Waiting(VecDeque<(OwnedRoomId, Raw<AnySyncTimelineEvent>, Instant)>);

impl Waiting {
    /// Keeps `raw` of `room` until its key comes.
    pub(super) fn push(&mut self, room: OwnedRoomId, raw: Raw<AnySyncTimelineEvent>) {
        if self.0.len() >= MAX_WAITING {
            self.0.pop_front();
        }
        self.0.push_back((room, raw, Instant::now()));
    }
}

impl Crypto {
    /// Whether messages wait for their keys.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.0.is_empty()
    }

    /// Tries the waiting messages again (after to-device messages came): those that
    /// decrypt now, with their room; the others wait on, unless their time is over or
    /// their key will not come.
    pub async fn decrypt_waiting(&mut self) -> Vec<(OwnedRoomId, Box<AnySyncTimelineEvent>)> {
        let mut decrypted = Vec::new();
        let waiting = std::mem::take(&mut self.waiting.0);
        for (room, raw, since) in waiting {
            if since.elapsed() > WAIT_FOR {
                continue;
            }
            match self.decrypt(&room, &raw).await {
                Decrypted::Event(event) => decrypted.push((room, event)),
                Decrypted::Later(_) => self.waiting.0.push_back((room, raw, since)),
                Decrypted::Failed(_) => {}
            }
        }
        decrypted
    }
}
