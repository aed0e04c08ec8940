//! `--trace FILE` (`PROVISION_TRACE`): every HTTP exchange of a run, Graph and sign-in, as one
//! JSON line (method, URL, status, duration, request-id, client-request-id, the bodies cut at a
//! few KB) for bug reports. Secrets never reach the file: bearer tokens are never written (no
//! request header but `client-request-id` is), and query parameters, form fields and JSON
//! members that carry a secret, token, assertion, code or password are replaced by
//! `[redacted]`, as is any JWT-shaped text left anywhere else.
//!
//! The hook is [`execute`]: the Graph client and the token requests (through [`OAuthHttp`])
//! send their requests through it. When no trace file is open it is `reqwest::Client::execute`.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value, json};

/// Bodies are cut at this many bytes, after redaction.
pub const BODY_LIMIT: usize = 4096;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

static SINK: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Open (create or truncate) the trace file for this process. Mode 0600 on Unix: it holds
/// tenant data even without secrets.
pub fn open(path: &std::path::Path) -> crate::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|e| {
        crate::Error::failure(format!("cannot open the trace file `{}`", path.display())).with_source(e)
    })?;
    let _ = SINK.set(Mutex::new(file));
    Ok(())
}

pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// Names of JSON members whose value is a secret (token responses, `addPassword`'s
/// `secretText`). Graph's `code` (an error code) and `value` (a permission name) are not.
fn is_secret_member(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "client_secret"
            | "client_assertion"
            | "assertion"
            | "device_code"
            | "password"
            | "secrettext"
            | "code_verifier"
    ) || n.ends_with("_token")
}

/// Names of query parameters and form fields whose value is a secret: the JSON ones, plus the
/// authorization `code` and anything named like a token, secret, password or assertion.
fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    is_secret_member(&n)
        || n == "code"
        || n == "token"
        || n.contains("secret")
        || n.contains("password")
        || n.ends_with("assertion")
}

/// Whether `s` looks like a JWT (three base64url parts, the first a JSON header).
fn is_jwt_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
        })
}

/// Replace every JWT-shaped run of characters in free text.
fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if is_jwt_like(token) {
            out.push_str(REDACTED);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// A JSON value with secret members and JWT-shaped strings replaced (the GitHub OIDC token's
/// `value` is a JWT).
pub fn redact_json(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, val) in map {
                let secret = is_secret_member(k);
                out.insert(
                    k.clone(),
                    if secret && !val.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_json(val)
                    },
                );
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(redact_json).collect()),
        Value::String(s) => Value::String(redact_jwts(s)),
        other => other.clone(),
    }
}

/// An `application/x-www-form-urlencoded` body or query string with secret fields replaced.
pub fn redact_form(text: &str) -> String {
    text.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) => {
                let name = url::form_urlencoded::parse(k.as_bytes())
                    .next()
                    .map(|(n, _)| n.into_owned())
                    .unwrap_or_default();
                if is_secret_field(&name) {
                    format!("{k}={REDACTED}")
                } else {
                    redact_jwts(pair)
                }
            }
            None => redact_jwts(pair),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A URL with secret query parameters replaced (and no user info).
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{}?{}", redact_jwts(base), redact_form(query)),
        None => redact_jwts(url),
    }
}

/// A body for the trace: JSON or form with secrets replaced, other text with JWTs replaced,
/// then cut at [`BODY_LIMIT`] bytes.
pub fn redact_body(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    let redacted = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => redact_json(&v).to_string(),
        Err(_) if text.contains('=') && !text.trim_start().starts_with('<') => redact_form(&text),
        Err(_) => redact_jwts(&text),
    };
    Some(cut(&redacted))
}

fn cut(text: &str) -> String {
    if text.len() <= BODY_LIMIT {
        return text.to_owned();
    }
    let mut end = BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

fn write_line(line: &Value) {
    if let Some(sink) = SINK.get()
        && let Ok(mut f) = sink.lock()
    {
        let _ = writeln!(f, "{line}");
        let _ = f.flush();
    }
}

/// Why a request got no response, in plain words.
pub fn transport_cause(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        text.push_str(&s.to_string().to_ascii_lowercase());
        text.push(' ');
        source = s.source();
    }
    let cause = if e.is_timeout() || text.contains("timed out") {
        "timed out"
    } else if text.contains("dns")
        || text.contains("failed to lookup")
        || text.contains("name or service not known")
    {
        "the host name does not resolve (DNS)"
    } else if text.contains("certificate") || text.contains("tls") || text.contains("unknownissuer") {
        "the server's TLS certificate is not trusted"
    } else if text.contains("connection refused") {
        "the connection was refused"
    } else if e.is_connect() {
        "the connection failed"
    } else {
        "the connection was dropped"
    };
    cause.to_owned()
}

/// Send `request` with `http`, writing one trace line when a trace file is open. The response
/// is handed back whole (its body read once and put back).
pub async fn execute(
    http: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    if !enabled() {
        return http.execute(request).await;
    }
    let method = request.method().to_string();
    let url = request.url().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request_body = request.body().and_then(|b| b.as_bytes()).and_then(redact_body);
    let t0 = Instant::now();
    let mut line = json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "method": method,
        "url": redact_url(&url),
        "client_request_id": client_request_id,
        "request_body": request_body,
    });
    let result = http.execute(request).await;
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            line["duration_ms"] = json!(t0.elapsed().as_millis() as u64);
            line["status"] = Value::Null;
            line["error"] = json!(transport_cause(&e));
            write_line(&line);
            return Err(e);
        }
    };
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            line["duration_ms"] = json!(t0.elapsed().as_millis() as u64);
            line["status"] = json!(status.as_u16());
            line["error"] = json!(transport_cause(&e));
            write_line(&line);
            return Err(e);
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    line["duration_ms"] = json!(t0.elapsed().as_millis() as u64);
    line["status"] = json!(status.as_u16());
    line["request_id"] = json!(header("request-id").or_else(|| header("x-ms-request-id")));
    if line["client_request_id"].is_null() {
        line["client_request_id"] = json!(header("client-request-id"));
    }
    line["response_body"] = json!(redact_body(&bytes));
    write_line(&line);
    let mut rebuilt = oauth2::http::Response::new(bytes);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

/// Build and [`execute`] a request.
pub async fn send(
    http: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> reqwest::Result<reqwest::Response> {
    execute(http, request.build()?).await
}

/// The HTTP client the oauth2 crate's token requests go through, traced like Graph's.
pub struct OAuthHttp<'a>(pub &'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            let response = execute(self.0, request).await.map_err(Box::new)?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            builder
                .body(response.bytes().await.map_err(Box::new)?.to_vec())
                .map_err(oauth2::HttpClientError::Http)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    #[test]
    fn secrets_are_redacted_in_urls_forms_and_json() {
        let form = format!(
            "client_id=abc&client_secret=s3cr3t&grant_type=refresh_token&refresh_token=rt-1&scope=x&device_code=dc&client_assertion={JWT}&code=ac&password=pw"
        );
        let r = redact_form(&form);
        for s in ["s3cr3t", "rt-1", "=dc", JWT, "=ac", "=pw"] {
            assert!(!r.contains(s), "{s} in {r}");
        }
        assert!(r.contains("client_id=abc") && r.contains("grant_type=refresh_token"));
        let url = redact_url(&format!("https://x/cb?code=ac&state=1&access_token={JWT}"));
        assert_eq!(
            url,
            "https://x/cb?code=[redacted]&state=1&access_token=[redacted]"
        );
        let body = json!({"access_token": JWT, "refresh_token": "r", "id_token": JWT, "expires_in": 3599,
            "passwordCredentials": [{"secretText": "pw", "hint": "p"}], "value": JWT, "code": "Authorization_RequestDenied",
            "note": format!("Bearer {JWT}"), "list": {"value": [{"id": 1}]}});
        let r = redact_json(&body).to_string();
        assert!(
            !r.contains(JWT) && !r.contains("\"r\"") && !r.contains("\"pw\""),
            "{r}"
        );
        assert!(
            r.contains("\"hint\":\"p\"") && r.contains("Authorization_RequestDenied"),
            "{r}"
        );
        assert!(
            r.contains("\"expires_in\":3599") && r.contains("{\"id\":1}"),
            "{r}"
        );
        assert_eq!(
            redact_body(format!("<html>{JWT}</html>").as_bytes()).unwrap(),
            "<html>[redacted]</html>"
        );
    }

    #[test]
    fn long_bodies_are_cut_after_redaction() {
        let big = "a".repeat(BODY_LIMIT * 2);
        let r = redact_body(big.as_bytes()).unwrap();
        assert!(r.len() < BODY_LIMIT + 40 && r.ends_with(&format!("({} bytes in all)", BODY_LIMIT * 2)));
    }
}
