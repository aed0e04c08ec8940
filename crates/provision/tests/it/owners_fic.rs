//! Issue 17, owners and federated identity credentials: the manifest keys planned, applied and
//! converged under both emulator profiles; the signed-in identity kept as an owner; the rules
//! Graph enforces on them, with Graph's errors; import writing them as keys (round trip); and
//! the GitHub Actions example end to end: provision an app with a federated credential, then
//! sign in as it with GitHub's OIDC token and no stored secret.

use provision::emulator::identity::keys::SigningKey;
use provision::emulator::identity::token::{self, Claims, ClientAuth, Issue, TokenVersion};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_profiles;
use crate::support::*;

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Adding owners needs `Application.ReadWrite.All` *and* `Directory.Read.All`
/// (application-post-owners); resolving a user principal name needs `Directory.Read.All` or
/// `User.Read.All` (user-get). The seeded administrator has neither read permission.
const OWNER_ROLES: &[&str] = &[
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];

/// An app-only Graph token holding `roles`, whose `oid` is `oid` (the identity apply runs as).
fn token_as(t: &Tenant, oid: &str, roles: &[&str]) -> String {
    let shared = t.emu.shared();
    let tenant = shared.tenant();
    let issue = Issue {
        version: TokenVersion::V1,
        authority: &shared.base_url,
        tenant_id: tenant.tenant_id(),
        audience: "https://graph.microsoft.com",
        client_id: &t.emu.ready.reader_client_id,
        client_auth: ClientAuth::Secret,
        now: chrono::Utc::now().timestamp(),
        lifetime_secs: 3600,
    };
    let claims = Claims::app_only(&issue, oid, roles.iter().map(|r| (*r).to_owned()).collect());
    token::issue(&shared.signing_key, &claims).unwrap()
}

async fn run(t: &Tenant, args: &[&str], token: &str) -> std::process::Output {
    crate::permissions::run_with_token(t, args, token).await
}

fn domain(t: &Tenant) -> String {
    t.emu.shared().tenant().domain().to_owned()
}

/// `POST /applications/{id}/owners/$ref` as `token` (adding owners needs Directory.Read.All,
/// which the seeded administrator lacks): the status Graph answers.
async fn add_owner(t: &Tenant, token: &str, object_id: &str, owner: &str) -> u16 {
    t.http
        .post(format!(
            "{}/applications/{object_id}/owners/$ref",
            t.emu.ready.graph_url
        ))
        .bearer_auth(token)
        .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{owner}")}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn user_id(t: &Tenant, name: &str) -> String {
    let upn = format!("{name}@{}", domain(t));
    t.emu.shared().tenant().user(&upn).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// exit code, stdout and stderr together, with ids and the tenant's domain made stable.
fn shown(t: &Tenant, o: &std::process::Output) -> String {
    let text = format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        stdout(o),
        stderr(o)
    );
    let guid = regex_lite_guid(&text);
    guid.replace(&domain(t), "[DOMAIN]")
}

/// Every GUID replaced by `[GUID]` (ids are drawn fresh on every run).
fn regex_lite_guid(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let shape = [8, 4, 4, 4, 12];
    while i < text.len() {
        let mut j = i;
        let mut ok = true;
        for (k, n) in shape.iter().enumerate() {
            if j + n > bytes.len() || !bytes[j..j + n].iter().all(u8::is_ascii_hexdigit) {
                ok = false;
                break;
            }
            j += n;
            if k < 4 {
                if bytes.get(j) != Some(&b'-') {
                    ok = false;
                    break;
                }
                j += 1;
            }
        }
        if ok && (i == 0 || !bytes[i - 1].is_ascii_hexdigit()) {
            out.push_str("[GUID]");
            i = j;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn manifest(t: &Tenant, bob: &str, main_branch: &str, with_k8s: bool) -> String {
    let d = domain(t);
    let k8s = if with_k8s {
        "\n[[app.federated_credentials]]\nname = \"aks\"\nissuer = \"https://oidc.example.com/cluster\"\nsubject = \"system:serviceaccount:infra:deployer\"\ndescription = \"the cluster's deployer\"\n"
    } else {
        ""
    };
    format!(
        r#"[app]
unique_name = "ci-deployer"
display_name = "CI deployer"
owners = ["alice@{d}", {bob}]

[[app.federated_credentials]]
name = "github-main"
github = {{ repository = "contoso/infra", branch = "{main_branch}" }}

[[app.federated_credentials]]
name = "github-pr"
github = {{ repository = "contoso/infra", pull_request = true }}
{k8s}"#
    )
}

async fn owners_of(t: &Tenant, object_id: &str) -> Vec<String> {
    let v = t.get(&format!("/applications/{object_id}/owners")).await;
    let mut ids: Vec<String> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn fics_of(t: &Tenant, object_id: &str) -> Vec<(String, String)> {
    let v = t
        .get(&format!("/applications/{object_id}/federatedIdentityCredentials"))
        .await;
    let mut out: Vec<(String, String)> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

both_profiles!(owners_and_federated_credentials_converge);
async fn owners_and_federated_credentials_converge(profile: Profile) {
    let t = Tenant::start().await;
    t.use_profile(profile).await;
    let me = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            t.emu.ready.reader_client_id
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = token_as(&t, &me, OWNER_ROLES);
    let (alice, bob) = (user_id(&t, "alice"), user_id(&t, "bob"));
    let m = t.write_manifest("ci.toml", &manifest(&t, &format!("\"{bob}\""), "main", true));
    let m = m.to_str().unwrap();

    let plan = run(&t, &["plan", m], &token).await;
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    if profile == Profile::Default {
        insta::assert_snapshot!("owners_fic_plan_fresh", shown(&t, &plan));
    }
    let apply = run(&t, &["apply", m, "--yes"], &token).await;
    assert_eq!(code(&apply), 0, "{}", shown(&t, &apply));
    let app = t.get("/applications(uniqueName='ci-deployer')").await;
    let object_id = app["id"].as_str().unwrap().to_owned();
    let mut want = vec![alice.clone(), bob.clone()];
    want.sort();
    assert_eq!(owners_of(&t, &object_id).await, want);
    assert_eq!(
        fics_of(&t, &object_id).await,
        [
            ("aks".into(), "system:serviceaccount:infra:deployer".into()),
            (
                "github-main".into(),
                "repo:contoso/infra:ref:refs/heads/main".into()
            ),
            ("github-pr".into(), "repo:contoso/infra:pull_request".into()),
        ]
    );
    let again = run(&t, &["plan", m, "--detailed-exitcode"], &token).await;
    assert_eq!(code(&again), 0, "{}", shown(&t, &again));

    // The signed-in identity made an owner by hand: not listed, never removed.
    let (s, body) = t
        .graph(
            Method::POST,
            &format!("/applications/{object_id}/owners/$ref"),
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{me}")})),
        )
        .await;
    // The administrator client lacks Directory.Read.All: Graph's rule for adding owners.
    assert_eq!(s, 403, "{body}");
    assert_eq!(add_owner(&t, &token, &object_id, &me).await, 204);

    // Bob is dropped, main becomes trunk (in place), the cluster credential goes.
    t.write_manifest("ci.toml", &manifest(&t, "", "trunk", false));
    let plan = run(&t, &["plan", m, "--detailed-exitcode"], &token).await;
    assert_eq!(code(&plan), 2, "{}", shown(&t, &plan));
    let text = stdout(&plan);
    assert!(
        !text.contains(&format!("- object_id = \"{me}\"")),
        "the signed-in identity is never removed:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "the signed-in identity {me}: kept although `owners` does not list it"
        )),
        "{text}"
    );
    if profile == Profile::Default {
        insta::assert_snapshot!("owners_fic_plan_changes", shown(&t, &plan));
        let json_plan = run(&t, &["plan", m, "--format", "json"], &token).await;
        let doc: Value = serde_json::from_str(&stdout(&json_plan)).unwrap();
        let kept = doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["kind"] == "owner"
                    && c["action"] == "no-op"
                    && c["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("signed-in identity"))
            })
            .cloned();
        assert!(kept.is_some(), "{doc:#}");
    }
    let apply = run(&t, &["apply", m, "--yes"], &token).await;
    assert_eq!(code(&apply), 0, "{}", shown(&t, &apply));
    let mut want = vec![alice.clone(), me.clone()];
    want.sort();
    assert_eq!(owners_of(&t, &object_id).await, want);
    assert_eq!(
        fics_of(&t, &object_id).await,
        [
            (
                "github-main".into(),
                "repo:contoso/infra:ref:refs/heads/trunk".into()
            ),
            ("github-pr".into(), "repo:contoso/infra:pull_request".into()),
        ]
    );
    let again = run(&t, &["plan", m, "--detailed-exitcode"], &token).await;
    assert_eq!(code(&again), 0, "{}", shown(&t, &again));

    // Without the keys, both are left alone.
    let bare = t.write_manifest(
        "bare.toml",
        "[app]\nunique_name = \"ci-deployer\"\ndisplay_name = \"CI deployer\"\n",
    );
    let plan = run(
        &t,
        &["plan", bare.to_str().unwrap(), "--detailed-exitcode"],
        &token,
    )
    .await;
    assert_eq!(code(&plan), 0, "{}", shown(&t, &plan));
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_the_tenant_does_not_have_is_a_plan_problem() {
    let t = Tenant::start().await;
    let token = token_as(&t, &uuid::Uuid::new_v4().to_string(), OWNER_ROLES);
    let missing = "0b1f0000-0000-4000-8000-000000000000";
    let m = t.write_manifest(
        "ci.toml",
        &format!(
            "[app]\nunique_name = \"ci-deployer\"\ndisplay_name = \"CI deployer\"\nowners = [\"carol@{}\", \"{missing}\"]\n",
            domain(&t)
        ),
    );
    let out = run(&t, &["plan", m.to_str().unwrap()], &token).await;
    assert_eq!(code(&out), 3);
    insta::assert_snapshot!(
        "owners_fic_unknown_owner",
        shown(&t, &out).replace(m.to_str().unwrap(), "ci.toml")
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_rules_for_owners_and_federated_credentials() {
    let t = Tenant::start().await;
    let mut text = String::from(
        "[app]\nunique_name = \"ci\"\ndisplay_name = \"CI\"\nowners = [\"alice@contoso.com\", \"ALICE@contoso.com\", \"alice\"]\n",
    );
    text.push_str("\n[[app.federated_credentials]]\nname = \"main\"\ngithub = { repository = \"contoso/infra\", branch = \"main\" }\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"MAIN\"\ngithub = { repository = \"contoso/infra\", tag = \"v2\" }\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"main-again\"\nissuer = \"https://token.actions.githubusercontent.com\"\nsubject = \"repo:contoso/infra:ref:refs/heads/main\"\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"both\"\ngithub = { repository = \"contoso/infra\", branch = \"main\", pull_request = true }\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"has space\"\nissuer = \"https://x.example\"\nsubject = \"a\"\naudiences = [\"one\", \"two\"]\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"main\"\ngithub = { repository = \"contoso/infra\", tag = \"v1\" }\n");
    text.push_str("\n[[app.federated_credentials]]\nname = \"no-subject\"\nissuer = \"https://x.example\"\n");
    for n in 0..14 {
        text.push_str(&format!(
            "\n[[app.federated_credentials]]\nname = \"env-{n}\"\ngithub = {{ repository = \"contoso/infra\", environment = \"e{n}\" }}\n"
        ));
    }
    let m = t.write_manifest("bad.toml", &text);
    let out = t.provision(&["validate", m.to_str().unwrap()]).await;
    assert_eq!(code(&out), 3);
    insta::assert_snapshot!(
        "owners_fic_validate",
        shown(&t, &out).replace(m.to_str().unwrap(), "bad.toml")
    );
    t.emu.shutdown().await;
}

/// Graph's rules the emulator enforces on owners and federated credentials, each with Graph's
/// answer.
#[tokio::test(flavor = "multi_thread")]
async fn graph_rules_for_owners_and_federated_credentials() {
    let t = Tenant::start().await;
    let token = token_as(&t, &uuid::Uuid::new_v4().to_string(), OWNER_ROLES);
    let call = |method: Method, path: String, body: Option<Value>| {
        let token = token.clone();
        let t = &t;
        async move {
            let mut rb = t
                .http
                .request(method, format!("{}{path}", t.emu.ready.graph_url))
                .bearer_auth(token);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let (s, app) = call(
        Method::POST,
        "/applications".into(),
        Some(json!({"displayName": "rules"})),
    )
    .await;
    assert_eq!(s, 201);
    let id = app["id"].as_str().unwrap().to_owned();
    let alice = user_id(&t, "alice");
    let reference =
        |oid: &str| json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{oid}")});

    // Users by user principal name (user-get), and by id through directoryObjects.
    let (s, u) = call(Method::GET, format!("/users/alice@{}", domain(&t)), None).await;
    assert_eq!((s, u["id"].as_str()), (200, Some(alice.as_str())));
    let (s, _) = call(Method::GET, format!("/users/nobody@{}", domain(&t)), None).await;
    assert_eq!(s, 404);
    let (s, o) = call(Method::GET, format!("/directoryObjects/{alice}"), None).await;
    assert_eq!(
        (s, o["@odata.type"].as_str()),
        (200, Some("#microsoft.graph.user"))
    );

    // Owners: add, list with their type, add again (Graph's 400), remove, remove again (404).
    let owners = format!("/applications/{id}/owners");
    assert_eq!(
        call(Method::POST, format!("{owners}/$ref"), Some(reference(&alice)))
            .await
            .0,
        204
    );
    let (s, list) = call(
        Method::GET,
        format!("{owners}?$select=id,userPrincipalName"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        list["value"][0]["userPrincipalName"],
        format!("alice@{}", domain(&t))
    );
    let (s, e) = call(Method::POST, format!("{owners}/$ref"), Some(reference(&alice))).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "Request_BadRequest");
    assert_eq!(
        e["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'owners'."
    );
    let nobody = "0b1f0000-0000-4000-8000-000000000000";
    let (s, e) = call(Method::POST, format!("{owners}/$ref"), Some(reference(nobody))).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    assert_eq!(
        call(Method::DELETE, format!("{owners}/{alice}/$ref"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(Method::DELETE, format!("{owners}/{alice}/$ref"), None)
            .await
            .0,
        404
    );
    // Adding an owner needs Directory.Read.All besides Application.ReadWrite.All.
    let (s, e) = t
        .graph(Method::POST, &format!("{owners}/$ref"), Some(reference(&alice)))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("Authorization_RequestDenied"))
    );

    // Federated credentials: name unique (409), issuer+subject unique (400), name immutable,
    // a PATCH that would repeat an issuer+subject (400), one audience.
    let fics = format!("/applications/{id}/federatedIdentityCredentials");
    let fic = |name: &str, subject: &str| json!({"name": name, "issuer": GITHUB_ISSUER, "subject": subject, "audiences": ["api://AzureADTokenExchange"]});
    assert_eq!(
        call(
            Method::POST,
            fics.clone(),
            Some(fic("main", "repo:o/r:ref:refs/heads/main"))
        )
        .await
        .0,
        201
    );
    let (s, created) = call(
        Method::POST,
        fics.clone(),
        Some(fic("prs", "repo:o/r:pull_request")),
    )
    .await;
    assert_eq!(s, 201);
    let prs = created["id"].as_str().unwrap().to_owned();
    let (s, e) = call(
        Method::POST,
        fics.clone(),
        Some(fic("main", "repo:o/r:environment:x")),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("Request_MultipleObjectsWithSameKeyValue"))
    );
    assert_eq!(
        e["error"]["message"],
        "FederatedIdentityCredential with name main already exists."
    );
    let (s, e) = call(
        Method::POST,
        fics.clone(),
        Some(fic("other", "repo:o/r:pull_request")),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("InvalidFederatedIdentityCredentialValue"))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The combination of issuer and subject must be unique for the application."),
        "{e}"
    );
    let (s, e) = call(
        Method::PATCH,
        format!("{fics}/{prs}"),
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("Request_BadRequest"))
    );
    let (s, e) = call(
        Method::PATCH,
        format!("{fics}/{prs}"),
        Some(json!({"subject": "repo:o/r:ref:refs/heads/main"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("InvalidFederatedIdentityCredentialValue"))
    );
    let (s, _) = call(
        Method::PATCH,
        format!("{fics}/{prs}"),
        Some(json!({"audiences": ["a", "b"]})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        call(
            Method::PATCH,
            format!("{fics}/{prs}"),
            Some(json!({"subject": "repo:o/r:environment:prod", "description": "prod"})),
        )
        .await
        .0,
        204
    );
    let (_, got) = call(Method::GET, format!("{fics}/{prs}"), None).await;
    assert_eq!(got["subject"], "repo:o/r:environment:prod");
    assert_eq!(got["description"], "prod");
    assert_eq!(got["name"], "prs");
    t.emu.shutdown().await;
}

both_profiles!(import_writes_owners_and_federated_credentials_as_keys);
async fn import_writes_owners_and_federated_credentials_as_keys(profile: Profile) {
    let t = Tenant::start().await;
    let token = token_as(&t, &uuid::Uuid::new_v4().to_string(), OWNER_ROLES);
    // Built through Graph, as the portal or a script would.
    let (s, app) = t
        .graph(
            Method::POST,
            "/applications",
            Some(json!({"displayName": "Deploy pipeline", "uniqueName": "deploy-pipeline"})),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let object_id = app["id"].as_str().unwrap().to_owned();
    let (s, _) = t
        .graph(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(s, 201);
    let reader_sp = t
        .get(&format!(
            "/servicePrincipals(appId='{}')",
            t.emu.ready.reader_client_id
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for owner in [user_id(&t, "bob"), reader_sp] {
        assert_eq!(add_owner(&t, &token, &object_id, &owner).await, 204);
    }
    for (name, issuer, subject, description) in [
        (
            "main",
            GITHUB_ISSUER,
            "repo:contoso/infra:ref:refs/heads/main",
            None,
        ),
        (
            "prod",
            GITHUB_ISSUER,
            "repo:contoso/infra:environment:prod",
            Some("production deploys"),
        ),
        (
            "aks",
            "https://oidc.example.com/c1",
            "system:serviceaccount:ns:sa",
            None,
        ),
    ] {
        let (s, body) = t
            .graph(
                Method::POST,
                &format!("/applications/{object_id}/federatedIdentityCredentials"),
                Some(json!({"name": name, "issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"], "description": description})),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    t.use_profile(profile).await;

    let path = t.dir.path().join("deploy.toml");
    let out = run(
        &t,
        &[
            "import",
            "--unique-name",
            "deploy-pipeline",
            "-o",
            path.to_str().unwrap(),
        ],
        &token,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&format!("owners = [\n  \"bob@{}\",\n", domain(&t))),
        "{text}"
    );
    assert!(
        text.contains("# service principal provision-emulator-reader")
            || text.contains("# service principal"),
        "{text}"
    );
    assert!(
        text.contains("github = { repository = \"contoso/infra\", environment = \"prod\" }\ndescription = \"production deploys\"\n"),
        "{text}"
    );
    assert!(
        text.contains("subject = \"system:serviceaccount:ns:sa\""),
        "{text}"
    );
    assert!(!text.contains("# - owners"), "{text}");
    assert!(!text.contains("# - federated credentials"), "{text}");
    let plan = run(
        &t,
        &["plan", path.to_str().unwrap(), "--detailed-exitcode"],
        &token,
    )
    .await;
    assert_eq!(code(&plan), 0, "{}\n{text}", shown(&t, &plan));
    t.emu.shutdown().await;
}

/// `examples/github-actions/`, on the emulator: an administrator provisions the pipeline app
/// with a federated credential for the repository's main branch (and the Graph application
/// permissions apply needs); then the pipeline signs in with GitHub's OIDC token, no secret
/// anywhere, and applies a manifest of its own. The emulator checks the assertion's signature
/// against keys registered for GitHub's issuer (`POST /_emulator/issuers`), not GitHub's real
/// keys.
#[tokio::test(flavor = "multi_thread")]
async fn github_actions_signs_in_with_the_federated_credential_apply_made() {
    let t = Tenant::start().await;
    let m = t.write_manifest(
        "pipeline.toml",
        &std::fs::read_to_string(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("examples/github-actions/pipeline.toml"),
        )
        .unwrap(),
    );
    let out = t.provision(&["apply", m.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(t.dir.path().join("out/pipeline.json")).unwrap())
            .unwrap();
    let client_id = written["provision-pipeline"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // GitHub's side: an OIDC issuer the emulator trusts, and the job's token endpoint.
    let idp = SigningKey::generate("github actions").unwrap();
    let resp = t
        .http
        .post(format!("{}/_emulator/issuers", base_url(&t.emu)))
        .json(&json!({"issuer": GITHUB_ISSUER, "jwks": {"keys": [idp.jwk(GITHUB_ISSUER)]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let job = |subject: &str| crate::signin::external_assertion(&idp, GITHUB_ISSUER, subject);
    let request_token = format!("gh-request-{}", uuid::Uuid::new_v4());
    let (url, _server) = crate::signin::github_oidc(
        job("repo:contoso/infra:ref:refs/heads/main"),
        request_token.clone(),
    )
    .await;

    let target = t.manifest("threat-protection.toml");
    let env = [
        ("PROVISION_AUTH", "federated"),
        ("AZURE_CLIENT_ID", client_id.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token.as_str()),
    ];
    let out = crate::signin::run(&t, &["apply", target.to_str().unwrap(), "--yes"], &env, None).await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    let out = crate::signin::run(
        &t,
        &["plan", target.to_str().unwrap(), "--detailed-exitcode"],
        &env,
        None,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));

    // A job of another branch presents another subject: refused, with what to register.
    let (url, _other) = crate::signin::github_oidc(
        job("repo:contoso/infra:ref:refs/heads/dev"),
        request_token.clone(),
    )
    .await;
    let env = [
        ("PROVISION_AUTH", "federated"),
        ("AZURE_CLIENT_ID", client_id.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token.as_str()),
    ];
    let out = crate::signin::run(&t, &["plan", target.to_str().unwrap()], &env, None).await;
    assert_eq!(code(&out), 4, "{}", shown(&t, &out));
    assert!(stderr(&out).contains("AADSTS70021"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("repo:contoso/infra:ref:refs/heads/dev"),
        "{}",
        stderr(&out)
    );
    t.emu.shutdown().await;
}

/// Owners and federated credentials cost no extra round: a no-op plan of a manifest with both
/// reads the owners named by UPN in the first round (beside the application) and the app's
/// owners and credentials in the second (beside its service principal), as a plan without them.
#[tokio::test(flavor = "multi_thread")]
async fn owners_and_federated_credentials_add_no_round() {
    let mut config = provision::emulator::Config::local();
    config.faults.latency_ms = 40;
    let t = Tenant::start_with(config).await;
    let me = uuid::Uuid::new_v4().to_string();
    let token = token_as(&t, &me, OWNER_ROLES);
    let bob = user_id(&t, "bob");
    let m = t.write_manifest("ci.toml", &manifest(&t, &format!("\"{bob}\""), "main", true));
    let m = m.to_str().unwrap();
    let out = run(&t, &["apply", m, "--yes"], &token).await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    t.clear_log().await;
    let out = run(&t, &["plan", m, "--detailed-exitcode"], &token).await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    let log = t.graph_requests().await;
    assert!(
        rounds(&log) <= 2,
        "a no-op plan took {} rounds: {log:#?}",
        rounds(&log)
    );
    t.emu.shutdown().await;
}

/// An identity without `Directory.Read.All` cannot add owners. Named by user principal name (found
/// with `User.Read.All`), apply writes everything else, then stops on Graph's 403 for the owner
/// `$ref` naming the permission the call needed; a re-run by an identity that holds it converges.
/// Named by object id, the owner cannot even be found (`GET /directoryObjects/{id}` needs
/// `Directory.Read.All`, directoryobject-get): apply stops while reading, before any write.
#[tokio::test(flavor = "multi_thread")]
async fn adding_owners_without_directory_read_names_the_permission() {
    let t = Tenant::start().await;
    let bob = user_id(&t, "bob");
    let manifest = |owner: &str| {
        format!(
            "[app]\nunique_name = \"ci-deployer\"\ndisplay_name = \"CI deployer\"\nowners = [\"{owner}\"]\n\n[[app.federated_credentials]]\nname = \"main\"\ngithub = {{ repository = \"contoso/infra\", branch = \"main\" }}\n"
        )
    };
    // By object id, as the seeded administrator (apply's three permissions): refused while
    // reading, nothing written.
    let by_id = t.write_manifest("by-id.toml", &manifest(&bob));
    t.clear_log().await;
    let out = t.provision(&["apply", by_id.to_str().unwrap(), "--yes"]).await;
    assert_eq!(code(&out), 4, "{}", shown(&t, &out));
    let err = stderr(&out);
    assert!(
        err.contains("lacks the Microsoft Graph permission `Directory.Read.All`"),
        "{err}"
    );
    assert!(err.contains("to find owners by object id"), "{err}");
    t.assert_read_only().await;

    // By user principal name, with User.Read.All to find the user but no Directory.Read.All.
    let upn = format!("bob@{}", domain(&t));
    let m = t.write_manifest("ci.toml", &manifest(&upn));
    let m = m.to_str().unwrap();
    let finder = token_as(
        &t,
        &uuid::Uuid::new_v4().to_string(),
        &[
            "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "User.Read.All",
        ],
    );
    let out = run(&t, &["apply", m, "--yes"], &finder).await;
    assert_eq!(code(&out), 4, "{}", shown(&t, &out));
    let err = stderr(&out);
    assert!(
        err.contains("lacks the Microsoft Graph permission `Directory.Read.All`"),
        "{err}"
    );
    assert!(err.contains("to add and remove application owners"), "{err}");
    let object_id = t.get("/applications(uniqueName='ci-deployer')").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The federated credential was written all the same.
    assert_eq!(fics_of(&t, &object_id).await.len(), 1);
    let token = token_as(&t, &uuid::Uuid::new_v4().to_string(), OWNER_ROLES);
    let out = run(&t, &["apply", m, "--yes"], &token).await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    assert_eq!(owners_of(&t, &object_id).await, [bob]);
    t.emu.shutdown().await;
}

/// Issue 17's round trip with every family at once: an app made through Graph with web, SPA,
/// identifier URIs, token version, an exposed scope, an app role, owners, a federated credential,
/// a password and a certificate is imported, and the manifest plans to no changes.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_with_every_issue_17_property_imports_and_plans_clean() {
    let t = Tenant::start().await;
    let token = token_as(&t, &uuid::Uuid::new_v4().to_string(), OWNER_ROLES);
    let (s, app) = t
        .graph(
            Method::POST,
            "/applications",
            Some(json!({
                "displayName": "Everything app",
                "uniqueName": "everything-app",
                "signInAudience": "AzureADMyOrg",
                "identifierUris": ["api://everything-app"],
                "web": {
                    "redirectUris": ["https://everything.contoso.com/cb"],
                    "homePageUrl": "https://everything.contoso.com/",
                    "logoutUrl": "https://everything.contoso.com/logout",
                    "implicitGrantSettings": {"enableIdTokenIssuance": true, "enableAccessTokenIssuance": false}
                },
                "spa": {"redirectUris": ["https://everything.contoso.com/spa"]},
                "api": {
                    "requestedAccessTokenVersion": 2,
                    "oauth2PermissionScopes": [{
                        "id": "6f1f2f3f-4f5f-4a6f-8f7f-9f0f1f2f3f40",
                        "value": "Everything.Read", "type": "Admin", "isEnabled": true,
                        "adminConsentDisplayName": "Read everything",
                        "adminConsentDescription": "Lets the app read everything",
                        "userConsentDisplayName": null, "userConsentDescription": null
                    }]
                },
                "appRoles": [{
                    "id": "8b1b2b3b-4b5b-4c6b-8b7b-9b0b1b2b3b40",
                    "value": "Everything.Writer", "displayName": "Writers",
                    "description": "Write everything",
                    "allowedMemberTypes": ["Application"], "isEnabled": true
                }]
            })),
        )
        .await;
    assert_eq!(s, 201, "{app}");
    let object_id = app["id"].as_str().unwrap().to_owned();
    let (s, _) = t
        .graph(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app["appId"]})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(add_owner(&t, &token, &object_id, &user_id(&t, "bob")).await, 204);
    let (s, body) = t
        .graph(
            Method::POST,
            &format!("/applications/{object_id}/federatedIdentityCredentials"),
            Some(json!({"name": "main", "issuer": GITHUB_ISSUER,
                "subject": "repo:contoso/everything:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"]})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, pw) = t
        .graph(
            Method::POST,
            &format!("/applications/{object_id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "nightly"}})),
        )
        .await;
    assert_eq!(s, 200, "{pw}");
    let cert = provision::emulator::identity::keys::SigningKey::generate("everything").unwrap();
    let (s, body) = t
        .graph(
            Method::PATCH,
            &format!("/applications/{object_id}"),
            Some(json!({"keyCredentials": [{
                "type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.certificate_base64(),
                "displayName": "everything cert"
            }]})),
        )
        .await;
    assert_eq!(s, 204, "{body}");

    let path = t.dir.path().join("everything.toml");
    let out = run(
        &t,
        &[
            "import",
            "--unique-name",
            "everything-app",
            "-o",
            path.to_str().unwrap(),
        ],
        &token,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", shown(&t, &out));
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "identifier_uris = [",
        "[app.web]",
        "[app.spa]",
        "requested_access_token_version = 2",
        "[[app.api.scopes]]",
        "[[app.app_roles]]",
        "owners = [",
        "[[app.federated_credentials]]",
        "[[app.passwords]]",
        "[[app.certificates]]",
    ] {
        assert!(text.contains(key), "no `{key}` in\n{text}");
    }
    let plan = run(
        &t,
        &["plan", path.to_str().unwrap(), "--detailed-exitcode"],
        &token,
    )
    .await;
    assert_eq!(code(&plan), 0, "{}\n{text}", shown(&t, &plan));
    t.emu.shutdown().await;
}
