//! Console sessions, CSRF tokens, cookies and the login rate limit.
//!
//! Sessions live in memory only (a restart logs everyone out, which is fine for an
//! operator's console): a random 256-bit id in an `HttpOnly; SameSite=Strict` cookie maps
//! to the user, the account's revision at login, the session's CSRF token, its times and a
//! pending flash message. The map is bounded: when full, expired sessions go first, then
//! the least recently used one. The console refuses a session whose account was deleted or
//! had its password reset since (its revision in the store changed), on every request.
//!
//! The login rate limit counts attempts per client address (IPv6 clients per /64), each
//! from the moment it starts: parallel guesses count as much as sequential ones.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
/// Most client addresses (IPv6: /64 networks) tracked by the login rate limit.
const MAX_TRACKED_IPS: usize = 4096;
/// Most attempts counted per address and window, whatever the configured limit: with
/// [`MAX_TRACKED_IPS`] it bounds the limiter's memory.
pub(crate) const MAX_ATTEMPTS_PER_MINUTE: u32 = 100;
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
    revision: i64,
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
    /// The account's revision at login (see `Store::admin_updated_at`).
    pub(crate) revision: i64,
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

    /// Starts a session for `user`, whose account is at `revision` (after a successful
    /// login): a fresh id, so a session id planted before login is worthless.
    pub(crate) fn create(&self, user: &str, revision: i64) -> Session {
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
                revision,
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        Session {
            id,
            user: user.to_owned(),
            revision,
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
            revision: entry.revision,
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends the session `id` (logout).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Moves session `id` to its account's new `revision` (the operator changed their own
    /// password: this session stays, the account's others end).
    pub(crate) fn set_revision(&self, id: &str, revision: i64) {
        if let Some(e) = self.lock().get_mut(id) {
            e.revision = revision;
        }
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

/// Login attempts per client address over the last minute.
///
/// An attempt counts from the moment it starts ([`LoginLimiter::begin`]), before the
/// password is checked, so parallel requests cannot get more guesses than sequential ones;
/// a failed attempt stays counted, a successful one is forgotten
/// ([`LoginLimiter::forget`]). IPv6 clients are counted per /64 network (one host
/// usually has a whole /64). Memory is bounded: at most [`MAX_ATTEMPTS_PER_MINUTE`] times
/// per address and [`MAX_TRACKED_IPS`] addresses, the stalest forgotten first.
pub(crate) struct LoginLimiter {
    per_minute: usize,
    attempts: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// One counted login attempt (see [`LoginLimiter::begin`]).
#[derive(Debug)]
#[must_use = "a successful attempt must be handed back to LoginLimiter::forget"]
pub(crate) struct Attempt {
    key: IpAddr,
    at: Instant,
}

/// What the limiter counts `ip` as: IPv4 addresses one by one, IPv6 ones by /64.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

impl LoginLimiter {
    /// `per_minute` attempts are allowed per address and minute (0 counts as 1, more than
    /// [`MAX_ATTEMPTS_PER_MINUTE`] as that many).
    pub(crate) fn new(per_minute: u32) -> LoginLimiter {
        if per_minute > MAX_ATTEMPTS_PER_MINUTE {
            tracing::warn!(
                configured = per_minute,
                used = MAX_ATTEMPTS_PER_MINUTE,
                "[admin] login_attempts_per_minute is above the most the console counts; using the most"
            );
        }
        let per_minute = per_minute.clamp(1, MAX_ATTEMPTS_PER_MINUTE);
        LoginLimiter {
            per_minute: usize::try_from(per_minute).unwrap_or(1),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the times of `times` that left the window.
    fn prune(times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            times.pop_front();
        }
    }

    /// Counts a login attempt from `ip`, or refuses it (`None`) when `ip` used up its
    /// attempts: then even a right password is refused until the window has passed, so
    /// guessing stays slow.
    pub(crate) fn begin(&self, ip: IpAddr) -> Option<Attempt> {
        let key = limit_key(ip);
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(times) = map.get_mut(&key) {
            Self::prune(times, now);
            if times.len() >= self.per_minute {
                return None;
            }
        } else if map.len() >= MAX_TRACKED_IPS {
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
        map.entry(key).or_default().push_back(now);
        Some(Attempt { key, at: now })
    }

    /// The attempt no longer counts against its address: it succeeded, or failed through
    /// no fault of the client (the store did not answer).
    pub(crate) fn forget(&self, attempt: Attempt) {
        let mut map = self.lock();
        if let Some(times) = map.get_mut(&attempt.key) {
            if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(&attempt.key);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let map = self.lock();
        (
            map.len(),
            map.values().map(VecDeque::len).max().unwrap_or(0),
        )
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
        let a = s.create("root", 1);
        assert!(matches!(s.lookup(&a.id), Lookup::Valid(ref v) if v.user == "root"));
        std::thread::sleep(Duration::from_millis(80));
        assert!(matches!(s.lookup(&a.id), Lookup::Expired));
        assert!(matches!(s.lookup(&a.id), Lookup::Unknown));

        let s = Sessions::new(Duration::from_secs(60), Duration::from_millis(50));
        let a = s.create("root", 1);
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(20));
            let _ = s.lookup(&a.id);
        }
        assert!(matches!(s.lookup(&a.id), Lookup::Expired | Lookup::Unknown));
    }

    #[test]
    fn sessions_are_bounded_and_flash_is_taken_once() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(60));
        let first = s.create("root", 1);
        for _ in 0..MAX_SESSIONS + 5 {
            s.create("root", 1);
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(matches!(s.lookup(&first.id), Lookup::Unknown));
        let a = s.create("root", 1);
        s.set_flash(&a.id, Flash::ok("done"));
        assert_eq!(s.take_flash(&a.id), Some(Flash::ok("done")));
        assert_eq!(s.take_flash(&a.id), None);
    }

    #[test]
    fn limiter_counts_attempts_per_address() {
        let l = LoginLimiter::new(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        // Two attempts in flight at once use up the address's allowance...
        let a = l.begin(ip).unwrap();
        let b = l.begin(ip).unwrap();
        assert!(l.begin(ip).is_none());
        assert!(l.begin(other).is_some());
        // ...a success gives its attempt back, a failure keeps it.
        l.forget(a);
        drop(b);
        let c = l.begin(ip).unwrap();
        assert!(l.begin(ip).is_none());
        l.forget(c);
        assert!(l.begin(ip).is_some());
    }

    #[test]
    fn limiter_counts_ipv6_per_64_and_v4_mapped_as_v4() {
        let l = LoginLimiter::new(1);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = l.begin(a).unwrap();
        assert!(l.begin(same_64).is_none());
        assert!(l.begin(next_64).is_some());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let _m = l.begin(mapped).unwrap();
        assert!(l.begin(v4).is_none());
        // ...and 192.0.2.8 is another address, not the same /64.
        assert!(l.begin("192.0.2.8".parse().unwrap()).is_some());
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let l = LoginLimiter::new(u32::MAX);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut n = 0;
        while l.begin(ip).is_some() {
            n += 1;
            assert!(n <= 1000, "no limit");
        }
        assert_eq!(n, MAX_ATTEMPTS_PER_MINUTE as usize);
        for i in 0..(MAX_TRACKED_IPS as u32 + 50) {
            let _ = l.begin(IpAddr::V4(std::net::Ipv4Addr::from_bits(0x0a00_0000 + i)));
        }
        let (ips, per_ip) = l.tracked();
        assert!(ips <= MAX_TRACKED_IPS, "{ips}");
        assert!(per_ip <= MAX_ATTEMPTS_PER_MINUTE as usize);
    }
}
