//! Fuzz target: `manifest::check` on arbitrary text, then every diagnostic rendered. The parser
//! must never panic, every span must lie inside the text on character boundaries, rendering
//! must never panic, and no raw control character may reach the rendered report (it goes to a
//! terminal).

#![no_main]

use libfuzzer_sys::fuzz_target;
use provision::output::is_hidden_control;

fuzz_target!(|data: &[u8]| {
    // Bytes that are not UTF-8 are the file reader's business (a diagnostic of their own); the
    // lossy text still exercises the parser with U+FFFD.
    let text = String::from_utf8_lossy(data);
    let checked = provision::manifest::check("fuzz.toml", &text);
    for d in checked.diagnostics.iter() {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
        assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end), "{d:?}");
    }
    let rendered = checked.diagnostics.render(&text);
    assert!(
        !rendered.chars().any(|c| is_hidden_control(c) && c != '\r'),
        "a raw control character in {rendered:?}"
    );
    if checked.diagnostics.has_errors() {
        assert!(checked.desired.is_none());
    }
});
