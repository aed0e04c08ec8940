//! The emulator's request log (`GET /_emulator/requests`), read strictly: an answer that is not
//! the log (a status other than 200, a body that is not a list of entries, an entry without a
//! method or a path) fails the test instead of reading as an empty log, and "wrote nothing" is
//! only asserted of a log that holds what the run must have done ([`assert_read_only`]).

use serde_json::Value;

/// The log entries of a `GET /_emulator/requests` answer; panics on anything else.
pub fn parse(status: u16, body: &str) -> Vec<Value> {
    assert_eq!(status, 200, "GET /_emulator/requests answered {status}: {body}");
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("the request log is not JSON ({e}): {body}"));
    let Value::Array(entries) = v else {
        panic!("the request log is not a list of entries: {body}");
    };
    for e in &entries {
        assert!(
            e["method"].is_string() && e["path"].is_string(),
            "a request log entry without a method or a path: {e}"
        );
    }
    entries
}

fn method(r: &Value) -> &str {
    r["method"].as_str().expect("a logged method")
}

fn path(r: &Value) -> &str {
    r["path"].as_str().expect("a logged path")
}

/// Whether an entry is a Graph request (`/v1.0/…`), not sign-in or the control plane.
pub fn is_graph(r: &Value) -> bool {
    path(r).to_ascii_lowercase().starts_with("/v1.0")
}

/// Whether an entry is a token request (`/{tenant}/oauth2/v2.0/token`).
pub fn is_token_request(r: &Value) -> bool {
    method(r) == "POST" && path(r).ends_with("/oauth2/v2.0/token")
}

/// `METHOD /path` of each write (any method but GET), in log order.
pub fn writes(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|r| method(r) != "GET")
        .map(|r| format!("{} {}", method(r), path(r)))
        .collect()
}

/// `METHOD /path` of each Graph write in a whole log (sign-in and control left out).
pub fn graph_writes(log: &[Value]) -> Vec<String> {
    let graph: Vec<Value> = log.iter().filter(|r| is_graph(r)).cloned().collect();
    writes(&graph)
}

/// `METHOD /path` of each Graph read in a log.
pub fn graph_reads(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|r| is_graph(r) && method(r) == "GET")
        .map(|r| format!("GET {}", path(r)))
        .collect()
}

/// A run that must have signed in and read Graph, and must not have written: the log holds
/// at least one Graph read (so an empty or unread log fails) and no Graph write. Returns the
/// reads.
pub fn assert_read_only(log: &[Value]) -> Vec<String> {
    let reads = graph_reads(log);
    assert!(
        !reads.is_empty(),
        "the request log holds no Graph read, so it cannot show that nothing was written: {log:?}"
    );
    let writes = graph_writes(log);
    assert_eq!(
        writes,
        Vec::<String>::new(),
        "Graph writes after the reads {reads:?}"
    );
    reads
}

/// Sequential rounds of the logged requests (`entra_emulator::log::sequential_rounds`).
pub fn rounds(log: &[Value]) -> usize {
    entra_emulator::log::sequential_rounds(log.iter().map(|r| {
        (
            r["started_at"].as_str().expect("a logged start"),
            r["finished_at"].as_str().expect("a logged end"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    #[should_panic(expected = "answered 404")]
    fn an_unexpected_status_is_not_an_empty_log() {
        parse(404, "[]");
    }

    #[test]
    #[should_panic(expected = "not a list of entries")]
    fn an_unexpected_body_is_not_an_empty_log() {
        parse(200, r#"{"value": []}"#);
    }

    #[test]
    #[should_panic(expected = "holds no Graph read")]
    fn an_empty_log_does_not_show_that_nothing_was_written() {
        assert_read_only(&[]);
    }

    #[test]
    #[should_panic(expected = "holds no Graph read")]
    fn a_sign_in_alone_does_not_show_it_either() {
        assert_read_only(&[json!({"method": "POST", "path": "/t/oauth2/v2.0/token"})]);
    }

    #[test]
    #[should_panic(expected = "Graph writes")]
    fn a_write_after_the_reads_fails() {
        assert_read_only(&[
            json!({"method": "GET", "path": "/v1.0/organization"}),
            json!({"method": "PATCH", "path": "/v1.0/applications/x"}),
        ]);
    }

    #[test]
    fn reads_without_writes_pass_and_are_returned() {
        let log = parse(
            200,
            r#"[{"method": "POST", "path": "/t/oauth2/v2.0/token"},
                {"method": "GET", "path": "/v1.0/organization"}]"#,
        );
        assert!(is_token_request(&log[0]));
        assert_eq!(assert_read_only(&log), ["GET /v1.0/organization"]);
    }
}
