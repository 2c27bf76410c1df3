//! A server's channel directory: one `LIST` at a time, its 322 RPL_LIST entries collected
//! (bounded) until 323 RPL_LISTEND.
//!
//! Requests that arrive while a listing is under way share it: they are answered with the
//! same result instead of sending the server a second, expensive LIST.

use std::collections::HashSet;

use pontoon_core::legacy::{LegacyId, RoomInfo};
use tokio::time::Instant;

use crate::address;
use crate::format;
use crate::line;

/// Channels collected from one LIST; the rest is dropped (and logged).
pub const MAX_ROOMS: usize = 10_000;
/// Requests that may share one listing; more fail at once.
pub const MAX_WAITERS: usize = 16;
/// Longest topic passed on, in bytes.
const MAX_TOPIC_LEN: usize = 400;

/// One LIST under way.
#[derive(Debug)]
pub struct Listing {
    /// The requests it answers.
    pub waiters: Vec<u64>,
    /// When it fails if the server has not finished.
    pub deadline: Instant,
    /// Whether LIST was sent (it waits for registration otherwise).
    pub sent: bool,
    rooms: Vec<RoomInfo>,
    seen: HashSet<LegacyId>,
    truncated: bool,
}

impl Listing {
    /// A listing for `request`, failing at `deadline`.
    pub fn new(request: u64, deadline: Instant) -> Listing {
        Listing {
            waiters: vec![request],
            deadline,
            sent: false,
            rooms: Vec::new(),
            seen: HashSet::new(),
            truncated: false,
        }
    }

    /// Adds an entry. Returns true exactly once: when the entry is the first one dropped
    /// because [`MAX_ROOMS`] were collected (for the caller to log).
    pub fn add(&mut self, info: RoomInfo) -> bool {
        if self.rooms.len() >= MAX_ROOMS {
            let first = !self.truncated;
            self.truncated = true;
            return first;
        }
        if self.seen.insert(info.room.clone()) {
            self.rooms.push(info);
        }
        false
    }

    /// How many entries were collected.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether none were collected.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Whether entries were dropped.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The requests and the rooms, sorted by room id (stable for paging).
    pub fn finish(self) -> (Vec<u64>, Vec<RoomInfo>) {
        let mut rooms = self.rooms;
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        (self.waiters, rooms)
    }
}

/// Removes the `[+modes args]` InspIRCd and others put before the topic in RPL_LIST.
pub fn strip_mode_prefix(topic: &str) -> &str {
    if let Some(rest) = topic.strip_prefix("[+")
        && let Some(end) = rest.find(']')
        && end <= 128
    {
        let modes = rest.get(..end).unwrap_or("");
        let letters = modes.split(' ').next().unwrap_or("");
        if letters.chars().all(|c| c.is_ascii_alphabetic()) {
            return rest.get(end + 1..).unwrap_or("").trim_start();
        }
    }
    topic
}

/// Reads a 322 RPL_LIST line's parameters (`me #chan visible :topic`) into a room, with
/// its id as the transport writes room ids (`label` is the `%server` part, `None` when
/// fixed). Channels the transport could not join (bad names) are skipped.
pub fn parse_entry(params: &[String], label: Option<&str>) -> Option<RoomInfo> {
    let chan = params.get(1)?;
    if !address::valid_channel(chan) {
        return None;
    }
    let occupants = params.get(2).and_then(|n| n.trim().parse::<u32>().ok());
    let topic = params
        .get(3)
        .map(|t| format::strip(strip_mode_prefix(t)))
        .map(|t| line::truncate(t.trim(), MAX_TOPIC_LEN).to_owned())
        .filter(|t| !t.is_empty());
    Some(RoomInfo {
        room: address::room_id(chan, label),
        name: None,
        occupants,
        topic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn entries() {
        assert_eq!(
            parse_entry(&p(&["me", "#Rust", "42", "\x02Rust\x02 talk"]), None),
            Some(RoomInfo {
                room: LegacyId::new("#rust", None),
                name: None,
                occupants: Some(42),
                topic: Some("Rust talk".into()),
            })
        );
        assert_eq!(
            parse_entry(&p(&["me", "#a", "3", "[+nt] hello"]), Some("irc.x.org")),
            Some(RoomInfo {
                room: LegacyId::new("#a", Some("irc.x.org")),
                name: None,
                occupants: Some(3),
                topic: Some("hello".into()),
            })
        );
        assert_eq!(
            parse_entry(&p(&["me", "#a", "many", ""]), None),
            Some(RoomInfo {
                room: LegacyId::new("#a", None),
                name: None,
                occupants: None,
                topic: None,
            })
        );
        assert_eq!(
            parse_entry(&p(&["me", "#a", "1"]), None).map(|r| r.topic),
            Some(None)
        );
        // Names the transport cannot use, or missing ones.
        assert_eq!(parse_entry(&p(&["me", "*", "1", "secret"]), None), None);
        assert_eq!(parse_entry(&p(&["me", "+modeless", "1", ""]), None), None);
        assert_eq!(parse_entry(&p(&["me", "#a%b", "1", ""]), None), None);
        assert_eq!(parse_entry(&p(&["me"]), None), None);
        // Over-long topics are cut on a char boundary.
        let long = "é".repeat(500);
        let t = parse_entry(&p(&["me", "#a", "1", &long]), None)
            .and_then(|r| r.topic)
            .unwrap();
        assert!(t.len() <= MAX_TOPIC_LEN && t.len() >= MAX_TOPIC_LEN - 1);
    }

    #[test]
    fn mode_prefixes() {
        assert_eq!(strip_mode_prefix("[+nt] topic"), "topic");
        assert_eq!(strip_mode_prefix("[+lnt 10] topic"), "topic");
        assert_eq!(strip_mode_prefix("[+nt]"), "");
        assert_eq!(strip_mode_prefix("[+1] not modes"), "[+1] not modes");
        assert_eq!(strip_mode_prefix("[info] topic"), "[info] topic");
        assert_eq!(strip_mode_prefix("plain"), "plain");
    }

    #[test]
    fn listing_is_bounded_and_sorted() {
        let now = Instant::now();
        let mut l = Listing::new(7, now);
        let room = |i: usize| RoomInfo {
            room: LegacyId::new(&format!("#c{i:05}"), None),
            name: None,
            occupants: Some(1),
            topic: None,
        };
        assert!(!l.add(room(2)));
        assert!(!l.add(room(1)));
        assert!(!l.add(room(1)), "duplicates are dropped quietly");
        assert_eq!(l.len(), 2);
        for i in 3..MAX_ROOMS + 1 {
            assert!(!l.add(room(i)));
        }
        assert_eq!(l.len(), MAX_ROOMS);
        assert!(
            l.add(room(MAX_ROOMS + 1)),
            "the first dropped entry is reported"
        );
        assert!(!l.add(room(MAX_ROOMS + 2)), "once");
        assert!(l.truncated());
        l.waiters.push(8);
        let (waiters, rooms) = l.finish();
        assert_eq!(waiters, vec![7, 8]);
        assert_eq!(rooms.len(), MAX_ROOMS);
        assert_eq!(rooms[0].room, "#c00001");
        assert!(rooms.windows(2).all(|w| w[0].room < w[1].room));
    }
}
