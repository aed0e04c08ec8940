//! Sign-in in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, the `fantoccini` client) plays the person at the emulator's pages.
//!
//! - `provision apply --auth browser` (no `--client-id`: the Microsoft Graph Command Line
//!   Tools) with `$BROWSER` handing the URL to the test: sign-in page, consent page (the
//!   permissions by name), accepted, apply finished; the sign-in cached (mode 0600) and redeemed
//!   by the next command without a browser.
//! - `provision apply --auth device-code` against an emulator with `--manual-approval`: the
//!   device login page used by a person (code, sign-in, consent) instead of the control endpoint.
//! - `provision token --browser` as the provisioned app, then `--verify`.
//! - The errors: a redirect URI the app lacks (AADSTS50011 on the page, the tool names the URI
//!   to add), Cancel on the consent page (AADSTS65004), Conditional Access blocking either flow
//!   (AADSTS53003, the advice to try the other one).
//!
//! Every page is saved as a PNG under `target/browser-screenshots/`. Without chromium and
//! chromedriver (`.ci/run` installs them) each test prints why it is skipped and passes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,900",
];

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A chromedriver with one headless Chromium session, and where its screenshots go.
struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    test: &'static str,
    n: std::cell::Cell<usize>,
}

impl Browser {
    /// `None` (with the reason printed) when chromium or chromedriver is not installed.
    async fn start(test: &'static str) -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (find("chromium"), find("chromedriver")) else {
            eprintln!(
                "skipping {test}: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // chromedriver prints "… started successfully" once it listens.
        let mut lines = BufReader::new(driver.stdout.take().expect("stdout")).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless chromium");
        let shots =
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("target/browser-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Some(Browser {
            client,
            driver,
            _profile: profile,
            shots,
            test,
            n: std::cell::Cell::new(0),
        })
    }

    /// The page's visible text, after saving its screenshot as `{test}-{n}-{name}.png`.
    async fn shot(&self, name: &str) -> String {
        let png = self.client.screenshot().await.expect("screenshot");
        let n = self.n.get() + 1;
        self.n.set(n);
        let path = self.shots.join(format!("{}-{n:02}-{name}.png", self.test));
        std::fs::write(&path, png).expect("write screenshot");
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("page text")
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.expect(css);
        e.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
    }

    /// The sign-in page: the seeded administrator's name and password from the ready line.
    async fn sign_in(&self, t: &Tenant, expect_app: &str) {
        self.sign_in_as(&t.emu.ready.admin_user, &t.emu.ready.admin_password, expect_app)
            .await;
    }

    async fn sign_in_as(&self, user: &str, password: &str, expect_app: &str) {
        let text = self.shot("sign-in").await;
        assert!(text.contains("Sign in"), "{text}");
        assert!(
            text.contains(expect_app),
            "the sign-in page names the app: {text}"
        );
        self.fill("input[name=loginfmt]", user).await;
        self.fill("input[name=passwd]", password).await;
        self.click("#idSIButton9").await;
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }
}

/// A `$BROWSER` for provision that hands the URL to the test through a FIFO (the test's read
/// waits for it: no polling).
struct Handoff {
    script: PathBuf,
    fifo: PathBuf,
}

impl Handoff {
    fn new(dir: &Path) -> Handoff {
        let fifo = dir.join("browser-urls");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let script = dir.join("hand-to-test-browser");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '%s\\n' \"$1\" > '{}'\n", fifo.display()),
        )
        .expect("write $BROWSER helper");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Handoff { script, fifo }
    }

    /// The URL provision opened. A provision that never opens a browser fails the test after
    /// two minutes instead of hanging it (the reader is released by opening the FIFO's write end).
    async fn url(&self) -> String {
        let fifo = self.fifo.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo));
        match tokio::time::timeout(std::time::Duration::from_secs(120), read).await {
            Ok(text) => text.expect("join").expect("read the URL").trim().to_owned(),
            Err(_) => {
                let _ = std::fs::OpenOptions::new().write(true).open(&self.fifo);
                panic!("provision did not open a browser within two minutes");
            }
        }
    }
}

/// The real binary against the emulator with an interactive sign-in, its output piped.
fn provision(t: &Tenant, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = crate::signin::command(t, args, env, None);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The whole browser sign-in of `apply --auth browser` up to the consent page; returns the
/// running command.
async fn start_browser_apply(
    t: &Tenant,
    b: &Browser,
    handoff: &Handoff,
    manifest: &str,
    extra: &[(&str, &str)],
) -> tokio::process::Child {
    let mut env = vec![
        ("PROVISION_AUTH", "browser"),
        ("BROWSER", handoff.script.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    let child = provision(t, &["apply", manifest, "--yes", "-v"], &env)
        .spawn()
        .expect("run provision");
    let url = handoff.url().await;
    assert!(url.contains("/oauth2/v2.0/authorize?"), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"), "{url}");
    b.client.goto(&url).await.expect("open the authorize URL");
    child
}

/// Exit code, stdout and stderr together, with the temporary folder and GUIDs filtered, for a
/// snapshot.
fn snapshot(name: &str, out: &Output) {
    let text = format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        code(out),
        stdout(out),
        stderr(out)
    );
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]");
    settings.add_filter(r"127\.0\.0\.1:[0-9]+", "[EMULATOR]");
    settings.add_filter(r"the code [A-Z0-9]{9}", "the code [CODE]");
    settings.add_filter(r"state=[A-Za-z0-9_-]+", "state=[STATE]");
    settings.add_filter(r"code_challenge=[A-Za-z0-9_-]+", "code_challenge=[CHALLENGE]");
    settings.add_filter(r"localhost(%3A|:)[0-9]+", "localhost${1}[PORT]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[GUID]",
    );
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn assert_done(out: &Output, want: i32) -> String {
    let err = stderr(out);
    assert_eq!(code(out), want, "stdout: {}\nstderr: {err}", stdout(out));
    assert!(!err.contains("eyJ"), "no token on stderr: {err}");
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_signs_in_through_the_browser_with_consent_then_from_the_cache() {
    let Some(b) = Browser::start("apply-browser").await else {
        return;
    };
    let t = Tenant::start().await;
    let handoff = Handoff::new(t.dir.path());
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();

    let child = start_browser_apply(&t, &b, &handoff, m, &[]).await;
    b.sign_in(&t, "Microsoft Graph Command Line Tools").await;
    let text = b.shot("consent").await;
    assert!(text.contains("Permissions requested"), "{text}");
    assert!(text.contains("Microsoft Graph Command Line Tools"), "{text}");
    for p in [
        "Application.ReadWrite.All",
        "DelegatedPermissionGrant.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
    ] {
        assert!(text.contains(p), "the consent page lists {p}: {text}");
    }
    // By their display names, as Microsoft Graph publishes them.
    for name in [
        "Read and write all applications",
        "Manage all delegated permission grants",
        "Manage app permission grants and app role assignments",
    ] {
        assert!(text.contains(name), "the consent page shows `{name}`: {text}");
    }
    b.click("#idSIButton9").await;
    let text = b.shot("back-in-provision").await;
    assert!(text.contains("Signed in"), "{text}");
    let out = child.wait_with_output().await.expect("provision ends");
    let err = assert_done(&out, 0);
    assert!(err.contains("signed in (browser)"), "{err}");

    // The consent is the tenant's now: the client's service principal and its grant.
    let sp = t
        .get("/servicePrincipals(appId='14d82eec-204b-4c2f-b7e8-296a70dab67e')")
        .await;
    assert_eq!(sp["displayName"], "Microsoft Graph Command Line Tools");
    let grants = t.get("/oauth2PermissionGrants").await;
    let grant = grants["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["clientId"] == sp["id"])
        .expect("a grant for the CLI tools");
    assert_eq!(grant["consentType"], "Principal");

    // The refresh token is cached (mode 0600); the next command needs no browser.
    let cache = t.dir.path().join("signin-cache");
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let out = provision(
        &t,
        &["plan", m, "--detailed-exitcode", "-v"],
        &[("PROVISION_AUTH", "browser"), ("BROWSER", "/bin/false")],
    )
    .output()
    .await
    .unwrap();
    let err = assert_done(&out, 0);
    assert!(err.contains("signed in (cached sign-in)"), "{err}");

    // Consent withdrawn: the cached sign-in is refused (AADSTS65001) and the browser's consent
    // page asks again.
    let (status, _) = t
        .graph(
            reqwest::Method::DELETE,
            &format!("/oauth2PermissionGrants/{}", grant["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let child = start_browser_apply(&t, &b, &handoff, m, &[]).await;
    b.sign_in(&t, "Microsoft Graph Command Line Tools").await;
    let text = b.shot("consent-again").await;
    assert!(text.contains("Application.ReadWrite.All"), "{text}");
    b.click("#idSIButton9").await;
    let out = child.wait_with_output().await.unwrap();
    let err = assert_done(&out, 0);
    assert!(
        err.contains("AADSTS65001") && err.contains("signed in (browser)"),
        "{err}"
    );
    b.stop().await;
}

/// `--emulator --auth browser`: the in-process emulator's own pages, its administrator's
/// password on stderr; the sign-in is cached under the emulator's stable name, so the next run
/// (another port) redeems it.
#[tokio::test(flavor = "multi_thread")]
async fn the_in_process_emulator_signs_in_through_the_browser() {
    let Some(b) = Browser::start("emulator-browser").await else {
        return;
    };
    // A tenant only for the environment of `provision`; its emulator is not used.
    let t = Tenant::start().await;
    let handoff = Handoff::new(t.dir.path());
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let state = t.dir.path().join("emulator-state.json");
    let state = state.to_str().unwrap();
    let mut child = provision(
        &t,
        &[
            "apply",
            m,
            "--yes",
            "--emulator",
            "--emulator-state",
            state,
            "--auth",
            "browser",
        ],
        &[("BROWSER", handoff.script.to_str().unwrap())],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the emulator's sign-in line");
        if line.starts_with("emulator: sign in as ") {
            break line;
        }
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let (user, password) = (words[4], words[8]);
    let url = handoff.url().await;
    b.client.goto(&url).await.unwrap();
    b.sign_in_as(user, password, "Microsoft Graph Command Line Tools")
        .await;
    let text = b.shot("consent").await;
    assert!(text.contains("Application.ReadWrite.All"), "{text}");
    b.click("#idSIButton9").await;
    let status = child.wait().await.unwrap();
    let mut rest = String::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push_str(&l);
        rest.push('\n');
    }
    assert_eq!(status.code(), Some(0), "{rest}");

    let out = provision(
        &t,
        &[
            "plan",
            m,
            "--detailed-exitcode",
            "-v",
            "--emulator",
            "--emulator-state",
            state,
            "--auth",
            "browser",
        ],
        &[("BROWSER", "/bin/false")],
    )
    .output()
    .await
    .unwrap();
    let err = assert_done(&out, 0);
    assert!(err.contains("signed in (cached sign-in)"), "{err}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_uses_the_device_login_page() {
    let Some(b) = Browser::start("device-login").await else {
        return;
    };
    let mut config = provision::emulator::Config::local();
    config.manual_approval = true;
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    let mut child = provision(
        &t,
        &["apply", m.to_str().unwrap(), "--yes", "-v"],
        &[("PROVISION_AUTH", "device-code")],
    )
    .spawn()
    .unwrap();
    // "To sign in, open URL and enter the code CODE (valid 15 minutes)."
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let prompt = loop {
        let line = lines.next_line().await.unwrap().expect("the device-code prompt");
        if line.contains("enter the code") {
            break line;
        }
    };
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let url = words[words.iter().position(|w| *w == "open").unwrap() + 1];
    let user_code = words[words.iter().position(|w| *w == "code").unwrap() + 1];
    assert!(url.ends_with("/devicelogin"), "{prompt}");
    let rest = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });

    b.client.goto(url).await.unwrap();
    let text = b.shot("enter-code").await;
    assert!(text.contains("Enter code"), "{text}");
    b.fill("input[name=otc]", "WRONGCODE").await;
    b.click("#idSIButton9").await;
    let text = b.shot("wrong-code").await;
    assert!(text.contains("didn't work"), "{text}");
    b.fill("input[name=otc]", user_code).await;
    b.click("#idSIButton9").await;
    b.sign_in(&t, "Microsoft Graph Command Line Tools").await;
    let text = b.shot("consent").await;
    assert!(text.contains("Microsoft Graph Command Line Tools"), "{text}");
    assert!(text.contains("Application.ReadWrite.All"), "{text}");
    b.click("#consent_org").await;
    b.click("#idSIButton9").await;
    let text = b.shot("done").await;
    assert!(text.contains("You have signed in"), "{text}");

    let status = child.wait().await.unwrap();
    let err = rest.await.unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("signed in (device code)"), "{err}");
    // "Consent on behalf of your organization" is an AllPrincipals grant.
    let grants = t.get("/oauth2PermissionGrants").await;
    assert!(
        grants["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["consentType"] == "AllPrincipals"
                && g["scope"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Application.ReadWrite.All")),
        "{grants}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_signs_in_as_the_app_through_the_browser() {
    let Some(b) = Browser::start("token-browser").await else {
        return;
    };
    let t = Tenant::start().await;
    let handoff = Handoff::new(t.dir.path());
    // The manifest asks for browser sign-in: `token` needs no --browser.
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml"))
        .unwrap()
        .replace("# sign_in = \"browser\"", "sign_in = \"browser\"");
    assert!(text.contains("\nsign_in = \"browser\""));
    let m = t.write_manifest("browser.toml", &text);
    let m = m.to_str().unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let child = provision(
        &t,
        &["token", m, "--verify"],
        &[("BROWSER", handoff.script.to_str().unwrap())],
    )
    .spawn()
    .unwrap();
    let url = handoff.url().await;
    b.client.goto(&url).await.unwrap();
    // Admin consent was granted by apply: the sign-in page, then straight back.
    b.sign_in(&t, "Threat Protection API client").await;
    let text = b.shot("back-in-provision").await;
    assert!(text.contains("Signed in"), "{text}");
    let out = child.wait_with_output().await.unwrap();
    let err = assert_done(&out, 0);
    assert!(err.contains("verified scp: "), "{err}");
    let claims = provision::auth::unverified_claims(stdout(&out).trim()).unwrap();
    assert_eq!(claims["aud"], "https://api.security.microsoft.com");
    b.stop().await;
}

/// No browser needed: an app whose output file lists no loopback redirect URI is refused before
/// a browser would open on AADSTS50011, with the URI to add.
#[tokio::test(flavor = "multi_thread")]
async fn token_browser_names_the_missing_loopback_redirect_uri() {
    let t = Tenant::start().await;
    let text = std::fs::read_to_string(t.manifest("threat-protection.toml"))
        .unwrap()
        .replace(
            "\"https://portal.azure.com\", \"http://localhost\"",
            "\"https://portal.azure.com\"",
        );
    let m = t.write_manifest("no-loopback.toml", &text);
    let m = m.to_str().unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = provision(&t, &["token", m, "--browser"], &[("BROWSER", "/bin/false")])
        .output()
        .await
        .unwrap();
    let err = assert_done(&out, 4);
    snapshot("token_browser_without_loopback_redirect_uri", &out);
    assert!(
        err.contains("has no loopback redirect URI") && err.contains("AADSTS50011"),
        "{err}"
    );
    assert!(err.contains("add `http://localhost` to `redirect_uris`"), "{err}");
    assert!(!err.contains("open"), "no browser was opened: {err}");
}

/// No browser can be opened: the URL is printed for the person to open, and the wait ends
/// with the timeout's message.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_browser_the_url_is_printed_and_the_wait_times_out() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = provision(
        &t,
        &["apply", m.to_str().unwrap(), "--yes"],
        &[
            ("PROVISION_AUTH", "browser"),
            ("BROWSER", "/nonexistent/browser"),
            ("PROVISION_BROWSER_TIMEOUT_SECS", "1"),
        ],
    )
    .output()
    .await
    .unwrap();
    let err = assert_done(&out, 4);
    assert!(
        err.contains("Could not open a browser (`/nonexistent/browser`"),
        "{err}"
    );
    assert!(err.contains("To sign in, open: http://127.0.0.1:"), "{err}");
    assert!(err.contains("/oauth2/v2.0/authorize?"), "{err}");
    assert!(err.contains("did not come back within 1 second"), "{err}");
    assert!(err.contains("use --auth device-code"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_sign_in_errors_say_what_to_fix() {
    let Some(b) = Browser::start("errors").await else {
        return;
    };
    let t = Tenant::start().await;
    let handoff = Handoff::new(t.dir.path());
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();

    // A client without a loopback redirect URI: AADSTS50011 on Entra's page; provision gives up
    // after its timeout and names the URI to add.
    let (status, app) = t
        .graph(
            reqwest::Method::POST,
            "/applications",
            Some(
                json!({"displayName": "No loopback client", "isFallbackPublicClient": true,
                        "publicClient": {"redirectUris": ["https://portal.azure.com"]}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let client_id = app["appId"].as_str().unwrap();
    let child = start_browser_apply(
        &t,
        &b,
        &handoff,
        m,
        &[
            ("PROVISION_CLIENT_ID", client_id),
            ("PROVISION_BROWSER_TIMEOUT_SECS", "3"),
        ],
    )
    .await;
    let text = b.shot("redirect-uri-mismatch").await;
    assert!(text.contains("AADSTS50011"), "{text}");
    assert!(text.contains(client_id), "{text}");
    let out = child.wait_with_output().await.unwrap();
    let err = assert_done(&out, 4);
    assert!(err.contains("did not come back within 3 seconds"), "{err}");
    assert!(
        err.contains("AADSTS50011") && err.contains("`http://localhost`"),
        "{err}"
    );

    // Cancel on the consent page: access_denied, AADSTS65004.
    let child = start_browser_apply(&t, &b, &handoff, m, &[]).await;
    b.sign_in(&t, "Microsoft Graph Command Line Tools").await;
    b.shot("consent-before-cancel").await;
    b.click("#idBtn_Back").await;
    let text = b.shot("cancelled").await;
    assert!(text.contains("did not complete"), "{text}");
    let out = child.wait_with_output().await.unwrap();
    let err = assert_done(&out, 4);
    snapshot("browser_consent_cancelled", &out);
    assert!(err.contains("AADSTS65004"), "{err}");
    assert!(err.contains("run the command again and accept"), "{err}");

    // Conditional Access blocks the browser sign-in: the advice is device code...
    let set_policy = |block: Value| {
        let url = format!("{}/_emulator/conditional-access", base_url(&t.emu));
        let http = t.http.clone();
        async move {
            let r = http
                .put(url)
                .json(&json!({ "block": block }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        }
    };
    set_policy(json!(["authorization_code"])).await;
    let child = start_browser_apply(&t, &b, &handoff, m, &[]).await;
    b.sign_in(&t, "Microsoft Graph Command Line Tools").await;
    let text = b.shot("blocked-browser").await;
    assert!(text.contains("AADSTS53003"), "{text}");
    let out = child.wait_with_output().await.unwrap();
    let err = assert_done(&out, 4);
    assert!(
        err.contains("AADSTS53003") && err.contains("--auth device-code"),
        "{err}"
    );

    // ... and device code blocked: the advice is the browser (the emulator approves as the
    // administrator, whom the policy stops).
    set_policy(json!(["device_code"])).await;
    let out = provision(&t, &["apply", m, "--yes"], &[("PROVISION_AUTH", "device-code")])
        .output()
        .await
        .unwrap();
    let err = assert_done(&out, 4);
    snapshot("device_code_blocked_by_conditional_access", &out);
    assert!(
        err.contains("AADSTS53003") && err.contains("--auth browser"),
        "{err}"
    );
    b.stop().await;
}

/// The pages and the token endpoint over plain HTTP (no browser needed): what Entra enforces on
/// the authorization code flow, each with Entra's error.
#[tokio::test(flavor = "multi_thread")]
async fn authorization_codes_follow_entras_rules() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let t = Tenant::start().await;
    let r = &t.emu.ready;
    let base = base_url(&t.emu);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cli = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let scope = "https://graph.microsoft.com/Application.ReadWrite.All offline_access openid";
    let authorize = |redirect_uri: &'static str| {
        let url = format!("{base}/{}/oauth2/v2.0/authorize", r.tenant_id);
        let http = http.clone();
        let challenge = challenge.clone();
        async move {
            http.get(url)
                .query(&[
                    ("client_id", cli),
                    ("response_type", "code"),
                    ("redirect_uri", redirect_uri),
                    ("scope", scope),
                    ("state", "st-1"),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                    ("nonce", "n-0S6_WzA2Mj"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // An unregistered redirect URI: Entra's error page, no redirect.
    let page = authorize("https://evil.example.com/").await;
    assert_eq!(page.status().as_u16(), 400);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("AADSTS50011") && text.contains("https://evil.example.com/"),
        "{text}"
    );

    // Sign in (a wrong password first), consent, redirect with code and state.
    let flow_token = |html: &str| {
        let at = html.find("name=\"flowToken\" value=\"").unwrap() + 24;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    };
    let sign_in = |password: String, token: String| {
        let url = format!("{base}/{}/login", r.tenant_id);
        let http = http.clone();
        let user = r.admin_user.clone();
        async move {
            http.post(url)
                .form(&[("flowToken", token), ("loginfmt", user), ("passwd", password)])
                .send()
                .await
                .unwrap()
        }
    };
    let password = r.admin_password.clone();
    let code_for = |port: u16| {
        let password = password.clone();
        let authorize = &authorize;
        let sign_in = &sign_in;
        let flow_token = &flow_token;
        let url = format!("{base}/{}/Consent/Set", r.tenant_id);
        let http = http.clone();
        async move {
            let redirect: &'static str = if port == 1 {
                "http://localhost:1"
            } else {
                "http://localhost:2"
            };
            let html = authorize(redirect).await.text().await.unwrap();
            assert!(
                html.contains("name=\"loginfmt\"") && html.contains("name=\"passwd\""),
                "{html}"
            );
            let resp = sign_in(password, flow_token(&html)).await;
            let resp = if resp.status().as_u16() == 200 {
                let html = resp.text().await.unwrap();
                assert!(html.contains("Application.ReadWrite.All"), "{html}");
                http.post(url)
                    .form(&[("flowToken", flow_token(&html)), ("accept", "1".into())])
                    .send()
                    .await
                    .unwrap()
            } else {
                resp
            };
            assert_eq!(resp.status().as_u16(), 302);
            let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
            assert_eq!(
                (location.host_str(), location.port()),
                (Some("localhost"), Some(port))
            );
            let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
            assert_eq!(q["state"], "st-1");
            q["code"].clone()
        }
    };
    let html = authorize("http://localhost:1").await.text().await.unwrap();
    let wrong = sign_in("wrong".into(), flow_token(&html))
        .await
        .text()
        .await
        .unwrap();
    assert!(wrong.contains("AADSTS50126"), "{wrong}");

    // `response_mode=form_post` (MSAL Python's): the answer is a form posted to the redirect
    // URI, with the code and state as fields.
    let html = http
        .get(format!("{base}/{}/oauth2/v2.0/authorize", r.tenant_id))
        .query(&[
            ("client_id", cli),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:3"),
            ("scope", scope),
            ("state", "st-2"),
            ("response_mode", "form_post"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resp = sign_in(r.admin_password.clone(), flow_token(&html)).await;
    let html = resp.text().await.unwrap();
    let html = if html.contains("Consent/Set") {
        http.post(format!("{base}/{}/Consent/Set", r.tenant_id))
            .form(&[("flowToken", flow_token(&html)), ("accept", "1".into())])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    } else {
        html
    };
    assert!(
        html.contains("<form method=\"post\" action=\"http://localhost:3/\">")
            && html.contains("name=\"code\"")
            && html.contains("name=\"state\" value=\"st-2\""),
        "{html}"
    );

    let redeem = |code: String, redirect_uri: &'static str, verifier: &'static str| {
        let url = format!("{base}/{}/oauth2/v2.0/token", r.tenant_id);
        let http = http.clone();
        async move {
            let resp = http
                .post(url)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", cli),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect_uri),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let entra = |body: &Value, code: u64| {
        assert_eq!(body["error_codes"], json!([code]), "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(&format!("AADSTS{code}: ")),
            "{body}"
        );
    };
    let code = code_for(1).await;
    let (status, body) = redeem(code.clone(), "http://localhost:1", "not-the-verifier").await;
    assert_eq!(status, 400);
    entra(&body, 501481);
    // A code is spent by its first redemption.
    let (_, body) = redeem(code, "http://localhost:1", verifier).await;
    entra(&body, 54005);
    let code = code_for(1).await;
    let (_, body) = redeem(code, "http://localhost:2", verifier).await;
    entra(&body, 500112);
    let code = code_for(2).await;
    let (status, body) = redeem(code, "http://localhost:2", verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = provision::auth::unverified_claims(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["appid"], cli);
    assert!(
        claims["scp"]
            .as_str()
            .unwrap()
            .contains("Application.ReadWrite.All")
    );
    assert!(body["refresh_token"].is_string());
    let id_token = provision::auth::unverified_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        id_token["nonce"], "n-0S6_WzA2Mj",
        "the id token carries the nonce"
    );
    assert_eq!(id_token["aud"], cli);
    let (_, body) = redeem("unknown".into(), "http://localhost:2", verifier).await;
    entra(&body, 70000);

    // The request log keeps the sign-in form without the password, codes or verifiers.
    let log = http
        .get(format!("{base}/_emulator/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("/login"), "the sign-in form is logged");
    for secret in [r.admin_password.as_str(), verifier] {
        assert!(!log.contains(secret), "`{secret}` in the request log");
    }
}
