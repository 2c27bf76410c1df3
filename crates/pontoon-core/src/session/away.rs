//! Always online (issue 16): a user who chose it keeps their legacy session connected, and
//! in its rooms, while none of their XMPP clients is online. The network sees them away;
//! what is said in their rooms meanwhile goes to the room's archive (`crate::archive`),
//! shown to a client that comes back as the room's history or fetched by MAM; direct
//! messages go to their bare JID as always, which their server keeps for them (component
//! mode: its offline storage; server mode: Pontoon's own, `crate::server`).
//!
//! The operator bounds it per transport ([`AwaySlots`]: the policy's
//! `always_online_limit`, sessions kept away at once); the user's choice is their
//! registration's (`pontoon_store::Registration::always_online`), the policy's
//! `always_online_default` where they made none.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::legacy::{Availability, LegacyCommand, LegacyId};

use super::Session;

/// What the network reads as the user's status while they are away.
pub const AWAY_STATUS: &str = "Away (offline; messages are kept)";
/// The transport state key of the rooms a session was in when it went away, for the
/// session the gateway starts again after a restart: (room, nick) pairs, JSON.
const ROOMS_KEY: &str = "pontoon.rooms-away";
/// Rooms kept, at most (the state's value limit holds far more).
const MAX_KEPT_ROOMS: usize = 200;

/// The places for sessions kept online while away, per service.
#[derive(Debug, Default)]
pub struct AwaySlots {
    used: AtomicU32,
    limit: AtomicU32,
}

impl AwaySlots {
    /// At most `limit` at once (the policy changed).
    pub fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Sessions kept online while away now.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes a place, if one is free.
    fn take(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    fn give(&self) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// A session's part in it.
#[derive(Debug, Default)]
pub(crate) struct Away {
    /// The user chose to stay online while away (or the transport's default says so).
    pub(crate) always_online: bool,
    /// Since when (unix seconds: small, the session keeps it) the session is kept online
    /// with no client: it holds a place then.
    pub(crate) since: Option<std::num::NonZeroU32>,
    /// Started by the gateway with no client (after a restart): goes away and rejoins its
    /// rooms once logged in (`resume_away`).
    pub(crate) resume: bool,
    /// While away, direct messages wait here until a client is back (the user's choice,
    /// `away_messages.rs`), rather than going to their server at once.
    pub(crate) keep_messages: bool,
}

impl Session {
    /// The user's last client went offline: keeps the session online if they chose so and
    /// a place is free (true), the network told they are away; false: it ends as usual.
    pub(super) async fn go_away(&mut self) -> bool {
        if self.away.since.is_some() {
            return true;
        }
        if !self.away.always_online || !self.is_online() {
            return false;
        }
        if !self.ctx.away.take() {
            tracing::info!("always online, but no place is free: logging out");
            self.notice(
                "You chose to stay online while away, but the gateway keeps no more users online right now; you were logged out.",
            )
            .await;
            return false;
        }
        tracing::info!("the user's clients are all offline: staying online (always online)");
        self.read_away_choice().await;
        let now = crate::archive::now_micros() / 1_000_000;
        self.away.since = std::num::NonZeroU32::new(u32::try_from(now).unwrap_or(u32::MAX))
            .or(std::num::NonZeroU32::new(1));
        self.status
            .set_shown(crate::control::Shown::Away, Some(AWAY_STATUS));
        let status = Some(AWAY_STATUS.to_owned());
        self.last_sent_presence = Some((Availability::ExtendedAway, status.clone()));
        let _ = self
            .legacy
            .send(LegacyCommand::SetPresence {
                availability: Availability::ExtendedAway,
                status,
            })
            .await;
        self.keep_rooms().await;
        true
    }

    /// A client of the user is back: the place is given back (their presence follows).
    pub(super) async fn come_back(&mut self) {
        if self.away.since.take().is_some() {
            tracing::info!("a client is back");
            self.ctx.away.give();
            self.hand_over_kept().await;
            if let Err(e) = self.transport_state.delete(ROOMS_KEY).await {
                tracing::warn!(error = %e, "could not forget the rooms kept while away");
            }
        }
    }

    /// The session was started by the gateway with no client (always online, after a
    /// restart) and is logged in: it goes away and joins the rooms it was in again; false
    /// when it may not stay.
    pub(super) async fn resume_away(&mut self) -> bool {
        if !self.go_away().await {
            return false;
        }
        let kept: Vec<(LegacyId, String)> = match self.transport_state.get(ROOMS_KEY).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the rooms kept while away");
                Vec::new()
            }
        };
        tracing::info!(
            rooms = kept.len(),
            "back online while away, after a restart"
        );
        for (room, nick) in kept.into_iter().take(MAX_KEPT_ROOMS) {
            if self.rooms.contains_key(&room) {
                continue;
            }
            self.rooms.insert(
                room.clone(),
                Box::new(crate::muc::Room::without_client(nick.clone())),
            );
            let _ = self
                .legacy
                .send(LegacyCommand::JoinRoom {
                    room,
                    nick,
                    password: None,
                })
                .await;
        }
        true
    }

    /// Notes the rooms the user is in, for a restart while away.
    async fn keep_rooms(&self) {
        let rooms: Vec<(&LegacyId, &str)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(id, r)| (id, r.nick.as_str()))
            .take(MAX_KEPT_ROOMS)
            .collect();
        let Ok(json) = serde_json::to_vec(&rooms) else {
            return;
        };
        if let Err(e) = self.transport_state.put(ROOMS_KEY, &json).await {
            tracing::warn!(error = %e, "could not note the rooms kept while away");
        }
    }

    /// The session ends: its place, if it held one, is free again.
    pub(super) fn release_away(&mut self) {
        if self.away.since.take().is_some() {
            self.ctx.away.give();
        }
    }

    /// The user changed their choice; true when the session is over (turned off while
    /// away).
    pub(super) async fn set_always_online(&mut self, on: bool) -> bool {
        self.away.always_online = on;
        if !on && self.away.since.is_some() {
            self.come_back().await;
            return self.logout("Always online turned off").await;
        }
        false
    }

    /// Kept online while no client is: the session does not end for want of clients.
    pub(super) fn is_away(&self) -> bool {
        self.away.since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_and_given_back() {
        let slots = AwaySlots::default();
        assert!(!slots.take(), "no place before the policy says");
        slots.set_limit(2);
        assert!(slots.take() && slots.take());
        assert!(!slots.take());
        slots.give();
        assert_eq!(slots.used(), 1);
        assert!(slots.take());
        slots.give();
        slots.give();
        slots.give();
        assert_eq!(slots.used(), 0, "never below nothing");
    }
}
