//! Property tests of the manifest parser: on any text, and on the example manifests mutated
//! line by line and byte by byte, it never panics and returns either a model or diagnostics
//! whose spans lie inside the text and whose rendering succeeds.

use std::path::Path;

use proptest::prelude::*;
use provision::manifest;

fn examples() -> Vec<String> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("manifests");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    out
}

fn assert_well_formed(text: &str) {
    let checked = manifest::check("m.toml", text);
    if checked.desired.is_none() {
        assert!(
            checked.diagnostics.has_errors(),
            "no model and no error for:\n{text}"
        );
    } else {
        assert!(!checked.diagnostics.has_errors());
    }
    for d in checked.diagnostics.iter() {
        assert!(d.span.start <= d.span.end, "{d:?}");
        assert!(
            d.span.end <= text.len(),
            "span {:?} outside a text of {} bytes",
            d.span,
            text.len()
        );
        if let Some((span, _)) = &d.related {
            assert!(span.end <= text.len());
        }
    }
    let rendered = checked.diagnostics.render(text);
    assert_eq!(rendered.is_empty(), checked.diagnostics.is_empty());
    // `parse` agrees with `check`.
    assert_eq!(manifest::parse("m.toml", text).is_ok(), checked.desired.is_some());
}

#[derive(Debug, Clone)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertLine(usize, String),
    DeleteByte(usize),
    InsertByte(usize, u8),
    ReplaceByte(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let line = prop_oneof![
        Just("[app]".to_owned()),
        Just("[[app]]".to_owned()),
        Just("[app.public_client]".to_owned()),
        Just("[[app.api_permissions]]".to_owned()),
        Just("unique_name = \"x\"".to_owned()),
        Just("delegated = [\"User.Read\", \"User.Read\"]".to_owned()),
        Just("api = \"microsoft-graph\"".to_owned()),
        Just("redirect_uris = [\"http://x\", 5]".to_owned()),
        "[a-z_=\\[\\]\" .{}0-9]{0,30}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), line).prop_map(|(i, l)| Edit::InsertLine(i, l)),
        any::<usize>().prop_map(Edit::DeleteByte),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::InsertByte(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::ReplaceByte(i, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let s = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines: Vec<String> = s.split('\n').map(str::to_owned).collect();
        match e {
            Edit::DeleteLine(i) => {
                let i = i % lines.len();
                lines.remove(i);
                bytes = lines.join("\n").into_bytes();
            }
            Edit::DuplicateLine(i) => {
                let i = i % lines.len();
                let l = lines[i].clone();
                lines.insert(i, l);
                bytes = lines.join("\n").into_bytes();
            }
            Edit::InsertLine(i, l) => {
                let i = i % (lines.len() + 1);
                lines.insert(i, l.clone());
                bytes = lines.join("\n").into_bytes();
            }
            Edit::DeleteByte(i) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes.remove(i);
                }
            }
            Edit::InsertByte(i, b) => {
                let i = i % (bytes.len() + 1);
                bytes.insert(i, *b);
            }
            Edit::ReplaceByte(i, b) => {
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] = *b;
                }
            }
        }
    }
    // The parser sees `&str`: invalid UTF-8 is a diagnostic of `manifest::read`, tested apart.
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    // 256 cases keep CI fast; `PROPTEST_CASES=20000 cargo test manifest_props` digs deeper.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        assert_well_formed(&text);
    }

    #[test]
    fn toml_like_text_never_panics(text in "([a-z_\\[\\]\"= .,{}#\\n0-9-]|app|unique_name|api_permissions){0,80}") {
        assert_well_formed(&text);
    }

    #[test]
    fn mutated_examples_never_panic(which in 0usize..16, edits in prop::collection::vec(edit(), 1..6)) {
        let examples = examples();
        let text = apply(&examples[which % examples.len()], &edits);
        assert_well_formed(&text);
    }
}
