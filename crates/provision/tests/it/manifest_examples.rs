//! Every example manifest in `manifests/` is valid, without a single warning, and the
//! threat-protection one describes exactly the portal procedure of README.md ("The whole procedure").

use std::path::{Path, PathBuf};

use provision::catalog;
use provision::manifest;
use provision::model::{ApiRef, ConsentMode, OutputFormat, SignInAudience};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates_without_warnings() {
    let files = examples();
    assert!(
        files.len() >= 4,
        "expected the example manifests, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let checked = manifest::check(&path.display().to_string(), &text);
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            checked.diagnostics.render(&text)
        );
        let desired = checked.desired.expect("a model");
        assert!(!desired.apps.is_empty());
        // `load` reads the same file to the same model.
        assert_eq!(manifest::load(&path).unwrap(), desired);
    }
}

#[test]
fn threat_protection_is_the_portal_procedure() {
    let path =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests/threat-protection.toml");
    let desired = manifest::load(&path).unwrap();
    assert_eq!(desired.tenant, None);
    let [app] = desired.apps.as_slice() else {
        panic!("one app expected")
    };
    assert_eq!(app.unique_name, "mtp-api-client");
    assert_eq!(app.display_name, "Threat Protection API client");
    assert_eq!(app.sign_in_audience, SignInAudience::AzureADMyOrg);
    let pc = app.public_client.as_ref().unwrap();
    assert_eq!(pc.redirect_uris, ["https://portal.azure.com", "http://localhost"]);
    assert!(pc.allow_public_client_flows);
    let [perm] = app.api_permissions.as_slice() else {
        panic!("one API expected")
    };
    assert_eq!(
        perm.api,
        ApiRef::Known("8ee8fdad-f234-4243-8f3b-15c294843740".into())
    );
    assert_eq!(perm.api_text, "Microsoft Threat Protection");
    assert_eq!(
        perm.delegated.iter().map(String::as_str).collect::<Vec<_>>(),
        ["AdvancedHunting.Read", "Incident.Read"]
    );
    assert!(perm.application.is_empty());
    assert_eq!(app.consent, ConsentMode::Admin);
    let out = desired.output.unwrap();
    assert_eq!(out.path, Path::new("out/mtp-api-client.json"));
    assert_eq!(out.format, OutputFormat::Json);
    assert_eq!(app.location.line, 18);
}

#[test]
fn several_apps_resolve_every_kind_of_api_reference() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests/several-apps.toml");
    let desired = manifest::load(&path).unwrap();
    let names: Vec<&str> = desired.apps.iter().map(|a| a.unique_name.as_str()).collect();
    assert_eq!(names, ["soc-analyst-client", "soc-automation"]);
    let graph = ApiRef::Known(catalog::MICROSOFT_GRAPH_APP_ID.into());
    // By appId in the first app, by URL in the second: both the built-in Microsoft Graph.
    assert_eq!(desired.apps[0].api_permissions[1].api, graph);
    assert_eq!(desired.apps[1].api_permissions[1].api, graph);
    assert_eq!(desired.apps[1].consent, ConsentMode::None);
    assert!(desired.apps[1].public_client.is_none());
    assert!(!desired.apps[1].api_permissions[0].application.is_empty());
    // `format` left out: JSON, from the `.json` extension.
    assert_eq!(desired.output.unwrap().format, OutputFormat::Json);
}

#[test]
fn defaults_of_a_minimal_manifest() {
    // The appId is the placeholder of the application-get page example (docs/graph-notes.md §1), not a real app.
    let text = "[app]\nunique_name = \"a\"\ndisplay_name = \"A\"\n\n[app.public_client]\n\n\
                [[app.api_permissions]]\napi = \"Contoso API\"\napplication = [\"Data.Read\"]\n\n\
                [[app.api_permissions]]\napi = \"631a96bc-a705-4eda-9f99-fdaf9f54f6a2\"\ndelegated = [\"user_impersonation\"]\n\n\
                [output]\npath = \"ids.env\"\n";
    let desired = manifest::parse("m.toml", text).unwrap();
    let app = &desired.apps[0];
    assert_eq!(app.sign_in_audience, SignInAudience::AzureADMyOrg);
    assert_eq!(app.consent, ConsentMode::Admin);
    assert_eq!(app.app_id, None);
    assert!(app.tags.is_empty());
    let pc = app.public_client.as_ref().unwrap();
    assert!(pc.redirect_uris.is_empty());
    assert!(
        pc.allow_public_client_flows,
        "a public_client section turns public client flows on"
    );
    assert_eq!(app.api_permissions[0].api, ApiRef::Name("Contoso API".into()));
    assert_eq!(
        app.api_permissions[1].api,
        ApiRef::AppId("631a96bc-a705-4eda-9f99-fdaf9f54f6a2".into())
    );
    assert_eq!(app.api_permissions[1].location.line, 11);
    assert_eq!(desired.output.unwrap().format, OutputFormat::Env);

    let no_output = manifest::parse(
        "m.toml",
        "tenant = \"72F988BF-86F1-41AF-91AB-2D7CD011DB47\"\n[app]\nunique_name = \"a\"\ndisplay_name = \"A\"\n",
    )
    .unwrap();
    assert_eq!(
        no_output.tenant.as_deref(),
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
    );
    assert!(no_output.output.is_none());
    assert!(no_output.apps[0].public_client.is_none());
}
