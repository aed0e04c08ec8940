//! The `scope` parameter of the v2.0 endpoints, parsed: OpenID Connect scopes, the resource a
//! request is for, and the permission values asked of it. Pure: no I/O.
//!
//! Forms (`v2-permissions-and-consent.md`, docs/graph-notes.md §7): `https://graph.microsoft.com/.default`
//! and the Azure CLI's `https://graph.microsoft.com//.default` (the resource is then
//! `https://graph.microsoft.com/`); `https://api.security.microsoft.com/Incident.Read`;
//! `api://{guid}/Scope`; and a bare `User.Read`, which means Microsoft Graph.

use super::error::OAuthError;

/// The OpenID Connect scopes, which name no resource.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Microsoft Graph's resource URL: the resource of scopes given without one.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// A parsed `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes {
    /// `openid`, `profile`, `email`, `offline_access` as requested (lowercase).
    pub oidc: Vec<String>,
    /// The resource identifier as requested (`https://graph.microsoft.com/` keeps its slash).
    /// `None` when only OIDC scopes were asked for.
    pub resource: Option<String>,
    /// Permission values asked of the resource; empty with `.default`.
    pub values: Vec<String>,
    /// `{resource}/.default`: every permission already granted.
    pub default: bool,
}

impl Scopes {
    pub fn wants(&self, oidc: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc)
    }

    /// Parses a space-separated scope string. Scopes of a second resource are an error
    /// (AADSTS28000), as are empty strings and `.default` mixed with named permissions (70011).
    pub fn parse(raw: &str) -> Result<Scopes, OAuthError> {
        let mut out = Scopes::default();
        for item in raw.split(' ').filter(|s| !s.is_empty()) {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(item)) {
                let lower = item.to_ascii_lowercase();
                if !out.oidc.contains(&lower) {
                    out.oidc.push(lower);
                }
                continue;
            }
            let (resource, value) = split_scope(item).ok_or_else(|| OAuthError::invalid_scope(raw))?;
            match &out.resource {
                None => out.resource = Some(resource),
                Some(existing) if same_resource(existing, &resource) => {}
                Some(_) => return Err(OAuthError::multiple_resources(raw)),
            }
            if value.eq_ignore_ascii_case(".default") {
                out.default = true;
            } else if !out.values.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
                out.values.push(value);
            }
        }
        if out.default && !out.values.is_empty() {
            return Err(OAuthError::invalid_scope(raw));
        }
        if out.resource.is_none() && out.oidc.is_empty() {
            return Err(OAuthError::invalid_scope(raw));
        }
        Ok(out)
    }
}

/// `https://x/y/Value` → (`https://x/y`, `Value`); `X//.default` → (`X/`, `.default`);
/// `User.Read` → (Graph, `User.Read`).
fn split_scope(item: &str) -> Option<(String, String)> {
    if let Some(resource) = item.strip_suffix("//.default") {
        return (!resource.is_empty()).then(|| (format!("{resource}/"), ".default".to_owned()));
    }
    match item.rfind('/') {
        Some(i) => {
            let (resource, value) = (&item[..i], &item[i + 1..]);
            (!resource.is_empty() && !value.is_empty()).then(|| (resource.to_owned(), value.to_owned()))
        }
        // A bare GUID names a resource by appId only with `/.default`; bare words are Graph's.
        None if item.contains(':') => None,
        None => Some((GRAPH_RESOURCE.to_owned(), item.to_owned())),
    }
}

/// Resource identifiers compare without case and without a trailing slash.
pub fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let s = Scopes::parse("https://graph.microsoft.com/.default").unwrap();
        assert_eq!(s.resource.as_deref(), Some("https://graph.microsoft.com"));
        assert!(s.default && s.values.is_empty());

        let s = Scopes::parse("https://graph.microsoft.com//.default").unwrap();
        assert_eq!(s.resource.as_deref(), Some("https://graph.microsoft.com/"));
        assert!(s.default);

        let s = Scopes::parse(
            "https://api.security.microsoft.com/Incident.Read https://api.security.microsoft.com/AdvancedHunting.Read offline_access openid profile",
        )
        .unwrap();
        assert_eq!(s.resource.as_deref(), Some("https://api.security.microsoft.com"));
        assert_eq!(s.values, ["Incident.Read", "AdvancedHunting.Read"]);
        assert_eq!(s.oidc, ["offline_access", "openid", "profile"]);
        assert!(s.wants("offline_access") && !s.default);

        let s = Scopes::parse("user.read openid").unwrap();
        assert_eq!(s.resource.as_deref(), Some(GRAPH_RESOURCE));
        assert_eq!(s.values, ["user.read"]);

        let s = Scopes::parse("api://2c4b0f3e-8d1a-4b5e-9f7c-3a2d1e0f9b8c/access_as_user").unwrap();
        assert_eq!(
            s.resource.as_deref(),
            Some("api://2c4b0f3e-8d1a-4b5e-9f7c-3a2d1e0f9b8c")
        );

        let s = Scopes::parse("openid profile").unwrap();
        assert_eq!(s.resource, None);
    }

    #[test]
    fn rejects_two_resources_and_mixed_default() {
        let e = Scopes::parse(
            "https://graph.microsoft.com/User.Read https://api.security.microsoft.com/Incident.Read",
        )
        .unwrap_err();
        assert_eq!(e.code, 28000);
        // The same resource with and without a trailing slash is one resource.
        assert!(
            Scopes::parse("https://graph.microsoft.com/User.Read https://graph.microsoft.com//.default")
                .is_err()
        );
        assert!(
            Scopes::parse("https://graph.microsoft.com/.default https://graph.microsoft.com/.default")
                .is_ok()
        );
        assert_eq!(Scopes::parse("").unwrap_err().code, 70011);
        assert_eq!(Scopes::parse("urn:x").unwrap_err().code, 70011);
    }
}
