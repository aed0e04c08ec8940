//! The HTTP face of Graph: turns an axum request under `/v1.0/` into a [`GraphRequest`], adds
//! latency, dropped connections, lost responses and malformed answers, and writes the
//! [`GraphResponse`] with Graph's headers.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{GraphRequest, GraphResponse, handle};
use crate::faults::{Malformed, spoil};
use crate::http_util::{parse_query, percent_decode};
use crate::log::{DropConnection, RequestKind};
use crate::state::Shared;
use crate::store::GraphError;

/// The content type Graph sends with JSON (docs/graph-notes.md §6 example headers).
/// The content type of Graph's error answers.
pub const ERROR_CONTENT_TYPE: &str = "application/json";
pub const CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Handler for every method on `/v1.0/*`.
pub async fn endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = shared.clock.instant();
    let request_id = uuid::Uuid::new_v4().to_string();
    // Graph echoes the caller's client-request-id, or repeats its request-id (docs/graph-notes.md §6.1 captures).
    let client_request_id = header(&headers, "client-request-id").unwrap_or_else(|| request_id.clone());
    let latency = shared.injector().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if shared.injector().drop_connection() {
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(DropConnection);
        r.extensions_mut().insert(RequestKind("dropped"));
        return r;
    }
    let (spoiled, lose) = {
        let mut injector = shared.injector();
        (injector.malformed(), injector.lose_response())
    };
    // A gateway's error page: Graph never sees the request.
    if let Some((Malformed::HtmlError, html_status)) = spoiled
        && let Some(page) = spoil(Malformed::HtmlError, 0, None, html_status)
    {
        return spoiled_response(page, "malformed");
    }
    let raw_path = uri.path();
    let after_version = raw_path.get(5..).unwrap_or_default();
    let parsed_body = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        serde_json::from_slice(&body).map(Some)
    };
    let resp = match parsed_body {
        // Graph's text for an unreadable JSON body.
        Err(_) => GraphResponse::error(GraphError::new(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
        Ok(body) => {
            let req = GraphRequest {
                method: method.as_str().to_ascii_uppercase(),
                path: format!("/{}", percent_decode(after_version.trim_start_matches('/'))),
                query: parse_query(uri.query().unwrap_or_default()),
                authorization: header(&headers, "authorization"),
                prefer: header(&headers, "prefer"),
                consistency_level: header(&headers, "consistencylevel"),
                body,
                arrived: Some(arrived),
                client_request_id: header(&headers, "client-request-id"),
            };
            let shared = shared.clone();
            // The store works under a std mutex; keep it off the async workers.
            match tokio::task::spawn_blocking(move || handle(&shared, &req, true)).await {
                Ok(r) => r,
                Err(_) => GraphResponse::error(GraphError::new(
                    500,
                    "generalException",
                    "An unspecified error has occurred.",
                )),
            }
        }
    };
    // Only answers of requests that were served are lost or spoiled; an injected error (a 429
    // with its Retry-After, a 5xx) goes out as it is, so a client is never blamed for an early
    // retry it could not know about.
    let served = !resp.dropped && resp.status < 400;
    if served && lose {
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(DropConnection);
        r.extensions_mut().insert(RequestKind(resp.kind));
        return r;
    }
    if served && let Some((kind, html_status)) = spoiled {
        let kind_name = resp.kind;
        let finished = resp.clone().finish(&request_id, &client_request_id);
        if let Some(page) = spoil(kind, finished.status, finished.body.as_ref(), html_status) {
            return spoiled_response(page, kind_name);
        }
    }
    render(resp, &request_id, &client_request_id)
}

/// A malformed answer on the wire: no Graph headers beyond the content type.
fn spoiled_response(page: crate::faults::Spoiled, kind: &'static str) -> Response {
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = Response::builder()
        .status(status)
        .header("Content-Type", page.content_type)
        .body(Body::from(page.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    r.extensions_mut().insert(RequestKind(kind));
    r
}

/// Write a Graph answer: status, `request-id`/`client-request-id`, Graph's content type.
pub fn render(resp: GraphResponse, request_id: &str, client_request_id: &str) -> Response {
    if resp.dropped {
        let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        r.extensions_mut().insert(DropConnection);
        r.extensions_mut().insert(RequestKind(resp.kind));
        return r;
    }
    let error = resp.error.is_some();
    let resp = resp.finish(request_id, client_request_id);
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    builder = builder.header("Cache-Control", "no-cache");
    // Graph's error answers are plain JSON without OData headers (the Azure CLI's recordings of
    // 404s, and Dev Proxy's imitation: `Content-Type: application/json`); only OData payloads
    // carry `OData-Version` and the OData content type.
    if !error {
        builder = builder.header("OData-Version", "4.0");
    }
    for (k, v) in &resp.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            builder = builder.header(k.as_str(), v);
        }
    }
    let body = match &resp.body {
        Some(b) => {
            builder = builder.header(
                "Content-Type",
                if error { ERROR_CONTENT_TYPE } else { CONTENT_TYPE },
            );
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let mut r = builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    r.extensions_mut().insert(RequestKind(resp.kind));
    r
}
