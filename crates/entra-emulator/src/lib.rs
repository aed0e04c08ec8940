//! A local Microsoft Graph + identity platform emulator (README.md "The emulator"), on one port:
//! Graph v1.0 under `/v1.0/`, the identity platform under `/{tenant}/`, the control plane under
//! `/_emulator/`.
//!
//! ```text
//! TCP ─▶ serve loop (hyper; a DropConnection response closes the socket)
//!      ─▶ log::log_requests (request log, redacted)
//!      ─▶ /v1.0/*      graph::http ─▶ faults ─▶ graph::auth ─▶ graph (route table) ─▶ store
//!         /{tenant}/*  identity (tokens, device code, discovery)
//!         /_emulator/* control
//! ```
//!
//! Modelled on moto's per-service backends (CONTRIBUTING.md "Map of the code"): `store` holds the tenant and Graph's rules and returns typed
//! [`store::GraphError`]s; `graph` only parses and renders; routing is a table.
//!
//! The identity side reads the tenant through [`state::Shared::tenant`] and the read helpers
//! on [`store::Tenant`] (`application_by_app_id`, `service_principal_by_app_id`,
//! `service_principal_by_name`, `grants_for`, `app_role_assignments_of`, `admin_user`), signs
//! with [`state::Shared::signing_key`], and tags its responses with [`log::RequestKind`].

pub mod budget;
pub mod clock;
pub mod control;
pub mod error;
pub mod faults;
pub mod fsutil;
pub mod graph;
pub mod http_util;
pub mod identity;
pub mod log;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::any;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{Error, Result};
use identity::keys::SigningKey;
use state::Shared;
use store::{Tenant, TenantIdentity};

/// How to run the emulator.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    pub tls: bool,
    /// Keep the tenant in this file (loaded at start, saved after every write).
    pub state: Option<PathBuf>,
    pub faults: Faults,
    /// Device codes wait for `/_emulator/devicecode/{code}/approve` instead of being approved
    /// at the first poll.
    pub manual_approval: bool,
    /// Identity-platform knobs (device-code and token lifetimes); Entra's values by default.
    pub identity: identity::routes::Settings,
    /// More verified domains of the tenant (not saved with the state): `--emulator` adds the
    /// manifest's `tenant` domain, as a real tenant holds its custom domains.
    pub extra_domains: Vec<String>,
    /// The tenant id a newly seeded tenant gets (a manifest's `tenant` GUID); random if unset.
    pub seed_tenant_id: Option<String>,
    /// Seed a large tenant (`--seed-tenant N --seed S`) when the tenant is new: N apps with
    /// grants and assignments ([`store::bulk`]).
    pub seed_tenant: Option<SeedTenant>,
    /// The emulator's clock: keep a clone to move time on from outside
    /// ([`Running::clock`] gives the same handle).
    pub clock: clock::Clock,
}

/// `--seed-tenant N --seed S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedTenant {
    pub apps: usize,
    pub seed: u64,
}

impl Config {
    /// `127.0.0.1`, a free port, no TLS, no faults, no state file: for tests and `--emulator`.
    pub fn local() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 0,
            tls: false,
            state: None,
            faults: Faults::default(),
            manual_approval: false,
            identity: identity::routes::Settings::default(),
            seed_tenant: None,
            extra_domains: Vec::new(),
            seed_tenant_id: None,
            clock: clock::Clock::new(),
        }
    }
}

/// The fault knobs (`--latency-ms` … and `PUT /_emulator/faults`, snake_case). A knob left
/// out is off: 0, none, or for the two call forms, accepted as Graph documents them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every Graph request.
    pub latency_ms: u64,
    /// Share of Graph requests answered with a transient 5xx.
    pub fault_rate: f64,
    /// Share of Graph requests answered with 429 + `Retry-After`.
    pub throttle_rate: f64,
    /// How long a new object stays invisible to reads and references.
    pub replication_lag_ms: u64,
    /// Share of Graph requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Seed of the fault generator, so a run replays.
    pub seed: Option<u64>,
    /// Share of Graph requests answered with a malformed response (see [`faults::Malformed`]).
    pub malformed_rate: f64,
    /// The malformed kinds to pick from; empty means every kind.
    pub malformed_kinds: Vec<faults::Malformed>,
    /// Share of Graph requests that are served, after which the connection is closed without
    /// the answer: the "apply-then-fail" of docs/graph-notes.md §11.1(d), an ambiguous write.
    pub lost_response_rate: f64,
    /// Serve `GET /servicePrincipals(appId='…')/oauth2PermissionGrants` and
    /// `…/appRoleAssignments`; `false` answers them 400 `Request_BadRequest`, as a Graph that
    /// does not route these alternate-key navigations would (issue 12 §1).
    pub alternate_key_navigations: bool,
    /// Serve the upsert `PATCH /servicePrincipals(appId='…')`; `false` answers it 400.
    pub service_principal_upsert: bool,
    /// How long after its delete an object cannot be read, restored or purged in deleted items
    /// (Entra's deletes replicate too).
    pub purge_lag_ms: u64,
    /// Every Graph request moves the emulator's [`clock::Clock`] on by this much: a lag of
    /// seconds passes in a few requests, so tests never sleep (tokens age with it too).
    pub clock_step_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            fault_rate: 0.0,
            throttle_rate: 0.0,
            replication_lag_ms: 0,
            drop_rate: 0.0,
            seed: None,
            malformed_rate: 0.0,
            malformed_kinds: Vec::new(),
            lost_response_rate: 0.0,
            alternate_key_navigations: true,
            service_principal_upsert: true,
            purge_lag_ms: 0,
            clock_step_ms: 0,
        }
    }
}

impl Faults {
    /// The strict profile (`provision emulator --strict`): the stricter Graph a real tenant may
    /// be. Both uncertain call forms are refused, new objects take 2 s to replicate and deletes
    /// 2 s before they can be purged or restored.
    pub fn strict() -> Self {
        Faults {
            alternate_key_navigations: false,
            service_principal_upsert: false,
            replication_lag_ms: 2000,
            purge_lag_ms: 2000,
            ..Faults::default()
        }
    }

    /// Copy the knobs the store enforces into the tenant.
    pub fn apply_to(&self, tenant: &mut Tenant) {
        tenant.replication_lag_ms = self.replication_lag_ms;
        tenant.purge_lag_ms = self.purge_lag_ms;
        tenant.clock_step_ms = self.clock_step_ms;
        tenant.refuse_alternate_key_navigations = !self.alternate_key_navigations;
        tenant.refuse_service_principal_upsert = !self.service_principal_upsert;
    }

    /// Rates are shares between 0 and 1.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, rate) in [
            ("fault_rate", self.fault_rate),
            ("throttle_rate", self.throttle_rate),
            ("drop_rate", self.drop_rate),
            ("malformed_rate", self.malformed_rate),
            ("lost_response_rate", self.lost_response_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("`{name}` must be between 0 and 1, not `{rate}`"));
            }
        }
        Ok(())
    }
}

/// The ready line `provision emulator` prints, in the key order of README.md "The emulator".
#[derive(Clone, Debug, Serialize)]
pub struct Ready {
    pub graph_url: String,
    pub authority_url: String,
    pub tenant_id: String,
    pub tenant_domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub reader_client_id: String,
    pub reader_client_secret: String,
    pub ca_cert: Option<String>,
    /// The seeded administrator's sign-in name and password, for the sign-in pages
    /// (`/{tenant}/oauth2/v2.0/authorize`, `/devicelogin`).
    pub admin_user: String,
    pub admin_password: String,
}

/// A running emulator.
pub struct Running {
    pub ready: Ready,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Under `--tls`: keeps a stateless emulator's CA folder until it stops.
    _tls: Option<identity::tls::Tls>,
}

impl Running {
    /// Stop accepting, close open connections and wait for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// The shared state (tests and the in-process `--emulator` mode read the tenant here).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The emulator's clock: move it on instead of sleeping ([`clock::Clock::advance`]).
    pub fn clock(&self) -> &clock::Clock {
        &self.shared.clock
    }
}

/// Load the tenant from `--state`, or seed a new one (and save it when a path is given). Under
/// the state file's lock, so that processes started together on a missing file share the one
/// tenant the first of them seeds.
async fn load_or_seed(
    path: Option<&PathBuf>,
    tenant_id: Option<&str>,
    bulk: Option<SeedTenant>,
) -> Result<Tenant> {
    let _lock = match path {
        Some(p) => {
            let p = p.clone();
            let lock = tokio::task::spawn_blocking(move || state::lock_file(&p))
                .await
                .map_err(|e| Error::failure("cannot lock the emulator state").with_source(e))?;
            Some(lock.map_err(|e| {
                Error::failure(format!(
                    "cannot lock the emulator state `{}`",
                    path.map(|p| p.display().to_string()).unwrap_or_default()
                ))
                .with_source(e)
            })?)
        }
        None => None,
    };
    if let Some(p) = path
        && p.exists()
    {
        return state::load_state(p).map_err(|e| {
            Error::failure(format!("cannot read the emulator state `{}`", p.display())).with_source(e)
        });
    }
    // RSA key generation takes a moment: keep it off the async workers.
    let key = tokio::task::spawn_blocking(|| SigningKey::generate("provision emulator token signing"))
        .await
        .map_err(|e| Error::failure("cannot generate the emulator's signing key").with_source(e))?
        .map_err(|e| Error::failure("cannot generate the emulator's signing key").with_source(e))?;
    let mut identity = TenantIdentity::generate(key.private_key_pem().to_owned(), key.certificate_pem());
    if let Some(id) = tenant_id {
        identity.tenant_id = id.to_ascii_lowercase();
    }
    let mut tenant = Tenant::seed(identity);
    if let Some(b) = bulk {
        tenant
            .seed_bulk(b.apps, b.seed)
            .map_err(|e| Error::failure(format!("cannot seed the tenant: {}", e.message)))?;
    }
    if let Some(p) = path {
        state::save_state(p, &tenant).map_err(|e| {
            Error::failure(format!("cannot write the emulator state `{}`", p.display())).with_source(e)
        })?;
    }
    Ok(tenant)
}

/// The whole application: Graph, control, identity, with the request log around them.
fn app(shared: Arc<Shared>, identity_settings: identity::routes::Settings) -> Router {
    Router::new()
        .route("/v1.0", any(graph::http::endpoint))
        .route("/v1.0/{*rest}", any(graph::http::endpoint))
        .merge(control::router())
        .merge(identity::routes::router(shared.clone(), identity_settings))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            log::log_requests,
        ))
        .with_state(shared)
}

/// Bind, seed or load the tenant, and serve in a tokio task.
pub async fn start(config: Config) -> Result<Running> {
    config.faults.check().map_err(Error::failure)?;
    let mut tenant = load_or_seed(
        config.state.as_ref(),
        config.seed_tenant_id.as_deref(),
        config.seed_tenant,
    )
    .await?;
    config.faults.apply_to(&mut tenant);
    tenant.clock = config.clock.clone();
    tenant.extra_domains = config.extra_domains.clone();
    let signing_key = SigningKey::from_pem(
        &tenant.identity.signing_key_pem,
        &tenant.identity.signing_cert_pem,
    )
    .map_err(|e| Error::failure("the emulator state holds an unusable signing key").with_source(e))?;
    let listener = TcpListener::bind((config.bind.as_str(), config.port))
        .await
        .map_err(|e| {
            Error::failure(format!("cannot listen on `{}:{}`", config.bind, config.port)).with_source(e)
        })?;
    let addr = listener.local_addr()?;
    // A wildcard bind is reached through loopback.
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    // `--tls`: a server certificate for this host, `127.0.0.1` and `localhost`, from a CA
    // written to disk for clients to trust (`Ready.ca_cert`).
    let tls = if config.tls {
        let state = config.state.clone();
        let tls_host = host.clone();
        let setup = tokio::task::spawn_blocking(move || identity::tls::setup(&tls_host, state.as_deref()))
            .await
            .map_err(|e| Error::failure("cannot set up TLS").with_source(e))?;
        Some(setup.map_err(|e| Error::failure("cannot set up TLS").with_source(e))?)
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{host}:{}", addr.port());
    let ready = Ready {
        graph_url: format!("{base_url}/v1.0"),
        authority_url: base_url.clone(),
        tenant_id: tenant.identity.tenant_id.clone(),
        tenant_domain: tenant.identity.domain.clone(),
        client_id: tenant.identity.admin_client_id.clone(),
        client_secret: tenant.identity.admin_client_secret.clone(),
        reader_client_id: tenant.identity.reader_client_id.clone(),
        reader_client_secret: tenant.identity.reader_client_secret.clone(),
        ca_cert: tls.as_ref().map(|t| t.ca_path.display().to_string()),
        admin_user: tenant
            .admin_user()
            .get("userPrincipalName")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        admin_password: tenant.identity.admin_password.clone(),
    };
    let injector = faults::Injector::new(config.faults.clone());
    let shared = Arc::new(Shared::new(
        tenant,
        signing_key,
        base_url,
        config.state.clone(),
        injector,
        config.manual_approval,
    ));
    let (tx, rx) = watch::channel(false);
    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let task = tokio::spawn(serve(
        listener,
        app(shared.clone(), config.identity),
        rx,
        acceptor,
    ));
    Ok(Running {
        ready,
        addr,
        shared,
        shutdown: tx,
        task,
        _tls: tls,
    })
}

/// The error a connection service returns to make hyper close the socket without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// One connection's service: the router, except that a response marked
/// [`log::DropConnection`] becomes an error, on which hyper closes the connection unanswered.
#[derive(Clone)]
struct ConnService {
    app: Router,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Dropped;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Response, Dropped>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let mut app = self.app.clone();
        Box::pin(async move {
            let resp = match tower_service::Service::call(&mut app, req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<log::DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok(resp)
        })
    }
}

/// Accept connections until shutdown; then drop the open ones.
async fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let svc = ConnService { app: app.clone() };
                let tls = tls.clone();
                conns.spawn(async move {
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        // A failed handshake (an untrusting client) just ends the connection.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
                // Reap finished connections so the set does not grow without bound.
                while conns.try_join_next().is_some() {}
            }
        }
    }
    conns.abort_all();
}
