//! README.md cannot drift from the tool: every fenced `sh` block is run, in order, as one bash
//! script in a scratch folder, with `provision` (and `cargo run --`) being the binary under test.
//! A block that cannot run here (a real tenant, a person at a browser, a network download) is
//! preceded by `<!-- not run by tests: REASON -->`; a block with neither is a failure. A block
//! preceded by `<!-- readme test: the file F after the block above -->` (or `… the output of the
//! block above -->`) is compared with what the run made, GUIDs aside (`…` in a shown line stands
//! for any text).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fenced block of README.md: its info string, its first line number, its text, and the
/// HTML comment just above it, if any.
struct Block {
    lang: String,
    line: usize,
    text: String,
    marker: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate();
    let mut previous: Option<&str> = None;
    while let Some((i, line)) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let marker = previous
                .and_then(|p| p.trim().strip_prefix("<!--"))
                .and_then(|p| p.strip_suffix("-->"))
                .map(|p| p.trim().to_owned());
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            out.push(Block {
                lang: lang.trim().to_owned(),
                line: i + 1,
                text,
                marker,
            });
            previous = None;
        } else if !line.trim().is_empty() {
            previous = Some(line);
        }
    }
    out
}

/// What the README says to type, as the test runs it: `cargo run --` is the built binary, and
/// `cargo test` is this very run.
fn runnable(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("cargo test") {
                format!(": {l}")
            } else {
                let l = l.replacen("cargo run -- ", "provision ", 1);
                // `# exit N` (N not 0) after a command: that exit code is the expected result.
                match l.split_once("# exit ").and_then(|(cmd, rest)| {
                    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    (!code.is_empty() && code != "0").then(|| (cmd.trim_end().to_owned(), code))
                }) {
                    Some((cmd, code)) => format!("rc=0; {cmd} || rc=$?; [ \"$rc\" -eq {code} ]"),
                    None => l,
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn guids_out(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let shape = [8, 4, 4, 4, 12];
    'outer: while i < b.len() {
        let mut j = i;
        for (k, n) in shape.iter().enumerate() {
            if j + n > b.len() || !b[j..j + n].iter().all(u8::is_ascii_hexdigit) {
                break;
            }
            j += n;
            if k < 4 {
                if b.get(j) != Some(&b'-') {
                    break;
                }
                j += 1;
            } else {
                out.push_str("<guid>");
                i = j;
                continue 'outer;
            }
        }
        let c = s[i..].chars().next().expect("inside the text");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Whether `actual` is the `shown` line, where `…` in `shown` stands for any text.
fn matches(shown: &str, actual: &str) -> bool {
    let parts: Vec<&str> = shown.split('…').collect();
    if parts.len() == 1 {
        return shown == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    true
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_sh_block_of_the_readme_runs() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md");
    let blocks = blocks(&readme);
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    let checks = work.join(".readme");
    std::fs::create_dir_all(&checks).expect("mkdir");
    std::fs::create_dir_all(work.join("manifests")).expect("mkdir");
    for entry in std::fs::read_dir(repo_root().join("manifests")).expect("read manifests/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(
                &path,
                work.join("manifests").join(path.file_name().expect("name")),
            )
            .expect("copy");
        }
    }
    let bin = work.join(".bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_provision"), bin.join("provision")).expect("symlink");

    // One script, blocks in README order, each block's stdout and stderr kept in its own file.
    let mut script = String::from(
        "set -euo pipefail\ntrap 'kill ${PROVISION_EMULATOR_PID:-} $(jobs -p) 2>/dev/null || true' EXIT\n",
    );
    let mut run = Vec::new();
    let mut expected = Vec::new();
    let mut last_run: Option<usize> = None;
    for b in &blocks {
        let marker = b.marker.as_deref().unwrap_or("");
        if let Some(rest) = marker.strip_prefix("readme test:") {
            let rest = rest.trim();
            let last = last_run
                .unwrap_or_else(|| panic!("README.md:{}: `{marker}` follows no block that runs", b.line));
            let source = if let Some(f) = rest
                .strip_prefix("the file ")
                .and_then(|r| r.strip_suffix(" after the block above"))
            {
                let copy = format!(".readme/file-{}", b.line);
                script.push_str(&format!("cp {f} {copy}\n"));
                copy
            } else if rest == "the output of the block above" {
                format!(".readme/{last}.out")
            } else {
                panic!("README.md:{}: unknown readme test marker `{marker}`", b.line);
            };
            expected.push((b, source));
            continue;
        }
        if b.lang != "sh" {
            continue;
        }
        if let Some(reason) = marker.strip_prefix("not run by tests:") {
            assert!(
                !reason.trim().is_empty(),
                "README.md:{}: say why the block is not run",
                b.line
            );
            continue;
        }
        assert!(
            b.marker.is_none(),
            "README.md:{}: the comment above an sh block is either `not run by tests: REASON` or nothing, not `{marker}`",
            b.line
        );
        script.push_str(&format!(
            "echo 'README.md:{}' > .readme/at\n{{\n{}\n}} > .readme/{}.out 2>&1\n",
            b.line,
            runnable(&b.text),
            b.line
        ));
        run.push(b.line);
        last_run = Some(b.line);
    }
    assert!(
        run.len() >= 5,
        "expected the README's runnable blocks, found {run:?}"
    );
    assert_eq!(
        run.first().copied(),
        blocks.iter().find(|b| b.lang == "sh").map(|b| b.line),
        "the first sh block (the two commands) runs"
    );

    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", work.join(".home"))
        .env("XDG_STATE_HOME", work.join(".home/state"))
        .env("XDG_CACHE_HOME", work.join(".home/cache"))
        .env("XDG_CONFIG_HOME", work.join(".home/config"))
        .env("XDG_DATA_HOME", work.join(".home/data"))
        .env("PROVISION_CACHE_DIR", work.join(".home/signins"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    if !out.status.success() {
        let at = std::fs::read_to_string(checks.join("at")).unwrap_or_default();
        let line = at.trim().trim_start_matches("README.md:");
        let log = std::fs::read_to_string(checks.join(format!("{line}.out"))).unwrap_or_default();
        panic!(
            "the block at {} failed ({}):\n{log}\nstderr of the script:\n{}",
            at.trim(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    assert!(
        !expected.is_empty(),
        "the README shows what the import example makes, and it is checked"
    );
    for (b, source) in expected {
        let actual = guids_out(&std::fs::read_to_string(work.join(&source)).expect("read what the run made"));
        let actual: Vec<&str> = actual.lines().collect();
        let shown = guids_out(&b.text);
        // Every shown line is there, in order (the output may hold more lines than shown).
        let mut at = 0;
        for line in shown.lines().filter(|l| !l.trim().is_empty()) {
            match actual[at..].iter().position(|a| matches(line, a)) {
                Some(p) => at += p + 1,
                None => panic!(
                    "README.md:{}: `{line}` is not in what the run made ({source}), in order:\n{}",
                    b.line,
                    actual.join("\n")
                ),
            }
        }
    }
}

#[test]
fn shown_lines_match_with_ellipsis_and_guids() {
    assert!(matches("a … b", "a x y b"));
    assert!(matches(
        "#   ~ application X (appId …)",
        "#   ~ application X (appId 12-…)"
    ));
    assert!(!matches("a … b", "a x y c"));
    assert!(!matches("exact", "exact and more"));
    assert_eq!(
        guids_out("id 95ffee79-9e13-40e2-bb1f-5ce6b8cbc71c."),
        "id <guid>."
    );
    assert_eq!(guids_out("95ffee79-9e13 x"), "95ffee79-9e13 x");
}
