//! CLI snapshots (as uv's `uv_snapshot!`): one text holding the exit code, stdout and stderr of
//! a run ([`transcript`]), with what changes from run to run replaced by a placeholder
//! ([`Scrub`]): the emulator's address and port, the tenant id and domain, temporary folders,
//! GUIDs drawn fresh (a first-party API's appId, scope and role ids stay: they are the same in
//! every tenant), grant ids, timestamps and durations. [`provision_snapshot!`](crate::provision_snapshot)
//! asserts it with insta.

use std::process::Output;
use std::sync::OnceLock;

use regex::Regex;

use crate::{Tenant, code, stderr, stdout};

/// Exit code, stdout and stderr together, as the binary wrote them.
pub fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        code(o),
        stdout(o),
        stderr(o)
    )
}

/// What changes between runs, and its placeholder.
#[derive(Debug, Default)]
pub struct Scrub {
    /// Exact texts (longest first when applied) and their placeholders.
    literals: Vec<(String, String)>,
}

fn catalog_ids() -> &'static std::collections::BTreeSet<String> {
    static IDS: OnceLock<std::collections::BTreeSet<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        entra_catalog::known_apis()
            .iter()
            .flat_map(|api| {
                std::iter::once(api.app_id.as_str())
                    .chain(api.scopes.iter().map(|p| p.id.as_str()))
                    .chain(api.roles.iter().map(|p| p.id.as_str()))
            })
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a valid pattern"))
}

impl Scrub {
    /// The generic placeholders only (no emulator in the test).
    pub fn new() -> Self {
        Scrub::default()
    }

    /// The generic placeholders and this tenant's own values: `[TENANT_ID]`, `[DOMAIN]`,
    /// `[BASE_URL]` (the emulator's `http://127.0.0.1:PORT`), `[TEMP]` (the test folder).
    pub fn of(t: &Tenant) -> Self {
        let r = &t.emu.ready;
        Scrub::new()
            .with(&r.tenant_id, "[TENANT_ID]")
            .with(&r.tenant_domain, "[DOMAIN]")
            .with(r.authority_url.trim_end_matches('/'), "[BASE_URL]")
            .with(&t.dir.path().display().to_string(), "[TEMP]")
    }

    /// Also replace `text` (when not empty) by `placeholder`.
    pub fn with(mut self, text: &str, placeholder: &str) -> Self {
        if !text.is_empty() {
            self.literals.push((text.to_owned(), placeholder.to_owned()));
        }
        self
    }

    /// `text` with every unstable part replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut literals: Vec<&(String, String)> = self.literals.iter().collect();
        literals.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        let mut out = text.to_owned();
        for (t, p) in literals {
            out = out.replace(t.as_str(), p);
        }
        static HOST: OnceLock<Regex> = OnceLock::new();
        static TEMP: OnceLock<Regex> = OnceLock::new();
        static GUID: OnceLock<Regex> = OnceLock::new();
        static TIME: OnceLock<Regex> = OnceLock::new();
        static MS: OnceLock<Regex> = OnceLock::new();
        static JSON_SPAN: OnceLock<Regex> = OnceLock::new();
        static GRANT: OnceLock<Regex> = OnceLock::new();
        let out = regex(&HOST, r"(127\.0\.0\.1|localhost):\d{2,5}").replace_all(&out, "[HOST]");
        let out = regex(&TEMP, r"(/private)?/tmp/\.tmp[A-Za-z0-9]+").replace_all(&out, "[TEMP]");
        let out = regex(
            &GUID,
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        )
        .replace_all(&out, |c: &regex::Captures<'_>| {
            if catalog_ids().contains(&c[0].to_ascii_lowercase()) {
                c[0].to_owned()
            } else {
                "[GUID]".to_owned()
            }
        });
        // Graph's oauth2PermissionGrant ids: a run of exactly 43 URL-safe base64 characters
        // (one may start or end with `-` or `_`, where `\b` would not match).
        let out = regex(&GRANT, r"(^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}($|[^A-Za-z0-9_-])")
            .replace_all(&out, "${1}[GRANT_ID]${2}");
        let out = regex(
            &TIME,
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?",
        )
        .replace_all(&out, "[TIME]");
        // Measured spans in JSON: `"duration_ms": 12`, `"clock_skew_seconds": -0.5`.
        let out = regex(&JSON_SPAN, r#""([a-z_]*_(ms|seconds))": ?-?\d+(\.\d+)?"#)
            .replace_all(&out, r#""$1": [N]"#);
        regex(&MS, r"\b\d+ ?ms\b")
            .replace_all(&out, "[N] ms")
            .into_owned()
    }

    /// [`transcript`] of `o`, scrubbed.
    pub fn transcript(&self, o: &Output) -> String {
        self.apply(&transcript(o))
    }
}

/// Snapshot a run of the binary: exit code, stdout and stderr together, scrubbed.
///
/// ```ignore
/// provision_snapshot!("plan_fresh_text", &out);                 // generic placeholders
/// provision_snapshot!("plan_fresh_text", &out, &t);             // and the tenant's own values
/// provision_snapshot!("plan_fresh_text", &out, scrub = scrub);  // a `Scrub` the test built
/// ```
#[macro_export]
macro_rules! provision_snapshot {
    ($name:expr, $output:expr) => {{
        let text = $crate::snapshot::Scrub::new().transcript($output);
        $crate::insta::assert_snapshot!($name, text);
    }};
    ($name:expr, $output:expr, scrub = $scrub:expr) => {{
        let scrub: $crate::snapshot::Scrub = $scrub;
        let text = scrub.transcript($output);
        $crate::insta::assert_snapshot!($name, text);
    }};
    ($name:expr, $output:expr, $tenant:expr) => {{
        let tenant: &$crate::Tenant = $tenant;
        let text = $crate::snapshot::Scrub::of(tenant).transcript($output);
        $crate::insta::assert_snapshot!($name, text);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstable_parts_are_replaced_and_catalog_ids_kept() {
        let text = "app 1f2e3d4c-0000-4000-8000-00000000abcd of Microsoft Graph \
                    00000003-0000-0000-c000-000000000000 at http://127.0.0.1:40123/v1.0 \
                    in /tmp/.tmpAb12Cd/out.json at 2026-12-01T04:53:27.123Z after 120 ms";
        assert_eq!(
            Scrub::new().apply(text),
            "app [GUID] of Microsoft Graph 00000003-0000-0000-c000-000000000000 at \
             http://[HOST]/v1.0 in [TEMP]/out.json at [TIME] after [N] ms"
        );
        assert_eq!(
            Scrub::new().apply(r#"{"duration_ms": 12, "clock_skew_seconds": -0.5}"#),
            r#"{"duration_ms": [N], "clock_skew_seconds": [N]}"#
        );
        assert_eq!(
            Scrub::new()
                .with("contoso.example", "[DOMAIN]")
                .apply("tenant contoso.example, grant 7fB0c9-_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "tenant [DOMAIN], grant [GRANT_ID]"
        );
        // A grant id may start with `-` (seen: a snapshot failed once on one).
        assert_eq!(
            Scrub::new().apply(r#""id": "-cDMHe-KmUGLMUo3ZgvDmvObPH-gqrhCjekAd1Nbwrg","#),
            r#""id": "[GRANT_ID]","#
        );
        assert_eq!(
            Scrub::new().apply("x-cDMHe-KmUGLMUo3ZgvDmvObPH-gqrhCjekAd1Nbwrg_"),
            "x-cDMHe-KmUGLMUo3ZgvDmvObPH-gqrhCjekAd1Nbwrg_"
        );
    }
}
