//! `--tls`: a certificate authority the emulator makes and writes to disk, a server certificate
//! for `127.0.0.1` and `localhost` signed by it, and the rustls acceptor that serves with it.
//! Clients trust the CA file (`Ready.ca_cert`): `curl --cacert`, `REQUESTS_CA_BUNDLE` for the
//! Azure CLI, `--ca-cert` for `provision`.
//!
//! With `--state FILE` the CA lives next to the state file (`{stem}.ca.pem`, and its key in
//! `{stem}.ca-key.pem`, mode 0600) and is reused on restart, so a client configured once keeps
//! working; otherwise it lives in a temporary folder removed when the emulator stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a certificate")]
    Certificate(#[source] rcgen::Error),
    #[error("cannot read or write `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` does not hold the emulator's CA key (remove it and its certificate to make new ones)")]
    BadKey(PathBuf),
    #[error("cannot configure TLS")]
    Rustls(#[source] rustls::Error),
}

/// What `start` needs to serve HTTPS: the acceptor, and the CA file to tell clients about.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The CA certificate (PEM), the file clients trust.
    pub ca_path: PathBuf,
    /// Holds the temporary folder of a stateless emulator until it stops.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

const CA_NAME: &str = "provision emulator CA";

/// The CA's parameters. They are rebuilt identically on restart, so a stored CA key signs server
/// certificates that chain to the stored CA certificate (the issuer name and key identifier
/// come from these and from the key).
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Certificate)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "provision");
    Ok(params)
}

/// A certificate authority: its certificate (PEM) and key.
struct Ca {
    cert_pem: String,
    key: KeyPair,
}

impl Ca {
    fn generate() -> Result<Ca, TlsError> {
        let key = KeyPair::generate().map_err(TlsError::Certificate)?;
        let mut params = ca_params()?;
        set_validity(&mut params, 3650);
        let cert = params.self_signed(&key).map_err(TlsError::Certificate)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// A server certificate for `names` (IP addresses and DNS names), with the CA's certificate
    /// after it in the chain.
    fn server_certificate(
        &self,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let issuer = Issuer::new(ca_params()?, &self.key);
        let key = KeyPair::generate().map_err(TlsError::Certificate)?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(TlsError::Certificate)?;
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // OpenSSL 3 in strict mode (Python 3.13's default) wants the authority key identifier.
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, 365);
        let cert = params.signed_by(&key, &issuer).map_err(TlsError::Certificate)?;
        let ca_der = crate::identity::keys::pem_to_der(&self.cert_pem).unwrap_or_default();
        Ok((
            vec![cert.der().clone(), CertificateDer::from(ca_der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }
}

/// Valid from yesterday (clock skew) to `days` from now.
fn set_validity(params: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let at = |d: chrono::DateTime<chrono::Utc>| {
        rcgen::date_time_ymd(
            d.year(),
            u8::try_from(d.month()).unwrap_or(1),
            u8::try_from(d.day()).unwrap_or(1),
        )
    };
    let now = chrono::Utc::now();
    params.not_before = at(now - chrono::Duration::days(1));
    params.not_after = at(now + chrono::Duration::days(days));
}

/// Sets up HTTPS for a server reached as `host` (its bind address; `127.0.0.1` and
/// `localhost` are always included). `state` is the `--state` file, if any.
pub fn setup(host: &str, state: Option<&Path>) -> Result<Tls, TlsError> {
    let (ca, ca_path, dir) = match state {
        Some(state) => {
            let (cert_path, key_path) = ca_paths(state);
            (load_or_create(&cert_path, &key_path)?, cert_path, None)
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("provision-emulator-")
                .tempdir()
                .map_err(|source| TlsError::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
            let ca = Ca::generate()?;
            let cert_path = dir.path().join("ca.pem");
            write(&cert_path, &ca.cert_pem, false)?;
            (ca, cert_path, Some(dir))
        }
    };
    let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), "::1".to_owned()];
    if !names.iter().any(|n| n == host) && !host.is_empty() {
        names.push(host.to_owned());
    }
    let (chain, key) = ca.server_certificate(&names)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Rustls)?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_path,
        _dir: dir,
    })
}

/// `dir/tenant.json` → `dir/tenant.ca.pem`, `dir/tenant.ca-key.pem`.
pub fn ca_paths(state: &Path) -> (PathBuf, PathBuf) {
    let stem = state
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "emulator".to_owned());
    let dir = state.parent().unwrap_or_else(|| Path::new(""));
    (
        dir.join(format!("{stem}.ca.pem")),
        dir.join(format!("{stem}.ca-key.pem")),
    )
}

fn load_or_create(cert_path: &Path, key_path: &Path) -> Result<Ca, TlsError> {
    if cert_path.exists() && key_path.exists() {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| TlsError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert_path)?;
        let key =
            KeyPair::from_pem(&read(key_path)?).map_err(|_| TlsError::BadKey(key_path.to_path_buf()))?;
        return Ok(Ca { cert_pem, key });
    }
    let ca = Ca::generate()?;
    write(key_path, &ca.key.serialize_pem(), true)?;
    write(cert_path, &ca.cert_pem, false)?;
    Ok(ca)
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    crate::fsutil::write_atomic(path, text.as_bytes(), secret).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_reused_from_next_to_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("tenant.json");
        let first = setup("127.0.0.1", Some(&state)).unwrap();
        assert_eq!(first.ca_path, dir.path().join("tenant.ca.pem"));
        let pem = std::fs::read_to_string(&first.ca_path).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let second = setup("127.0.0.1", Some(&state)).unwrap();
        assert_eq!(std::fs::read_to_string(&second.ca_path).unwrap(), pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tenant.ca-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let stateless = setup("127.0.0.1", None).unwrap();
        let path = stateless.ca_path.clone();
        assert!(path.exists());
        drop(stateless);
        assert!(!path.exists());
    }
}
