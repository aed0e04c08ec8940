//! Shared test support: an in-process emulator on 127.0.0.1:0, the real `provision` binary
//! pointed at it through the environment, Graph reads with the administrator's token, and the
//! emulator's request log reduced to writes and sequential rounds.

use std::path::{Path, PathBuf};
use std::process::Output;

use provision::emulator::{self, Config, Running};
use serde_json::Value;

pub struct Tenant {
    pub emu: Running,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub fn base_url(emu: &Running) -> String {
    emu.ready.authority_url.trim_end_matches('/').to_owned()
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
    pub fn faults(self) -> provision::emulator::Faults {
        match self {
            Profile::Default => provision::emulator::Faults::default(),
            Profile::Strict => provision::emulator::Faults {
                replication_lag_ms: 10_000,
                purge_lag_ms: 10_000,
                clock_step_ms: 4_000,
                ..provision::emulator::Faults::strict()
            },
        }
    }
}

/// Run an `async fn name(profile: Profile)` test under both profiles: `name::default` and
/// `name::strict`.
#[macro_export]
macro_rules! both_profiles {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn default() {
                super::$name($crate::support::Profile::Default).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn strict() {
                super::$name($crate::support::Profile::Strict).await
            }
        }
    };
}

impl Tenant {
    pub async fn start() -> Tenant {
        Self::start_with(Config::local()).await
    }

    /// An emulator playing `profile` from the first request.
    pub async fn start_profile(profile: Profile) -> Tenant {
        let mut config = Config::local();
        config.faults = profile.faults();
        Self::start_with(config).await
    }

    /// Play `profile` from now on, once a test has built its starting tenant through Graph:
    /// what it built has replicated (the emulator's clock moves past the windows).
    pub async fn use_profile(&self, profile: Profile) {
        let faults = profile.faults();
        self.set_faults(&faults).await;
        let window = faults.replication_lag_ms.max(faults.purge_lag_ms);
        self.advance_clock(i64::try_from(window).unwrap_or(i64::MAX));
    }

    /// Move the emulator's clock (replication and purge windows) on by `ms`.
    pub fn advance_clock(&self, ms: i64) {
        self.emu.shared().tenant().clock_offset_ms += ms;
    }

    /// Switch the knobs (`PUT /_emulator/faults`).
    pub async fn set_faults(&self, faults: &provision::emulator::Faults) {
        let resp = self
            .http
            .put(format!("{}/_emulator/faults", base_url(&self.emu)))
            .json(faults)
            .send()
            .await
            .expect("faults");
        assert_eq!(resp.status().as_u16(), 200);
    }

    pub async fn start_with(config: Config) -> Tenant {
        let emu = emulator::start(config).await.expect("emulator starts");
        Tenant {
            emu,
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::new(),
        }
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
        let dst = self.dir.path().join(name);
        std::fs::write(&dst, text).expect("write manifest");
        dst
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

    /// The binary pointed at the emulator, signed in as `client_id`, not started yet.
    pub fn command(
        &self,
        args: &[&str],
        client_id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> tokio::process::Command {
        let r = &self.emu.ready;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("PROVISION_GRAPH_URL", &r.graph_url)
            .env("PROVISION_AUTHORITY_URL", &r.authority_url)
            .env("AZURE_TENANT_ID", &r.tenant_id)
            .env("AZURE_CLIENT_ID", client_id)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("PROVISION_AUTH", "client-secret")
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub async fn admin_token(&self) -> String {
        let r = &self.emu.ready;
        let url = format!("{}/{}/oauth2/v2.0/token", base_url(&self.emu), r.tenant_id);
        let v: Value = self
            .http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", r.client_id.as_str()),
                ("client_secret", r.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token json");
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

    pub async fn clear_log(&self) {
        // The log is read relative to a mark: remember how many entries exist now.
        let n = self.requests_all().await.len();
        MARK.with(|m| m.set(n));
    }

    async fn requests_all(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_emulator/requests", base_url(&self.emu)))
            .send()
            .await
            .expect("request log")
            .json()
            .await
            .expect("request log json");
        match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("requests").or_else(|| o.remove("value")) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Graph requests (sign-in and control excluded) since the last `clear_log`.
    pub async fn graph_requests(&self) -> Vec<Value> {
        let mark = MARK.with(|m| m.get());
        self.requests_all()
            .await
            .into_iter()
            .skip(mark)
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.to_ascii_lowercase().starts_with("/v1.0"))
            })
            .collect()
    }
}

thread_local! {
    static MARK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `METHOD /path` of each write, in log order.
pub fn writes(log: &[Value]) -> Vec<String> {
    log.iter()
        .filter(|r| r["method"].as_str() != Some("GET"))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Sequential rounds of the logged requests (`emulator::log::sequential_rounds`).
pub fn rounds(log: &[Value]) -> usize {
    provision::emulator::log::sequential_rounds(log.iter().map(|r| {
        (
            r["started_at"].as_str().unwrap_or_default(),
            r["finished_at"].as_str().unwrap_or_default(),
        )
    }))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
