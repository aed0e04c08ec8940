//! Owners and federated identity credentials of an app (issue 17): what apply must add, change
//! or remove. Pure, like the rest of `plan`.
//!
//! - `owners`: absent, ownership is left alone. Listed, every listed owner is added and every
//!   other owner removed, **except the signed-in identity** (the token's `oid`: the user, or the
//!   service principal of an app-only sign-in). apply never removes the identity it runs as: it
//!   would lose the right to manage the app it is about to manage again (an identity with
//!   `Application.ReadWrite.OwnedBy` has no other right to it), and the pipeline that created an
//!   app often owns it. Removing it takes a deliberate act outside provision
//!   (`az ad app owner remove`). A listed owner that does not exist is a plan problem (exit 3).
//! - `federated_credentials`: absent, left alone. Listed, matched by `name`: a credential whose
//!   issuer, subject, audiences or description differ is updated in place (`PATCH`), a missing
//!   one created, one not listed deleted. `name` is immutable in Graph, so a rename shows as a
//!   delete and a create. A `description` the manifest leaves out is left alone.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Action, FieldChange, Observed, ObservedApp, PlanProblem};
use crate::graph::types::{DirectoryObject, FederatedCredential};
use crate::model::{DesiredApp, FederatedCredentialSpec, OwnerRef};

/// Adding or removing one owner (`POST`/`DELETE /applications/{id}/owners/…/$ref`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerStep {
    /// `create` adds the owner, `delete` removes it, `no-op` keeps it.
    pub action: Action,
    /// The directory object id of the owner.
    pub object_id: String,
    /// How plans name it: the user principal name, else the display name, else the id.
    pub name: String,
    /// `user` or `service_principal` (else `directory_object`).
    pub kind: &'static str,
    /// For display: "Alice Example", "service principal, appId …".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Creating, updating or deleting one federated identity credential.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FederatedCredentialStep {
    pub action: Action,
    pub name: String,
    /// The credential's id, when it exists.
    pub id: Option<String>,
    pub fields: Vec<FieldChange>,
    /// The POST (whole credential) or PATCH (changed properties) body.
    #[serde(skip)]
    pub body: Value,
}

/// The signed-in identity kept as an owner although the manifest does not list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptOwner {
    pub object_id: String,
    pub name: String,
}

fn kind_of(o: &DirectoryObject) -> &'static str {
    match o.odata_type.as_deref() {
        Some("#microsoft.graph.user") => "user",
        Some("#microsoft.graph.servicePrincipal") => "service_principal",
        _ if o.user_principal_name.is_some() => "user",
        _ if o.app_id.is_some() => "service_principal",
        _ => "directory_object",
    }
}

fn name_of(o: &DirectoryObject) -> String {
    o.user_principal_name
        .clone()
        .or_else(|| o.display_name.clone())
        .unwrap_or_else(|| o.id.clone())
}

fn detail_of(o: &DirectoryObject) -> Option<String> {
    match kind_of(o) {
        "service_principal" => Some(match (&o.display_name, &o.app_id) {
            (_, Some(app_id)) => format!("service principal, appId {app_id}"),
            _ => "service principal".to_owned(),
        }),
        _ => o
            .display_name
            .clone()
            .filter(|d| Some(d) != o.user_principal_name.as_ref()),
    }
}

fn step(action: Action, o: &DirectoryObject) -> OwnerStep {
    OwnerStep {
        action,
        object_id: o.id.to_ascii_lowercase(),
        name: name_of(o),
        kind: kind_of(o),
        detail: detail_of(o),
    }
}

/// The owner steps of one app, and the signed-in identity when it is kept unlisted.
pub fn plan_owners(
    app: &DesiredApp,
    obs: &ObservedApp,
    observed: &Observed,
    problems: &mut Vec<PlanProblem>,
) -> (Vec<OwnerStep>, Option<KeptOwner>) {
    let Some(wanted) = &app.owners else {
        return (Vec::new(), None);
    };
    let current: &[DirectoryObject] = obs.owners.as_deref().unwrap_or_default();
    let mut steps = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for owner in wanted {
        let found = match &owner.reference {
            OwnerRef::Id(id) => current
                .iter()
                .find(|o| o.id.eq_ignore_ascii_case(id))
                .or_else(|| observed.owner_refs.get(&owner.reference).and_then(Option::as_ref)),
            OwnerRef::Upn(_) => observed.owner_refs.get(&owner.reference).and_then(Option::as_ref),
        };
        let Some(object) = found else {
            let (message, help) = match &owner.reference {
                OwnerRef::Id(id) => (
                    format!("owner `{id}` is no user or service principal of the tenant"),
                    "check the object id (`az ad user show`, `az ad sp show`)",
                ),
                OwnerRef::Upn(upn) => (
                    format!("owner `{upn}` is no user of the tenant"),
                    "check the user principal name (`az ad user show --id …`), or name the owner by object id",
                ),
            };
            problems.push(PlanProblem {
                location: owner.location,
                message,
                help: Some(help.to_owned()),
            });
            continue;
        };
        if listed.iter().any(|l| l.eq_ignore_ascii_case(&object.id)) {
            problems.push(PlanProblem {
                location: owner.location,
                message: format!(
                    "owner `{}` is listed twice (by name and by object id)",
                    name_of(object)
                ),
                help: Some("remove one of them".to_owned()),
            });
            continue;
        }
        listed.push(object.id.clone());
        let have = current.iter().any(|o| o.id.eq_ignore_ascii_case(&object.id));
        steps.push(step(if have { Action::NoOp } else { Action::Create }, object));
    }
    let mut kept = None;
    for o in current {
        if listed.iter().any(|l| l.eq_ignore_ascii_case(&o.id)) {
            continue;
        }
        if observed
            .signed_in
            .as_deref()
            .is_some_and(|me| me.eq_ignore_ascii_case(&o.id))
        {
            kept = Some(KeptOwner {
                object_id: o.id.to_ascii_lowercase(),
                name: name_of(o),
            });
            continue;
        }
        steps.push(step(Action::Delete, o));
    }
    (steps, kept)
}

fn text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The credential as a POST body.
pub fn create_body(spec: &FederatedCredentialSpec) -> Value {
    let mut body = json!({
        "name": spec.name,
        "issuer": spec.issuer,
        "subject": spec.subject,
        "audiences": spec.audiences,
    });
    if let Some(d) = &spec.description {
        body["description"] = json!(d);
    }
    body
}

/// The federated credential steps of one app: deletes first, then updates, then creates, the
/// order apply runs them in (an issuer and subject moving from one name to another must be
/// free before the create).
pub fn plan_federated_credentials(app: &DesiredApp, obs: &ObservedApp) -> Vec<FederatedCredentialStep> {
    let Some(wanted) = &app.federated_credentials else {
        return Vec::new();
    };
    let current: &[FederatedCredential] = obs.federated_credentials.as_deref().unwrap_or_default();
    let name_of = |f: &FederatedCredential| f.name.clone().unwrap_or_default();
    let mut deletes = Vec::new();
    let mut updates = Vec::new();
    let mut creates = Vec::new();
    for f in current {
        if !wanted.iter().any(|w| w.name.eq_ignore_ascii_case(&name_of(f))) {
            deletes.push(FederatedCredentialStep {
                action: Action::Delete,
                name: name_of(f),
                id: f.id.clone(),
                fields: vec![
                    FieldChange {
                        name: "issuer".into(),
                        before: text(&f.issuer),
                        after: Value::Null,
                    },
                    FieldChange {
                        name: "subject".into(),
                        before: text(&f.subject),
                        after: Value::Null,
                    },
                ],
                body: Value::Null,
            });
        }
    }
    for w in wanted {
        match current
            .iter()
            .find(|f| name_of(f) == w.name)
            .or_else(|| current.iter().find(|f| name_of(f).eq_ignore_ascii_case(&w.name)))
        {
            None => {
                let mut fields = vec![
                    FieldChange {
                        name: "issuer".into(),
                        before: Value::Null,
                        after: json!(w.issuer),
                    },
                    FieldChange {
                        name: "subject".into(),
                        before: Value::Null,
                        after: json!(w.subject),
                    },
                    FieldChange {
                        name: "audiences".into(),
                        before: Value::Null,
                        after: json!(w.audiences),
                    },
                ];
                if let Some(d) = &w.description {
                    fields.push(FieldChange {
                        name: "description".into(),
                        before: Value::Null,
                        after: json!(d),
                    });
                }
                creates.push(FederatedCredentialStep {
                    action: Action::Create,
                    name: w.name.clone(),
                    id: None,
                    fields,
                    body: create_body(w),
                });
            }
            Some(f) => {
                let mut fields = Vec::new();
                let mut body = serde_json::Map::new();
                let mut change = |name: &str, key: &str, before: Value, after: Value| {
                    if before != after {
                        body.insert(key.into(), after.clone());
                        fields.push(FieldChange {
                            name: name.into(),
                            before,
                            after,
                        });
                    }
                };
                change("issuer", "issuer", text(&f.issuer), json!(w.issuer));
                change("subject", "subject", text(&f.subject), json!(w.subject));
                change(
                    "audiences",
                    "audiences",
                    json!(sorted(&f.audiences)),
                    json!(sorted(&w.audiences)),
                );
                if let Some(d) = &w.description {
                    change("description", "description", text(&f.description), json!(d));
                }
                updates.push(FederatedCredentialStep {
                    action: if fields.is_empty() {
                        Action::NoOp
                    } else {
                        Action::Update
                    },
                    name: name_of(f),
                    id: f.id.clone(),
                    fields,
                    body: Value::Object(body),
                });
            }
        }
    }
    deletes.into_iter().chain(updates).chain(creates).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Location;

    fn object(
        odata_type: Option<&str>,
        display: Option<&str>,
        upn: Option<&str>,
        app_id: Option<&str>,
    ) -> DirectoryObject {
        DirectoryObject {
            id: "00000000-0000-0000-0000-0000000000AB".into(),
            odata_type: odata_type.map(Into::into),
            display_name: display.map(Into::into),
            user_principal_name: upn.map(Into::into),
            app_id: app_id.map(Into::into),
        }
    }

    const USER: Option<&str> = Some("#microsoft.graph.user");
    const SP: Option<&str> = Some("#microsoft.graph.servicePrincipal");

    #[test]
    fn an_owner_is_a_user_or_service_principal_by_type_else_by_its_properties() {
        // The type decides, whatever the object carries.
        assert_eq!(kind_of(&object(USER, None, None, None)), "user");
        assert_eq!(kind_of(&object(USER, None, None, Some("app"))), "user");
        assert_eq!(kind_of(&object(SP, None, None, None)), "service_principal");
        assert_eq!(
            kind_of(&object(SP, None, Some("a@contoso.com"), None)),
            "service_principal"
        );
        // Without a type: a user principal name makes a user, an appId a service principal.
        assert_eq!(
            kind_of(&object(None, None, Some("a@contoso.com"), Some("app"))),
            "user"
        );
        assert_eq!(
            kind_of(&object(None, None, None, Some("app"))),
            "service_principal"
        );
        assert_eq!(
            kind_of(&object(None, Some("Group"), None, None)),
            "directory_object"
        );
        assert_eq!(
            kind_of(&object(Some("#microsoft.graph.group"), Some("Group"), None, None)),
            "directory_object"
        );
    }

    #[test]
    fn an_owner_step_names_it_and_adds_a_detail_that_says_more_than_the_name() {
        let alice = object(USER, Some("Alice Example"), Some("alice@contoso.com"), None);
        assert_eq!(
            step(Action::Create, &alice),
            OwnerStep {
                action: Action::Create,
                object_id: "00000000-0000-0000-0000-0000000000ab".into(),
                name: "alice@contoso.com".into(),
                kind: "user",
                detail: Some("Alice Example".into()),
            }
        );
        // A display name equal to the name shown adds nothing.
        let same = object(USER, Some("alice@contoso.com"), Some("alice@contoso.com"), None);
        assert_eq!(detail_of(&same), None);
        assert_eq!(
            detail_of(&object(USER, None, Some("alice@contoso.com"), None)),
            None
        );
        let sp = object(SP, Some("pipeline"), None, Some("app-1"));
        assert_eq!(name_of(&sp), "pipeline");
        assert_eq!(detail_of(&sp).as_deref(), Some("service principal, appId app-1"));
        let sp = object(SP, Some("pipeline"), None, None);
        assert_eq!(detail_of(&sp).as_deref(), Some("service principal"));
        assert_eq!(
            name_of(&object(None, None, None, None)),
            "00000000-0000-0000-0000-0000000000AB"
        );
    }

    #[test]
    fn a_credential_is_created_whole_and_its_audiences_compared_as_a_set() {
        let mut spec = FederatedCredentialSpec {
            name: "main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:o/r:ref:refs/heads/main".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
            description: None,
            location: Location::default(),
        };
        assert_eq!(
            create_body(&spec),
            json!({
                "name": "main",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:o/r:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"],
            })
        );
        spec.description = Some("CI".into());
        assert_eq!(create_body(&spec)["description"], "CI");
        assert_eq!(
            sorted(&["b".to_owned(), "a".to_owned()]),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }
}
