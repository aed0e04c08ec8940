//! `provision doctor`: check a tenant before trusting it. Read-only by default: the sign-in
//! authority and Graph answer (else the host and the cause in plain words), the clock agrees
//! with theirs, who is signed in and to which tenant, which permissions the token holds
//! against what each command needs (`permissions`), the manifest's tenant guard and its
//! resource APIs' service principals. `--probe` creates a throw-away application, tries each
//! Graph form whose acceptance is uncertain, measures how long a new object takes to become
//! readable, deletes and purges it, and reports what the tenant accepted.
//!
//! The report is data ([`Report`], a versioned JSON document); the text is rendered from it.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::context::Context;
use crate::graph::client::{Call, Reply, odata_literal};
use crate::graph::{GraphClient, GraphError};
use crate::model::{ApiRef, Desired};
use crate::permissions::{Clause, Command};
use crate::plan::ResourceState;

/// Clock skew above this is reported: Entra allows five minutes on `nbf`/`exp`
/// (access-tokens.md; MSAL's default clock skew is 5 minutes).
pub const CLOCK_SKEW_LIMIT_SECS: i64 = 300;

/// How long the probe waits for a new object to become readable or purgeable.
const PROBE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize)]
pub struct Report {
    pub format_version: &'static str,
    pub authority: Reach,
    pub graph: Reach,
    /// Graph's (else the authority's) clock minus ours, in seconds.
    pub clock_skew_seconds: Option<i64>,
    pub identity: Option<Identity>,
    /// Why there is no identity (sign-in failed).
    pub sign_in_error: Option<String>,
    pub commands: Vec<CommandCheck>,
    pub manifest: Option<ManifestCheck>,
    pub probe: Option<Probe>,
    /// `ok`, `permission_missing`, `manifest_problem`, `wrong_tenant` or `unreachable`.
    pub verdict: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Reach {
    pub url: String,
    pub host: String,
    pub reachable: bool,
    pub status: Option<u16>,
    /// In plain words when not reachable: refused, DNS, TLS trust, timed out.
    pub cause: Option<String>,
    pub duration_ms: u64,
    #[serde(skip)]
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize)]
pub struct Identity {
    /// `application` (app-only) or `user` (delegated).
    pub kind: &'static str,
    pub tenant_id: String,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    /// The user's sign-in name, for a delegated token.
    pub user: Option<String>,
    /// How provision signed in (`client-secret`, `device-code`, …).
    pub source: &'static str,
    /// Roles (app-only) or scopes (delegated) on Microsoft Graph.
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CommandCheck {
    pub command: &'static str,
    pub allowed: bool,
    pub missing: Vec<Missing>,
}

#[derive(Debug, Serialize)]
pub struct Missing {
    pub permission: &'static str,
    pub alternatives: &'static [&'static str],
    pub needed_to: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ManifestCheck {
    pub path: String,
    pub tenant_guard: Option<Guard>,
    pub resources: Vec<ResourceCheck>,
}

#[derive(Debug, Serialize)]
pub struct Guard {
    pub tenant: String,
    pub ok: bool,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResourceCheck {
    pub api: String,
    /// `found`, `missing`, `ambiguous` or `unknown` (could not be read).
    pub service_principal: &'static str,
    pub app_id: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Probe {
    pub application: String,
    pub forms: Vec<FormResult>,
    pub application_readable_ms: Option<u64>,
    pub service_principal_readable_ms: Option<u64>,
    pub deleted: bool,
    pub purged: bool,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FormResult {
    pub form: &'static str,
    pub request: String,
    /// `accepted`, `refused` or `not tried`.
    pub result: &'static str,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub note: Option<String>,
}

impl Report {
    /// 0 when apply would be allowed, 4 when a permission is missing (or sign-in was refused),
    /// 3 when the manifest asks for what the tenant lacks, 1 when something cannot be reached
    /// or the tenant guard refuses.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            "ok" => 0,
            "permission_missing" => 4,
            "manifest_problem" => 3,
            _ => 1,
        }
    }
}

/// Send one unauthenticated GET and note status, duration and the server's `Date`.
async fn reach(http: &reqwest::Client, url: &str) -> Reach {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_default();
    let t0 = Instant::now();
    let result = crate::trace::send(http, http.get(url)).await;
    let duration_ms = t0.elapsed().as_millis() as u64;
    match result {
        Ok(r) => {
            let date = r
                .headers()
                .get("date")
                .and_then(|v| v.to_str().ok())
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
                // The Date was stamped while we waited: compare with the middle of the wait.
                .map(|d| {
                    d.with_timezone(&chrono::Utc) + chrono::Duration::milliseconds(duration_ms as i64 / 2)
                });
            Reach {
                url: url.to_owned(),
                host,
                reachable: true,
                status: Some(r.status().as_u16()),
                cause: None,
                duration_ms,
                date,
            }
        }
        Err(e) => Reach {
            url: url.to_owned(),
            host,
            reachable: false,
            status: None,
            cause: Some(crate::trace::transport_cause(&e)),
            duration_ms,
            date: None,
        },
    }
}

fn missing_of(clauses: Vec<Clause>) -> Vec<Missing> {
    clauses
        .into_iter()
        .map(|c| Missing {
            permission: c.least(),
            alternatives: &c.any_of[1..],
            needed_to: c.why,
        })
        .collect()
}

/// The checked commands, in the order the report shows them.
const CHECKED: &[Command] = &[Command::Plan, Command::Apply, Command::Destroy, Command::Import];

fn identity_of(token: &crate::auth::GraphToken) -> Identity {
    let claims = crate::auth::unverified_claims(token.secret()).unwrap_or(Value::Null);
    let text = |k: &str| claims[k].as_str().map(str::to_owned);
    let scopes: Vec<String> = claims["scp"]
        .as_str()
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let delegated = claims["idtyp"].as_str() == Some("user") || claims["scp"].is_string();
    let permissions = if delegated {
        scopes
    } else {
        claims["roles"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    Identity {
        kind: if delegated { "user" } else { "application" },
        tenant_id: text("tid").unwrap_or_else(|| token.tenant_id.clone()),
        client_id: text("appid").or_else(|| text("azp")),
        object_id: text("oid"),
        user: text("upn")
            .or_else(|| text("unique_name"))
            .or_else(|| text("preferred_username")),
        source: token.source,
        permissions,
    }
}

fn api_label(api: &ApiRef) -> String {
    match api {
        ApiRef::Known(app_id) => crate::catalog::by_app_id(app_id)
            .map(|k| format!("{} ({app_id})", k.display_name))
            .unwrap_or_else(|| app_id.clone()),
        ApiRef::AppId(a) | ApiRef::Name(a) => a.clone(),
    }
}

async fn check_manifest(
    ctx: &Context,
    graph: &GraphClient,
    tenant_id: &str,
    desired: &Desired,
) -> ManifestCheck {
    let tenant_guard = match desired.tenant.as_deref() {
        None => None,
        Some(t) => {
            let r = crate::observe::check_tenant_guard(
                &ctx.http,
                &ctx.endpoints.authority_url,
                Some(t),
                tenant_id,
            )
            .await;
            Some(Guard {
                tenant: t.to_owned(),
                ok: r.is_ok(),
                detail: r.err().map(|e| e.message),
            })
        }
    };
    let apis: std::collections::BTreeSet<&ApiRef> = desired
        .apps
        .iter()
        .flat_map(|a| a.api_permissions.iter().map(|p| &p.api))
        .collect();
    let looked = futures::future::join_all(apis.iter().map(|api| async move {
        let found = crate::observe::lookup_resource(graph, api).await;
        let (service_principal, app_id, detail) = match found {
            Ok(ResourceState::Found(sp)) => ("found", Some(sp.app_id), None),
            Ok(ResourceState::Missing) => (
                "missing",
                None,
                Some("no service principal: apply cannot grant its permissions until an administrator adds it to the tenant".to_owned()),
            ),
            Ok(ResourceState::Ambiguous(sps)) => (
                "ambiguous",
                None,
                Some(format!("{} service principals carry this name: name it by appId", sps.len())),
            ),
            Err(e) => ("unknown", None, Some(e.to_string())),
        };
        ResourceCheck {
            api: api_label(api),
            service_principal,
            app_id,
            detail,
        }
    }))
    .await;
    ManifestCheck {
        path: desired.source.display().to_string(),
        tenant_guard,
        resources: looked,
    }
}

/// Run the checks (and the probe when asked).
pub async fn run(ctx: &Context, desired: Option<&Desired>, probe: bool) -> Report {
    let tenant_segment = ctx.tenant.clone().unwrap_or_else(|| "organizations".to_owned());
    let authority_url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        ctx.endpoints.authority_url.trim_end_matches('/'),
        url::form_urlencoded::byte_serialize(tenant_segment.as_bytes()).collect::<String>()
    );
    // Without a token Graph answers 401: any answer shows it is there.
    let graph_url = format!("{}/organization", ctx.endpoints.graph_url.trim_end_matches('/'));
    let (authority, graph) = futures::join!(reach(&ctx.http, &authority_url), reach(&ctx.http, &graph_url));
    let now = chrono::Utc::now();
    let clock_skew_seconds = graph
        .date
        .or(authority.date)
        .map(|d| (d - now).num_milliseconds() as f64 / 1000.0)
        .map(|s| s.round() as i64);
    let mut report = Report {
        format_version: crate::render::FORMAT_VERSION,
        authority,
        graph,
        clock_skew_seconds,
        identity: None,
        sign_in_error: None,
        commands: Vec::new(),
        manifest: None,
        probe: None,
        verdict: "ok",
    };
    if !report.authority.reachable || !report.graph.reachable {
        report.verdict = "unreachable";
        return report;
    }
    let (client, token) = match ctx.graph().await {
        Ok(v) => v,
        Err(e) => {
            report.verdict = if e.class == crate::error::Class::Auth {
                "permission_missing"
            } else {
                "unreachable"
            };
            let mut text = e.message.clone();
            if let Some(h) = &e.help {
                text.push_str(&format!(" (help: {h})"));
            }
            report.sign_in_error = Some(text);
            return report;
        }
    };
    let identity = identity_of(&token);
    let delegated = identity.kind == "user";
    report.commands = CHECKED
        .iter()
        .map(|c| {
            // With a manifest, what its content adds (owners: finding and writing them).
            let missing = missing_of(c.missing_for(&identity.permissions, delegated, desired));
            CommandCheck {
                command: c.name(),
                allowed: missing.is_empty(),
                missing,
            }
        })
        .collect();
    let tenant_id = identity.tenant_id.clone();
    report.identity = Some(identity);
    if let Some(desired) = desired {
        report.manifest = Some(check_manifest(ctx, &client, &tenant_id, desired).await);
    }
    let apply_allowed = report.commands.iter().any(|c| c.command == "apply" && c.allowed);
    let guard_refuses = report
        .manifest
        .as_ref()
        .and_then(|m| m.tenant_guard.as_ref())
        .is_some_and(|g| !g.ok);
    let not_run = |why: &str| Probe {
        application: String::new(),
        forms: Vec::new(),
        application_readable_ms: None,
        service_principal_readable_ms: None,
        deleted: false,
        purged: false,
        error: Some(format!("not run: {why}")),
    };
    if probe {
        report.probe = Some(if !apply_allowed {
            not_run("the signed-in identity lacks apply's permissions (above)")
        } else if guard_refuses {
            not_run("the signed-in tenant is not the manifest's (never write to another tenant)")
        } else {
            run_probe(&client).await
        });
    }
    report.verdict = if !apply_allowed {
        "permission_missing"
    } else if guard_refuses {
        "wrong_tenant"
    } else if report
        .manifest
        .as_ref()
        .is_some_and(|m| m.resources.iter().any(|r| r.service_principal != "found"))
    {
        "manifest_problem"
    } else {
        "ok"
    };
    report
}

// --- probe -----------------------------------------------------------------------------------

fn form(form: &'static str, request: String, r: Result<(), &GraphError>) -> FormResult {
    match r {
        Ok(()) => FormResult {
            form,
            request,
            result: "accepted",
            status: None,
            code: None,
            note: None,
        },
        Err(e) => FormResult {
            form,
            request,
            result: "refused",
            status: e.status(),
            code: Some(e.code().to_owned()).filter(|c| !c.is_empty()),
            note: Some(e.to_string()),
        },
    }
}

fn not_tried(form: &'static str, request: String, why: &str) -> FormResult {
    FormResult {
        form,
        request,
        result: "not tried",
        status: None,
        code: None,
        note: Some(why.to_owned()),
    }
}

/// Poll `call` until it succeeds (or a non-404 error, or [`PROBE_WAIT`]); the time it took.
async fn until_readable(graph: &GraphClient, path: &str) -> Result<u64, GraphError> {
    let t0 = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match graph.send(&Call::get(path.to_owned())).await {
            Ok(_) => return Ok(t0.elapsed().as_millis() as u64),
            Err(e) if e.is_not_found() && t0.elapsed() < PROBE_WAIT => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Retry `call` while it fails in a way replication explains (404, or 400 naming an object not
/// there yet), up to [`PROBE_WAIT`].
async fn while_replicating(graph: &GraphClient, call: &Call) -> Result<Reply, GraphError> {
    within(graph, call, PROBE_WAIT).await
}

/// [`while_replicating`] for at most `wait`.
async fn within(graph: &GraphClient, call: &Call, wait: Duration) -> Result<Reply, GraphError> {
    let t0 = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match graph.send(call).await {
            Err(e)
                if t0.elapsed() < wait
                    && (e.is_not_found()
                        || e.has_detail("NoBackingApplicationObject")
                        || e.message()
                            .contains("does not reference a valid application object")
                        || e.message().contains("backing application")) =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Create `provision-probe-<random>`, try each uncertain form, measure, delete and purge.
pub async fn run_probe(graph: &GraphClient) -> Probe {
    let name = format!(
        "provision-probe-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut probe = Probe {
        application: name.clone(),
        forms: Vec::new(),
        application_readable_ms: None,
        service_principal_readable_ms: None,
        deleted: false,
        purged: false,
        error: None,
    };
    let key = format!("/applications(uniqueName='{}')", odata_literal(&name));
    let body = json!({
        "displayName": name,
        "signInAudience": "AzureADMyOrg",
        "notes": "Throw-away application of `provision doctor --probe`; safe to delete.",
    });
    // 1. The application: the uniqueName upsert, else a plain POST to go on probing.
    let upsert = graph
        .send(&Call::patch(key.clone(), body.clone()).prefer("create-if-missing"))
        .await;
    probe.forms.push(form(
        "application upsert by uniqueName",
        format!("PATCH {key} with Prefer: create-if-missing"),
        upsert.as_ref().map(drop),
    ));
    let created = match upsert {
        Ok(reply) => reply.body,
        Err(_) => {
            let mut b = body.clone();
            b["uniqueName"] = json!(name);
            match graph.send(&Call::post("/applications", b)).await {
                Ok(reply) => reply.body,
                Err(e) => {
                    probe.error = Some(format!("cannot create the probe application: {e}"));
                    return probe;
                }
            }
        }
    };
    let (object_id, app_id) = match created
        .as_ref()
        .and_then(|b| Some((b["id"].as_str()?, b["appId"].as_str()?)))
    {
        Some((id, app)) => (id.to_owned(), app.to_owned()),
        None => {
            // The upsert answered 204 (the name existed): read it.
            match graph.send(&Call::get(key.clone())).await {
                Ok(Reply { body: Some(b), .. }) => (
                    b["id"].as_str().unwrap_or_default().to_owned(),
                    b["appId"].as_str().unwrap_or_default().to_owned(),
                ),
                _ => {
                    probe.error = Some("the probe application has no id in Graph's answer".into());
                    return probe;
                }
            }
        }
    };
    let by_app_id = format!("/applications(appId='{}')", odata_literal(&app_id));
    match until_readable(graph, &by_app_id).await {
        Ok(ms) => probe.application_readable_ms = Some(ms),
        Err(e) => probe.error = Some(format!("the new application did not become readable: {e}")),
    }
    // 2. The service principal: the upsert by appId with the body of the documentation's example
    // (serviceprincipal-upsert: `{"displayName": …}`), else POST (what mature clients send).
    let sp_key = format!("/servicePrincipals(appId='{}')", odata_literal(&app_id));
    let sp_upsert = while_replicating(
        graph,
        &Call::patch(sp_key.clone(), json!({ "displayName": name })).prefer("create-if-missing"),
    )
    .await;
    // Issue 12 §1: the fallback is taken on 400 or 405.
    let upsert_refused = matches!(&sp_upsert, Err(e) if matches!(e.status(), Some(400 | 405)));
    probe.forms.push(form(
        "service principal upsert by appId",
        format!("PATCH {sp_key} with Prefer: create-if-missing"),
        sp_upsert.as_ref().map(drop),
    ));
    let post_call = Call::post("/servicePrincipals", json!({ "appId": app_id }));
    if upsert_refused {
        let post = while_replicating(graph, &post_call).await;
        probe.forms.push(form(
            "service principal create (fallback)",
            "POST /servicePrincipals".into(),
            post.as_ref().map(drop),
        ));
    } else {
        probe.forms.push(not_tried(
            "service principal create (fallback)",
            "POST /servicePrincipals".into(),
            "not needed: the upsert was accepted",
        ));
    }
    let sp_id = match until_readable(graph, &sp_key).await {
        Ok(ms) => {
            probe.service_principal_readable_ms = Some(ms);
            graph
                .send(&Call::get(sp_key.clone()))
                .await
                .ok()
                .and_then(|r| r.body)
                .and_then(|b| b["id"].as_str().map(str::to_owned))
        }
        Err(e) => {
            probe
                .error
                .get_or_insert(format!("the new service principal did not become readable: {e}"));
            None
        }
    };
    // 3. The appId-key navigations observe relies on, and their fallbacks.
    for (what, path) in [
        (
            "grants through the appId key",
            format!("{sp_key}/oauth2PermissionGrants"),
        ),
        (
            "app role assignments through the appId key",
            format!("{sp_key}/appRoleAssignments"),
        ),
    ] {
        let r = graph.send(&Call::get(path.clone())).await;
        probe
            .forms
            .push(form(what, format!("GET {path}"), r.as_ref().map(drop)));
    }
    if let Some(sp_id) = &sp_id {
        for (what, path) in [
            (
                "grants filtered on clientId (fallback)",
                format!(
                    "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'",
                    odata_literal(sp_id)
                ),
            ),
            (
                "app role assignments by object id (fallback)",
                format!("/servicePrincipals/{}/appRoleAssignments", odata_literal(sp_id)),
            ),
        ] {
            let r = graph.send(&Call::get(path.clone())).await;
            probe
                .forms
                .push(form(what, format!("GET {path}"), r.as_ref().map(drop)));
        }
    }
    // 4. Delete and purge (service principal first, then the application).
    let gone = |r: Result<Reply, GraphError>| match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    };
    let sp_deleted = match &sp_id {
        Some(id) => gone(
            graph
                .send(&Call::delete(format!("/servicePrincipals/{}", odata_literal(id))))
                .await,
        ),
        None => Ok(()),
    };
    let app_deleted = gone(
        graph
            .send(&Call::delete(format!(
                "/applications/{}",
                odata_literal(&object_id)
            )))
            .await,
    );
    probe.deleted = sp_deleted.is_ok() && app_deleted.is_ok();
    if let Err(e) = sp_deleted.and(app_deleted) {
        probe
            .error
            .get_or_insert(format!("cannot delete the probe application: {e}"));
        return probe;
    }
    // A purge right after the delete may be refused (404) while the delete replicates. A
    // service principal deleted for good never shows in deleted items: after a shorter wait,
    // not found is gone for it (not for the application, which Graph keeps 30 days).
    let purge = |id: String, wait: Duration| async move {
        let call = Call::delete(format!("/directory/deletedItems/{}", odata_literal(&id)));
        within(graph, &call, wait).await.map(drop)
    };
    let app_purge = purge(object_id.clone(), PROBE_WAIT).await;
    let sp_purge = match sp_id {
        Some(id) => match purge(id, Duration::from_secs(20)).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        },
        None => Ok(()),
    };
    probe.purged = app_purge.is_ok() && sp_purge.is_ok();
    if let Err(e) = app_purge.and(sp_purge) {
        probe.error.get_or_insert(format!(
            "cannot purge the probe application `{name}` from deleted items: {e}"
        ));
    }
    probe
}

// --- text ------------------------------------------------------------------------------------

/// The report as text: one line per check, `ok` or what is wrong and how to fix it.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    for (what, reach) in [("sign-in authority", &r.authority), ("Microsoft Graph", &r.graph)] {
        if reach.reachable && what == "sign-in authority" && reach.status == Some(400) {
            // Entra answers 400 (AADSTS90002) for a tenant it does not know.
            line(format!(
                "FAILED   the sign-in authority `{}` does not know the tenant in `{}` (400)",
                reach.host, reach.url
            ));
        } else if reach.reachable {
            line(format!(
                "ok       {what} `{}` answers ({} in {} ms)",
                reach.host,
                reach.status.unwrap_or_default(),
                reach.duration_ms
            ));
        } else {
            line(format!(
                "FAILED   cannot reach the {what} at `{}`: {}",
                reach.host,
                reach.cause.as_deref().unwrap_or("no answer")
            ));
            if reach.cause.as_deref().is_some_and(|c| c.contains("TLS")) {
                line("         help: behind a TLS-inspecting proxy, pass its root certificate with --ca-cert FILE".into());
            }
        }
    }
    match r.clock_skew_seconds {
        Some(s) if s.abs() > CLOCK_SKEW_LIMIT_SECS => line(format!(
            "WARNING  this machine's clock is {} s {} the server's: tokens may be refused as not yet valid or expired; set the clock (NTP)",
            s.abs(),
            if s > 0 { "behind" } else { "ahead of" }
        )),
        Some(s) => line(format!("ok       clock within {} s of the server's", s.abs())),
        None => {}
    }
    if let Some(e) = &r.sign_in_error {
        line(format!("FAILED   sign-in: {e}"));
    }
    if let Some(id) = &r.identity {
        let who = match (id.kind, &id.user, &id.client_id) {
            ("user", Some(u), Some(c)) => format!("user `{u}` through client `{c}`"),
            (_, _, Some(c)) => format!("application `{c}`"),
            _ => "an identity without a client id".to_owned(),
        };
        line(format!(
            "ok       signed in ({}) as {who} to tenant `{}`",
            id.source, id.tenant_id
        ));
        let kind = if id.kind == "user" {
            "delegated"
        } else {
            "application"
        };
        line(format!(
            "         Microsoft Graph {kind} permissions: {}",
            if id.permissions.is_empty() {
                "none".to_owned()
            } else {
                id.permissions.join(", ")
            }
        ));
        if id.kind == "user" {
            line("         a user also needs an Entra role that allows the change (e.g. Cloud Application Administrator)".into());
        }
    }
    for c in &r.commands {
        if c.allowed {
            line(format!("ok       {} has the permissions it needs", c.command));
        }
        for m in &c.missing {
            let alt = if m.alternatives.is_empty() {
                String::new()
            } else {
                format!(
                    " (or {})",
                    m.alternatives
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            line(format!(
                "MISSING  {} needs `{}`{alt} to {}",
                c.command, m.permission, m.needed_to
            ));
        }
    }
    if let Some(m) = &r.manifest {
        if let Some(g) = &m.tenant_guard {
            match (&g.ok, &g.detail) {
                (true, _) => line(format!(
                    "ok       tenant guard `{}` matches the signed-in tenant",
                    g.tenant
                )),
                (false, d) => line(format!(
                    "FAILED   tenant guard: {}",
                    d.as_deref().unwrap_or("refused")
                )),
            }
        }
        for res in &m.resources {
            match res.service_principal {
                "found" => line(format!(
                    "ok       {} has a service principal in the tenant",
                    res.api
                )),
                _ => line(format!(
                    "FAILED   {}: {}",
                    res.api,
                    res.detail.as_deref().unwrap_or(res.service_principal)
                )),
            }
        }
    }
    if let Some(p) = r.probe.as_ref().filter(|p| p.application.is_empty()) {
        line(format!("probe    {}", p.error.as_deref().unwrap_or("not run")));
    }
    if let Some(p) = r.probe.as_ref().filter(|p| !p.application.is_empty()) {
        line(format!(
            "probe    with the throw-away application `{}`:",
            p.application
        ));
        for f in &p.forms {
            let detail = match (f.result, f.status, &f.code) {
                ("refused", Some(s), Some(c)) => format!(" ({s} {c})"),
                ("refused", Some(s), None) => format!(" ({s})"),
                ("not tried", _, _) => format!(" ({})", f.note.as_deref().unwrap_or_default()),
                _ => String::new(),
            };
            line(format!(
                "         {:<9} {}: {}{detail}",
                f.result, f.form, f.request
            ));
        }
        if let Some(ms) = p.application_readable_ms {
            line(format!("         the new application was readable after {ms} ms"));
        }
        if let Some(ms) = p.service_principal_readable_ms {
            line(format!(
                "         the new service principal was readable after {ms} ms"
            ));
        }
        line(format!(
            "         {}",
            match (p.deleted, p.purged) {
                (true, true) => "deleted and purged".to_owned(),
                (true, false) => "deleted, but not purged from deleted items".to_owned(),
                _ => format!("NOT deleted: remove `{}` by hand", p.application),
            }
        ));
        if let Some(e) = &p.error {
            line(format!("         error: {e}"));
        }
    }
    line(verdict_text(r).to_owned());
    out
}

/// The verdict in plain words.
pub fn verdict_text(r: &Report) -> &'static str {
    match r.verdict {
        "ok" => "apply would be allowed",
        "permission_missing" => "apply would be refused: a permission is missing",
        "manifest_problem" => "apply would stop: the tenant lacks an API the manifest names",
        "wrong_tenant" => "apply would refuse: the signed-in tenant is not the manifest's",
        _ => "apply would fail: something cannot be reached",
    }
}

/// What to do about a verdict other than `ok`.
pub fn verdict_help(r: &Report) -> Option<&'static str> {
    match r.verdict {
        "ok" => None,
        "permission_missing" if r.identity.is_some() => Some(
            "in the Entra admin center, open the signed-in app's App registration → API permissions → \
             Add a permission → Microsoft Graph (Application permissions for an app-only sign-in, \
             Delegated for a user), add the missing ones and grant admin consent",
        ),
        "permission_missing" => Some("fix the sign-in first: see the error above"),
        "manifest_problem" => Some(
            "an administrator adds the API's service principal to the tenant (for a Microsoft API, by \
             consenting to it once), or the manifest names the API by the appId the tenant has",
        ),
        "wrong_tenant" => Some(
            "sign in to the manifest's tenant (--tenant, AZURE_TENANT_ID), or change `tenant` in the manifest",
        ),
        _ => Some(
            "check the host names (--cloud, --graph-url, --authority-url), the network and proxy, and \
             --ca-cert for a TLS-inspecting proxy",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(ok: bool, cause: Option<&str>) -> Reach {
        Reach {
            url: "https://login.microsoftonline.com/x".into(),
            host: "login.microsoftonline.com".into(),
            reachable: ok,
            status: ok.then_some(200),
            cause: cause.map(str::to_owned),
            duration_ms: 5,
            date: None,
        }
    }

    fn report(skew: Option<i64>, graph: Reach, verdict: &'static str) -> Report {
        Report {
            format_version: "1.0",
            authority: reach(true, None),
            graph,
            clock_skew_seconds: skew,
            identity: None,
            sign_in_error: None,
            commands: Vec::new(),
            manifest: None,
            probe: None,
            verdict,
        }
    }

    #[test]
    fn clock_skew_beyond_five_minutes_is_a_warning() {
        let t = text(&report(Some(-420), reach(true, None), "ok"));
        assert!(
            t.contains("WARNING  this machine's clock is 420 s ahead of the server's"),
            "{t}"
        );
        let t = text(&report(Some(120), reach(true, None), "ok"));
        assert!(t.contains("ok       clock within 120 s"), "{t}");
    }

    #[test]
    fn an_untrusted_certificate_points_at_ca_cert() {
        let r = report(
            None,
            reach(false, Some("the server's TLS certificate is not trusted")),
            "unreachable",
        );
        let t = text(&r);
        assert!(t.contains("cannot reach the Microsoft Graph at `login.microsoftonline.com`: the server's TLS certificate is not trusted"), "{t}");
        assert!(t.contains("--ca-cert FILE"), "{t}");
        assert_eq!(r.exit_code(), 1);
        assert_eq!(
            report(None, reach(true, None), "permission_missing").exit_code(),
            4
        );
        assert_eq!(report(None, reach(true, None), "manifest_problem").exit_code(), 3);
    }
}
