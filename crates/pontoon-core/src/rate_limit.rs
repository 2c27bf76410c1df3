//! How many requests and messages each user may send to a transport domain per second.
//!
//! A service handles its domain's stanzas one at a time, some of them at the cost of a
//! store query (registration, subscriptions) or a session's queue; one user sending
//! thousands in a burst must not make everyone else wait behind them. Each user (bare JID)
//! gets a token bucket; an IQ request, a message or a subscription request or answer beyond
//! it is refused at once with `policy-violation` (type wait) and costs nothing more.
//! Availability and probes are not counted: a client's presence is broadcast to every
//! contact on the domain and probes them all at login (hundreds at once for a large
//! roster), and those are cheap; what is costly in a presence burst (the legacy network's
//! pacing) is coalesced by the service and the transport instead.
//!
//! In server mode the c2s listener already reads no faster than the same rate per
//! connection, so this only bites a user with several clients flooding at once; in
//! component mode (one link from the XMPP server for everyone) it is the only limit.

use std::collections::HashMap;

use jid::BareJid;
use pontoon_xmpp::rate::TokenBucket;
use tokio::time::Instant;

/// Users tracked at once; beyond, new users share one bucket until the idle are
/// forgotten (a sender spraying JIDs must not grow memory).
const MAX_TRACKED: usize = 100_000;

/// A rate: a burst, then so many per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StanzaRate {
    /// Sustained stanzas per second; zero: no limit.
    pub per_second: f64,
    /// What may come at once.
    pub burst: u32,
}

impl Default for StanzaRate {
    /// 50 a second, bursts of 200: far above what a person's client sends, even while
    /// logging in with many rooms.
    fn default() -> Self {
        StanzaRate {
            per_second: 50.0,
            burst: 200,
        }
    }
}

/// The token buckets of the users who sent something lately.
#[derive(Debug)]
pub(crate) struct UserRates {
    rate: StanzaRate,
    buckets: HashMap<BareJid, TokenBucket>,
    overflow: TokenBucket,
}

impl UserRates {
    pub(crate) fn new(rate: StanzaRate) -> Self {
        UserRates {
            rate,
            buckets: HashMap::new(),
            overflow: TokenBucket::new(rate.burst, rate.per_second, Instant::now()),
        }
    }

    /// Counts one stanza of `user`; false when it is over the rate.
    pub(crate) fn allow(&mut self, user: &BareJid) -> bool {
        if self.rate.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        if let Some(bucket) = self.buckets.get_mut(user) {
            return bucket.try_take(now);
        }
        if self.buckets.len() >= MAX_TRACKED {
            return self.overflow.try_take(now);
        }
        let mut bucket = TokenBucket::new(self.rate.burst, self.rate.per_second, now);
        let ok = bucket.try_take(now);
        self.buckets.insert(user.clone(), bucket);
        ok
    }

    /// Forgets the users whose bucket has filled up again (called on the service's tick).
    pub(crate) fn forget_idle(&mut self) {
        let now = Instant::now();
        self.buckets.retain(|_, b| !b.is_full(now));
    }

    /// The rate in force.
    pub(crate) fn rate(&self) -> StanzaRate {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate_per_user_and_idle_users_forgotten() {
        let mut r = UserRates::new(StanzaRate {
            per_second: 10.0,
            burst: 5,
        });
        let a = BareJid::new("a@example.org").unwrap();
        let b = BareJid::new("b@example.org").unwrap();
        assert!((0..5).all(|_| r.allow(&a)));
        assert!(!r.allow(&a), "past the burst");
        assert!(r.allow(&b), "others are not affected");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(
            r.allow(&a) && !r.allow(&a),
            "one more per tenth of a second"
        );
        r.forget_idle();
        assert_eq!(r.buckets.len(), 1, "b's bucket is full again");
        tokio::time::advance(Duration::from_secs(1)).await;
        r.forget_idle();
        assert!(r.buckets.is_empty());
    }

    #[test]
    fn zero_is_no_limit() {
        let mut r = UserRates::new(StanzaRate {
            per_second: 0.0,
            burst: 1,
        });
        let a = BareJid::new("a@example.org").unwrap();
        assert!((0..10_000).all(|_| r.allow(&a)));
        assert!(r.buckets.is_empty());
    }
}
