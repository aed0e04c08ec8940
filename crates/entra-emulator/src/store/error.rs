//! Typed Microsoft Graph errors: what the store and the routes return, rendered to Graph's wire
//! envelope in exactly one place (`GraphError::body`). Pure: no I/O.
//!
//! Envelope (docs/graph-notes.md §6.1):
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with
//! `innerError.date` as `yyyy-MM-ddTHH:mm:ss` without a zone.

use serde_json::{Map, Value, json};

/// One entry of `error.details` (only NoBackingApplicationObject uses it, docs/graph-notes.md §11.1(d1)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub target: String,
}

/// A Graph error: HTTP status, Graph's `code` and `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Vec<ErrorDetail>,
    /// Extra response headers (`Retry-After` on throttling).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for GraphError {}

pub type GraphResult<T> = Result<T, GraphError>;

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 400 `Request_BadRequest`, the directory's generic validation failure (docs/graph-notes.md §6.1).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "Request_BadRequest", message)
    }

    /// 404 `Request_ResourceNotFound` with the directory's message, captured in
    /// docs/graph-notes.md §6.
    pub fn not_found(key: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 403 `Authorization_RequestDenied` (docs/graph-notes.md §6.1, the json-batching doc example).
    pub fn forbidden() -> Self {
        Self::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 401 `InvalidAuthenticationToken` (docs/graph-notes.md §6.1; messages from third-party fixtures).
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "InvalidAuthenticationToken", message)
    }

    /// 400 `Request_UnsupportedQuery` with the text Graph sends for a filter on a property that
    /// does not support it (captured in microsoft-graph-docs-contrib issue #1726).
    pub fn unsupported_filter(property: &str, resource: &str) -> Self {
        Self::new(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
            ),
        )
    }

    /// 400 `Request_UnsupportedQuery` for a filter the directory cannot parse or run
    /// (the operator form is captured in microsoft-graph-docs-contrib issue #3042).
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(400, "Request_UnsupportedQuery", message)
    }

    pub fn with_detail(mut self, code: &str, target: &str) -> Self {
        self.details.push(ErrorDetail {
            code: code.to_owned(),
            message: self.message.clone(),
            target: target.to_owned(),
        });
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The JSON body Graph sends for this error. `date` is `yyyy-MM-ddTHH:mm:ss` (no zone).
    pub fn body(&self, date: &str, request_id: &str, client_request_id: &str) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if !self.details.is_empty() {
            let details: Vec<Value> = self
                .details
                .iter()
                .map(|d| json!({"code": d.code, "message": d.message, "target": d.target}))
                .collect();
            error.insert("details".into(), Value::Array(details));
        }
        error.insert(
            "innerError".into(),
            json!({"date": date, "request-id": request_id, "client-request-id": client_request_id}),
        );
        json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_graph_envelope_in_order() {
        let e = GraphError::not_found("abc");
        let body = e.body("2025-02-13T10:17:06", "r", "c");
        assert_eq!(
            body.to_string(),
            r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'abc' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2025-02-13T10:17:06","request-id":"r","client-request-id":"c"}}}"#
        );
    }

    #[test]
    fn details_come_before_inner_error() {
        let e = GraphError::bad_request("m").with_detail("NoBackingApplicationObject", "appId");
        let body = e.body("d", "r", "c");
        let keys: Vec<&String> = body["error"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "message", "details", "innerError"]);
        assert_eq!(body["error"]["details"][0]["target"], "appId");
    }
}
