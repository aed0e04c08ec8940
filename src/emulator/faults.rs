//! Fault injection, modelled on Microsoft Dev Proxy's Graph plugins (graph-reference §11.2):
//! added latency, transient 5xx from GraphRandomErrorPlugin's per-method sets, 429 with
//! `Retry-After`, dropped connections, and RetryAfterPlugin's early-retry enforcement. Every
//! random draw comes from one seeded `StdRng`, so a seed replays the same decisions for the
//! same request sequence. Pure apart from the clock passed in: no I/O.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::Faults;
use super::store::GraphError;

/// Seconds a throttled client must wait. Graph sends integer seconds by default (§11.6); one
/// second keeps client test suites fast while still being a real wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What the injector decided for one Graph request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve the request normally.
    Pass,
    /// Close the connection without a response.
    Drop,
    /// Answer with this error instead of serving.
    Fail(GraphError),
}

/// Counters reported by `GET /_emulator/stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultCounts {
    pub latency: u64,
    pub server_error: u64,
    pub throttle: u64,
    pub retry_after: u64,
    pub drop: u64,
}

#[derive(Debug)]
struct Throttle {
    client: String,
    key: String,
    until: Instant,
}

/// The injector's state: knobs, the seeded generator, live Retry-After windows, counters.
#[derive(Debug)]
pub struct Injector {
    pub faults: Faults,
    rng: StdRng,
    throttles: Vec<Throttle>,
    pub counts: FaultCounts,
    pub retry_after_violations: u64,
}

/// The workload key of a Graph path, as RetryAfterPlugin computes it: the first segment after
/// the version (`applications` for `/v1.0/applications/{id}`, `applications(appId='x')` for the
/// alternate-key form). `/myorganization/` is skipped, as Graph treats it as the tenant alias.
pub fn workload_key(path_after_version: &str) -> String {
    let mut segs = path_after_version.trim_start_matches('/').split('/');
    let mut first = segs.next().unwrap_or_default();
    if first.eq_ignore_ascii_case("myorganization") {
        first = segs.next().unwrap_or_default();
    }
    first.to_ascii_lowercase()
}

/// The 5xx statuses GraphRandomErrorPlugin picks from per method (§11.2; 429 is left to the
/// throttle knob). 507 stays for the writing methods as Dev Proxy has it, although Graph
/// documents it as a storage quota error.
fn statuses(method: &str) -> &'static [u16] {
    match method {
        "POST" | "PUT" | "DELETE" => &[500, 502, 503, 504, 507],
        _ => &[500, 502, 503, 504],
    }
}

/// The "realistic" code and message for an injected status (§11.2 point 2, Graph's basic codes
/// in `concepts/errors.md`).
pub fn transient_error(status: u16) -> GraphError {
    let (code, message) = match status {
        500 => ("generalException", "An unspecified error has occurred."),
        502 => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please try again later.",
        ),
        503 => (
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded. Please try again later.",
        ),
        504 => (
            "serviceNotAvailable",
            "The upstream service did not respond in time. Please try again later.",
        ),
        507 => ("quotaLimitReached", "The maximum storage quota has been reached."),
        _ => ("generalException", "An unspecified error has occurred."),
    };
    GraphError::new(status, code, message)
}

/// 429 `TooManyRequests` with Graph's documented message and an integer `Retry-After`
/// (`data/graph-common.json` → `throttling.example_response`).
pub fn throttled() -> GraphError {
    GraphError::new(429, "TooManyRequests", "Please retry again later.")
        .with_header("Retry-After", RETRY_AFTER_SECS.to_string())
}

impl Injector {
    pub fn new(faults: Faults) -> Self {
        let rng = match faults.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Injector {
            faults,
            rng,
            throttles: Vec::new(),
            counts: FaultCounts::default(),
            retry_after_violations: 0,
        }
    }

    /// New knobs (`PUT /_emulator/faults`): the generator is reseeded and windows cleared, so
    /// the same knobs and seed replay from here.
    pub fn set(&mut self, faults: Faults) {
        let counts = std::mem::take(&mut self.counts);
        let violations = self.retry_after_violations;
        *self = Injector::new(faults);
        self.counts = counts;
        self.retry_after_violations = violations;
    }

    /// The latency to add before answering (counted when non-zero).
    pub fn latency(&mut self) -> Duration {
        if self.faults.latency_ms > 0 {
            self.counts.latency += 1;
        }
        Duration::from_millis(self.faults.latency_ms)
    }

    fn roll(&mut self, rate: f64) -> bool {
        // Always draw, so that changing one rate does not shift the others' sequence.
        let x: f64 = self.rng.random();
        rate > 0.0 && x < rate
    }

    /// Whether to close the connection of a request without answering.
    pub fn drop_connection(&mut self) -> bool {
        let drop = self.roll(self.faults.drop_rate);
        if drop {
            self.counts.drop += 1;
        }
        drop
    }

    /// Decide for one Graph request (direct or inside `$batch`) from `client` (the token's
    /// client id, or `anonymous`) to workload `key`, at `now`.
    pub fn decide(&mut self, client: &str, key: &str, method: &str, now: Instant) -> Decision {
        let window = Duration::from_secs(RETRY_AFTER_SECS);
        self.throttles.retain(|t| t.until > now);
        if let Some(t) = self
            .throttles
            .iter_mut()
            .find(|t| t.client == client && t.key == key)
        {
            // RetryAfterPlugin: a request inside a live window is throttled again and the
            // window restarts (§11.2; matches msgraph-sdk-dotnet #250 against real Graph).
            t.until = now + window;
            self.retry_after_violations += 1;
            self.counts.retry_after += 1;
            return Decision::Fail(throttled());
        }
        let throttle = self.roll(self.faults.throttle_rate);
        let fault = self.roll(self.faults.fault_rate);
        let pick: usize = self.rng.random_range(0..statuses(method).len());
        if throttle {
            self.counts.throttle += 1;
            self.register_throttle(client, key, now);
            return Decision::Fail(throttled());
        }
        if fault {
            self.counts.server_error += 1;
            return Decision::Fail(transient_error(statuses(method)[pick]));
        }
        Decision::Pass
    }

    /// Open a Retry-After window (every 429 registers one, §11.2).
    pub fn register_throttle(&mut self, client: &str, key: &str, now: Instant) {
        self.throttles.push(Throttle {
            client: client.to_owned(),
            key: key.to_owned(),
            until: now + Duration::from_secs(RETRY_AFTER_SECS),
        });
    }

    pub fn counts_by_kind(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([
            ("drop", self.counts.drop),
            ("latency", self.counts.latency),
            ("retry_after", self.counts.retry_after),
            ("server_error", self.counts.server_error),
            ("throttle", self.counts.throttle),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(throttle: f64, fault: f64, seed: u64) -> Faults {
        Faults {
            throttle_rate: throttle,
            fault_rate: fault,
            seed: Some(seed),
            ..Faults::default()
        }
    }

    #[test]
    fn workload_keys_follow_dev_proxy() {
        assert_eq!(workload_key("/applications/abc"), "applications");
        assert_eq!(workload_key("applications(appId='x')"), "applications(appid='x')");
        assert_eq!(
            workload_key("/myorganization/servicePrincipals"),
            "serviceprincipals"
        );
    }

    #[test]
    fn a_seed_replays_the_same_decisions() {
        let run = |seed| {
            let mut inj = Injector::new(knobs(0.0, 0.5, seed));
            let now = Instant::now();
            (0..40)
                .map(|_| inj.decide("c", "applications", "GET", now))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let failures = run(7).iter().filter(|d| **d != Decision::Pass).count();
        assert!((5..35).contains(&failures), "{failures}");
    }

    #[test]
    fn early_retry_is_throttled_again_and_counted() {
        let mut inj = Injector::new(knobs(1.0, 0.0, 1));
        let t0 = Instant::now();
        let Decision::Fail(e) = inj.decide("c", "applications", "GET", t0) else {
            panic!()
        };
        assert_eq!((e.status, e.code.as_str()), (429, "TooManyRequests"));
        assert_eq!(e.headers, [("Retry-After".to_owned(), "1".to_owned())]);
        inj.faults.throttle_rate = 0.0;
        // Inside the window: 429 again, a violation; another client is not affected.
        assert!(matches!(
            inj.decide("c", "applications", "GET", t0 + Duration::from_millis(500)),
            Decision::Fail(_)
        ));
        assert_eq!(inj.decide("other", "applications", "GET", t0), Decision::Pass);
        assert_eq!(inj.decide("c", "serviceprincipals", "GET", t0), Decision::Pass);
        assert_eq!(inj.retry_after_violations, 1);
        // The early retry restarted the window: 1.2 s after the first request is still early.
        assert!(matches!(
            inj.decide("c", "applications", "GET", t0 + Duration::from_millis(1200)),
            Decision::Fail(_)
        ));
        assert_eq!(
            inj.decide("c", "applications", "GET", t0 + Duration::from_millis(3000)),
            Decision::Pass
        );
        assert_eq!(inj.retry_after_violations, 2);
    }

    #[test]
    fn fault_statuses_come_from_the_method_set() {
        let mut inj = Injector::new(knobs(0.0, 1.0, 3));
        for _ in 0..50 {
            let Decision::Fail(e) = inj.decide("c", "k", "PATCH", Instant::now()) else {
                panic!()
            };
            assert!([500, 502, 503, 504].contains(&e.status));
        }
        let mut seen_507 = false;
        for _ in 0..200 {
            let Decision::Fail(e) = inj.decide("c", "k", "POST", Instant::now()) else {
                panic!()
            };
            seen_507 |= e.status == 507;
        }
        assert!(seen_507);
    }
}
