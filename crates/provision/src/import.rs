//! `provision import`: an existing registration, as Graph holds it, turned into manifest text
//! that plans to no changes. Pure: no I/O; `commands::import` reads the tenant and hands the
//! objects in as a `Source`.
//!
//! What the manifest manages is written as keys (web, SPA, identifier URIs, the API the app
//! exposes and its app roles: `import::props`); everything else it cannot express is written
//! as comments, so nothing is silently dropped (plan and apply leave those properties alone):
//! secrets and certificates (never their values) and user (`Principal`) consent. Web and SPA
//! redirect URIs, identifier URIs, exposed scopes, app roles, owners and federated credentials
//! are keys.
//!
//! The rules follow what `plan` compares, so that the result is a no-op plan:
//! - `sign_in_audience`, `display_name`, `notes` are compared when written: written as they are.
//! - `[app.public_client]` is authoritative for its redirect URIs: written only when every URI
//!   passes the manifest's rules, else left out (the URIs stay as they are) with a comment.
//! - `requiredResourceAccess` is compared as a set: every entry must be named, or plan removes
//!   it; an entry that cannot be named (its resource or permission is gone) is a warning.
//! - `consent.grant = "admin"` makes the `AllPrincipals` grants and app role assignments match
//!   the permissions exactly (missing ones granted, others revoked), so it is written only when
//!   they already match; otherwise `"none"`, with a comment saying what is consented.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog;
use crate::graph::types::*;
use crate::manifest::rules;
use crate::model::{ConsentMode, SignInAudience};

/// What the tenant holds for one registration.
#[derive(Debug, Clone)]
pub struct Source {
    pub tenant_id: String,
    pub application: ApplicationDetails,
    /// The app's own service principal in this tenant.
    pub service_principal: Option<ServicePrincipal>,
    /// Delegated grants whose client is the app (`AllPrincipals` and `Principal`).
    pub grants: Vec<OAuth2PermissionGrant>,
    /// App role assignments granted to the app's service principal.
    pub assignments: Vec<AppRoleAssignment>,
    /// Every resource service principal found: by appId for `requiredResourceAccess`, by
    /// object id for grants and assignments.
    pub resources: Vec<ServicePrincipal>,
    /// Display names (lower case) that more than one service principal of the tenant carries:
    /// such a name would not find one API, so the manifest names it by appId instead.
    pub shared_display_names: BTreeSet<String>,
    /// The owners, or why they could not be read.
    pub owners: Result<Vec<DirectoryObject>, String>,
    /// The federated identity credentials, or why they could not be read.
    pub federated_credentials: Result<Vec<FederatedCredential>, String>,
}

/// How the manifest identifies the registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The registration's `uniqueName`; `just_set` when this import gave it.
    UniqueName { name: String, just_set: bool },
    /// No `uniqueName`: `app_id` pins the registration and `name` is the manifest's own name
    /// for it.
    Pinned { name: String },
}

impl Identity {
    pub fn name(&self) -> &str {
        match self {
            Identity::UniqueName { name, .. } | Identity::Pinned { name } => name,
        }
    }
}

/// The generated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub text: String,
    pub consent: ConsentMode,
    /// What the manifest cannot keep as it is, so that `plan` will still show a change.
    pub warnings: Vec<String>,
}

/// A `unique_name` made from a display name: lower-case ASCII letters and digits, other runs of
/// characters turned into one `-`, at most `UNIQUE_NAME_MAX` characters; `app-` and the first
/// block of the appId when nothing is left.
pub fn slug(display_name: &str, app_id: &str) -> String {
    let mut out = String::new();
    for c in display_name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(rules::UNIQUE_NAME_MAX);
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        format!("app-{}", app_id.split('-').next().unwrap_or(app_id))
    } else {
        out
    }
}

/// The names tried, in order, for a registration without `uniqueName`: its slug, then the slug
/// with the first block of the appId. A name another app holds as `uniqueName` is skipped,
/// because `destroy` finds apps by `unique_name`.
pub fn pinned_name_candidates(display_name: &str, app_id: &str) -> [String; 3] {
    let base = slug(display_name, app_id);
    let short = app_id.split('-').next().unwrap_or(app_id);
    let with = |suffix: &str| {
        let mut b = base.clone();
        b.truncate(rules::UNIQUE_NAME_MAX - suffix.len() - 1);
        format!("{}-{suffix}", b.trim_end_matches('-'))
    };
    [base.clone(), with(short), with(app_id)]
}

/// Build the manifest. `Err` holds the rendered diagnostics when the text would not validate
/// (a value the tenant holds that the manifest's rules refuse).
pub fn manifest(source: &Source, identity: &Identity) -> Result<Imported, String> {
    let mut b = Builder::new(source);
    let text = b.render(identity);
    let checked = crate::manifest::check("imported manifest", &text);
    if checked.diagnostics.has_errors() {
        return Err(checked.diagnostics.render(&text));
    }
    Ok(Imported {
        text,
        consent: b.consent,
        warnings: b.warnings,
    })
}

/// A string as a TOML value (quoted and escaped by the toml crate).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| toml_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// Text that is safe inside a `#` comment: one line.
fn plain(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// One `[[app.api_permissions]]` entry, named.
struct Permissions {
    api: String,
    /// Shown after `api` when `api` is an alias or an appId.
    api_comment: Option<String>,
    delegated: Vec<String>,
    application: Vec<String>,
    /// The resource service principal, when the tenant has it.
    sp_id: Option<String>,
    /// Role ids of `application`, for the consent check.
    role_ids: Vec<String>,
}

struct Builder<'a> {
    src: &'a Source,
    consent: ConsentMode,
    warnings: Vec<String>,
    /// "Not expressed" comment lines.
    left_alone: Vec<String>,
}

impl<'a> Builder<'a> {
    fn new(src: &'a Source) -> Self {
        Builder {
            src,
            consent: ConsentMode::None,
            warnings: Vec::new(),
            left_alone: Vec::new(),
        }
    }

    fn sp_by_app_id(&self, app_id: &str) -> Option<&'a ServicePrincipal> {
        self.src
            .resources
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    fn sp_by_id(&self, id: &str) -> Option<&'a ServicePrincipal> {
        self.src.resources.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// A resource service principal (object id) for people: its display name.
    fn resource_label(&self, sp_id: &str) -> String {
        self.sp_by_id(sp_id)
            .and_then(|s| s.display_name.clone())
            .unwrap_or_else(|| format!("service principal {sp_id}"))
    }

    fn role_label(&self, sp_id: &str, role_id: &str) -> String {
        self.sp_by_id(sp_id)
            .and_then(|s| s.app_roles.iter().find(|r| r.id.eq_ignore_ascii_case(role_id)))
            .and_then(|r| r.value.clone())
            .unwrap_or_else(|| format!("role {role_id}"))
    }

    /// How the manifest names a resource API: a built-in alias, else its display name when
    /// that finds exactly this API, else its appId. `None` when the tenant has no service
    /// principal for it and provision does not know it.
    fn api_name(&self, app_id: &str, sp: Option<&ServicePrincipal>) -> Option<(String, Option<String>)> {
        if let Some(known) = catalog::by_app_id(app_id) {
            return Some((known.alias.clone(), Some(known.display_name.clone())));
        }
        let sp = sp?;
        if let Some(name) = sp.display_name.as_deref() {
            // A name the manifest would read as something else (a built-in API, an identifier
            // URI, a GUID), or that several service principals share, is not used.
            let usable = !name.trim().is_empty()
                && name.trim() == name
                && !name.chars().any(char::is_control)
                && !name.contains("://")
                && !rules::looks_like_guid(name)
                && catalog::lookup(name).is_none()
                && !self.src.shared_display_names.contains(&name.to_lowercase());
            if usable {
                return Some((name.to_owned(), None));
            }
        }
        Some((lower(&sp.app_id), sp.display_name.as_deref().map(plain)))
    }

    /// `requiredResourceAccess` as named permission entries, in Graph's order.
    fn permissions(&mut self) -> Vec<Permissions> {
        // Merge entries that name the same resource (compared as a set by plan anyway).
        let mut order: Vec<String> = Vec::new();
        let mut access: BTreeMap<String, Vec<&ResourceAccess>> = BTreeMap::new();
        for r in &self.src.application.application.required_resource_access {
            let key = lower(&r.resource_app_id);
            if !access.contains_key(&key) {
                order.push(key.clone());
            }
            access.entry(key).or_default().extend(r.resource_access.iter());
        }
        let mut out = Vec::new();
        for app_id in order {
            let wanted = &access[&app_id];
            if wanted.is_empty() {
                continue;
            }
            let sp = self.sp_by_app_id(&app_id);
            let known = catalog::by_app_id(&app_id);
            let Some((api, api_comment)) = self.api_name(&app_id, sp) else {
                self.warnings.push(format!(
                    "the API `{app_id}` of {} permission(s) has no service principal in the tenant: the manifest cannot name it, so plan will remove those permissions",
                    wanted.len()
                ));
                self.left_alone.push(format!(
                    "permissions on API {app_id}, which has no service principal in this tenant: {}",
                    wanted
                        .iter()
                        .map(|a| format!("{} ({})", a.id, a.kind))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            };
            if sp.is_none()
                && let Some(k) = known
            {
                self.warnings.push(format!(
                    "the tenant has no service principal for {}: plan will create it",
                    k.display_name
                ));
            }
            // What plan resolves names against: the service principal, else the catalog.
            let scopes: Vec<(String, String)> = match (sp, known) {
                (Some(sp), _) => sp
                    .oauth2_permission_scopes
                    .iter()
                    .filter_map(|s| Some((lower(&s.id), s.value.clone()?)))
                    .collect(),
                (None, Some(k)) => k.scopes.iter().map(|p| (lower(&p.id), p.value.clone())).collect(),
                (None, None) => Vec::new(),
            };
            let roles: Vec<(String, String)> = match (sp, known) {
                (Some(sp), _) => sp
                    .app_roles
                    .iter()
                    .filter(|r| {
                        r.allowed_member_types.is_empty()
                            || r.allowed_member_types.iter().any(|t| t == "Application")
                    })
                    .filter_map(|r| Some((lower(&r.id), r.value.clone()?)))
                    .collect(),
                (None, Some(k)) => k.roles.iter().map(|p| (lower(&p.id), p.value.clone())).collect(),
                (None, None) => Vec::new(),
            };
            let mut p = Permissions {
                api,
                api_comment,
                delegated: Vec::new(),
                application: Vec::new(),
                sp_id: sp.map(|s| s.id.clone()),
                role_ids: Vec::new(),
            };
            let mut unnamed = Vec::new();
            for a in wanted.iter() {
                let id = lower(&a.id);
                let (list, found) = if a.kind == "Role" {
                    (&mut p.application, roles.iter().find(|(i, _)| *i == id))
                } else {
                    (&mut p.delegated, scopes.iter().find(|(i, _)| *i == id))
                };
                match found {
                    Some((_, value)) => {
                        if !list.contains(value) {
                            list.push(value.clone());
                            if a.kind == "Role" {
                                p.role_ids.push(id);
                            }
                        }
                    }
                    None => unnamed.push(format!("{} ({})", a.id, a.kind)),
                }
            }
            let label = api_comment_or(&p);
            if !unnamed.is_empty() {
                self.warnings.push(format!(
                    "{} publishes no permission with the id(s) {}: plan will remove them",
                    label,
                    unnamed.join(", ")
                ));
                self.left_alone.push(format!(
                    "permissions {label} no longer publishes: {}",
                    unnamed.join(", ")
                ));
            }
            if !p.delegated.is_empty() || !p.application.is_empty() {
                out.push(p);
            }
        }
        out
    }

    /// Decide `consent.grant` and describe the consent in comments when it is `none`.
    fn consent(&mut self, perms: &[Permissions]) -> Vec<String> {
        let all_principals: Vec<&OAuth2PermissionGrant> = self
            .src
            .grants
            .iter()
            .filter(|g| g.consent_type == "AllPrincipals")
            .collect();
        let granted: BTreeMap<String, BTreeSet<String>> = all_principals
            .iter()
            .map(|g| (lower(&g.resource_id), g.scopes().into_iter().collect()))
            .collect();
        let assigned: BTreeSet<(String, String)> = self
            .src
            .assignments
            .iter()
            .map(|a| (lower(&a.resource_id), lower(&a.app_role_id)))
            .collect();

        let mut wanted_scopes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut wanted_roles: BTreeSet<(String, String)> = BTreeSet::new();
        let mut every_sp = true;
        for p in perms {
            let Some(sp) = &p.sp_id else {
                every_sp = false;
                continue;
            };
            if !p.delegated.is_empty() {
                wanted_scopes.insert(lower(sp), p.delegated.iter().cloned().collect());
            }
            for r in &p.role_ids {
                wanted_roles.insert((lower(sp), r.clone()));
            }
        }
        let exact = self.src.service_principal.is_some()
            && every_sp
            && granted == wanted_scopes
            && assigned == wanted_roles;
        if exact {
            self.consent = ConsentMode::Admin;
            return Vec::new();
        }
        self.consent = ConsentMode::None;

        let mut lines = vec![
            "Consent does not match the permissions above exactly, so `grant = \"none\"` leaves it as it"
                .to_owned(),
            "is (with \"admin\", apply would grant what is missing and revoke what is not listed)."
                .to_owned(),
        ];
        if self.src.service_principal.is_none() {
            lines.push("  the app has no service principal in this tenant: nothing is consented".to_owned());
        }
        let mut consented = Vec::new();
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        for (sp, want) in &wanted_scopes {
            let have = granted.get(sp).cloned().unwrap_or_default();
            let name = self.resource_label(sp);
            let yes: Vec<&String> = want.intersection(&have).collect();
            let no: Vec<&String> = want.difference(&have).collect();
            if !yes.is_empty() {
                consented.push(format!("{name}: {}", join(yes)));
            }
            if !no.is_empty() {
                missing.push(format!("{name}: {}", join(no)));
            }
        }
        for (sp, have) in &granted {
            let want = wanted_scopes.get(sp).cloned().unwrap_or_default();
            let beyond: Vec<&String> = have.difference(&want).collect();
            if !beyond.is_empty() {
                extra.push(format!("{}: {}", self.resource_label(sp), join(beyond)));
            }
        }
        for (sp, role) in &wanted_roles {
            let label = format!(
                "{}: {} (application)",
                self.resource_label(sp),
                self.role_label(sp, role)
            );
            if assigned.contains(&(sp.clone(), role.clone())) {
                consented.push(label);
            } else {
                missing.push(label);
            }
        }
        for (sp, role) in &assigned {
            if !wanted_roles.contains(&(sp.clone(), role.clone())) {
                extra.push(format!(
                    "{}: {} (application)",
                    self.resource_label(sp),
                    self.role_label(sp, role)
                ));
            }
        }
        for p in perms.iter().filter(|p| p.sp_id.is_none()) {
            let all: Vec<&String> = p.delegated.iter().chain(&p.application).collect();
            missing.push(format!("{}: {}", api_comment_or(p), join(all)));
        }
        let mut section = |title: &str, items: Vec<String>| {
            if !items.is_empty() {
                lines.push(format!("  {title}:"));
                lines.extend(items.into_iter().map(|i| format!("    {i}")));
            }
        };
        section("admin consent given", consented);
        section("not consented", missing);
        section("consented but not asked for", extra);
        lines
    }

    /// The "left alone" lines for what the manifest has no key for.
    fn unexpressed(&mut self) {
        let mut push = |what: &str, items: Vec<String>| {
            if !items.is_empty() {
                self.left_alone.push(format!("{what}: {}", items.join(", ")));
            }
        };
        // Passwords and certificates the manifest cannot name are listed by `credentials`.
        match &self.src.federated_credentials {
            // Written as keys when the manifest can hold every one (`federated_credentials`).
            Ok(list) if fics_importable(list) => {}
            Ok(list) => push(
                "federated credentials (the manifest's rules refuse one of them, so none is written as keys)",
                list.iter()
                    .map(|f| {
                        format!(
                            "{} (issuer {}, subject {})",
                            f.name.as_deref().unwrap_or("unnamed"),
                            f.issuer.as_deref().unwrap_or("?"),
                            f.subject.as_deref().unwrap_or("?")
                        )
                    })
                    .collect(),
            ),
            Err(why) => push("federated credentials", vec![format!("not read ({why})")]),
        }
        // Owners are written as the `owners` key (none: no key, ownership left alone).
        if let Err(why) = &self.src.owners {
            push("owners", vec![format!("not read ({why})")]);
        }
        // User consent: grouped by resource and scope set, counted by user.
        let mut users: BTreeMap<(String, Vec<String>), usize> = BTreeMap::new();
        for g in self.src.grants.iter().filter(|g| g.consent_type == "Principal") {
            let mut scopes = g.scopes();
            scopes.sort();
            *users.entry((g.resource_id.clone(), scopes)).or_default() += 1;
        }
        let user_grants: Vec<String> = users
            .into_iter()
            .map(|((rid, scopes), n)| {
                format!(
                    "{}: {} ({n} user{})",
                    self.resource_label(&rid),
                    scopes.join(" "),
                    if n == 1 { "" } else { "s" }
                )
            })
            .collect();
        if !user_grants.is_empty() {
            self.left_alone.push(format!(
                "user consent (Principal grants): {}",
                user_grants.join("; ")
            ));
        }
    }

    fn render(&mut self, identity: &Identity) -> String {
        let app = &self.src.application.application;
        let mut t = String::new();
        let display = app.display_name.clone().unwrap_or_default();
        t.push_str(&format!(
            "# Imported by `provision import` from the application `{}`\n\
             # (appId {}) of tenant {}.\n\
             # `provision plan` shows no changes for it, unless import warned otherwise.\n",
            plain(&display),
            app.app_id,
            self.src.tenant_id
        ));
        // The guard: this manifest describes a registration of this tenant only.
        t.push_str(&format!("tenant = {}\n\n[app]\n", toml_str(&self.src.tenant_id)));
        t.push_str(&format!("unique_name = {}\n", toml_str(identity.name())));
        match identity {
            Identity::UniqueName { just_set: true, .. } => {
                t.push_str("# uniqueName given to the registration by this import (it had none).\n");
            }
            Identity::UniqueName { .. } => {}
            Identity::Pinned { name } => {
                t.push_str(&format!(
                    "# The registration has no uniqueName: `app_id` pins it, and `unique_name` is this manifest's\n\
                     # name for it only. Graph lets a registration get a uniqueName once, while it has none:\n\
                     #   provision import --app-id {} --set-unique-name {name}\n",
                    app.app_id
                ));
                t.push_str(&format!("app_id = {}\n", toml_str(&lower(&app.app_id))));
            }
        }
        t.push_str(&format!("display_name = {}\n", toml_str(&display)));

        let audience = app
            .sign_in_audience
            .as_deref()
            .map(|s| (s, SignInAudience::parse(s)));
        let audience = match audience {
            Some((_, Some(a))) => a,
            Some((other, None)) => {
                self.warnings.push(format!(
                    "the sign-in audience `{other}` is not one the manifest knows: plan will set `AzureADMyOrg`"
                ));
                SignInAudience::AzureADMyOrg
            }
            // Graph's default (learn:/graph/api/resources/application).
            None => SignInAudience::AzureADMyOrg,
        };
        t.push_str(&format!("sign_in_audience = {}\n", toml_str(audience.as_str())));
        if let Some(notes) = &app.notes {
            t.push_str(&format!("notes = {}\n", toml_str(notes)));
        }
        // Tags are only ever added by apply, so every tag the manifest accepts is written.
        let (tags, odd_tags): (Vec<&String>, Vec<&String>) =
            app.tags.iter().partition(|tag| rules::check_tag(tag).is_ok());
        let tags: BTreeSet<&String> = tags.into_iter().collect();
        if !tags.is_empty() {
            t.push_str(&format!("tags = {}\n", toml_list(tags)));
        }
        let uris_line = props::identifier_uris(app, &mut self.left_alone);
        t.push_str(&uris_line);
        if !odd_tags.is_empty() {
            self.left_alone.push(format!(
                "tags the manifest cannot hold: {}",
                odd_tags
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        // Owners (issue 17): users by user principal name, others by object id.
        if let Ok(owners) = &self.src.owners
            && !owners.is_empty()
        {
            t.push_str(&owners_key(owners));
        }

        // Public client: the manifest is authoritative for its redirect URIs, so the section is
        // written only when it can hold every one of them.
        let uris: Vec<String> = {
            let mut seen = BTreeSet::new();
            app.public_client
                .iter()
                .flat_map(|p| &p.redirect_uris)
                .filter(|u| seen.insert(u.as_str()))
                .cloned()
                .collect()
        };
        let fallback = app.is_fallback_public_client.unwrap_or(false);
        if !uris.is_empty() || fallback {
            let refused: Vec<&String> = uris
                .iter()
                .filter(|u| rules::check_redirect_uri(u, audience).is_err())
                .collect();
            if refused.is_empty() && uris.len() <= rules::max_redirect_uris(audience) {
                t.push_str(&format!(
                    "\n[app.public_client]\nredirect_uris = {}\nallow_public_client_flows = {fallback}\n",
                    toml_list(&uris)
                ));
            } else {
                self.left_alone.push(format!(
                    "public-client settings, because the manifest does not accept the redirect URI(s) {}: redirect URIs {}; public client flows {}",
                    refused.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", "),
                    uris.join(", "),
                    if fallback { "allowed" } else { "not allowed" }
                ));
            }
        }

        t.push_str(&props::sections(app, audience, &mut self.left_alone));

        let perms = self.permissions();
        for p in &perms {
            t.push_str("\n[[app.api_permissions]]\n");
            t.push_str(&format!("api = {}", toml_str(&p.api)));
            if let Some(c) = &p.api_comment {
                t.push_str(&format!("  # {}", plain(c)));
            }
            t.push('\n');
            if !p.delegated.is_empty() {
                t.push_str(&format!("delegated = {}\n", toml_list(&p.delegated)));
            }
            if !p.application.is_empty() {
                t.push_str(&format!("application = {}\n", toml_list(&p.application)));
            }
        }

        // Credentials (issue 17): as keys when the manifest can name each one.
        let creds = credentials::write(
            &app.password_credentials,
            &app.key_credentials,
            describe_credential,
        );
        t.push_str(&creds.text);
        self.left_alone.extend(creds.left_alone);

        let consent_lines = self.consent(&perms);
        t.push_str("\n[app.consent]\n");
        for line in consent_lines {
            t.push_str(&format!("# {}\n", plain(&line)));
        }
        t.push_str(&format!(
            "grant = {}\n",
            toml_str(match self.consent {
                ConsentMode::Admin => "admin",
                ConsentMode::None => "none",
            })
        ));
        if self.src.service_principal.is_none() {
            self.warnings.push(
                "the application has no service principal in this tenant: plan will create one".to_owned(),
            );
        }
        if let Ok(fics) = &self.src.federated_credentials
            && fics_importable(fics)
        {
            t.push_str(&fics_tables(fics));
        }

        self.unexpressed();
        if !self.left_alone.is_empty() {
            t.push_str("\n# Not expressed by this manifest (plan and apply leave these alone):\n");
            for line in &self.left_alone {
                t.push_str(&format!("# - {}\n", plain(line)));
            }
        }
        t
    }
}

// --- owners and federated credentials (issue 17) ---

/// `owners = [...]`, one owner a line, each named the way plan resolves it: a user by user
/// principal name, anything else by object id (with its name in a comment).
fn owners_key(owners: &[DirectoryObject]) -> String {
    let mut t = String::from("owners = [\n");
    for o in owners {
        let user = o.odata_type.as_deref() == Some("#microsoft.graph.user") || o.app_id.is_none();
        match o.user_principal_name.as_deref() {
            Some(upn) if user && crate::manifest::ownership::is_upn(upn) => {
                t.push_str(&format!("  {},\n", toml_str(upn)));
            }
            _ => {
                let what = match (o.odata_type.as_deref(), &o.display_name) {
                    (Some("#microsoft.graph.servicePrincipal"), Some(n)) => {
                        format!("service principal {}", plain(n))
                    }
                    (Some("#microsoft.graph.servicePrincipal"), None) => "service principal".to_owned(),
                    (_, Some(n)) => plain(n),
                    (_, None) => String::new(),
                };
                if what.is_empty() {
                    t.push_str(&format!("  {},\n", toml_str(&lower(&o.id))));
                } else {
                    t.push_str(&format!("  {},  # {what}\n", toml_str(&lower(&o.id))));
                }
            }
        }
    }
    t.push_str("]\n");
    t
}

fn fics_importable(list: &[FederatedCredential]) -> bool {
    list.iter().all(|f| {
        crate::manifest::ownership::importable(
            f.name.as_deref().unwrap_or_default(),
            f.issuer.as_deref().unwrap_or_default(),
            f.subject.as_deref().unwrap_or_default(),
            &f.audiences,
            f.description.as_deref(),
        )
    })
}

/// `[[app.federated_credentials]]` tables: the `github` helper where it writes the subject,
/// `audiences` only when not the default.
fn fics_tables(list: &[FederatedCredential]) -> String {
    use crate::manifest::ownership::{DEFAULT_AUDIENCE, github_helper};
    let mut t = String::new();
    for f in list {
        let issuer = f.issuer.as_deref().unwrap_or_default();
        let subject = f.subject.as_deref().unwrap_or_default();
        t.push_str("\n[[app.federated_credentials]]\n");
        t.push_str(&format!(
            "name = {}\n",
            toml_str(f.name.as_deref().unwrap_or_default())
        ));
        match github_helper(issuer, subject) {
            Some((repo, key, value)) => {
                let v = value.map_or_else(|| "true".to_owned(), |v| toml_str(&v));
                t.push_str(&format!(
                    "github = {{ repository = {}, {key} = {v} }}\n",
                    toml_str(&repo)
                ));
            }
            None => {
                t.push_str(&format!(
                    "issuer = {}\nsubject = {}\n",
                    toml_str(issuer),
                    toml_str(subject)
                ));
            }
        }
        if f.audiences != [DEFAULT_AUDIENCE] {
            t.push_str(&format!("audiences = {}\n", toml_list(&f.audiences)));
        }
        if let Some(d) = f.description.as_deref().filter(|d| !d.is_empty()) {
            t.push_str(&format!("description = {}\n", toml_str(d)));
        }
    }
    t
}

fn api_comment_or(p: &Permissions) -> String {
    p.api_comment.clone().unwrap_or_else(|| p.api.clone())
}

fn join<'s>(items: impl IntoIterator<Item = &'s String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A password (`key: false`) or key credential for a comment: name, kind, keyId, end.
fn describe_credential(v: &serde_json::Value, key: bool) -> String {
    if key {
        let c = serde_json::from_value::<KeyCredential>(v.clone()).unwrap_or_default();
        let kind = match (c.kind, c.usage) {
            (Some(k), Some(u)) => Some(format!("{k} {u}")),
            (k, u) => k.or(u),
        };
        credential(c.display_name, c.key_id, c.end_date_time, kind)
    } else {
        let c = serde_json::from_value::<PasswordCredential>(v.clone()).unwrap_or_default();
        credential(c.display_name, c.key_id, c.end_date_time, None)
    }
}

fn credential(
    name: Option<String>,
    key_id: Option<String>,
    end: Option<String>,
    kind: Option<String>,
) -> String {
    let mut s = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unnamed".to_owned());
    let mut details = Vec::new();
    if let Some(k) = kind {
        details.push(k);
    }
    if let Some(id) = key_id {
        details.push(format!("keyId {id}"));
    }
    if let Some(end) = end {
        details.push(format!("expires {end}"));
    }
    if !details.is_empty() {
        s.push_str(&format!(" ({})", details.join(", ")));
    }
    s
}

mod credentials;
mod props;

#[cfg(test)]
mod tests;
