//! Authentication attempts per client address per time window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Most addresses tracked at once; when the table is full of addresses
/// still inside their window, new addresses are refused (an attacker
/// spraying addresses must not grow memory, and refusing is the safe side
/// for a password check).
pub(super) const MAX_TRACKED: usize = 65_536;

/// Fixed-window counter of attempts per address (IPv6 per /64, since one
/// host usually holds a whole /64).
#[derive(Debug)]
pub(super) struct RateLimiter {
    max: u32,
    window: Duration,
    cap: usize,
    seen: HashMap<IpAddr, (Instant, u32)>,
}

/// The key an address is counted under.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                for s in seg.iter_mut().skip(4) {
                    *s = 0;
                }
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl RateLimiter {
    pub(super) fn new(max: u32, window: Duration, cap: usize) -> Self {
        Self {
            max,
            window,
            cap,
            seen: HashMap::new(),
        }
    }

    /// Count an attempt from `ip` at `now`; false when over the limit.
    pub(super) fn attempt(&mut self, ip: IpAddr, now: Instant) -> bool {
        let k = key(ip);
        if !self.seen.contains_key(&k) && self.seen.len() >= self.cap {
            let window = self.window;
            self.seen
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.seen.len() >= self.cap {
                return false;
            }
        }
        let entry = self.seen.entry(k).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_window() {
        let mut l = RateLimiter::new(2, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b2: IpAddr = "2001:db8::2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(l.attempt(a, t0));
        assert!(l.attempt(mapped, t0));
        assert!(!l.attempt(a, t0), "third attempt in the window");
        assert!(l.attempt(b, t0));
        assert!(l.attempt(b2, t0));
        assert!(!l.attempt(b, t0), "same /64");
        let later = t0 + Duration::from_secs(61);
        assert!(l.attempt(a, later), "new window");
        // table full of live entries: a new address is refused
        let c: IpAddr = "198.51.100.7".parse().unwrap();
        let d: IpAddr = "198.51.100.8".parse().unwrap();
        assert!(l.attempt(c, t0));
        assert!(!l.attempt(d, t0));
        // once entries expire there is room again
        assert!(l.attempt(d, t0 + Duration::from_secs(120)));
    }
}
