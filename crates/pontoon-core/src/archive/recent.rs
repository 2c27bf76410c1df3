//! One stanza-id per room message, whichever of the gateway's users in the room it reaches.
//!
//! Every user in a legacy room has a connection of their own, so a room message reaches the
//! gateway once per user. So that a room's archive keeps it once, and every user's clients
//! name it by the same stanza-id, the first session to see a message makes its id and the
//! others take it: a message is known by the network's id where it has one (IRCv3 `msgid`,
//! Matrix event ids), by its author and text otherwise. Each session takes an id once, so a
//! line said twice is two messages. Bounded in time and count: a copy that arrives later
//! than [`WINDOW`] after the first, or after [`PER_ROOM`] newer messages, is a new message
//! (archived twice, never lost).
//!
//! The claim also decides who records someone else's message in the id map
//! ([`IdsRecord`]): once for the room, by the first session whose user is not its author,
//! rather than once per user (ten users of the gateway in a channel made ten records of
//! every line, the bulk of the store's writes).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// How long a message waits for its other copies.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Messages remembered per room, at most.
pub(crate) const PER_ROOM: usize = 32;
/// Rooms swept of old messages every this many claims.
const SWEEP_EVERY: u32 = 4096;

/// A message seen in a room.
struct Seen {
    key: u64,
    id: Box<str>,
    at: Instant,
    /// The sessions (by generation) that took its id.
    takers: Vec<u64>,
    /// The room's record of its ids is on its way to the id map.
    recorded: bool,
}

impl Seen {
    /// Who records the message's ids for a taker (its author if `own`).
    fn record_by(&mut self, own: bool) -> IdsRecord {
        if own || self.recorded {
            return IdsRecord::Done;
        }
        self.recorded = true;
        IdsRecord::ForRoom
    }
}

/// The messages seen lately, per room.
pub(crate) struct Recent {
    rooms: HashMap<Box<str>, VecDeque<Seen>>,
    hasher: std::collections::hash_map::RandomState,
    claims: u32,
}

/// What [`Recent::claim`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The message's stanza-id.
    pub id: String,
    /// This session is the first to see it: it archives it.
    pub first: bool,
    /// Who records its ids in the id map, for a user who is not its author (the author's
    /// own record is theirs, always).
    pub record: IdsRecord,
}

/// Who records the ids of a room message a user did not write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdsRecord {
    /// The session, under its user: the claims are unavailable (a poisoned lock), so
    /// this copy has an id of its own.
    ByUser,
    /// The session, as the room's record, which every user of the gateway in the room finds
    /// (`pontoon_store::ROOM_ACCOUNT`).
    ForRoom,
    /// Nobody: another session has recorded it for the room.
    Done,
}

impl Recent {
    pub(crate) fn new() -> Recent {
        Recent {
            rooms: HashMap::new(),
            hasher: Default::default(),
            claims: 0,
        }
    }

    /// The stanza-id of the message `network_id` (or `author` saying `text`) in `room`, as
    /// the session `taker` (whose user wrote it if `own`) sees it at `now`; `fresh` makes a
    /// new one.
    pub(crate) fn claim(
        &mut self,
        room: &str,
        (network_id, author, text): (Option<&str>, &str, &str),
        (taker, own): (u64, bool),
        now: Instant,
        fresh: impl FnOnce() -> String,
    ) -> Claim {
        self.claims = self.claims.wrapping_add(1);
        if self.claims.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now);
        }
        let mut h = self.hasher.build_hasher();
        match network_id {
            Some(id) => (0u8, id).hash(&mut h),
            None => (1u8, author, text).hash(&mut h),
        }
        let key = h.finish();
        let seen = match self.rooms.get_mut(room) {
            Some(seen) => seen,
            None => self.rooms.entry(room.into()).or_default(),
        };
        while seen
            .front()
            .is_some_and(|s| now.duration_since(s.at) > WINDOW)
        {
            seen.pop_front();
        }
        if let Some(s) = seen
            .iter_mut()
            .find(|s| s.key == key && !s.takers.contains(&taker))
        {
            s.takers.push(taker);
            return Claim {
                id: s.id.to_string(),
                first: false,
                record: s.record_by(own),
            };
        }
        if seen.len() >= PER_ROOM {
            seen.pop_front();
        }
        let id = fresh();
        let mut s = Seen {
            key,
            id: id.as_str().into(),
            at: now,
            takers: vec![taker],
            recorded: false,
        };
        let record = s.record_by(own);
        seen.push_back(s);
        Claim {
            id,
            first: true,
            record,
        }
    }

    /// Forgets rooms with nothing said within [`WINDOW`].
    fn sweep(&mut self, now: Instant) {
        self.rooms.retain(|_, seen| {
            seen.back()
                .is_some_and(|s| now.duration_since(s.at) <= WINDOW)
        });
    }

    /// Rooms remembered (for tests and the operator's figures).
    #[cfg(test)]
    pub(crate) fn rooms(&self) -> usize {
        self.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("s{n}")
        }
    }

    #[test]
    fn each_copy_of_a_message_gets_the_first_ones_id() {
        let mut r = Recent::new();
        let now = Instant::now();
        let mut fresh = ids();
        let a = r.claim("#c", (None, "bob", "hi"), (1, false), now, &mut fresh);
        assert_eq!(
            a,
            Claim {
                id: "s1".into(),
                first: true,
                record: IdsRecord::ForRoom,
            }
        );
        let b = r.claim("#c", (None, "bob", "hi"), (2, false), now, &mut fresh);
        assert_eq!(
            b,
            Claim {
                id: "s1".into(),
                first: false,
                record: IdsRecord::Done,
            }
        );
        // The same line again, seen by session 1: another message.
        let c = r.claim("#c", (None, "bob", "hi"), (1, false), now, &mut fresh);
        assert_eq!(
            c,
            Claim {
                id: "s2".into(),
                first: true,
                record: IdsRecord::ForRoom,
            }
        );
        let d = r.claim("#c", (None, "bob", "hi"), (2, false), now, &mut fresh);
        assert_eq!(
            d,
            Claim {
                id: "s2".into(),
                first: false,
                record: IdsRecord::Done,
            }
        );
        // Another room, another author, another text: other messages.
        assert!(
            r.claim("#d", (None, "bob", "hi"), (2, false), now, &mut fresh)
                .first
        );
        assert!(
            r.claim("#c", (None, "eve", "hi"), (2, false), now, &mut fresh)
                .first
        );
        assert!(
            r.claim("#c", (None, "bob", "hi!"), (2, false), now, &mut fresh)
                .first
        );
    }

    #[test]
    fn a_message_is_recorded_once_for_the_room_by_a_user_who_did_not_write_it() {
        let mut r = Recent::new();
        let now = Instant::now();
        let mut fresh = ids();
        // Its author's session sees it first (their reflection): their record is theirs.
        let a = r.claim("#c", (None, "al", "hi"), (1, true), now, &mut fresh);
        assert!(a.first);
        assert_eq!(a.record, IdsRecord::Done);
        // The first other user records it for the room; the others do not.
        let b = r.claim("#c", (None, "al", "hi"), (2, false), now, &mut fresh);
        assert_eq!((b.first, b.record), (false, IdsRecord::ForRoom));
        let c = r.claim("#c", (None, "al", "hi"), (3, false), now, &mut fresh);
        assert_eq!((c.first, c.record), (false, IdsRecord::Done));
        assert_eq!([&a.id, &b.id], [&c.id, &c.id]);
    }

    #[test]
    fn network_ids_name_messages_whatever_their_text() {
        let mut r = Recent::new();
        let now = Instant::now();
        let fresh = || "x".to_owned();
        let a = r.claim("#c", (Some("m1"), "bob", "hi"), (1, false), now, fresh);
        let b = r.claim("#c", (Some("m1"), "bob", "hi"), (2, false), now, fresh);
        assert!(a.first && !b.first);
        assert!(
            r.claim("#c", (Some("m2"), "bob", "hi"), (2, false), now, fresh)
                .first
        );
    }

    #[test]
    fn late_copies_are_new_messages_and_idle_rooms_are_forgotten() {
        let mut r = Recent::new();
        let now = Instant::now();
        let mut fresh = ids();
        r.claim("#c", (None, "bob", "hi"), (1, false), now, &mut fresh);
        let late = now + WINDOW + Duration::from_secs(1);
        assert!(
            r.claim("#c", (None, "bob", "hi"), (2, false), late, &mut fresh)
                .first
        );
        // Bounded per room.
        for i in 0..PER_ROOM + 5 {
            r.claim(
                "#e",
                (None, "bob", &i.to_string()),
                (1, false),
                late,
                &mut fresh,
            );
        }
        assert!(
            r.claim("#e", (None, "bob", "0"), (2, false), late, &mut fresh)
                .first
        );
        r.sweep(late + WINDOW + Duration::from_secs(1));
        assert_eq!(r.rooms(), 0);
    }
}
