//! Delegated permission grants (`oauth2PermissionGrants`, docs/graph-notes.md §3, §11.1(a), (d2))
//! and app role assignments (`servicePrincipals/{id}/appRoleAssignments` and
//! `appRoleAssignedTo`).

use base64::Engine;
use rand::RngCore;
use serde_json::{Value, json};

use super::{Entity, GraphError, GraphResult, Key, Object, Tenant, timestamp};

/// The grant id Graph derives from its key: unpadded base64url of the little-endian GUID bytes
/// of clientId ‖ resourceId (‖ principalId for `Principal`), so one key has one id
/// (docs/graph-notes.md §11.1(a), verified against four published ids).
pub fn grant_id(client_id: &str, resource_id: &str, principal_id: Option<&str>) -> Option<String> {
    let mut bytes = Vec::with_capacity(48);
    for id in [Some(client_id), Some(resource_id), principal_id]
        .into_iter()
        .flatten()
    {
        bytes.extend_from_slice(&uuid::Uuid::parse_str(id).ok()?.to_bytes_le());
    }
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn invalid(property: &str, resource: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource '{resource}'."
    ))
}

const GRANT: &str = "OAuth2PermissionGrant";

impl Tenant {
    /// A service principal a new grant or assignment refers to. Never existed: 400 with the
    /// "does not exist" message terraform's SDK matches; inside its replication window: the 404
    /// `Directory_ObjectNotFound` microsoft/fhir-server saw (docs/graph-notes.md §11.1(d2)).
    fn referenced_sp(&self, id: &str) -> GraphResult<&Entity> {
        match self
            .service_principals
            .iter()
            .find(|s| s.id().eq_ignore_ascii_case(id))
        {
            Some(sp) if self.visible(sp) => Ok(sp),
            Some(_) => Err(GraphError::new(
                404,
                "Directory_ObjectNotFound",
                "Unable to read the company information from the directory.",
            )),
            None => Err(GraphError::bad_request(format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ))),
        }
    }

    /// Every value of `scope` must be a delegated permission the resource publishes
    /// (`oauth2PermissionScopes[].value`); max 3,850 characters (docs/graph-notes.md §3). Graph's own error text
    /// for an unknown value is not public: the message is derived.
    fn check_scope(&self, scope: &str, resource_id: &str) -> GraphResult<()> {
        if scope.len() > 3850 {
            return Err(invalid("scope", GRANT));
        }
        let resource = self.referenced_sp(resource_id)?;
        let published: Vec<&str> = resource.data["oauth2PermissionScopes"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["value"].as_str()).collect())
            .unwrap_or_default();
        for value in scope.split(' ').filter(|s| !s.is_empty()) {
            if !published.iter().any(|p| p.eq_ignore_ascii_case(value)) {
                return Err(GraphError::bad_request(format!(
                    "Invalid value specified for property 'scope' of resource '{GRANT}': the resource does not publish the delegated permission '{value}'."
                )));
            }
        }
        Ok(())
    }

    /// `GET /oauth2PermissionGrants`.
    pub fn list_grants(&self) -> Vec<Object> {
        self.grants
            .iter()
            .filter(|g| self.visible(g))
            .map(|g| g.data.clone())
            .collect()
    }

    fn grant_index(&self, id: &str) -> GraphResult<usize> {
        self.grants
            .iter()
            .position(|g| g.id() == id && self.visible(g))
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// `GET /oauth2PermissionGrants/{id}`.
    pub fn get_grant(&self, id: &str) -> GraphResult<Object> {
        Ok(self.grants[self.grant_index(id)?].data.clone())
    }

    /// `POST /oauth2PermissionGrants` → 201. One grant per (client, resource, principal):
    /// a second gets 400 "Permission entry already exists." (docs/graph-notes.md §11.1(a), the current status).
    pub fn create_grant(&mut self, body: Object) -> GraphResult<Object> {
        for k in body.keys() {
            if !matches!(
                k.as_str(),
                "clientId" | "consentType" | "principalId" | "resourceId" | "scope"
            ) && !k.starts_with('@')
            {
                return Err(GraphError::new(
                    400,
                    "BadRequest",
                    format!(
                        "The property '{k}' does not exist on type 'microsoft.graph.oAuth2PermissionGrant'. Make sure to only use property names that are defined by the type or mark the type as open type."
                    ),
                ));
            }
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let client_id = text("clientId")
            .ok_or_else(|| invalid("clientId", GRANT))?
            .to_owned();
        let resource_id = text("resourceId")
            .ok_or_else(|| invalid("resourceId", GRANT))?
            .to_owned();
        let consent = text("consentType")
            .ok_or_else(|| invalid("consentType", GRANT))?
            .to_owned();
        let principal = match (consent.as_str(), text("principalId")) {
            ("AllPrincipals", None) => None,
            ("Principal", Some(p)) if self.user(p).is_some() => Some(p.to_owned()),
            ("Principal", Some(p)) => {
                return Err(GraphError::bad_request(format!(
                    "Resource '{p}' does not exist or one of its queried reference-property objects are not present."
                )));
            }
            ("AllPrincipals" | "Principal", _) => return Err(invalid("principalId", GRANT)),
            _ => return Err(invalid("consentType", GRANT)),
        };
        let scope = match body.get("scope") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("scope", GRANT)),
        };
        let client_key = self.referenced_sp(&client_id)?.id().to_owned();
        let resource_key = self.referenced_sp(&resource_id)?.id().to_owned();
        self.check_scope(&scope, &resource_key)?;
        let id = grant_id(&client_key, &resource_key, principal.as_deref())
            .ok_or_else(|| invalid("clientId", GRANT))?;
        if self.grants.iter().any(|g| g.id() == id) {
            return Err(GraphError::bad_request("Permission entry already exists."));
        }
        let data = super::as_object(json!({
            "clientId": client_key,
            "consentType": consent,
            "id": id,
            "principalId": principal,
            "resourceId": resource_key,
            "scope": scope,
        }));
        let now = self.now();
        self.grants.push(Entity::new(data.clone(), now));
        Ok(data)
    }

    /// `PATCH /oauth2PermissionGrants/{id}` → 204. Only `scope` is updatable and it is
    /// overwritten, not merged (learn:/graph/api/oauth2permissiongrant-update).
    pub fn update_grant(&mut self, id: &str, body: Object) -> GraphResult<()> {
        let i = self.grant_index(id)?;
        for (k, v) in &body {
            if k == "scope" || k.starts_with('@') {
                continue;
            }
            // Restating an unchanged key property is harmless; changing one is not possible.
            if self.grants[i].data.get(k) != Some(v) {
                return Err(GraphError::bad_request(format!(
                    "Property '{k}' is read-only and cannot be set."
                )));
            }
        }
        if let Some(scope) = body.get("scope") {
            let scope = scope.as_str().ok_or_else(|| invalid("scope", GRANT))?.to_owned();
            let resource = self.grants[i].str("resourceId").to_owned();
            self.check_scope(&scope, &resource)?;
            self.grants[i].data.insert("scope".into(), json!(scope));
        }
        Ok(())
    }

    /// `DELETE /oauth2PermissionGrants/{id}` → 204.
    pub fn delete_grant(&mut self, id: &str) -> GraphResult<()> {
        let i = self.grant_index(id)?;
        self.grants.remove(i);
        Ok(())
    }

    /// `POST /servicePrincipals/{id}/appRoleAssignments` (`via_principal`: `{id}` is the
    /// principal) or `POST /servicePrincipals/{id}/appRoleAssignedTo` (`{id}` is the resource)
    /// → 201 (serviceprincipal-post-approleassignments.md). The role must be an application
    /// role of the resource; the same assignment twice is a conflict (the Bicep extension
    /// reports it as `Conflict`, msgraph-bicep-types #161; the text is derived).
    pub fn create_app_role_assignment(
        &mut self,
        key: &Key,
        body: Object,
        via_principal: bool,
    ) -> GraphResult<Object> {
        let anchor = self.service_principal(key)?.id().to_owned();
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let resource = "AppRoleAssignment";
        let principal_id = text("principalId").ok_or_else(|| invalid("principalId", resource))?;
        let resource_id = text("resourceId").ok_or_else(|| invalid("resourceId", resource))?;
        let app_role_id = text("appRoleId").ok_or_else(|| invalid("appRoleId", resource))?;
        let anchored = if via_principal {
            &principal_id
        } else {
            &resource_id
        };
        if !anchored.eq_ignore_ascii_case(&anchor) {
            return Err(invalid(
                if via_principal {
                    "principalId"
                } else {
                    "resourceId"
                },
                resource,
            ));
        }
        let principal = self.referenced_sp(&principal_id)?;
        let (principal_id, principal_name) =
            (principal.id().to_owned(), principal.data["displayName"].clone());
        let res = self.referenced_sp(&resource_id)?;
        let role_ok = res.data["appRoles"].as_array().is_some_and(|roles| {
            roles.iter().any(|r| {
                r["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&app_role_id))
                    && r["isEnabled"] != Value::Bool(false)
                    && r["allowedMemberTypes"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|m| m == "Application"))
            })
        });
        if !role_ok {
            return Err(GraphError::bad_request(format!(
                "Permission being assigned was not found on application '{}'.",
                res.app_id()
            )));
        }
        let (resource_id, resource_name) = (res.id().to_owned(), res.data["displayName"].clone());
        let exists = self.app_role_assignments.iter().any(|a| {
            a.str("principalId") == principal_id
                && a.str("resourceId") == resource_id
                && a.str("appRoleId").eq_ignore_ascii_case(&app_role_id)
        });
        if exists {
            return Err(GraphError::new(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "Permission being assigned already exists on the object",
            ));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let data = super::as_object(json!({
            "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
            "deletedDateTime": null,
            "appRoleId": app_role_id,
            "createdDateTime": timestamp(self.now_utc()),
            "principalDisplayName": principal_name,
            "principalId": principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": resource_name,
            "resourceId": resource_id,
        }));
        self.app_role_assignments
            .push(Entity::new(data.clone(), self.now()));
        Ok(data)
    }

    /// `DELETE /servicePrincipals/{id}/appRoleAssignments/{assignment}` (or
    /// `appRoleAssignedTo/{assignment}`) → 204.
    pub fn delete_app_role_assignment(
        &mut self,
        key: &Key,
        assignment_id: &str,
        via_principal: bool,
    ) -> GraphResult<()> {
        let anchor = self.service_principal(key)?.id().to_owned();
        let field = if via_principal {
            "principalId"
        } else {
            "resourceId"
        };
        let i = self
            .app_role_assignments
            .iter()
            .position(|a| a.id() == assignment_id && a.str(field) == anchor && self.visible(a))
            .ok_or_else(|| GraphError::not_found(assignment_id))?;
        self.app_role_assignments.remove(i);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_ids_match_published_examples() {
        // docs/graph-notes.md §11.1(a), a grant's id is deterministic.
        assert_eq!(
            grant_id(
                "ef969797-201d-4f6b-960c-e9ed5f31dab5",
                "943603e4-e787-4fe9-93d1-e30f749aae39",
                None
            )
            .unwrap(),
            "l5eW7x0ga0-WDOntXzHateQDNpSH5-lPk9HjD3Sarjk"
        );
        assert_eq!(
            grant_id(
                "b25985a8-9d2b-4fde-9fa7-6c4e43a8ddec",
                "a3efc889-f1b7-4532-9e01-91e32d1039f4",
                Some("182c8534-f413-487c-91a3-7addc80e35d5")
            )
            .unwrap(),
            "qIVZsiud3k-fp2xOQ6jd7InI76O38TJFngGR4y0QOfQ0hSwYE_R8SJGjet3IDjXV"
        );
        assert!(grant_id("not-a-guid", "943603e4-e787-4fe9-93d1-e30f749aae39", None).is_none());
    }
}
