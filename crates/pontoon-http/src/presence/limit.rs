//! How often one client may ask for badges: a token bucket per client address
//! (`pontoon_core::rate::TokenBucket`, Pontoon's one rate implementation), bounded in
//! memory. An IPv6 client is keyed by its /64 (one host usually holds the whole prefix);
//! past [`MAX_TRACKED`] addresses, buckets that filled up again are forgotten (at most once
//! a second), and until room is made new addresses share one bucket, so a client spraying
//! addresses grows nothing and slows only others doing the same.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use pontoon_core::rate::TokenBucket;
use tokio::time::Instant;

/// Addresses tracked at once.
pub(crate) const MAX_TRACKED: usize = 10_000;

/// A rate: a burst, then so many per second.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate {
    pub(crate) burst: u32,
    pub(crate) per_second: f64,
}

/// The default: 60 at once, then one a second (a status page of a dozen badges reloaded
/// every minute stays far below; a proxy's cache, `max-age=60`, absorbs the rest).
pub(crate) const RATE: Rate = Rate {
    burst: 60,
    per_second: 1.0,
};

struct Buckets {
    map: HashMap<IpAddr, TokenBucket>,
    overflow: TokenBucket,
    swept: Instant,
}

/// The buckets of the clients that asked lately.
pub(crate) struct Limiter {
    rate: Rate,
    inner: Mutex<Buckets>,
}

impl Limiter {
    pub(crate) fn new(rate: Rate) -> Limiter {
        let now = Instant::now();
        Limiter {
            rate,
            inner: Mutex::new(Buckets {
                map: HashMap::new(),
                overflow: TokenBucket::new(rate.burst, rate.per_second, now),
                swept: now,
            }),
        }
    }

    /// Counts one request of `ip`; false when it is over the rate.
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        let key = key_of(ip);
        let now = Instant::now();
        let Ok(mut b) = self.inner.lock() else {
            return false;
        };
        if let Some(bucket) = b.map.get_mut(&key) {
            return bucket.try_take(now);
        }
        if b.map.len() >= MAX_TRACKED && now.duration_since(b.swept) >= Duration::from_secs(1) {
            b.swept = now;
            b.map.retain(|_, bucket| !bucket.is_full(now));
        }
        if b.map.len() >= MAX_TRACKED {
            return b.overflow.try_take(now);
        }
        let mut bucket = TokenBucket::new(self.rate.burst, self.rate.per_second, now);
        let ok = bucket.try_take(now);
        b.map.insert(key, bucket);
        ok
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().map(|b| b.map.len()).unwrap_or(0)
    }
}

/// The key of a client: an IPv4 address (or an IPv4-mapped IPv6 one) as it is, an IPv6
/// address by its /64.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate_per_client_and_bounded() {
        let l = Limiter::new(Rate {
            burst: 3,
            per_second: 1.0,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| l.allow(a)));
        assert!(!l.allow(a), "past the burst");
        assert!(
            l.allow("192.0.2.2".parse().unwrap()),
            "others are not affected"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.allow(a) && !l.allow(a), "one more a second");

        // One IPv6 host is one client, whatever address of its /64 it uses.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!((0..3).all(|i| l.allow(v6(&format!("2001:db8::{i}")))));
        assert!(!l.allow(v6("2001:db8::ffff")));
        assert!(l.allow(v6("2001:db8:0:1::1")));

        for i in 0..(MAX_TRACKED as u32 + 100) {
            l.allow(IpAddr::V4((0x0a00_0000 + i).into()));
        }
        assert!(l.tracked() <= MAX_TRACKED);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            l.allow("198.51.100.1".parse().unwrap()),
            "idle ones are forgotten"
        );
        assert!(l.tracked() < 10, "{}", l.tracked());
    }
}
