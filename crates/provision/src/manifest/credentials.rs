//! `[[app.passwords]]` and `[[app.certificates]]` (issue 17): their raw schema, value rules and
//! the checks that need `[output]` (a password's value and a generated certificate's key are
//! written only there). Pure: no I/O.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::DeValue;

use super::diagnostic::{Diagnostic, Diagnostics, location};
use super::raw::{Fields, Sp, type_error};
use crate::model::{
    CertificateSource, CredentialEnd, DesiredApp, DesiredCertificate, DesiredPassword, OutputFormat,
    OutputSpec,
};

pub const PASSWORD_KEYS: &[&str] = &[
    "display_name",
    "end_date",
    "lifetime",
    "rotate_before",
    "secret_in_output",
];
pub const CERTIFICATE_KEYS: &[&str] = &[
    "display_name",
    "pem",
    "generate",
    "thumbprint",
    "lifetime",
    "rotate_before",
];

/// A generated certificate's validity when the manifest gives no `lifetime`.
pub const DEFAULT_CERTIFICATE_LIFETIME: i64 = 365 * 86_400;

#[derive(Debug)]
pub struct RawPassword {
    pub span: Range<usize>,
    pub display_name: Option<Sp<String>>,
    pub end_date: Option<Sp<String>>,
    pub lifetime: Option<Sp<String>>,
    pub rotate_before: Option<Sp<String>>,
    pub secret_in_output: Option<Sp<bool>>,
}

#[derive(Debug)]
pub struct RawCertificate {
    pub span: Range<usize>,
    pub display_name: Option<Sp<String>>,
    pub pem: Option<Sp<String>>,
    pub generate: Option<Sp<bool>>,
    pub thumbprint: Option<Sp<String>>,
    pub lifetime: Option<Sp<String>>,
    pub rotate_before: Option<Sp<String>>,
}

/// The tables of an array-of-tables key of `[app]`, each walked by `each`.
fn tables<T>(
    f: &mut Fields<'_, '_>,
    key: &str,
    diags: &mut Diagnostics,
    mut each: impl FnMut(&toml::de::DeTable<'_>, Range<usize>, &mut Diagnostics) -> T,
) -> Option<Sp<Vec<T>>> {
    let (_, v) = f.take(key)?;
    let items = match v.get_ref() {
        DeValue::Array(items) => items,
        other => {
            diags.push(
                type_error(&format!("`{key}`"), "an array of tables", other, v.span()).help(format!(
                    "write `[[app.{key}]]` once per entry, or `{key} = []` for none"
                )),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::Table(t) => out.push(each(t, item.span(), diags)),
            other => diags.push(type_error(
                &format!("each `{key}` entry"),
                "a table",
                other,
                item.span(),
            )),
        }
    }
    Some(Sp {
        value: out,
        span: v.span(),
    })
}

pub(super) fn walk_passwords(
    f: &mut Fields<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<Sp<Vec<RawPassword>>> {
    tables(f, "passwords", diags, |t, span, diags| {
        let mut f = Fields::new(t, span.clone(), "`[[app.passwords]]`", PASSWORD_KEYS, diags);
        RawPassword {
            display_name: f.string("display_name", true, diags),
            end_date: f.string("end_date", false, diags),
            lifetime: f.string("lifetime", false, diags),
            rotate_before: f.string("rotate_before", false, diags),
            secret_in_output: f.bool("secret_in_output", diags),
            span,
        }
    })
}

pub(super) fn walk_certificates(
    f: &mut Fields<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<Sp<Vec<RawCertificate>>> {
    tables(f, "certificates", diags, |t, span, diags| {
        let mut f = Fields::new(t, span.clone(), "`[[app.certificates]]`", CERTIFICATE_KEYS, diags);
        RawCertificate {
            display_name: f.string("display_name", true, diags),
            pem: f.string("pem", false, diags),
            generate: f.bool("generate", diags),
            thumbprint: f.string("thumbprint", false, diags),
            lifetime: f.string("lifetime", false, diags),
            rotate_before: f.string("rotate_before", false, diags),
            span,
        }
    })
}

/// `180d`, `12h`, `2w`: a whole, positive number of days, hours or weeks, in seconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let scale = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `2027-06-01` (midnight UTC) or an RFC 3339 date-time, as Unix seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Some(d.timestamp());
    }
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

fn duration(value: &Option<Sp<String>>, key: &str, diags: &mut Diagnostics) -> Option<i64> {
    let v = value.as_ref()?;
    let parsed = parse_duration(&v.value);
    if parsed.is_none() {
        diags.push(
            Diagnostic::error(format!("`{key}` `{}` is not a duration", v.value), v.span.clone())
                .label("expected a number of days, hours or weeks")
                .help(format!("write it like `{key} = \"30d\"` (`h`, `d` or `w`)")),
        );
    }
    parsed
}

/// Display names must be unique within an app: they are the key a credential is matched by.
fn unique_name(
    seen: &mut BTreeMap<String, Range<usize>>,
    name: &Sp<String>,
    what: &str,
    diags: &mut Diagnostics,
) -> bool {
    if name.value.trim().is_empty() {
        diags.push(
            Diagnostic::error(format!("the {what}'s `display_name` is empty"), name.span.clone())
                .label("empty")
                .help("name it: the name is how apply finds it again"),
        );
        return false;
    }
    if let Some(first) = seen.get(&name.value) {
        diags.push(
            Diagnostic::error(
                format!("two {what}s are named `{}`", name.value),
                name.span.clone(),
            )
            .label("used again here")
            .related(first.clone(), "first used here")
            .help(format!("each {what} of an app needs its own `display_name`")),
        );
        return false;
    }
    seen.insert(name.value.clone(), name.span.clone());
    true
}

pub(super) fn build_passwords(
    text: &str,
    raw: Option<Sp<Vec<RawPassword>>>,
    diags: &mut Diagnostics,
) -> Option<Vec<DesiredPassword>> {
    let raw = raw?;
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for p in raw.value {
        let Some(name) = p.display_name else { continue };
        if !unique_name(&mut seen, &name, "password", diags) {
            continue;
        }
        let lifetime = duration(&p.lifetime, "lifetime", diags);
        let rotate_before = duration(&p.rotate_before, "rotate_before", diags);
        let end = match (&p.end_date, lifetime) {
            (Some(d), _) if p.lifetime.is_some() => {
                diags.push(
                    Diagnostic::error("`end_date` and `lifetime` are both given", d.span.clone())
                        .label("one of the two")
                        .help("keep `lifetime` (apply rotates it) or `end_date` (a fixed end)"),
                );
                CredentialEnd::Default
            }
            (Some(d), _) => match parse_date(&d.value) {
                Some(at) => CredentialEnd::At(at),
                None => {
                    diags.push(
                        Diagnostic::error(format!("`end_date` `{}` is not a date", d.value), d.span.clone())
                            .label("expected `YYYY-MM-DD` or an RFC 3339 date-time")
                            .help("write it like `end_date = \"2027-06-01\"`"),
                    );
                    CredentialEnd::Default
                }
            },
            (None, Some(l)) => CredentialEnd::Lifetime(l),
            (None, None) => CredentialEnd::Default,
        };
        if let (Some(r), Some(d)) = (&p.rotate_before, &p.end_date) {
            diags.push(
                Diagnostic::error("`rotate_before` with a fixed `end_date`", r.span.clone())
                    .label("would replace it on every apply near its end")
                    .related(d.span.clone(), "fixed end here")
                    .help("use `lifetime = \"180d\"` instead of `end_date` so each new password ends later"),
            );
        }
        if let (Some(r), Some(l), Some(rs)) = (rotate_before, lifetime, &p.rotate_before)
            && r >= l
        {
            diags.push(
                Diagnostic::error("`rotate_before` is not shorter than `lifetime`", rs.span.clone())
                    .label("a new password would be due at once")
                    .help("make `rotate_before` shorter than `lifetime`"),
            );
        }
        out.push(DesiredPassword {
            display_name: name.value,
            end,
            rotate_before,
            secret_in_output: p.secret_in_output.is_none_or(|s| s.value),
            location: location(text, p.span.start),
            span: p.span,
        });
    }
    Some(out)
}

pub(super) fn build_certificates(
    text: &str,
    raw: Option<Sp<Vec<RawCertificate>>>,
    diags: &mut Diagnostics,
) -> Option<Vec<DesiredCertificate>> {
    let raw = raw?;
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for c in raw.value {
        let Some(name) = c.display_name else { continue };
        if !unique_name(&mut seen, &name, "certificate", diags) {
            continue;
        }
        let given = [c.pem.is_some(), c.generate.is_some(), c.thumbprint.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            diags.push(
                Diagnostic::error(
                    format!("certificate `{}` needs one of `pem`, `generate` and `thumbprint`", name.value),
                    c.span.clone(),
                )
                .label(if given == 0 { "none given" } else { "several given" })
                .help("`pem = \"certs/app.pem\"` uploads a certificate, `generate = true` makes one, `thumbprint` keeps one the app has"),
            );
            continue;
        }
        let source = if let Some(p) = c.pem {
            if p.value.trim().is_empty() {
                diags.push(
                    Diagnostic::error("`pem` is empty", p.span)
                        .label("empty")
                        .help("name a PEM file with the certificate, relative to the manifest's folder"),
                );
                continue;
            }
            CertificateSource::Pem(PathBuf::from(p.value))
        } else if let Some(g) = c.generate {
            if !g.value {
                diags.push(
                    Diagnostic::error("`generate = false` names no certificate", g.span)
                        .label("false")
                        .help("write `generate = true`, or `pem = \"…\"` for a certificate of your own"),
                );
                continue;
            }
            CertificateSource::Generate
        } else if let Some(t) = c.thumbprint {
            let hex = t.value.trim().to_ascii_uppercase();
            if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                diags.push(
                    Diagnostic::error(
                        format!("`thumbprint` `{}` is not a SHA-1 thumbprint", t.value),
                        t.span,
                    )
                    .label("expected 40 hexadecimal digits")
                    .help("copy it from `provision import`, or the portal's Certificates & secrets page"),
                );
                continue;
            }
            CertificateSource::Thumbprint(hex)
        } else {
            continue;
        };
        let lifetime = duration(&c.lifetime, "lifetime", diags);
        let rotate_before = duration(&c.rotate_before, "rotate_before", diags);
        if source != CertificateSource::Generate
            && let Some(k) = c.lifetime.as_ref().or(c.rotate_before.as_ref())
        {
            diags.push(
                Diagnostic::error(
                    "`lifetime` and `rotate_before` apply to `generate = true` only",
                    k.span.clone(),
                )
                .label("a given certificate has its own validity")
                .help("remove it, or renew the PEM file yourself"),
            );
        }
        if let (Some(r), Some(rs)) = (rotate_before, &c.rotate_before)
            && r >= lifetime.unwrap_or(DEFAULT_CERTIFICATE_LIFETIME)
        {
            diags.push(
                Diagnostic::error(
                    "`rotate_before` is not shorter than the certificate's lifetime",
                    rs.span.clone(),
                )
                .label("a new certificate would be due at once")
                .help("make `rotate_before` shorter than `lifetime` (default 365d)"),
            );
        }
        out.push(DesiredCertificate {
            display_name: name.value,
            source,
            lifetime,
            rotate_before,
            location: location(text, c.span.start),
            span: c.span,
        });
    }
    Some(out)
}

/// What needs `[output]`: a password's value (unless `secret_in_output = false`) and a generated
/// certificate's key are written only next to or into it; the env dialect cannot hold a client
/// secret (Graph's secrets carry `~`, which a shell expands).
pub(super) fn check_with_output(apps: &[DesiredApp], output: Option<&OutputSpec>, diags: &mut Diagnostics) {
    for app in apps {
        for p in app.passwords.iter().flatten() {
            match output {
                None if p.secret_in_output => diags.push(
                    Diagnostic::error(
                        format!("password `{}` has nowhere to keep its value", p.display_name),
                        p.span.clone(),
                    )
                    .label("needs `[output]`")
                    .help("add `[output]` with `path = \"out/app.json\"`: the value is written there only (mode 0600)"),
                ),
                Some(o) if o.format == OutputFormat::Env => diags.push(
                    Diagnostic::error(
                        format!("password `{}` cannot be kept in an env output file", p.display_name),
                        p.span.clone(),
                    )
                    .label("client secrets hold `~`, which a shell expands")
                    .related(o.path_span.clone(), "env output here")
                    .help("use `format = \"json\"` or `\"toml\"` in `[output]`"),
                ),
                _ => {}
            }
        }
        for c in app.certificates.iter().flatten() {
            if c.source == CertificateSource::Generate && output.is_none() {
                diags.push(
                    Diagnostic::error(
                        format!(
                            "certificate `{}` has nowhere to keep its private key",
                            c.display_name
                        ),
                        c.span.clone(),
                    )
                    .label("needs `[output]`")
                    .help("add `[output]`: the key is written next to the output file (mode 0600)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        assert_eq!(parse_duration("180d"), Some(180 * 86_400));
        assert_eq!(parse_duration("12h"), Some(12 * 3_600));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        for bad in ["", "d", "0d", "3m", "-1d", "1.5d", "10"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_date("1970-01-02"), Some(86_400));
        assert_eq!(parse_date("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_date("soon"), None);
    }
}
