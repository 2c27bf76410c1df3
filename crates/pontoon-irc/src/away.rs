//! The user's away status on one IRC connection, coalesced.
//!
//! Every presence change of the user's clients may change the away message, and every
//! line to the server waits its turn behind the flood pacing (two a second by default). A
//! client changing its status a thousand times must not queue a thousand `AWAY` lines
//! that keep going out for minutes: at most one `AWAY` waits in the queue, as a marker,
//! and it says whatever the status is when its turn comes (nothing, if that is what the
//! server knows already).

/// What the connection wants the server to know, and what it knows.
#[derive(Debug, Default)]
pub struct Away {
    /// The status the user has now (`None`: here).
    wanted: Option<String>,
    /// What the server was last told on this connection (`None`: here, as after
    /// registering).
    sent: Option<String>,
    /// A marker waits in the send queue.
    queued: bool,
}

/// What the connection must do after the status changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing: the status did not change, the connection is not registered yet (the
    /// status goes out after registering), or a marker waits already.
    Nothing,
    /// Queue a marker ([`Away::take_line`] makes it a line when its turn comes).
    Queue,
}

impl Away {
    /// Starts with the status `wanted` (sent once registered).
    pub fn new(wanted: Option<String>) -> Self {
        Away {
            wanted,
            sent: None,
            queued: false,
        }
    }

    /// The status the user has now.
    pub fn wanted(&self) -> Option<&str> {
        self.wanted.as_deref()
    }

    /// The user's status changed to `wanted`; `registered` tells whether lines can go out.
    pub fn set(&mut self, wanted: Option<String>, registered: bool) -> Change {
        if wanted == self.wanted {
            return Change::Nothing;
        }
        self.wanted = wanted;
        if !registered || self.queued || self.wanted == self.sent {
            return Change::Nothing;
        }
        self.queued = true;
        Change::Queue
    }

    /// The marker could not be queued (the queue is full): the status is not sent now.
    pub fn not_queued(&mut self) {
        self.queued = false;
    }

    /// The marker's turn: the `AWAY` line to write, if the server must be told anything.
    pub fn take_line(&mut self) -> Option<String> {
        self.queued = false;
        if self.wanted == self.sent {
            return None;
        }
        self.sent = self.wanted.clone();
        Some(match &self.wanted {
            Some(text) => crate::line::build("AWAY", &[], Some(text)),
            None => "AWAY".to_owned(),
        })
    }

    /// Registered (again): the line that restores the status, if the user is away.
    pub fn on_registered(&mut self) -> Option<String> {
        self.sent = None;
        self.queued = false;
        self.take_line()
    }

    /// The connection dropped: queued lines are gone, and the server forgot the status.
    pub fn on_disconnect(&mut self) {
        self.sent = None;
        self.queued = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_changes_make_one_line_with_the_last_status() {
        let mut a = Away::default();
        assert_eq!(a.on_registered(), None, "here: nothing to say");
        assert_eq!(a.set(Some("s0".into()), true), Change::Queue);
        for i in 1..1000 {
            assert_eq!(a.set(Some(format!("s{i}")), true), Change::Nothing);
        }
        assert_eq!(a.take_line().as_deref(), Some("AWAY :s999"));
        assert_eq!(a.take_line(), None, "said once");
        // Back and forth before the turn comes: nothing at all.
        assert_eq!(a.set(None, true), Change::Queue);
        assert_eq!(a.set(Some("s999".into()), true), Change::Nothing);
        assert_eq!(a.take_line(), None);
        assert_eq!(a.set(None, true), Change::Queue);
        assert_eq!(a.take_line().as_deref(), Some("AWAY"));
    }

    #[test]
    fn status_survives_reconnects_and_full_queues() {
        let mut a = Away::new(Some("lunch".into()));
        assert_eq!(a.set(Some("lunch".into()), false), Change::Nothing);
        assert_eq!(a.on_registered().as_deref(), Some("AWAY :lunch"));
        a.on_disconnect();
        assert_eq!(a.set(Some("gone".into()), false), Change::Nothing);
        assert_eq!(a.on_registered().as_deref(), Some("AWAY :gone"));
        assert_eq!(a.set(Some("x".into()), true), Change::Queue);
        a.not_queued();
        assert_eq!(a.set(Some("y".into()), true), Change::Queue, "tries again");
    }
}
