//! The organization, users and deleted items (`/organization`, `/me`, `/directory/deletedItems`;
//! docs/graph-notes.md §1 "permanent delete", §4).

use serde_json::Value;

use super::{GraphError, GraphResult, Kind, Object, Tenant};

impl Tenant {
    /// `GET /organization`: one object whose id is the tenant id.
    pub fn organization(&self) -> Object {
        self.organization.clone()
    }

    /// `GET /directory/deletedItems/microsoft.graph.application` (or `.servicePrincipal`):
    /// items whose delete has replicated.
    pub fn list_deleted(&self, kind: Kind) -> Vec<Object> {
        self.deleted_items
            .iter()
            .filter(|d| d.kind == kind && self.delete_replicated(d))
            .map(|d| d.entity.data.clone())
            .collect()
    }

    /// A deleted item by id; 404 while its delete replicates (`purge_lag_ms`).
    fn deleted_index(&self, id: &str) -> GraphResult<usize> {
        self.deleted_items
            .iter()
            .position(|d| d.entity.id().eq_ignore_ascii_case(id) && self.delete_replicated(d))
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// `GET /directory/deletedItems/{id}`, with the kind for `@odata.type`.
    pub fn get_deleted(&self, id: &str) -> GraphResult<(Kind, Object)> {
        let d = &self.deleted_items[self.deleted_index(id)?];
        Ok((d.kind, d.entity.data.clone()))
    }

    /// `DELETE /directory/deletedItems/{id}` → 204: gone for good, its uniqueName free again
    /// (https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-delete).
    pub fn purge_deleted(&mut self, id: &str) -> GraphResult<()> {
        let i = self.deleted_index(id)?;
        self.deleted_items.remove(i);
        Ok(())
    }

    /// `POST /directory/deletedItems/{id}/restore` → 200 + the object
    /// (https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-restore). Restoring an
    /// application does not bring its service principal back. Rules [derived from the create
    /// rules the restored object must still meet]: an application cannot come back while a live
    /// one holds its uniqueName (400, the uniqueName message); a service principal cannot come
    /// back while another holds its appId (409, docs/graph-notes.md §11.1(b)'s message says "restored"), nor while
    /// its application is deleted (400 `NoBackingApplicationObject`). The restored object
    /// replicates like a new one.
    pub fn restore_deleted(&mut self, id: &str) -> GraphResult<(Kind, Object)> {
        let i = self.deleted_index(id)?;
        let kind = self.deleted_items[i].kind;
        let entity = &self.deleted_items[i].entity;
        match kind {
            Kind::Application => {
                let name = entity.str("uniqueName").to_owned();
                if !name.is_empty()
                    && self
                        .applications
                        .iter()
                        .any(|a| a.str("uniqueName").eq_ignore_ascii_case(&name))
                {
                    return Err(GraphError::bad_request(super::applications::UNIQUE_NAME_TAKEN));
                }
            }
            Kind::ServicePrincipal => {
                let app_id = entity.app_id().to_owned();
                if self
                    .service_principals
                    .iter()
                    .any(|s| s.app_id().eq_ignore_ascii_case(&app_id))
                {
                    return Err(GraphError::new(
                        409,
                        "Request_MultipleObjectsWithSameKeyValue",
                        format!(
                            "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
                        ),
                    ));
                }
                let app_deleted = self
                    .deleted_items
                    .iter()
                    .any(|d| d.kind == Kind::Application && d.entity.app_id().eq_ignore_ascii_case(&app_id));
                let app_live = self
                    .applications
                    .iter()
                    .any(|a| a.app_id().eq_ignore_ascii_case(&app_id));
                if app_deleted && !app_live {
                    return Err(GraphError::bad_request(format!(
                        "The appId '{app_id}' of the service principal does not reference a valid application object."
                    ))
                    .with_detail("NoBackingApplicationObject", "appId"));
                }
            }
        }
        let mut d = self.deleted_items.remove(i);
        d.entity.data.insert("deletedDateTime".into(), Value::Null);
        d.entity.created_ms = self.now();
        let data = d.entity.data.clone();
        match kind {
            Kind::Application => self.applications.push(d.entity),
            Kind::ServicePrincipal => self.service_principals.push(d.entity),
        }
        Ok((kind, data))
    }
}
