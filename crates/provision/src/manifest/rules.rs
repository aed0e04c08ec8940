//! The value rules of the manifest, one function per kind of value (GUID, tenant, unique name,
//! display name, redirect URI, permission value), each citing the Graph or Entra page that sets
//! the rule. Pure: no I/O. A rule answers with a `Finding`; the caller puts it at a span.

use std::ops::Range;

use crate::model::SignInAudience;

/// The byte range of `s` from its `n`th character (0-based) to its end: the part past a limit of
/// `n` characters.
fn past(s: &str, n: usize) -> Range<usize> {
    let start = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    start..s.len()
}

/// The byte range of the first character of `s` that `pred` picks, with the character.
fn find_char(s: &str, pred: impl Fn(char) -> bool) -> Option<(char, Range<usize>)> {
    s.char_indices()
        .find(|(_, c)| pred(*c))
        .map(|(i, c)| (c, i..i + c.len_utf8()))
}

/// A character as a message shows it: spaces and control characters spelled out.
pub fn show_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("`{}`", c.escape_default()),
        c => format!("`{c}`"),
    }
}

/// What a rule found wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub message: String,
    pub label: Option<String>,
    pub help: Option<String>,
    /// The offending part of the value (a byte range of the value's text), when it is narrower
    /// than the whole value: the character that is not allowed, the characters past a limit.
    pub at: Option<Range<usize>>,
}

impl Finding {
    fn new(message: impl Into<String>) -> Self {
        Finding {
            message: message.into(),
            label: None,
            help: None,
            at: None,
        }
    }
    fn at(mut self, at: Range<usize>) -> Self {
        self.at = Some(at);
        self
    }
    fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A GUID in Graph's form (`8-4-4-4-12` hexadecimal digits), lowercased.
pub fn parse_guid(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    for (i, b) in bytes.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    Some(s.to_ascii_lowercase())
}

/// Text that a user meant as a GUID: hexadecimal digits with hyphens or braces, long enough to be
/// one. Such text that is not a well-formed GUID is reported as malformed instead of being taken
/// for a name.
pub fn looks_like_guid(s: &str) -> bool {
    let core = s.trim_start_matches('{').trim_end_matches('}');
    let hex = core.chars().filter(char::is_ascii_hexdigit).count();
    core.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && (core.contains('-') || s.starts_with('{'))
        && hex >= 20
}

/// Why a GUID-looking value is not a GUID.
pub fn malformed_guid(what: &str, s: &str) -> Finding {
    let core = s.trim_start_matches('{').trim_end_matches('}');
    let help = if core.len() != s.len() && parse_guid(core).is_some() {
        format!("remove the braces: `{core}`")
    } else {
        let digits = core.chars().filter(char::is_ascii_hexdigit).count();
        format!(
            "a GUID has 32 hexadecimal digits in groups of 8-4-4-4-12, like \
             `00000003-0000-0000-c000-000000000000`; this one has {digits} digit{}",
            if digits == 1 { "" } else { "s" }
        )
    };
    Finding::new(format!("{what} `{s}` is not a well-formed GUID"))
        .label("malformed GUID")
        .help(help)
}

/// The `tenant` guard: a tenant GUID or a domain name. The multi-tenant authority names
/// (`common`, `organizations`, `consumers`) name no tenant, so they cannot guard one.
pub fn check_tenant(s: &str) -> Result<(), Finding> {
    if parse_guid(s).is_some() {
        return Ok(());
    }
    if looks_like_guid(s) {
        return Err(malformed_guid("tenant", s));
    }
    if ["common", "organizations", "consumers"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(s))
    {
        return Err(Finding::new(format!("`{s}` does not name one tenant"))
            .label("a sign-in audience, not a tenant")
            .help("the guard names the tenant apply may change: its GUID or a domain such as `contoso.onmicrosoft.com`"));
    }
    check_domain(s).map_err(|why| {
        Finding::new(format!("tenant `{s}` is neither a GUID nor a domain name"))
            .label(why)
            .help("write the tenant GUID or a verified domain such as `contoso.onmicrosoft.com`")
    })
}

/// A DNS name (RFC 1035 letters, digits and hyphens; RFC 1123 allows a leading digit): at least
/// two labels of 1–63 characters, 253 in all, no label starting or ending with a hyphen.
fn check_domain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty".into());
    }
    if s.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!("{} cannot appear in a domain name", show_char(c)));
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return Err("a domain has at least two labels, like `contoso.com`".into());
    }
    for label in labels {
        if label.is_empty() {
            return Err("empty label between dots".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with a hyphen"));
        }
    }
    Ok(())
}

/// Longest `unique_name` accepted. Graph documents no length or character set for the
/// `uniqueName` alternate key (learn:/graph/api/resources/application says only "immutable",
/// application-upsert.md nothing more); 120 characters of `A-Za-z0-9._-` is our own safe
/// choice [derived]: it survives the `(uniqueName='…')` URL key without quoting or escaping.
pub const UNIQUE_NAME_MAX: usize = 120;

pub fn check_unique_name(s: &str) -> Result<(), Finding> {
    let help = "use 1 to 120 letters, digits, `.`, `_` and `-`, like `mtp-api-client` \
                (provision's rule: Graph documents none, and the name goes into a URL key)";
    if s.is_empty() {
        return Err(Finding::new("`unique_name` is empty").label("empty").help(help));
    }
    if let Some((c, at)) = find_char(s, |c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    }) {
        return Err(
            Finding::new(format!("`unique_name` `{s}` contains {}", show_char(c)))
                .label("not allowed in a unique name")
                .help(help)
                .at(at),
        );
    }
    let n = s.chars().count();
    if n > UNIQUE_NAME_MAX {
        return Err(Finding::new(format!(
            "`unique_name` is {n} characters long, more than {UNIQUE_NAME_MAX}"
        ))
        .label(format!("past {UNIQUE_NAME_MAX} characters"))
        .help(help)
        .at(past(s, UNIQUE_NAME_MAX)));
    }
    Ok(())
}

/// `displayName`: "Maximum length is 256 characters" (learn:/graph/api/resources/application;
/// docs/graph-notes.md §1). Empty is refused too: the portal and
/// the create call both require a name.
pub const DISPLAY_NAME_MAX: usize = 256;

pub fn check_display_name(s: &str) -> Result<(), Finding> {
    if s.trim().is_empty() {
        return Err(Finding::new("`display_name` is empty")
            .label("empty")
            .help("give the app the name people see in the portal and on consent prompts"));
    }
    let n = s.chars().count();
    if n > DISPLAY_NAME_MAX {
        return Err(Finding::new(format!(
            "`display_name` is {n} characters long, more than Graph's {DISPLAY_NAME_MAX}"
        ))
        .label(format!("past {DISPLAY_NAME_MAX} characters"))
        .at(past(s, DISPLAY_NAME_MAX)));
    }
    if s.chars().any(char::is_control) {
        return Err(
            Finding::new("`display_name` contains a line break or control character")
                .label("not one line")
                .help("write the display name on one line"),
        );
    }
    Ok(())
}

/// `notes`: Graph documents no maximum (learn:/graph/api/resources/application); 1024
/// characters is the limit the Entra admin center puts on an app's notes field [derived].
pub const NOTES_MAX: usize = 1024;

pub fn check_notes(s: &str) -> Result<(), Finding> {
    let n = s.chars().count();
    if n > NOTES_MAX {
        return Err(
            Finding::new(format!("`notes` is {n} characters long, more than {NOTES_MAX}"))
                .label(format!("past {NOTES_MAX} characters"))
                .help("keep notes short and link to a longer document")
                .at(past(s, NOTES_MAX)),
        );
    }
    Ok(())
}

pub fn check_tag(s: &str) -> Result<(), Finding> {
    if s.trim().is_empty() {
        return Err(Finding::new("a tag is empty")
            .label("empty tag")
            .help("remove it from `tags`"));
    }
    if s.trim() != s {
        return Err(Finding::new(format!("tag `{s}` starts or ends with a space"))
            .label("surrounding spaces")
            .help(format!("write `{}`", s.trim())));
    }
    Ok(())
}

/// Longest redirect URI: "You can use a maximum of 256 characters for each redirect URI"
/// (MicrosoftDocs/entra-docs `docs/identity-platform/reply-url.md`, "Maximum URI length").
pub const REDIRECT_URI_MAX: usize = 256;

/// Most redirect URIs per app: 256 for work and school audiences, 100 when personal accounts
/// sign in (reply-url.md, "Maximum number of redirect URIs").
pub fn max_redirect_uris(audience: SignInAudience) -> usize {
    match audience {
        SignInAudience::AzureADMyOrg | SignInAudience::AzureADMultipleOrgs => 256,
        SignInAudience::AzureADandPersonalMicrosoftAccount | SignInAudience::PersonalMicrosoftAccount => 100,
    }
}

/// A public-client redirect URI that Entra accepts (reply-url.md): `https`, or `http` only on a
/// loopback host (`localhost`, `127.0.0.1`; "The IPv6 loopback address (`[::1]`) is not
/// currently supported"); at most 256 characters; none of `! $ ' ( ) , ;` ("Redirect URIs do
/// not support special characters"); no wildcard (docs/graph-notes.md §1; reply-url.md: unsupported wherever
/// personal accounts sign in); no fragment (RFC 6749 §3.1.2); no query string when personal
/// accounts sign in ("Query parameter support in redirect URIs").
///
/// The manifest limits public-client URIs to these two forms (README.md "Manifest reference"), so custom schemes of mobile apps
/// (`msauth.…://auth`) are refused with a hint.
pub fn check_redirect_uri(s: &str, audience: SignInAudience) -> Result<(), Finding> {
    check_redirect_uri_on(s, audience, Platform::PublicClient)
}

/// Where a redirect URI is registered: Graph's `publicClient`, `web` or `spa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    PublicClient,
    Web,
    Spa,
}

impl Platform {
    pub fn noun(self) -> &'static str {
        match self {
            Platform::PublicClient => "public-client",
            Platform::Web => "web",
            Platform::Spa => "SPA",
        }
    }
}

/// [`check_redirect_uri`] for any platform. Web and SPA URIs follow the same rules as
/// public-client ones (reply-url.md: `https`, `http` only on localhost, no wildcards for apps
/// that sign in personal accounts, none accepted by provision at all; 256 characters).
pub fn check_redirect_uri_on(s: &str, audience: SignInAudience, platform: Platform) -> Result<(), Finding> {
    let allowed = format!(
        "{} redirect URIs are `https://…`, or `http://localhost…` and `http://127.0.0.1…` for a local listener",
        platform.noun()
    );
    let allowed = allowed.as_str();
    if s.is_empty() {
        return Err(Finding::new("a redirect URI is empty")
            .label("empty")
            .help(allowed));
    }
    let n = s.chars().count();
    if n > REDIRECT_URI_MAX {
        return Err(Finding::new(format!(
            "redirect URI is {n} characters long, more than Entra's {REDIRECT_URI_MAX}"
        ))
        .label(format!("past {REDIRECT_URI_MAX} characters"))
        .at(past(s, REDIRECT_URI_MAX)));
    }
    if let Some((_, at)) = find_char(s, |c| c == '*') {
        return Err(Finding::new(format!("redirect URI `{s}` contains a wildcard"))
            .label("wildcard")
            .help(match platform {
                Platform::PublicClient => {
                    "list every redirect URI in full; Entra refuses wildcards for public clients"
                }
                // reply-url.md: wildcards only for work and school accounts, and not advised.
                _ => "list every redirect URI in full; provision refuses wildcards (Entra does where personal accounts sign in)",
            })
            .at(at));
    }
    if let Some((c, at)) = find_char(s, |c| c.is_whitespace() || c.is_control()) {
        return Err(Finding::new(format!(
            "redirect URI `{}` contains {}",
            s.escape_debug(),
            show_char(c)
        ))
        .label("not allowed in a URI")
        .help("percent-encode it (`%20` for a space) or remove it")
        .at(at));
    }
    if let Some((c, at)) = find_char(s, |c| matches!(c, '!' | '$' | '\'' | '(' | ')' | ',' | ';')) {
        return Err(Finding::new(format!("redirect URI `{s}` contains `{c}`"))
            .label("special character")
            .help("Entra does not support `! $ ' ( ) , ;` in redirect URIs")
            .at(at));
    }
    let url = match url::Url::parse(s) {
        Ok(url) => url,
        Err(e) => {
            return Err(Finding::new(format!("redirect URI `{s}` is not a valid URI"))
                .label(e.to_string())
                .help(allowed));
        }
    };
    // The URL standard repairs `https:host`, `https:/host` and backslashes for http(s), so they
    // parse; but apply writes the text as it is and Entra compares redirect URIs as strings
    // (found by the reliability suite: `https:portal.azure.com` was written to the app).
    let after_scheme = s.get(url.scheme().len()..).unwrap_or_default();
    if matches!(url.scheme(), "http" | "https") && (!after_scheme.starts_with("://") || s.contains('\\')) {
        return Err(Finding::new(format!(
            "redirect URI `{s}` is not written as `{}://host/…`",
            url.scheme()
        ))
        .label("not in the usual form")
        .help(format!("{allowed}; write `{url}`")));
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => {}
        "http" if host == "localhost" || host == "127.0.0.1" => {}
        "http" | "https" if host == "[::1]" => {
            return Err(
                Finding::new(format!("redirect URI `{s}` uses the IPv6 loopback `[::1]`"))
                    .label("not supported by Entra")
                    .help("use `http://127.0.0.1…` or `http://localhost…`"),
            );
        }
        "http" => {
            return Err(Finding::new(format!(
                "redirect URI `{s}` uses `http` on a host that is not local"
            ))
            .label("needs https")
            .help(format!(
                "{allowed}: write `{}`",
                s.replacen("http://", "https://", 1)
            )));
        }
        scheme => {
            return Err(
                Finding::new(format!("redirect URI `{s}` uses the scheme `{scheme}`"))
                    .label("not https")
                    .help(allowed),
            );
        }
    }
    if url.fragment().is_some() {
        return Err(Finding::new(format!("redirect URI `{s}` has a fragment"))
            .label("fragment")
            .help("remove the `#…` part: a redirect URI cannot carry a fragment (RFC 6749 section 3.1.2)"));
    }
    let personal = matches!(
        audience,
        SignInAudience::AzureADandPersonalMicrosoftAccount | SignInAudience::PersonalMicrosoftAccount
    );
    if personal && url.query().is_some() {
        return Err(Finding::new(format!("redirect URI `{s}` has a query string"))
            .label("query string")
            .help(format!(
                "Entra allows query strings only for apps that sign in work or school accounts; \
                 this app's `sign_in_audience` is `{}`",
                audience.as_str()
            )));
    }
    Ok(())
}

/// A web `home_page_url` or `logout_url`: an absolute `https` URL, or `http` on a loopback host
/// (the logout URL is where Entra sends the front-channel logout request; webapplication.md),
/// at most 256 characters like a redirect URI [derived].
pub fn check_web_url(key: &str, s: &str) -> Result<(), Finding> {
    let help = "write an absolute URL such as `https://app.contoso.com/`";
    if s.is_empty() {
        return Err(Finding::new(format!("`{key}` is empty"))
            .label("empty")
            .help(help));
    }
    let n = s.chars().count();
    if n > REDIRECT_URI_MAX {
        return Err(Finding::new(format!(
            "`{key}` is {n} characters long, more than {REDIRECT_URI_MAX}"
        ))
        .label(format!("past {REDIRECT_URI_MAX} characters"))
        .at(past(s, REDIRECT_URI_MAX)));
    }
    if let Some((c, at)) = find_char(s, |c| c.is_whitespace() || c.is_control() || c == '*') {
        return Err(Finding::new(format!(
            "`{key}` `{}` contains {}",
            s.escape_debug(),
            show_char(c)
        ))
        .label("not allowed in a URL")
        .help(help)
        .at(at));
    }
    let ok = url::Url::parse(s).ok().is_some_and(|u| {
        let host = u.host_str().unwrap_or_default();
        s.get(u.scheme().len()..).is_some_and(|r| r.starts_with("://"))
            && match u.scheme() {
                "https" => !host.is_empty(),
                "http" => host == "localhost" || host == "127.0.0.1",
                _ => false,
            }
    });
    if !ok {
        return Err(Finding::new(format!("`{key}` `{s}` is not an https URL"))
            .label("expected `https://…`")
            .help(format!("{help} (`http` only on `localhost`)")));
    }
    Ok(())
}

/// An application ID URI (`identifierUris`) in one of the forms Entra supports
/// (https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions): `api://…`
/// (`api://<appId>`, `api://<tenantId>/<string>`, `api://<string>/<appId>`,
/// `api://<verified domain>/<string>`) or `https://<verified domain>[/<string>]`. Whether the
/// domain is verified only the tenant knows: Graph refuses others with
/// `HostNameNotOnVerifiedDomain`. `{app_id}` stands for the app's appId.
pub fn check_identifier_uri(s: &str) -> Result<(), Finding> {
    // `{app_id}` stands for the app's appId (`api://{app_id}`): checked as a GUID would be.
    let with_id = s.replace("{app_id}", "00000000-0000-4000-8000-000000000000");
    let s = with_id.as_str();
    let help = "use `api://{app_id}` (the app's appId), another `api://…` such as `api://contoso.com/orders`, or `https://<verified domain>/…` (identifier-uri-restrictions)";
    if s.is_empty() {
        return Err(Finding::new("an identifier URI is empty")
            .label("empty")
            .help(help));
    }
    if let Some((c, at)) = find_char(s, |c| c.is_whitespace() || c.is_control() || c == '*') {
        return Err(Finding::new(format!(
            "identifier URI `{}` contains {}",
            s.escape_debug(),
            show_char(c)
        ))
        .label("not allowed in an identifier URI")
        .help(help)
        .at(at));
    }
    let ok = match s.split_once("://") {
        Some(("api", rest)) => !rest.is_empty() && !rest.starts_with('/'),
        Some(("https", _)) => url::Url::parse(s)
            .ok()
            .is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty())),
        _ => false,
    };
    if !ok {
        return Err(
            Finding::new(format!("identifier URI `{s}` is not in a form Entra supports"))
                .label("expected `api://…` or `https://…`")
                .help(help),
        );
    }
    Ok(())
}

/// The value of a scope or app role the app defines: a permission value
/// ([`check_permission_value`]) that also may not begin with `.` (permissionscope.md,
/// approle.md: "May not begin with .").
pub fn check_entitlement_value(s: &str) -> Result<(), Finding> {
    check_permission_value(s)?;
    if s.starts_with('.') {
        return Err(Finding::new(format!("`{s}` begins with `.`"))
            .label("leading dot")
            .help("Graph does not allow a scope or app role value to begin with `.`")
            .at(0..1));
    }
    Ok(())
}

/// The redirect URI with the port of a loopback host removed: Entra ignores the port when it
/// matches loopback URIs, so two of them that differ only by port are the same to it
/// (reply-url.md, "Localhost exceptions").
pub fn loopback_without_port(s: &str) -> Option<String> {
    let mut url = url::Url::parse(s).ok()?;
    let host = url.host_str()?;
    if host != "localhost" && host != "127.0.0.1" {
        return None;
    }
    url.set_port(None).ok()?;
    Some(url.to_string())
}

/// Longest permission value: "Must not exceed 120 characters in length" (permissionScope.value
/// and appRole.value, api-reference/v1.0/resources/permissionscope.md and approle.md).
pub const PERMISSION_MAX: usize = 120;

/// A permission value as a resource publishes it (`permissionScope.value`, `appRole.value`):
/// 1–120 characters of `A-Za-z0-9` and ``: ! # $ % & ' ( ) * + , - . / ; < = > ? @ [ ] ^ _ ` { | } ~``
/// ("Any other character, including the space character, are not allowed": permissionscope.md,
/// approle.md). Two mistakes get their own message: a space-separated scope string pasted as one
/// value, and a full scope string (`https://graph.microsoft.com/User.Read`).
pub fn check_permission_value(s: &str) -> Result<(), Finding> {
    if s.is_empty() {
        return Err(Finding::new("a permission name is empty")
            .label("empty")
            .help("remove it from the list"));
    }
    if s.split_whitespace().count() > 1 {
        let parts: Vec<String> = s.split_whitespace().map(|p| format!("\"{p}\"")).collect();
        return Err(Finding::new(format!("permission `{s}` contains spaces"))
            .label("several permissions in one string")
            .help(format!("write one permission per string: [{}]", parts.join(", "))));
    }
    if s.trim() != s {
        return Err(
            Finding::new(format!("permission `{s}` starts or ends with a space"))
                .label("surrounding spaces")
                .help(format!("write `{}`", s.trim())),
        );
    }
    if s.contains("://") {
        let value = s.rsplit('/').next().unwrap_or_default();
        return Err(Finding::new(format!("permission `{s}` is a full scope string"))
            .label("resource URL included")
            .help(if value.is_empty() {
                "write the permission value alone; the resource comes from `api`".to_owned()
            } else {
                format!("write `{value}`; the resource comes from `api`")
            }));
    }
    if s.eq_ignore_ascii_case(".default") {
        return Err(Finding::new("`.default` is not a permission")
            .label("a token request shortcut")
            .help("list the permissions the app needs; `.default` means \"all the consented ones\" in a token request"));
    }
    if let Some((c, at)) = find_char(s, |c| {
        !(c.is_ascii_alphanumeric() || "!#$%&'()*+,-./:;<=>?@[]^_`{|}~".contains(c))
    }) {
        return Err(
            Finding::new(format!("permission `{s}` contains {}", show_char(c)))
                .label("not allowed in a permission value")
                .help("permission values use letters, digits and ASCII punctuation only")
                .at(at),
        );
    }
    let n = s.chars().count();
    if n > PERMISSION_MAX {
        return Err(Finding::new(format!(
            "a permission name is {n} characters long, more than Graph's {PERMISSION_MAX}"
        ))
        .label(format!("past {PERMISSION_MAX} characters"))
        .at(past(s, PERMISSION_MAX)));
    }
    Ok(())
}

/// The closest of `candidates` to `wanted`, if it is close enough to be a plausible typo: equal
/// ignoring case, `_` and `-`, or within a Damerau-Levenshtein distance of a third of its length.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    closest_n(wanted, candidates, 1).into_iter().next()
}

/// Up to `n` close candidates, best first.
pub fn closest_n<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let w = norm(wanted);
    let w_len = w.chars().count();
    let limit = (w_len.max(3) / 3).max(1);
    let mut scored: Vec<(usize, &'a str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let c_norm = norm(c);
            // The distance is at least the difference in length: most candidates are ruled out
            // without the quadratic comparison (10 000 unknown names against a catalog).
            if c_norm.chars().count().abs_diff(w_len) > limit {
                return None;
            }
            let d = strsim::damerau_levenshtein(&w, &c_norm);
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort_by_key(|(d, c)| (*d, *c));
    scored.dedup_by_key(|(_, c)| *c);
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: SignInAudience = SignInAudience::AzureADMyOrg;

    #[test]
    fn guids() {
        assert_eq!(
            parse_guid("8EE8FDAD-F234-4243-8F3B-15C294843740").as_deref(),
            Some("8ee8fdad-f234-4243-8f3b-15c294843740")
        );
        assert!(parse_guid("8ee8fdad-f234-4243-8f3b-15c29484374").is_none());
        assert!(parse_guid("8ee8fdadf23442438f3b15c294843740").is_none());
        assert!(looks_like_guid("8ee8fdad-f234-4243-8f3b-15c29484374"));
        assert!(looks_like_guid("{8ee8fdad-f234-4243-8f3b-15c294843740}"));
        assert!(!looks_like_guid("Microsoft Graph"));
        assert!(!looks_like_guid("abc-def"));
        let f = malformed_guid("`app_id`", "{8ee8fdad-f234-4243-8f3b-15c294843740}");
        assert_eq!(
            f.help.as_deref(),
            Some("remove the braces: `8ee8fdad-f234-4243-8f3b-15c294843740`")
        );
    }

    #[test]
    fn tenants() {
        assert!(check_tenant("contoso.onmicrosoft.com").is_ok());
        assert!(check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(check_tenant("common").is_err());
        assert!(check_tenant("contoso").is_err());
        assert!(check_tenant("-contoso.com").is_err());
        assert!(check_tenant("contoso..com").is_err());
        assert!(check_tenant("contoso com").is_err());
        assert!(check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db4").is_err());
    }

    #[test]
    fn unique_names() {
        assert!(check_unique_name("mtp-api-client").is_ok());
        assert!(check_unique_name("a.b_C-9").is_ok());
        assert!(check_unique_name("").is_err());
        assert!(check_unique_name("has space").is_err());
        assert!(check_unique_name("quote'").is_err());
        assert!(check_unique_name(&"a".repeat(120)).is_ok());
        assert!(check_unique_name(&"a".repeat(121)).is_err());
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://portal.azure.com",
            "https://login.microsoftonline.com/common/oauth2/nativeclient",
            "http://localhost",
            "http://localhost:8400/callback",
            "http://127.0.0.1:5000",
            "https://contoso.com/cb?tenant=a",
        ] {
            assert!(check_redirect_uri(ok, ORG).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "http://contoso.com",
            "https://*.contoso.com",
            "msauth.com.contoso.app://auth",
            "https://contoso.com/a(b)",
            "https://contoso.com/#x",
            "http://[::1]:8080",
            "https:// contoso.com",
            "not a uri",
            "https://",
            "https:portal.azure.com",
            "https:/portal.azure.com",
            "https:\\\\portal.azure.com",
            "https://portal.azure.com\\@evil.example.com",
            "http:localhost",
            "javascript:alert(1)",
            "file:///etc/passwd",
        ] {
            assert!(check_redirect_uri(bad, ORG).is_err(), "{bad}");
        }
        let long = format!("https://contoso.com/{}", "a".repeat(240));
        assert!(check_redirect_uri(&long, ORG).is_err());
        assert!(
            check_redirect_uri(
                "https://contoso.com/cb?tenant=a",
                SignInAudience::PersonalMicrosoftAccount
            )
            .is_err()
        );
        assert_eq!(
            loopback_without_port("http://localhost:1234/app").as_deref(),
            Some("http://localhost/app")
        );
        assert_eq!(loopback_without_port("https://contoso.com:8443/"), None);
    }

    #[test]
    fn platform_urls() {
        assert!(check_redirect_uri_on("https://app.contoso.com/signin-oidc", ORG, Platform::Web).is_ok());
        let f = check_redirect_uri_on("http://app.contoso.com/", ORG, Platform::Spa).unwrap_err();
        assert!(f.help.unwrap().starts_with("SPA redirect URIs are"));
        assert!(check_web_url("logout_url", "https://app.contoso.com/logout").is_ok());
        assert!(check_web_url("logout_url", "ftp://app.contoso.com/").is_err());
        assert!(check_web_url("home_page_url", "http://contoso.com/").is_err());
        for ok in [
            "api://orders",
            "api://contoso.com/orders",
            "https://contoso.com/orders",
        ] {
            assert!(check_identifier_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api://",
            "urn:orders",
            "https://",
            "api://a b",
            "api://*.contoso.com",
            "orders",
        ] {
            assert!(check_identifier_uri(bad).is_err(), "{bad}");
        }
        assert!(check_entitlement_value("Orders.Read").is_ok());
        assert!(check_entitlement_value(".Orders").is_err());
    }

    #[test]
    fn permission_values() {
        for ok in [
            "User.Read",
            "openid",
            "Incident.Read",
            "secop",
            "Ti.ReadWrite.All",
        ] {
            assert!(check_permission_value(ok).is_ok(), "{ok}");
        }
        let f = check_permission_value("User.Read Mail.Read").unwrap_err();
        assert_eq!(
            f.help.as_deref(),
            Some("write one permission per string: [\"User.Read\", \"Mail.Read\"]")
        );
        let f = check_permission_value("https://graph.microsoft.com/User.Read").unwrap_err();
        assert_eq!(
            f.help.as_deref(),
            Some("write `User.Read`; the resource comes from `api`")
        );
        assert!(check_permission_value(".default").is_err());
        assert!(check_permission_value("Usér.Read").is_err());
        assert!(check_permission_value(&"a".repeat(121)).is_err());
    }

    #[test]
    fn closest_candidates() {
        let known = ["unique_name", "display_name", "app_id", "notes"];
        assert_eq!(closest("uniqe_name", known), Some("unique_name"));
        assert_eq!(closest("displayName", known), Some("display_name"));
        assert_eq!(closest("redirect_uris", known), None);
        assert_eq!(
            closest_n(
                "Incident.Reed",
                ["Incident.Read", "Incident.ReadWrite", "AdvancedHunting.Read"],
                3
            ),
            vec!["Incident.Read"]
        );
    }

    #[test]
    fn characters_are_shown_spelled_out_and_found_at_their_bytes() {
        assert_eq!(show_char(' '), "a space");
        assert_eq!(show_char('\t'), "a tab");
        assert_eq!(show_char('\n'), "`\\n`");
        // Control but not whitespace, and whitespace but not control: both escaped.
        assert_eq!(show_char('\u{7}'), "`\\u{7}`");
        assert_eq!(show_char('\u{a0}'), "`\\u{a0}`");
        assert_eq!(show_char('x'), "`x`");
        // A printable character is shown as it is, not escaped.
        assert_eq!(show_char('é'), "`é`");
        // The range is the offending character's bytes, a multi-byte one included.
        assert_eq!(check_unique_name("ab c").unwrap_err().at, Some(2..3));
        assert_eq!(check_unique_name("abé").unwrap_err().at, Some(2..4));
    }

    #[test]
    fn a_braced_guid_is_told_to_lose_its_braces_only_when_the_rest_is_one() {
        let f = malformed_guid("tenant", "{8ee8fdad-f234-4243-8f3b-15c29484374}");
        assert!(f.help.unwrap().ends_with("this one has 31 digits"));
        let f = malformed_guid("tenant", "8ee8fdad-f234-4243-8f3b-15c2948437");
        assert!(f.help.unwrap().ends_with("this one has 30 digits"));
    }

    #[test]
    fn domain_limits_are_inclusive() {
        let label = |n: usize| "a".repeat(n);
        // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters.
        let longest = format!("{}.{}.{}.{}", label(63), label(63), label(63), label(61));
        assert_eq!(longest.len(), 253);
        assert!(check_tenant(&longest).is_ok());
        let f = check_tenant(&format!("{longest}a")).unwrap_err();
        assert_eq!(f.label.as_deref(), Some("longer than 253 characters"));
        assert!(check_tenant(&format!("{}.com", label(63))).is_ok());
        let f = check_tenant(&format!("{}.com", label(64))).unwrap_err();
        assert!(f.label.unwrap().ends_with("is longer than 63 characters"));
        assert!(check_tenant("my-tenant.example.com").is_ok());
        let f = check_tenant("contoso_x.com").unwrap_err();
        assert_eq!(f.label.as_deref(), Some("`_` cannot appear in a domain name"));
    }

    #[test]
    fn display_names_and_notes() {
        assert!(check_display_name("Orders API").is_ok());
        assert!(check_display_name("").is_err());
        assert!(check_display_name("  ").is_err());
        assert!(check_display_name(&"é".repeat(256)).is_ok());
        let f = check_display_name(&"é".repeat(257)).unwrap_err();
        assert_eq!(f.at, Some(512..514));
        let f = check_display_name("Orders\nAPI").unwrap_err();
        assert_eq!(f.label.as_deref(), Some("not one line"));
        assert!(check_notes("").is_ok());
        assert!(check_notes(&"n".repeat(1024)).is_ok());
        let f = check_notes(&"n".repeat(1025)).unwrap_err();
        assert_eq!(f.at, Some(1024..1025));
    }

    #[test]
    fn url_limits_are_inclusive() {
        let at_limit = |prefix: &str| format!("{prefix}{}", "a".repeat(256 - prefix.len()));
        let uri = at_limit("https://contoso.com/");
        assert_eq!(uri.chars().count(), 256);
        assert!(check_redirect_uri(&uri, ORG).is_ok());
        assert!(check_redirect_uri(&format!("{uri}a"), ORG).is_err());
        assert!(check_web_url("logout_url", &uri).is_ok());
        let f = check_web_url("logout_url", &format!("{uri}a")).unwrap_err();
        assert_eq!(f.at, Some(256..257));
        let value = "a".repeat(120);
        assert!(check_permission_value(&value).is_ok());
        assert!(check_entitlement_value(&value).is_ok());
    }

    #[test]
    fn redirect_uri_findings_name_what_is_wrong() {
        let f = check_redirect_uri("https://*.contoso.com", ORG).unwrap_err();
        assert_eq!(
            f.help.as_deref(),
            Some("list every redirect URI in full; Entra refuses wildcards for public clients")
        );
        let f = check_redirect_uri_on("https://*.contoso.com", ORG, Platform::Web).unwrap_err();
        assert!(
            f.help
                .unwrap()
                .ends_with("provision refuses wildcards (Entra does where personal accounts sign in)")
        );
        // The URL standard would percent-encode the space; the check stops it first.
        let f = check_redirect_uri("https://contoso.com/a b", ORG).unwrap_err();
        assert_eq!(f.label.as_deref(), Some("not allowed in a URI"));
        assert_eq!(f.at, Some(21..22));
        let f = check_redirect_uri("http://[::1]:8080", ORG).unwrap_err();
        assert_eq!(f.label.as_deref(), Some("not supported by Entra"));
        let f = check_redirect_uri("http://contoso.com/cb", ORG).unwrap_err();
        assert_eq!(f.label.as_deref(), Some("needs https"));
    }

    #[test]
    fn web_urls_allow_https_and_loopback_http_only() {
        for ok in [
            "https://app.contoso.com/",
            "http://localhost/logout",
            "http://localhost:5000/logout",
            "http://127.0.0.1:5000/",
        ] {
            assert!(check_web_url("logout_url", ok).is_ok(), "{ok}");
        }
        for (bad, label) in [
            ("https://app.contoso.com/a b", "not allowed in a URL"),
            ("https://*.contoso.com/", "not allowed in a URL"),
            ("https://app.contoso.com/\u{7}", "not allowed in a URL"),
            ("http://contoso.com/", "expected `https://…`"),
            ("https:app.contoso.com", "expected `https://…`"),
            ("", "empty"),
        ] {
            let f = check_web_url("logout_url", bad).unwrap_err();
            assert_eq!(f.label.as_deref(), Some(label), "{bad}");
        }
    }

    #[test]
    fn closest_ignores_case_underscores_and_hyphens_and_allows_a_third() {
        // Equal once normalised, although the raw lengths differ by more than the limit.
        assert_eq!(closest("a-b-c", ["ABC"]), Some("ABC"));
        assert_eq!(closest("a_b_c", ["abc"]), Some("abc"));
        // Six characters allow a distance of 2, a length difference of 2 included.
        assert_eq!(closest("abcdef", ["abcdxy"]), Some("abcdxy"));
        assert_eq!(closest("abcdef", ["abcd"]), Some("abcd"));
        assert_eq!(closest("abcdef", ["abc"]), None);
        assert_eq!(closest("abcdef", ["abxyzf"]), None);
    }
}
