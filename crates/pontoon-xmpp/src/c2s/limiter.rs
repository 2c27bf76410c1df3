//! Per-address limits of the listener: authentication attempts per time
//! window ([`RateLimiter`]) and connections that have not authenticated yet
//! ([`Unauthenticated`]), so one address can neither guess passwords fast nor
//! hold every login slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// The key an address is counted under (IPv4-mapped IPv6 as IPv4, other
/// IPv6 addresses by their /64).
pub(super) fn key(ip: IpAddr) -> IpAddr {
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

/// The cap on connections that have not authenticated yet: global, and per
/// client address (IPv6 per /64), so one address cannot take every slot and
/// keep everyone else from logging in.
#[derive(Debug)]
pub(super) struct Unauthenticated {
    global: Arc<Semaphore>,
    max_global: usize,
    per_address: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Every slot is taken.
    Global,
    /// The client's address holds its share already.
    Address,
}

/// A connection's slot in the [`Unauthenticated`] cap, given back when dropped
/// (at authentication, or when the connection ends).
#[derive(Debug)]
pub(super) struct Slot {
    _global: OwnedSemaphorePermit,
    key: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = super::lock(&self.counts);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl Unauthenticated {
    pub(super) fn new(max_global: usize, per_address: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(max_global)),
            max_global,
            per_address,
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for a connection from `ip`, if the caps allow one.
    pub(super) fn try_acquire(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let k = key(ip);
        let mut counts = super::lock(&self.counts);
        let n = counts.get(&k).copied().unwrap_or(0);
        if n >= self.per_address {
            return Err(Refused::Address);
        }
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Global)?;
        counts.insert(k, n + 1);
        Ok(Slot {
            _global: global,
            key: k,
            counts: self.counts.clone(),
        })
    }

    /// Connections holding a slot now.
    pub(super) fn in_use(&self) -> usize {
        self.max_global
            .saturating_sub(self.global.available_permits())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_cap_is_global_and_per_address() {
        let cap = Unauthenticated::new(4, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let a6: IpAddr = "2001:db8::1".parse().unwrap();
        let a6b: IpAddr = "2001:db8::2".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = cap.try_acquire(a).unwrap();
        let _s2 = cap.try_acquire(a).unwrap();
        assert_eq!(cap.try_acquire(a).unwrap_err(), Refused::Address);
        let _s3 = cap.try_acquire(a6).unwrap();
        let _s4 = cap.try_acquire(a6b).unwrap();
        assert_eq!(
            cap.try_acquire(a6).unwrap_err(),
            Refused::Address,
            "same /64"
        );
        assert_eq!(cap.try_acquire(b).unwrap_err(), Refused::Global);
        assert_eq!(cap.in_use(), 4);
        drop(s1);
        assert_eq!(cap.in_use(), 3);
        let _s5 = cap.try_acquire(b).unwrap();
        // The address's share came back with the slot.
        drop(_s5);
        let _s6 = cap.try_acquire(a).unwrap();
        assert_eq!(cap.counts.lock().unwrap().len(), 2, "{:?}", cap.counts);
    }

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
