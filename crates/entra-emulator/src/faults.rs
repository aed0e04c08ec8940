//! Fault injection, modelled on Microsoft Dev Proxy's Graph plugins (docs/graph-notes.md §11.2):
//! added latency, transient 5xx from GraphRandomErrorPlugin's per-method sets, 429 with
//! `Retry-After`, dropped connections, and RetryAfterPlugin's early-retry enforcement. Every
//! random draw comes from one seeded `StdRng`, so a seed replays the same decisions for the
//! same request sequence. Pure apart from the clock passed in: no I/O.
//!
//! Beyond Dev Proxy: malformed answers (what a broken proxy, a gateway error page or a
//! half-written response looks like: [`Malformed`]) and lost responses (the request is served,
//! then the connection closes unanswered: docs/graph-notes.md §11.1(d) "apply-then-fail", the
//! ambiguous write). Their draws come from a second generator, so a seed replays the older
//! knobs' decisions unchanged whatever these are set to.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Faults;
use super::store::GraphError;

/// Seconds a throttled client must wait. Graph sends integer seconds by default (docs/graph-notes.md §11.2); one
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
    pub lost_response: u64,
    /// 429s from Graph's directory budget (`budget.rs`), not from the random knob.
    pub throttle_budget: u64,
    pub malformed: BTreeMap<Malformed, u64>,
}

/// A malformed answer, for `malformed_rate` / `malformed_kinds` (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// Served; the JSON body is cut off halfway (with a matching Content-Length).
    TruncatedJson,
    /// Served; the body's values have the wrong JSON types (`id` a number, `value` an object).
    WrongTypes,
    /// Served; the body carries properties and annotations Graph does not document today.
    /// Graph adds properties over time, so a client must accept these: the one malformed kind
    /// that is not an error.
    UnexpectedFields,
    /// Not served: a gateway's HTML error page (200, 502, 503 or 504) instead of Graph's JSON.
    HtmlError,
    /// Served; the answer is `200 OK` with an empty body.
    Empty200,
}

impl Malformed {
    pub const ALL: [Malformed; 5] = [
        Malformed::TruncatedJson,
        Malformed::WrongTypes,
        Malformed::UnexpectedFields,
        Malformed::HtmlError,
        Malformed::Empty200,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Malformed::TruncatedJson => "truncated_json",
            Malformed::WrongTypes => "wrong_types",
            Malformed::UnexpectedFields => "unexpected_fields",
            Malformed::HtmlError => "html_error",
            Malformed::Empty200 => "empty_200",
        }
    }

    /// Whether the request is served before the answer is spoiled.
    pub fn serves(self) -> bool {
        self != Malformed::HtmlError
    }
}

/// A spoiled answer as it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Spoiled {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The HTML page a gateway in front of Graph answers with when it fails (an Azure Front Door /
/// IIS-style page; no Graph envelope, no request-id).
fn html_page(status: u16) -> String {
    let reason = match status {
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "OK",
    };
    format!(
        "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><h1>{reason}</h1>\
         <p>The server encountered a temporary error and could not complete your request.</p></body></html>\n"
    )
}

/// Every value of a JSON document with the wrong type: strings become numbers, numbers and
/// booleans strings, arrays objects; objects keep their keys.
fn wrong_types(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), wrong_types(v))).collect()),
        Value::Array(a) => json!({ "items": a.len() }),
        Value::String(s) => json!(s.len()),
        Value::Number(n) => json!(n.to_string()),
        Value::Bool(b) => json!(b.to_string()),
        Value::Null => json!({}),
    }
}

/// The document with properties and instance annotations Graph does not send today, at the
/// top and in every object of every array.
fn with_unexpected_fields(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out: Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), with_unexpected_fields(v)))
                .collect();
            out.insert("@odata.futureAnnotation".into(), json!("emulator"));
            out.insert(
                "futureProperty".into(),
                json!({"nested": [1, "two", null, {"three": true}], "enabled": false}),
            );
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(with_unexpected_fields).collect()),
        other => other.clone(),
    }
}

/// Spoil an answer. `status` and `body` are what Graph would have sent; `html_status` is the
/// status an HTML page carries (drawn by the injector).
pub fn spoil(kind: Malformed, status: u16, body: Option<&Value>, html_status: u16) -> Option<Spoiled> {
    const JSON: &str =
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
    let spoiled = match kind {
        Malformed::HtmlError => Spoiled {
            status: html_status,
            content_type: "text/html; charset=utf-8",
            body: html_page(html_status).into_bytes(),
        },
        Malformed::Empty200 => Spoiled {
            status: 200,
            content_type: JSON,
            body: Vec::new(),
        },
        Malformed::TruncatedJson => {
            // A 204 has nothing to cut: send half of an object Graph might have sent.
            let text = body.map_or_else(|| r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#applications/$entity","id":"00000000-0000-0000-0000-000000000000"}"#.to_owned(), Value::to_string);
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .nth(text.chars().count() / 2)
                .unwrap_or(0);
            Spoiled {
                status: if status == 204 { 200 } else { status },
                content_type: JSON,
                body: text.as_bytes()[..cut].to_vec(),
            }
        }
        Malformed::WrongTypes => Spoiled {
            status: if status == 204 { 200 } else { status },
            content_type: JSON,
            body: wrong_types(body.unwrap_or(&json!({"id": null, "appId": null})))
                .to_string()
                .into_bytes(),
        },
        // Nothing to add to an answer without a body: it stays as Graph sent it.
        Malformed::UnexpectedFields => Spoiled {
            status,
            content_type: JSON,
            body: with_unexpected_fields(body?).to_string().into_bytes(),
        },
    };
    Some(spoiled)
}

#[derive(Debug)]
struct Throttle {
    client: String,
    key: String,
    /// When the 429 that opened (or last restarted) the window was answered.
    opened: Instant,
    until: Instant,
    /// How long the window is: its Retry-After.
    window: Duration,
    /// `client-request-id`s of the requests this window throttled: one of them coming back
    /// before `until` is an early retry whenever it arrives.
    request_ids: Vec<String>,
}

/// How a request reached the emulator.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// Before any added latency.
    pub at: Instant,
    pub client_request_id: Option<&'a str>,
}

/// What counts as an early retry (README.md "The emulator", `retry_after_violations`: requests
/// that came back sooner than the `Retry-After` they were given): a request that repeats the `client-request-id` of one the
/// window throttled. Any other request of the same client and workload inside the window is
/// answered 429 too, as Graph does, but was not given that Retry-After: it may have been on
/// its way already, or come from another process of the same app (the reliability suite found
/// concurrent requests and concurrent applies counted as hundreds of violations). A request
/// without a `client-request-id` cannot be matched, so it is early when it arrives this long
/// after the window's 429 was answered.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_millis(250);

/// The injector's state: knobs, the seeded generator, live Retry-After windows, counters.
#[derive(Debug)]
pub struct Injector {
    pub faults: Faults,
    rng: StdRng,
    /// Draws for the malformed and lost-response knobs (see the module header).
    extra: StdRng,
    throttles: Vec<Throttle>,
    /// Graph's directory throttling budget per client; always on, as in Graph.
    budget: super::budget::Budget,
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

/// The 5xx statuses GraphRandomErrorPlugin picks from per method (docs/graph-notes.md §11.2; 429 is left to the
/// throttle knob). 507 stays for the writing methods as Dev Proxy has it, although Graph
/// documents it as a storage quota error.
fn statuses(method: &str) -> &'static [u16] {
    match method {
        "POST" | "PUT" | "DELETE" => &[500, 502, 503, 504, 507],
        _ => &[500, 502, 503, 504],
    }
}

/// The "realistic" code and message for an injected status (docs/graph-notes.md §11.2 point 2, Graph's basic codes
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
/// (docs/graph-notes.md §6).
pub fn throttled() -> GraphError {
    throttled_for(RETRY_AFTER_SECS)
}

/// 429 with a `Retry-After` of `secs` whole seconds.
pub fn throttled_for(secs: u64) -> GraphError {
    GraphError::new(429, "TooManyRequests", "Please retry again later.")
        .with_header("Retry-After", secs.to_string())
}

impl Injector {
    pub fn new(faults: Faults) -> Self {
        let (rng, extra) = match faults.seed {
            Some(seed) => (
                StdRng::seed_from_u64(seed),
                StdRng::seed_from_u64(seed ^ 0x6d61_6c66_6f72_6d65),
            ),
            None => (StdRng::from_os_rng(), StdRng::from_os_rng()),
        };
        Injector {
            faults,
            rng,
            extra,
            throttles: Vec::new(),
            budget: Default::default(),
            counts: FaultCounts::default(),
            retry_after_violations: 0,
        }
    }

    /// New knobs (`PUT /_emulator/faults`): the generator is reseeded and windows cleared, so
    /// the same knobs and seed replay from here.
    pub fn set(&mut self, faults: Faults) {
        let counts = std::mem::take(&mut self.counts);
        let budget = std::mem::take(&mut self.budget);
        let violations = self.retry_after_violations;
        *self = Injector::new(faults);
        self.counts = counts;
        self.budget = budget;
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

    /// Whether to spoil this request's answer, and how; with the status an HTML page carries.
    pub fn malformed(&mut self) -> Option<(Malformed, u16)> {
        let x: f64 = self.extra.random();
        let kinds: &[Malformed] = if self.faults.malformed_kinds.is_empty() {
            &Malformed::ALL
        } else {
            &self.faults.malformed_kinds
        };
        let kind = kinds[self.extra.random_range(0..kinds.len())];
        let html_status = [200, 502, 503, 504][self.extra.random_range(0..4)];
        if self.faults.malformed_rate > 0.0 && x < self.faults.malformed_rate {
            *self.counts.malformed.entry(kind).or_default() += 1;
            return Some((kind, html_status));
        }
        None
    }

    /// Whether to serve this request and then close the connection without the answer.
    pub fn lose_response(&mut self) -> bool {
        let x: f64 = self.extra.random();
        let lose = self.faults.lost_response_rate > 0.0 && x < self.faults.lost_response_rate;
        if lose {
            self.counts.lost_response += 1;
        }
        lose
    }

    /// Decide for one Graph request (direct or inside `$batch`) from `client` (the token's
    /// client id, or `anonymous`) to workload `key`, at `now`, for a request that arrived then.
    pub fn decide(&mut self, client: &str, key: &str, method: &str, now: Instant) -> Decision {
        let arrival = Arrival {
            at: now,
            client_request_id: None,
        };
        self.decide_arrived(client, key, method, arrival, now)
    }

    /// [`Injector::decide`] for a request that arrived as `arrival` says. Inside a live window
    /// it is an early retry when it retries a request the window throttled, or (without a
    /// `client-request-id`) when it arrived [`IN_FLIGHT_GRACE`] after the window's 429.
    pub fn decide_arrived(
        &mut self,
        client: &str,
        key: &str,
        method: &str,
        arrival: Arrival<'_>,
        now: Instant,
    ) -> Decision {
        self.throttles.retain(|t| t.until > now);
        if let Some(t) = self
            .throttles
            .iter_mut()
            .find(|t| t.client == client && t.key == key)
        {
            // RetryAfterPlugin: a request inside a live window is throttled again and the
            // window restarts (docs/graph-notes.md §11.2; matches msgraph-sdk-dotnet #250 against real Graph).
            let retry = arrival
                .client_request_id
                .is_some_and(|id| t.request_ids.iter().any(|r| r == id));
            let early = match arrival.client_request_id {
                Some(_) => retry,
                None => arrival.at > t.opened + IN_FLIGHT_GRACE,
            };
            // Only an early request restarts the window: one that was on its way when the 429
            // went out gets a 429 with the same Retry-After (the rest of the window, rounded up
            // to whole seconds), and restarting for it would make the throttled request's own
            // well-timed retry early.
            if early {
                t.until = now + t.window;
                t.opened = now;
            }
            // The rest of the window, in whole seconds rounded up.
            let left = t.until.saturating_duration_since(now);
            let secs = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
            if let Some(id) = arrival.client_request_id {
                t.request_ids.push(id.to_owned());
            }
            if early {
                self.retry_after_violations += 1;
            }
            self.counts.retry_after += 1;
            return Decision::Fail(throttled_for(secs));
        }
        let throttle = self.roll(self.faults.throttle_rate);
        let fault = self.roll(self.faults.fault_rate);
        let pick: usize = self.rng.random_range(0..statuses(method).len());
        if throttle {
            self.counts.throttle += 1;
            self.register_throttle(client, key, now);
            if let (Some(id), Some(t)) = (arrival.client_request_id, self.throttles.last_mut()) {
                t.request_ids.push(id.to_owned());
            }
            return Decision::Fail(throttled());
        }
        if fault {
            self.counts.server_error += 1;
            return Decision::Fail(transient_error(statuses(method)[pick]));
        }
        // Graph's own limit: the request is paid from the client's budget, or throttled for as
        // long as the budget needs to refill (`budget.rs`). The workload key starts with the
        // resource segment, which is all the cost depends on.
        if let super::budget::Verdict::Throttle { retry_after_secs, .. } =
            self.budget.charge(client, method, key, now)
        {
            self.counts.throttle_budget += 1;
            self.register_throttle_for(client, key, now, Duration::from_secs(retry_after_secs));
            if let (Some(id), Some(t)) = (arrival.client_request_id, self.throttles.last_mut()) {
                t.request_ids.push(id.to_owned());
            }
            return Decision::Fail(throttled_for(retry_after_secs));
        }
        Decision::Pass
    }

    /// Open a Retry-After window (every 429 registers one, docs/graph-notes.md §11.2).
    pub fn register_throttle(&mut self, client: &str, key: &str, now: Instant) {
        self.register_throttle_for(client, key, now, Duration::from_secs(RETRY_AFTER_SECS));
    }

    /// Open a Retry-After window of `window`.
    pub fn register_throttle_for(&mut self, client: &str, key: &str, now: Instant, window: Duration) {
        self.throttles.push(Throttle {
            client: client.to_owned(),
            key: key.to_owned(),
            opened: now,
            until: now + window,
            window,
            request_ids: Vec::new(),
        });
    }

    /// Faults injected by kind; malformed answers as `malformed_{kind}`, listed only once one
    /// was injected.
    pub fn counts_by_kind(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = [
            ("drop", self.counts.drop),
            ("latency", self.counts.latency),
            ("lost_response", self.counts.lost_response),
            ("retry_after", self.counts.retry_after),
            ("server_error", self.counts.server_error),
            ("throttle", self.counts.throttle),
            ("throttle_budget", self.counts.throttle_budget),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (kind, n) in &self.counts.malformed {
            out.insert(format!("malformed_{}", kind.name()), *n);
        }
        out
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
    fn new_knobs_leave_the_old_draws_alone() {
        let run = |malformed_rate: f64| {
            let mut inj = Injector::new(Faults {
                malformed_rate,
                lost_response_rate: malformed_rate,
                ..knobs(0.3, 0.3, 11)
            });
            let now = Instant::now();
            (0..40)
                .map(|_| {
                    let _ = inj.malformed();
                    let _ = inj.lose_response();
                    inj.decide("c", "applications", "GET", now + Duration::from_secs(5))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(0.0), run(0.7));
    }

    #[test]
    fn malformed_kinds_are_drawn_from_the_list_and_counted() {
        let mut inj = Injector::new(Faults {
            malformed_rate: 1.0,
            malformed_kinds: vec![Malformed::HtmlError, Malformed::Empty200],
            seed: Some(4),
            ..Faults::default()
        });
        for _ in 0..30 {
            let (kind, html) = inj.malformed().unwrap();
            assert!([Malformed::HtmlError, Malformed::Empty200].contains(&kind));
            assert!([200, 502, 503, 504].contains(&html));
        }
        let counts = inj.counts_by_kind();
        assert_eq!(counts["malformed_html_error"] + counts["malformed_empty_200"], 30);
        let mut off = Injector::new(Faults::default());
        assert_eq!(off.malformed(), None);
        assert!(!off.lose_response());
    }

    #[test]
    fn spoiled_answers_are_what_they_say() {
        let app = json!({"id": "abc", "appId": "def", "tags": ["a"], "isFallbackPublicClient": true});
        let t = spoil(Malformed::TruncatedJson, 201, Some(&app), 502).unwrap();
        assert_eq!(t.status, 201);
        assert!(serde_json::from_slice::<Value>(&t.body).is_err());
        assert!(app.to_string().as_bytes().starts_with(&t.body));
        let w = spoil(Malformed::WrongTypes, 200, Some(&app), 502).unwrap();
        let v: Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(
            v,
            json!({"id": 3, "appId": 3, "tags": {"items": 1}, "isFallbackPublicClient": "true"})
        );
        let u = spoil(
            Malformed::UnexpectedFields,
            200,
            Some(&json!({"value": [{"id": "x"}]})),
            502,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&u.body).unwrap();
        assert_eq!(v["value"][0]["id"], "x");
        assert!(v["value"][0]["futureProperty"].is_object());
        assert_eq!(spoil(Malformed::UnexpectedFields, 204, None, 502), None);
        let h = spoil(Malformed::HtmlError, 201, Some(&app), 503).unwrap();
        assert_eq!((h.status, h.content_type), (503, "text/html; charset=utf-8"));
        assert!(String::from_utf8(h.body).unwrap().contains("Service Unavailable"));
        let e = spoil(Malformed::Empty200, 204, None, 502).unwrap();
        assert_eq!((e.status, e.body.len()), (200, 0));
    }

    #[test]
    fn requests_already_on_their_way_are_throttled_but_not_early() {
        let mut inj = Injector::new(knobs(1.0, 0.0, 1));
        let arrival = |at, id| Arrival {
            at,
            client_request_id: id,
        };
        let t0 = Instant::now();
        let d = inj.decide_arrived("c", "k", "POST", arrival(t0, Some("first")), t0);
        assert!(matches!(d, Decision::Fail(_)));
        inj.faults.throttle_rate = 0.0;
        // Another request arriving just after the 429 went out (sent before the client read
        // it): throttled, not counted.
        let soon = t0 + Duration::from_millis(30);
        let d = inj.decide_arrived("c", "k", "POST", arrival(soon, Some("other")), soon);
        assert!(matches!(d, Decision::Fail(_)));
        assert_eq!(inj.retry_after_violations, 0);
        // Another request later on (another process of the same app): throttled, not early.
        let later = t0 + Duration::from_millis(300);
        let d = inj.decide_arrived("c", "k", "GET", arrival(later, Some("third")), later);
        assert!(matches!(d, Decision::Fail(_)));
        assert_eq!(inj.retry_after_violations, 0);
        // Without a client-request-id, arriving well after the 429 was answered: early.
        let late = t0 + Duration::from_millis(400);
        let d = inj.decide_arrived("c", "k", "POST", arrival(late, None), late);
        assert!(matches!(d, Decision::Fail(_)));
        assert_eq!(inj.retry_after_violations, 1);
        // A retry of a throttled request is early however soon it comes.
        let retry = late + Duration::from_millis(10);
        let d = inj.decide_arrived("c", "k", "POST", arrival(retry, Some("first")), retry);
        assert!(matches!(d, Decision::Fail(_)));
        assert_eq!(inj.retry_after_violations, 2);
        assert_eq!(inj.counts.retry_after, 4);
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

    #[test]
    fn graphs_directory_budget_throttles_with_its_own_retry_after() {
        let mut inj = Injector::new(Faults::default());
        let t0 = Instant::now();
        // 3,500 resource units: 1,750 application reads at 2 units each.
        for _ in 0..1750 {
            assert_eq!(inj.decide("client-a", "applications", "GET", t0), Decision::Pass);
        }
        match inj.decide("client-a", "applications", "GET", t0) {
            Decision::Fail(e) => {
                assert_eq!(e.status, 429);
                assert_eq!(
                    e.headers
                        .iter()
                        .find(|(k, _)| k == "Retry-After")
                        .map(|(_, v)| v.as_str()),
                    Some("1")
                );
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        assert_eq!(inj.counts_by_kind()["throttle_budget"], 1);
        // Another client has its own budget; the throttled one is served once it waited.
        assert_eq!(inj.decide("client-b", "applications", "GET", t0), Decision::Pass);
        assert_eq!(
            inj.decide(
                "client-a",
                "applications",
                "GET",
                t0 + Duration::from_millis(1100)
            ),
            Decision::Pass
        );
        assert_eq!(inj.retry_after_violations, 0);
    }
}
