//! The typed Microsoft Graph client: the dozen calls provision makes, `@odata.nextLink` paging,
//! a shared throttle gate, bounded concurrency and the retry loop around `retry::Policy`.
//!
//! Replay rules (after kube-rs's client): GET, DELETE and the absolute PATCH upsert are replayed after
//! a 5xx or a dropped connection; POST is not (the caller observes again instead). 429/503/504
//! are retried for every method, never sooner than the `Retry-After` they came with: one 429
//! closes the gate for every request of this client until its `Retry-After` has passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::error::GraphError;
use super::retry::{Decision, Outcome, Policy, parse_retry_after};
use super::types::*;
use crate::output::Printer;

/// Requests in flight at once. Graph's directory limits are per app and tenant (3,500 resource
/// units per 10 s for a small tenant, 3,000 writes per 150 s; docs/graph-notes.md §6.2): 16 parallel
/// requests at Graph's usual 100–300 ms stay far below them while hiding latency.
pub const MAX_IN_FLIGHT: usize = 16;

/// Decides whether an error of one particular call is Entra's replication delay (docs/graph-notes.md §11.1(d)).
pub type LagCheck = fn(&GraphError) -> bool;

/// One request, before it is sent.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Relative to the Graph base URL, starting with `/`; or an absolute `@odata.nextLink`.
    pub path: String,
    pub body: Option<Value>,
    pub prefer: Option<&'static str>,
    /// Safe to send again after a 5xx or a dropped connection.
    pub replayable: bool,
    pub lag: Option<LagCheck>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            path: path.into(),
            body: None,
            prefer: None,
            replayable: true,
            lag: None,
        }
    }
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Call {
            method: Method::POST,
            path: path.into(),
            body: Some(body),
            prefer: None,
            replayable: false,
            lag: None,
        }
    }
    pub fn patch(path: impl Into<String>, body: Value) -> Self {
        // A PATCH of absolute values is idempotent: sending it twice leaves the same state.
        Call {
            method: Method::PATCH,
            path: path.into(),
            body: Some(body),
            prefer: None,
            replayable: true,
            lag: None,
        }
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Call {
            method: Method::DELETE,
            path: path.into(),
            body: None,
            prefer: None,
            replayable: true,
            lag: None,
        }
    }
    pub fn prefer(mut self, prefer: &'static str) -> Self {
        self.prefer = Some(prefer);
        self
    }
    pub fn lag(mut self, check: LagCheck) -> Self {
        self.lag = Some(check);
        self
    }
    /// [`Call::lag`] only when `fresh`: the objects the call names were created moments ago.
    /// A reference to an object that was already there when the run read the tenant is final
    /// when it fails (a concurrent destroy removed it), not replication delay to wait out.
    pub fn lag_if(self, fresh: bool, check: LagCheck) -> Self {
        if fresh { self.lag(check) } else { self }
    }
}

/// A successful response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    token: String,
    policy: Policy,
    gate: Mutex<Option<Instant>>,
    in_flight: Semaphore,
    printer: Arc<Printer>,
    requests: AtomicU64,
    retries: AtomicU64,
    /// Fallbacks taken: once a form is refused it is not tried again in this run.
    fallbacks: Fallbacks,
}

/// The call forms this run has fallen back from (issue 12 §1). Shared by every task of the
/// run, so one refusal costs one extra round at most once per form.
#[derive(Debug, Default)]
pub struct Fallbacks {
    /// `GET /servicePrincipals(appId='…')/oauth2PermissionGrants` and `…/appRoleAssignments`
    /// were refused: read through the service principal's object id instead.
    pub navigations_by_id: AtomicBool,
    /// `PATCH /servicePrincipals(appId='…')` + `Prefer: create-if-missing` was refused: create
    /// with `POST /servicePrincipals {"appId"}`.
    pub service_principal_post: AtomicBool,
}

/// Which fallbacks a run took, for `-v` and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FallbacksTaken {
    pub navigations_by_id: bool,
    pub service_principal_post: bool,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is deliberately left out.
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Quote a value for an OData key or filter literal: `'` is doubled, then the whole literal is
/// percent-encoded for the URL path.
pub fn odata_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    url::form_urlencoded::byte_serialize(quoted.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl GraphClient {
    pub fn new(http: reqwest::Client, base: &str, token: String, printer: Arc<Printer>) -> Self {
        GraphClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            policy: Policy::default(),
            gate: Mutex::new(None),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            printer,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            fallbacks: Fallbacks::default(),
        }
    }

    /// The fallbacks taken so far.
    pub fn fallbacks(&self) -> FallbacksTaken {
        FallbacksTaken {
            navigations_by_id: self.fallbacks.navigations_by_id.load(Ordering::Relaxed),
            service_principal_post: self.fallbacks.service_principal_post.load(Ordering::Relaxed),
        }
    }

    /// Remember a fallback; the first time, say so under `-v`.
    fn take_fallback(&self, flag: &AtomicBool, refused: &GraphError, instead: &str) {
        if !flag.swap(true, Ordering::Relaxed) {
            self.printer.verbose(&format!(
                "fallback: {} {} answered {}{}; using {instead} for the rest of this run",
                refused.method(),
                refused.path(),
                refused.status().map(|s| s.to_string()).unwrap_or_default(),
                if refused.code().is_empty() {
                    String::new()
                } else {
                    format!(" {}", refused.code())
                }
            ));
        }
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy (callers that poll for replication use its backoff and budget).
    /// The Graph base URL (`https://graph.microsoft.com/v1.0`): `@odata.id` references name
    /// directory objects under it.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A `-v` line, for callers that wait on Graph themselves.
    pub fn verbose(&self, text: &str) {
        self.printer.verbose(text);
    }

    /// Requests sent so far (retries included) and retries among them.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }

    /// Send a call, retrying as the policy says.
    pub async fn send(&self, call: &Call) -> Result<Reply, GraphError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        // One client-request-id for every attempt of a call, as the Graph SDKs' retry handlers
        // do: Graph's logs (and the emulator's early-retry count) see a retry as a retry.
        let client_request_id = uuid::Uuid::new_v4().to_string();
        loop {
            attempt += 1;
            let result = {
                let _permit = self.in_flight.acquire().await;
                // The gate is checked once a permit is held: a request that queued for a permit
                // while a 429 came back must not go out before that Retry-After has passed.
                self.wait_for_gate().await;
                self.send_once(call, &client_request_id).await
            };
            let (err, retry_after) = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            let outcome = match &err {
                GraphError::Status { status, .. } => Outcome::Status {
                    status: *status,
                    retry_after,
                    replication_lag: call.lag.is_some_and(|check| check(&err)),
                },
                // Nothing listens there, the name does not resolve, or the certificate is not
                // trusted: waiting does not change that, so it is said at once.
                GraphError::Transport { source, .. }
                    if matches!(
                        crate::error::Unreachable::classify(source),
                        crate::error::Unreachable::Refused
                            | crate::error::Unreachable::Dns
                            | crate::error::Unreachable::Tls(_)
                    ) =>
                {
                    return Err(err);
                }
                GraphError::Transport { .. } => Outcome::Transport,
                GraphError::Decode { .. } | GraphError::ChangedMeanwhile { .. } => return Err(err),
            };
            let decision = self.policy.decide(
                attempt,
                started.elapsed(),
                &outcome,
                call.replayable,
                rand::random(),
            );
            match decision {
                Decision::GiveUp => return Err(err),
                Decision::RetryAfter(delay) => {
                    if retry_after.is_some() {
                        self.close_gate(delay).await;
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let why = match &err {
                        GraphError::Status { status, code, .. }
                            if matches!(
                                outcome,
                                Outcome::Status {
                                    replication_lag: true,
                                    ..
                                }
                            ) =>
                        {
                            format!("{status} {code}, not replicated yet")
                        }
                        GraphError::Status { status, .. } => match retry_after {
                            Some(ra) => format!("{status}, Retry-After {:.3}s", ra.as_secs_f64()),
                            None => status.to_string(),
                        },
                        _ => "no response".to_owned(),
                    };
                    self.printer.verbose(&format!(
                        "  retry {} {} in {:.3}s ({why}; attempt {}, waiting at most {}s in all)",
                        call.method,
                        self.display_path(&call.path),
                        delay.as_secs_f64(),
                        attempt + 1,
                        self.policy.budget.as_secs()
                    ));
                    let words = match &err {
                        GraphError::Status { .. }
                            if matches!(
                                outcome,
                                Outcome::Status {
                                    replication_lag: true,
                                    ..
                                }
                            ) =>
                        {
                            "an object this run just created has not replicated across Entra yet".to_owned()
                        }
                        GraphError::Status { status: 429, .. } => {
                            "Microsoft Graph is throttling requests and asked to wait".to_owned()
                        }
                        GraphError::Status { status, .. } => {
                            format!("Microsoft Graph had a passing server error (HTTP {status})")
                        }
                        _ => "Microsoft Graph did not answer".to_owned(),
                    };
                    self.sleep_with_progress(delay, &words).await;
                }
            }
        }
    }

    async fn wait_for_gate(&self) {
        let until = *self.gate.lock().await;
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    async fn close_gate(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut gate = self.gate.lock().await;
        if gate.is_none_or(|g| g < until) {
            *gate = Some(until);
        }
    }

    /// Wait before a retry, saying what is waited for and why, in words: on the progress bar,
    /// or as a bounded-rate `progress:` line when stderr is not a terminal.
    async fn sleep_with_progress(&self, delay: Duration, why: &str) {
        if delay >= Duration::from_secs(1) {
            self.printer
                .progress_wait(&format!("waiting {:.0}s: {why}", delay.as_secs_f64()), delay);
        }
        tokio::time::sleep(delay).await;
    }

    fn display_path(&self, path: &str) -> String {
        path.strip_prefix(&self.base).unwrap_or(path).to_owned()
    }

    /// One HTTP exchange. On failure also returns the parsed `Retry-After`.
    async fn send_once(
        &self,
        call: &Call,
        client_request_id: &str,
    ) -> Result<Reply, (GraphError, Option<Duration>)> {
        let url = if call.path.starts_with("http://") || call.path.starts_with("https://") {
            call.path.clone()
        } else {
            format!("{}{}", self.base, call.path)
        };
        let shown = self.display_path(&call.path);
        let mut request = self
            .http
            .request(call.method.clone(), &url)
            .bearer_auth(&self.token)
            .header("client-request-id", client_request_id)
            .header("Accept", "application/json");
        if let Some(prefer) = call.prefer {
            request = request.header("Prefer", prefer);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let t0 = Instant::now();
        let response = match crate::trace::send(&self.http, request).await {
            Ok(r) => r,
            Err(source) => {
                self.printer.verbose(&format!(
                    "{} {shown} → no response ({})",
                    call.method,
                    short_reason(&source)
                ));
                return Err((
                    GraphError::Transport {
                        method: call.method.to_string(),
                        path: shown,
                        source,
                    },
                    None,
                ));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id = header("request-id");
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(source) => {
                return Err((
                    GraphError::Transport {
                        method: call.method.to_string(),
                        path: shown,
                        source,
                    },
                    None,
                ));
            }
        };
        self.printer.verbose(&format!(
            "{} {shown} → {status} ({} ms){}",
            call.method,
            t0.elapsed().as_millis(),
            request_id
                .as_deref()
                .map(|id| format!(" request-id {id}"))
                .unwrap_or_default()
        ));
        if (200..300).contains(&status) {
            if bytes.is_empty() || status == 204 {
                return Ok(Reply { status, body: None });
            }
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if v.is_object() => Ok(Reply {
                    status,
                    body: Some(v),
                }),
                Ok(_) => Err((
                    GraphError::Decode {
                        method: call.method.to_string(),
                        path: shown,
                        status,
                        detail: "not a JSON object".into(),
                    },
                    None,
                )),
                Err(e) => Err((
                    GraphError::Decode {
                        method: call.method.to_string(),
                        path: shown,
                        status,
                        detail: e.to_string(),
                    },
                    None,
                )),
            };
        }
        let (code, message, detail_codes) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(env) => (
                env.error.code,
                env.error.message,
                env.error.details.into_iter().map(|d| d.code).collect(),
            ),
            Err(_) => (String::new(), trimmed_text(&bytes), Vec::new()),
        };
        Err((
            GraphError::Status {
                method: call.method.to_string(),
                path: shown,
                status,
                code,
                message,
                detail_codes,
                request_id,
            },
            retry_after,
        ))
    }

    /// Send and decode the body as `T`.
    pub async fn fetch<T: DeserializeOwned>(&self, call: &Call) -> Result<T, GraphError> {
        let reply = self.send(call).await?;
        decode(call, reply)
    }

    /// GET that treats 404 as "absent".
    pub async fn get_optional<T: DeserializeOwned>(&self, path: String) -> Result<Option<T>, GraphError> {
        match self.fetch(&Call::get(path)).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET a whole collection, following `@odata.nextLink` exactly as given (docs/graph-notes.md §6.3), but only
    /// on the Graph endpoint's own origin: the link is followed with the bearer token, so a
    /// link to any other scheme, host or port is refused instead of handing the token over.
    pub async fn list<T: DeserializeOwned>(&self, path: String) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(path);
        while let Some(path) = next {
            let call = Call::get(path);
            let page: Page<T> = self.fetch(&call).await?;
            out.extend(page.value);
            next = page.next_link;
            if let Some(link) = &next
                && !same_origin(link, &self.base)
            {
                return Err(GraphError::Decode {
                    method: "GET".into(),
                    path: self.display_path(&call.path),
                    status: 200,
                    detail: format!(
                        "its @odata.nextLink `{}` is not on the Graph endpoint `{}`; not followed, so that the token is not sent there",
                        link_origin(link),
                        link_origin(&self.base)
                    ),
                });
            }
        }
        Ok(out)
    }

    // --- applications ---------------------------------------------------------------------

    pub async fn application_by_unique_name(
        &self,
        unique_name: &str,
    ) -> Result<Option<Application>, GraphError> {
        self.get_optional(format!(
            "/applications(uniqueName='{}')",
            odata_literal(unique_name)
        ))
        .await
    }

    pub async fn application_by_app_id(&self, app_id: &str) -> Result<Option<Application>, GraphError> {
        self.get_optional(format!("/applications(appId='{}')", odata_literal(app_id)))
            .await
    }

    /// `PATCH /applications(uniqueName='…')` + `Prefer: create-if-missing`: 201 with the new
    /// object, or 204 when it existed and was updated
    /// (https://learn.microsoft.com/en-us/graph/api/application-upsert).
    ///
    /// Replayed after a lost answer (5xx, dropped connection), or sent while another run's
    /// create replicates, the upsert may meet 400 "Another object with the same value for
    /// property uniqueName already exists.": the first write holds the name but the key does not
    /// find it yet. The application is then read back (retrying until it shows, as long as
    /// `--max-wait`) and the body written to it by object id, so the run carries on. When the
    /// name turns out to be held in deleted items (a delete the plan did not see yet), that
    /// application is restored instead.
    pub async fn upsert_application(
        &self,
        unique_name: &str,
        body: Value,
    ) -> Result<Option<Application>, GraphError> {
        let call = Call::patch(
            format!("/applications(uniqueName='{}')", odata_literal(unique_name)),
            body.clone(),
        )
        .prefer("create-if-missing");
        match self.send(&call).await {
            Ok(reply) if reply.body.is_some() => decode(&call, reply).map(Some),
            Ok(_) => Ok(None),
            Err(e) if unique_name_taken(&e) => self.after_unique_name_taken(unique_name, body, e).await,
            Err(e) => Err(e),
        }
    }

    async fn after_unique_name_taken(
        &self,
        unique_name: &str,
        body: Value,
        refused: GraphError,
    ) -> Result<Option<Application>, GraphError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (live, deleted) = futures::join!(
                self.application_by_unique_name(unique_name),
                self.deleted_applications()
            );
            if let Some(app) = live? {
                self.printer.verbose(&format!(
                    "  `{unique_name}` exists (appId {}): its create replicated; writing it by object id",
                    app.app_id
                ));
                let call = Call::patch(format!("/applications/{}", odata_literal(&app.id)), body)
                    .lag(GraphError::is_not_found);
                self.send(&call).await?;
                return Ok(Some(app));
            }
            // Held by a deleted application the plan did not see (its delete was still
            // replicating): restore it rather than fail on the name, so the client ID survives.
            if let Some(held) = deleted?.into_iter().find(|a| {
                a.unique_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(unique_name))
            }) {
                self.printer.status(&format!(
                    "`{unique_name}` is held by a deleted application (appId {}): restoring it instead of creating a new one",
                    held.app_id
                ));
                let app: Application = self.restore_deleted(&held.id, false).await?;
                let call = Call::patch(format!("/applications/{}", odata_literal(&app.id)), body)
                    .lag(GraphError::is_not_found);
                self.send(&call).await?;
                return Ok(Some(app));
            }
            let delay = self.policy.backoff(attempt, rand::random());
            if !self.policy.fits(started.elapsed(), delay) {
                return Err(refused);
            }
            self.printer.verbose(&format!(
                "  `{unique_name}` is taken but not readable yet; reading again in {:.3}s",
                delay.as_secs_f64()
            ));
            tokio::time::sleep(delay).await;
        }
    }

    /// `PATCH /applications(appId='…')`: update of a registration pinned by appId. A 404 right
    /// after a write is replication delay (docs/graph-notes.md §11.1(d3)).
    pub async fn update_application_by_app_id(&self, app_id: &str, body: Value) -> Result<(), GraphError> {
        let call = Call::patch(format!("/applications(appId='{}')", odata_literal(app_id)), body);
        self.send(&call).await.map(drop)
    }

    pub async fn delete_application(&self, object_id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/applications/{}",
            odata_literal(object_id)
        )))
        .await
        .map(drop)
    }

    /// Remove a deleted object from deleted items for good (frees an application's uniqueName;
    /// https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-delete). Right after
    /// the delete Graph answers 404 until it has replicated: the caller decides what a 404 means
    /// (terraform-provider-azuread likewise waits for a delete to be consistent).
    pub async fn purge_deleted(&self, object_id: &str) -> Result<(), GraphError> {
        let call = Call::delete(format!("/directory/deletedItems/{}", odata_literal(object_id)));
        self.send(&call).await.map(drop)
    }

    /// Whether the application or service principal (`kind` as in a purge step) with this
    /// object id is live: `GET /applications/{id}` or `GET /servicePrincipals/{id}`
    /// (learn:/graph/api/application-get, learn:/graph/api/serviceprincipal-get).
    pub async fn is_live(&self, kind: &str, object_id: &str) -> Result<bool, GraphError> {
        let set = if kind == "application" {
            "applications"
        } else {
            "servicePrincipals"
        };
        let found: Option<Value> = self
            .get_optional(format!("/{set}/{}?$select=id", odata_literal(object_id)))
            .await?;
        Ok(found.is_some())
    }

    // --- deleted items --------------------------------------------------------------------

    /// Applications in deleted items, all pages
    /// (https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-list; Application.Read.All).
    /// Listed without a filter: the page documents no filter on `uniqueName` for deleted items.
    pub async fn deleted_applications(&self) -> Result<Vec<Application>, GraphError> {
        self.list("/directory/deletedItems/microsoft.graph.application".to_owned())
            .await
    }

    /// Service principals in deleted items, all pages.
    pub async fn deleted_service_principals(&self) -> Result<Vec<ServicePrincipal>, GraphError> {
        self.list("/directory/deletedItems/microsoft.graph.servicePrincipal".to_owned())
            .await
    }

    /// `POST /directory/deletedItems/{id}/restore` → 200 with the object
    /// (https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-restore). Restoring an
    /// application does not restore its service principal: that is a restore of its own.
    /// `fresh`: deleted moments ago, so a 404 is the delete replicating.
    pub async fn restore_deleted<T: DeserializeOwned>(&self, id: &str, fresh: bool) -> Result<T, GraphError> {
        let call = Call::post(
            format!("/directory/deletedItems/{}/restore", odata_literal(id)),
            serde_json::json!({}),
        )
        .lag_if(fresh, GraphError::is_not_found);
        self.fetch(&call).await
    }

    // --- service principals ---------------------------------------------------------------

    pub async fn service_principal_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        self.get_optional(format!("/servicePrincipals(appId='{}')", odata_literal(app_id)))
            .await
    }

    /// Service principals whose display name is exactly `name`.
    pub async fn service_principals_by_display_name(
        &self,
        name: &str,
    ) -> Result<Vec<ServicePrincipal>, GraphError> {
        self.list(format!(
            "/servicePrincipals?$filter=displayName%20eq%20'{}'",
            odata_literal(name)
        ))
        .await
    }

    /// Service principals that carry `name` among their servicePrincipalNames (identifier URIs).
    pub async fn service_principals_by_name(&self, name: &str) -> Result<Vec<ServicePrincipal>, GraphError> {
        self.list(format!(
            "/servicePrincipals?$filter=servicePrincipalNames/any(c:c%20eq%20'{}')",
            odata_literal(name)
        ))
        .await
    }

    /// Create the service principal of `app_id` if it has none, and return it.
    ///
    /// First form: the documented upsert `PATCH /servicePrincipals(appId='…')` with `Prefer:
    /// create-if-missing` (https://learn.microsoft.com/en-us/graph/api/serviceprincipal-upsert):
    /// 201 with the new object, or 204 when it existed. Mature clients create service principals
    /// with `POST /servicePrincipals {"appId": …}` instead
    /// (https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-serviceprincipals;
    /// terraform-provider-azuread `internal/services/serviceprincipals/service_principal_resource.go`,
    /// azure-cli `az ad sp create`), so a 400 or 405 to the upsert that is not replication delay
    /// switches this run to that form for good.
    ///
    /// Right after the application was created (`fresh`), Graph may not see it yet: 400
    /// `NoBackingApplicationObject` "does not reference a valid application object" or 403
    /// "backing application … must in the local tenant", retried as the Go SDK of
    /// terraform-provider-azuread does (`manicminer/hamilton` `msgraph/serviceprincipals.go`).
    /// A 409 means it exists already (another run, or our own write whose answer was lost): it
    /// is read back.
    ///
    /// The upsert sends what the documentation's example sends, a `displayName` (the
    /// application's, which Graph copies onto a new service principal anyway); for a
    /// first-party API (`display_name` `None`) an empty object, so that Microsoft's own
    /// principal is never renamed.
    pub async fn ensure_service_principal(
        &self,
        app_id: &str,
        display_name: Option<&str>,
        fresh: bool,
    ) -> Result<ServicePrincipal, GraphError> {
        if !self.fallbacks.service_principal_post.load(Ordering::Relaxed) {
            let body = match display_name {
                Some(name) => serde_json::json!({ "displayName": name }),
                None => serde_json::json!({}),
            };
            let call = Call::patch(
                format!("/servicePrincipals(appId='{}')", odata_literal(app_id)),
                body,
            )
            .prefer("create-if-missing")
            .lag_if(fresh, sp_create_lag);
            match self.send(&call).await {
                Ok(reply) if reply.body.is_some() => return decode(&call, reply),
                Ok(_) => return self.service_principal_after_write(app_id).await,
                Err(e) if e.status() == Some(409) => {
                    return self.service_principal_after_write(app_id).await;
                }
                Err(e) if matches!(e.status(), Some(400 | 405)) && !sp_create_lag(&e) => {
                    self.take_fallback(
                        &self.fallbacks.service_principal_post,
                        &e,
                        "`POST /servicePrincipals {\"appId\": …}`",
                    );
                }
                Err(e) => return Err(e),
            }
        }
        self.create_service_principal(app_id, fresh).await
    }

    /// `POST /servicePrincipals {"appId"}`, never replayed blindly: after an unknown outcome the
    /// service principal is looked for before a second POST.
    async fn create_service_principal(
        &self,
        app_id: &str,
        fresh: bool,
    ) -> Result<ServicePrincipal, GraphError> {
        let call = Call::post("/servicePrincipals", serde_json::json!({ "appId": app_id }))
            .lag_if(fresh, sp_create_lag);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.fetch::<ServicePrincipal>(&call).await {
                Ok(sp) => return Ok(sp),
                Err(e) if e.status() == Some(409) => return self.service_principal_after_write(app_id).await,
                Err(e) if outcome_unknown(&e) && attempts < 4 => {
                    if let Some(sp) = self.service_principal_by_app_id(app_id).await? {
                        return Ok(sp);
                    }
                    tokio::time::sleep(self.policy.backoff(attempts, rand::random())).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The service principal of `app_id` after a write said it exists: a 404 is replication
    /// delay.
    async fn service_principal_after_write(&self, app_id: &str) -> Result<ServicePrincipal, GraphError> {
        let call = Call::get(format!("/servicePrincipals(appId='{}')", odata_literal(app_id)))
            .lag(GraphError::is_not_found);
        self.fetch(&call).await
    }

    pub async fn delete_service_principal(&self, object_id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/servicePrincipals/{}",
            odata_literal(object_id)
        )))
        .await
        .map(drop)
    }

    /// The service principal of `app_id` with the delegated grants and app role assignments it
    /// holds as the client.
    ///
    /// First form: three concurrent reads through the `(appId='…')` key, one round. The
    /// navigations `servicePrincipals(appId='…')/oauth2PermissionGrants` and
    /// `…/appRoleAssignments` are listed in the v1.0 docs
    /// (https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-oauth2permissiongrants,
    /// https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-approleassignments) but
    /// absent from Graph's OpenAPI description and SDKs. When Graph refuses them (400, 405, 501,
    /// or 404 for a service principal that exists), the run falls back for good to the forms
    /// mature clients send through the object id: `GET /oauth2PermissionGrants?$filter=clientId
    /// eq '{id}'` (https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-list; azure-cli
    /// `az ad app permission list-grants`) and `GET /servicePrincipals/{id}/appRoleAssignments`
    /// (terraform-provider-azuread `app_role_assignment_resource.go`): one round more.
    pub async fn client_side(&self, app_id: &str) -> Result<ClientSide, GraphError> {
        if self.fallbacks.navigations_by_id.load(Ordering::Relaxed) {
            let sp = self.service_principal_by_app_id(app_id).await?;
            return self.client_side_by_id(sp).await;
        }
        let (sp, grants, assignments) = futures::join!(
            self.service_principal_by_app_id(app_id),
            self.list::<OAuth2PermissionGrant>(format!(
                "/servicePrincipals(appId='{}')/oauth2PermissionGrants",
                odata_literal(app_id)
            )),
            self.list::<AppRoleAssignment>(format!(
                "/servicePrincipals(appId='{}')/appRoleAssignments",
                odata_literal(app_id)
            )),
        );
        let sp = sp?;
        let refused = [grants.as_ref().err(), assignments.as_ref().err()]
            .into_iter()
            .flatten()
            .find(|e| navigation_refused(e, sp.is_some()));
        if let Some(e) = refused {
            self.take_fallback(
                &self.fallbacks.navigations_by_id,
                e,
                "the service principal's object id (`/oauth2PermissionGrants?$filter=clientId eq …`, `/servicePrincipals/{id}/appRoleAssignments`)",
            );
            return self.client_side_by_id(sp).await;
        }
        // No service principal: a 404 of the navigation means nothing is granted to it.
        Ok((sp, not_found_is_empty(grants)?, not_found_is_empty(assignments)?))
    }

    async fn client_side_by_id(&self, sp: Option<ServicePrincipal>) -> Result<ClientSide, GraphError> {
        let Some(sp) = sp else {
            return Ok((None, Vec::new(), Vec::new()));
        };
        let (grants, assignments) = futures::join!(
            self.grants_of_client(&sp.id),
            self.assignments_of_sp(&sp.id, false)
        );
        Ok((Some(sp), grants?, assignments?))
    }

    /// Delegated grants of the client service principal `client_id` (object id), filtered on
    /// clientId as the list page advises against replication delay.
    pub async fn grants_of_client(
        &self,
        client_sp_id: &str,
    ) -> Result<Vec<OAuth2PermissionGrant>, GraphError> {
        self.list(format!(
            "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'",
            odata_literal(client_sp_id)
        ))
        .await
    }

    /// App role assignments of the service principal `sp_id`. When it was just created
    /// (`fresh`), a 404 is replication delay (docs/graph-notes.md §11.1(d)).
    pub async fn assignments_of_sp(
        &self,
        sp_id: &str,
        fresh: bool,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        let call = Call::get(format!(
            "/servicePrincipals/{}/appRoleAssignments",
            odata_literal(sp_id)
        ))
        .lag_if(fresh, GraphError::is_not_found);
        let mut out = Vec::new();
        let mut page: Page<AppRoleAssignment> = self.fetch(&call).await?;
        loop {
            out.append(&mut page.value);
            match page.next_link.take() {
                Some(next) => page = self.fetch(&Call::get(next)).await?,
                None => return Ok(out),
            }
        }
    }

    /// Create an `AllPrincipals` grant. A 404 (or the 400 "does not exist" form) right after the
    /// service principals were created (`fresh`) is replication delay (docs/graph-notes.md §11.1(d2)).
    pub async fn create_grant(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
        scope: &str,
        fresh: bool,
    ) -> Result<OAuth2PermissionGrant, GraphError> {
        let call = Call::post(
            "/oauth2PermissionGrants",
            serde_json::json!({
                "clientId": client_sp_id,
                "consentType": "AllPrincipals",
                "resourceId": resource_sp_id,
                "scope": scope,
            }),
        )
        .lag_if(fresh, reference_lag);
        self.fetch(&call).await
    }

    /// Set a grant's scopes; `fresh` when the grant was created moments ago (docs/graph-notes.md §11.1(d3)).
    pub async fn update_grant(&self, grant_id: &str, scope: &str, fresh: bool) -> Result<(), GraphError> {
        let call = Call::patch(
            format!("/oauth2PermissionGrants/{}", odata_literal(grant_id)),
            serde_json::json!({ "scope": scope }),
        )
        .lag_if(fresh, reference_lag);
        self.send(&call).await.map(drop)
    }

    pub async fn delete_grant(&self, grant_id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/oauth2PermissionGrants/{}",
            odata_literal(grant_id)
        )))
        .await
        .map(drop)
    }

    /// Assign an app role; `fresh` as for [`GraphClient::create_grant`].
    pub async fn create_assignment(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
        app_role_id: &str,
        fresh: bool,
    ) -> Result<AppRoleAssignment, GraphError> {
        let call = Call::post(
            format!(
                "/servicePrincipals/{}/appRoleAssignments",
                odata_literal(client_sp_id)
            ),
            serde_json::json!({
                "principalId": client_sp_id,
                "resourceId": resource_sp_id,
                "appRoleId": app_role_id,
            }),
        )
        .lag_if(fresh, reference_lag);
        self.fetch(&call).await
    }

    pub async fn delete_assignment(&self, client_sp_id: &str, assignment_id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/servicePrincipals/{}/appRoleAssignments/{}",
            odata_literal(client_sp_id),
            odata_literal(assignment_id)
        )))
        .await
        .map(drop)
    }
}

/// docs/graph-notes.md §11.1(d1): SP creation before the new application has replicated.
fn sp_create_lag(e: &GraphError) -> bool {
    match e.status() {
        Some(400) => {
            e.has_detail("NoBackingApplicationObject")
                || e.message()
                    .contains("does not reference a valid application object")
        }
        Some(403) => e
            .message()
            .contains("backing application of the service principal"),
        Some(404) => true,
        _ => false,
    }
}

/// docs/graph-notes.md §11.1(d2)/(d3): a reference to an object that has not replicated yet.
fn reference_lag(e: &GraphError) -> bool {
    match e.status() {
        Some(404) => true,
        Some(400) => e
            .message()
            .contains("does not exist or one of its queried reference-property objects are not present"),
        _ => false,
    }
}

/// 400 "Another object with the same value for property uniqueName already exists."
fn unique_name_taken(e: &GraphError) -> bool {
    e.status() == Some(400)
        && e.message()
            .to_ascii_lowercase()
            .contains("property uniquename already exists")
}

/// Whether an `(appId='…')` navigation was refused as a form (so the object-id form is worth
/// trying), rather than answered: 400, 405 and 501 always; 404 only when the service principal
/// exists (for a missing one, 404 is the answer).
fn navigation_refused(e: &GraphError, sp_exists: bool) -> bool {
    match e.status() {
        Some(400 | 405 | 501) => true,
        Some(404) => sp_exists,
        _ => false,
    }
}

/// A write whose effect is unknown: no answer, a 5xx, or an answer that could not be read.
/// It may have been applied, so the caller reads before writing again.
pub fn outcome_unknown(e: &GraphError) -> bool {
    matches!(e, GraphError::Transport { .. } | GraphError::Decode { .. })
        || matches!(e.status(), Some(500..=599))
}

/// What [`GraphClient::client_side`] reads: the service principal, its grants as the client,
/// its app role assignments.
pub type ClientSide = (
    Option<ServicePrincipal>,
    Vec<OAuth2PermissionGrant>,
    Vec<AppRoleAssignment>,
);

fn not_found_is_empty<T>(r: Result<Vec<T>, GraphError>) -> Result<Vec<T>, GraphError> {
    match r {
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

fn decode<T: DeserializeOwned>(call: &Call, reply: Reply) -> Result<T, GraphError> {
    let body = reply.body.unwrap_or(Value::Null);
    serde_json::from_value(body).map_err(|e| GraphError::Decode {
        method: call.method.to_string(),
        path: call.path.clone(),
        status: reply.status,
        detail: e.to_string(),
    })
}

/// Whether `link` has the scheme, host and port of `base` (RFC 6454 origin).
fn same_origin(link: &str, base: &str) -> bool {
    match (url::Url::parse(link), url::Url::parse(base)) {
        (Ok(l), Ok(b)) => l.origin() == b.origin() && l.origin().is_tuple(),
        _ => false,
    }
}

/// `scheme://host:port` of a URL, for messages (a link's query may carry paging state only).
fn link_origin(link: &str) -> String {
    url::Url::parse(link)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "(not a URL)".to_owned())
}

fn trimmed_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn short_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "connection dropped"
    }
}

// --- reads of `import` -----------------------------------------------------------------------

impl GraphClient {
    /// The application of `app_id` with the properties `import` reports.
    pub async fn application_details_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ApplicationDetails>, GraphError> {
        self.get_optional(format!("/applications(appId='{}')", odata_literal(app_id)))
            .await
    }

    pub async fn application_details_by_unique_name(
        &self,
        unique_name: &str,
    ) -> Result<Option<ApplicationDetails>, GraphError> {
        self.get_optional(format!(
            "/applications(uniqueName='{}')",
            odata_literal(unique_name)
        ))
        .await
    }

    /// Applications whose display name is exactly `name` (Entra does not keep display names
    /// unique, so there may be several).
    pub async fn applications_by_display_name(
        &self,
        name: &str,
    ) -> Result<Vec<ApplicationDetails>, GraphError> {
        self.list(format!(
            "/applications?$filter=displayName%20eq%20'{}'",
            odata_literal(name)
        ))
        .await
    }

    /// A service principal by object id (the `resourceId` of a grant or assignment).
    pub async fn service_principal_by_id(&self, id: &str) -> Result<Option<ServicePrincipal>, GraphError> {
        self.get_optional(format!("/servicePrincipals/{}", odata_literal(id)))
            .await
    }

    /// Owners of the application of `app_id`: users and service principals
    /// (learn:/graph/api/application-list-owners; Application.Read.All).
    pub async fn owners_of_app(&self, app_id: &str) -> Result<Vec<DirectoryObject>, GraphError> {
        self.list(format!(
            "/applications(appId='{}')/owners?$select=id,displayName,userPrincipalName,appId",
            odata_literal(app_id)
        ))
        .await
    }

    /// Federated identity credentials of the application of `app_id`
    /// (learn:/graph/api/application-list-federatedidentitycredentials).
    pub async fn federated_credentials_of_app(
        &self,
        app_id: &str,
    ) -> Result<Vec<FederatedCredential>, GraphError> {
        self.list(format!(
            "/applications(appId='{}')/federatedIdentityCredentials",
            odata_literal(app_id)
        ))
        .await
    }

    /// Give the application of `app_id` its `uniqueName`: Graph allows it while the property is
    /// null, and refuses any change once set (learn:/graph/api/application-update, `uniqueName`:
    /// "Can updated only if null and is immutable once set.").
    pub async fn set_unique_name(&self, app_id: &str, unique_name: &str) -> Result<(), GraphError> {
        self.update_application_by_app_id(app_id, serde_json::json!({ "uniqueName": unique_name }))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let base = "https://graph.microsoft.com/v1.0";
        assert!(same_origin(
            "https://graph.microsoft.com/v1.0/applications?$skiptoken=x",
            base
        ));
        assert!(same_origin("https://GRAPH.microsoft.com:443/v1.0/x", base));
        assert!(!same_origin(
            "https://graph.microsoft.com.evil.example/v1.0/x",
            base
        ));
        assert!(!same_origin("http://graph.microsoft.com/v1.0/x", base));
        assert!(!same_origin("https://graph.microsoft.com:8443/v1.0/x", base));
        assert!(!same_origin("/v1.0/x", base));
    }

    /// A page whose `@odata.nextLink` points at another origin: the list fails, and the other
    /// server never sees a request (so never the token).
    #[tokio::test]
    async fn a_foreign_next_link_is_refused_without_sending_the_token() {
        use std::sync::atomic::AtomicUsize;
        async fn serve(router: axum::Router) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router).await });
            format!("http://{addr}")
        }
        let foreign_hits = Arc::new(AtomicUsize::new(0));
        let hits = foreign_hits.clone();
        let foreign = serve(axum::Router::new().fallback(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(serde_json::json!({"value": []})) }
        }))
        .await;
        let link = format!("{foreign}/v1.0/applications?$skiptoken=2");
        let graph =
            serve(
                axum::Router::new().route(
                    "/v1.0/applications",
                    axum::routing::get(move || {
                        let link = link.clone();
                        async move {
                            axum::Json(serde_json::json!({"value": [{"id": "1"}], "@odata.nextLink": link}))
                        }
                    }),
                ),
            )
            .await;
        let client = GraphClient::new(
            reqwest::Client::new(),
            &format!("{graph}/v1.0"),
            "secret-token".into(),
            Arc::new(Printer::plain()),
        );
        let err = client
            .list::<Value>("/applications".into())
            .await
            .expect_err("a foreign link is refused");
        let shown = err.to_string();
        assert!(shown.contains("is not on the Graph endpoint"), "{shown}");
        assert!(shown.contains(&foreign), "{shown}");
        assert_eq!(foreign_hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn odata_literals_are_quoted_and_encoded() {
        assert_eq!(odata_literal("mtp-api-client"), "mtp-api-client");
        assert_eq!(odata_literal("O'Brien app"), "O%27%27Brien%20app");
        assert_eq!(
            odata_literal("https://api.security.microsoft.com"),
            "https%3A%2F%2Fapi.security.microsoft.com"
        );
    }
}
