//! What each session tells the operator of itself ([`SessionStatus`], shared with the
//! session and updated by it) and what the operator's tools see of it ([`SessionInfo`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use jid::BareJid;

use super::Shown;

/// Where a legacy session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Logging in to the legacy network.
    Connecting,
    /// Logged in.
    Online,
    /// The legacy connection dropped; the transport is connecting again.
    Reconnecting,
    /// Logging out (shutdown, unregistration, an operator's request).
    Ending,
}

impl SessionState {
    /// The state's name as shown and exported (`connecting`, `online`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Online => "online",
            SessionState::Reconnecting => "reconnecting",
            SessionState::Ending => "ending",
        }
    }

    /// Every state, for exporting a zero for the absent ones.
    pub const ALL: [SessionState; 4] = [
        SessionState::Connecting,
        SessionState::Online,
        SessionState::Reconnecting,
        SessionState::Ending,
    ];

    /// The state's position in [`SessionState::ALL`].
    pub fn index(self) -> usize {
        match self {
            SessionState::Connecting => 0,
            SessionState::Online => 1,
            SessionState::Reconnecting => 2,
            SessionState::Ending => 3,
        }
    }

    fn from_index(i: u8) -> SessionState {
        match i {
            1 => SessionState::Online,
            2 => SessionState::Reconnecting,
            3 => SessionState::Ending,
            _ => SessionState::Connecting,
        }
    }
}

/// What the operator can read of one running session without asking it: written by the
/// session actor as things change, read by the service when asked (never a round trip to
/// the session, so a stalled session cannot stall the console). Kept small: one per session.
#[derive(Debug)]
pub struct SessionStatus {
    legacy_id: String,
    since: i64,
    state: AtomicU8,
    /// What the user's clients show (`shown::Shown`).
    pub(super) shown: AtomicU8,
    pub(super) detail: Mutex<StatusDetail>,
}

#[derive(Debug, Default)]
pub(super) struct StatusDetail {
    /// The resources, then the rooms, each a [`Lines`]: one heap block each, where a
    /// vector of strings took one more per entry (performance pass 4).
    resources: Lines,
    rooms: Lines,
    /// The latest problem the session met (16 bytes when there is none; the text is
    /// capped at [`LAST_ERROR_MAX`] bytes).
    last_error: Option<Box<str>>,
    /// The status text of the user's most available client (see `shown`).
    pub(super) status_text: Option<Box<str>>,
}

/// Longest last error kept per session, in bytes (longer texts are cut at a character
/// boundary): the operator needs the gist, and 10,000 sessions must stay cheap.
pub const LAST_ERROR_MAX: usize = 200;

impl SessionStatus {
    /// A session logging in as `legacy_id` starting now, in state `Connecting`.
    pub fn new(legacy_id: String) -> SessionStatus {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        SessionStatus {
            legacy_id,
            since,
            state: AtomicU8::new(0),
            // Offline until the user's first available presence (a server-mode login
            // comes before the client's presence).
            shown: AtomicU8::new(Shown::Offline.index()),
            detail: Mutex::new(StatusDetail::default()),
        }
    }

    /// Where the legacy login stands now.
    pub fn state(&self) -> SessionState {
        SessionState::from_index(self.state.load(Ordering::Relaxed))
    }

    /// Sets the state (the session actor does).
    pub fn set_state(&self, state: SessionState) {
        // index() < 4 always fits.
        self.state.store(state.index() as u8, Ordering::Relaxed);
    }

    /// Logged in, or connecting again while the session goes on (the transport keeps the
    /// user's presence and messages meanwhile).
    pub fn is_online(&self) -> bool {
        matches!(
            self.state(),
            SessionState::Online | SessionState::Reconnecting
        )
    }

    /// Unix seconds at which the session started.
    pub fn since(&self) -> i64 {
        self.since
    }

    /// Replaces the list of available resources.
    pub fn set_resources<T: std::fmt::Display>(&self, resources: impl Iterator<Item = T>) {
        let resources = Lines::of(resources);
        if let Ok(mut d) = self.detail.lock() {
            d.resources = resources;
        }
    }

    /// Replaces the list of rooms joined.
    pub fn set_rooms<T: std::fmt::Display>(&self, rooms: impl Iterator<Item = T>) {
        let rooms = Lines::of(rooms);
        if let Ok(mut d) = self.detail.lock() {
            d.rooms = rooms;
        }
    }

    /// Records the latest problem the session met (a refused login, a lost connection, a
    /// message the network did not take), cut to [`LAST_ERROR_MAX`] bytes.
    pub fn set_last_error(&self, text: &str) {
        let mut end = text.len().min(LAST_ERROR_MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Ok(mut d) = self.detail.lock() {
            d.last_error = Some(text[..end].into());
        }
    }

    /// The session as the operator sees it. `ending` is the service's own knowledge that
    /// it asked the session to end.
    pub fn info(&self, user: &BareJid, ending: bool) -> SessionInfo {
        let (mut resources, mut rooms, last_error) = self
            .detail
            .lock()
            .map(|d| {
                (
                    d.resources.to_vec(),
                    d.rooms.to_vec(),
                    d.last_error.as_deref().map(str::to_owned),
                )
            })
            .unwrap_or_default();
        resources.sort();
        rooms.sort();
        SessionInfo {
            user: user.clone(),
            legacy_id: self.legacy_id.clone(),
            state: if ending {
                SessionState::Ending
            } else {
                self.state()
            },
            resources,
            rooms,
            since: self.since,
            last_error,
        }
    }
}

/// A short list of names (JIDs, room ids) in one string, a line each.
#[derive(Debug, Default)]
struct Lines(Option<Box<str>>);

impl Lines {
    /// The list of `items`; a line break inside one (no JID or room id has one) is shown
    /// as U+FFFD rather than split it.
    fn of<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> Lines {
        use std::fmt::Write;
        let mut text = String::new();
        for item in items {
            let start = text.len();
            let _ = write!(text, "{item}");
            if text[start..].contains('\n') {
                let clean = text[start..].replace('\n', "\u{FFFD}");
                text.truncate(start);
                text.push_str(&clean);
            }
            text.push('\n');
        }
        text.pop();
        Lines((!text.is_empty()).then(|| text.into_boxed_str()))
    }

    /// The names, as they were given.
    fn to_vec(&self) -> Vec<String> {
        self.0
            .as_deref()
            .map(|t| t.split('\n').map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// One session as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The user's bare JID.
    pub user: BareJid,
    /// The legacy account the session logs in as (a registration's, the login's in server
    /// mode, or the transport's anonymous account).
    pub legacy_id: String,
    /// Where the legacy login stands.
    pub state: SessionState,
    /// The user's resources (full JIDs as text) that are available to the transport.
    pub resources: Vec<String>,
    /// Legacy ids of the rooms joined.
    pub rooms: Vec<String>,
    /// Unix seconds at which the session started.
    pub since: i64,
    /// The latest problem the session met, if any (see [`SessionStatus::set_last_error`]).
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_names_in_one_string() {
        assert_eq!(
            Lines::of(std::iter::empty::<&str>()).to_vec(),
            Vec::<String>::new()
        );
        let l = Lines::of(["u@example.org/phone", "#rust"].into_iter());
        assert_eq!(l.to_vec(), ["u@example.org/phone", "#rust"]);
        let bad = Lines::of(["a\nb", "c"].into_iter());
        assert_eq!(
            bad.to_vec(),
            ["a\u{FFFD}b", "c"],
            "a line break does not split a name"
        );
    }

    #[test]
    fn the_operator_sees_what_the_session_published() {
        let s = SessionStatus::new("bob".into());
        s.set_resources(["u@example.org/b", "u@example.org/a"].into_iter());
        s.set_rooms(["#x"].into_iter());
        let user: BareJid = "u@example.org".parse().expect("a JID");
        let info = s.info(&user, false);
        assert_eq!(info.resources, ["u@example.org/a", "u@example.org/b"]);
        assert_eq!(info.rooms, ["#x"]);
    }
}
