//! The Graph calls of owners and federated identity credentials (issue 17), in the forms
//! Microsoft documents and terraform-provider-azuread sends:
//! - owners: `GET /applications/{id}/owners`, `POST /applications/{id}/owners/$ref` with
//!   `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`, `DELETE
//!   /applications/{id}/owners/{id}/$ref` (application-list-owners, application-post-owners,
//!   application-delete-owners under https://learn.microsoft.com/graph/api/);
//! - users by user principal name: `GET /users/{upn}` (user-get), any object by id: `GET
//!   /directoryObjects/{id}` (directoryobject-get);
//! - federated identity credentials: `GET`/`POST /applications/{id}/federatedIdentityCredentials`,
//!   `PATCH`/`DELETE …/federatedIdentityCredentials/{id}`
//!   (application-list-federatedidentitycredentials, application-post-federatedidentitycredentials,
//!   federatedidentitycredential-update, federatedidentitycredential-delete).

use serde_json::{Value, json};

use super::client::{Call, GraphClient, odata_literal};
use super::error::GraphError;
use super::types::{DirectoryObject, FederatedCredential};

/// A user principal name as a plain path segment: percent-encoded, quotes kept as they are (a
/// `'` is doubled only inside an OData key literal, which this form is not).
fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// 404 on a reference to an application created moments ago: replication.
fn not_found(e: &GraphError) -> bool {
    e.is_not_found()
}

impl GraphClient {
    /// The owners of the application with object id `object_id`.
    pub async fn owners_of(&self, object_id: &str) -> Result<Vec<DirectoryObject>, GraphError> {
        self.list(format!(
            "/applications/{}/owners?$select=id,displayName,userPrincipalName,appId",
            odata_literal(object_id)
        ))
        .await
    }

    /// Add an owner. `fresh`: the application was created by this run.
    pub async fn add_owner(&self, object_id: &str, owner_id: &str, fresh: bool) -> Result<(), GraphError> {
        let reference = format!(
            "{}/directoryObjects/{}",
            self.base_url().trim_end_matches('/'),
            odata_literal(owner_id)
        );
        let call = Call::post(
            format!("/applications/{}/owners/$ref", odata_literal(object_id)),
            json!({ "@odata.id": reference }),
        )
        .lag_if(fresh, not_found);
        self.send(&call).await.map(drop)
    }

    pub async fn remove_owner(&self, object_id: &str, owner_id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/applications/{}/owners/{}/$ref",
            odata_literal(object_id),
            odata_literal(owner_id)
        )))
        .await
        .map(drop)
    }

    /// A user by user principal name (or object id); `None` when there is none.
    pub async fn user(&self, upn_or_id: &str) -> Result<Option<DirectoryObject>, GraphError> {
        let found: Option<DirectoryObject> = self
            .get_optional(format!(
                "/users/{}?$select=id,displayName,userPrincipalName",
                path_segment(upn_or_id)
            ))
            .await?;
        Ok(found.map(|mut u| {
            u.odata_type
                .get_or_insert_with(|| "#microsoft.graph.user".to_owned());
            u
        }))
    }

    /// Any directory object by id (a user or a service principal, with its `@odata.type`).
    pub async fn directory_object(&self, id: &str) -> Result<Option<DirectoryObject>, GraphError> {
        self.get_optional(format!("/directoryObjects/{}", odata_literal(id)))
            .await
    }

    pub async fn federated_credentials_of(
        &self,
        object_id: &str,
    ) -> Result<Vec<FederatedCredential>, GraphError> {
        self.list(format!(
            "/applications/{}/federatedIdentityCredentials",
            odata_literal(object_id)
        ))
        .await
    }

    pub async fn create_federated_credential(
        &self,
        object_id: &str,
        body: Value,
        fresh: bool,
    ) -> Result<FederatedCredential, GraphError> {
        let call = Call::post(
            format!(
                "/applications/{}/federatedIdentityCredentials",
                odata_literal(object_id)
            ),
            body,
        )
        .lag_if(fresh, not_found);
        self.fetch(&call).await
    }

    pub async fn update_federated_credential(
        &self,
        object_id: &str,
        id: &str,
        body: Value,
    ) -> Result<(), GraphError> {
        self.send(&Call::patch(
            format!(
                "/applications/{}/federatedIdentityCredentials/{}",
                odata_literal(object_id),
                odata_literal(id)
            ),
            body,
        ))
        .await
        .map(drop)
    }

    pub async fn delete_federated_credential(&self, object_id: &str, id: &str) -> Result<(), GraphError> {
        self.send(&Call::delete(format!(
            "/applications/{}/federatedIdentityCredentials/{}",
            odata_literal(object_id),
            odata_literal(id)
        )))
        .await
        .map(drop)
    }
}
