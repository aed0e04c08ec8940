//! What this machine holds for an app's credentials: the password values in the output file,
//! the certificates of `pem = …` files, and generated certificates with their keys next to the
//! output file (made here, in memory, when missing or due; written by apply).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Secret;
use crate::error::{Error, Result};
use crate::model::{CertificateSource, Desired, DesiredApp, DesiredCertificate};

/// A certificate as read from (or to be written to) a PEM file.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalCert {
    pub der: Vec<u8>,
    /// SHA-1 of the DER, upper-case hex: Graph's `customKeyIdentifier` for it.
    pub thumbprint: String,
    pub not_before: i64,
    pub not_after: i64,
    /// The PEM file that holds it (with its private key, for a generated one).
    pub path: PathBuf,
    /// A generated certificate not yet on disk: the PEM (certificate and private key) apply
    /// writes at `path` before uploading it.
    pub pending: Option<Secret>,
}

/// One app's local credential state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalApp {
    /// Password values the output file holds, by keyId.
    pub stored: BTreeMap<String, Secret>,
    /// Per `[[app.certificates]]` entry, in manifest order (`None` for `thumbprint = …`).
    pub certificates: Vec<Option<LocalCert>>,
}

/// The output file's path (relative to the manifest's folder).
pub fn output_path(desired: &Desired) -> Option<PathBuf> {
    let spec = desired.output.as_ref()?;
    Some(desired.source.parent().unwrap_or(Path::new("")).join(&spec.path))
}

/// Where a generated certificate and its key live: next to the output file,
/// `{output stem}.{unique_name}.{display name, slugged}.pem`.
pub fn key_file_path(out_path: &Path, unique_name: &str, display_name: &str) -> PathBuf {
    let stem = out_path.file_stem().and_then(|s| s.to_str()).unwrap_or("output");
    let slug: String = display_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out_path.with_file_name(format!("{stem}.{unique_name}.{slug}.pem"))
}

/// Password values by app and keyId, from an output file apply wrote (unreadable: none).
fn stored_secrets(path: &Path) -> BTreeMap<String, BTreeMap<String, Secret>> {
    let Some(entries) = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| crate::outfile::parse(path, &text).ok())
    else {
        return BTreeMap::new();
    };
    entries
        .into_iter()
        .map(|(app, entry)| {
            let secrets = entry
                .passwords
                .into_iter()
                .filter_map(|p| Some((p.key_id.to_ascii_lowercase(), p.secret?)))
                .collect();
            (app, secrets)
        })
        .collect()
}

/// Facts of a DER certificate: (thumbprint, not before, not after).
pub fn certificate_facts(der: &[u8]) -> Option<(String, i64, i64)> {
    use x509_cert::der::Decode as _;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let v = &cert.tbs_certificate.validity;
    let secs = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).ok();
    let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Some((thumbprint, secs(&v.not_before)?, secs(&v.not_after)?))
}

fn first_certificate(text: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(text.as_bytes())
        .find_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
}

fn read_pem(path: &Path, cert: &DesiredCertificate, manifest: &Path) -> Result<LocalCert> {
    let place = format!(
        "{}:{}:{}",
        manifest.display(),
        cert.location.line,
        cert.location.column
    );
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::failure(format!(
            "cannot read the certificate `{}` of `{}` ({place})",
            path.display(),
            cert.display_name
        ))
        .with_source(e)
        .with_help("`pem` names a PEM file with the certificate, relative to the manifest's folder")
    })?;
    let der = first_certificate(&text);
    let facts = der.as_deref().and_then(certificate_facts);
    match (der, facts) {
        (Some(der), Some((thumbprint, not_before, not_after))) => Ok(LocalCert {
            der,
            thumbprint,
            not_before,
            not_after,
            path: path.to_owned(),
            pending: None,
        }),
        _ => Err(Error::failure(format!(
            "`{}` ({place}) holds no X.509 certificate",
            path.display()
        ))
        .with_help("give a PEM file with a `-----BEGIN CERTIFICATE-----` block")),
    }
}

/// A fresh self-signed RSA 2048 certificate, `CN={display name}`, valid from now for `lifetime`
/// seconds: (PEM of the certificate and its PKCS#8 key, DER of the certificate).
#[cfg(feature = "generate-certificates")]
pub fn generate(display_name: &str, now: i64, lifetime: i64) -> Result<(String, Vec<u8>)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let fail = |what: &str| {
        Error::failure(format!(
            "cannot generate the certificate `{display_name}`: {what}"
        ))
    };
    // rsa only makes the key; ring (through rcgen) signs with it.
    let private =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|_| fail("no RSA key"))?;
    let key_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| fail("cannot encode the key"))?
        .to_string();
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|_| fail("cannot load the key"))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|_| fail("bad parameters"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, display_name);
    // rcgen's dates are `time::OffsetDateTime`s, reached without naming that crate.
    let at = |t: i64| {
        u64::try_from(t)
            .map(|s| rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(s))
            .map_err(|_| fail("a date out of range"))
    };
    params.not_before = at(now - 300)?;
    params.not_after = at(now + lifetime)?;
    let cert = params.self_signed(&key_pair).map_err(|_| fail("cannot sign"))?;
    let der = cert.der().to_vec();
    Ok((format!("{}{key_pem}", cert.pem()), der))
}

/// Without the `generate-certificates` feature: refused, naming the certificate.
#[cfg(not(feature = "generate-certificates"))]
pub fn generate(display_name: &str, _now: i64, _lifetime: i64) -> Result<(String, Vec<u8>)> {
    Err(Error::failure(format!(
        "cannot generate the certificate `{display_name}`: this build of provision has no certificate generation"
    ))
    .with_help("use `pem = \"path\"` with a certificate of your own, or a build with the `generate-certificates` feature"))
}

fn generated(out_path: &Path, app: &DesiredApp, cert: &DesiredCertificate, now: i64) -> Result<LocalCert> {
    let path = key_file_path(out_path, &app.unique_name, &cert.display_name);
    let lifetime = cert
        .lifetime
        .unwrap_or(crate::manifest::DEFAULT_CERTIFICATE_LIFETIME);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(der) = first_certificate(&text)
        && let Some((thumbprint, not_before, not_after)) = certificate_facts(&der)
        && not_after - cert.rotate_before.unwrap_or(0) > now
    {
        return Ok(LocalCert {
            der,
            thumbprint,
            not_before,
            not_after,
            path,
            pending: None,
        });
    }
    let (pem, der) = generate(&cert.display_name, now, lifetime)?;
    let (thumbprint, not_before, not_after) =
        certificate_facts(&der).ok_or_else(|| Error::failure("a generated certificate does not parse"))?;
    Ok(LocalCert {
        der,
        thumbprint,
        not_before,
        not_after,
        path,
        pending: Some(Secret::new(pem)),
    })
}

/// Read what this machine holds for every app of the manifest, in manifest order.
pub fn read(desired: &Desired, now: i64) -> Result<Vec<LocalApp>> {
    let out_path = output_path(desired);
    let mut stored = out_path.as_deref().map(stored_secrets).unwrap_or_default();
    let base = desired.source.parent().unwrap_or(Path::new(""));
    let mut apps = Vec::new();
    for app in &desired.apps {
        let mut certificates = Vec::new();
        for cert in app.certificates.iter().flatten() {
            certificates.push(match (&cert.source, &out_path) {
                (CertificateSource::Pem(p), _) => Some(read_pem(&base.join(p), cert, &desired.source)?),
                (CertificateSource::Generate, Some(out)) => Some(generated(out, app, cert, now)?),
                _ => None,
            });
        }
        apps.push(LocalApp {
            stored: stored.remove(&app.unique_name).unwrap_or_default(),
            certificates,
        });
    }
    Ok(apps)
}

/// Write a file only its owner may read (mode 0600 from its creation), atomically.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    crate::fsutil::write_atomic(path, contents.as_bytes(), crate::fsutil::Access::Private)
        .map_err(|e| Error::failure(format!("cannot write `{}`", path.display())).with_source(e))
}
