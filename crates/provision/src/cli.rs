//! The command line: clap types only. Resolution of these raw values (environment fall-backs,
//! endpoints, credentials) happens in `context`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;

/// Declarative Entra ID app registrations through Microsoft Graph.
///
/// Write a TOML manifest (`provision init`), check it (`provision validate`), see what would
/// change (`provision plan`) and make it so (`provision apply`). Add `--emulator` to run against
/// a local Graph emulator with no tenant and no credentials.
#[derive(Debug, Parser)]
#[command(name = "provision", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  provision init\n  provision validate provision.toml\n  provision plan provision.toml --emulator\n  provision apply provision.toml --emulator --yes\n\nEnvironment variables are named where they apply, as [env: NAME]; the first one set wins."
)]
pub struct Cli {
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How results are shown: every command takes these.
#[derive(Debug, Args, Clone, Default)]
pub struct ViewArgs {
    /// Output format of results on stdout [env: PROVISION_FORMAT]
    #[arg(long, global = true, env = "PROVISION_FORMAT", hide_env = true, value_enum)]
    pub format: Option<Format>,

    /// Show each Graph request and retry on stderr (secrets are never shown)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Do not color output [env: NO_COLOR]
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// Where Microsoft Graph is and how to sign in to it: the commands that talk to Graph take
/// these (flattened into [`UseEmulator`]).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Tenant and sign-in")]
pub struct GraphArgs {
    /// Tenant to act on: a GUID or a verified domain [env: PROVISION_TENANT, AZURE_TENANT_ID]
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// How to sign in to Microsoft Graph [env: PROVISION_AUTH]
    #[arg(long, env = "PROVISION_AUTH", hide_env = true, value_enum)]
    pub auth: Option<AuthMethod>,

    /// National cloud whose sign-in and Graph endpoints to use [env: PROVISION_CLOUD]
    #[arg(long, env = "PROVISION_CLOUD", hide_env = true, value_enum)]
    pub cloud: Option<Cloud>,

    /// Microsoft Graph base URL, e.g. https://graph.microsoft.com/v1.0 [env: PROVISION_GRAPH_URL]
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,

    /// Sign-in authority host, e.g. https://login.microsoftonline.com [env: PROVISION_AUTHORITY_URL, AZURE_AUTHORITY_HOST]
    #[arg(long, value_name = "URL")]
    pub authority_url: Option<String>,

    /// An extra trusted root certificate (PEM), e.g. the emulator's CA under --tls [env: PROVISION_CA_CERT]
    #[arg(long, env = "PROVISION_CA_CERT", hide_env = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Write every HTTP exchange (Graph and sign-in) to FILE as JSON lines, secrets redacted [env: PROVISION_TRACE]
    #[arg(long, env = "PROVISION_TRACE", hide_env = true, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Public client of `--auth browser` and `--auth device-code` [default: Microsoft Graph Command Line Tools] [env: PROVISION_CLIENT_ID]
    #[arg(long, env = "PROVISION_CLIENT_ID", hide_env = true, value_name = "APP_ID")]
    pub client_id: Option<String>,

    /// Longest wait on Microsoft Graph (throttling, replication) per call and for apply's read-back, e.g. 180s, 3m [default: 3m] [env: PROVISION_MAX_WAIT]
    #[arg(long, env = "PROVISION_MAX_WAIT", hide_env = true, value_name = "DURATION", value_parser = crate::graph::retry::parse_duration)]
    pub max_wait: Option<std::time::Duration>,
}

/// The settings a command runs with: the view flags every command takes, and the Graph flags of
/// the command (empty for those that do not talk to Graph).
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    pub format: Option<Format>,
    pub verbose: u8,
    pub no_color: bool,
    pub tenant: Option<String>,
    pub auth: Option<AuthMethod>,
    pub cloud: Option<Cloud>,
    pub graph_url: Option<String>,
    pub authority_url: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub client_id: Option<String>,
    pub max_wait: Option<std::time::Duration>,
}

impl GlobalArgs {
    pub fn new(view: &ViewArgs, graph: Option<&GraphArgs>) -> Self {
        let g = graph.cloned().unwrap_or_default();
        GlobalArgs {
            format: view.format,
            verbose: view.verbose,
            no_color: view.no_color,
            tenant: g.tenant,
            auth: g.auth,
            cloud: g.cloud,
            graph_url: g.graph_url,
            authority_url: g.authority_url,
            ca_cert: g.ca_cert,
            trace: g.trace,
            client_id: g.client_id,
            max_wait: g.max_wait,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// The first that is configured, in the order below (browser and device code only on a terminal)
    Auto,
    /// A ready bearer token for Microsoft Graph in PROVISION_ACCESS_TOKEN
    AccessToken,
    /// AZURE_CLIENT_ID + AZURE_CLIENT_SECRET (+ the tenant)
    ClientSecret,
    /// AZURE_CLIENT_ID + AZURE_CLIENT_CERTIFICATE_PATH, a PEM with certificate and key (+ the tenant)
    Certificate,
    /// AZURE_CLIENT_ID + AZURE_FEDERATED_TOKEN_FILE or GitHub Actions OIDC (+ the tenant)
    Federated,
    /// The account `az login` signed in (`az account get-access-token`)
    AzureCli,
    /// Sign in as an administrator in the system browser (authorization code + PKCE, loopback redirect); remembered until `logout`
    Browser,
    /// Sign in as an administrator with a code entered in a browser; remembered until `logout`
    DeviceCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Cloud {
    #[default]
    Public,
    Usgov,
    China,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline: keys, values, redirect URIs, permission names
    #[command(
        after_help = "Examples:\n  provision validate provision.toml\n  provision validate manifests/*.toml --format json"
    )]
    Validate(ValidateArgs),
    /// Show what apply would change in the tenant; changes nothing
    #[command(
        visible_alias = "diff",
        after_help = "Examples:\n  provision plan provision.toml --emulator\n  provision plan provision.toml --detailed-exitcode   # exit 2 when there are changes\n  provision plan provision.toml --destroy             # what destroy would delete\n  provision plan manifests/ extra.toml --target soc-app   # several manifests, one app"
    )]
    Plan(PlanArgs),
    /// Make the tenant match the manifest, then write the output file
    #[command(
        after_help = "Examples:\n  provision apply provision.toml --emulator --yes\n  AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… provision apply provision.toml --yes"
    )]
    Apply(ApplyArgs),
    /// Delete the apps the manifest names, with their service principals and grants
    #[command(
        after_help = "Examples:\n  provision plan provision.toml --destroy   # what would be deleted\n  provision destroy provision.toml --emulator --yes\n  provision destroy provision.toml --purge --yes   # also from deleted items"
    )]
    Destroy(DestroyArgs),
    /// Print a manifest that describes an existing registration
    #[command(
        after_help = "Examples:\n  provision import --app-id 00000000-0000-0000-0000-000000000000 -o provision.toml\n  provision import --display-name \"Threat Protection API client\" --set-unique-name mtp-api-client --yes"
    )]
    Import(ImportArgs),
    /// Report every app holding permissions on the audited APIs, who consented, and which
    /// manifest manages it; changes nothing
    #[command(
        after_help = "Examples:\n  provision audit manifests/ --emulator\n  provision audit manifests/ --fail-on unmanaged --format markdown   # exit 2 when an unmanaged app holds any"
    )]
    Audit(AuditArgs),
    /// Write a starter manifest
    #[command(after_help = "Examples:\n  provision init\n  provision init infra/mtp.toml --force")]
    Init(InitArgs),
    /// Print shell completions
    #[command(
        after_help = "Examples:\n  provision completions bash > ~/.local/share/bash-completion/completions/provision\n  provision completions zsh > \"${fpath[1]}/_provision\""
    )]
    Completions(CompletionsArgs),
    /// Run the local Microsoft Graph + identity platform emulator
    #[cfg(feature = "emulator")]
    #[command(
        after_help = "Examples:\n  provision emulator --emulator-state tenant.json\n  eval \"$(provision emulator --tls --emulator-state tenant.json --print-env)\""
    )]
    Emulator(EmulatorArgs),
    /// Sign in as the provisioned app (device code, or --browser) and print its access token
    #[command(
        after_help = "Examples:\n  provision token provision.toml --emulator\n  provision token out/mtp-api-client.json --decode\n  provision token provision.toml --browser --verify"
    )]
    Token(TokenArgs),
    /// Forget cached interactive sign-ins (only the tenant's with --tenant)
    #[command(
        after_help = "Examples:\n  provision logout\n  provision logout --tenant contoso.onmicrosoft.com"
    )]
    Logout(LogoutArgs),
    /// Check a tenant before trusting it: reachability, clock, identity, permissions, manifest
    #[command(
        after_help = "Exit codes: 0 apply would be allowed, 4 a permission is missing, 3 the tenant lacks an API the manifest names, 1 something cannot be reached.\n\nExamples:\n  provision doctor provision.toml\n  provision doctor --probe --yes   # try the uncertain Graph forms with a throw-away app"
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The manifest (its `[output]` file holds the IDs) or the output file itself
    #[arg(value_name = "MANIFEST|OUTPUT_FILE")]
    pub target: PathBuf,
    /// Which app, by `unique_name`, when there are several
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Which API, by name, appId or resource URL, when the app has delegated permissions on several
    #[arg(long, value_name = "API")]
    pub api: Option<String>,
    /// Print the token's header and claims instead of the token
    #[arg(long)]
    pub decode: bool,
    /// Check signature, aud, iss, tid, exp, nbf and scp; exit 4 naming what is wrong
    #[arg(long)]
    pub verify: bool,
    /// Sign in in the system browser (authorization code + PKCE) instead of with a device code; the app needs the redirect URI http://localhost
    #[arg(long)]
    pub browser: bool,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Manifests, or folders of `*.toml` manifests, whose apps count as managed
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// APIs to audit, every permission of each (display name, appId, identifier URI or alias;
    /// repeatable) [default: microsoft-threat-protection, windows-defender-atp, and Microsoft
    /// Graph's high-privilege permissions]
    #[arg(long = "api", value_name = "API")]
    pub apis: Vec<String>,
    /// Exit 2 when an unmanaged app holds an audited permission, or when a managed app differs
    /// from its manifest (repeatable)
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Vec<FailOn>,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A manifest whose tenant guard and resource APIs to check too
    #[arg(value_name = "MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// Also create a throw-away app `provision-probe-…`, try the uncertain Graph forms, delete and purge it
    #[arg(long)]
    pub probe: bool,
    /// Probe without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Unmanaged,
    Drift,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Only the sign-ins of this tenant (a GUID or a verified domain, as they were made)
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files to check
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// How a command reaches Microsoft Graph: a tenant and a sign-in, or `--emulator`. Every
/// command that talks to Graph flattens this.
#[derive(Debug, Args, Clone, Default)]
pub struct UseEmulator {
    #[command(flatten)]
    pub graph: GraphArgs,
    /// Run against a built-in emulator tenant (no tenant, no credentials needed)
    #[arg(long)]
    pub emulator: bool,
    /// Where the emulator keeps its tenant between runs [default: under the user's state directory]
    #[arg(long, value_name = "FILE", requires = "emulator")]
    pub emulator_state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifests (TOML) naming the apps, or folders of `*.toml` manifests
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<PathBuf>,
    /// Only these apps, by `unique_name` (repeatable): a partial run
    #[arg(long = "target", value_name = "UNIQUE_NAME")]
    pub targets: Vec<String>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Show what `destroy` would delete instead (the dry run of destroy)
    #[arg(long)]
    pub destroy: bool,
    /// With --destroy: also what `destroy --purge` would remove from deleted items
    #[arg(long, requires = "destroy")]
    pub purge: bool,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifests (TOML) naming the apps, or folders of `*.toml` manifests
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<PathBuf>,
    /// Only these apps, by `unique_name` (repeatable): a partial run
    #[arg(long = "target", value_name = "UNIQUE_NAME")]
    pub targets: Vec<String>,
    /// Apply without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Return after the writes, without reading back until Graph shows them
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Manifests (TOML) naming the apps, or folders of `*.toml` manifests
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<PathBuf>,
    /// Only these apps, by `unique_name` (repeatable): a partial run
    #[arg(long = "target", value_name = "UNIQUE_NAME")]
    pub targets: Vec<String>,
    /// Destroy without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also remove the apps from deleted items, so their unique names can be reused
    #[arg(long)]
    pub purge: bool,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["unique_name", "app_id", "display_name"])))]
pub struct ImportArgs {
    /// The registration's uniqueName
    #[arg(long, value_name = "NAME")]
    pub unique_name: Option<String>,
    /// The registration's application (client) ID
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
    /// The registration's display name (refused when several registrations carry it)
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// Give a registration that has no uniqueName this one (Graph allows it once; asks first)
    #[arg(long, value_name = "NAME")]
    pub set_unique_name: Option<String>,
    /// Set the unique name without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Write the manifest to this file instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub emulator: UseEmulator,
}

#[derive(Debug, Args, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Serve HTTPS with a certificate signed by a CA written next to the state
    #[arg(long)]
    pub tls: bool,
    /// Keep the tenant in this file across restarts (the same flag as `--emulator-state` of the
    /// other commands; `--state` is the old spelling)
    #[arg(long = "emulator-state", alias = "state", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Added latency per request, in milliseconds
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests that fail with a transient 5xx (0.0 to 1.0)
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Share of requests that get 429 with Retry-After (0.0 to 1.0)
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Milliseconds during which a new object is not yet visible to reads and references [default: 0; 2000 with --strict]
    #[arg(long)]
    pub replication_lag_ms: Option<u64>,
    /// Milliseconds after a delete during which the object cannot be restored or purged [default: 0; 2000 with --strict]
    #[arg(long)]
    pub purge_lag_ms: Option<u64>,
    /// Serve GET /servicePrincipals(appId='…')/oauth2PermissionGrants and …/appRoleAssignments (false: 400) [default: true; false with --strict]
    #[arg(long, value_name = "BOOL")]
    pub alternate_key_navigations: Option<bool>,
    /// Serve the upsert PATCH /servicePrincipals(appId='…') (false: 400) [default: true; false with --strict]
    #[arg(long, value_name = "BOOL")]
    pub service_principal_upsert: Option<bool>,
    /// The stricter Graph: both forms above refused, 2 s replication and purge lag
    #[arg(long)]
    pub strict: bool,
    /// Milliseconds the emulator's clock (replication and purge windows) moves on with every Graph request
    #[arg(long, default_value_t = 0)]
    pub clock_step_ms: u64,
    /// Seed for the fault injector, so a run can be replayed (and for `--seed-tenant`)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seed a new tenant with N apps, their service principals, admin and user grants and app
    /// role assignments, drawn from `--seed` (for audits and benchmarks)
    #[arg(long, value_name = "N")]
    pub seed_tenant: Option<usize>,
    /// Do not approve device codes automatically: a person uses the /devicelogin page, or a script POST /_emulator/devicecode/{code}/approve
    #[arg(long)]
    pub manual_approval: bool,
    /// Seconds a device code stays valid (`expires_in`; Entra: 900)
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(i64).range(1..))]
    pub device_code_lifetime_secs: i64,
    /// Seconds a client waits between device-code polls (`interval`; Entra: 5)
    #[arg(long, default_value_t = 5)]
    pub device_code_interval_secs: u64,
    /// Start the emulator in the background and print `export NAME=value` lines for its
    /// endpoints, tenant, client and CA (for `eval`), then exit
    #[arg(long)]
    pub print_env: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Starter manifest to write
    #[arg(long, value_enum, default_value_t = Template::ThreatProtection)]
    pub template: Template,
    /// Where to write it
    #[arg(value_name = "PATH", default_value = "provision.toml")]
    pub path: PathBuf,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    ThreatProtection,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
