//! The first-party resource APIs that `provision` knows by alias, with their real appIds and
//! permission IDs (`crates/entra-catalog/data/first-party-apis.json`, sources in docs/graph-notes.md §8).
//!
//! Pure: the data is compiled in. The manifest resolves aliases through it, the planner uses it
//! to create a missing first-party resource service principal, and the emulator seeds its tenant
//! from the same objects.

use std::sync::OnceLock;

use serde::Deserialize;

/// One permission (delegated scope or application role) as a service principal publishes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub id: String,
    pub value: String,
    /// `User` or `Admin` for scopes; absent for app roles.
    #[serde(default, rename = "type")]
    pub scope_type: Option<String>,
}

/// A first-party API: alias, resource URL and the service principal object Graph shows for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownApi {
    pub alias: String,
    pub resource_url: String,
    /// The service principal exactly as seeded in the emulator (Graph property names).
    pub service_principal: serde_json::Value,
    #[serde(skip)]
    pub app_id: String,
    #[serde(skip)]
    pub display_name: String,
    #[serde(skip)]
    pub service_principal_names: Vec<String>,
    #[serde(skip)]
    pub scopes: Vec<Permission>,
    #[serde(skip)]
    pub roles: Vec<Permission>,
}

#[derive(Deserialize)]
struct File {
    apis: Vec<KnownApi>,
}

const DATA: &str = include_str!("../data/first-party-apis.json");

/// Every known first-party API, in a fixed order.
pub fn known_apis() -> &'static [KnownApi] {
    static APIS: OnceLock<Vec<KnownApi>> = OnceLock::new();
    APIS.get_or_init(|| {
        #[allow(clippy::expect_used, reason = "compiled-in data, checked by a unit test")]
        let file: File =
            serde_json::from_str(DATA).expect("crates/entra-catalog/data/first-party-apis.json is valid");
        file.apis
            .into_iter()
            .map(|mut api| {
                let sp = &api.service_principal;
                let text = |k: &str| sp[k].as_str().unwrap_or_default().to_owned();
                api.app_id = text("appId");
                api.display_name = text("displayName");
                api.service_principal_names =
                    serde_json::from_value(sp["servicePrincipalNames"].clone()).unwrap_or_default();
                api.scopes = serde_json::from_value(sp["oauth2PermissionScopes"].clone()).unwrap_or_default();
                api.roles = serde_json::from_value(sp["appRoles"].clone()).unwrap_or_default();
                api
            })
            .collect()
    })
}

/// The known API with this alias (`microsoft-graph`, …), case-insensitive.
pub fn by_alias(alias: &str) -> Option<&'static KnownApi> {
    known_apis().iter().find(|a| a.alias.eq_ignore_ascii_case(alias))
}

/// The known API with this appId.
pub fn by_app_id(app_id: &str) -> Option<&'static KnownApi> {
    known_apis()
        .iter()
        .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
}

/// The known API that answers to this reference: alias, appId, display name or one of its
/// service principal names (identifier URIs, with or without a trailing slash).
pub fn lookup(reference: &str) -> Option<&'static KnownApi> {
    let trimmed = reference.trim_end_matches('/');
    known_apis().iter().find(|a| {
        a.alias.eq_ignore_ascii_case(reference)
            || a.app_id.eq_ignore_ascii_case(reference)
            || a.display_name.eq_ignore_ascii_case(reference)
            || a.service_principal_names
                .iter()
                .any(|n| n.trim_end_matches('/').eq_ignore_ascii_case(trimmed))
    })
}

/// Microsoft Graph's appId.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_loads_with_real_ids() {
        let mtp = by_alias("microsoft-threat-protection").unwrap();
        assert_eq!(mtp.app_id, "8ee8fdad-f234-4243-8f3b-15c294843740");
        assert_eq!(mtp.resource_url, "https://api.security.microsoft.com");
        let incident = mtp.scopes.iter().find(|s| s.value == "Incident.Read").unwrap();
        assert_eq!(incident.id, "12c153a4-4204-4224-aa3c-4626e2f47c2b");
        assert_eq!(
            by_app_id(MICROSOFT_GRAPH_APP_ID).unwrap().alias,
            "microsoft-graph"
        );
        assert_eq!(known_apis().len(), 3);
    }

    #[test]
    fn lookup_accepts_every_kind_of_reference() {
        for r in [
            "Microsoft Threat Protection",
            "microsoft threat protection",
            "8ee8fdad-f234-4243-8f3b-15c294843740",
            "https://api.security.microsoft.com",
            "https://api.security.microsoft.com/",
            "microsoft-threat-protection",
        ] {
            assert_eq!(
                lookup(r).map(|a| a.alias.as_str()),
                Some("microsoft-threat-protection"),
                "{r}"
            );
        }
        assert!(lookup("Contoso API").is_none());
    }
}
