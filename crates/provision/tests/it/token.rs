//! `provision token`: the last step of the portal procedure against the emulator. Apply the
//! threat-protection manifest, sign in as the provisioned public client with a device code
//! (approved by the emulator), verify the token; and the failures a person can fix: consent
//! missing (AADSTS65001) and not a public client (AADSTS7000218).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::signin::run;
use crate::support::*;

fn claims(token: &str) -> Value {
    provision::auth::unverified_claims(token.trim()).expect("a JWT on stdout")
}

fn scp(token: &str) -> BTreeSet<String> {
    claims(token)["scp"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_then_token_verify_and_the_fixable_failures() {
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // The whole procedure: a token for the Defender API whose scp holds the manifest's scopes.
    let out = run(&t, &["token", m, "--verify", "-v"], &[], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let token = stdout(&out);
    assert_eq!(token.lines().count(), 1, "only the token on stdout: {token}");
    let want: BTreeSet<String> = ["AdvancedHunting.Read", "Incident.Read"].map(String::from).into();
    assert!(scp(&token).is_superset(&want), "{:?}", scp(&token));
    let c = claims(&token);
    assert_eq!(c["aud"], "https://api.security.microsoft.com");
    assert_eq!(c["tid"], t.emu.ready.tenant_id.as_str());
    let err = stderr(&out);
    for check in ["signature", "aud", "iss", "tid", "appid", "exp", "nbf", "scp"] {
        assert!(err.contains(&format!("verified {check}: ")), "{check}: {err}");
    }
    assert!(err.contains("To sign in, open"), "{err}");
    assert!(!err.contains("eyJ"), "no token on stderr: {err}");

    // The output file works as well as the manifest; --decode shows the claims, not the token.
    let outfile = t.dir.path().join("out/mtp-api-client.json");
    let out = run(&t, &["token", outfile.to_str().unwrap(), "--decode"], &[], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let decoded: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(decoded["header"]["alg"], "RS256");
    assert_eq!(decoded["claims"]["appid"], c["appid"]);
    assert!(!stdout(&out).contains("eyJ"));
    assert!(
        !stderr(&out).contains("To sign in"),
        "the cached sign-in is used: {}",
        stderr(&out)
    );

    // Consent removed: AADSTS65001, the scopes and the admin-consent URL.
    let sp_id = t
        .get("/servicePrincipals(appId='8ee8fdad-f234-4243-8f3b-15c294843740')")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            c["appid"].as_str().unwrap()
        ))
        .await;
    let grants = t
        .get(&format!(
            "/oauth2PermissionGrants?$filter=clientId%20eq%20'{}'%20and%20resourceId%20eq%20'{sp_id}'",
            client_sp["id"].as_str().unwrap()
        ))
        .await;
    for g in grants["value"].as_array().unwrap() {
        let (s, _) = t
            .graph(
                reqwest::Method::DELETE,
                &format!("/oauth2PermissionGrants/{}", g["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(s, 204);
    }
    let out = run(&t, &["token", m, "--verify"], &[], None).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("AADSTS65001"), "{err}");
    assert!(err.contains("`AdvancedHunting.Read`, `Incident.Read`"), "{err}");
    assert!(
        err.contains(&format!(
            "/adminconsent?client_id={}",
            c["appid"].as_str().unwrap()
        )),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    // Consent back (apply again), then the app stops being a public client: AADSTS7000218 and
    // the manifest key that fixes it.
    let text = std::fs::read_to_string(m).unwrap().replace(
        "allow_public_client_flows = true",
        "allow_public_client_flows = false",
    );
    std::fs::write(m, text).unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&t, &["token", m], &[], None).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("AADSTS7000218"), "{err}");
    assert!(
        err.contains("`allow_public_client_flows = true` under `[app.public_client]`"),
        "{err}"
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_every_claim_that_is_wrong() {
    use provision::auth::verify::{Expected, verify};
    let t = Tenant::start().await;
    let m = t.manifest("threat-protection.toml");
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(&t, &["token", m.to_str().unwrap()], &[], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    let client = claims(&token)["appid"].as_str().unwrap().to_owned();
    let authority = base_url(&t.emu);
    let right = Expected {
        tenant_id: t.emu.ready.tenant_id.clone(),
        client_id: client.clone(),
        audiences: vec!["https://api.security.microsoft.com".into()],
        scopes: ["Incident.Read".to_string()].into(),
        roles: None,
    };
    let now = chrono::Utc::now().timestamp();
    let report = verify(&t.http, &authority, &token, &right, now).await.unwrap();
    assert!(report.ok(), "{report:?}");

    let wrong = Expected {
        audiences: vec!["https://graph.microsoft.com".into()],
        scopes: ["Incident.Read".to_string(), "Incident.ReadWrite".to_string()].into(),
        client_id: "00000000-0000-0000-0000-000000000001".into(),
        ..right.clone()
    };
    let report = verify(&t.http, &authority, &token, &wrong, now).await.unwrap();
    let failed: Vec<&str> = report.failures().iter().map(|c| c.name).collect();
    assert_eq!(failed, ["aud", "appid", "scp"], "{report:?}");
    assert!(report.failures()[2].detail.contains("lacks `Incident.ReadWrite`"));

    // An hour and a half later the token has expired; a forged signature does not verify.
    let report = verify(&t.http, &authority, &token, &right, now + 5400)
        .await
        .unwrap();
    assert_eq!(
        report.failures().iter().map(|c| c.name).collect::<Vec<_>>(),
        ["exp"]
    );
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    let report = verify(&t.http, &authority, &parts.join("."), &right, now)
        .await
        .unwrap();
    assert_eq!(
        report.failures().iter().map(|c| c.name).collect::<Vec<_>>(),
        ["signature"]
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_procedure_on_the_builtin_emulator() {
    // README's emulator procedure: apply --emulator, then token --emulator --verify, no tenant and
    // no credentials (only a private state file and cache).
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("threat-protection.toml");
    std::fs::copy(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("manifests/threat-protection.toml"),
        &m,
    )
    .unwrap();
    let state = dir.path().join("emulator.json");
    let provision = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
                .args(&args)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", &dir)
                .env("PROVISION_CACHE_DIR", dir.join("cache"))
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let common = |cmd: &str| -> Vec<String> {
        vec![
            cmd.into(),
            m.display().to_string(),
            "--emulator".into(),
            "--emulator-state".into(),
            state.display().to_string(),
        ]
    };
    let mut apply = common("apply");
    apply.push("--yes".into());
    let out = provision(apply).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut token = common("token");
    token.push("--verify".into());
    let out = provision(token).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want: BTreeSet<String> = ["AdvancedHunting.Read", "Incident.Read"].map(String::from).into();
    assert!(scp(&stdout(&out)).is_superset(&want));
    assert!(
        stderr(&out).contains("verified scp: holds `AdvancedHunting.Read`, `Incident.Read`"),
        "{}",
        stderr(&out)
    );
    // The emulator listens on another port each run; its sign-in is remembered all the same.
    let mut again = common("token");
    again.push("-v".into());
    let out = provision(again).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("signed in (cached sign-in)"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_code_declined_or_left_to_expire_exits_4() {
    use tokio::io::AsyncBufReadExt;
    let mut config = provision::emulator::Config::local();
    config.manual_approval = true;
    config.identity.device_code_lifetime_secs = 2;
    config.identity.device_code_interval_secs = 1;
    let t = Tenant::start_with(config).await;
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let out = t.provision(&["apply", m, "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Nobody enters the code: it expires.
    let out = run(&t, &["token", m], &[], None).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("AADSTS70019"), "{err}");
    assert!(err.contains("help: the code was not entered in time"), "{err}");

    // The user declines in the browser.
    let r = &t.emu.ready;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(["token", m])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", t.dir.path())
        .env("PROVISION_CACHE_DIR", t.dir.path().join("signin-cache"))
        .env("PROVISION_AUTHORITY_URL", &r.authority_url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let prompt = lines.next_line().await.unwrap().unwrap();
    let user_code = prompt
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no code in {prompt}"));
    let resp = t
        .http
        .post(format!(
            "{}/_emulator/devicecode/{user_code}/deny",
            base_url(&t.emu)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let mut rest = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        rest.push_str(&l);
        rest.push('\n');
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(4), "{rest}");
    assert!(rest.contains("AADSTS65004"), "{rest}");
    assert!(rest.contains("help: the sign-in was declined"), "{rest}");
    t.emu.shutdown().await;
}
