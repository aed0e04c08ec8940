//! Graph's directory throttling budget, as token buckets (docs/graph-notes.md §6.2,
//! `concepts/throttling-limits.md`, "identity and access service limits"): per application and
//! tenant, 3,500 resource units per 10 seconds (a small tenant) and 3,000 writes per 2 min 30 s.
//! A GET of `applications` or `oauth2PermissionGrants` costs 2 resource units, any other
//! directory GET 1, and every write 1 resource unit plus 1 write. A request the bucket cannot pay
//! for gets 429 with a `Retry-After` of the whole seconds until it could.
//!
//! Pure: the caller passes the clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Resource units per window and the window (small tenant: < 50 users).
pub const RESOURCE_UNITS: f64 = 3_500.0;
pub const RESOURCE_WINDOW: Duration = Duration::from_secs(10);
/// Writes per window.
pub const WRITES: f64 = 3_000.0;
pub const WRITE_WINDOW: Duration = Duration::from_secs(150);

#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(capacity: f64, window: Duration, now: Instant) -> Self {
        Bucket {
            capacity,
            per_second: capacity / window.as_secs_f64(),
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// Time until `cost` tokens are there (zero when they are).
    fn wait_for(&self, cost: f64) -> Duration {
        if self.tokens >= cost {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((cost - self.tokens) / self.per_second)
        }
    }
}

/// What the budget says about one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Paid; `used` is the share of the resource-unit budget in use after it (0.0–1.0), for
    /// `x-ms-throttle-limit-percentage`.
    Pass { cost: u32, used: f64 },
    /// Over budget: retry after this many whole seconds; `writes` tells which bucket ran dry.
    Throttle { retry_after_secs: u64, writes: bool },
}

/// The cost of a request in resource units (docs/graph-notes.md §6.2).
pub fn cost(method: &str, path_after_version: &str) -> u32 {
    if !method.eq_ignore_ascii_case("GET") {
        return 1;
    }
    let first = path_after_version
        .trim_start_matches('/')
        .split(['/', '(', '?'])
        .next()
        .unwrap_or_default();
    if first.eq_ignore_ascii_case("applications") || first.eq_ignore_ascii_case("oauth2PermissionGrants") {
        2
    } else {
        1
    }
}

/// One pair of buckets per client application.
#[derive(Debug, Default)]
pub struct Budget {
    clients: HashMap<String, (Bucket, Bucket)>,
}

impl Budget {
    /// Charge `client` for one request, or say how long it must wait.
    pub fn charge(&mut self, client: &str, method: &str, path_after_version: &str, now: Instant) -> Verdict {
        let (ru, writes) = self.clients.entry(client.to_owned()).or_insert_with(|| {
            (
                Bucket::new(RESOURCE_UNITS, RESOURCE_WINDOW, now),
                Bucket::new(WRITES, WRITE_WINDOW, now),
            )
        });
        ru.refill(now);
        writes.refill(now);
        let cost = cost(method, path_after_version);
        let is_write = !method.eq_ignore_ascii_case("GET");
        let ru_wait = ru.wait_for(f64::from(cost));
        let write_wait = if is_write {
            writes.wait_for(1.0)
        } else {
            Duration::ZERO
        };
        let wait = ru_wait.max(write_wait);
        if wait > Duration::ZERO {
            // Whole seconds, rounded up: a client that waits exactly that long is served.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Verdict::Throttle {
                retry_after_secs: secs.max(1),
                writes: write_wait > ru_wait,
            };
        }
        ru.tokens -= f64::from(cost);
        if is_write {
            writes.tokens -= 1.0;
        }
        Verdict::Pass {
            cost,
            used: 1.0 - ru.tokens / ru.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_documented_table() {
        assert_eq!(cost("GET", "/applications(uniqueName='x')"), 2);
        assert_eq!(cost("GET", "/oauth2PermissionGrants?$filter=clientId eq 'x'"), 2);
        assert_eq!(cost("GET", "/servicePrincipals(appId='x')"), 1);
        assert_eq!(cost("PATCH", "/applications(uniqueName='x')"), 1);
        assert_eq!(cost("POST", "/oauth2PermissionGrants"), 1);
    }

    #[test]
    fn resource_units_run_out_and_refill() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        // 1,750 application reads use the whole 3,500 units.
        for _ in 0..1750 {
            assert!(matches!(
                b.charge("a", "GET", "/applications", t0),
                Verdict::Pass { .. }
            ));
        }
        assert_eq!(
            b.charge("a", "GET", "/applications", t0),
            Verdict::Throttle {
                retry_after_secs: 1,
                writes: false
            }
        );
        // Another client has its own budget.
        assert!(matches!(
            b.charge("b", "GET", "/applications", t0),
            Verdict::Pass { .. }
        ));
        // 350 units come back per second.
        assert!(matches!(
            b.charge("a", "GET", "/applications", t0 + Duration::from_millis(10)),
            Verdict::Pass { .. }
        ));
    }

    #[test]
    fn writes_have_their_own_slower_bucket() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        let mut now = t0;
        let mut passed = 0;
        // Spread 3,100 writes over 3.1 s: resource units keep up, writes (20/s) do not.
        for i in 0..3100u64 {
            now = t0 + Duration::from_millis(i);
            if matches!(
                b.charge("a", "PATCH", "/applications/x", now),
                Verdict::Pass { .. }
            ) {
                passed += 1;
            }
        }
        assert!((3000..3070).contains(&passed), "{passed}");
        assert!(matches!(
            b.charge("a", "PATCH", "/applications/x", now),
            Verdict::Throttle { writes: true, .. }
        ));
    }
}
