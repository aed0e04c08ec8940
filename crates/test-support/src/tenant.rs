//! [`Tenant`]: one in-process emulator, a temporary folder (the binary's `HOME` and the
//! manifests' folder), and an HTTP client for Graph, sign-in and the control plane.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use entra_emulator::{Config, Faults, Running};
use serde_json::{Value, json};

use crate::run::{Auth, Run};

pub struct Tenant {
    pub emu: Running,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The request log is read after this `seq` ([`Tenant::clear_log`]).
    mark: AtomicU64,
}

/// `http://127.0.0.1:PORT`: the authority URL, under which Graph is `/v1.0`.
pub fn base_url(emu: &Running) -> String {
    emu.ready.authority_url.trim_end_matches('/').to_owned()
}

/// The `provision` binary Cargo built for this test run: `CARGO_BIN_EXE_provision` (set for the
/// provision crate's integration tests), else next to the test executable's `deps/` folder.
pub fn provision_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_BIN_EXE_provision") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("the test executable");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lies in target/<profile>/deps");
    let bin = profile.join(format!("provision{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "no provision binary at `{}`", bin.display());
    bin
}

/// Which Graph the emulator plays (issue 12 §1): Graph as documented, or the stricter Graph a
/// real tenant may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Default,
    /// Both uncertain forms refused (the `(appId='…')` navigations and the service principal
    /// upsert), and 10 s of replication and purge lag on a clock that moves 4 s with every Graph
    /// request: an object shows three requests after it was written, and no test sleeps.
    Strict,
}

impl Profile {
    pub fn faults(self) -> Faults {
        match self {
            Profile::Default => Faults::default(),
            Profile::Strict => Faults {
                replication_lag_ms: 10_000,
                purge_lag_ms: 10_000,
                clock_step_ms: 4_000,
                ..Faults::strict()
            },
        }
    }
}

impl Tenant {
    pub async fn start() -> Tenant {
        Self::start_with(Config::local()).await
    }

    /// An emulator playing `profile` from the first request.
    pub async fn start_profile(profile: Profile) -> Tenant {
        Self::start_faults(profile.faults()).await
    }

    /// An emulator with these fault knobs from the first request.
    pub async fn start_faults(faults: Faults) -> Tenant {
        let mut config = Config::local();
        config.faults = faults;
        Self::start_with(config).await
    }

    pub async fn start_with(config: Config) -> Tenant {
        let emu = entra_emulator::start(config).await.expect("emulator starts");
        Tenant {
            emu,
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::new(),
            mark: AtomicU64::new(0),
        }
    }

    /// Stop the emulator.
    pub async fn shutdown(self) {
        self.emu.shutdown().await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        base_url(&self.emu)
    }

    /// Play `profile` from now on, once a test has built its starting tenant through Graph:
    /// what it built has replicated (the emulator's clock moves past the windows).
    pub async fn use_profile(&self, profile: Profile) {
        let faults = profile.faults();
        self.set_faults(&faults).await;
        let window = faults.replication_lag_ms.max(faults.purge_lag_ms);
        self.advance_clock(i64::try_from(window).unwrap_or(i64::MAX));
    }

    /// Move the emulator's clock (replication and purge windows, token and code expiry,
    /// `Retry-After` windows) on by `ms`.
    pub fn advance_clock(&self, ms: i64) {
        self.emu.clock().advance_ms(ms);
    }

    /// Switch the knobs (`PUT /_emulator/faults`).
    pub async fn set_faults(&self, faults: &Faults) {
        let resp = self
            .http
            .put(format!("{}/_emulator/faults", self.base()))
            .json(faults)
            .send()
            .await
            .expect("faults");
        assert_eq!(resp.status().as_u16(), 200, "PUT /_emulator/faults");
    }

    /// Copy a manifest from `manifests/` into the test folder (so its output file lands there).
    pub fn manifest(&self, name: &str) -> PathBuf {
        let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("manifests")
            .join(name);
        let dst = self.dir.path().join(name);
        std::fs::copy(src, &dst).expect("copy manifest");
        dst
    }

    pub fn write_manifest(&self, name: &str, text: &str) -> PathBuf {
        self.write(name, text.as_bytes())
    }

    /// Write a file (a manifest, maybe not UTF-8) into the test folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write manifest");
        path
    }

    /// The binary pointed at the emulator, signed in as `client_id`, with `extra` variables,
    /// not started yet.
    pub fn command(
        &self,
        args: &[&str],
        client_id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> tokio::process::Command {
        let mut cmd = self.command_as(
            args,
            &Auth::Client {
                id: client_id,
                secret,
            },
        );
        cmd.envs(extra.iter().copied());
        cmd
    }

    /// The binary with the environment pointing at this emulator and nothing else (`HOME` is
    /// the test folder), signing in as `auth` says, not started yet.
    pub fn command_as(&self, args: &[&str], auth: &Auth<'_>) -> tokio::process::Command {
        let r = &self.emu.ready;
        let mut cmd = tokio::process::Command::new(provision_binary());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("PROVISION_GRAPH_URL", &r.graph_url)
            .env("PROVISION_AUTHORITY_URL", &r.authority_url)
            .env("AZURE_TENANT_ID", &r.tenant_id)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match auth {
            Auth::ClientSecret => {
                cmd.env("PROVISION_AUTH", "client-secret")
                    .env("AZURE_CLIENT_ID", &r.client_id)
                    .env("AZURE_CLIENT_SECRET", &r.client_secret);
            }
            Auth::Client { id, secret } => {
                cmd.env("PROVISION_AUTH", "client-secret")
                    .env("AZURE_CLIENT_ID", id)
                    .env("AZURE_CLIENT_SECRET", secret);
            }
            Auth::AccessToken(token) => {
                cmd.env("PROVISION_AUTH", "access-token")
                    .env("PROVISION_ACCESS_TOKEN", token);
            }
        }
        cmd
    }

    /// Run the real binary as the seeded administrator client.
    pub async fn provision(&self, args: &[&str]) -> Output {
        let r = &self.emu.ready;
        self.provision_as(args, &r.client_id.clone(), &r.client_secret.clone())
            .await
    }

    pub async fn provision_as(&self, args: &[&str], client_id: &str, secret: &str) -> Output {
        self.provision_env(args, client_id, secret, &[]).await
    }

    /// `provision_as` with extra environment variables.
    pub async fn provision_env(
        &self,
        args: &[&str],
        client_id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> Output {
        self.command(args, client_id, secret, extra)
            .output()
            .await
            .expect("run provision")
    }

    /// `provision` run in the test folder, so relative paths (and what the output shows of
    /// them) do not depend on where the folder is.
    pub async fn provision_here(&self, args: &[&str]) -> Output {
        let r = &self.emu.ready;
        self.command(args, &r.client_id, &r.client_secret, &[])
            .current_dir(self.dir.path())
            .output()
            .await
            .expect("run provision")
    }

    /// Run the binary to its end, or kill it at [`crate::RUN_TIMEOUT`] (a hang).
    pub async fn run(&self, args: &[&str], auth: &Auth<'_>) -> Run {
        Run::spawn(self.command_as(args, auth), args, None).await
    }

    /// Run the binary and send it SIGKILL after `kill_after` if it is still running.
    pub async fn run_killed_after(&self, args: &[&str], auth: &Auth<'_>, kill_after: Duration) -> Run {
        Run::spawn(self.command_as(args, auth), args, Some(kill_after)).await
    }

    /// A Graph token for the administrator, from the emulator's token endpoint.
    pub async fn admin_token(&self) -> String {
        let r = &self.emu.ready;
        self.client_token(&r.client_id, &r.client_secret).await
    }

    /// A Graph token for a client, by the client credentials grant; panics unless issued.
    pub async fn client_token(&self, client_id: &str, secret: &str) -> String {
        let url = format!("{}/{}/oauth2/v2.0/token", self.base(), self.emu.ready.tenant_id);
        let resp = self
            .http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.expect("token json");
        assert_eq!(status, 200, "token request: {v}");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    /// A Graph call as the administrator; returns (status, body).
    pub async fn graph(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.admin_token().await;
        let mut req = self
            .http
            .request(method, format!("{}{}", self.emu.ready.graph_url, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("graph call");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.graph(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A client made through Graph, as in the portal: an application, its service principal,
    /// one Microsoft Graph application permission (an app role assignment) and a secret.
    /// Returns its appId and the secret.
    pub async fn client_with_role(&self, name: &str, permission: &str) -> (String, String) {
        use reqwest::Method;
        let (s, app) = self
            .graph(Method::POST, "/applications", Some(json!({"displayName": name})))
            .await;
        assert_eq!(s, 201, "{app}");
        let app_id = app["appId"].as_str().expect("appId").to_owned();
        let (s, sp) = self
            .graph(Method::POST, "/servicePrincipals", Some(json!({"appId": app_id})))
            .await;
        assert_eq!(s, 201, "{sp}");
        let graph = self
            .get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')")
            .await;
        let role = graph["appRoles"]
            .as_array()
            .expect("Microsoft Graph's app roles")
            .iter()
            .find(|r| r["value"] == permission)
            .unwrap_or_else(|| panic!("Microsoft Graph has no app role `{permission}`"))["id"]
            .clone();
        let (s, a) = self
            .graph(
                Method::POST,
                &format!(
                    "/servicePrincipals/{}/appRoleAssignments",
                    sp["id"].as_str().expect("id")
                ),
                Some(json!({"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role})),
            )
            .await;
        assert_eq!(s, 201, "{a}");
        let (s, pw) = self
            .graph(
                Method::POST,
                &format!("/applications/{}/addPassword", app["id"].as_str().expect("id")),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, 200, "{pw}");
        (app_id, pw["secretText"].as_str().expect("secretText").to_owned())
    }

    // --- the control plane ---------------------------------------------------------------

    async fn control_json(&self, what: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/_emulator/{what}", self.base()))
            .send()
            .await
            .expect("control request");
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.expect("control json");
        assert_eq!(status, 200, "GET /_emulator/{what}: {v}");
        v
    }

    /// `GET /_emulator/stats`.
    pub async fn stats(&self) -> Value {
        self.control_json("stats").await
    }

    /// `GET /_emulator/state`: the whole tenant.
    pub async fn state(&self) -> Value {
        self.control_json("state").await
    }

    /// The raw request log after `seq` (scanned for secrets as text).
    async fn log_text_after(&self, seq: u64) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}/_emulator/requests?after={seq}", self.base()))
            .send()
            .await
            .expect("request log");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("request log text"))
    }

    /// The whole request log, as text.
    pub async fn request_log_text(&self) -> String {
        let (status, text) = self.log_text_after(0).await;
        crate::log::parse(status, &text);
        text
    }

    /// The whole request log (sign-in, Graph and control); fails on an answer that is not one.
    pub async fn request_log(&self) -> Vec<Value> {
        let (status, text) = self.log_text_after(0).await;
        crate::log::parse(status, &text)
    }

    /// Read the log from here on: later reads leave out what is logged now.
    pub async fn clear_log(&self) {
        let last = self
            .request_log()
            .await
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .max()
            .unwrap_or(0);
        self.mark.store(last, Ordering::SeqCst);
    }

    /// Every request since the last [`Tenant::clear_log`].
    pub async fn requests_since_clear(&self) -> Vec<Value> {
        let (status, text) = self.log_text_after(self.mark.load(Ordering::SeqCst)).await;
        crate::log::parse(status, &text)
    }

    /// Graph requests (sign-in and control excluded) since the last [`Tenant::clear_log`].
    pub async fn graph_requests(&self) -> Vec<Value> {
        self.requests_since_clear()
            .await
            .into_iter()
            .filter(crate::log::is_graph)
            .collect()
    }

    /// Since the last [`Tenant::clear_log`], the binary read Graph and wrote nothing
    /// ([`crate::log::assert_read_only`]); returns the reads.
    pub async fn assert_read_only(&self) -> Vec<String> {
        crate::log::assert_read_only(&self.requests_since_clear().await)
    }

    /// Every file under the test folder's `out/`, as text.
    pub fn output_files(&self) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        collect_files(&self.dir.path().join("out"), &mut files);
        files
            .into_iter()
            .map(|p| {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, text)
            })
            .collect()
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
