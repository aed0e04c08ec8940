//! Application owners and users (issue 17): `GET /applications/{id}/owners`, `POST
//! /applications/{id}/owners/$ref`, `DELETE /applications/{id}/owners/{id}/$ref`, `GET
//! /users/{id | userPrincipalName}`, with Graph's rules (application-list-owners,
//! application-post-owners, application-delete-owners, user-get under
//! https://learn.microsoft.com/graph/api/):
//! - an owner is a user or a service principal of the tenant, named by an `@odata.id` that ends
//!   in `/directoryObjects/{id}` (or `/users/{id}`, `/servicePrincipals/{id}`); anything else
//!   is 404 `Request_ResourceNotFound`;
//! - adding an owner the application already has is 400 "One or more added object references
//!   already exist for the following modified properties: 'owners'." (the answer
//!   terraform-provider-azuread and the Azure CLI meet and treat as done);
//! - removing an object that is not an owner is 404.
//!
//! Not modelled: Graph making the creator of an application its owner (the emulator's clients
//! create apps app-only), and any rule about an application's last owner (Graph documents none
//! for applications).

use serde_json::{Value, json};

use super::{GraphError, GraphResult, Key, Object, Tenant};

/// The message Graph answers a duplicate reference with.
pub const ALREADY_OWNER: &str =
    "One or more added object references already exist for the following modified properties: 'owners'.";

impl Tenant {
    /// A user by object id or user principal name, as `GET /users/{id}` shows it.
    pub fn get_user(&self, id: &str) -> GraphResult<Object> {
        self.user(id).cloned().ok_or_else(|| GraphError::not_found(id))
    }

    /// A user or service principal by object id, with its `@odata.type`.
    pub fn owner_object(&self, id: &str) -> Option<Object> {
        if let Some(u) = self
            .users
            .iter()
            .find(|u| u["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
        {
            let mut o = Object::new();
            o.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            o.extend(u.clone());
            return Some(o);
        }
        let sp = self.service_principal(&Key::Id(id.to_owned())).ok()?;
        let mut o = Object::new();
        o.insert("@odata.type".into(), json!("#microsoft.graph.servicePrincipal"));
        o.extend(sp.data.clone());
        Some(o)
    }

    /// `GET /applications/{id}/owners`: users and service principals, in the order added.
    pub fn list_owners(&self, key: &Key) -> GraphResult<Vec<Object>> {
        let app = &self.applications[self.app_visible_index(key)?];
        Ok(app.owners.iter().filter_map(|id| self.owner_object(id)).collect())
    }

    /// `POST /applications/{id}/owners/$ref` `{"@odata.id": "…/directoryObjects/{id}"}` → 204.
    pub fn add_owner(&mut self, key: &Key, body: Object) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let reference = body
            .get("@odata.id")
            .and_then(Value::as_str)
            .ok_or_else(|| GraphError::bad_request("The request body must contain '@odata.id'."))?;
        let id = reference_id(reference)
            .ok_or_else(|| GraphError::bad_request(format!("Invalid object identifier '{reference}'.")))?;
        let Some(object) = self.owner_object(&id) else {
            return Err(GraphError::not_found(&id));
        };
        let id = object["id"].as_str().unwrap_or(&id).to_owned();
        let owners = &mut self.applications[i].owners;
        if owners.iter().any(|o| o.eq_ignore_ascii_case(&id)) {
            return Err(GraphError::bad_request(ALREADY_OWNER));
        }
        owners.push(id);
        Ok(())
    }

    /// `DELETE /applications/{id}/owners/{id}/$ref` → 204.
    pub fn remove_owner(&mut self, key: &Key, owner_id: &str) -> GraphResult<()> {
        let i = self.app_visible_index(key)?;
        let owners = &mut self.applications[i].owners;
        let before = owners.len();
        owners.retain(|o| !o.eq_ignore_ascii_case(owner_id));
        if owners.len() == before {
            return Err(GraphError::not_found(owner_id));
        }
        Ok(())
    }
}

/// The object id an `@odata.id` names: the segment after `directoryObjects`, `users` or
/// `servicePrincipals`, also in the `directoryObjects('{id}')` form.
fn reference_id(reference: &str) -> Option<String> {
    let path = reference.split(['?', '#']).next().unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for (i, s) in segs.iter().enumerate() {
        for set in ["directoryObjects", "users", "servicePrincipals"] {
            if s.eq_ignore_ascii_case(set) {
                return segs.get(i + 1).map(|id| unquote(id));
            }
            if let Some(rest) = s
                .get(set.len()..)
                .filter(|_| s.len() > set.len() && s[..set.len()].eq_ignore_ascii_case(set))
                && let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'))
            {
                return Some(unquote(inner));
            }
        }
    }
    None
}

fn unquote(s: &str) -> String {
    s.trim_matches('\'').trim_matches(['{', '}']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::reference_id;

    #[test]
    fn references_name_the_object() {
        assert_eq!(
            reference_id("https://graph.microsoft.com/v1.0/directoryObjects/abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            reference_id("https://graph.microsoft.com/v1.0/directoryObjects('abc')").as_deref(),
            Some("abc")
        );
        assert_eq!(
            reference_id("http://127.0.0.1:1/v1.0/users/{abc}").as_deref(),
            Some("abc")
        );
        assert_eq!(
            reference_id("https://graph.microsoft.com/v1.0/applications/abc"),
            None
        );
    }
}
