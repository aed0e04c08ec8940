//! JSON batching, `POST /$batch` (docs/graph-notes.md §5): at
//! most 20 requests with unique ids, relative URLs, `dependsOn` (424 when a dependency failed),
//! outer 200 whenever the batch parsed. Each inner request goes through the same
//! authorisation, fault injection and store as a direct one.

use serde_json::{Map, Value, json};

use super::{GraphRequest, GraphResponse, handle};
use crate::http_util::{parse_query, percent_decode};
use crate::state::Shared;
use crate::store::GraphError;

/// Graph's batch limit.
pub const MAX_REQUESTS: usize = 20;

/// A malformed batch fails as a whole with 400 (json-batching.md); the messages are derived.
fn malformed(message: &str) -> GraphError {
    GraphError::new(400, "BadRequest", message)
}

struct Entry {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(body: Option<&Value>) -> Result<Vec<Entry>, GraphError> {
    let requests = body
        .and_then(|b| b.get("requests"))
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("Invalid batch payload format."))?;
    if requests.is_empty() {
        return Err(malformed("Invalid batch payload format."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(malformed(&format!(
            "The number of batch requests exceeds the maximum of {MAX_REQUESTS}."
        )));
    }
    let mut entries: Vec<Entry> = Vec::new();
    for r in requests {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(id), Some(method), Some(url)) = (text("id"), text("method"), text("url")) else {
            return Err(malformed(
                "Invalid batch payload format: every request needs id, method and url.",
            ));
        };
        // Ids are not case-sensitive and must be unique.
        if entries.iter().any(|e| e.id.eq_ignore_ascii_case(&id)) {
            return Err(malformed(&format!("Batch request contains duplicate id '{id}'.")));
        }
        let depends_on: Vec<String> = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => {
                return Err(malformed(
                    "Invalid batch payload format: dependsOn must be an array of ids.",
                ));
            }
        };
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        entries.push(Entry {
            id,
            method: method.to_ascii_uppercase(),
            url,
            headers,
            body,
            depends_on,
        });
    }
    for e in &entries {
        for d in &e.depends_on {
            if !entries.iter().any(|o| o.id.eq_ignore_ascii_case(d)) || d.eq_ignore_ascii_case(&e.id) {
                return Err(malformed(&format!(
                    "Request '{}' depends on an unknown request '{d}'.",
                    e.id
                )));
            }
        }
    }
    Ok(entries)
}

fn header<'a>(headers: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Serve a `$batch` request: returns the outer response (200 with `responses`, or 400).
pub fn handle_batch(shared: &Shared, outer: &GraphRequest) -> GraphResponse {
    let entries = match parse(outer.body.as_ref()) {
        Ok(e) => e,
        Err(e) => return GraphResponse::error(e),
    };
    let mut statuses: Vec<Option<u16>> = vec![None; entries.len()];
    let mut responses: Vec<Option<Value>> = vec![None; entries.len()];
    // Run in request order, running a request's dependencies first (dependsOn is sequential).
    fn run(
        i: usize,
        entries: &[Entry],
        statuses: &mut Vec<Option<u16>>,
        responses: &mut Vec<Option<Value>>,
        shared: &Shared,
        outer: &GraphRequest,
        depth: usize,
    ) {
        if statuses[i].is_some() || depth > MAX_REQUESTS {
            return;
        }
        let e = &entries[i];
        let mut failed_dependency = depth >= MAX_REQUESTS;
        for d in &e.depends_on {
            if let Some(j) = entries.iter().position(|o| o.id.eq_ignore_ascii_case(d)) {
                run(j, entries, statuses, responses, shared, outer, depth + 1);
                failed_dependency |= statuses[j].is_none_or(|s| s >= 400);
            }
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = header(&e.headers, "client-request-id")
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        let resp = if failed_dependency {
            GraphResponse::error(GraphError::new(
                424,
                "FailedDependency",
                "The request depends on a request that failed.",
            ))
        } else if e.url.starts_with("http://") || e.url.starts_with("https://") {
            // URLs in a batch are relative (json-batching.md).
            GraphResponse::error(GraphError::new(
                400,
                "BadRequest",
                "Invalid request: the url of a batch request must be relative.",
            ))
        } else {
            let (path, query) = match e.url.split_once('?') {
                Some((p, q)) => (p, q),
                None => (e.url.as_str(), ""),
            };
            let path = format!("/{}", percent_decode(path.trim_start_matches('/')));
            let inner = GraphRequest {
                method: e.method.clone(),
                path,
                query: parse_query(query),
                authorization: outer.authorization.clone(),
                prefer: header(&e.headers, "Prefer").map(str::to_owned),
                consistency_level: header(&e.headers, "ConsistencyLevel").map(str::to_owned),
                body: e.body.clone(),
                arrived: outer.arrived,
                client_request_id: None,
            };
            if super::route(&inner.method, &inner.path).is_ok_and(|m| m.op == super::Op::Batch) {
                GraphResponse::error(GraphError::bad_request(
                    "Nested batch requests are not supported.",
                ))
            } else {
                handle(shared, &inner, true)
            }
        };
        let error = resp.error.is_some();
        let resp = resp.finish(&request_id, &client_request_id);
        let mut headers = Map::new();
        for (k, v) in &resp.headers {
            headers.insert(k.clone(), json!(v));
        }
        if resp.body.is_some() {
            let content_type = if error {
                super::http::ERROR_CONTENT_TYPE
            } else {
                super::http::CONTENT_TYPE
            };
            headers.insert("Content-Type".into(), json!(content_type));
        }
        let mut out = Map::new();
        out.insert("id".into(), json!(e.id));
        out.insert("status".into(), json!(resp.status));
        out.insert("headers".into(), Value::Object(headers));
        if let Some(b) = resp.body {
            out.insert("body".into(), b);
        }
        statuses[i] = Some(resp.status);
        responses[i] = Some(Value::Object(out));
    }
    for i in 0..entries.len() {
        run(i, &entries, &mut statuses, &mut responses, shared, outer, 0);
    }
    let responses: Vec<Value> = responses.into_iter().flatten().collect();
    GraphResponse::json(200, json!({ "responses": responses }))
}
