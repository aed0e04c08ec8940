//! The emulator's clock: the wall clock plus an offset that only moves forward. Every time the
//! emulator reads (replication and purge windows, token `iat`/`nbf`/`exp` and their check,
//! device-code and authorization-code expiry, `Retry-After` windows and throttling budgets)
//! comes from here, so a test moves time with [`Clock::advance`] (or `POST /_emulator/clock`,
//! or the `clock_step_ms` knob) instead of sleeping.
//!
//! A clock is a handle: clones share one offset. Pass one in [`crate::Config::clock`] to hold
//! it before the emulator starts, or take the running emulator's from [`crate::Running::clock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// A clock at the wall clock's time.
    pub fn new() -> Self {
        Clock::default()
    }

    /// Move the clock on by `by` (for tests: what a sleep of `by` would have let pass).
    pub fn advance(&self, by: Duration) {
        self.advance_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Move the clock on by `ms` milliseconds; a negative value is ignored (time never goes
    /// back: a `Retry-After` window or a token that expired stays so).
    pub fn advance_ms(&self, ms: i64) {
        if ms > 0 {
            let _ = self
                .offset_ms
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| Some(o.saturating_add(ms)));
        }
    }

    /// How far the clock is ahead of the wall clock, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// The emulator's time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms())
    }

    /// The emulator's time in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis().saturating_add(self.offset_ms())
    }

    /// The emulator's time as a monotonic instant (for windows measured with `Instant`s).
    pub fn instant(&self) -> Instant {
        let offset = Duration::from_millis(u64::try_from(self.offset_ms()).unwrap_or(0));
        Instant::now() + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_offset_and_time_only_moves_forward() {
        let clock = Clock::new();
        let other = clock.clone();
        let before = clock.now_ms();
        other.advance(Duration::from_secs(3600));
        assert_eq!(clock.offset_ms(), 3_600_000);
        assert!(clock.now_ms() - before >= 3_600_000);
        clock.advance_ms(-5_000);
        assert_eq!(other.offset_ms(), 3_600_000);
        assert!(clock.instant() >= Instant::now() + Duration::from_secs(3599));
    }
}
