//! Console sessions, CSRF tokens, cookies and the login rate limit.
//!
//! Sessions live in memory only (a restart logs everyone out, which is fine for an
//! operator's console): a random 256-bit id in an `HttpOnly; SameSite=Strict` cookie maps
//! to the user, the session's CSRF token, its times and a pending flash message. The map is
//! bounded: when full, expired sessions go first, then the least recently used one.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "pontoon_session";
/// The pre-login cookie carrying the login form's CSRF token (double submit).
pub(crate) const LOGIN_COOKIE: &str = "pontoon_login";

/// Most console sessions kept at once.
const MAX_SESSIONS: usize = 1024;
/// Most client addresses tracked by the login rate limit.
const MAX_TRACKED_IPS: usize = 10_000;
/// The rate limit's window.
const WINDOW: Duration = Duration::from_secs(60);

/// 256 random bits from the thread-local CSPRNG (seeded by the OS), base64url.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two tokens without stopping at the first difference.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for `name=value` with the console's attributes; `None` clears it.
pub(crate) fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let mut c = match value {
        Some(v) => format!("{name}={v}; HttpOnly; SameSite=Strict; Path=/"),
        None => format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    };
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// What kind of flash message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlashKind {
    /// A change was made.
    Ok,
    /// A change was refused.
    Error,
}

/// A one-time message shown on the next page after a form was posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flash {
    pub(crate) kind: FlashKind,
    pub(crate) text: String,
}

impl Flash {
    pub(crate) fn ok(text: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Ok,
            text: text.into(),
        }
    }

    pub(crate) fn error(text: impl Into<String>) -> Flash {
        Flash {
            kind: FlashKind::Error,
            text: text.into(),
        }
    }

    /// The CSS class.
    pub(crate) fn class(&self) -> &'static str {
        match self.kind {
            FlashKind::Ok => "ok",
            FlashKind::Error => "error",
        }
    }
}

struct Entry {
    user: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// A valid session, as the handlers see it.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) csrf: String,
}

/// What a session cookie stands for.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session (its idle timer restarted).
    Valid(Session),
    /// A session that timed out (now forgotten).
    Expired,
    /// No such session.
    Unknown,
}

/// The console's sessions.
pub(crate) struct Sessions {
    idle: Duration,
    max: Duration,
    map: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, max: Duration) -> Sessions {
        Sessions {
            idle,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.last_seen) > self.idle || now.duration_since(e.created) > self.max
    }

    /// Starts a session for `user` (after a successful login): a fresh id, so a session id
    /// planted before login is worthless.
    pub(crate) fn create(&self, user: &str) -> Session {
        let now = Instant::now();
        let id = random_token();
        let csrf = random_token();
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, e| !self.expired(e, now));
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                user: user.to_owned(),
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        Session {
            id,
            user: user.to_owned(),
            csrf,
        }
    }

    /// The session `id`, refreshing its idle timer.
    pub(crate) fn lookup(&self, id: &str) -> Lookup {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(entry) = map.get_mut(id) else {
            return Lookup::Unknown;
        };
        if self.expired(entry, now) {
            map.remove(id);
            return Lookup::Expired;
        }
        entry.last_seen = now;
        Lookup::Valid(Session {
            id: id.to_owned(),
            user: entry.user.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends the session `id` (logout).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Leaves a message for the next page of session `id`.
    pub(crate) fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(e) = self.lock().get_mut(id) {
            e.flash = Some(flash);
        }
    }

    /// Takes the pending message of session `id`.
    pub(crate) fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|e| e.flash.take())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Failed logins per client address over the last minute.
pub(crate) struct LoginLimiter {
    per_minute: usize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `per_minute` failures are allowed per address and minute (0 counts as 1).
    pub(crate) fn new(per_minute: u32) -> LoginLimiter {
        LoginLimiter {
            per_minute: usize::try_from(per_minute.max(1)).unwrap_or(usize::MAX),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `ip` used up its failures: then even a right password is refused until the
    /// window has passed, so guessing stays slow.
    pub(crate) fn is_limited(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(times) = map.get_mut(&ip) else {
            return false;
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            times.pop_front();
        }
        if times.is_empty() {
            map.remove(&ip);
            return false;
        }
        times.len() >= self.per_minute
    }

    /// Counts a failed login from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED_IPS && !map.contains_key(&ip) {
            map.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) <= WINDOW));
            if map.len() >= MAX_TRACKED_IPS
                && let Some(stalest) = map
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied())
                    .map(|(ip, _)| *ip)
            {
                map.remove(&stalest);
            }
        }
        let times = map.entry(ip).or_default();
        times.push_back(now);
        // Only the last `per_minute` matter for the decision.
        while times.len() > self.per_minute {
            times.pop_front();
        }
    }
}

/// The client's address for the rate limit: the TCP peer (a reverse proxy in front makes
/// every client look like the proxy; forwarded headers are not trusted). Without
/// `ConnectInfo` (a router driven directly, as in tests) it is `0.0.0.0`.
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                    c.0.ip().to_canonical()
                }),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43); // 32 bytes, base64url without padding
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token("", ""));
    }

    #[test]
    fn cookies_are_parsed_and_set() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; pontoon_session=xyz".parse().unwrap());
        h.append(COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(SESSION_COOKIE, Some("v"), true);
        assert_eq!(
            c,
            "pontoon_session=v; HttpOnly; SameSite=Strict; Path=/; Secure"
        );
        assert!(set_cookie("x", None, false).contains("Max-Age=0"));
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(60));
        let a = s.create("root");
        assert!(matches!(s.lookup(&a.id), Lookup::Valid(ref v) if v.user == "root"));
        std::thread::sleep(Duration::from_millis(80));
        assert!(matches!(s.lookup(&a.id), Lookup::Expired));
        assert!(matches!(s.lookup(&a.id), Lookup::Unknown));

        let s = Sessions::new(Duration::from_secs(60), Duration::from_millis(50));
        let a = s.create("root");
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(20));
            let _ = s.lookup(&a.id);
        }
        assert!(matches!(s.lookup(&a.id), Lookup::Expired | Lookup::Unknown));
    }

    #[test]
    fn sessions_are_bounded_and_flash_is_taken_once() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        let first = s.create("root");
        for _ in 0..MAX_SESSIONS + 5 {
            s.create("root");
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(matches!(s.lookup(&first.id), Lookup::Unknown));
        let a = s.create("root");
        s.set_flash(&a.id, Flash::ok("done"));
        assert_eq!(s.take_flash(&a.id), Some(Flash::ok("done")));
        assert_eq!(s.take_flash(&a.id), None);
    }

    #[test]
    fn limiter_counts_failures_per_address() {
        let l = LoginLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!l.is_limited(ip));
        l.failed(ip);
        assert!(!l.is_limited(ip));
        l.failed(ip);
        assert!(l.is_limited(ip));
        assert!(!l.is_limited(other));
    }
}
