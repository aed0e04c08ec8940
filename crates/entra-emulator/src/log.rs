//! The request log behind `GET /_emulator/requests` and the request counters of
//! `GET /_emulator/stats`. Bodies are kept for writes only, with every secret, token, assertion
//! or password value replaced by `"[redacted]"`; Authorization headers are never read here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use super::state::Shared;

/// Response extension naming the kind of request for statistics (a Graph operation name such
/// as `applications.create`, or an identity endpoint such as `token`).
#[derive(Clone, Copy, Debug)]
pub struct RequestKind(pub &'static str);

/// Response extension: close the connection without sending this response.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// One logged request.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    /// RFC 3339 with microseconds.
    pub started_at: String,
    pub finished_at: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `null` when the connection was dropped without a response.
    pub status: Option<u16>,
    pub kind: String,
    pub client_request_id: Option<String>,
    /// Writes only, redacted.
    pub body: Option<Value>,
}

/// How many sequential rounds a set of requests took: sorted by start, a request that starts
/// after every earlier one has finished opens a new round; one that overlaps the current round
/// belongs to it. Timestamps are RFC 3339 strings of one fixed width, so they order as text.
/// Concurrency only shows when requests take time: measure with some latency.
pub fn sequential_rounds<'a>(spans: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    let mut spans: Vec<(&str, &str)> = spans.into_iter().collect();
    spans.sort();
    let mut rounds = 0;
    let mut round_end = "";
    for (start, end) in spans {
        if rounds == 0 || start >= round_end {
            rounds += 1;
            round_end = end;
        } else if end > round_end {
            round_end = end;
        }
    }
    rounds
}

#[derive(Debug, Default)]
pub struct RequestLog {
    pub entries: Vec<LogEntry>,
    pub by_kind: BTreeMap<String, u64>,
}

impl RequestLog {
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_kind.clear();
    }
}

/// Whether a property name holds a credential.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "assertion",
        "password",
        // Entra's sign-in form names the password `passwd`.
        "passwd",
        "device_code",
        "code_verifier",
        "refresh",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n == "code"
        || n == "key"
}

/// Whether a string looks like a JWT (three base64url parts, a JSON header).
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

/// Replace every credential value in a JSON document by `"[redacted]"`.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if is_secret_name(k) && !val.is_null() {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        Value::String(s) if looks_like_jwt(s) => *s = "[redacted]".into(),
        _ => {}
    }
}

/// A logged form of a request body: JSON as JSON, forms as an object of fields; redacted.
fn logged_body(bytes: &[u8], content_type: Option<&str>) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let mut v = if content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        let m: Map<String, Value> = url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(m)
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(format!("<{} bytes>", bytes.len())))
    };
    redact(&mut v);
    Some(v)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Middleware: log every request outside `/_emulator/`.
pub async fn log_requests(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_emulator") {
        return next.run(req).await;
    }
    let started_at = now_rfc3339();
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let is_write = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let logged = if is_write {
        logged_body(&bytes, content_type.as_deref())
    } else {
        None
    };
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let dropped = resp.extensions().get::<DropConnection>().is_some();
    let kind = resp
        .extensions()
        .get::<RequestKind>()
        .map(|k| k.0)
        .unwrap_or("other");
    let mut log = shared.request_log();
    let seq = log.entries.len() as u64 + 1;
    *log.by_kind.entry(kind.to_owned()).or_default() += 1;
    log.entries.push(LogEntry {
        seq,
        started_at,
        finished_at: now_rfc3339(),
        method,
        path,
        query,
        status: (!dropped).then(|| resp.status().as_u16()),
        kind: kind.to_owned(),
        client_request_id,
        body: logged,
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_redacted() {
        let mut v = json!({"client_secret":"abc","passwordCredential":{"displayName":"x"},
            "nested":[{"secretText":"s","keyId":"k"}], "scope":"User.Read", "assertion":"eyJa.b.c",
            "other":"eyJhbGciOi.x.y", "displayName": "ok"});
        redact(&mut v);
        assert_eq!(v["client_secret"], "[redacted]");
        assert_eq!(v["passwordCredential"], "[redacted]");
        assert_eq!(v["nested"][0]["secretText"], "[redacted]");
        assert_eq!(v["nested"][0]["keyId"], "k");
        assert_eq!(v["other"], "[redacted]");
        assert_eq!(v["scope"], "User.Read");
        assert_eq!(v["displayName"], "ok");
    }

    #[test]
    fn forms_are_logged_as_objects() {
        let v = logged_body(
            b"grant_type=client_credentials&client_secret=s3cr3t",
            Some("application/x-www-form-urlencoded"),
        )
        .unwrap();
        assert_eq!(v["grant_type"], "client_credentials");
        assert_eq!(v["client_secret"], "[redacted]");
    }
}

#[cfg(test)]
mod rounds_tests {
    use super::sequential_rounds;

    #[test]
    fn overlapping_requests_share_a_round() {
        let t = |s: u32| format!("2026-01-01T00:00:00.{s:06}Z");
        let (a0, a1, b0, b1, c0, c1) = (t(0), t(100), t(10), t(120), t(130), t(200));
        assert_eq!(
            sequential_rounds([(a0.as_str(), a1.as_str()), (b0.as_str(), b1.as_str())]),
            1
        );
        assert_eq!(
            sequential_rounds([
                (c0.as_str(), c1.as_str()),
                (a0.as_str(), a1.as_str()),
                (b0.as_str(), b1.as_str())
            ]),
            2
        );
        assert_eq!(sequential_rounds(std::iter::empty()), 0);
    }
}
