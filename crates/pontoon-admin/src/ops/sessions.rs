//! Listing sessions for the operator at scale: filter (transport, state, a substring of
//! the JID or legacy id), a stable order and one page, shared by the API and the console.
//!
//! The services hand over every session's status (they keep no index to query); this
//! module filters and sorts them here, off the services' loops. Measured in the tests:
//! one page out of 10,000 sessions takes a few milliseconds (see `ten_thousand`).

use pontoon_core::{ServiceControl, SessionInfo, SessionState};

use super::{OpError, control};
use crate::Gateway;

/// Default and largest page sizes of the lists (sessions and registrations alike).
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// See [`DEFAULT_LIMIT`].
pub(crate) const MAX_LIMIT: u32 = 1000;

/// Checks a requested page size: absent is [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`] is taken.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, OpError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(OpError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {n})"
        ))),
    }
}

/// Which sessions to list.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionFilter {
    /// Only this transport.
    pub(crate) transport: Option<String>,
    /// Only sessions in this state.
    pub(crate) state: Option<SessionState>,
    /// Case-insensitive substring of the user's JID or the legacy id.
    pub(crate) search: Option<String>,
}

/// A state by its name (`connecting`, `online`, `reconnecting`, `ending`).
pub(crate) fn state_named(name: &str) -> Result<SessionState, OpError> {
    SessionState::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| {
            OpError::BadRequest(format!(
                "unknown state {name:?} (connecting, online, reconnecting, ending)"
            ))
        })
}

/// One page of sessions.
#[derive(Debug, Default)]
pub(crate) struct SessionsPage {
    /// How many sessions match, on every page.
    pub(crate) total: usize,
    /// The page, ordered by user then transport, each with its transport's name.
    pub(crate) items: Vec<(String, SessionInfo)>,
    /// Transports that did not answer (their sessions are missing from the list).
    pub(crate) problems: Vec<(String, OpError)>,
}

/// One page of the sessions matching `filter`, after `offset`, at most `limit`. A
/// transport that does not answer is reported in `problems`, so a busy one does not hide
/// the others.
pub(crate) async fn sessions_page(
    gw: &Gateway,
    filter: &SessionFilter,
    limit: u32,
    offset: u32,
) -> Result<SessionsPage, OpError> {
    let controls: Vec<&ServiceControl> = match filter.transport.as_deref() {
        Some(t) => vec![control(gw, t)?],
        None => gw.services.iter().collect(),
    };
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for c in controls {
        match c.sessions().await {
            Ok(list) => all.push((c.transport(), list)),
            Err(e) => problems.push((c.transport().to_owned(), e.into())),
        }
    }
    let (total, items) = page_of(all, filter, limit, offset);
    Ok(SessionsPage {
        total,
        items,
        problems,
    })
}

/// The pure part of [`sessions_page`]: filter, order by (user, transport), cut one page.
/// Only the kept sessions' keys are sorted; the page's entries are moved, not cloned.
pub(crate) fn page_of(
    per_transport: Vec<(&str, Vec<SessionInfo>)>,
    filter: &SessionFilter,
    limit: u32,
    offset: u32,
) -> (usize, Vec<(String, SessionInfo)>) {
    let needle = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    let matches = |s: &SessionInfo| {
        filter.state.is_none_or(|st| s.state == st)
            && needle.as_deref().is_none_or(|n| {
                contains_folded(s.user.as_str(), n) || contains_folded(&s.legacy_id, n)
            })
    };
    let mut kept: Vec<(&str, SessionInfo)> = per_transport
        .into_iter()
        .flat_map(|(t, list)| list.into_iter().map(move |s| (t, s)))
        .filter(|(_, s)| matches(s))
        .collect();
    let total = kept.len();
    kept.sort_unstable_by(|(ta, a), (tb, b)| {
        a.user
            .as_str()
            .cmp(b.user.as_str())
            .then_with(|| ta.cmp(tb))
    });
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(total);
    let items = kept
        .drain(start..end)
        .map(|(t, s)| (t.to_owned(), s))
        .collect();
    (total, items)
}

/// Whether `hay`, lower-cased, contains `needle` (already lower-cased). ASCII text (the
/// usual JID and nick) is compared without allocating.
fn contains_folded(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return n.is_empty()
            || h.windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.to_lowercase().contains(needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn info(user: &str, legacy: &str, state: SessionState) -> SessionInfo {
        SessionInfo {
            user: user.parse().unwrap(),
            legacy_id: legacy.to_owned(),
            state,
            resources: vec![format!("{user}/phone")],
            rooms: Vec::new(),
            since: 1_700_000_000,
            last_error: None,
        }
    }

    fn users(items: &[(String, SessionInfo)]) -> Vec<String> {
        items
            .iter()
            .map(|(t, s)| format!("{t}:{}", s.user))
            .collect()
    }

    #[test]
    fn filters_orders_and_pages() {
        let irc = vec![
            info("zoe@x.org", "Zoe", SessionState::Online),
            info("amy@x.org", "amy", SessionState::Connecting),
        ];
        let other = vec![info("amy@x.org", "AMY2", SessionState::Online)];
        let all = || vec![("irc", irc.clone()), ("other", other.clone())];
        let f = SessionFilter::default();
        let (total, items) = page_of(all(), &f, 100, 0);
        assert_eq!(total, 3);
        assert_eq!(
            users(&items),
            ["irc:amy@x.org", "other:amy@x.org", "irc:zoe@x.org"]
        );
        // Pages: boundaries and past the end.
        assert_eq!(users(&page_of(all(), &f, 2, 0).1).len(), 2);
        assert_eq!(users(&page_of(all(), &f, 2, 2).1), ["irc:zoe@x.org"]);
        assert_eq!(page_of(all(), &f, 2, 9), (3, Vec::new()));
        // Search: JID or legacy id, any case.
        let f = SessionFilter {
            search: Some(" amy2 ".into()),
            ..Default::default()
        };
        assert_eq!(users(&page_of(all(), &f, 10, 0).1), ["other:amy@x.org"]);
        let f = SessionFilter {
            search: Some("ZOE@".into()),
            ..Default::default()
        };
        assert_eq!(page_of(all(), &f, 10, 0).0, 1);
        let f = SessionFilter {
            state: Some(SessionState::Online),
            ..Default::default()
        };
        assert_eq!(page_of(all(), &f, 10, 0).0, 2);
    }

    #[test]
    fn limits_and_states_are_checked() {
        assert_eq!(page_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(page_limit(Some(1000)), Ok(1000));
        assert_eq!(
            page_limit(Some(0)),
            Err(OpError::BadRequest(
                "limit must be between 1 and 1000 (got 0)".into()
            ))
        );
        assert!(page_limit(Some(1001)).is_err());
        assert_eq!(state_named("online"), Ok(SessionState::Online));
        assert!(state_named("Online").is_err());
    }

    #[test]
    fn folding_matches_unicode_too() {
        assert!(contains_folded("Ünïcode@x.org", "ünï"));
        assert!(contains_folded("ALICE", "lic"));
        assert!(!contains_folded("alice", "bob"));
    }

    /// The cost of one page out of 10,000 sessions (with a search, the slowest path),
    /// printed for the record: `cargo test -p pontoon-admin ten_thousand -- --nocapture`.
    #[test]
    fn ten_thousand() {
        let list: Vec<SessionInfo> = (0..10_000)
            .map(|i| {
                let mut s = info(
                    &format!("user{i:05}@x.org"),
                    &format!("nick{i}"),
                    SessionState::Online,
                );
                s.rooms = vec!["#room-one".into(), "#room-two".into()];
                s
            })
            .collect();
        let f = SessionFilter {
            search: Some("USER09".into()),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let (total, items) = page_of(vec![("irc", list.clone())], &f, 100, 900);
        let searched = started.elapsed();
        assert_eq!(total, 1000);
        assert_eq!(items[0].1.user.as_str(), "user09900@x.org");
        let started = std::time::Instant::now();
        let (total, items) = page_of(vec![("irc", list)], &SessionFilter::default(), 100, 9_900);
        let plain = started.elapsed();
        assert_eq!((total, items.len()), (10_000, 100));
        println!("10,000 sessions: one page with a search {searched:?}, without {plain:?}");
        // Generous bounds (debug build, shared machine): it must stay far below a second.
        assert!(searched.as_millis() < 500 && plain.as_millis() < 500);
    }
}
