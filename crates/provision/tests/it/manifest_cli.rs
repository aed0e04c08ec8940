//! The real binary: `provision validate` (exit 0 with an `ok:` line per file; exit 3 with every
//! problem listed by position) and `provision init` (writes, refuses to overwrite, `--force`).

use std::path::Path;
use std::process::{Command, Output};

fn provision(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PROVISION_FORMAT")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn validate_accepts_every_example() {
    let out = provision(
        &[
            "validate",
            "manifests/threat-protection.toml",
            "manifests/several-apps.toml",
        ],
        repo(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ok: manifests/threat-protection.toml (1 app: mtp-api-client)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ok: manifests/several-apps.toml (2 apps: soc-analyst-client, soc-automation)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

const GOOD: &str = "[app]\nunique_name = \"good\"\ndisplay_name = \"Good\"\n";

const BAD: &str = "[app]\nunique_name = \"bad name\"\ndisplay_name = \"A\"\ncolour = \"blue\"\n\n\
                   [app.public_client]\nredirect_uris = [\"http://contoso.com\"]\n\n\
                   [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Reed\"]\n";

#[test]
fn validate_lists_every_problem_with_its_position_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), BAD).unwrap();
    let out = provision(&["validate", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    for position in ["bad.toml:2:19", "bad.toml:4:1", "bad.toml:7:18", "bad.toml:11:14"] {
        assert!(stderr.contains(position), "{position} missing from:\n{stderr}");
    }
    assert!(stderr.contains("error: `bad.toml` has 4 problems"), "{stderr}");
    assert!(!stderr.contains("ok:"), "{stderr}");
    test_support::provision_snapshot!("validate_bad_manifest", &out);
}

#[test]
fn validate_checks_every_file_even_after_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), BAD).unwrap();
    std::fs::write(
        dir.path().join("good.toml"),
        "[app]\nunique_name = \"good\"\ndisplay_name = \"Good\"\n",
    )
    .unwrap();
    let out = provision(&["validate", "bad.toml", "good.toml"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:2:19"), "{stderr}");
    assert!(stderr.contains("ok: good.toml (1 app: good)"), "{stderr}");
    assert!(
        stderr.contains("error: 1 of 2 manifests are invalid (4 problems)"),
        "{stderr}"
    );
}

#[test]
fn validate_json_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), BAD).unwrap();
    let out = provision(&["--format", "json", "validate", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format_version"], "1.0");
    assert_eq!(doc["valid"], false);
    let diags = doc["files"][0]["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 4);
    assert_eq!(diags[0]["severity"], "error");
    assert_eq!(diags[0]["line"], 2);
    assert_eq!(diags[0]["column"], 19);
    assert_eq!(diags[3]["help"], "did you mean `Incident.Read`?");
}

#[test]
fn validate_missing_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = provision(&["validate", "nope.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: cannot read `nope.toml`"), "{stderr}");
}

#[test]
fn validate_of_a_folder_says_so_and_exits_1_like_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::write(dir.path().join("good.toml"), GOOD).unwrap();
    let out = provision(&["validate", "manifests", "good.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: `manifests` is a folder, not a manifest file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: name the files: provision validate manifests/*.toml"),
        "{stderr}"
    );
    // The other file is still checked.
    assert!(stderr.contains("ok: good.toml"), "{stderr}");
    assert!(
        stderr.contains("error: 1 of 2 manifests could not be read"),
        "{stderr}"
    );

    let out = provision(
        &["--format", "json", "validate", "manifests", "nope.toml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(
        doc["files"][0]["error"],
        "`manifests` is a folder, not a manifest file"
    );
    assert!(
        doc["files"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read `nope.toml`"),
        "{doc}"
    );
}

#[test]
fn every_json_document_has_the_same_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let init = provision(&["--format", "json", "init"], dir.path());
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr));
    let validate = provision(&["--format", "json", "validate", "provision.toml"], dir.path());
    assert_eq!(validate.status.code(), Some(0), "{}", text(&validate.stderr));
    for out in [init, validate] {
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["format_version"], provision::render::FORMAT_VERSION);
        assert!(doc["format_version"].is_string());
    }
}

#[test]
fn validate_needs_a_manifest() {
    let out = provision(&["validate"], repo());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn init_writes_the_template_then_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = provision(&["init"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("wrote `provision.toml` (template `threat-protection`)"),
        "{stderr}"
    );
    assert!(stderr.contains("provision validate provision.toml"), "{stderr}");
    let written = std::fs::read_to_string(dir.path().join("provision.toml")).unwrap();
    let template = std::fs::read_to_string(repo().join("manifests/threat-protection.toml")).unwrap();
    assert_eq!(written, template);

    // What init wrote validates.
    let out = provision(&["validate", "provision.toml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A second init refuses, with a `help:` line, and leaves the file alone.
    std::fs::write(dir.path().join("provision.toml"), "# mine\n").unwrap();
    let out = provision(&["init"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: `provision.toml` already exists"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: pass `--force` to overwrite it"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("provision.toml")).unwrap(),
        "# mine\n"
    );

    // `--force` overwrites.
    let out = provision(
        &["init", "--force", "--template", "threat-protection"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("provision.toml")).unwrap(),
        template
    );
}

#[test]
fn init_to_a_path_creates_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = provision(&["init", "infra/soc app.toml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("infra/soc app.toml").is_file());
    assert!(text(&out.stderr).contains("provision validate 'infra/soc app.toml'"));
}
