//! The raw manifest schema: walks the parsed TOML tree (with spans) into plain structs, and
//! reports every unknown key, wrongly typed value and missing required key on the way (serde's
//! `deny_unknown_fields` stops at the first). Values are not judged here; `build` does that.
//! Pure: no I/O.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::rules::closest;

/// A value and the byte range it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub span: Range<usize>,
}

#[derive(Debug, Default)]
pub struct RawManifest {
    pub tenant: Option<Sp<String>>,
    pub apps: Vec<RawApp>,
    pub output: Option<RawOutput>,
}

#[derive(Debug)]
pub struct RawApp {
    /// The `[app]` / `[[app]]` header (or the inline table).
    pub span: Range<usize>,
    pub unique_name: Option<Sp<String>>,
    pub app_id: Option<Sp<String>>,
    pub display_name: Option<Sp<String>>,
    pub sign_in_audience: Option<Sp<String>>,
    pub notes: Option<Sp<String>>,
    pub tags: Option<Sp<Vec<Sp<String>>>>,
    pub public_client: Option<RawPublicClient>,
    pub api_permissions: Vec<RawApiPermission>,
    pub consent: Option<RawConsent>,
    // --- owners and federated credentials (issue 17) ---
    pub owners: Option<Sp<Vec<Sp<String>>>>,
    /// `None` when the key is absent (left alone); `Some(vec![])` for `federated_credentials = []`.
    pub federated_credentials: Option<Vec<RawFederatedCredential>>,
    pub identifier_uris: Option<Sp<Vec<Sp<String>>>>,
    pub web: Option<RawWeb>,
    pub spa: Option<RawSpa>,
    pub api: Option<RawApi>,
    /// `None` when the manifest has no `app_roles` key (left alone); `Some(empty)` for
    /// `app_roles = []`.
    pub app_roles: Option<Sp<Vec<RawAppRole>>>,
    // --- credentials (issue 17) ---
    pub passwords: Option<Sp<Vec<super::credentials::RawPassword>>>,
    pub certificates: Option<Sp<Vec<super::credentials::RawCertificate>>>,
}

#[derive(Debug)]
pub struct RawFederatedCredential {
    pub span: Range<usize>,
    pub name: Option<Sp<String>>,
    pub issuer: Option<Sp<String>>,
    pub subject: Option<Sp<String>>,
    pub audiences: Option<Sp<Vec<Sp<String>>>>,
    pub description: Option<Sp<String>>,
    pub github: Option<RawGitHub>,
}

/// `github = { repository = "org/repo", branch = "main" }`: a GitHub Actions subject.
#[derive(Debug)]
pub struct RawGitHub {
    pub span: Range<usize>,
    pub repository: Option<Sp<String>>,
    pub branch: Option<Sp<String>>,
    pub tag: Option<Sp<String>>,
    pub environment: Option<Sp<String>>,
    pub pull_request: Option<Sp<bool>>,
}

#[derive(Debug)]
pub struct RawWeb {
    pub redirect_uris: Option<Sp<Vec<Sp<String>>>>,
    pub home_page_url: Option<Sp<String>>,
    pub logout_url: Option<Sp<String>>,
    pub enable_id_token_issuance: Option<Sp<bool>>,
    pub enable_access_token_issuance: Option<Sp<bool>>,
}

#[derive(Debug)]
pub struct RawSpa {
    pub redirect_uris: Option<Sp<Vec<Sp<String>>>>,
}

#[derive(Debug)]
pub struct RawApi {
    pub requested_access_token_version: Option<Sp<i64>>,
    pub scopes: Option<Sp<Vec<RawScope>>>,
}

#[derive(Debug)]
pub struct RawScope {
    pub span: Range<usize>,
    pub id: Option<Sp<String>>,
    pub value: Option<Sp<String>>,
    pub kind: Option<Sp<String>>,
    pub admin_consent_display_name: Option<Sp<String>>,
    pub admin_consent_description: Option<Sp<String>>,
    pub user_consent_display_name: Option<Sp<String>>,
    pub user_consent_description: Option<Sp<String>>,
    pub enabled: Option<Sp<bool>>,
}

#[derive(Debug)]
pub struct RawAppRole {
    pub span: Range<usize>,
    pub id: Option<Sp<String>>,
    pub value: Option<Sp<String>>,
    pub display_name: Option<Sp<String>>,
    pub description: Option<Sp<String>>,
    pub allowed_member_types: Option<Sp<Vec<Sp<String>>>>,
    pub enabled: Option<Sp<bool>>,
}

#[derive(Debug)]
pub struct RawPublicClient {
    pub redirect_uris: Option<Sp<Vec<Sp<String>>>>,
    pub allow_public_client_flows: Option<Sp<bool>>,
    pub sign_in: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawApiPermission {
    pub span: Range<usize>,
    pub api: Option<Sp<String>>,
    pub delegated: Option<Sp<Vec<Sp<String>>>>,
    pub application: Option<Sp<Vec<Sp<String>>>>,
}

#[derive(Debug)]
pub struct RawConsent {
    pub grant: Option<Sp<String>>,
}

#[derive(Debug)]
pub struct RawOutput {
    pub path: Option<Sp<String>>,
    pub format: Option<Sp<String>>,
}

const TOP_KEYS: &[&str] = &["tenant", "app", "output"];
const APP_KEYS: &[&str] = &[
    "unique_name",
    "app_id",
    "display_name",
    "sign_in_audience",
    "notes",
    "tags",
    "public_client",
    "api_permissions",
    "consent",
    "owners",
    "federated_credentials",
    "identifier_uris",
    "web",
    "spa",
    "api",
    "app_roles",
    // credentials (issue 17)
    "passwords",
    "certificates",
];
const WEB_KEYS: &[&str] = &[
    "redirect_uris",
    "home_page_url",
    "logout_url",
    "enable_id_token_issuance",
    "enable_access_token_issuance",
];
const SPA_KEYS: &[&str] = &["redirect_uris"];
const API_KEYS: &[&str] = &["requested_access_token_version", "scopes"];
const SCOPE_KEYS: &[&str] = &[
    "id",
    "value",
    "type",
    "admin_consent_display_name",
    "admin_consent_description",
    "user_consent_display_name",
    "user_consent_description",
    "enabled",
];
const APP_ROLE_KEYS: &[&str] = &[
    "id",
    "value",
    "display_name",
    "description",
    "allowed_member_types",
    "enabled",
];
const PUBLIC_CLIENT_KEYS: &[&str] = &["redirect_uris", "allow_public_client_flows", "sign_in"];
const PERMISSION_KEYS: &[&str] = &["api", "delegated", "application"];
const CONSENT_KEYS: &[&str] = &["grant"];
const OUTPUT_KEYS: &[&str] = &["path", "format"];
const FEDERATED_KEYS: &[&str] = &["name", "issuer", "subject", "audiences", "description", "github"];
const GITHUB_KEYS: &[&str] = &["repository", "branch", "tag", "environment", "pull_request"];

/// Where each key of the schema lives, to tell a user who put one in the wrong table where it
/// goes.
const HOMES: &[(&[&str], &str)] = &[
    (TOP_KEYS, "the top level"),
    (APP_KEYS, "`[app]`"),
    (PUBLIC_CLIENT_KEYS, "`[app.public_client]`"),
    (PERMISSION_KEYS, "`[[app.api_permissions]]`"),
    (CONSENT_KEYS, "`[app.consent]`"),
    (WEB_KEYS, "`[app.web]`"),
    (API_KEYS, "`[app.api]`"),
    (SCOPE_KEYS, "`[[app.api.scopes]]`"),
    (APP_ROLE_KEYS, "`[[app.app_roles]]`"),
    (OUTPUT_KEYS, "`[output]`"),
    (super::credentials::PASSWORD_KEYS, "`[[app.passwords]]`"),
    (super::credentials::CERTIFICATE_KEYS, "`[[app.certificates]]`"),
];

/// Walk a parsed document. Problems go to `diags`; whatever could be read is returned.
pub fn walk(root: &DeTable<'_>, diags: &mut Diagnostics) -> RawManifest {
    let mut fields = Fields::new(root, 0..0, "the top level", TOP_KEYS, diags);
    let tenant = fields.string("tenant", false, diags);
    let output = fields.take("output").and_then(|(key, v)| {
        let (table, span) = expect_table(&key, v, "`[output]`", diags)?;
        Some(walk_output(table, span, diags))
    });
    let apps = match fields.take("app") {
        None => {
            diags.push(
                Diagnostic::error("the manifest declares no app", 0..0)
                    .label("expected an `[app]` table")
                    .help("add an `[app]` table with at least `unique_name` and `display_name` (`provision init` writes a starter manifest)"),
            );
            Vec::new()
        }
        Some((key, value)) => walk_apps(&key, value, diags),
    };
    RawManifest { tenant, apps, output }
}

fn walk_apps(key: &Spanned<String>, value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Vec<RawApp> {
    match value.get_ref() {
        DeValue::Table(t) => vec![walk_app(t, value.span(), "`[app]`", diags)],
        DeValue::Array(items) => {
            if items.is_empty() {
                diags.push(
                    Diagnostic::error("`app` is an empty list", value.span())
                        .label("no app")
                        .help("declare each app with an `[[app]]` table"),
                );
            }
            items
                .iter()
                .filter_map(|item| match item.get_ref() {
                    DeValue::Table(t) => Some(walk_app(t, item.span(), "`[[app]]`", diags)),
                    other => {
                        diags.push(type_error("each `app`", "a table", other, item.span()));
                        None
                    }
                })
                .collect()
        }
        other => {
            diags.push(
                type_error(&format!("`{}`", key.get_ref()), "a table", other, value.span())
                    .help("declare the app with an `[app]` table, or several with `[[app]]`"),
            );
            Vec::new()
        }
    }
}

fn walk_app(
    table: &DeTable<'_>,
    span: Range<usize>,
    context: &'static str,
    diags: &mut Diagnostics,
) -> RawApp {
    let mut f = Fields::new(table, span.clone(), context, APP_KEYS, diags);
    let unique_name = f.string("unique_name", true, diags);
    let app_id = f.string("app_id", false, diags);
    let display_name = f.string("display_name", true, diags);
    let sign_in_audience = f.string("sign_in_audience", false, diags);
    let notes = f.string("notes", false, diags);
    let tags = f.string_list("tags", diags);
    let public_client = f.take("public_client").and_then(|(key, v)| {
        let (t, span) = expect_table(&key, v, "`[app.public_client]`", diags)?;
        let mut f = Fields::new(t, span, "`[app.public_client]`", PUBLIC_CLIENT_KEYS, diags);
        Some(RawPublicClient {
            redirect_uris: f.string_list("redirect_uris", diags),
            allow_public_client_flows: f.bool("allow_public_client_flows", diags),
            sign_in: f.string("sign_in", false, diags),
        })
    });
    let api_permissions = match f.take("api_permissions") {
        None => Vec::new(),
        Some((_, v)) => match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| match item.get_ref() {
                    DeValue::Table(t) => Some(walk_permission(t, item.span(), diags)),
                    other => {
                        diags.push(
                            type_error("each `api_permissions` entry", "a table", other, item.span())
                                .help("write `[[app.api_permissions]]` followed by `api = …` and the permission lists"),
                        );
                        None
                    }
                })
                .collect(),
            DeValue::Table(t) => {
                // `[app.api_permissions]` (one bracket) is the likeliest slip: read it anyway so
                // its contents are checked too, and say how to write it.
                diags.push(
                    Diagnostic::error("`api_permissions` must be an array of tables", v.span())
                        .label("a single table")
                        .help("write `[[app.api_permissions]]`, with two brackets, once per API"),
                );
                vec![walk_permission(t, v.span(), diags)]
            }
            other => {
                diags.push(
                    type_error("`api_permissions`", "an array of tables", other, v.span())
                        .help("write `[[app.api_permissions]]` once per API"),
                );
                Vec::new()
            }
        },
    };
    let consent = f.take("consent").and_then(|(key, v)| {
        let (t, span) = expect_table(&key, v, "`[app.consent]`", diags)?;
        let mut f = Fields::new(t, span, "`[app.consent]`", CONSENT_KEYS, diags);
        Some(RawConsent {
            grant: f.string("grant", false, diags),
        })
    });
    let owners = f.string_list("owners", diags);
    let federated_credentials = f
        .take("federated_credentials")
        .map(|(_, v)| walk_federated_credentials(v, diags));
    let identifier_uris = f.string_list("identifier_uris", diags);
    let web = f.take("web").and_then(|(key, v)| {
        let (t, span) = expect_table(&key, v, "`[app.web]`", diags)?;
        let mut f = Fields::new(t, span, "`[app.web]`", WEB_KEYS, diags);
        Some(RawWeb {
            redirect_uris: f.string_list("redirect_uris", diags),
            home_page_url: f.string("home_page_url", false, diags),
            logout_url: f.string("logout_url", false, diags),
            enable_id_token_issuance: f.bool("enable_id_token_issuance", diags),
            enable_access_token_issuance: f.bool("enable_access_token_issuance", diags),
        })
    });
    let spa = f.take("spa").and_then(|(key, v)| {
        let (t, span) = expect_table(&key, v, "`[app.spa]`", diags)?;
        let mut f = Fields::new(t, span, "`[app.spa]`", SPA_KEYS, diags);
        Some(RawSpa {
            redirect_uris: f.string_list("redirect_uris", diags),
        })
    });
    let api = f.take("api").and_then(|(key, v)| {
        let (t, span) = expect_table(&key, v, "`[app.api]`", diags)?;
        let mut f = Fields::new(t, span, "`[app.api]`", API_KEYS, diags);
        let requested_access_token_version = f.integer("requested_access_token_version", diags);
        let scopes = f.take("scopes").map(|(_, v)| Sp {
            value: table_list(v, "scopes", "`[[app.api.scopes]]`", diags)
                .into_iter()
                .map(|(t, span)| walk_scope(t, span, diags))
                .collect(),
            span: v.span(),
        });
        Some(RawApi {
            requested_access_token_version,
            scopes,
        })
    });
    let app_roles = f.take("app_roles").map(|(_, v)| Sp {
        value: table_list(v, "app_roles", "`[[app.app_roles]]`", diags)
            .into_iter()
            .map(|(t, span)| walk_app_role(t, span, diags))
            .collect(),
        span: v.span(),
    });
    let passwords = super::credentials::walk_passwords(&mut f, diags);
    let certificates = super::credentials::walk_certificates(&mut f, diags);
    RawApp {
        owners,
        federated_credentials,
        passwords,
        certificates,
        span,
        unique_name,
        app_id,
        display_name,
        sign_in_audience,
        notes,
        tags,
        public_client,
        api_permissions,
        consent,
        identifier_uris,
        web,
        spa,
        api,
        app_roles,
    }
}

/// The tables of an array of tables (`[[header]]`); a single table (`[header]`, one bracket)
/// is read too, with an error saying how to write it.
fn table_list<'t, 'i>(
    value: &'t Spanned<DeValue<'i>>,
    name: &str,
    header: &str,
    diags: &mut Diagnostics,
) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
    match value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::Table(t) => Some((t, item.span())),
                other => {
                    diags.push(
                        type_error(&format!("each `{name}` entry"), "a table", other, item.span())
                            .help(format!("write {header} once per entry, with its keys below it")),
                    );
                    None
                }
            })
            .collect(),
        DeValue::Table(t) => {
            diags.push(
                Diagnostic::error(format!("`{name}` must be an array of tables"), value.span())
                    .label("a single table")
                    .help(format!("write {header}, with two brackets, once per entry")),
            );
            vec![(t, value.span())]
        }
        other => {
            diags.push(
                type_error(&format!("`{name}`"), "an array of tables", other, value.span())
                    .help(format!("write {header} once per entry")),
            );
            Vec::new()
        }
    }
}

fn walk_scope(table: &DeTable<'_>, span: Range<usize>, diags: &mut Diagnostics) -> RawScope {
    let mut f = Fields::new(table, span.clone(), "`[[app.api.scopes]]`", SCOPE_KEYS, diags);
    RawScope {
        id: f.string("id", false, diags),
        value: f.string("value", true, diags),
        kind: f.string("type", false, diags),
        admin_consent_display_name: f.string("admin_consent_display_name", true, diags),
        admin_consent_description: f.string("admin_consent_description", true, diags),
        user_consent_display_name: f.string("user_consent_display_name", false, diags),
        user_consent_description: f.string("user_consent_description", false, diags),
        enabled: f.bool("enabled", diags),
        span,
    }
}

fn walk_app_role(table: &DeTable<'_>, span: Range<usize>, diags: &mut Diagnostics) -> RawAppRole {
    let mut f = Fields::new(table, span.clone(), "`[[app.app_roles]]`", APP_ROLE_KEYS, diags);
    RawAppRole {
        id: f.string("id", false, diags),
        value: f.string("value", true, diags),
        display_name: f.string("display_name", true, diags),
        description: f.string("description", true, diags),
        allowed_member_types: f.string_list("allowed_member_types", diags),
        enabled: f.bool("enabled", diags),
        span,
    }
}

fn walk_permission(table: &DeTable<'_>, span: Range<usize>, diags: &mut Diagnostics) -> RawApiPermission {
    let mut f = Fields::new(
        table,
        span.clone(),
        "`[[app.api_permissions]]`",
        PERMISSION_KEYS,
        diags,
    );
    RawApiPermission {
        span,
        api: f.string("api", true, diags),
        delegated: f.string_list("delegated", diags),
        application: f.string_list("application", diags),
    }
}

fn walk_federated_credentials(
    value: &Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Vec<RawFederatedCredential> {
    match value.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .filter_map(|item| match item.get_ref() {
                DeValue::Table(t) => Some(walk_federated_credential(t, item.span(), diags)),
                other => {
                    diags.push(
                        type_error(
                            "each `federated_credentials` entry",
                            "a table",
                            other,
                            item.span(),
                        )
                        .help("write `[[app.federated_credentials]]` followed by `name = …` and its keys"),
                    );
                    None
                }
            })
            .collect(),
        DeValue::Table(t) => {
            diags.push(
                Diagnostic::error("`federated_credentials` must be an array of tables", value.span())
                    .label("a single table")
                    .help("write `[[app.federated_credentials]]`, with two brackets, once per credential"),
            );
            vec![walk_federated_credential(t, value.span(), diags)]
        }
        other => {
            diags.push(
                type_error(
                    "`federated_credentials`",
                    "an array of tables",
                    other,
                    value.span(),
                )
                .help("write `[[app.federated_credentials]]` once per credential"),
            );
            Vec::new()
        }
    }
}

fn walk_federated_credential(
    table: &DeTable<'_>,
    span: Range<usize>,
    diags: &mut Diagnostics,
) -> RawFederatedCredential {
    let context = "`[[app.federated_credentials]]`";
    let mut f = Fields::new(table, span.clone(), context, FEDERATED_KEYS, diags);
    let github = f.take("github").and_then(|(key, v)| {
        let (t, gspan) = expect_table(&key, v, "`github`", diags)?;
        let mut g = Fields::new(
            t,
            gspan.clone(),
            "`github` of `[[app.federated_credentials]]`",
            GITHUB_KEYS,
            diags,
        );
        Some(RawGitHub {
            span: gspan,
            repository: g.string("repository", true, diags),
            branch: g.string("branch", false, diags),
            tag: g.string("tag", false, diags),
            environment: g.string("environment", false, diags),
            pull_request: g.bool("pull_request", diags),
        })
    });
    RawFederatedCredential {
        name: f.string("name", true, diags),
        issuer: f.string("issuer", false, diags),
        subject: f.string("subject", false, diags),
        audiences: f.string_list("audiences", diags),
        description: f.string("description", false, diags),
        github,
        span,
    }
}

fn walk_output(table: &DeTable<'_>, span: Range<usize>, diags: &mut Diagnostics) -> RawOutput {
    let mut f = Fields::new(table, span, "`[output]`", OUTPUT_KEYS, diags);
    RawOutput {
        path: f.string("path", true, diags),
        format: f.string("format", false, diags),
    }
}

fn expect_table<'t, 'i>(
    key: &Spanned<String>,
    value: &'t Spanned<DeValue<'i>>,
    header: &str,
    diags: &mut Diagnostics,
) -> Option<(&'t DeTable<'i>, Range<usize>)> {
    match value.get_ref() {
        DeValue::Table(t) => Some((t, value.span())),
        other => {
            diags.push(
                type_error(&format!("`{}`", key.get_ref()), "a table", other, value.span()).help(format!(
                    "write the {header} table header and put its keys below it"
                )),
            );
            None
        }
    }
}

/// The keys of one table, with unknown keys already reported. `take` hands out each known key
/// once; a required key that is absent is reported by the typed getters.
pub(super) struct Fields<'t, 'i> {
    entries: Vec<(Spanned<String>, &'t Spanned<DeValue<'i>>)>,
    span: Range<usize>,
    context: &'static str,
}

impl<'t, 'i> Fields<'t, 'i> {
    pub(super) fn new(
        table: &'t DeTable<'i>,
        span: Range<usize>,
        context: &'static str,
        known: &[&str],
        diags: &mut Diagnostics,
    ) -> Self {
        let mut entries = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                entries.push((Spanned::new(key.span(), name.to_owned()), value));
            } else {
                diags.push(unknown_key(name, key.span(), context, known));
            }
        }
        Fields {
            entries,
            span,
            context,
        }
    }

    pub(super) fn take(&mut self, name: &str) -> Option<(Spanned<String>, &'t Spanned<DeValue<'i>>)> {
        let i = self.entries.iter().position(|(k, _)| k.get_ref() == name)?;
        Some(self.entries.swap_remove(i))
    }

    fn missing(&self, name: &str, diags: &mut Diagnostics) {
        let example = match name {
            "unique_name" => " = \"my-app\"",
            "display_name" => " = \"My app\"",
            "api" => " = \"microsoft-graph\"",
            "path" => " = \"out/app.json\"",
            "name" => " = \"github-main\"",
            "repository" => " = \"org/repo\"",
            _ => " = …",
        };
        diags.push(
            Diagnostic::error(format!("{} has no `{name}`", self.context), self.span.clone())
                .label(format!("`{name}` is required here"))
                .help(format!("add `{name}{example}`")),
        );
    }

    pub(super) fn string(
        &mut self,
        name: &str,
        required: bool,
        diags: &mut Diagnostics,
    ) -> Option<Sp<String>> {
        let Some((_, v)) = self.take(name) else {
            if required {
                self.missing(name, diags);
            }
            return None;
        };
        match v.get_ref() {
            DeValue::String(s) => Some(Sp {
                value: s.to_string(),
                span: v.span(),
            }),
            other => {
                diags.push(type_error(&format!("`{name}`"), "a string", other, v.span()));
                None
            }
        }
    }

    pub(super) fn bool(&mut self, name: &str, diags: &mut Diagnostics) -> Option<Sp<bool>> {
        let (_, v) = self.take(name)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp {
                value: *b,
                span: v.span(),
            }),
            other => {
                diags.push(type_error(&format!("`{name}`"), "a boolean", other, v.span()));
                None
            }
        }
    }

    fn integer(&mut self, name: &str, diags: &mut Diagnostics) -> Option<Sp<i64>> {
        let (_, v) = self.take(name)?;
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Sp {
                    value: n,
                    span: v.span(),
                }),
                Err(_) => {
                    diags.push(
                        Diagnostic::error(format!("`{name}` is not a whole number"), v.span())
                            .label("not a number")
                            .help("write a plain number, like `2`"),
                    );
                    None
                }
            },
            other => {
                let mut d = type_error(&format!("`{name}`"), "an integer", other, v.span());
                if let DeValue::String(s) = other
                    && s.parse::<i64>().is_ok()
                {
                    d = d.help(format!("write `{s}` without quotes"));
                }
                diags.push(d);
                None
            }
        }
    }

    pub(super) fn string_list(&mut self, name: &str, diags: &mut Diagnostics) -> Option<Sp<Vec<Sp<String>>>> {
        let (_, v) = self.take(name)?;
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(Sp {
                            value: s.to_string(),
                            span: item.span(),
                        }),
                        other => diags.push(type_error(
                            &format!("each item of `{name}`"),
                            "a string",
                            other,
                            item.span(),
                        )),
                    }
                }
                Some(Sp {
                    value: out,
                    span: v.span(),
                })
            }
            other => {
                let mut d = type_error(&format!("`{name}`"), "an array of strings", other, v.span());
                if let DeValue::String(s) = other {
                    d = d.help(format!("write a list: `{name} = [\"{}\"]`", s.escape_default()));
                }
                diags.push(d);
                None
            }
        }
    }
}

fn article(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

pub(super) fn type_error(what: &str, expected: &str, found: &DeValue<'_>, span: Range<usize>) -> Diagnostic {
    let found_text = article(found);
    let d = Diagnostic::error(format!("{what} must be {expected}, not {found_text}"), span).label(found_text);
    match (expected, found) {
        ("a boolean", DeValue::String(s)) if s == "true" || s == "false" => {
            d.help(format!("write `{s}` without quotes"))
        }
        (
            "a string",
            DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_),
        ) => d.help("put the value in double quotes"),
        _ => d,
    }
}

fn unknown_key(name: &str, span: Range<usize>, context: &'static str, known: &[&str]) -> Diagnostic {
    let place = if context == "the top level" {
        "at the top level".to_owned()
    } else {
        format!("in {context}")
    };
    let d = Diagnostic::error(format!("unknown key `{name}` {place}"), span);
    // A key of another table: say where it goes. A top-level key written below `[app]` belongs to
    // `[app]` in TOML, which is the usual way to end up here.
    if let Some((_, home)) = HOMES
        .iter()
        .find(|(keys, home)| *home != context && keys.contains(&name) && !known.contains(&name))
    {
        let help = if *home == "the top level" {
            format!("`{name}` is a top-level key: move it above the first table header")
        } else if context == "the top level" {
            // `[public_client]` for `[app.public_client]`: the sub-tables of an app are named
            // through it.
            match name {
                "public_client" => "write the header as `[app.public_client]`".to_owned(),
                "api_permissions" => "write the header as `[[app.api_permissions]]`".to_owned(),
                "consent" => "write the header as `[app.consent]`".to_owned(),
                "federated_credentials" => "write the header as `[[app.federated_credentials]]`".to_owned(),
                "web" | "spa" | "api" => format!("write the header as `[app.{name}]`"),
                "app_roles" => "write the header as `[[app.app_roles]]`".to_owned(),
                _ => format!("`{name}` belongs in {home}: write it below the `[app]` header"),
            }
        } else {
            format!("`{name}` belongs in {home}")
        };
        return d.label("belongs in another table").help(help);
    }
    if let Some(best) = closest(name, known.iter().copied()) {
        return d.label("unknown key").help(format!("did you mean `{best}`?"));
    }
    if context == "`[app]`" || context == "`[[app]]`" {
        match name {
            "redirect_uri" | "redirectUris" => {
                return d.label("unknown key").help(
                    "put redirect URIs in `redirect_uris` of `[app.public_client]`, `[app.web]` or `[app.spa]`",
                );
            }
            "permissions" | "required_resource_access" | "requiredResourceAccess" => {
                return d
                    .label("unknown key")
                    .help("declare permissions with `[[app.api_permissions]]`, one per API");
            }
            _ => {}
        }
    }
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    d.label("unknown key")
        .help(format!("the keys of {context} are {}", list.join(", ")))
}
