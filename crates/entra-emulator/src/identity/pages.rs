//! The pages a person uses in a browser, as Entra serves them: the sign-in page of
//! `/{tenant}/oauth2/v2.0/authorize` (a form with Entra's field names `loginfmt` and `passwd`),
//! the consent page listing the requested permissions by display name, the redirect back to the
//! app with `code` and `state` (or `error`, `error_description`; with `response_mode=form_post`
//! a form that posts them, submitting itself where scripts run), the error page for a request
//! that cannot be sent back (AADSTS50011, 700016, 90002), and the device login page of a device
//! code's `verification_uri` (enter the code, sign in, continue or cancel). Plain
//! server-rendered HTML: no script is needed. The sign-in transaction travels in a hidden
//! `flowToken` field, as on Entra's pages. Decisions are in [`super::authorize`].
//!
//! | route | page |
//! | --- | --- |
//! | `GET /{tenant}/oauth2/v2.0/authorize` | sign-in (or the error page) |
//! | `POST /{tenant}/login` | the password check; then consent, or the redirect |
//! | `POST /{tenant}/Consent/Set` | accept (`accept`) or cancel (`cancel`); `consent_org` for the organization |
//! | `GET`/`POST /devicelogin` | enter the code (`otc`), then sign-in |
//! | `GET`/`PUT /_emulator/conditional-access` | `{"block": ["device_code" \| "authorization_code"]}` |

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::authorize::{self, AuthRequest, BlockedFlow, ConsentNeed, Purpose, Refused};
use super::device::Decision;
use super::error::OAuthError;
use super::routes::{Identity, lock, origin};
use super::signin::Context;

// ---- HTML --------------------------------------------------------------------------------

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'Segoe UI',Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}\
main{background:#fff;max-width:440px;margin:60px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
.brand{color:#737373;font-size:15px;margin-bottom:16px}h1{font-size:24px;font-weight:600;margin:0 0 12px}\
label{display:block;margin-top:12px}input[type=email],input[type=password],input[type=text]{width:100%;\
box-sizing:border-box;border:none;border-bottom:1px solid #666;padding:6px 0;font-size:15px}\
.buttons{margin-top:24px;text-align:right}button{min-width:108px;padding:6px 12px;font-size:15px;border:none;\
margin-left:8px}.primary{background:#0067b8;color:#fff}.secondary{background:#ccc}.error{color:#e81123}\
ul{padding-left:20px}li{margin:8px 0}.value{color:#737373;font-size:13px}.small{font-size:13px;color:#555}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body><main><div class=\"brand\">Microsoft (provision emulator)</div>\n{body}\n</main></body></html>\n",
        escape(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

/// Entra's error page: "Sorry, but we're having trouble signing you in." with the AADSTS line.
fn error_page(e: &OAuthError) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign in to your account",
        &format!(
            "<h1>Sign in</h1><p>Sorry, but we’re having trouble signing you in.</p>\
             <p id=\"errorText\" class=\"error\">AADSTS{}: {}</p>",
            e.code,
            escape(&e.text)
        ),
    )
}

fn sign_in_page(
    tenant_segment: &str,
    flow_token: &str,
    app_name: &str,
    error: Option<&OAuthError>,
    login: &str,
) -> Response {
    let error = error
        .map(|e| {
            format!(
                "<p id=\"passwordError\" class=\"error\">AADSTS{}: {}</p>",
                e.code,
                escape(&e.text)
            )
        })
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign in to your account",
        &format!(
            "<h1>Sign in</h1><p>to continue to <b id=\"appName\">{app}</b></p>{error}\
             <form method=\"post\" action=\"/{tenant}/login\">\
             <input type=\"hidden\" name=\"flowToken\" value=\"{flow}\">\
             <label for=\"i0116\">Email, phone, or Skype</label>\
             <input type=\"email\" id=\"i0116\" name=\"loginfmt\" value=\"{login}\" autofocus>\
             <label for=\"i0118\">Password</label>\
             <input type=\"password\" id=\"i0118\" name=\"passwd\">\
             <div class=\"buttons\"><button type=\"submit\" id=\"idSIButton9\" class=\"primary\">Sign in</button></div>\
             </form>",
            app = escape(app_name),
            tenant = escape(tenant_segment),
            flow = escape(flow_token),
            login = escape(login),
        ),
    )
}

/// The consent page (or, for a device sign-in with nothing to consent to, "Are you trying to
/// sign in to …?"), with Cancel and Accept/Continue.
fn consent_page(tenant_segment: &str, flow_token: &str, need: &ConsentNeed, admin: bool) -> Response {
    let mut body = String::new();
    if need.missing.is_empty() {
        body.push_str(&format!(
            "<h1>Are you trying to sign in to <span id=\"appName\">{}</span>?</h1>\
             <p>Only continue if you downloaded the app from a store or website that you trust.</p>",
            escape(&need.client_name)
        ));
    } else {
        body.push_str(&format!(
            "<h1>Permissions requested</h1><p><b id=\"appName\">{}</b><br><span class=\"small\">unverified</span></p>\
             <p>This app would like to:</p><ul id=\"permissions\">",
            escape(&need.client_name)
        ));
        for p in &need.missing {
            body.push_str(&format!(
                "<li><b>{}</b> <span class=\"value\">({} · {})</span>{}</li>",
                escape(&p.display_name),
                escape(&need.resource_name),
                escape(&p.value),
                if p.description.is_empty() {
                    String::new()
                } else {
                    format!("<br><span class=\"small\">{}</span>", escape(&p.description))
                }
            ));
        }
        body.push_str("</ul>");
    }
    let org = if admin && !need.missing.is_empty() {
        "<label class=\"small\"><input type=\"checkbox\" id=\"consent_org\" name=\"consent_org\" value=\"1\"> \
         Consent on behalf of your organization</label>"
    } else {
        ""
    };
    let accept = if need.missing.is_empty() {
        "Continue"
    } else {
        "Accept"
    };
    body.push_str(&format!(
        "<form method=\"post\" action=\"/{tenant}/Consent/Set\">\
         <input type=\"hidden\" name=\"flowToken\" value=\"{flow}\">{org}\
         <p class=\"small\">Accepting these permissions means that you allow this app to use your data as specified \
         in their terms of service and privacy statement.</p>\
         <div class=\"buttons\"><button type=\"submit\" name=\"cancel\" value=\"1\" id=\"idBtn_Back\" class=\"secondary\">Cancel</button>\
         <button type=\"submit\" name=\"accept\" value=\"1\" id=\"idSIButton9\" class=\"primary\">{accept}</button></div></form>",
        tenant = escape(tenant_segment),
        flow = escape(flow_token),
    ));
    page(StatusCode::OK, "Permissions requested", &body)
}

fn message_page(title: &str, text: &str) -> Response {
    page(
        StatusCode::OK,
        title,
        &format!("<h1>{}</h1><p id=\"message\">{}</p>", escape(title), escape(text)),
    )
}

fn device_code_page(error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"otcError\" class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Enter code",
        &format!(
            "<h1>Enter code</h1><p>Enter the code displayed on your app or device.</p>{error}\
             <form method=\"post\" action=\"/devicelogin\">\
             <label for=\"otc\">Code</label><input type=\"text\" id=\"otc\" name=\"otc\" autofocus>\
             <div class=\"buttons\"><button type=\"submit\" id=\"idSIButton9\" class=\"primary\">Next</button></div></form>"
        ),
    )
}

// ---- helpers -------------------------------------------------------------------------------

fn form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// The answer to the app: `302 Found` to its redirect URI with these query parameters added,
/// or, for `response_mode=form_post`, Entra's page that posts them there (it submits itself
/// when scripts run; without them the person presses Continue).
fn reply(redirect_uri: &str, form_post: bool, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(&OAuthError::missing_parameter("redirect_uri"));
    };
    if form_post {
        let fields: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(k),
                    escape(v)
                )
            })
            .collect();
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Working...</title></head>\
             <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{fields}\
             <noscript><p>Script is disabled. Click Continue to return to the app.</p>\
             <button type=\"submit\" id=\"idSIButton9\">Continue</button></noscript></form></body></html>\n",
            escape(url.as_str())
        );
        let mut r = (StatusCode::OK, html).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The error sent back to the app: `error`, `error_description` (Entra's `AADSTS…: text` with
/// trace and correlation ids), `error_uri`, `state`; `error_subcode=cancel` when the user
/// cancelled, as MSAL reads it.
fn reply_error(redirect_uri: &str, state: Option<&str>, form_post: bool, e: &OAuthError) -> Response {
    let body = e.body(Utc::now(), None);
    let description = body["error_description"].as_str().unwrap_or_default().to_owned();
    let error_uri = body["error_uri"].as_str().unwrap_or_default().to_owned();
    let mut params = vec![("error", e.error), ("error_description", description.as_str())];
    if e.code == 65004 {
        params.push(("error_subcode", "cancel"));
    }
    params.push(("error_uri", error_uri.as_str()));
    if let Some(s) = state {
        params.push(("state", s));
    }
    reply(redirect_uri, form_post, &params)
}

/// [`reply_error`] for a checked request.
fn request_error(r: &AuthRequest, e: &OAuthError) -> Response {
    reply_error(&r.redirect_uri, r.state.as_deref(), r.form_post, e)
}

fn timed_out() -> Response {
    message_page(
        "Sign in",
        "Your session has timed out. Please go back to the app and sign in again.",
    )
}

/// The sign-in transaction a posted form continues (its `flowToken`), or the page saying it
/// is gone.
fn flow_of(
    id: &Identity,
    form: &HashMap<String, String>,
    now: chrono::DateTime<Utc>,
) -> Result<(String, authorize::Flow), Response> {
    let token = form.get("flowToken").cloned().unwrap_or_default();
    let flow = lock(&id.authorizations).flow(&token, now).cloned();
    flow.map(|f| (token, f)).ok_or_else(timed_out)
}

fn is_blocked(id: &Identity, flow: BlockedFlow) -> bool {
    lock(&id.blocked).contains(&flow)
}

fn client_name(id: &Identity, client_id: &str) -> String {
    id.shared
        .tenant()
        .client_application(client_id)
        .map(|a| a.str("displayName").to_owned())
        .unwrap_or_else(|| client_id.to_owned())
}

// ---- /authorize ----------------------------------------------------------------------------

pub async fn authorize(
    State(id): State<Arc<Identity>>,
    Path(tenant_segment): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let checked = {
        let tenant = id.shared.tenant();
        authorize::check_request(&tenant, &tenant_segment, &params)
    };
    let request = match checked {
        Ok(r) => r,
        Err(Refused::Page(e)) => return error_page(&e),
        Err(Refused::Redirect {
            redirect_uri,
            state,
            form_post,
            error,
        }) => return reply_error(&redirect_uri, state.as_deref(), form_post, &error),
    };
    let name = client_name(&id, &request.client_id);
    let login_hint = params.get("login_hint").cloned().unwrap_or_default();
    let token = lock(&id.authorizations).start(Purpose::Authorize(request), id.shared.clock.now());
    sign_in_page(&tenant_segment, &token, &name, None, &login_hint)
}

/// `POST /{tenant}/login`: the password of the seeded administrator (the tenant's one user
/// with a password).
pub async fn login(
    State(id): State<Arc<Identity>>,
    Path(tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let now = id.shared.clock.now();
    let (token, flow) = match flow_of(&id, &f, now) {
        Ok(x) => x,
        Err(page) => return page,
    };
    let login = f.get("loginfmt").cloned().unwrap_or_default();
    let password = f.get("passwd").cloned().unwrap_or_default();
    let name = client_name(&id, flow.purpose.client_id());
    let checked = {
        let tenant = id.shared.tenant();
        match tenant.user(login.trim()) {
            None => Err(OAuthError::unknown_user(login.trim(), tenant.tenant_id())),
            Some(user) => {
                let user_id = user
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let admin_id = tenant
                    .admin_user()
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if user_id == admin_id && password == tenant.identity.admin_password {
                    Ok(user_id)
                } else {
                    Err(OAuthError::invalid_credentials())
                }
            }
        }
    };
    let user_id = match checked {
        Ok(u) => u,
        Err(e) => return sign_in_page(&tenant_segment, &token, &name, Some(&e), &login),
    };
    lock(&id.authorizations).signed_in(&token, &user_id);
    // Conditional Access is evaluated once the user is known.
    match &flow.purpose {
        Purpose::Authorize(request) if is_blocked(&id, BlockedFlow::AuthorizationCode) => {
            lock(&id.authorizations).finish(&token);
            return request_error(request, &OAuthError::blocked_by_conditional_access());
        }
        Purpose::Device { user_code, .. } if is_blocked(&id, BlockedFlow::DeviceCode) => {
            lock(&id.authorizations).finish(&token);
            let _ = lock(&id.devices).block(user_code, now);
            return error_page(&OAuthError::blocked_by_conditional_access());
        }
        _ => {}
    }
    let need = consent_need(
        &id,
        &headers,
        flow.purpose.client_id(),
        flow.purpose.scope(),
        &user_id,
    );
    let need = match need {
        Ok(n) => n,
        Err(e) => return finish_with_error(&id, &token, &flow.purpose, &e),
    };
    match &flow.purpose {
        Purpose::Authorize(request) if need.missing.is_empty() => {
            finish_authorize(&id, &token, request, &user_id)
        }
        // The only user with a password is the administrator, who may consent for everyone.
        Purpose::Authorize(_) | Purpose::Device { .. } => consent_page(&tenant_segment, &token, &need, true),
    }
}

fn consent_need(
    id: &Identity,
    headers: &HeaderMap,
    client_id: &str,
    scope: &str,
    user_id: &str,
) -> Result<ConsentNeed, OAuthError> {
    let origin = origin(&id.shared, headers);
    let tenant = id.shared.tenant();
    let issuers = HashMap::new();
    let ctx = Context {
        tenant: &tenant,
        key: &id.shared.signing_key,
        origin: &origin,
        now: id.shared.clock.now(),
        access_token_lifetime_secs: 0,
        issuers: &issuers,
    };
    let client = tenant
        .client_application(client_id)
        .ok_or_else(|| OAuthError::unknown_client(client_id, tenant.tenant_id()))?;
    authorize::consent_need(&ctx, client, scope, user_id)
}

fn finish_with_error(id: &Identity, token: &str, purpose: &Purpose, e: &OAuthError) -> Response {
    lock(&id.authorizations).finish(token);
    match purpose {
        Purpose::Authorize(r) => request_error(r, e),
        Purpose::Device { .. } => error_page(e),
    }
}

fn finish_authorize(id: &Identity, token: &str, request: &AuthRequest, user_id: &str) -> Response {
    let mut auths = lock(&id.authorizations);
    auths.finish(token);
    let code = auths.issue_code(request, user_id, id.shared.clock.now());
    drop(auths);
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s.as_str()));
    }
    reply(&request.redirect_uri, request.form_post, &params)
}

/// `POST /{tenant}/Consent/Set`: Accept (or Continue) records consent and finishes the
/// sign-in; Cancel sends `access_denied` (AADSTS65004) back, or declines the device code.
pub async fn consent(
    State(id): State<Arc<Identity>>,
    Path(_tenant_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let now = id.shared.clock.now();
    let (token, flow) = match flow_of(&id, &f, now) {
        Ok(x) => x,
        Err(page) => return page,
    };
    let Some(user_id) = flow.user_id.clone() else {
        return timed_out();
    };
    if !f.contains_key("accept") {
        lock(&id.authorizations).finish(&token);
        return match &flow.purpose {
            Purpose::Authorize(r) => request_error(r, &OAuthError::user_cancelled()),
            Purpose::Device { user_code, .. } => {
                let _ = lock(&id.devices).deny(user_code, now);
                message_page(
                    "Sign in was cancelled",
                    "You have declined the sign-in on your device. You may now close this window.",
                )
            }
        };
    }
    let need = match consent_need(
        &id,
        &headers,
        flow.purpose.client_id(),
        flow.purpose.scope(),
        &user_id,
    ) {
        Ok(n) => n,
        Err(e) => return finish_with_error(&id, &token, &flow.purpose, &e),
    };
    if !need.missing.is_empty() {
        let origin = origin(&id.shared, &headers);
        let mut tenant = id.shared.tenant();
        let recorded = authorize::record_consent(
            &mut tenant,
            &origin,
            flow.purpose.client_id(),
            flow.purpose.scope(),
            &user_id,
            f.contains_key("consent_org"),
        );
        if let Err(e) = recorded {
            drop(tenant);
            return finish_with_error(
                &id,
                &token,
                &flow.purpose,
                &OAuthError {
                    status: 500,
                    error: "server_error",
                    code: 50000,
                    text: format!("The consent could not be recorded: {e}"),
                },
            );
        }
        if let Err(e) = id.shared.persist(&tenant) {
            eprintln!("emulator: cannot save the state: {e}");
        }
    }
    match &flow.purpose {
        Purpose::Authorize(request) => finish_authorize(&id, &token, request, &user_id),
        Purpose::Device { user_code, .. } => {
            lock(&id.authorizations).finish(&token);
            match lock(&id.devices).approve(user_code, &user_id, now) {
                Ok(()) => message_page(
                    &need.client_name,
                    &format!(
                        "You have signed in to the {} application on your device. You may now close this window.",
                        need.client_name
                    ),
                ),
                Err(Decision::Expired) => message_page(
                    "Sign in",
                    "The code has expired. Please go back to the app and start again.",
                ),
                Err(_) => message_page(
                    "Sign in",
                    "This code was already used. Please go back to the app and start again.",
                ),
            }
        }
    }
}

// ---- device login --------------------------------------------------------------------------

/// `GET /devicelogin`: where a device code sends the user (its `verification_uri`).
pub async fn devicelogin(State(_id): State<Arc<Identity>>) -> Response {
    device_code_page(None)
}

/// `POST /devicelogin`: the code (`otc`) of a pending device code → the sign-in page.
pub async fn devicelogin_code(State(id): State<Arc<Identity>>, body: Bytes) -> Response {
    let f = form(&body);
    let code = f.get("otc").map(|c| c.trim().to_owned()).unwrap_or_default();
    let now = id.shared.clock.now();
    let Some((client_id, scope)) = lock(&id.devices).pending(&code, now) else {
        return device_code_page(Some("That code didn't work. Check the code and try again."));
    };
    let name = client_name(&id, &client_id);
    let tenant_segment = id.shared.tenant().tenant_id().to_owned();
    let token = lock(&id.authorizations).start(
        Purpose::Device {
            user_code: code.to_ascii_uppercase(),
            client_id,
            scope,
        },
        now,
    );
    sign_in_page(&tenant_segment, &token, &name, None, "")
}

// ---- Conditional Access control --------------------------------------------------------------

/// `GET /_emulator/conditional-access`: the flows a policy blocks.
pub async fn conditional_access(State(id): State<Arc<Identity>>) -> Response {
    let blocked = lock(&id.blocked).clone();
    axum::Json(json!({ "block": blocked })).into_response()
}

/// `PUT /_emulator/conditional-access` `{"block": ["device_code"]}`: a Conditional Access
/// policy that blocks these flows with AADSTS53003 (`[]` lifts it).
pub async fn set_conditional_access(State(id): State<Arc<Identity>>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Policy {
        block: Vec<BlockedFlow>,
    }
    match serde_json::from_slice::<Policy>(&body) {
        Ok(p) => {
            *lock(&id.blocked) = p.block;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": "BadRequest", "message": format!(
                "expected {{\"block\": [\"device_code\" | \"authorization_code\", …]}}: {e}"
            )}})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
