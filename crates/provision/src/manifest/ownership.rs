//! `owners` and `[[app.federated_credentials]]` (issue 17): from the raw schema to the model,
//! with Graph's rules checked offline so that apply does not meet them. Pure: no I/O.
//!
//! Federated identity credentials follow
//! https://learn.microsoft.com/en-us/graph/api/resources/federatedidentitycredential and
//! https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-considerations:
//! `name` required, at most 120 characters, URL friendly, unique per app and immutable;
//! `issuer` and `subject` at most 600 characters each, their combination unique per app;
//! `audiences` one value of at most 600 characters (`api://AzureADTokenExchange` for Entra ID);
//! at most 20 per app. The GitHub Actions subjects are those GitHub documents for its OIDC token
//! (https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect):
//! `repo:ORG/REPO:ref:refs/heads/BRANCH`, `…:ref:refs/tags/TAG`, `…:environment:NAME`,
//! `…:pull_request`, issued by `https://token.actions.githubusercontent.com`.

use std::collections::BTreeMap;
use std::ops::Range;

use super::build::push;
use super::diagnostic::{Diagnostic, Diagnostics, location};
use super::raw::{RawFederatedCredential, RawGitHub, Sp};
use super::rules;
use crate::model::{FederatedCredentialSpec, Owner, OwnerRef};

/// The issuer of GitHub Actions' OIDC tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The audience Entra expects on federated assertions.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";
/// At most 20 federated identity credentials per application.
pub const MAX_FEDERATED_CREDENTIALS: usize = 20;
const MAX_NAME: usize = 120;
const MAX_VALUE: usize = 600;

/// `owners = [...]`: object ids or user principal names, each once.
pub fn build_owners(text: &str, owners: Sp<Vec<Sp<String>>>, diags: &mut Diagnostics) -> Vec<Owner> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<OwnerRef, Range<usize>> = BTreeMap::new();
    for o in owners.value {
        let v = o.value.trim();
        let reference = if let Some(guid) = rules::parse_guid(v) {
            OwnerRef::Id(guid)
        } else if rules::looks_like_guid(v) {
            push(diags, text, rules::malformed_guid("the owner", v), o.span);
            continue;
        } else if is_upn(v) {
            OwnerRef::Upn(v.to_owned())
        } else {
            diags.push(
                Diagnostic::error(format!("owner `{}` is neither an object id nor a user principal name", o.value), o.span)
                    .label("not an owner")
                    .help("name a user by user principal name (`alice@contoso.com`), or a user or service principal by object id"),
            );
            continue;
        };
        // Directory names are matched without regard to case.
        let key = match &reference {
            OwnerRef::Upn(u) => OwnerRef::Upn(u.to_lowercase()),
            other => other.clone(),
        };
        if let Some(first) = seen.get(&key) {
            diags.push(
                Diagnostic::error(format!("duplicate owner `{}`", o.value), o.span.clone())
                    .label("listed again here")
                    .related(first.clone(), "first listed here")
                    .help("remove one of them"),
            );
            continue;
        }
        seen.insert(key, o.span.clone());
        out.push(Owner {
            reference,
            location: location(text, o.span.start),
        });
    }
    out
}

/// `local@domain`, no spaces: the shape of a user principal name.
pub fn is_upn(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
                && !domain.contains('@')
        }
        None => false,
    }
}

/// `[[app.federated_credentials]]`, with Graph's per-app rules.
pub fn build_federated_credentials(
    text: &str,
    raw: Vec<RawFederatedCredential>,
    diags: &mut Diagnostics,
) -> Vec<FederatedCredentialSpec> {
    if let Some(extra) = raw.get(MAX_FEDERATED_CREDENTIALS) {
        diags.push(
            Diagnostic::error(
                format!(
                    "the app has {} federated credentials, more than the {MAX_FEDERATED_CREDENTIALS} Graph allows",
                    raw.len()
                ),
                extra.span.clone(),
            )
            .label(format!("credential number {}", MAX_FEDERATED_CREDENTIALS + 1)),
        );
    }
    let mut out = Vec::new();
    let mut names: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), Range<usize>> = BTreeMap::new();
    for r in raw {
        let span = r.span.clone();
        let Some(fic) = build_one(text, r, diags) else {
            continue;
        };
        let key = fic.name.to_lowercase();
        if let Some(first) = names.get(&key) {
            diags.push(
                Diagnostic::error(
                    format!("two federated credentials are named `{}`", fic.name),
                    span.clone(),
                )
                .label("named again here")
                .related(first.clone(), "first named here")
                .help("Graph keeps names unique per app: give each credential its own `name`"),
            );
            continue;
        }
        let pair = (fic.issuer.clone(), fic.subject.clone());
        if let Some(first) = pairs.get(&pair) {
            diags.push(
                Diagnostic::error(
                    format!(
                        "two federated credentials trust issuer `{}` with subject `{}`",
                        fic.issuer, fic.subject
                    ),
                    span.clone(),
                )
                .label("the same issuer and subject again")
                .related(first.clone(), "first here")
                .help("Graph keeps the issuer and subject combination unique per app: remove one"),
            );
            continue;
        }
        names.insert(key, span.clone());
        pairs.insert(pair, span);
        out.push(fic);
    }
    out
}

fn build_one(
    text: &str,
    r: RawFederatedCredential,
    diags: &mut Diagnostics,
) -> Option<FederatedCredentialSpec> {
    let before = diags.error_count();
    let name = r.name.and_then(|n| match check_name(&n.value) {
        Ok(()) => Some(n.value),
        Err(why) => {
            diags.push(
                Diagnostic::error(format!("federated credential name `{}` {why}", n.value), n.span)
                    .label("not a credential name")
                    .help("use at most 120 letters, digits, `-`, `_` and `.`, starting with a letter or digit, like `github-main`"),
            );
            None
        }
    });
    let github = r.github.as_ref().and_then(|g| github_subject(g, diags));
    let issuer = match (&r.issuer, &github) {
        (Some(i), _) => checked_value("issuer", i, diags),
        // With `github`, GitHub's issuer (also when the helper itself is wrong: reported once).
        (None, _) if r.github.is_some() => Some(GITHUB_ISSUER.to_owned()),
        (None, _) => {
            diags.push(
                Diagnostic::error("the federated credential has no `issuer`", r.span.clone())
                    .label("`issuer` is required here")
                    .help(format!(
                        "add `issuer = \"…\"` (the `iss` of the external token), or `github = {{ repository = \"org/repo\", branch = \"main\" }}` for GitHub Actions ({GITHUB_ISSUER})"
                    )),
            );
            None
        }
    };
    let subject = match (&r.subject, github) {
        (Some(s), None) => checked_value("subject", s, diags),
        (Some(s), Some(_)) => {
            diags.push(
                Diagnostic::error("`subject` and `github` both set the subject", s.span.clone())
                    .label("a second subject")
                    .help("keep `github` (it writes the subject) or `subject`, not both"),
            );
            None
        }
        (None, Some(g)) => Some(g),
        (None, None) if r.github.is_some() => None,
        (None, None) => {
            diags.push(
                Diagnostic::error("the federated credential has no `subject`", r.span.clone())
                    .label("`subject` is required here")
                    .help("add `subject = \"…\"` (the `sub` of the external token), or a `github = { … }` helper"),
            );
            None
        }
    };
    let audiences = match r.audiences {
        None => vec![DEFAULT_AUDIENCE.to_owned()],
        Some(list) => {
            if list.value.len() != 1 {
                diags.push(
                    Diagnostic::error(
                        format!(
                            "`audiences` holds {} values; Graph takes exactly one",
                            list.value.len()
                        ),
                        list.span.clone(),
                    )
                    .label("one value expected")
                    .help(format!(
                        "write `audiences = [\"{DEFAULT_AUDIENCE}\"]` (the default), or leave it out"
                    )),
                );
            }
            list.value
                .iter()
                .filter_map(|a| checked_value("audience", a, diags))
                .collect()
        }
    };
    let description = r.description.and_then(|d| {
        if d.value.chars().count() > MAX_VALUE {
            diags.push(
                Diagnostic::error(
                    format!("the description is longer than {MAX_VALUE} characters"),
                    d.span,
                )
                .label("too long"),
            );
            None
        } else {
            Some(d.value)
        }
    });
    if diags.error_count() > before {
        return None;
    }
    Some(FederatedCredentialSpec {
        name: name?,
        issuer: issuer?,
        subject: subject?,
        audiences,
        description,
        location: location(text, r.span.start),
    })
}

/// Whether a federated credential as Graph holds it passes this manifest's rules (so `import`
/// can write it as keys).
pub fn importable(
    name: &str,
    issuer: &str,
    subject: &str,
    audiences: &[String],
    description: Option<&str>,
) -> bool {
    let value = |s: &str| !s.trim().is_empty() && s.trim() == s && s.chars().count() <= MAX_VALUE;
    check_name(name).is_ok()
        && value(issuer)
        && value(subject)
        && audiences.len() == 1
        && audiences.iter().all(|a| value(a))
        && description.is_none_or(|d| d.chars().count() <= MAX_VALUE)
}

/// The `github = { … }` helper that writes `subject` under GitHub's issuer, when it does:
/// `(repository, key, value)` with key `branch`, `tag`, `environment` or `pull_request`.
pub fn github_helper(issuer: &str, subject: &str) -> Option<(String, &'static str, Option<String>)> {
    if issuer != GITHUB_ISSUER {
        return None;
    }
    let rest = subject.strip_prefix("repo:")?;
    let (repo, what) = rest.split_once(':')?;
    let repo_ok = repo.split_once('/').is_some_and(|(o, n)| {
        let part = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        part(o) && part(n)
    });
    if !repo_ok {
        return None;
    }
    let name_ok = |v: &str| !v.is_empty() && !v.chars().any(char::is_whitespace);
    let (key, value) = if what == "pull_request" {
        ("pull_request", None)
    } else if let Some(b) = what.strip_prefix("ref:refs/heads/") {
        ("branch", Some(b.to_owned()))
    } else if let Some(t) = what.strip_prefix("ref:refs/tags/") {
        ("tag", Some(t.to_owned()))
    } else if let Some(e) = what.strip_prefix("environment:") {
        ("environment", Some(e.to_owned()))
    } else {
        return None;
    };
    if value.as_deref().is_some_and(|v| !name_ok(v)) {
        return None;
    }
    Some((repo.to_owned(), key, value))
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.chars().count() > MAX_NAME {
        return Err("is longer than 120 characters");
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("is not URL friendly");
    }
    Ok(())
}

/// An issuer, subject or audience: not empty, at most 600 characters, no whitespace at the ends.
fn checked_value(what: &str, v: &Sp<String>, diags: &mut Diagnostics) -> Option<String> {
    let s = v.value.as_str();
    let problem = if s.trim().is_empty() {
        Some(format!("the {what} is empty"))
    } else if s.chars().count() > MAX_VALUE {
        Some(format!("the {what} is longer than {MAX_VALUE} characters"))
    } else if s.trim() != s {
        Some(format!("the {what} `{s}` starts or ends with whitespace"))
    } else {
        None
    };
    match problem {
        Some(message) => {
            diags.push(
                Diagnostic::error(message, v.span.clone())
                    .label(format!("not a federated credential {what}"))
                    .help("it must match the external token's claim exactly (Entra compares it case-sensitively)"),
            );
            None
        }
        None => Some(s.to_owned()),
    }
}

/// The subject GitHub puts in its OIDC token for the job the helper describes.
fn github_subject(g: &RawGitHub, diags: &mut Diagnostics) -> Option<String> {
    let repo = g.repository.as_ref()?;
    let r = repo.value.as_str();
    let valid = r.split_once('/').is_some_and(|(org, name)| {
        let part = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        part(org) && part(name)
    });
    if !valid {
        diags.push(
            Diagnostic::error(
                format!("`repository` `{r}` is not `owner/name`"),
                repo.span.clone(),
            )
            .label("not a GitHub repository")
            .help("write the repository as GitHub shows it, like `contoso/infra`"),
        );
        return None;
    }
    let mut kinds: Vec<(String, Range<usize>)> = Vec::new();
    if let Some(b) = &g.branch {
        kinds.push((format!("repo:{r}:ref:refs/heads/{}", b.value), b.span.clone()));
    }
    if let Some(t) = &g.tag {
        kinds.push((format!("repo:{r}:ref:refs/tags/{}", t.value), t.span.clone()));
    }
    if let Some(e) = &g.environment {
        kinds.push((format!("repo:{r}:environment:{}", e.value), e.span.clone()));
    }
    if let Some(p) = &g.pull_request {
        if p.value {
            kinds.push((format!("repo:{r}:pull_request"), p.span.clone()));
        } else {
            diags.push(
                Diagnostic::error("`pull_request = false` describes no subject", p.span.clone())
                    .label("false")
                    .help("write `pull_request = true` for pull requests, or `branch`, `tag` or `environment` instead"),
            );
            return None;
        }
    }
    if let Some(bad) = [&g.branch, &g.tag, &g.environment]
        .into_iter()
        .flatten()
        .find(|s| s.value.trim().is_empty() || s.value.chars().any(char::is_whitespace))
    {
        diags.push(
            Diagnostic::error(
                "a GitHub branch, tag or environment name cannot be empty or hold whitespace",
                bad.span.clone(),
            )
            .label("not a name"),
        );
        return None;
    }
    match kinds.len() {
        1 => kinds.pop().map(|(s, _)| s),
        0 => {
            diags.push(
                Diagnostic::error("`github` names no branch, tag, environment or pull request", g.span.clone())
                    .label("which jobs may sign in?")
                    .help("add one of `branch = \"main\"`, `tag = \"v1\"`, `environment = \"prod\"`, `pull_request = true`"),
            );
            None
        }
        _ => {
            diags.push(
                Diagnostic::error("`github` names more than one of branch, tag, environment and pull request", kinds[1].1.clone())
                    .label("a second subject")
                    .related(kinds[0].1.clone(), "the first")
                    .help("GitHub's token has one subject: write one federated credential per branch, tag, environment or pull request"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_follow_graph() {
        assert!(check_name("github-main").is_ok());
        assert!(check_name("a.b_c").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"a".repeat(121)).is_err());
        assert!(check_name(&"a".repeat(120)).is_ok());
    }

    #[test]
    fn user_principal_names() {
        assert!(is_upn("alice@contoso.com"));
        assert!(!is_upn("alice"));
        assert!(!is_upn("@contoso.com"));
        assert!(!is_upn("alice@contoso"));
        assert!(!is_upn("al ice@contoso.com"));
    }
}
