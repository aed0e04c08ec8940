//! Resolved settings of one run: the output printer, the Graph and sign-in endpoints (cloud,
//! overrides, `--emulator`), the tenant, the credential choice and the HTTP client. This is the
//! only module that reads the environment for settings.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::cache::TokenCache;
use crate::auth::{self, ClientSecretCredential, GraphToken, SignIn};
use crate::cli::{AuthMethod, Cloud, GlobalArgs};
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::output::Printer;

/// The endpoints of one national cloud (learn: national cloud deployments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// e.g. `https://graph.microsoft.com/v1.0`
    pub graph_url: String,
    /// e.g. `https://login.microsoftonline.com`
    pub authority_url: String,
    /// The scope app-only sign-in asks for: `https://graph.microsoft.com/.default`.
    pub graph_scope: String,
}

impl Endpoints {
    pub fn of(cloud: Cloud) -> Self {
        let (login, graph) = match cloud {
            Cloud::Public => ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
            Cloud::Usgov => ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
            Cloud::China => (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
        };
        Endpoints {
            graph_url: format!("{graph}/v1.0"),
            authority_url: login.to_owned(),
            graph_scope: format!("{graph}/.default"),
        }
    }
}

pub struct Context {
    pub printer: Arc<Printer>,
    pub endpoints: Endpoints,
    pub tenant: Option<String>,
    pub auth: AuthMethod,
    pub http: reqwest::Client,
    /// Credentials handed over by `--emulator`.
    pub explicit_credentials: Option<ClientSecretCredential>,
    /// The public client of `--auth device-code` (`--client-id`).
    pub device_client_id: Option<String>,
    /// Whether `--authority-url` (or its variables) chose the authority, rather than the cloud.
    pub authority_overridden: bool,
    /// Keeps an in-process emulator alive for the run.
    pub emulator: Option<EmulatorHandle>,
    /// `--max-wait`: the retry policy's time budget.
    pub max_wait: Duration,
}

/// The in-process emulator a run keeps alive (nothing can hold one in a build without the
/// `emulator` feature).
#[cfg(feature = "emulator")]
pub type EmulatorHandle = crate::emulator::Running;
#[cfg(not(feature = "emulator"))]
pub type EmulatorHandle = std::convert::Infallible;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Plain `http://` is refused except on loopback addresses (README.md "Commands", `--graph-url`), so that a token is never
/// sent in clear over a network.
pub fn check_endpoint(what: &str, url: &str) -> Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::failure(format!("{what} `{url}` is not a URL")).with_source(e))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(Error::failure(format!("{what} `{url}` uses plain http"))
                    .with_help("use https://; plain http:// is only allowed on loopback addresses"))
            }
        }
        other => Err(Error::failure(format!(
            "{what} `{url}` has the unsupported scheme `{other}`"
        ))),
    }
}

/// `--emulator` chooses the endpoints and the tenant itself: a flag that would choose them too
/// is refused rather than silently dropped. (The environment variables behind these flags are
/// ignored under `--emulator`: they configure the real tenant a shell is set up for.)
fn refuse_with_emulator(global: &GlobalArgs) -> Result<()> {
    let given: Vec<&str> = [
        ("--graph-url", global.graph_url.is_some()),
        ("--authority-url", global.authority_url.is_some()),
        ("--tenant", global.tenant.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    match given.as_slice() {
        [] => Ok(()),
        flags => Err(Error::failure(format!(
            "`--emulator` cannot be combined with {}",
            flags.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
        ))
        .with_help(
            "the emulator serves its own Graph and sign-in endpoints for its own tenant; drop those flags, or drop --emulator to use them",
        )),
    }
}

/// The HTTP client: rustls with the platform's roots (`rustls-native-certs`, which honours
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`) plus an optional extra root (`--ca-cert`, e.g. the
/// emulator's CA), the proxy of `HTTPS_PROXY`/`NO_PROXY` (reqwest's default), no redirects (a
/// token must not follow one), bounded timeouts.
pub fn http_client(ca_cert: Option<&PathBuf>) -> Result<reqwest::Client> {
    http_client_builder(ca_cert)?
        .build()
        .map_err(|e| Error::failure("cannot set up the HTTP client").with_source(e))
}

fn http_client_builder(ca_cert: Option<&PathBuf>) -> Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("provision/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(30));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Error::failure(format!("cannot read the CA certificate `{}`", path.display())).with_source(e)
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            Error::failure(format!("`{}` is not a PEM certificate", path.display())).with_source(e)
        })?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

impl Context {
    /// Resolve the global flags and the environment. With `emulator`, start the in-process
    /// emulator on its persistent state and point everything at it.
    pub async fn new(global: &GlobalArgs, emulator: Option<&crate::cli::UseEmulator>) -> Result<Self> {
        Self::for_tenant(global, emulator, None).await
    }

    /// [`Context::new`] for a manifest whose `tenant` is `manifest_tenant`: under `--emulator`,
    /// the embedded emulator takes that tenant (a domain becomes one of its verified domains; a
    /// GUID is the id a new state is seeded with), so every manifest runs there.
    pub async fn for_tenant(
        global: &GlobalArgs,
        emulator: Option<&crate::cli::UseEmulator>,
        manifest_tenant: Option<&str>,
    ) -> Result<Self> {
        Self::for_tenants(global, emulator, manifest_tenant.as_slice()).await
    }

    /// [`Context::for_tenant`] for several manifests naming `tenants` (first one first): under
    /// `--emulator` the tenant takes the first GUID as its id and every domain as a verified
    /// domain, so manifests of one tenant, written with its GUID or its domains, run together.
    pub async fn for_tenants(
        global: &GlobalArgs,
        emulator: Option<&crate::cli::UseEmulator>,
        tenants: &[&str],
    ) -> Result<Self> {
        let printer = Arc::new(Printer::new(
            global.format.unwrap_or_default(),
            global.verbose,
            global.no_color,
        ));
        if let Some(u) = emulator.filter(|u| u.emulator) {
            refuse_with_emulator(global)?;
            return Self::with_emulator(global, printer, u, tenants).await;
        }
        let mut endpoints = Endpoints::of(global.cloud.unwrap_or_default());
        if let Some(g) = global.graph_url.clone().or_else(|| env("PROVISION_GRAPH_URL")) {
            endpoints.graph_url = g.trim_end_matches('/').to_owned();
        }
        let authority_override = global
            .authority_url
            .clone()
            .or_else(|| env("PROVISION_AUTHORITY_URL"))
            .or_else(|| env("AZURE_AUTHORITY_HOST"));
        if let Some(a) = &authority_override {
            endpoints.authority_url = a.trim_end_matches('/').to_owned();
        }
        check_endpoint("the Graph URL", &endpoints.graph_url)?;
        check_endpoint("the authority URL", &endpoints.authority_url)?;
        let tenant = global
            .tenant
            .clone()
            .or_else(|| env("PROVISION_TENANT"))
            .or_else(|| env("AZURE_TENANT_ID"));
        Ok(Context {
            printer,
            endpoints,
            tenant,
            auth: global.auth.unwrap_or(AuthMethod::Auto),
            http: http_client(global.ca_cert.as_ref())?,
            explicit_credentials: None,
            device_client_id: global.client_id.clone(),
            authority_overridden: authority_override.is_some(),
            emulator: None,
            max_wait: global.max_wait.unwrap_or(crate::graph::retry::DEFAULT_MAX_WAIT),
        })
    }

    #[cfg(not(feature = "emulator"))]
    async fn with_emulator(
        _: &GlobalArgs,
        _: Arc<Printer>,
        _: &crate::cli::UseEmulator,
        _: &[&str],
    ) -> Result<Self> {
        Err(Error::failure("this build of provision has no emulator")
            .with_help("build it with the default features (`cargo install --path crates/provision`)"))
    }

    #[cfg(feature = "emulator")]
    async fn with_emulator(
        global: &GlobalArgs,
        printer: Arc<Printer>,
        u: &crate::cli::UseEmulator,
        tenants: &[&str],
    ) -> Result<Self> {
        let state = match &u.emulator_state {
            Some(p) => p.clone(),
            None => default_emulator_state()?,
        };
        let mut config = crate::emulator::Config::local();
        config.state = Some(state.clone());
        let is_guid = |t: &&str| uuid::Uuid::parse_str(t).is_ok();
        let guid = tenants.iter().copied().find(is_guid);
        config.seed_tenant_id = guid.map(str::to_owned);
        config.extra_domains = tenants
            .iter()
            .filter(|t| !is_guid(t))
            .map(|d| (*d).to_owned())
            .collect();
        let running = crate::emulator::start(config).await?;
        let ready = running.ready.clone();
        if let Some(id) = guid
            && !id.eq_ignore_ascii_case(&ready.tenant_id)
        {
            running.shutdown().await;
            return Err(Error::failure(format!(
                "the manifest is for tenant `{id}`, but the emulator state `{}` holds tenant `{}`",
                state.display(),
                ready.tenant_id
            ))
            .with_help(
                "pass --emulator-state with a new file: the emulator seeds it with the manifest's tenant id",
            ));
        }
        printer.verbose(&format!(
            "emulator: {} (tenant {}, state {})",
            ready.graph_url,
            ready.tenant_id,
            state.display()
        ));
        let mut endpoints = Endpoints::of(Cloud::Public);
        endpoints.graph_url = ready.graph_url.clone();
        endpoints.authority_url = ready.authority_url.clone();
        // `--auth browser` signs in at the emulator's own pages, as its administrator; any
        // other choice is replaced by the emulator's administrator client.
        let browser = global.auth == Some(AuthMethod::Browser);
        if browser {
            printer.status(&format!(
                "emulator: sign in as {} with the password {}",
                ready.admin_user, ready.admin_password
            ));
        }
        Ok(Context {
            printer,
            endpoints,
            tenant: Some(ready.tenant_id.clone()),
            auth: if browser {
                AuthMethod::Browser
            } else {
                AuthMethod::ClientSecret
            },
            // The emulator is on loopback: a proxy from the environment must not get its
            // requests (or its token).
            http: http_client_builder(global.ca_cert.as_ref())?
                .no_proxy()
                .build()
                .map_err(|e| Error::failure("cannot set up the HTTP client").with_source(e))?,
            explicit_credentials: (!browser).then(|| ClientSecretCredential {
                client_id: ready.client_id.clone(),
                client_secret: ready.client_secret.clone(),
            }),
            device_client_id: global.client_id.clone().filter(|_| browser),
            authority_overridden: true,
            emulator: Some(running),
            max_wait: global.max_wait.unwrap_or(crate::graph::retry::DEFAULT_MAX_WAIT),
        })
    }

    /// Sign in and build the Graph client.
    pub async fn graph(&self) -> Result<(GraphClient, GraphToken)> {
        // The cache only matters to device-code sign-ins; a missing cache directory only
        // costs a prompt.
        let cache = TokenCache::default_location().ok();
        let token = auth::sign_in(&SignIn {
            method: self.auth,
            authority_url: &self.endpoints.authority_url,
            tenant: self.tenant.as_deref(),
            graph_scope: &self.endpoints.graph_scope,
            http: &self.http,
            explicit: self.explicit_credentials.clone(),
            printer: &self.printer,
            device_client_id: self.device_client_id.as_deref(),
            interactive: std::io::stdin().is_terminal(),
            cache: cache.as_ref(),
            // The in-process emulator's port changes on every run while its tenant stays.
            cache_as: self
                .emulator
                .as_ref()
                .map(|_| crate::auth::EMULATOR_CACHE_AUTHORITY),
        })
        .await?;
        self.printer.verbose(&format!(
            "signed in ({}) to tenant {}",
            token.source, token.tenant_id
        ));
        let client = GraphClient::new(
            self.http.clone(),
            &self.endpoints.graph_url,
            token.secret().to_owned(),
            self.printer.clone(),
        )
        .with_policy(crate::graph::retry::Policy {
            budget: self.max_wait,
            ..Default::default()
        });
        Ok((client, token))
    }

    /// Stop the in-process emulator, if any, after its state was saved.
    pub async fn finish(self) {
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emulator {
            e.shutdown().await;
        }
    }
}

/// `$XDG_STATE_HOME/provision/emulator-tenant.json` (or the platform's equivalent).
pub fn default_emulator_state() -> Result<PathBuf> {
    let base = dirs::state_dir().or_else(dirs::data_local_dir).ok_or_else(|| {
        Error::failure("cannot find a state directory for the emulator tenant")
            .with_help("pass --emulator-state FILE")
    })?;
    Ok(base.join("provision").join("emulator-tenant.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_endpoint("x", "https://graph.microsoft.com/v1.0").is_ok());
        assert!(check_endpoint("x", "http://127.0.0.1:8080/v1.0").is_ok());
        assert!(check_endpoint("x", "http://localhost:1").is_ok());
        assert!(check_endpoint("x", "http://[::1]:1").is_ok());
        assert!(check_endpoint("x", "http://graph.example.com").is_err());
        assert!(check_endpoint("x", "http://10.0.0.1").is_err());
        assert!(check_endpoint("x", "ftp://localhost").is_err());
    }

    #[test]
    fn clouds_have_their_hosts() {
        assert_eq!(
            Endpoints::of(Cloud::Usgov).graph_scope,
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            Endpoints::of(Cloud::China).authority_url,
            "https://login.chinacloudapi.cn"
        );
    }
}
