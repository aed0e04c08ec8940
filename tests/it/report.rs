//! What a run reports is what happened (issue 13): the tenant guard on every command that
//! writes, reports and exit codes that are true, partial applies shown, flags `--emulator`
//! cannot honour refused, tokens kept on their endpoint, trust and the env output dialect.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::*;

/// The real binary with a clean environment (no tenant, no credentials), in `dir`.
fn bare(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run provision")
}

fn repo_manifest(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests").join(name)
}

/// Exit code, stdout and stderr together, for snapshots.
fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        stdout(o),
        stderr(o)
    )
}

#[test]
fn emulator_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let m = repo_manifest("threat-protection.toml");
    let m = m.to_str().unwrap();
    let state = dir.path().join("tenant.json");
    let s = state.to_str().unwrap();
    for (flag, value) in [
        ("--tenant", "contoso.onmicrosoft.com"),
        ("--graph-url", "https://graph.microsoft.com/v1.0"),
        ("--authority-url", "https://login.microsoftonline.com"),
    ] {
        let out = bare(
            &["plan", m, "--emulator", "--emulator-state", s, flag, value],
            dir.path(),
            &[],
        );
        assert_eq!(code(&out), 1, "{flag}: {}", transcript(&out));
        assert!(
            stderr(&out).contains(&format!("error: `--emulator` cannot be combined with `{flag}`")),
            "{}",
            stderr(&out)
        );
        assert!(!state.exists(), "no emulator was started for {flag}");
    }
    let out = bare(
        &[
            "apply",
            m,
            "--emulator",
            "--emulator-state",
            s,
            "--yes",
            "--tenant",
            "x",
            "--graph-url",
            "https://graph.microsoft.com/v1.0",
        ],
        dir.path(),
        &[],
    );
    insta::assert_snapshot!("emulator_refuses_flags", transcript(&out));
}
