//! Following contacts' presence on one IRC server.
//!
//! Where the server offers `MONITOR` (ISUPPORT), watched nicks go on its monitor list and
//! the server says when they come and go (730 RPL_MONONLINE, 731 RPL_MONOFFLINE). Where it
//! does not, or for the nicks beyond its MONITOR limit, they are polled with `ISON`. On top
//! of either, what the connection sees anyway refines the picture: away-notify's `AWAY`,
//! and a watched nick's `QUIT`, `NICK` or `JOIN`.
//!
//! This module is pure state and line building: the [`Watcher`] is fed what the server
//! says and answers with the [`Change`]s to report; the connection actor sends its lines
//! (paced like everything else) and decides when to poll. Every collection is bounded.

use std::collections::{HashMap, VecDeque};

use pontoon_core::legacy::Availability;

use crate::address;
use crate::format;
use crate::isupport::ISupport;
use crate::line::{self, MAX_OUT_LINE};

/// Nicks followed per server.
pub const MAX_WATCHED: usize = 1000;
/// ISON lines that may wait for their answer (1000 nicks fit in about 65).
const MAX_ISON_PENDING: usize = 128;
/// Nicks read from one server reply.
const MAX_REPLY_NICKS: usize = 1000;
/// Longest away message passed on, in bytes.
const MAX_AWAY_LEN: usize = 300;

/// What we know of a watched nick.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// Nothing yet.
    Unknown,
    /// Not on the network.
    Offline,
    /// On the network, away with this message if `Some`.
    Online { away: Option<String> },
}

#[derive(Debug)]
struct Watch {
    /// The nick as the core named the contact (lowercase).
    nick: String,
    seen: Seen,
    /// On the server's MONITOR list (else it is polled with ISON).
    monitored: bool,
}

/// A presence change to report for a watched nick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The nick as it was watched (the core's contact id without the server part).
    pub nick: String,
    /// How available the contact now is.
    pub availability: Availability,
    /// The away message, if any.
    pub status: Option<String>,
}

/// The watched nicks of one connection and what is known of them.
#[derive(Debug, Default)]
pub struct Watcher {
    /// By folded nick.
    entries: HashMap<String, Watch>,
    /// The folded nicks asked in each ISON line still waiting for its 303, oldest first.
    ison_pending: VecDeque<Vec<String>>,
}

fn change(nick: &str, seen: &Seen) -> Change {
    let (availability, status) = match seen {
        Seen::Online { away: None } | Seen::Unknown => (Availability::Available, None),
        Seen::Online { away: Some(m) } => (Availability::Away, Some(m.clone())),
        Seen::Offline => (Availability::Offline, None),
    };
    Change {
        nick: nick.to_owned(),
        availability,
        status,
    }
}

/// Moves `w` to `seen`, returning the change to report if it is one.
fn set(w: &mut Watch, seen: Seen) -> Option<Change> {
    if w.seen == seen {
        return None;
    }
    w.seen = seen;
    Some(change(&w.nick, &w.seen))
}

impl Watcher {
    /// An empty watcher.
    pub fn new() -> Watcher {
        Watcher::default()
    }

    /// How many nicks are watched.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no nick is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts watching `nick`. Returns false when it is not a valid nick or the list is
    /// full ([`MAX_WATCHED`]); watching a nick twice is fine.
    pub fn add(&mut self, nick: &str, is: &ISupport) -> bool {
        if !address::valid_nick(nick) {
            return false;
        }
        let key = is.fold(nick);
        if self.entries.contains_key(&key) {
            return true;
        }
        if self.entries.len() >= MAX_WATCHED {
            return false;
        }
        self.entries.insert(
            key,
            Watch {
                nick: nick.to_owned(),
                seen: Seen::Unknown,
                monitored: false,
            },
        );
        true
    }

    /// Stops watching `nick`. Returns true when it was on the server's MONITOR list (so
    /// a `MONITOR -` is due).
    pub fn remove(&mut self, nick: &str, is: &ISupport) -> bool {
        self.entries
            .remove(&is.fold(nick))
            .is_some_and(|w| w.monitored)
    }

    /// Re-keys everything after the server announced its case mapping.
    pub fn refold(&mut self, is: &ISupport) {
        let entries = std::mem::take(&mut self.entries);
        for (_, w) in entries {
            let key = is.fold(&w.nick);
            self.entries.entry(key).or_insert(w);
        }
        let pending = std::mem::take(&mut self.ison_pending);
        self.ison_pending = pending
            .into_iter()
            .map(|batch| batch.iter().map(|n| is.fold(n)).collect())
            .collect();
    }

    /// Forgets what belonged to the connection that ended (its MONITOR list, ISON lines in
    /// flight); what is known of the nicks stays, so a reconnect reports only changes.
    pub fn connection_reset(&mut self) {
        for w in self.entries.values_mut() {
            w.monitored = false;
        }
        self.ison_pending.clear();
    }

    /// The nicks to add to the server's MONITOR list so that it holds at most `limit`;
    /// they are marked as monitored. Sorted, for stable lines.
    pub fn to_monitor(&mut self, limit: usize) -> Vec<String> {
        let room = limit.saturating_sub(self.monitored_count());
        let mut todo: Vec<&mut Watch> =
            self.entries.values_mut().filter(|w| !w.monitored).collect();
        todo.sort_by(|a, b| a.nick.cmp(&b.nick));
        todo.into_iter()
            .take(room)
            .map(|w| {
                w.monitored = true;
                w.nick.clone()
            })
            .collect()
    }

    /// How many watched nicks are on the server's MONITOR list.
    pub fn monitored_count(&self) -> usize {
        self.entries.values().filter(|w| w.monitored).count()
    }

    /// The server refused to monitor `nick` (its list is full): poll it instead. Returns
    /// whether it was watched.
    pub fn unmonitor(&mut self, nick: &str, is: &ISupport) -> bool {
        match self.entries.get_mut(&is.fold(nick)) {
            Some(w) => {
                w.monitored = false;
                true
            }
            None => false,
        }
    }

    /// The server has no working MONITOR after all: poll everything.
    pub fn unmonitor_all(&mut self) {
        for w in self.entries.values_mut() {
            w.monitored = false;
        }
    }

    /// The nicks to poll with ISON (those not monitored), sorted.
    pub fn ison_targets(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .values()
            .filter(|w| !w.monitored)
            .map(|w| w.nick.clone())
            .collect();
        v.sort();
        v
    }

    /// Whether some polled nick has never been answered for (so a poll is due soon).
    pub fn poll_due(&self) -> bool {
        self.entries
            .values()
            .any(|w| !w.monitored && w.seen == Seen::Unknown)
    }

    /// Records an ISON line asking about `nicks`. Returns false (and records nothing) when
    /// too many are already waiting for their answer.
    pub fn ison_asked(&mut self, nicks: &[String], is: &ISupport) -> bool {
        if self.ison_pending.len() >= MAX_ISON_PENDING {
            return false;
        }
        self.ison_pending
            .push_back(nicks.iter().map(|n| is.fold(n)).collect());
        true
    }

    /// Whether ISON answers are still awaited.
    pub fn ison_waiting(&self) -> bool {
        !self.ison_pending.is_empty()
    }

    /// Gives up on the ISON answers still awaited.
    pub fn clear_ison_pending(&mut self) {
        self.ison_pending.clear();
    }

    /// A 303 RPL_ISON (its trailing parameter): answers the oldest ISON line. Nicks asked
    /// and listed are online, those asked and not listed offline.
    pub fn on_ison_reply(&mut self, reply: &str, is: &ISupport) -> Vec<Change> {
        let Some(asked) = self.ison_pending.pop_front() else {
            return Vec::new();
        };
        let online: Vec<String> = reply
            .split(' ')
            .filter(|n| !n.is_empty())
            .take(MAX_REPLY_NICKS)
            .map(|n| is.fold(n))
            .collect();
        let mut out = Vec::new();
        for key in asked {
            let Some(w) = self.entries.get_mut(&key) else {
                continue;
            };
            if w.monitored {
                continue;
            }
            let seen = if online.contains(&key) {
                match &w.seen {
                    Seen::Online { .. } => continue,
                    _ => Seen::Online { away: None },
                }
            } else {
                Seen::Offline
            };
            out.extend(set(w, seen));
        }
        out
    }

    /// `nick` is on the network (730, JOIN, a new nick).
    pub fn online(&mut self, nick: &str, is: &ISupport) -> Option<Change> {
        let w = self.entries.get_mut(&is.fold(nick))?;
        if matches!(w.seen, Seen::Online { .. }) {
            return None;
        }
        set(w, Seen::Online { away: None })
    }

    /// `nick` left the network (731, QUIT, an old nick).
    pub fn offline(&mut self, nick: &str, is: &ISupport) -> Option<Change> {
        let w = self.entries.get_mut(&is.fold(nick))?;
        set(w, Seen::Offline)
    }

    /// away-notify: `nick` set (`Some`, non-empty) or cleared its away message.
    pub fn away(&mut self, nick: &str, message: Option<&str>, is: &ISupport) -> Option<Change> {
        let w = self.entries.get_mut(&is.fold(nick))?;
        let away = message
            .map(|m| line::truncate(format::strip(m).trim(), MAX_AWAY_LEN).to_owned())
            .filter(|m| !m.is_empty());
        set(w, Seen::Online { away })
    }

    /// The connection is gone for good: everyone known online is now unknown, reported
    /// offline.
    pub fn all_gone(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        for w in self.entries.values_mut() {
            if matches!(w.seen, Seen::Online { .. }) {
                out.extend(set(w, Seen::Offline));
            }
            w.seen = Seen::Unknown;
        }
        out
    }
}

/// `MONITOR + a,b,c` (or `-`) lines for `nicks`, each within the 512-byte line limit.
/// Invalid nicks (which could break the line) are left out.
pub fn monitor_lines(sign: char, nicks: &[String]) -> Vec<String> {
    let head = format!("MONITOR {sign} ");
    batch(&head, ',', nicks)
        .into_iter()
        .map(|(line, _)| line)
        .collect()
}

/// `ISON :a b c` lines for `nicks`, each within the 512-byte line limit, with the nicks
/// each asks about. Invalid nicks are left out.
pub fn ison_lines(nicks: &[String]) -> Vec<(String, Vec<String>)> {
    batch("ISON :", ' ', nicks)
}

fn batch(head: &str, sep: char, nicks: &[String]) -> Vec<(String, Vec<String>)> {
    let max = MAX_OUT_LINE - 2;
    let mut out = Vec::new();
    let mut line = String::new();
    let mut names = Vec::new();
    for nick in nicks.iter().filter(|n| address::valid_nick(n)) {
        if !names.is_empty() && line.len() + 1 + nick.len() > max {
            out.push((std::mem::take(&mut line), std::mem::take(&mut names)));
        }
        if names.is_empty() {
            line.push_str(head);
        } else {
            line.push(sep);
        }
        line.push_str(nick);
        names.push(nick.clone());
    }
    if !names.is_empty() {
        out.push((line, names));
    }
    out
}

/// The nicks of a 730/731 target list (`nick!user@host,nick2` or `nick,nick2`), at most
/// [`MAX_REPLY_NICKS`].
pub fn monitor_targets(list: &str) -> Vec<&str> {
    list.split(',')
        .map(|t| t.split('!').next().unwrap_or("").trim())
        .filter(|n| !n.is_empty())
        .take(MAX_REPLY_NICKS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is() -> ISupport {
        ISupport::default()
    }

    fn nicks(n: usize, len: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let s = format!("n{i}");
                format!("{s}{}", "x".repeat(len.saturating_sub(s.len())))
            })
            .collect()
    }

    #[test]
    fn monitor_lines_fit_512_bytes() {
        assert_eq!(
            monitor_lines('+', &["bob".into(), "carol".into()]),
            vec!["MONITOR + bob,carol"]
        );
        assert_eq!(monitor_lines('-', &["bob".into()]), vec!["MONITOR - bob"]);
        assert!(monitor_lines('+', &[]).is_empty());
        let many = nicks(1000, 30);
        let lines = monitor_lines('+', &many);
        let mut seen = Vec::new();
        for l in &lines {
            assert!(l.len() + 2 <= 512, "{}", l.len());
            assert!(!l.contains(['\r', '\n', ' ']) || l.starts_with("MONITOR + "));
            let list = l.strip_prefix("MONITOR + ").unwrap();
            assert!(!list.contains(' '));
            seen.extend(list.split(',').map(str::to_owned));
        }
        assert_eq!(seen, many);
        // Full lines: 16 nicks of 30 (+ commas) per line.
        assert!(lines.len() <= 1000 / 15 + 1, "{}", lines.len());
        // Nicks that would break the line are left out.
        assert_eq!(
            monitor_lines('+', &["a b".into(), "x,y".into(), "ok".into()]),
            vec!["MONITOR + ok"]
        );
    }

    #[test]
    fn ison_lines_fit_512_bytes() {
        let (l, n) = &ison_lines(&["bob".into(), "carol".into()])[0];
        assert_eq!(l, "ISON :bob carol");
        assert_eq!(n, &vec!["bob".to_owned(), "carol".to_owned()]);
        let many = nicks(1000, 30);
        let lines = ison_lines(&many);
        let mut all = Vec::new();
        for (l, names) in &lines {
            assert!(l.len() + 2 <= 512, "{}", l.len());
            assert_eq!(l.strip_prefix("ISON :").unwrap(), names.join(" "));
            all.extend(names.iter().cloned());
        }
        assert_eq!(all, many);
        assert!(ison_lines(&[]).is_empty());
        // A line of exactly 510 bytes is kept whole; one more nick starts a second.
        let mut exact = vec!["a".repeat(30); 16];
        exact.push("b".repeat(8));
        let lines = ison_lines(&exact);
        assert_eq!((lines.len(), lines[0].0.len()), (1, 510));
        exact.push("c".into());
        let lines = ison_lines(&exact);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0, "ISON :c");
    }

    #[test]
    fn monitor_replies() {
        assert_eq!(
            monitor_targets("Bob!b@host,carol!c@h2"),
            vec!["Bob", "carol"]
        );
        assert_eq!(monitor_targets("bob,carol"), vec!["bob", "carol"]);
        assert_eq!(monitor_targets(",,"), Vec::<&str>::new());
        assert_eq!(monitor_targets(""), Vec::<&str>::new());
        assert_eq!(monitor_targets(&"x,".repeat(5000)).len(), MAX_REPLY_NICKS);
    }

    #[test]
    fn monitor_states_report_changes_only() {
        let is = is();
        let mut w = Watcher::new();
        assert!(w.add("bob", &is));
        assert!(w.add("carol", &is));
        assert!(w.add("bob", &is));
        assert!(!w.add("not a nick", &is));
        assert_eq!(w.len(), 2);
        assert_eq!(w.to_monitor(1), vec!["bob"]);
        assert_eq!(w.to_monitor(1), Vec::<String>::new());
        assert_eq!(w.to_monitor(10), vec!["carol"]);
        assert_eq!(w.ison_targets(), Vec::<String>::new());
        // 730 / 731, as the server spells the nick.
        let c = w.online("BOB", &is).unwrap();
        assert_eq!(
            c,
            Change {
                nick: "bob".into(),
                availability: Availability::Available,
                status: None
            }
        );
        assert_eq!(w.online("bob", &is), None);
        assert_eq!(
            w.offline("carol", &is).unwrap().availability,
            Availability::Offline
        );
        assert_eq!(w.offline("carol", &is), None);
        assert_eq!(w.online("stranger", &is), None);
        // away-notify.
        let c = w.away("bob", Some("\x02gone\x02 fishing"), &is).unwrap();
        assert_eq!(
            (c.availability, c.status.as_deref()),
            (Availability::Away, Some("gone fishing"))
        );
        assert_eq!(w.online("bob", &is), None, "still online, still away");
        assert_eq!(
            w.away("bob", None, &is).unwrap().availability,
            Availability::Available
        );
        assert_eq!(
            w.away("bob", Some("  "), &is),
            None,
            "an empty message is not away"
        );
        // A reconnect keeps what is known; monitoring starts over.
        w.connection_reset();
        assert_eq!(w.monitored_count(), 0);
        assert_eq!(w.online("bob", &is), None);
        // Removing says whether a MONITOR - is due.
        assert_eq!(w.to_monitor(usize::MAX).len(), 2);
        assert!(w.remove("Bob", &is));
        assert!(!w.remove("bob", &is));
        // Gone for good: online contacts go offline, once.
        assert!(w.add("dave", &is));
        w.online("dave", &is);
        let gone = w.all_gone();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].nick, "dave");
        assert_eq!(gone[0].availability, Availability::Offline);
    }

    #[test]
    fn ison_replies() {
        let is = is();
        let mut w = Watcher::new();
        for n in ["bob", "carol", "dave"] {
            w.add(n, &is);
        }
        assert!(w.poll_due());
        let targets = w.ison_targets();
        assert_eq!(targets, vec!["bob", "carol", "dave"]);
        for (_, names) in ison_lines(&targets) {
            assert!(w.ison_asked(&names, &is));
        }
        assert!(w.ison_waiting());
        // Servers spell nicks their way and may leave a trailing space.
        let mut ch = w.on_ison_reply("Bob dave ", &is);
        ch.sort_by(|a, b| a.nick.cmp(&b.nick));
        let got: Vec<(&str, Availability)> = ch
            .iter()
            .map(|c| (c.nick.as_str(), c.availability))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bob", Availability::Available),
                ("carol", Availability::Offline),
                ("dave", Availability::Available),
            ]
        );
        assert!(!w.ison_waiting());
        assert!(!w.poll_due());
        // An unasked reply changes nothing; the next poll reports changes only.
        assert!(w.on_ison_reply("carol", &is).is_empty());
        w.ison_asked(&targets, &is);
        let ch = w.on_ison_reply("bob carol dave", &is);
        assert_eq!(ch.len(), 1);
        assert_eq!(
            (ch[0].nick.as_str(), ch[0].availability),
            ("carol", Availability::Available)
        );
        // Monitored nicks are not polled; a full MONITOR list sends them back to ISON.
        w.to_monitor(2);
        assert_eq!(w.ison_targets(), vec!["dave"]);
        assert!(w.unmonitor("BOB", &is));
        assert_eq!(w.ison_targets(), vec!["bob", "dave"]);
        w.unmonitor_all();
        assert_eq!(w.ison_targets().len(), 3);
        // The pending queue is bounded.
        for _ in 0..MAX_ISON_PENDING {
            assert!(w.ison_asked(&targets, &is));
        }
        assert!(!w.ison_asked(&targets, &is));
        w.clear_ison_pending();
        assert!(!w.ison_waiting());
    }

    #[test]
    fn bounded_and_refolded() {
        let is = is();
        let mut w = Watcher::new();
        for n in nicks(MAX_WATCHED, 5) {
            assert!(w.add(&n, &is));
        }
        assert!(!w.add("onemore", &is));
        assert_eq!(w.len(), MAX_WATCHED);
        // RFC 1459 folds [ and {; ascii does not.
        let mut w = Watcher::new();
        w.add("[x]", &is);
        assert!(w.online("{x}", &is).is_some());
        let mut ascii = ISupport::default();
        ascii.apply(&["CASEMAPPING=ascii".into()]);
        w.refold(&ascii);
        assert!(w.offline("{x}", &ascii).is_none());
        assert!(w.offline("[X]", &ascii).is_some());
    }
}
