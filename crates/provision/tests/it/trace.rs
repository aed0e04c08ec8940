//! `--trace FILE`: a full job (apply as the administrator client, then `token` with a device
//! code and again with the cached refresh token) writes every exchange as a JSON line, and no
//! secret or token it used is in the file.

use serde_json::Value;

use crate::signin::run;
use crate::support::*;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_traced_job_has_every_exchange_and_no_secret() {
    let t = Tenant::start().await;
    let r = t.emu.ready.clone();
    let m = t.manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let trace = t.dir.path().join("trace.jsonl");
    let tr = trace.to_str().unwrap();
    let secret_env = [
        ("AZURE_CLIENT_ID", r.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", r.client_secret.as_str()),
        ("PROVISION_AUTH", "client-secret"),
    ];
    let out = run(&t, &["apply", m, "--yes", "--trace", tr], &secret_env, None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let apply = lines(&trace);
    // Sign-in, then every Graph request of the apply, each with what a bug report needs.
    let token_line = &apply[0];
    assert_eq!(token_line["method"], "POST");
    assert!(
        token_line["url"]
            .as_str()
            .unwrap()
            .ends_with("/oauth2/v2.0/token")
    );
    assert_eq!(token_line["status"], 200);
    assert!(
        token_line["request_body"]
            .as_str()
            .unwrap()
            .contains("client_secret=[redacted]")
    );
    assert_eq!(
        token_line["response_body"]["access_token"],
        Value::Null,
        "body is a string"
    );
    let body: Value = serde_json::from_str(token_line["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(body["access_token"], "[redacted]");
    let graph: Vec<&Value> = apply
        .iter()
        .filter(|l| l["url"].as_str().unwrap().starts_with(&r.graph_url))
        .collect();
    assert!(graph.len() >= 5, "{apply:?}");
    for l in &graph {
        assert!(l["status"].is_u64() && l["duration_ms"].is_u64(), "{l}");
        assert!(
            l["request_id"].is_string() && l["client_request_id"].is_string(),
            "{l}"
        );
    }
    assert!(graph.iter().any(|l| l["method"] == "PATCH" && l["status"] == 201));

    // The app's own sign-in: device code, then the cached refresh token (PROVISION_TRACE).
    let out = run(&t, &["token", m], &[("PROVISION_TRACE", tr)], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let app_token = stdout(&out).trim().to_owned();
    let device = lines(&trace);
    let start = device
        .iter()
        .find(|l| l["url"].as_str().unwrap().ends_with("/devicecode"))
        .expect("the devicecode request is traced");
    let started: Value = serde_json::from_str(start["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(started["device_code"], "[redacted]");
    assert!(started["user_code"].is_string());
    assert!(device.iter().any(|l| {
        l["request_body"]
            .as_str()
            .is_some_and(|b| b.contains("device_code=[redacted]"))
    }));
    let out = run(&t, &["token", m], &[("PROVISION_TRACE", tr)], None).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let refreshed = lines(&trace);
    assert!(refreshed.iter().any(|l| {
        l["request_body"]
            .as_str()
            .is_some_and(|b| b.contains("grant_type=refresh_token") && b.contains("refresh_token=[redacted]"))
    }));
    let cache_dir = t.dir.path().join("signin-cache");
    let refresh_tokens: Vec<String> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter_map(|s| serde_json::from_str::<Value>(&s).ok())
        .filter_map(|v| v["refresh_token"].as_str().map(str::to_owned))
        .collect();
    assert!(!refresh_tokens.is_empty());

    // Nothing secret in any of the three traces: the client secret, the access tokens (the
    // app's printed one; the administrator's and every other is a JWT, so no JWT shape at all),
    // the refresh token; the device code was shown redacted above.
    for text in
        [&apply, &device, &refreshed].map(|ls| ls.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"))
    {
        assert!(!text.contains(&r.client_secret));
        assert!(!text.contains(&app_token));
        assert!(!text.contains("eyJ"), "a JWT in the trace");
        for rt in &refresh_tokens {
            assert!(!text.contains(rt.as_str()));
        }
    }
    t.emu.shutdown().await;
}
