//! The emulator's own control plane under `/_emulator/` (no authentication, README.md
//! "The emulator"): the request log, statistics, reset, the tenant's state, the fault knobs and
//! the clock.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Faults;
use super::state::Shared;
use super::store::Tenant;

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/state", get(state))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/clock", get(get_clock).post(advance_clock))
}

/// `POST /_emulator/clock` body: how far to move the emulator's clock on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_ms: u64,
}

/// `GET /_emulator/clock`: the emulator's time and how far it is ahead of the wall clock.
async fn get_clock(State(shared): State<Arc<Shared>>) -> Json<Value> {
    clock_json(&shared)
}

/// `POST /_emulator/clock {"advance_ms": N}`: move the clock on (it never goes back), so that
/// replication windows, token and code expiry and `Retry-After` pass without waiting.
async fn advance_clock(State(shared): State<Arc<Shared>>, Json(a): Json<Advance>) -> Json<Value> {
    shared
        .clock
        .advance_ms(i64::try_from(a.advance_ms).unwrap_or(i64::MAX));
    clock_json(&shared)
}

fn clock_json(shared: &Shared) -> Json<Value> {
    Json(json!({
        "now": shared.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "offset_ms": shared.clock.offset_ms(),
    }))
}

#[derive(Deserialize)]
struct Since {
    /// Only entries with a larger `seq`.
    after: Option<u64>,
}

/// `GET /_emulator/requests[?after=SEQ]`: the log entries, oldest first.
async fn requests(State(shared): State<Arc<Shared>>, Query(q): Query<Since>) -> Json<Value> {
    let log = shared.request_log();
    let after = q.after.unwrap_or(0);
    let entries: Vec<&super::log::LogEntry> = log.entries.iter().filter(|e| e.seq > after).collect();
    Json(json!(entries))
}

/// `GET /_emulator/stats`: requests by kind, injected faults by kind, early retries.
async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let requests = shared.request_log().by_kind.clone();
    let injector = shared.injector();
    Json(json!({
        "requests": requests,
        "faults": injector.counts_by_kind(),
        "retry_after_violations": injector.retry_after_violations,
    }))
}

/// `POST /_emulator/reset`: a freshly seeded tenant with the same tenant id, domain, signing
/// key, clients and secrets; the log and counters start again.
async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    // The knobs are read before the tenant is locked: no lock is taken while another is held.
    let knobs = shared.injector().faults.clone();
    let file_lock = shared.lock_state_file();
    let mut tenant = shared.tenant();
    let mut fresh = Tenant::seed(tenant.identity.clone());
    knobs.apply_to(&mut fresh);
    fresh.clock = tenant.clock.clone();
    fresh.extra_domains = std::mem::take(&mut tenant.extra_domains);
    *tenant = fresh;
    let saved = file_lock.and_then(|_lock| shared.persist(&tenant));
    drop(tenant);
    shared.request_log().clear();
    let faults = shared.injector().faults.clone();
    shared.injector().set(faults);
    {
        let mut inj = shared.injector();
        inj.counts = Default::default();
        inj.retry_after_violations = 0;
    }
    match saved {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("cannot save the emulator state: {e}")})),
        )
            .into_response(),
    }
}

/// `GET /_emulator/state`: the tenant as it is saved with `--state`.
async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let tenant = shared.tenant();
    Json(serde_json::to_value(&*tenant).unwrap_or(Value::Null))
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.injector().faults.clone())
}

/// `PUT /_emulator/faults` with the knobs in snake_case; missing knobs are 0 / none.
async fn put_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> Response {
    if let Err(message) = faults.check() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
    }
    faults.apply_to(&mut shared.tenant());
    shared.injector().set(faults.clone());
    Json(faults).into_response()
}
