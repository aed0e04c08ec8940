//! One small manifest per validation rule; the rendered diagnostics (`file:line:col`, the
//! offending line, the caret, `help:`) are insta snapshots in `crates/provision/tests/it/snapshots/`.

use provision::manifest;

fn render(text: &str) -> String {
    let checked = manifest::check("m.toml", text);
    assert!(
        !checked.diagnostics.is_empty(),
        "expected at least one diagnostic for:\n{text}"
    );
    checked.diagnostics.render(text)
}

/// `case!(name, severity, text)`: the manifest must give a diagnostic, the model must be
/// refused when an error is expected (accepted for warnings), and the rendering is snapshotted.
macro_rules! case {
    ($name:ident, error, $text:expr) => {
        #[test]
        fn $name() {
            let text: &str = &$text;
            assert!(
                manifest::parse("m.toml", text).is_err(),
                "expected an error"
            );
            insta::assert_snapshot!(stringify!($name), render(text));
        }
    };
    ($name:ident, warning, $text:expr) => {
        #[test]
        fn $name() {
            let text: &str = &$text;
            let checked = manifest::check("m.toml", text);
            assert!(
                checked.desired.is_some(),
                "a warning must not refuse the manifest"
            );
            assert_eq!(checked.diagnostics.error_count(), 0);
            insta::assert_snapshot!(stringify!($name), render(text));
        }
    };
}

const APP: &str = "[app]\nunique_name = \"a\"\ndisplay_name = \"A\"\n";

fn app(extra: &str) -> String {
    format!("{APP}{extra}")
}

// --- TOML syntax -------------------------------------------------------------------------

case!(
    syntax_errors_all_reported,
    error,
    "[app]\nunique_name = \"a\ndisplay_name = \n"
);
case!(syntax_duplicate_key, error, app("display_name = \"B\"\n"));

// --- shape: unknown keys, types, required keys ---------------------------------------------

case!(no_app, error, "tenant = \"contoso.onmicrosoft.com\"\n");
case!(empty_app_list, error, "app = []\n");
case!(app_not_a_table, error, "app = \"mtp-api-client\"\n");
case!(
    unknown_key_suggests_closest,
    error,
    "[app]\nuniqe_name = \"a\"\ndisplay_name = \"A\"\n"
);
case!(
    unknown_key_graph_spelling,
    error,
    "[app]\nunique_name = \"a\"\ndisplayName = \"A\"\n"
);
case!(unknown_key_lists_known_keys, error, app("colour = \"blue\"\n"));
case!(
    unknown_key_of_another_table,
    error,
    app("redirect_uris = [\"https://portal.azure.com\"]\n")
);
case!(
    top_level_key_below_a_table,
    error,
    app("tenant = \"contoso.onmicrosoft.com\"\n")
);
case!(unknown_top_level_key, error, format!("tennant = \"x\"\n{APP}"));
case!(
    app_table_without_app_prefix,
    error,
    format!("{APP}\n[[api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\"]\n")
);
case!(
    app_key_at_top_level,
    error,
    format!("display_name = \"A\"\n[app]\nunique_name = \"a\"\n")
);
case!(
    wrong_type_string,
    error,
    "[app]\nunique_name = 5\ndisplay_name = \"A\"\n"
);
case!(
    wrong_type_quoted_boolean,
    error,
    app("[app.public_client]\nallow_public_client_flows = \"true\"\n")
);
case!(wrong_type_list, error, app("tags = \"soc\"\n"));
case!(
    wrong_type_list_item,
    error,
    app("[[app.api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\", 1]\n")
);
case!(
    wrong_type_section,
    error,
    "[app]\nunique_name = \"a\"\ndisplay_name = \"A\"\nconsent = \"admin\"\n"
);
case!(
    api_permissions_single_brackets,
    error,
    app("[app.api_permissions]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\"]\n")
);
case!(missing_required_keys, error, "[app]\nnotes = \"x\"\n");
case!(
    missing_api,
    error,
    app("[[app.api_permissions]]\ndelegated = [\"User.Read\"]\n")
);
case!(missing_output_path, error, app("[output]\nformat = \"json\"\n"));

// --- top-level values ----------------------------------------------------------------------

case!(
    tenant_multi_tenant_name,
    error,
    format!("tenant = \"common\"\n{APP}")
);
case!(tenant_not_a_domain, error, format!("tenant = \"contoso\"\n{APP}"));
case!(
    tenant_malformed_guid,
    error,
    format!("tenant = \"72f988bf-86f1-41af-91ab-2d7cd011db4\"\n{APP}")
);

// --- app values ----------------------------------------------------------------------------

case!(
    unique_name_characters,
    error,
    "[app]\nunique_name = \"mtp api client\"\ndisplay_name = \"A\"\n"
);
case!(
    unique_name_too_long,
    error,
    format!(
        "[app]\nunique_name = \"{}\"\ndisplay_name = \"A\"\n",
        "a".repeat(121)
    )
);
case!(
    duplicate_unique_name,
    error,
    "[[app]]\nunique_name = \"soc\"\ndisplay_name = \"A\"\n\n[[app]]\nunique_name = \"SOC\"\ndisplay_name = \"B\"\n"
);
case!(
    duplicate_app_id,
    error,
    "[[app]]\nunique_name = \"a\"\napp_id = \"631a96bc-a705-4eda-9f99-fdaf9f54f6a2\"\ndisplay_name = \"A\"\n\n\
     [[app]]\nunique_name = \"b\"\napp_id = \"631A96BC-A705-4EDA-9F99-FDAF9F54F6A2\"\ndisplay_name = \"B\"\n"
);
case!(
    duplicate_display_name,
    warning,
    "[[app]]\nunique_name = \"a\"\ndisplay_name = \"Same\"\n\n[[app]]\nunique_name = \"b\"\ndisplay_name = \"Same\"\n"
);
case!(
    app_id_malformed,
    error,
    app("app_id = \"631a96bc-a705-4eda-9f99\"\n")
);
case!(
    app_id_braced,
    error,
    app("app_id = \"{631a96bc-a705-4eda-9f99-fdaf9f54f6a2}\"\n")
);
case!(
    display_name_empty,
    error,
    "[app]\nunique_name = \"a\"\ndisplay_name = \"  \"\n"
);
case!(
    display_name_too_long,
    error,
    format!(
        "[app]\nunique_name = \"a\"\ndisplay_name = \"{}\"\n",
        "n".repeat(257)
    )
);
case!(
    display_name_two_lines,
    error,
    "[app]\nunique_name = \"a\"\ndisplay_name = \"\"\"\nTwo\nlines\"\"\"\n"
);
case!(
    sign_in_audience_unknown,
    error,
    app("sign_in_audience = \"AzureAdMyOrg\"\n")
);
case!(
    sign_in_audience_far_off,
    error,
    app("sign_in_audience = \"everyone\"\n")
);
case!(
    notes_too_long,
    error,
    app(&format!("notes = \"{}\"\n", "x".repeat(1025)))
);
case!(tag_empty, error, app("tags = [\"soc\", \"\"]\n"));
case!(tag_duplicate, error, app("tags = [\"soc\", \"soc\"]\n"));
case!(tag_spaces, error, app("tags = [\" soc\"]\n"));

// --- redirect URIs -------------------------------------------------------------------------

fn redirect(uris: &str) -> String {
    app(&format!("[app.public_client]\nredirect_uris = [{uris}]\n"))
}

case!(
    redirect_http_not_local,
    error,
    redirect("\"http://portal.azure.com\"")
);
case!(redirect_wildcard, error, redirect("\"https://*.contoso.com\""));
case!(
    redirect_too_long,
    error,
    redirect(&format!("\"https://contoso.com/{}\"", "a".repeat(240)))
);
case!(redirect_not_a_uri, error, redirect("\"portal.azure.com\""));
case!(redirect_space, error, redirect("\"https://contoso.com/my app\""));
case!(
    redirect_special_character,
    error,
    redirect("\"https://contoso.com/cb;x\"")
);
case!(
    redirect_fragment,
    error,
    redirect("\"https://contoso.com/cb#top\"")
);
case!(redirect_ipv6_loopback, error, redirect("\"http://[::1]:8400\""));
case!(
    redirect_custom_scheme,
    error,
    redirect("\"msauth.com.contoso.app://auth\"")
);
case!(redirect_empty, error, redirect("\"\""));
case!(
    redirect_query_with_personal_accounts,
    error,
    app(
        "sign_in_audience = \"PersonalMicrosoftAccount\"\n[app.public_client]\nredirect_uris = [\"https://contoso.com/cb?x=1\"]\n"
    )
);
case!(
    redirect_duplicate,
    error,
    redirect("\"https://portal.azure.com\", \"https://portal.azure.com\"")
);
case!(
    redirect_loopback_ports_only,
    warning,
    redirect("\"http://localhost:8400/cb\", \"http://localhost:9000/cb\"")
);
case!(
    browser_sign_in_without_loopback_redirect,
    warning,
    app("[app.public_client]\nredirect_uris = [\"https://portal.azure.com\"]\nsign_in = \"browser\"\n")
);
case!(
    sign_in_unknown,
    error,
    app("[app.public_client]\nsign_in = \"popup\"\n")
);
case!(
    redirect_too_many_for_personal_accounts,
    error,
    app(&format!(
        "sign_in_audience = \"AzureADandPersonalMicrosoftAccount\"\n[app.public_client]\nredirect_uris = [{}]\n",
        (0..101)
            .map(|i| format!("\"https://contoso.com/{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ))
);

// --- API permissions -----------------------------------------------------------------------

fn perms(body: &str) -> String {
    app(&format!("[[app.api_permissions]]\n{body}"))
}

case!(api_empty, error, perms("api = \"\"\ndelegated = [\"x\"]\n"));
case!(
    api_malformed_guid,
    error,
    perms("api = \"8ee8fdad-f234-4243-8f3b-15c29484374\"\ndelegated = [\"x\"]\n")
);
case!(
    api_near_miss_of_a_built_in,
    warning,
    perms("api = \"Microsoft Threat Protections\"\ndelegated = [\"Incident.Read\"]\n")
);
case!(
    api_listed_twice_by_alias_and_guid,
    error,
    app(
        "[[app.api_permissions]]\napi = \"microsoft-graph\"\ndelegated = [\"User.Read\"]\n\n\
         [[app.api_permissions]]\napi = \"00000003-0000-0000-c000-000000000000\"\ndelegated = [\"openid\"]\n"
    )
);
case!(
    api_listed_twice_by_name,
    error,
    app(
        "[[app.api_permissions]]\napi = \"Contoso API\"\ndelegated = [\"Read\"]\n\n\
         [[app.api_permissions]]\napi = \"contoso api\"\napplication = [\"Write\"]\n"
    )
);
case!(
    permission_lists_empty,
    error,
    perms("api = \"microsoft-graph\"\ndelegated = []\n")
);
case!(permission_lists_absent, error, perms("api = \"Contoso API\"\n"));
case!(
    permission_duplicate,
    error,
    perms("api = \"microsoft-graph\"\ndelegated = [\"User.Read\", \"openid\", \"User.Read\"]\n")
);
case!(
    permission_with_spaces,
    error,
    perms("api = \"microsoft-graph\"\ndelegated = [\"User.Read Mail.Read\"]\n")
);
case!(
    permission_full_scope_string,
    error,
    perms("api = \"microsoft-graph\"\ndelegated = [\"https://graph.microsoft.com/User.Read\"]\n")
);
case!(
    permission_dot_default,
    error,
    perms("api = \"microsoft-graph\"\napplication = [\".default\"]\n")
);
case!(
    permission_bad_character,
    error,
    perms("api = \"Contoso API\"\ndelegated = [\"Lecture.Écrire\"]\n")
);
case!(
    permission_too_long,
    error,
    perms(&format!(
        "api = \"Contoso API\"\napplication = [\"{}\"]\n",
        "P".repeat(121)
    ))
);
case!(
    permission_unknown_with_suggestion,
    error,
    perms("api = \"Microsoft Threat Protection\"\ndelegated = [\"Incident.Reed\"]\n")
);
case!(
    permission_unknown_lists_valid_names,
    error,
    perms("api = \"microsoft-threat-protection\"\ndelegated = [\"Machine.Isolate\"]\n")
);
case!(
    permission_unknown_on_a_large_api,
    error,
    perms("api = \"WindowsDefenderATP\"\napplication = [\"Quantum.Entangle\"]\n")
);
case!(
    permission_of_the_other_kind,
    error,
    perms("api = \"Microsoft Threat Protection\"\ndelegated = [\"Incident.Read.All\"]\n")
);
case!(
    permission_wrong_case,
    error,
    perms("api = \"https://api.security.microsoft.com\"\ndelegated = [\"incident.read\"]\n")
);
case!(
    permission_unknown_to_the_partial_graph_catalog,
    warning,
    perms("api = \"microsoft-graph\"\ndelegated = [\"Calendars.Read\", \"User.Reed\"]\n")
);
case!(
    permission_other_kind_on_graph,
    warning,
    perms("api = \"microsoft-graph\"\napplication = [\"User.Read\"]\n")
);
case!(
    too_many_permissions_for_personal_accounts,
    error,
    app(&format!(
        "sign_in_audience = \"PersonalMicrosoftAccount\"\n[[app.api_permissions]]\napi = \"Contoso API\"\napplication = [{}]\n",
        (0..31)
            .map(|i| format!("\"P{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ))
);
case!(
    too_many_apis,
    error,
    app(&(0..51)
        .map(|i| format!("[[app.api_permissions]]\napi = \"API {i}\"\napplication = [\"Read\"]\n"))
        .collect::<String>())
);

// --- consent and output --------------------------------------------------------------------

case!(
    consent_grant_unknown,
    error,
    app("[app.consent]\ngrant = \"admn\"\n")
);
case!(
    consent_grant_far_off,
    error,
    app("[app.consent]\ngrant = \"always\"\n")
);
case!(
    output_format_unknown,
    error,
    app("[output]\npath = \"out/app.yaml\"\nformat = \"yaml\"\n")
);
case!(output_path_empty, error, app("[output]\npath = \"\"\n"));
case!(output_path_folder, error, app("[output]\npath = \"out/\"\n"));
case!(output_path_dot_dot, error, app("[output]\npath = \"out/..\"\n"));
case!(
    output_extension_does_not_match_format,
    warning,
    app("[output]\npath = \"out/app.json\"\nformat = \"env\"\n")
);

// --- whole-file behaviour ------------------------------------------------------------------

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = "[app]\nunique_name = \"bad name\"\ndisplayName = \"A\"\n\n[app.public_client]\n\
                redirect_uris = [\"http://contoso.com\", \"https://*.contoso.com\"]\n\n\
                [[app.api_permissions]]\napi = \"microsoft-threat-protection\"\ndelegated = [\"Incident.Reed\"]\n";
    let diags = manifest::parse("m.toml", text).unwrap_err();
    assert_eq!(diags.error_count(), 6, "{}", diags.render(text));
    let starts: Vec<usize> = diags.iter().map(|d| d.span.start).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    insta::assert_snapshot!("every_problem_is_reported_in_file_order", diags.render(text));
}

#[test]
fn not_utf8_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[app]\nunique_name = \"a\"\ndisplay_name = \"Caf\xe9\"\n").unwrap();
    let (shown, diags) = manifest::read(&path).unwrap().unwrap_err();
    assert_eq!(diags.error_count(), 1);
    let rendered = diags
        .render(&shown)
        .replace(&path.display().to_string(), "latin1.toml");
    insta::assert_snapshot!("not_utf8_is_a_diagnostic", rendered);
    let err = manifest::load(&path).unwrap_err();
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn load_turns_diagnostics_into_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(&path, "[app]\nunique_name = \"a\"\n").unwrap();
    let err = manifest::load(&path).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert_eq!(err.message, "the manifest has 1 problem");
    assert!(err.render().contains("m.toml:1:1"), "{}", err.render());
    let missing = manifest::load(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(missing.exit_code(), 1);
}

// --- issue 17: web, SPA, identifier URIs, the exposed API and app roles ------------------------

const SCOPE: &str = "[[app.api.scopes]]\nvalue = \"Orders.Read\"\nadmin_consent_display_name = \"Read orders\"\nadmin_consent_description = \"Read every order\"\n";
const ROLE: &str = "[[app.app_roles]]\nvalue = \"Orders.Reader\"\ndisplay_name = \"Readers\"\ndescription = \"Read every order\"\nallowed_member_types = [\"User\"]\n";

case!(
    web_redirect_uri_http_on_a_public_host,
    error,
    app("[app.web]\nredirect_uris = [\"http://app.contoso.com/signin-oidc\"]\n")
);
case!(
    spa_redirect_uri_custom_scheme,
    error,
    app("[app.spa]\nredirect_uris = [\"myapp://callback\"]\n")
);
case!(
    web_logout_url_not_https,
    error,
    app("[app.web]\nlogout_url = \"ftp://app.contoso.com/logout\"\n")
);
case!(
    web_key_misspelled,
    error,
    app("[app.web]\nenable_id_tokens = true\n")
);
case!(
    identifier_uri_unsupported_form,
    error,
    app("identifier_uris = [\"api://orders\", \"urn:orders\", \"api://orders\"]\n")
);
case!(
    token_version_out_of_range,
    error,
    app("[app.api]\nrequested_access_token_version = 3\n")
);
case!(
    token_version_1_with_personal_accounts,
    error,
    format!(
        "[app]\nunique_name = \"a\"\ndisplay_name = \"A\"\nsign_in_audience = \"AzureADandPersonalMicrosoftAccount\"\n\n[app.api]\nrequested_access_token_version = 1\n"
    )
);
case!(
    scope_bad_type_and_missing_consent_text,
    error,
    app("[[app.api.scopes]]\nvalue = \"Orders.Read\"\ntype = \"user\"\nadmin_consent_display_name = \"\"\n")
);
case!(
    scope_values_repeat_and_clash_with_a_role,
    error,
    app(&format!(
        "{SCOPE}\n{SCOPE}\n{}",
        ROLE.replace("Orders.Reader", "orders.read")
    ))
);
case!(
    scope_value_begins_with_a_dot_and_id_is_malformed,
    error,
    app(
        "[[app.api.scopes]]\nvalue = \".Orders\"\nid = \"1234\"\nadmin_consent_display_name = \"a\"\nadmin_consent_description = \"b\"\n"
    )
);
case!(
    app_role_member_types,
    error,
    app(&format!(
        "{}\n[[app.app_roles]]\nvalue = \"Orders.Writer\"\ndisplay_name = \"Writers\"\ndescription = \"Write\"\n",
        ROLE.replace("[\"User\"]", "[\"Users\", \"User\", \"User\"]")
    ))
);
case!(
    api_scopes_single_brackets,
    error,
    app(
        "[app.api.scopes]\nvalue = \"Orders.Read\"\nadmin_consent_display_name = \"a\"\nadmin_consent_description = \"b\"\n"
    )
);

#[test]
fn the_properties_of_issue_17_build_the_model() {
    let text = app(&format!(
        "identifier_uris = [\"api://orders\"]\n\n[app.web]\nredirect_uris = [\"https://orders.contoso.com/cb\"]\nenable_id_token_issuance = true\n\n[app.spa]\nredirect_uris = [\"https://orders.contoso.com/spa\"]\n\n[app.api]\nrequested_access_token_version = 2\n\n{SCOPE}\n{ROLE}"
    ));
    let d = manifest::parse("m.toml", &text).unwrap_or_else(|e| panic!("{}", e.render(&text)));
    let p = &d.apps[0].props;
    assert_eq!(p.identifier_uris.as_deref().unwrap(), ["api://orders"]);
    let web = p.web.as_ref().unwrap();
    assert_eq!(web.enable_id_token_issuance, Some(true));
    assert_eq!(web.enable_access_token_issuance, None, "absent: left alone");
    assert_eq!(web.home_page_url, None);
    assert_eq!(p.requested_access_token_version, Some(2));
    let scope = &p.scopes.as_ref().unwrap()[0];
    assert_eq!(
        (scope.kind.as_str(), scope.enabled, scope.id.as_deref()),
        ("User", true, None)
    );
    assert_eq!(p.app_roles.as_ref().unwrap()[0].allowed_member_types, ["User"]);
    // Without the keys, everything is left alone.
    let d = manifest::parse("m.toml", APP).unwrap();
    assert_eq!(d.apps[0].props, Default::default());
}

// --- credentials (issue 17) ----------------------------------------------------------------

const OUT: &str = "\n[output]\npath = \"out/a.json\"\n";

case!(
    password_without_output,
    error,
    app("\n[[app.passwords]]\ndisplay_name = \"ci\"\n")
);
case!(
    password_in_env_output,
    error,
    app("\n[[app.passwords]]\ndisplay_name = \"ci\"\n\n[output]\npath = \"out/a.env\"\n")
);
case!(
    password_end_and_rotation_rules,
    error,
    format!(
        "{}{OUT}",
        app(concat!(
            "\n[[app.passwords]]\ndisplay_name = \"ci\"\nend_date = \"2027-13-01\"\nrotate_before = \"30d\"\n",
            "\n[[app.passwords]]\ndisplay_name = \"ci2\"\nend_date = \"2027-12-01\"\nlifetime = \"10d\"\n",
            "\n[[app.passwords]]\ndisplay_name = \"ci3\"\nlifetime = \"3 months\"\n",
            "\n[[app.passwords]]\ndisplay_name = \"ci4\"\nlifetime = \"10d\"\nrotate_before = \"10d\"\n",
            "\n[[app.passwords]]\ndisplay_name = \"ci\"\n",
        ))
    )
);
case!(
    certificate_needs_one_source,
    error,
    format!(
        "{}{OUT}",
        app(
            "\n[[app.certificates]]\ndisplay_name = \"a\"\npem = \"a.pem\"\ngenerate = true\n\n[[app.certificates]]\ndisplay_name = \"b\"\nthumbprint = \"12AB\"\n\n[[app.certificates]]\ndisplay_name = \"c\"\npem = \"c.pem\"\nlifetime = \"30d\"\n"
        )
    )
);
