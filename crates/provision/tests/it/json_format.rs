//! docs/json-format.md is the reference of every `--format json` document, and it holds: each
//! command runs against the emulator and its document is checked against the shape the page
//! shows, both ways (every key shown is printed unless optional, every key printed is shown, and
//! each value has the type shown).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shapes of docs/json-format.md, by the name in `<!-- json-format: NAME -->`.
fn shapes() -> BTreeMap<String, Value> {
    let page =
        std::fs::read_to_string(repo_root().join("docs/json-format.md")).expect("read docs/json-format.md");
    let mut out = BTreeMap::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("<!-- json-format: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next(),
            Some("```json"),
            "the shape `{name}` is a json block right below its comment"
        );
        let text: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        let shape: Value = serde_json::from_str(&text.join("\n"))
            .unwrap_or_else(|e| panic!("docs/json-format.md: the shape `{name}` is not JSON: {e}"));
        assert!(
            out.insert(name.to_owned(), shape).is_none(),
            "the shape `{name}` is shown twice"
        );
    }
    out
}

/// Every way `value` differs from `shape`, with its path.
fn check(
    shapes: &BTreeMap<String, Value>,
    shape: &Value,
    value: &Value,
    path: &str,
    errors: &mut Vec<String>,
) {
    match shape {
        Value::String(types) => {
            let ok = types.split(" | ").any(|t| match t {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                "any" => true,
                lit if lit.starts_with('`') && lit.ends_with('`') && lit.len() >= 2 => {
                    value.as_str() == Some(&lit[1..lit.len() - 1])
                }
                other => panic!("docs/json-format.md: unknown type `{other}` at {path}"),
            });
            if !ok {
                errors.push(format!("{path}: {value} is not {types}"));
            }
        }
        Value::Array(items) => {
            let element = match items.as_slice() {
                [Value::String(n), element] if n == "(or null)" => {
                    if value.is_null() {
                        return;
                    }
                    element
                }
                [element] => element,
                _ => panic!("docs/json-format.md: an array shape has one element shape, at {path}"),
            };
            match value.as_array() {
                Some(values) => {
                    for (i, v) in values.iter().enumerate() {
                        check(shapes, element, v, &format!("{path}[{i}]"), errors);
                    }
                }
                None => errors.push(format!("{path}: {value} is not an array")),
            }
        }
        Value::Object(keys) => {
            if let Some(name) = keys.get("$ref").and_then(Value::as_str) {
                let target = shapes
                    .get(name)
                    .unwrap_or_else(|| panic!("docs/json-format.md: no shape `{name}`"));
                return check(shapes, target, value, path, errors);
            }
            if value.is_null() && keys.get("(or null)") == Some(&Value::Bool(true)) {
                return;
            }
            let Some(object) = value.as_object() else {
                errors.push(format!("{path}: {value} is not an object"));
                return;
            };
            if let Some(each) = keys.get("*") {
                for (k, v) in object {
                    check(shapes, each, v, &format!("{path}.{k}"), errors);
                }
                return;
            }
            let mut documented = Vec::new();
            for (key, sub) in keys.iter().filter(|(k, _)| *k != "(or null)") {
                let (name, optional) = match key.strip_suffix('?') {
                    Some(n) => (n, true),
                    None => (key.as_str(), false),
                };
                documented.push(name);
                match object.get(name) {
                    Some(v) => check(shapes, sub, v, &format!("{path}.{name}"), errors),
                    None if optional => {}
                    None => errors.push(format!("{path}.{name}: documented but not printed")),
                }
            }
            for k in object.keys() {
                if !documented.contains(&k.as_str()) {
                    errors.push(format!(
                        "{path}.{k}: printed but not documented in docs/json-format.md"
                    ));
                }
            }
        }
        other => panic!("docs/json-format.md: a shape is a type string, an array or an object, not {other}"),
    }
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("manifests")).expect("mkdir");
        for name in ["threat-protection.toml", "defender-for-endpoint.toml"] {
            std::fs::copy(
                repo_root().join("manifests").join(name),
                dir.path().join("manifests").join(name),
            )
            .expect("copy manifest");
        }
        Run { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let home = self.dir.path().join(".home");
        let mut c = Command::new(env!("CARGO_BIN_EXE_provision"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("PROVISION_CACHE_DIR", home.join("signins"))
            .stdin(Stdio::null());
        c
    }

    /// `provision ARGS --format json` (with the emulator when `emulator`), its exit code and
    /// its stdout as JSON.
    fn json(&self, args: &[&str], emulator: bool, env: &[(&str, &str)]) -> (i32, Value, Output) {
        let mut all: Vec<&str> = args.to_vec();
        if emulator {
            all.extend(["--emulator", "--emulator-state", "tenant.json"]);
        }
        all.extend(["--format", "json"]);
        let out = self
            .command(&all)
            .envs(env.iter().copied())
            .output()
            .expect("run provision");
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "provision {}: stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                all.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), value, out)
    }
}

#[test]
fn every_commands_json_matches_docs_json_format() {
    let shapes = shapes();
    let run = Run::new();
    let tp = "manifests/threat-protection.toml";
    std::fs::write(run.dir.path().join("bad.toml"), "[app]\nunique_name = \"x y\"\n").expect("write");

    // (shape, what ran, expected exit code, env, emulator)
    let cases: Vec<(&str, Vec<&str>, i32, bool)> = vec![
        ("validate", vec!["validate", tp], 0, false),
        (
            "validate",
            vec!["validate", tp, "bad.toml", "missing.toml"],
            1,
            false,
        ),
        ("plan", vec!["plan", tp], 0, true),
        ("apply", vec!["apply", tp, "--yes"], 0, true),
        ("plan", vec!["plan", tp], 0, true),
        ("apply", vec!["apply", tp, "--yes"], 0, true),
        ("token", vec!["token", tp], 0, true),
        ("token", vec!["token", tp, "--verify"], 0, true),
        ("token", vec!["token", tp, "--decode"], 0, true),
        ("audit", vec!["audit", "manifests/"], 0, true),
        (
            "audit",
            vec!["audit", "--api", "microsoft-threat-protection"],
            0,
            true,
        ),
        ("doctor", vec!["doctor", tp], 0, true),
        ("doctor", vec!["doctor", tp, "--probe", "--yes"], 0, true),
        ("doctor", vec!["doctor"], 0, true),
        (
            "import",
            vec!["import", "--unique-name", "mtp-api-client", "-o", "imported.toml"],
            0,
            true,
        ),
        ("plan", vec!["plan", tp, "--destroy"], 0, true),
        ("destroy", vec!["destroy", tp, "--yes"], 0, true),
        ("destroy", vec!["destroy", tp, "--yes", "--purge"], 0, true),
        // Several manifests as one run, and a partial one: the attribution keys.
        (
            "plan",
            vec!["plan", "manifests/", "--target", "mtp-api-client"],
            0,
            true,
        ),
        ("apply", vec!["apply", "manifests/", "--yes"], 0, true),
        ("destroy", vec!["destroy", "manifests/", "--yes"], 0, true),
        ("init", vec!["init", "new.toml"], 0, false),
        ("logout", vec!["logout"], 0, false),
    ];
    let mut errors = Vec::new();
    let mut checked = std::collections::BTreeSet::new();
    for (shape, args, code, emulator) in &cases {
        let (got, value, out) = run.json(args, *emulator, &[]);
        assert_eq!(
            got,
            *code,
            "provision {}: exit code\nstderr:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            value
                .as_object()
                .and_then(|o| o.keys().next())
                .map(String::as_str),
            Some("format_version"),
            "provision {}: `format_version` comes first",
            args.join(" ")
        );
        check(
            &shapes,
            &shapes[*shape],
            &value,
            &format!("{} ({shape})", args.join(" ")),
            &mut errors,
        );
        checked.insert(*shape);
    }

    // A standing emulator: its ready line, and an apply that Graph refuses (the read-only
    // client may not write), whose failed step carries Graph's error.
    let mut emulator = run
        .command(&["emulator", "--emulator-state", "standing.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start provision emulator");
    let mut line = String::new();
    std::io::BufReader::new(emulator.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the ready line");
    let ready: Value = serde_json::from_str(&line).expect("the ready line is JSON");
    check(
        &shapes,
        &shapes["emulator"],
        &ready,
        "emulator ready line",
        &mut errors,
    );
    checked.insert("emulator");
    let s = |k: &str| ready[k].as_str().expect("ready field").to_owned();
    let env = [
        ("PROVISION_GRAPH_URL", s("graph_url")),
        ("PROVISION_AUTHORITY_URL", s("authority_url")),
        ("AZURE_TENANT_ID", s("tenant_id")),
        ("AZURE_CLIENT_ID", s("reader_client_id")),
        ("AZURE_CLIENT_SECRET", s("reader_client_secret")),
        ("PROVISION_AUTH", "client-secret".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, refused, _) = run.json(&["apply", tp, "--yes"], false, &env);
    emulator.kill().expect("stop the emulator");
    let _ = emulator.wait();
    assert_eq!(code, 4, "a write Graph refuses with 403 exits 4");
    let failed = refused["result"]["apps"][0]["steps"][0]["error"].clone();
    assert_eq!(
        failed["status"], 403,
        "the failed step carries Graph's answer: {refused}"
    );
    check(
        &shapes,
        &shapes["apply"],
        &refused,
        "apply refused (apply)",
        &mut errors,
    );

    assert!(
        errors.is_empty(),
        "documents differ from docs/json-format.md:\n{}",
        errors.join("\n")
    );
    for name in [
        "plan", "apply", "destroy", "validate", "import", "audit", "doctor", "token", "init", "logout",
        "emulator",
    ] {
        assert!(
            checked.contains(name),
            "no command was checked against the shape `{name}`"
        );
    }
}

#[test]
fn the_checker_catches_what_the_page_does_not_say() {
    let shapes = BTreeMap::new();
    let shape: Value =
        serde_json::json!({ "a": "string", "b?": "integer | null", "c": ["(or null)", "boolean"] });
    let mut errors = Vec::new();
    check(
        &shapes,
        &shape,
        &serde_json::json!({ "a": "x", "c": null }),
        "ok",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    check(
        &shapes,
        &shape,
        &serde_json::json!({ "a": 1, "b": "x", "c": [true, 2], "d": 0 }),
        "bad",
        &mut errors,
    );
    assert_eq!(
        errors,
        [
            "bad.a: 1 is not string",
            "bad.b: \"x\" is not integer | null",
            "bad.c[1]: 2 is not boolean",
            "bad.d: printed but not documented in docs/json-format.md",
        ]
    );
    errors.clear();
    check(
        &shapes,
        &shape,
        &serde_json::json!({ "c": [] }),
        "missing",
        &mut errors,
    );
    assert_eq!(errors, ["missing.a: documented but not printed"]);
    errors.clear();
    check(
        &shapes,
        &serde_json::json!("`create` | `update`"),
        &serde_json::json!("delete"),
        "lit",
        &mut errors,
    );
    assert_eq!(errors, ["lit: \"delete\" is not `create` | `update`"]);
}
