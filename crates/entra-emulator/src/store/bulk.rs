//! A large tenant seeded deterministically (`provision emulator --seed-tenant N --seed S`):
//! N applications with service principals, users, admin (`AllPrincipals`) and user
//! (`Principal`) delegated grants, and app role assignments, a share of them on the Microsoft
//! Threat Protection API. For the audit benchmark and tests.
//!
//! Every object is made through the same store rules as a Graph write, so the tenant is one
//! Graph could hold. The same N and seed give the same names, appIds, user ids, grants, scopes
//! and assignments; object ids of applications, service principals and assignments are drawn
//! fresh, as Graph draws them.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{Key, Tenant, as_object};

/// How many users the seeded grants are spread over: one per 20 apps, at least 3.
fn user_count(apps: usize) -> usize {
    (apps / 20).max(3)
}

/// The unique name of seeded app `i` (also its display name after "Seeded app ").
pub fn unique_name(i: usize) -> String {
    format!("seeded-app-{i:04}")
}

/// A GUID from the seeded generator (version 4 bits, as Graph's are).
fn guid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// Microsoft Graph delegated scopes the seeded grants draw from: ordinary sign-in scopes and
/// a few high-privilege ones.
const GRAPH_SCOPES: &[&str] = &[
    "User.Read",
    "openid",
    "profile",
    "offline_access",
    "Mail.Read",
    "Directory.Read.All",
    "User.ReadWrite.All",
];
/// Microsoft Graph application roles the seeded assignments draw from.
const GRAPH_ROLES: &[&str] = &[
    "User.Read.All",
    "Directory.Read.All",
    "Application.ReadWrite.All",
    "SecurityIncident.Read.All",
];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str], n: usize) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    while out.len() < n.min(from.len()) {
        let s = from[rng.random_range(0..from.len())];
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort_unstable();
    out
}

impl Tenant {
    /// Add `apps` applications with their grants and assignments, drawn from `seed`. Seeded
    /// objects are outside any replication window.
    pub fn seed_bulk(&mut self, apps: usize, seed: u64) -> Result<(), super::GraphError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let domain = self.identity.domain.clone();
        let users: Vec<String> = (0..user_count(apps))
            .map(|k| {
                let id = guid(&mut rng);
                self.users.push(as_object(json!({
                    "businessPhones": [],
                    "displayName": format!("Seeded User {k:03}"),
                    "givenName": "Seeded",
                    "jobTitle": null,
                    "mail": format!("user{k:03}@{domain}"),
                    "mobilePhone": null,
                    "officeLocation": null,
                    "preferredLanguage": "en-US",
                    "surname": format!("User {k:03}"),
                    "userPrincipalName": format!("user{k:03}@{domain}"),
                    "id": id
                })));
                id
            })
            .collect();
        let sp_of = |t: &Tenant, app_id: &str| {
            t.service_principal_by_app_id(app_id)
                .map(|s| s.id().to_owned())
                .unwrap_or_default()
        };
        let graph = sp_of(self, entra_catalog::MICROSOFT_GRAPH_APP_ID);
        let tp_api = entra_catalog::by_alias("microsoft-threat-protection");
        let atp_api = entra_catalog::by_alias("windows-defender-atp");
        let (Some(tp_api), Some(atp_api)) = (tp_api, atp_api) else {
            return Ok(());
        };
        let tp = sp_of(self, &tp_api.app_id);
        let atp = sp_of(self, &atp_api.app_id);
        let values =
            |p: &'static [entra_catalog::Permission]| p.iter().map(|p| p.value.as_str()).collect::<Vec<_>>();
        let tp_scopes = values(&tp_api.scopes);
        let atp_scopes = values(&atp_api.scopes);
        let tp_roles = values(&tp_api.roles);
        let role_id = |t: &Tenant, resource: &str, value: &str| -> Option<String> {
            let sp = t.service_principal(&Key::Id(resource.to_owned())).ok()?;
            sp.data["appRoles"]
                .as_array()?
                .iter()
                .find(|r| r["value"] == value)
                .and_then(|r| r["id"].as_str().map(str::to_owned))
        };
        let base = chrono::DateTime::parse_from_rfc3339("2025-01-06T09:00:00Z")
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        for i in 0..apps {
            let app_id = guid(&mut rng);
            let name = unique_name(i);
            let app = as_object(json!({
                "displayName": format!("Seeded app {i:04}"),
                "uniqueName": name,
                "signInAudience": "AzureADMyOrg",
            }));
            self.insert_application(app, Some(app_id.clone()));
            let sp = self.create_service_principal(as_object(json!({"appId": app_id})))?;
            let sp_id = sp["id"].as_str().unwrap_or_default().to_owned();
            // The admin grant: a quarter on Threat Protection, some on Defender, the rest on Graph.
            let roll = rng.random_range(0..100);
            let n = rng.random_range(1..=2);
            let (resource, scopes) = if roll < 25 {
                (&tp, pick(&mut rng, &tp_scopes, n))
            } else if roll < 40 {
                (&atp, pick(&mut rng, &atp_scopes, n))
            } else {
                (&graph, pick(&mut rng, GRAPH_SCOPES, n))
            };
            self.create_grant(as_object(json!({
                "clientId": sp_id, "consentType": "AllPrincipals",
                "resourceId": resource, "scope": scopes.join(" "),
            })))?;
            // One user's own consent: mostly Graph sign-in scopes, a fifth on Threat Protection.
            let user = &users[rng.random_range(0..users.len())];
            let (resource, scopes) = if rng.random_range(0..100) < 20 {
                (&tp, pick(&mut rng, &tp_scopes, 1))
            } else {
                (&graph, vec!["User.Read", "openid", "profile"])
            };
            self.create_grant(as_object(json!({
                "clientId": sp_id, "consentType": "Principal", "principalId": user,
                "resourceId": resource, "scope": scopes.join(" "),
            })))?;
            // An application permission for one app in five.
            if rng.random_range(0..100) < 20 {
                let (resource, value) = if rng.random_bool(0.5) {
                    (&tp, pick(&mut rng, &tp_roles, 1)[0])
                } else {
                    (&graph, pick(&mut rng, GRAPH_ROLES, 1)[0])
                };
                if let Some(role) = role_id(self, resource, value) {
                    let body =
                        as_object(json!({"principalId": sp_id, "resourceId": resource, "appRoleId": role}));
                    let mut a = self.create_app_role_assignment(&Key::Id(sp_id.clone()), body, true)?;
                    let at = base + chrono::Duration::minutes(i as i64 * 7);
                    a.insert("createdDateTime".into(), Value::String(super::timestamp(at)));
                    if let Some(stored) = self.app_role_assignments.last_mut() {
                        stored.data = a;
                    }
                }
            }
        }
        for e in self
            .applications
            .iter_mut()
            .chain(self.service_principals.iter_mut())
            .chain(self.grants.iter_mut())
            .chain(self.app_role_assignments.iter_mut())
        {
            e.created_ms = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::TenantIdentity;
    use super::*;

    fn seeded(apps: usize, seed: u64) -> Tenant {
        let mut t = Tenant::seed(TenantIdentity::generate("key".into(), "cert".into()));
        t.seed_bulk(apps, seed).unwrap();
        t
    }

    /// How many app role assignments the seeded clients hold before the bulk seeding.
    fn own_assignments() -> usize {
        Tenant::seed(TenantIdentity::generate("key".into(), "cert".into()))
            .app_role_assignments
            .len()
    }

    /// What the seed decides, without the ids Graph draws.
    fn shape(t: &Tenant) -> Vec<String> {
        let app_of_sp = |id: &str| {
            t.service_principals
                .iter()
                .find(|s| s.id() == id)
                .map(|s| s.app_id().to_owned())
                .unwrap_or_default()
        };
        let mut out: Vec<String> = t
            .grants
            .iter()
            .map(|g| {
                format!(
                    "{} {} {} {} {}",
                    app_of_sp(g.str("clientId")),
                    g.str("consentType"),
                    g.str("principalId"),
                    app_of_sp(g.str("resourceId")),
                    g.str("scope")
                )
            })
            .collect();
        // The seeded clients' assignments come first; their appIds are the tenant's own.
        out.extend(t.app_role_assignments.iter().skip(own_assignments()).map(|a| {
            format!(
                "{} {} {} {}",
                app_of_sp(a.str("principalId")),
                app_of_sp(a.str("resourceId")),
                a.str("appRoleId"),
                a.str("createdDateTime")
            )
        }));
        out
    }

    #[test]
    fn same_seed_same_tenant_and_the_promised_shares() {
        let a = seeded(200, 7);
        let b = seeded(200, 7);
        assert!(shape(&a) == shape(&b), "the same seed gives the same tenant");
        assert!(
            shape(&a) != shape(&seeded(200, 8)),
            "another seed, another tenant"
        );
        // Two seeded clients before, plus 200.
        assert_eq!(a.applications.len(), 202);
        assert_eq!(a.grants.len(), 400);
        let tp = a
            .service_principal_by_app_id(
                &entra_catalog::by_alias("microsoft-threat-protection")
                    .unwrap()
                    .app_id,
            )
            .unwrap()
            .id()
            .to_owned();
        let on_tp = a.grants.iter().filter(|g| g.str("resourceId") == tp).count();
        assert!((40..=140).contains(&on_tp), "{on_tp} grants on Threat Protection");
        let users = a
            .grants
            .iter()
            .filter(|g| g.str("consentType") == "Principal")
            .count();
        assert_eq!(users, 200);
        let assigned = a.app_role_assignments.len() - own_assignments();
        assert!((15..=70).contains(&assigned), "{assigned} assignments");
    }
}
