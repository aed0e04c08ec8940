//! Which Microsoft Graph permissions each command and each Graph call needs, least privileged
//! first, from the "Permissions" table of each call's Graph v1.0 page
//! (https://learn.microsoft.com/graph/api/<page>). Pure: `doctor` holds a token's roles or
//! scopes against it, and a 403 names the permission its call needed.
//!
//! The same permission names serve as application permissions (app roles, app-only sign-in) and
//! as delegated permissions (scopes, a signed-in user); a delegated caller also needs an Entra
//! role that allows the operation (e.g. Cloud Application Administrator).

use crate::model::{Desired, OwnerRef};

/// One requirement: any one of these permissions (the first is the least privileged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clause {
    pub any_of: &'static [&'static str],
    /// What it is needed for, in plain words.
    pub why: &'static str,
    /// The documentation pages (under https://learn.microsoft.com/graph/api/) it comes from.
    pub source: &'static str,
}

impl Clause {
    /// The least privileged permission that satisfies the clause.
    pub fn least(&self) -> &'static str {
        self.any_of[0]
    }

    /// Whether one of `granted` satisfies the clause. A delegated token with
    /// `Directory.AccessAsUser.All` acts with the user's own rights, which Graph accepts for
    /// every call here.
    pub fn satisfied_by(&self, granted: &[String], delegated: bool) -> bool {
        granted.iter().any(|g| {
            self.any_of.iter().any(|p| p.eq_ignore_ascii_case(g))
                || (delegated && g.eq_ignore_ascii_case("Directory.AccessAsUser.All"))
        })
    }
}

/// Reading applications, service principals and app role assignments.
pub const READ_APPS: Clause = Clause {
    any_of: &[
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
    why: "read applications, service principals and app role assignments",
    source: "application-get, application-list, serviceprincipal-list, serviceprincipal-list-approleassignments",
};

/// Reading delegated permission grants (admin consent): not covered by `Application.Read.All`.
pub const READ_GRANTS: Clause = Clause {
    any_of: &[
        "Directory.Read.All",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
    why: "read delegated permission grants (admin consent)",
    source: "oauth2permissiongrant-list, serviceprincipal-list-oauth2permissiongrants",
};

/// Creating, updating and deleting applications and service principals, purging and restoring.
pub const WRITE_APPS: Clause = Clause {
    any_of: &["Application.ReadWrite.All"],
    why: "create, update and delete applications and service principals",
    source: "application-upsert, application-delete, serviceprincipal-upsert, serviceprincipal-delete, directory-deleteditems-delete",
};

/// Writing delegated permission grants (reads included).
pub const WRITE_GRANTS: Clause = Clause {
    any_of: &[
        "DelegatedPermissionGrant.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
    why: "grant, change and revoke admin consent to delegated permissions",
    source: "oauth2permissiongrant-post, oauth2permissiongrant-update, oauth2permissiongrant-delete",
};

/// Writing app role assignments (application permissions); the read half of the documented
/// "AppRoleAssignment.ReadWrite.All and Application.Read.All" is [`READ_APPS`] or [`WRITE_APPS`].
pub const WRITE_ASSIGNMENTS: Clause = Clause {
    any_of: &["AppRoleAssignment.ReadWrite.All"],
    why: "grant and revoke application permissions (app role assignments)",
    source: "serviceprincipal-post-approleassignments, serviceprincipal-delete-approleassignments",
};

/// Adding and removing application owners: "Application.ReadWrite.All and Directory.Read.All"
/// (application-post-owners); this is the read half, the write half is [`WRITE_APPS`].
pub const WRITE_OWNERS: Clause = Clause {
    any_of: &["Directory.Read.All", "Directory.ReadWrite.All"],
    why: "add and remove application owners (besides Application.ReadWrite.All)",
    source: "application-post-owners, application-delete-owners",
};

/// Finding a user by user principal name (an owner the manifest names so).
pub const READ_USERS: Clause = Clause {
    any_of: &[
        "User.Read.All",
        "User.ReadBasic.All",
        "Directory.Read.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
    why: "find owners by user principal name",
    source: "user-get",
};

/// Reading a directory object by its id (an owner the manifest names by object id).
pub const READ_DIRECTORY_OBJECTS: Clause = Clause {
    any_of: &["Directory.Read.All", "Directory.ReadWrite.All"],
    why: "find owners by object id",
    source: "directoryobject-get",
};

/// The commands the table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Command {
    Plan,
    Apply,
    Destroy,
    Import,
    /// `import --set-unique-name`.
    ImportSetUniqueName,
    Doctor,
    /// `doctor --probe`.
    DoctorProbe,
    Token,
    /// `audit` (issue 16, not built yet): reads only.
    Audit,
}

impl Command {
    pub const ALL: &'static [Command] = &[
        Command::Plan,
        Command::Apply,
        Command::Destroy,
        Command::Import,
        Command::ImportSetUniqueName,
        Command::Doctor,
        Command::DoctorProbe,
        Command::Token,
        Command::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Plan => "plan",
            Command::Apply => "apply",
            Command::Destroy => "destroy",
            Command::Import => "import",
            Command::ImportSetUniqueName => "import --set-unique-name",
            Command::Doctor => "doctor",
            Command::DoctorProbe => "doctor --probe",
            Command::Token => "token",
            Command::Audit => "audit",
        }
    }

    /// What the command needs; every clause must be satisfied. `token` signs in as the
    /// provisioned app and needs no administrator permission.
    pub fn needs(self) -> &'static [Clause] {
        match self {
            Command::Plan | Command::Import | Command::Audit => &[READ_APPS, READ_GRANTS],
            Command::Apply | Command::Destroy | Command::DoctorProbe => {
                &[WRITE_APPS, WRITE_GRANTS, WRITE_ASSIGNMENTS]
            }
            Command::ImportSetUniqueName => &[READ_APPS, READ_GRANTS, WRITE_APPS],
            Command::Doctor => &[READ_APPS],
            Command::Token => &[],
        }
    }

    /// [`Command::needs`] and what a manifest adds to it: `owners` are found by user principal
    /// name ([`READ_USERS`]) or object id ([`READ_DIRECTORY_OBJECTS`]) by `plan` and `apply`,
    /// and written by `apply` ([`WRITE_OWNERS`]).
    pub fn needs_for(self, desired: Option<&Desired>) -> Vec<Clause> {
        let mut out = self.needs().to_vec();
        let owners = desired
            .into_iter()
            .flat_map(|d| &d.apps)
            .flat_map(|a| a.owners.iter().flatten());
        let (mut by_upn, mut by_id) = (false, false);
        for o in owners {
            match o.reference {
                OwnerRef::Upn(_) => by_upn = true,
                OwnerRef::Id(_) => by_id = true,
            }
        }
        if matches!(self, Command::Plan | Command::Apply) && by_upn {
            out.push(READ_USERS);
        }
        match self {
            // Writing owners needs the same permission as finding them by object id.
            Command::Apply if by_upn || by_id => out.push(WRITE_OWNERS),
            Command::Plan if by_id => out.push(READ_DIRECTORY_OBJECTS),
            _ => {}
        }
        out
    }

    /// The clauses of [`Command::needs`] that `granted` does not satisfy.
    pub fn missing(self, granted: &[String], delegated: bool) -> Vec<Clause> {
        self.missing_for(granted, delegated, None)
    }

    /// The clauses of [`Command::needs_for`] the manifest that `granted` does not satisfy.
    pub fn missing_for(self, granted: &[String], delegated: bool, desired: Option<&Desired>) -> Vec<Clause> {
        let mut out: Vec<Clause> = self
            .needs_for(desired)
            .into_iter()
            .filter(|c| !c.satisfied_by(granted, delegated))
            .collect();
        // Write permissions cover the matching reads: an identity that can write apps does
        // not also need a read permission for them.
        let writes_apps = WRITE_APPS.satisfied_by(granted, delegated);
        let writes_grants = WRITE_GRANTS.satisfied_by(granted, delegated);
        out.retain(|c| {
            let covered = (*c == READ_APPS && writes_apps) || (*c == READ_GRANTS && writes_grants);
            !covered
        });
        out
    }
}

/// The permission a Graph call needs, from its method and path (relative to `/v1.0`, as
/// `GraphError` shows it). `None` for a call this table does not know.
pub fn for_call(method: &str, path: &str) -> Option<Clause> {
    let path = path.split('?').next().unwrap_or(path).to_ascii_lowercase();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let first = segs.first().copied().unwrap_or("");
    let last = segs.last().copied().unwrap_or("");
    let get = method.eq_ignore_ascii_case("GET");
    let grants = first == "oauth2permissiongrants" || last == "oauth2permissiongrants";
    let assignments = path.contains("/approleassignments") || path.contains("/approleassignedto");
    if grants {
        return Some(if get { READ_GRANTS } else { WRITE_GRANTS });
    }
    // Owners (issue 17): the `$ref` writes need Directory.Read.All on top of writing apps.
    if first.starts_with("applications") && last == "$ref" && segs.contains(&"owners") {
        return Some(WRITE_OWNERS);
    }
    if first == "users" {
        return Some(READ_USERS);
    }
    if first == "directoryobjects" && get {
        return Some(READ_DIRECTORY_OBJECTS);
    }
    if assignments && !get {
        return Some(WRITE_ASSIGNMENTS);
    }
    if first.starts_with("applications") || first.starts_with("serviceprincipals") || first == "directory" {
        return Some(if get { READ_APPS } else { WRITE_APPS });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_read_only_identity_with_application_read_all_lacks_grant_reads() {
        let missing = Command::Plan.missing(&granted(&["Application.Read.All"]), false);
        assert_eq!(missing, vec![READ_GRANTS]);
        assert_eq!(missing[0].least(), "Directory.Read.All");
        assert!(
            Command::Plan
                .missing(&granted(&["Application.Read.All", "Directory.Read.All"]), false)
                .is_empty()
        );
        // The three write permissions of the README cover every command.
        let admin = granted(&[
            "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
        ]);
        for c in Command::ALL {
            assert!(c.missing(&admin, false).is_empty(), "{}", c.name());
        }
        assert_eq!(
            Command::Apply
                .missing(&granted(&["Directory.Read.All"]), false)
                .len(),
            3
        );
        // Delegated Directory.AccessAsUser.All acts as the user.
        assert!(
            Command::Apply
                .missing(&granted(&["Directory.AccessAsUser.All"]), true)
                .is_empty()
        );
        assert_eq!(
            Command::Apply
                .missing(&granted(&["Directory.AccessAsUser.All"]), false)
                .len(),
            3
        );
        assert!(Command::Token.missing(&[], false).is_empty());
    }

    #[test]
    fn calls_map_to_the_permission_graph_checks() {
        assert_eq!(
            for_call("GET", "/servicePrincipals(appId='x')/oauth2PermissionGrants"),
            Some(READ_GRANTS)
        );
        assert_eq!(
            for_call("GET", "/oauth2PermissionGrants?$filter=clientId eq 'x'"),
            Some(READ_GRANTS)
        );
        assert_eq!(for_call("POST", "/oauth2PermissionGrants"), Some(WRITE_GRANTS));
        assert_eq!(
            for_call("PATCH", "/oauth2PermissionGrants/abc"),
            Some(WRITE_GRANTS)
        );
        assert_eq!(
            for_call("POST", "/servicePrincipals/x/appRoleAssignments"),
            Some(WRITE_ASSIGNMENTS)
        );
        assert_eq!(
            for_call("DELETE", "/servicePrincipals/x/appRoleAssignments/y"),
            Some(WRITE_ASSIGNMENTS)
        );
        assert_eq!(
            for_call("GET", "/servicePrincipals(appId='x')/appRoleAssignments"),
            Some(READ_APPS)
        );
        assert_eq!(
            for_call("PATCH", "/applications(uniqueName='x')"),
            Some(WRITE_APPS)
        );
        assert_eq!(for_call("GET", "/applications(uniqueName='x')"), Some(READ_APPS));
        assert_eq!(for_call("DELETE", "/directory/deletedItems/x"), Some(WRITE_APPS));
        assert_eq!(for_call("GET", "/organization"), None);
        assert_eq!(
            for_call("GET", "/directoryObjects/5f1a6a5c-0000-4000-8000-000000000001"),
            Some(READ_DIRECTORY_OBJECTS)
        );
    }

    #[test]
    fn a_manifest_with_owners_needs_what_finding_and_writing_them_takes() {
        let owner = |r: OwnerRef| crate::model::Owner {
            reference: r,
            location: Default::default(),
        };
        let manifest = |owners: Vec<crate::model::Owner>| {
            let text = "[app]\nunique_name = \"o\"\ndisplay_name = \"O\"\n";
            let mut d = crate::manifest::parse("m.toml", text).unwrap();
            d.apps[0].owners = Some(owners);
            d
        };
        let admin = granted(&[
            "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
        ]);
        // Without owners, the manifest adds nothing.
        let none = manifest(Vec::new());
        assert!(Command::Apply.missing_for(&admin, false, Some(&none)).is_empty());

        let by_upn = manifest(vec![owner(OwnerRef::Upn("ada@contoso.example".into()))]);
        assert_eq!(
            Command::Apply.missing_for(&admin, false, Some(&by_upn)),
            vec![READ_USERS, WRITE_OWNERS]
        );
        assert_eq!(
            Command::Plan.missing_for(&admin, false, Some(&by_upn)),
            vec![READ_USERS]
        );
        assert!(
            Command::Destroy
                .missing_for(&admin, false, Some(&by_upn))
                .is_empty()
        );
        // Directory.Read.All finds users and object ids and lets owners be written.
        let with_directory: Vec<String> = admin
            .iter()
            .cloned()
            .chain(granted(&["Directory.Read.All"]))
            .collect();
        assert!(
            Command::Apply
                .missing_for(&with_directory, false, Some(&by_upn))
                .is_empty()
        );

        let by_id = manifest(vec![owner(OwnerRef::Id(
            "5f1a6a5c-0000-4000-8000-000000000001".into(),
        ))]);
        assert_eq!(
            Command::Plan.missing_for(&admin, false, Some(&by_id)),
            vec![READ_DIRECTORY_OBJECTS]
        );
        assert_eq!(
            Command::Apply.missing_for(&admin, false, Some(&by_id)),
            vec![WRITE_OWNERS]
        );
        assert_eq!(WRITE_OWNERS.least(), "Directory.Read.All");
    }
}
