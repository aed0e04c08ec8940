//! The organization, users and deleted items (`/organization`, `/me`, `/directory/deletedItems`;
//! graph-reference §1 "permanent delete", §4).

use serde_json::Value;

use super::{GraphError, GraphResult, Kind, Object, Tenant};

impl Tenant {
    /// `GET /organization`: one object whose id is the tenant id.
    pub fn organization(&self) -> Object {
        self.organization.clone()
    }

    /// `GET /directory/deletedItems/microsoft.graph.application` (or `.servicePrincipal`).
    pub fn list_deleted(&self, kind: Kind) -> Vec<Object> {
        self.deleted_items
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.entity.data.clone())
            .collect()
    }

    fn deleted_index(&self, id: &str) -> GraphResult<usize> {
        self.deleted_items
            .iter()
            .position(|d| d.entity.id().eq_ignore_ascii_case(id))
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// `GET /directory/deletedItems/{id}`, with the kind for `@odata.type`.
    pub fn get_deleted(&self, id: &str) -> GraphResult<(Kind, Object)> {
        let d = &self.deleted_items[self.deleted_index(id)?];
        Ok((d.kind, d.entity.data.clone()))
    }

    /// `DELETE /directory/deletedItems/{id}` → 204: gone for good, its uniqueName free again.
    pub fn purge_deleted(&mut self, id: &str) -> GraphResult<()> {
        let i = self.deleted_index(id)?;
        self.deleted_items.remove(i);
        Ok(())
    }

    /// `POST /directory/deletedItems/{id}/restore` → 200 + the object. A service principal
    /// cannot come back while another holds its appId (§11.1(b)'s message says "restored").
    pub fn restore_deleted(&mut self, id: &str) -> GraphResult<(Kind, Object)> {
        let i = self.deleted_index(id)?;
        let kind = self.deleted_items[i].kind;
        if kind == Kind::ServicePrincipal {
            let app_id = self.deleted_items[i].entity.app_id().to_owned();
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
        }
        let mut d = self.deleted_items.remove(i);
        d.entity.data.insert("deletedDateTime".into(), Value::Null);
        let data = d.entity.data.clone();
        match kind {
            Kind::Application => self.applications.push(d.entity),
            Kind::ServicePrincipal => self.service_principals.push(d.entity),
        }
        Ok((kind, data))
    }
}
