//! Service principals: create (from a backing application or a known first-party app), the
//! `(appId='…')` upsert, update, delete, and their grant / app role assignment navigations
//! (docs/graph-notes.md §2, §11.1(b), §11.1(d1)).

use serde_json::{Value, json};

use super::seed::service_principal_template;
use super::{
    Deleted, Entity, GraphError, GraphResult, Key, Kind, Object, Tenant, check_known, check_read_only,
    check_types, merge, new_guid, strings, timestamp,
};

const TYPE: &str = "microsoft.graph.servicePrincipal";
const RESOURCE: &str = "ServicePrincipal";
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "appDisplayName",
    "appOwnerOrganizationId",
    "passwordCredentials",
    "servicePrincipalType",
];

#[derive(Debug)]
pub enum SpUpsert {
    Created(Object),
    Updated,
}

/// docs/graph-notes.md §11.1(b): a second service principal for one appId.
fn duplicate(app_id: &str) -> GraphError {
    GraphError::new(
        409,
        "Request_MultipleObjectsWithSameKeyValue",
        format!(
            "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
        ),
    )
}

/// docs/graph-notes.md §11.1(d1): the appId has no application yet (unknown, or inside its replication window).
fn no_backing_application(app_id: &str) -> GraphError {
    GraphError::bad_request(format!(
        "The appId '{app_id}' of the service principal does not reference a valid application object."
    ))
    .with_detail("NoBackingApplicationObject", "appId")
}

impl Tenant {
    /// The properties a service principal takes from its application.
    fn sp_data_from_app(&self, app: &Object) -> Object {
        let mut data = service_principal_template();
        let app_id = app["appId"].clone();
        let mut names = vec![app_id.clone()];
        names.extend(strings(app.get("identifierUris")).into_iter().map(Value::String));
        let mut reply = strings(app.get("web").and_then(|w| w.get("redirectUris")));
        reply.extend(strings(
            app.get("publicClient").and_then(|w| w.get("redirectUris")),
        ));
        reply.extend(strings(app.get("spa").and_then(|w| w.get("redirectUris"))));
        let scopes = app
            .get("api")
            .and_then(|a| a.get("oauth2PermissionScopes"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        for (k, v) in [
            ("appId", app_id),
            ("appDisplayName", app["displayName"].clone()),
            (
                "appDescription",
                app.get("description").cloned().unwrap_or(Value::Null),
            ),
            ("displayName", app["displayName"].clone()),
            ("appOwnerOrganizationId", json!(self.identity.tenant_id)),
            ("servicePrincipalNames", Value::Array(names)),
            ("signInAudience", app["signInAudience"].clone()),
            ("tags", app.get("tags").cloned().unwrap_or_else(|| json!([]))),
            (
                "appRoles",
                app.get("appRoles").cloned().unwrap_or_else(|| json!([])),
            ),
            ("oauth2PermissionScopes", scopes),
            ("replyUrls", json!(reply)),
            (
                "info",
                app.get("info").cloned().unwrap_or_else(|| data["info"].clone()),
            ),
        ] {
            data.insert(k.into(), v);
        }
        data
    }

    /// The properties of a known first-party API's service principal (`entra_catalog`).
    fn sp_data_first_party(api: &entra_catalog::KnownApi) -> Object {
        let mut data = service_principal_template();
        for (k, v) in api.service_principal.as_object().into_iter().flatten() {
            data.insert(k.clone(), v.clone());
        }
        data.insert("appDisplayName".into(), data["displayName"].clone());
        data
    }

    fn validate_sp_body(body: &Object) -> GraphResult<()> {
        let template = service_principal_template();
        check_known(body, &template, TYPE, &[])?;
        check_read_only(body, READ_ONLY)?;
        check_types(body, &template, RESOURCE)
    }

    /// Create the service principal for `app_id` with the body's extra properties.
    fn insert_service_principal(&mut self, app_id: &str, body: &Object) -> GraphResult<Object> {
        // Uniqueness is checked against every service principal, also one still inside its
        // replication window: the write path is consistent.
        if self
            .service_principals
            .iter()
            .any(|s| s.app_id().eq_ignore_ascii_case(app_id))
        {
            return Err(duplicate(app_id));
        }
        let mut data = if let Some(app) = self
            .applications
            .iter()
            .find(|a| a.app_id().eq_ignore_ascii_case(app_id))
        {
            if !self.visible(app) {
                return Err(no_backing_application(app_id));
            }
            self.sp_data_from_app(&app.data)
        } else if let Some(client) = super::seed::first_party_client(app_id) {
            // A first-party public client (consent in the sign-in pages creates it).
            let mut data = self.sp_data_from_app(&client.data);
            data.insert("appOwnerOrganizationId".into(), Value::Null);
            data.insert("publisherName".into(), json!("Microsoft Services"));
            data
        } else if let Some(api) = entra_catalog::by_app_id(app_id) {
            // A multi-tenant first-party app: Graph creates its service principal in any tenant.
            Self::sp_data_first_party(api)
        } else {
            return Err(no_backing_application(app_id));
        };
        let mut extra = super::applications::with_key_ids(body.clone());
        extra.remove("appId");
        merge(&mut data, &extra);
        data.insert("id".into(), json!(new_guid()));
        data.insert("createdDateTime".into(), json!(timestamp(self.now_utc())));
        let now = self.now();
        self.service_principals.push(Entity::new(data.clone(), now));
        Ok(data)
    }

    /// `GET /servicePrincipals`.
    pub fn list_service_principals(&self) -> Vec<Object> {
        self.service_principals
            .iter()
            .filter(|s| self.visible(s))
            .map(|s| s.data.clone())
            .collect()
    }

    /// `GET /servicePrincipals/{id}` and `(appId='…')`.
    pub fn get_service_principal(&self, key: &Key) -> GraphResult<Object> {
        Ok(self.service_principal(key)?.data.clone())
    }

    /// `POST /servicePrincipals` `{"appId"}` → 201. 409 when the appId has one already (docs/graph-notes.md §11.1(b));
    /// 400 NoBackingApplicationObject when the app is unknown or not yet replicated (docs/graph-notes.md §11.1(d1)).
    pub fn create_service_principal(&mut self, body: Object) -> GraphResult<Object> {
        Self::validate_sp_body(&body)?;
        let app_id = body
            .get("appId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                GraphError::bad_request(
                    "Invalid value specified for property 'appId' of resource 'ServicePrincipal'.",
                )
            })?
            .to_owned();
        self.insert_service_principal(&app_id, &body)
    }

    /// `PATCH /servicePrincipals/{id}` → 204.
    pub fn update_service_principal(&mut self, key: &Key, body: Object) -> GraphResult<()> {
        Self::validate_sp_body(&body)?;
        let i = self
            .sp_index(key, true)
            .ok_or_else(|| GraphError::not_found(key.value()))?;
        if let Some(a) = body.get("appId")
            && a.as_str() != Some(self.service_principals[i].app_id())
        {
            return Err(GraphError::bad_request(
                "Property 'appId' is read-only and cannot be set.",
            ));
        }
        merge(
            &mut self.service_principals[i].data,
            &super::applications::with_key_ids(body),
        );
        Ok(())
    }

    /// `PATCH /servicePrincipals(appId='…')` with or without `Prefer: create-if-missing`
    /// (learn:/graph/api/serviceprincipal-upsert). The page does not say what happens without
    /// the header when the principal is missing; 404 as on the application page (docs/graph-notes.md §9 item 1; not documented for service principals).
    pub fn upsert_service_principal(
        &mut self,
        app_id: &str,
        body: Object,
        create_if_missing: bool,
    ) -> GraphResult<SpUpsert> {
        Self::validate_sp_body(&body)?;
        // The key finds only a replicated principal: one still inside its window is not seen,
        // and the create below meets it as a duplicate (409), as a second POST would.
        if let Some(i) = self.sp_index(&Key::AppId(app_id.to_owned()), true) {
            merge(&mut self.service_principals[i].data, &body);
            return Ok(SpUpsert::Updated);
        }
        if !create_if_missing {
            return Err(GraphError::not_found(app_id));
        }
        self.insert_service_principal(app_id, &body)
            .map(SpUpsert::Created)
    }

    /// Remove the service principal at `i` into deleted items, with its grants and app role
    /// assignments (as client, principal or resource).
    pub(crate) fn remove_service_principal_at(&mut self, i: usize) {
        let mut sp = self.service_principals.remove(i);
        let id = sp.id().to_owned();
        self.grants
            .retain(|g| g.str("clientId") != id && g.str("resourceId") != id);
        self.app_role_assignments
            .retain(|a| a.str("principalId") != id && a.str("resourceId") != id);
        sp.data
            .insert("deletedDateTime".into(), json!(timestamp(self.now_utc())));
        let deleted_ms = self.now();
        self.deleted_items.push(Deleted {
            kind: Kind::ServicePrincipal,
            entity: sp,
            deleted_ms,
        });
    }

    /// `DELETE /servicePrincipals/{id}` → 204.
    pub fn delete_service_principal(&mut self, key: &Key) -> GraphResult<()> {
        let i = self
            .sp_index(key, true)
            .ok_or_else(|| GraphError::not_found(key.value()))?;
        self.remove_service_principal_at(i);
        Ok(())
    }

    /// `GET /servicePrincipals/{id}/oauth2PermissionGrants`: grants where it is the client.
    pub fn service_principal_grants(&self, key: &Key) -> GraphResult<Vec<Object>> {
        let id = self.service_principal(key)?.id().to_owned();
        Ok(self
            .grants
            .iter()
            .filter(|g| self.visible(g) && g.str("clientId") == id)
            .map(|g| g.data.clone())
            .collect())
    }

    /// `GET /servicePrincipals/{id}/appRoleAssignments`: roles granted to it.
    pub fn service_principal_assignments(&self, key: &Key) -> GraphResult<Vec<Object>> {
        let id = self.service_principal(key)?.id().to_owned();
        Ok(self.app_role_assignments_of(&id).into_iter().cloned().collect())
    }

    /// `GET /servicePrincipals/{id}/appRoleAssignedTo`: roles of this resource granted to others.
    pub fn service_principal_assigned_to(&self, key: &Key) -> GraphResult<Vec<Object>> {
        let id = self.service_principal(key)?.id().to_owned();
        Ok(self
            .app_role_assignments
            .iter()
            .filter(|a| self.visible(a) && a.str("resourceId") == id)
            .map(|a| a.data.clone())
            .collect())
    }
}
