//! A token bucket: a burst at once, then a steady rate.
//!
//! One implementation for every rate in Pontoon: the stanzas a client may send per second
//! (the c2s listener reads no faster; a service refuses beyond it), and the lines an IRC
//! connection writes (servers disconnect clients that send too fast, "Excess Flood";
//! `pontoon-irc` uses it through `pontoon_core::rate`). Written here rather than taken from
//! a crate such as `governor` because it runs on tokio's clock, which tests pause and
//! advance, and because waiting stays the caller's job (a timer in its select loop), so a
//! slow bucket never blocks anything else.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, rate: f64, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        TokenBucket {
            burst,
            rate,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is available.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many lines could go out from `now` until `now + within` (the tokens there are
    /// plus those refilled meanwhile).
    pub fn available_within(&mut self, now: Instant, within: Duration) -> f64 {
        self.refill(now);
        self.tokens + within.as_secs_f64() * self.rate
    }

    /// Whether the bucket is full at `now` (its owner has been quiet long enough to be
    /// forgotten: a new bucket would be the same).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    /// Takes a token if one is available (`None`); otherwise says when the next one will
    /// be, for the caller's timer.
    pub fn take_or_next(&mut self, now: Instant) -> Option<Instant> {
        if self.try_take(now) {
            None
        } else {
            Some(self.next_available(now))
        }
    }

    /// When the next token will be available.
    pub fn next_available(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            now + Duration::from_secs_f64(wait.clamp(0.0, 3600.0))
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none: the timer branch of a select
/// loop that waits for a bucket (or any other optional deadline) only sometimes.
pub async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A timer kept boxed across the turns of a task's loop, made at the first deadline and
/// given back when there is none ([`sleep_until_kept`]).
pub type KeptTimer = Option<std::pin::Pin<Box<tokio::time::Sleep>>>;

/// [`sleep_until_some`] on a timer the task keeps: a tokio `Sleep` is about 100 bytes of the
/// future that waits on it, in a task that lives as long as a session, while most sessions
/// have no deadline most of the time. Reset, not made again, when the deadline moves.
pub async fn sleep_until_kept(timer: &mut KeptTimer, deadline: Option<Instant>) {
    let Some(d) = deadline else {
        *timer = None;
        return std::future::pending().await;
    };
    let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(d)));
    if sleep.deadline() != d {
        sleep.as_mut().reset(d);
    }
    sleep.as_mut().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(3, 2.0, start);
        let mut sent_at = Vec::new();
        while sent_at.len() < 7 {
            let now = Instant::now();
            if b.try_take(now) {
                sent_at.push(now - start);
            } else {
                tokio::time::sleep_until(b.next_available(now)).await;
            }
        }
        let ms: Vec<u128> = sent_at.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 0, 500, 1000, 1500, 2000]);
    }

    #[tokio::test(start_paused = true)]
    async fn take_or_next_says_when_to_come_back() {
        let start = Instant::now();
        let mut b = TokenBucket::new(1, 4.0, start);
        assert_eq!(b.take_or_next(start), None);
        assert_eq!(
            b.take_or_next(start),
            Some(start + Duration::from_millis(250))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn refills_up_to_burst_only() {
        let start = Instant::now();
        let mut b = TokenBucket::new(2, 1.0, start);
        assert!(b.try_take(start) && b.try_take(start) && !b.try_take(start));
        tokio::time::advance(Duration::from_secs(60)).await;
        let now = Instant::now();
        assert!(b.try_take(now) && b.try_take(now) && !b.try_take(now));
        assert_eq!(b.next_available(now) - now, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_follows_its_deadline_and_goes_without_one() {
        let mut timer: KeptTimer = None;
        let start = Instant::now();
        sleep_until_kept(&mut timer, Some(start + Duration::from_secs(5))).await;
        assert_eq!(Instant::now(), start + Duration::from_secs(5));
        assert!(timer.is_some(), "kept for the next turn");
        // Moved: reset, and it fires at the new deadline.
        sleep_until_kept(&mut timer, Some(start + Duration::from_secs(7))).await;
        assert_eq!(Instant::now(), start + Duration::from_secs(7));
        let never = tokio::time::timeout(
            Duration::from_secs(3600),
            sleep_until_kept(&mut timer, None),
        )
        .await;
        assert!(never.is_err(), "no deadline: it waits forever");
        assert!(timer.is_none(), "no deadline: nothing kept");
    }
}
