//! Planning an app's passwords and certificates against what Graph holds and what this machine
//! holds (`local`). Pure: the clock comes in as `now`. Steps name credentials by display name,
//! keyId and dates, never by value.

use serde::Serialize;
use serde_json::{Value, json};

use super::local::{LocalApp, LocalCert};
use super::{Kind, date_text, graph_date};
use crate::graph::types::Application;
use crate::model::{CertificateSource, CredentialEnd, DesiredApp, DesiredPassword};
use crate::plan::{Action, FieldChange, PlanProblem, Reason};

/// What a step adds.
#[derive(Debug, Clone, PartialEq)]
pub enum New {
    /// `addPassword` with this display name and `endDateTime` (`None`: Graph's default).
    Password { end: Option<String> },
    /// A certificate uploaded in the `keyCredentials` PATCH.
    Certificate(LocalCert),
}

/// One change to an app's credentials. `Create` adds one, `Update` replaces the current one
/// (adds the new one; the old one is a `Delete` step of its own), `Delete` removes the one
/// `key_id` names, `NoOp` keeps `key_id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialStep {
    pub kind: Kind,
    pub action: Action,
    pub display_name: String,
    /// The credential kept, replaced or removed.
    pub key_id: Option<String>,
    pub fields: Vec<FieldChange>,
    #[serde(flatten)]
    pub reason: Option<Reason>,
    /// The end of the credential kept (for the output file).
    #[serde(skip)]
    pub end: Option<String>,
    #[serde(skip)]
    pub new: Option<New>,
    /// For a password kept: its value, as the output file holds it (written back there).
    #[serde(skip)]
    pub secret: Option<super::Secret>,
    /// For a certificate kept: its thumbprint and the PEM file that holds it, when known here.
    #[serde(skip)]
    pub thumbprint: Option<String>,
    #[serde(skip)]
    pub path: Option<std::path::PathBuf>,
}

/// A credential as Graph lists it (no value: Graph never returns one).
#[derive(Debug, Clone)]
struct Seen {
    key_id: String,
    display_name: String,
    start: Option<String>,
    end: Option<String>,
    thumbprint: Option<String>,
}

fn seen(list: &[Value]) -> Vec<Seen> {
    list.iter()
        .filter_map(|c| {
            Some(Seen {
                key_id: c["keyId"].as_str()?.to_ascii_lowercase(),
                display_name: c["displayName"].as_str().unwrap_or_default().to_owned(),
                start: c["startDateTime"].as_str().map(str::to_owned),
                end: c["endDateTime"].as_str().map(str::to_owned),
                thumbprint: c["customKeyIdentifier"].as_str().map(str::to_ascii_uppercase),
            })
        })
        .collect()
}

const KNOWN_AFTER: &str = "(known after apply)";

fn field(name: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        name: name.into(),
        before,
        after,
    }
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map(|s| json!(s)).unwrap_or(Value::Null)
}

fn removal(kind: Kind, s: &Seen, reason: Reason) -> CredentialStep {
    let mut fields = vec![field("key_id", json!(s.key_id), Value::Null)];
    if let Some(t) = &s.thumbprint
        && kind == Kind::Certificate
    {
        fields.push(field("thumbprint", json!(t), Value::Null));
    }
    fields.push(field("end_date", opt(&s.end), Value::Null));
    CredentialStep {
        kind,
        action: Action::Delete,
        display_name: s.display_name.clone(),
        key_id: Some(s.key_id.clone()),
        fields,
        reason: Some(reason),
        end: s.end.clone(),
        new: None,
        secret: None,
        thumbprint: s.thumbprint.clone(),
        path: None,
    }
}

fn kept(kind: Kind, s: &Seen) -> CredentialStep {
    CredentialStep {
        kind,
        action: Action::NoOp,
        display_name: s.display_name.clone(),
        key_id: Some(s.key_id.clone()),
        fields: Vec::new(),
        reason: None,
        end: s.end.clone(),
        new: None,
        secret: None,
        thumbprint: s.thumbprint.clone(),
        path: None,
    }
}

fn end_of(s: &Seen) -> i64 {
    s.end.as_deref().and_then(graph_date).unwrap_or(i64::MAX)
}

/// The end a new password asks for.
fn wanted_end(p: &DesiredPassword, now: i64) -> Option<String> {
    match p.end {
        CredentialEnd::Default => None,
        CredentialEnd::At(t) => Some(date_text(t)),
        CredentialEnd::Lifetime(l) => Some(date_text(now + l)),
    }
}

fn plan_passwords(app: &DesiredApp, all: &[Seen], local: &LocalApp, now: i64, out: &mut Vec<CredentialStep>) {
    let Some(wanted) = &app.passwords else {
        return;
    };
    for p in wanted {
        let same: Vec<&Seen> = all.iter().filter(|s| s.display_name == p.display_name).collect();
        let stored = same
            .iter()
            .copied()
            .filter(|s| local.stored.contains_key(&s.key_id))
            .max_by_key(|s| end_of(s));
        let current: Option<&Seen> = stored.or_else(|| {
            (!p.secret_in_output)
                .then(|| same.iter().copied().max_by_key(|s| end_of(s)))
                .flatten()
        });
        let end = wanted_end(p, now);
        let new_fields = |before: Option<&Seen>| {
            let end_after = end
                .clone()
                .map(Value::String)
                .unwrap_or_else(|| json!("(Graph's default: 2 years)"));
            vec![
                field(
                    "key_id",
                    before.map(|s| json!(s.key_id)).unwrap_or(Value::Null),
                    json!(KNOWN_AFTER),
                ),
                field(
                    "end_date",
                    before.map(|s| opt(&s.end)).unwrap_or(Value::Null),
                    end_after,
                ),
            ]
        };
        let replace_reason = match current {
            None if same.is_empty() => None,
            None => Some(Reason::PasswordValueNotInOutput),
            Some(c) => {
                let fixed_differs = match p.end {
                    CredentialEnd::At(t) => c.end.as_deref().and_then(graph_date) != Some(t),
                    _ => false,
                };
                let due = p
                    .rotate_before
                    .is_some_and(|r| end_of(c).saturating_sub(r) <= now);
                if fixed_differs {
                    Some(Reason::PasswordEndDateChanged)
                } else if due {
                    Some(Reason::PasswordRotationDue { end: c.end.clone() })
                } else {
                    None
                }
            }
        };
        match (current, replace_reason) {
            (Some(c), None) => {
                let mut step = kept(Kind::Password, c);
                step.secret = local.stored.get(&c.key_id).cloned();
                out.push(step);
                // Leftovers of an earlier rotation (same name, not the one in use).
                if p.secret_in_output {
                    for s in same.iter().filter(|s| s.key_id != c.key_id) {
                        out.push(removal(Kind::Password, s, Reason::OlderCredentialOfSameName));
                    }
                }
            }
            (current, reason) => {
                out.push(CredentialStep {
                    kind: Kind::Password,
                    action: if same.is_empty() {
                        Action::Create
                    } else {
                        Action::Update
                    },
                    display_name: p.display_name.clone(),
                    key_id: current.map(|c| c.key_id.clone()),
                    fields: new_fields(current.or(same.first().copied())),
                    reason,
                    end: None,
                    new: Some(New::Password { end: end.clone() }),
                    secret: None,
                    thumbprint: None,
                    path: None,
                });
                for s in &same {
                    out.push(removal(Kind::Password, s, Reason::ReplacedByNewCredential));
                }
            }
        }
    }
    for s in all
        .iter()
        .filter(|s| !wanted.iter().any(|p| p.display_name == s.display_name))
    {
        out.push(removal(Kind::Password, s, Reason::CredentialNoLongerListed));
    }
}

fn plan_certificates(
    app: &DesiredApp,
    all: &[Seen],
    local: &LocalApp,
    out: &mut Vec<CredentialStep>,
    problems: &mut Vec<PlanProblem>,
) {
    let Some(wanted) = &app.certificates else {
        return;
    };
    for (i, c) in wanted.iter().enumerate() {
        let same: Vec<&Seen> = all.iter().filter(|s| s.display_name == c.display_name).collect();
        let (thumbprint, cert) = match (&c.source, local.certificates.get(i).cloned().flatten()) {
            (CertificateSource::Thumbprint(t), _) => (t.clone(), None),
            (_, Some(l)) => (l.thumbprint.clone(), Some(l)),
            (_, None) => continue,
        };
        let current = same
            .iter()
            .find(|s| s.thumbprint.as_deref() == Some(thumbprint.as_str()));
        match (current, cert) {
            (Some(cur), local_cert) => {
                let mut step = kept(Kind::Certificate, cur);
                step.path = local_cert.map(|l| l.path);
                out.push(step);
                for s in same.iter().filter(|s| s.key_id != cur.key_id) {
                    out.push(removal(Kind::Certificate, s, Reason::OlderCredentialOfSameName));
                }
            }
            (None, None) => problems.push(PlanProblem {
                location: c.location,
                message: format!(
                    "the app has no certificate `{}` with thumbprint {thumbprint}",
                    c.display_name
                ),
                help: Some("give `pem = \"path\"` (or `generate = true`) so apply can upload one".into()),
            }),
            (None, Some(cert)) => {
                let before = same.first().copied();
                let mut fields = vec![
                    field(
                        "key_id",
                        before.map(|s| json!(s.key_id)).unwrap_or(Value::Null),
                        json!(KNOWN_AFTER),
                    ),
                    field(
                        "thumbprint",
                        before.map(|s| opt(&s.thumbprint)).unwrap_or(Value::Null),
                        json!(cert.thumbprint),
                    ),
                    field(
                        "start_date",
                        before.map(|s| opt(&s.start)).unwrap_or(Value::Null),
                        json!(date_text(cert.not_before)),
                    ),
                    field(
                        "end_date",
                        before.map(|s| opt(&s.end)).unwrap_or(Value::Null),
                        json!(date_text(cert.not_after)),
                    ),
                ];
                if cert.pending.is_some() {
                    fields.push(field(
                        "key_file",
                        Value::Null,
                        json!(cert.path.display().to_string()),
                    ));
                }
                let reason = if same.is_empty() {
                    None
                } else if cert.pending.is_some() {
                    Some(Reason::CertificateRegenerated)
                } else {
                    Some(Reason::CertificatePemChanged)
                };
                out.push(CredentialStep {
                    kind: Kind::Certificate,
                    action: if same.is_empty() {
                        Action::Create
                    } else {
                        Action::Update
                    },
                    display_name: c.display_name.clone(),
                    key_id: before.map(|s| s.key_id.clone()),
                    fields,
                    reason,
                    end: Some(date_text(cert.not_after)),
                    thumbprint: Some(cert.thumbprint.clone()),
                    path: Some(cert.path.clone()),
                    new: Some(New::Certificate(cert)),
                    secret: None,
                });
                for s in &same {
                    out.push(removal(Kind::Certificate, s, Reason::ReplacedByNewCredential));
                }
            }
        }
    }
    for s in all
        .iter()
        .filter(|s| !wanted.iter().any(|c| c.display_name == s.display_name))
    {
        out.push(removal(Kind::Certificate, s, Reason::CredentialNoLongerListed));
    }
}

/// Plan one app's credentials.
pub fn plan(
    app: &DesiredApp,
    existing: Option<&Application>,
    local: &LocalApp,
    now: i64,
    has_output: bool,
) -> Result<Vec<CredentialStep>, Vec<PlanProblem>> {
    let passwords = existing
        .map(|a| seen(&a.password_credentials))
        .unwrap_or_default();
    let keys = existing.map(|a| seen(&a.key_credentials)).unwrap_or_default();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    plan_passwords(app, &passwords, local, now, &mut out);
    plan_certificates(app, &keys, local, &mut out, &mut problems);
    // A new password's value exists once: without an output file it would be thrown away
    // (only `secret_in_output = false` passwords get past validation without `[output]`).
    if !has_output {
        for c in out.iter().filter(|c| matches!(c.new, Some(New::Password { .. }))) {
            let location = app
                .passwords
                .iter()
                .flatten()
                .find(|p| p.display_name == c.display_name)
                .map(|p| p.location)
                .unwrap_or(app.location);
            problems.push(PlanProblem {
                location,
                message: format!(
                    "password `{}` must be created, and the manifest has no `[output]` to keep its value",
                    c.display_name
                ),
                help: Some(
                    "add `[output]` with `path = \"out/app.json\"`: the value is written there only".into(),
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use crate::model::{ConsentMode, Location, SignInAudience};

    fn app(passwords: Vec<DesiredPassword>) -> DesiredApp {
        DesiredApp {
            unique_name: "a".into(),
            app_id: None,
            display_name: "A".into(),
            sign_in_audience: SignInAudience::AzureADMyOrg,
            notes: None,
            tags: Default::default(),
            public_client: None,
            api_permissions: Vec::new(),
            consent: ConsentMode::Admin,
            props: Default::default(),
            location: Location::default(),
            passwords: Some(passwords),
            certificates: None,
            owners: None,
            federated_credentials: None,
        }
    }

    fn password(name: &str, end: CredentialEnd, rotate_before: Option<i64>) -> DesiredPassword {
        DesiredPassword {
            display_name: name.into(),
            end,
            rotate_before,
            secret_in_output: true,
            location: Location::default(),
            span: 0..0,
        }
    }

    fn graph(creds: Value) -> Application {
        Application {
            password_credentials: creds.as_array().unwrap().clone(),
            ..Default::default()
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn a_password_is_kept_rotated_when_due_and_replaced_without_its_value() {
        let now = 1_000 * DAY;
        let end = date_text(now + 10 * DAY);
        let existing = graph(json!([{"keyId": "K1", "displayName": "ci", "endDateTime": end}]));
        let mut local = LocalApp::default();
        local.stored.insert("k1".into(), Secret::new("v".into()));
        let desired = app(vec![password(
            "ci",
            CredentialEnd::Lifetime(90 * DAY),
            Some(5 * DAY),
        )]);
        let steps = plan(&desired, Some(&existing), &local, now, true).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(
            (steps[0].action, steps[0].key_id.as_deref()),
            (Action::NoOp, Some("k1"))
        );

        let due = app(vec![password(
            "ci",
            CredentialEnd::Lifetime(90 * DAY),
            Some(20 * DAY),
        )]);
        let steps = plan(&due, Some(&existing), &local, now, true).unwrap();
        let actions: Vec<Action> = steps.iter().map(|s| s.action).collect();
        assert_eq!(actions, [Action::Update, Action::Delete]);
        assert_eq!(
            steps[0].new,
            Some(New::Password {
                end: Some(date_text(now + 90 * DAY))
            })
        );

        let steps = plan(&desired, Some(&existing), &LocalApp::default(), now, true).unwrap();
        assert_eq!(steps[0].action, Action::Update);
        assert_eq!(steps[0].reason, Some(Reason::PasswordValueNotInOutput));
        assert!(
            steps[0]
                .reason
                .as_ref()
                .unwrap()
                .to_string()
                .contains("not in the output file")
        );
    }

    #[test]
    fn unlisted_passwords_are_removed_only_when_the_manifest_lists_passwords() {
        let existing = graph(json!([{"keyId": "k9", "displayName": "old"}]));
        let steps = plan(&app(vec![]), Some(&existing), &LocalApp::default(), 0, true).unwrap();
        assert_eq!(steps[0].action, Action::Delete);
        let mut none = app(vec![]);
        none.passwords = None;
        assert!(
            plan(&none, Some(&existing), &LocalApp::default(), 0, true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_new_password_without_an_output_file_is_a_problem() {
        let mut p = password("elsewhere", CredentialEnd::Default, None);
        p.secret_in_output = false;
        let problems = plan(&app(vec![p.clone()]), None, &LocalApp::default(), 0, false).unwrap_err();
        assert!(problems[0].message.contains("no `[output]`"), "{problems:?}");
        // Kept as it is: fine without an output file.
        let existing = graph(json!([{"keyId": "k1", "displayName": "elsewhere"}]));
        assert_eq!(
            plan(&app(vec![p]), Some(&existing), &LocalApp::default(), 0, false).unwrap()[0].action,
            Action::NoOp
        );
    }
}
