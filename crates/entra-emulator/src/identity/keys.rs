//! RSA signing keys with their self-signed certificates: the emulator's token-signing key
//! (published in the JWKS) and, in tests, client certificates for `keyCredentials`. Pure apart
//! from drawing randomness: no I/O; persisting the PEM texts is the caller's business.
//!
//! Entra publishes each signing key as `{kty, use, kid, x5t, n, e, x5c, issuer}` where `kid` equals
//! `x5t`, the base64url SHA-1 thumbprint of the certificate in `x5c`
//! (docs/graph-notes.md §7 "OIDC metadata and JWKS").

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha1::Digest as _;

/// Why a key could not be generated or restored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate an RSA key")]
    Generate(#[source] rsa::Error),
    #[error("the private key is not a PKCS#8 or PKCS#1 RSA key in PEM")]
    PrivateKey,
    #[error("cannot encode the private key")]
    Encode(#[source] rsa::pkcs8::Error),
    #[error("cannot build the certificate")]
    Certificate(#[source] rcgen::Error),
    #[error("the certificate is not an X.509 certificate with an RSA public key")]
    BadCertificate,
    #[error("the certificate does not belong to the private key")]
    Mismatch,
}

/// An RSA 2048 key, the self-signed certificate over its public half, and the identifiers Entra
/// derives from that certificate.
#[derive(Clone)]
pub struct SigningKey {
    private: RsaPrivateKey,
    private_pem: String,
    cert_der: Vec<u8>,
    encoding: EncodingKey,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never reaches a log.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA 2048 key with a self-signed certificate whose subject is `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, KeyError> {
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut rng, 2048).map_err(KeyError::Generate)?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::Encode)?
            .to_string();
        let cert_der = self_signed_certificate(&pem, common_name)?;
        Self::assemble(private, pem, cert_der)
    }

    /// Restores a key saved with [`SigningKey::private_key_pem`] and
    /// [`SigningKey::certificate_pem`], so tokens issued before a restart still verify.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::from_pkcs8_pem(private_key_pem)
            .or_else(|_| {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                RsaPrivateKey::from_pkcs1_pem(private_key_pem)
            })
            .map_err(|_| KeyError::PrivateKey)?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(KeyError::Encode)?
            .to_string();
        let cert_der = pem_to_der(certificate_pem).ok_or(KeyError::BadCertificate)?;
        if certificate_public_key(&cert_der)? != RsaPublicKey::from(&private) {
            return Err(KeyError::Mismatch);
        }
        Self::assemble(private, pem, cert_der)
    }

    fn assemble(private: RsaPrivateKey, pem: String, cert_der: Vec<u8>) -> Result<Self, KeyError> {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyError::PrivateKey)?;
        let kid = thumbprint_sha1(&cert_der);
        Ok(SigningKey {
            private,
            private_pem: pem,
            cert_der,
            encoding,
            kid,
        })
    }

    /// The key identifier in token headers and the JWKS; equal to [`SigningKey::x5t`] as in Entra.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The base64url SHA-1 thumbprint of the certificate (`x5t`).
    pub fn x5t(&self) -> &str {
        &self.kid
    }

    /// The base64url SHA-256 thumbprint of the certificate (`x5t#S256`, what MSAL puts in
    /// client assertions: `certificate-credentials.md`).
    pub fn x5t_s256(&self) -> String {
        thumbprint_sha256(&self.cert_der)
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate in standard base64: the form of `x5c` entries and of the `key` of a
    /// Graph `keyCredential`.
    pub fn certificate_base64(&self) -> String {
        STANDARD.encode(&self.cert_der)
    }

    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> String {
        der_to_pem("CERTIFICATE", &self.cert_der)
    }

    /// The private key, PKCS#8 PEM. Secret: for the state file only.
    pub fn private_key_pem(&self) -> &str {
        &self.private_pem
    }

    /// The private key, PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), for tools that want it.
    pub fn private_key_pkcs1_pem(&self) -> Result<String, KeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        self.private
            .to_pkcs1_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|_| KeyError::PrivateKey)
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn decoding_key(&self) -> DecodingKey {
        let public = RsaPublicKey::from(&self.private);
        DecodingKey::from_rsa_raw_components(&public.n().to_bytes_be(), &public.e().to_bytes_be())
    }

    /// This key's JWKS entry, in Entra's field order. `issuer` is the v2 issuer template the
    /// key serves, e.g. `http://127.0.0.1:PORT/{tenantid}/v2.0`.
    pub fn jwk(&self, issuer: &str) -> Value {
        let public = RsaPublicKey::from(&self.private);
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            "x5c": [self.certificate_base64()],
            "issuer": issuer,
        })
    }
}

/// base64url SHA-1 of a certificate's DER: `x5t`.
pub fn thumbprint_sha1(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(cert_der))
}

/// base64url SHA-256 of a certificate's DER: `x5t#S256`.
pub fn thumbprint_sha256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(cert_der))
}

/// The RSA public key inside an X.509 certificate (DER).
pub fn certificate_public_key(cert_der: &[u8]) -> Result<RsaPublicKey, KeyError> {
    use rsa::pkcs8::DecodePublicKey;
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).map_err(|_| KeyError::BadCertificate)?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| KeyError::BadCertificate)?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|_| KeyError::BadCertificate)
}

/// A jsonwebtoken key that checks signatures made by the certificate's private key.
pub fn certificate_decoding_key(cert_der: &[u8]) -> Result<DecodingKey, KeyError> {
    let public = certificate_public_key(cert_der)?;
    Ok(DecodingKey::from_rsa_raw_components(
        &public.n().to_bytes_be(),
        &public.e().to_bytes_be(),
    ))
}

fn self_signed_certificate(pkcs8_pem: &str, common_name: &str) -> Result<Vec<u8>, KeyError> {
    // ring cannot generate RSA keys but signs with an imported one.
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(pkcs8_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(KeyError::Certificate)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(KeyError::Certificate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key_pair).map_err(KeyError::Certificate)?;
    Ok(cert.der().to_vec())
}

/// The DER inside the first PEM block of `text`.
pub fn pem_to_der(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start..];
    let body_start = rest.find('\n')? + 1;
    let body_end = rest.find("-----END ")?;
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// PEM with 64-character lines, as openssl writes it.
pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_matches_the_certificate_and_round_trips_through_pem() {
        let key = SigningKey::generate("test signing key").unwrap();
        let jwk = key.jwk("https://issuer/{tenantid}/v2.0");
        assert_eq!(jwk["kid"], jwk["x5t"]);
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            thumbprint_sha1(key.certificate_der())
        );
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            jwk["x5c"][0].as_str().unwrap(),
            STANDARD.encode(key.certificate_der())
        );
        assert_eq!(
            certificate_public_key(key.certificate_der()).unwrap(),
            RsaPublicKey::from(&key.private)
        );
        // x5t is a SHA-1 (20 bytes → 27 base64url characters), x5t#S256 a SHA-256 (43).
        assert_eq!(key.x5t().len(), 27);
        assert_eq!(key.x5t_s256().len(), 43);

        let restored = SigningKey::from_pem(key.private_key_pem(), &key.certificate_pem()).unwrap();
        assert_eq!(restored.kid(), key.kid());
        let pkcs1 = key.private_key_pkcs1_pem().unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let from_pkcs1 = SigningKey::from_pem(&pkcs1, &key.certificate_pem()).unwrap();
        assert_eq!(from_pkcs1.kid(), key.kid());

        let other = SigningKey::generate("other").unwrap();
        assert!(matches!(
            SigningKey::from_pem(key.private_key_pem(), &other.certificate_pem()),
            Err(KeyError::Mismatch)
        ));
        assert!(format!("{key:?}").contains(key.kid()));
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }
}
