//! A user's presence as their presence badge shows it (`pontoon_http`'s presence routes),
//! read without asking the service: each session writes its user's availability into its
//! [`SessionStatus`], and the service keeps an index of its sessions' statuses by user
//! ([`PresenceIndex`]) that a control handle reads under a short read lock. A public HTTP
//! request thus never queues behind the operator's requests or waits on a busy service.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use jid::BareJid;

use super::{ServiceControl, SessionStatus};
use crate::legacy::Availability;

/// Longest status text kept per session, in bytes (cut at a character boundary).
pub const STATUS_TEXT_MAX: usize = 200;

/// A user's presence as a badge shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Available (or free for chat).
    Online,
    /// Away, or away for long.
    Away,
    /// Do not disturb.
    Busy,
    /// No session logged in to the network.
    Offline,
}

impl Shown {
    /// The name shown and exported (`online`, `away`, `busy`, `offline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Online => "online",
            Shown::Away => "away",
            Shown::Busy => "busy",
            Shown::Offline => "offline",
        }
    }

    pub(crate) fn index(self) -> u8 {
        match self {
            Shown::Online => 0,
            Shown::Away => 1,
            Shown::Busy => 2,
            Shown::Offline => 3,
        }
    }

    fn from_index(i: u8) -> Shown {
        match i {
            1 => Shown::Away,
            2 => Shown::Busy,
            3 => Shown::Offline,
            _ => Shown::Online,
        }
    }
}

impl From<Availability> for Shown {
    fn from(a: Availability) -> Shown {
        match a {
            Availability::Available | Availability::Chat => Shown::Online,
            Availability::Away | Availability::ExtendedAway => Shown::Away,
            Availability::DoNotDisturb => Shown::Busy,
            Availability::Offline => Shown::Offline,
        }
    }
}

/// A user's presence: what they show and their status text, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPresence {
    /// Online, away, busy or offline.
    pub shown: Shown,
    /// The status text of their most available client (at most [`STATUS_TEXT_MAX`] bytes).
    pub status: Option<String>,
}

impl UserPresence {
    /// Offline, without a status.
    pub const OFFLINE: UserPresence = UserPresence {
        shown: Shown::Offline,
        status: None,
    };
}

impl SessionStatus {
    /// Records the user's presence (the session does, as their clients' presence changes).
    pub(crate) fn set_shown(&self, shown: Shown, status: Option<&str>) {
        self.shown.store(shown.index(), Ordering::Relaxed);
        let status = status.map(str::trim).filter(|s| !s.is_empty()).map(|s| {
            let mut end = s.len().min(STATUS_TEXT_MAX);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Box::<str>::from(&s[..end])
        });
        if let Ok(mut d) = self.detail.lock() {
            d.status_text = status;
        }
    }

    /// The user's presence: what their clients show while the session is logged in (or
    /// connecting again), offline otherwise (and while none of their clients is available).
    pub fn presence(&self) -> UserPresence {
        if !self.is_online() {
            return UserPresence::OFFLINE;
        }
        UserPresence {
            shown: Shown::from_index(self.shown.load(Ordering::Relaxed)),
            status: self
                .detail
                .lock()
                .ok()
                .and_then(|d| d.status_text.as_deref().map(str::to_owned)),
        }
    }
}

/// The statuses of a service's sessions by user, shared by the service (which writes it as
/// sessions start and end) and its control handles (which read it).
#[derive(Clone, Debug, Default)]
pub(crate) struct PresenceIndex(Arc<RwLock<HashMap<BareJid, Arc<SessionStatus>>>>);

impl PresenceIndex {
    /// `user`'s session now has `status`.
    pub(crate) fn insert(&self, user: BareJid, status: Arc<SessionStatus>) {
        if let Ok(mut map) = self.0.write() {
            map.insert(user, status);
        }
    }

    /// `user` has no session any more.
    pub(crate) fn remove(&self, user: &BareJid) {
        if let Ok(mut map) = self.0.write() {
            map.remove(user);
        }
    }

    fn get(&self, user: &BareJid) -> Option<Arc<SessionStatus>> {
        self.0.read().ok()?.get(user).cloned()
    }
}

impl ServiceControl {
    /// `user`'s presence on the transport now; never waits on the service.
    pub fn presence_of(&self, user: &BareJid) -> UserPresence {
        self.presences
            .get(user)
            .map_or(UserPresence::OFFLINE, |s| s.presence())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::control::SessionState;

    #[test]
    fn presence_follows_the_session_and_its_clients() {
        let control = ServiceControl::detached("irc", "irc.example.org");
        let user = BareJid::new("a@example.org").unwrap();
        assert_eq!(control.presence_of(&user), UserPresence::OFFLINE);
        let status = Arc::new(SessionStatus::new("alice".into()));
        control.presences.insert(user.clone(), status.clone());
        assert_eq!(
            control.presence_of(&user).shown,
            Shown::Offline,
            "connecting"
        );
        status.set_state(SessionState::Online);
        assert_eq!(
            control.presence_of(&user).shown,
            Shown::Offline,
            "no presence yet"
        );
        status.set_shown(Shown::Online, None);
        assert_eq!(control.presence_of(&user).shown, Shown::Online);
        status.set_shown(Availability::DoNotDisturb.into(), Some("  in a meeting "));
        let p = control.presence_of(&user);
        assert_eq!(
            (p.shown, p.status.as_deref()),
            (Shown::Busy, Some("in a meeting"))
        );
        status.set_shown(Shown::Away, Some(&"é".repeat(STATUS_TEXT_MAX)));
        let p = control.presence_of(&user);
        assert_eq!(p.shown, Shown::Away);
        assert!(p.status.unwrap().len() <= STATUS_TEXT_MAX);
        control.presences.remove(&user);
        assert_eq!(control.presence_of(&user), UserPresence::OFFLINE);
    }
}
