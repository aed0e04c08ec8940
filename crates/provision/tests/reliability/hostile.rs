//! Scenario 4, hostile input. Adversarial manifests (huge files, deep nesting, invalid UTF-8, control
//! characters, 10 000 permissions, URIs with odd schemes) through `validate`, `plan` and
//! `apply`: a clear error every time, no panic, no hang, no Graph request, no output file, and
//! no raw control character echoed to the terminal. Malformed Graph answers (truncated JSON,
//! wrong types, HTML error pages, empty 200s): a clear error, nothing written when the reads
//! are spoiled, and a rerun without them converges; undocumented extra fields are accepted.

use std::time::{Duration, Instant};

use provision::emulator::Faults;
use provision::emulator::faults::Malformed;

use crate::generator;
use crate::harness::*;

/// A manifest command on hostile input that takes longer than this is reported (not failed: speed
/// is for the benchmarks; a hang is caught by the harness's `RUN_TIMEOUT`).
const QUICK: Duration = Duration::from_secs(20);

const VALID_TAIL: &str = r#"
[app.consent]
grant = "admin"

[output]
path = "out/hostile.json"
"#;

fn app(unique_name: &str, display_name: &str, redirect: &str, delegated: &str) -> String {
    format!(
        "[app]\nunique_name = {unique_name}\ndisplay_name = {display_name}\n\n\
         [app.public_client]\nredirect_uris = [{redirect}]\n\n\
         [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = {delegated}\n{VALID_TAIL}"
    )
}

fn valid_with(field: &str, value: &str) -> String {
    let mut parts = [
        "\"hostile-app\"".to_owned(),
        "\"Hostile\"".to_owned(),
        "\"https://portal.azure.com\"".to_owned(),
        "[\"Incident.Read\"]".to_owned(),
    ];
    let i = ["unique_name", "display_name", "redirect", "delegated"]
        .iter()
        .position(|f| *f == field)
        .unwrap_or(0);
    parts[i] = value.to_owned();
    app(&parts[0], &parts[1], &parts[2], &parts[3])
}

/// Every hostile manifest, by name.
fn manifests() -> Vec<(String, Vec<u8>)> {
    let mut m: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| m.push((name.to_owned(), bytes));

    // Huge files.
    add(
        "a 16 MB notes string",
        valid_with("unique_name", "\"huge\"")
            .replacen(
                "[app]\n",
                &format!("[app]\nnotes = \"{}\"\n", "x".repeat(16 << 20)),
                1,
            )
            .into_bytes(),
    );
    add(
        "16 MB of comments, then an unknown key",
        format!(
            "{}{}\nunknown_key = 1\n",
            "# padding padding padding padding\n".repeat(480_000),
            valid_with("", "\"x\"")
        )
        .into_bytes(),
    );
    add(
        "a 16 MB line without a newline",
        "x".repeat(16 << 20).into_bytes(),
    );
    add(
        "20 000 apps with one unique name",
        valid_with("", "\"hostile-app\"")
            .replace("[app]", "[[app]]")
            .replace(
                "[app.consent]\ngrant = \"admin\"\n\n[output]\npath = \"out/hostile.json\"\n",
                "",
            )
            .repeat(20_000)
            .into_bytes(),
    );

    // Deep nesting.
    add(
        "arrays nested 100 000 deep",
        format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
    );
    add(
        "inline tables nested 50 000 deep",
        format!("x = {}1{}\n", "{a = ".repeat(50_000), "}".repeat(50_000)).into_bytes(),
    );
    add(
        "dotted keys 50 000 long",
        format!("{} = 1\n", vec!["a"; 50_000].join(".")).into_bytes(),
    );
    add(
        "100 000 nested table headers",
        (0..100_000)
            .map(|i| format!("[{}]\n", vec!["t"; i % 200 + 1].join(".")))
            .collect::<String>()
            .into_bytes(),
    );

    // Not UTF-8.
    let mut bad = valid_with("display_name", "\"Hostile \u{fffd}\"").into_bytes();
    let at = bad
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .unwrap_or(0);
    bad.splice(at..at + 3, [0xff, 0xfe, 0xc0, 0x80]);
    add("invalid UTF-8 in a display name", bad);
    add(
        "random bytes",
        (0..65_536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    );
    add("a UTF-16 file with a BOM", {
        let mut b = vec![0xff, 0xfe];
        for u in valid_with("", "").encode_utf16() {
            b.extend(u.to_le_bytes());
        }
        b
    });
    add("NUL bytes", b"[app]\nunique_name = \"a\0b\"\n\0\0\0".to_vec());

    // Control characters and look-alikes in names.
    add(
        "a bell in the unique name",
        valid_with("unique_name", "\"hostile\\u0007app\"").into_bytes(),
    );
    add(
        "NUL in the display name",
        valid_with("display_name", "\"Hos\\u0000tile\"").into_bytes(),
    );
    add(
        "an ANSI escape in the display name",
        valid_with("display_name", "\"\\u001b[2J\\u001b[31mHostile\"").into_bytes(),
    );
    add(
        "a raw escape byte in the display name",
        valid_with("display_name", "\"\u{1b}[31mHostile\"").into_bytes(),
    );
    add(
        "a right-to-left override in the unique name",
        valid_with("unique_name", "\"hostile\\u202eppa\"").into_bytes(),
    );
    add(
        "a carriage return in the display name",
        valid_with("display_name", "\"Hostile\\rOverwritten\"").into_bytes(),
    );
    add(
        "a DEL and C1 control in the unique name",
        valid_with("unique_name", "\"hostile\\u007f\\u0085\"").into_bytes(),
    );

    // 10 000 permissions.
    let many: Vec<String> = (0..10_000).map(|i| format!("\"Incident.Read{i}\"")).collect();
    add(
        "10 000 unknown permissions",
        valid_with("delegated", &format!("[{}]", many.join(", "))).into_bytes(),
    );
    let same: Vec<&str> = vec!["\"Incident.Read\""; 10_000];
    add(
        "one permission listed 10 000 times",
        valid_with("delegated", &format!("[{}]", same.join(", "))).into_bytes(),
    );
    let graph: Vec<String> = (0..10_000).map(|i| format!("\"Custom{i}.Read\"")).collect();
    add(
        "10 000 permissions unknown to the partial Graph catalog",
        valid_with("delegated", &format!("[{}]", graph.join(", ")))
            .replace("microsoft-threat-protection", "microsoft-graph")
            .into_bytes(),
    );

    // URIs with odd schemes and shapes.
    for uri in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
        "ftp://portal.azure.com",
        "ms-appx-web://microsoft.aad.brokerplugin/x",
        "http://localhost@evil.example.com",
        "http://127.0.0.1.evil.example.com",
        "http://evil.example.com#@localhost",
        "https://",
        "https:portal.azure.com",
        "//portal.azure.com",
        "https://exa mple.com",
        "https://example.com/\u{0000}",
        "https://\u{202e}moc.elgoog",
    ] {
        let escaped = uri
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\u{0}', "\\u0000")
            .replace('\u{202e}', "\\u202e");
        add(
            &format!("redirect URI `{}`", uri.escape_debug()),
            valid_with("redirect", &format!("\"{escaped}\"")).into_bytes(),
        );
    }
    add(
        "a 100 000 character redirect URI",
        valid_with(
            "redirect",
            &format!("\"https://example.com/{}\"", "a".repeat(100_000)),
        )
        .into_bytes(),
    );
    m
}

/// Characters that must not reach a terminal raw: C0 controls other than tab and newline, DEL,
/// C1 controls, and bidirectional overrides.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_manifests_get_a_clear_error_and_touch_nothing() {
    let started = Instant::now();
    let mut f = Figures::default();
    let t = Tenant::start_faults(Faults::default()).await;
    for (i, (name, bytes)) in manifests().into_iter().enumerate() {
        let path = t.write(&format!("hostile-{i}.toml"), &bytes);
        let p = path.to_str().unwrap_or_default();
        for args in [
            vec!["validate", p],
            vec!["plan", p, "-v"],
            vec!["apply", p, "--yes", "-v", "--format", "json"],
        ] {
            f.runs += 1;
            let t0 = Instant::now();
            let run = t.run(&args, &Auth::ClientSecret).await;
            let took = t0.elapsed();
            let what = format!("{name}: provision {}", args[0]);
            if took > QUICK {
                println!("slow: {what} took {took:?}");
            }
            if run.panicked() {
                f.panics += 1;
                f.problems
                    .push(format!("{what}: panic: {}", cut(&run.describe())));
            } else if run.hung {
                f.hangs += 1;
                f.problems.push(format!("{what}: took {took:?}"));
            } else if run.code() != 3 || !run.clear_error() {
                f.problems.push(format!(
                    "{what}: expected exit 3 with a clear error: {}",
                    cut(&run.describe())
                ));
            } else if let Some(c) = raw_control(&run.stderr).or_else(|| raw_control(&run.stdout)) {
                f.problems.push(format!(
                    "{what}: a raw {:?} reaches the terminal: {}",
                    c,
                    cut(&run.describe())
                ));
            } else {
                f.failed_clear += 1;
            }
        }
    }
    let log = t.request_log().await;
    if graph_requests(&log) != 0 {
        f.problems.push(format!(
            "hostile manifests reached Graph: {} requests",
            graph_requests(&log)
        ));
    }
    if !t.output_files().is_empty() {
        f.problems
            .push(format!("output files were written: {:?}", t.output_files()));
    }
    let leaked = leaks(&t, &[], &[]).await;
    f.secrets_leaked += leaked.len() as u64;
    t.emu.shutdown().await;
    f.report(
        "Hostile manifests (each through validate, plan and apply; a clear error is the expected outcome)",
        started.elapsed(),
    );
}

fn cut(s: &str) -> String {
    if s.len() > 3000 {
        let mut end = 3000;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s.to_owned()
    }
}

/// Every malformed kind that is an error, on every answer: plan and apply fail clearly, the
/// spoiled reads stop apply before any write, no output file; then without them, apply
/// converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_graph_answers_get_a_clear_error() {
    let started = Instant::now();
    let mut f = Figures::default();
    let kinds = [
        Malformed::TruncatedJson,
        Malformed::WrongTypes,
        Malformed::HtmlError,
        Malformed::Empty200,
    ];
    let runs = futures::future::join_all(kinds.iter().enumerate().map(|(i, kind)| async move {
        let mut f = Figures::default();
        let faults = Faults {
            malformed_rate: 1.0,
            malformed_kinds: vec![*kind],
            seed: Some(i as u64),
            ..Faults::default()
        };
        let t = Tenant::start_faults(faults.clone()).await;
        let g = generator::manifest(500 + i as u64, "malformed");
        let m = t.write("manifest.toml", g.text.as_bytes());
        let p = m.to_str().unwrap_or_default();
        let what = format!("{} on every answer", kind.name());
        let mut all = Vec::new();
        for args in [
            vec!["plan", p, "-v"],
            vec!["apply", p, "--yes", "-v", "--format", "json"],
        ] {
            f.runs += 1;
            let run = t.run(&args, &Auth::ClientSecret).await;
            if run.panicked() {
                f.panics += 1;
            }
            if run.hung {
                f.hangs += 1;
            }
            if run.code() == 1 && run.clear_error() {
                f.failed_clear += 1;
            } else {
                f.problems
                    .push(format!("{what}: provision {}: {}", args[0], run.describe()));
            }
            all.push(run);
        }
        f.add_stats(&t.stats().await);
        let writes = graph_writes(&t.request_log().await);
        if !writes.is_empty() {
            f.problems.push(format!("{what}: wrote {writes:?}"));
        }
        if !t.output_files().is_empty() {
            f.problems.push(format!("{what}: an output file was written"));
        }
        t.set_faults(&Faults::default()).await;
        let again = t.run(&["apply", p, "--yes"], &Auth::ClientSecret).await;
        if let Err(e) = converged(&t, &m, &g.unique_names).await {
            f.problems
                .push(format!("{what}: no convergence: {e}\n{}", again.describe()));
        }
        all.push(again);
        let refs: Vec<&Run> = all.iter().collect();
        let leaked = leaks(&t, &refs, &[]).await;
        f.secrets_leaked += leaked.len() as u64;
        t.emu.shutdown().await;
        f
    }))
    .await;
    for r in runs {
        f.merge(r);
    }
    f.report("Malformed Graph answers on every request", started.elapsed());
}

/// Malformed answers now and then, during writes too ("apply-then-fail"): apply succeeds or
/// fails clearly, never leaves a duplicate, and a rerun without them converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_answers_during_writes_never_duplicate() {
    let started = Instant::now();
    let mut f = Figures::default();
    let n = (seeds(24) / 3).max(8);
    let results = futures::future::join_all((0..n).map(|i| async move {
        let mut f = Figures {
            runs: 1,
            ..Figures::default()
        };
        let faults = Faults {
            malformed_rate: 0.3,
            seed: Some(700 + i),
            ..Faults::default()
        };
        let t = Tenant::start_faults(faults.clone()).await;
        let g = generator::manifest(700 + i, "spoiled");
        let m = t.write("manifest.toml", g.text.as_bytes());
        let args = ["apply", m.to_str().unwrap_or_default(), "--yes", "-v"];
        let first = t.run(&args, &Auth::ClientSecret).await;
        f.add_stats(&t.stats().await);
        let what = format!("malformed answers at 30 %, seed {}\n{}", 700 + i, g.text);
        if first.panicked() {
            f.panics += 1;
        }
        let again = if first.ok() {
            None
        } else if first.clear_error() {
            t.set_faults(&Faults::default()).await;
            Some(t.run(&args, &Auth::ClientSecret).await)
        } else {
            f.problems
                .push(format!("{what}\nnot a clear error: {}", first.describe()));
            None
        };
        match converged(&t, &m, &g.unique_names).await {
            Ok(()) if first.ok() => f.converged += 1,
            Ok(()) => f.failed_clear += 1,
            Err(e) => f.problems.push(format!(
                "{what}\n{e}\nfirst: {}\nagain: {:?}",
                first.describe(),
                again.as_ref().map(Run::describe)
            )),
        }
        let c = census(&t.state().await, &g.unique_names);
        f.duplicates += c.duplicates.len() as u64;
        f.orphans += c.orphans.len() as u64;
        let mut refs = vec![&first];
        refs.extend(again.as_ref());
        f.secrets_leaked += leaks(&t, &refs, &[]).await.len() as u64;
        t.emu.shutdown().await;
        f
    }))
    .await;
    for r in results {
        f.merge(r);
    }
    f.report(
        &format!("Malformed Graph answers on 30 % of requests, all kinds: {n} seeds"),
        started.elapsed(),
    );
}

/// Properties and annotations Graph may add tomorrow are not errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unexpected_fields_are_accepted() {
    let faults = Faults {
        malformed_rate: 1.0,
        malformed_kinds: vec![Malformed::UnexpectedFields],
        seed: Some(1),
        ..Faults::default()
    };
    let t = Tenant::start_faults(faults).await;
    let g = generator::manifest(9, "extra");
    let m = t.write("manifest.toml", g.text.as_bytes());
    let run = t
        .run(
            &["apply", m.to_str().unwrap_or_default(), "--yes", "-v"],
            &Auth::ClientSecret,
        )
        .await;
    assert!(run.ok(), "{}", run.describe());
    let stats = t.stats().await;
    assert!(
        stats["faults"]["malformed_unexpected_fields"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{stats}"
    );
    converged(&t, &m, &g.unique_names).await.unwrap();
    t.emu.shutdown().await;
}
