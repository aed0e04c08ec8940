//! Certificate credentials: a PEM file holding the app's certificate and its private key
//! (`AZURE_CLIENT_CERTIFICATE_PATH`, as in the Azure SDKs), turned into the signed client
//! assertion Entra documents in `certificate-credentials.md` (docs/graph-notes.md §7 "Client
//! credentials"): header `alg` PS256, `typ` JWT, `x5t#S256` (the base64url SHA-256 thumbprint of
//! the certificate); claims `aud` = the token endpoint, `iss` = `sub` = the client id, `jti`,
//! `nbf`, `iat`, `exp`. Pure apart from reading the clock: the caller reads the file.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{KeyPair as _, RsaKeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use sha2::Digest as _;

/// Why a certificate file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("it holds no `CERTIFICATE` block")]
    NoCertificate,
    #[error("it holds no private key (`PRIVATE KEY` or `RSA PRIVATE KEY` block)")]
    NoKey,
    #[error("its private key is encrypted")]
    EncryptedKey,
    #[error("its private key is not an RSA key in PKCS#8 or PKCS#1 form")]
    BadKey,
    #[error("its certificate is not an X.509 certificate with an RSA public key")]
    BadCertificate,
    #[error("its certificate does not belong to its private key")]
    Mismatch,
}

/// A certificate and its key, ready to sign assertions. The key never reaches `Debug`.
pub struct ClientCertificate {
    cert_der: Vec<u8>,
    key: EncodingKey,
    pub not_before: i64,
    pub not_after: i64,
    /// base64url SHA-256 of the certificate: `x5t#S256`, and what the portal's thumbprint
    /// column shows (in hex, SHA-1) is a different digest of the same bytes.
    pub thumbprint_s256: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint_s256", &self.thumbprint_s256)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// `rsaEncryption` (RFC 8017 appendix A.1): the algorithm of an RSA public key.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

impl ClientCertificate {
    /// The first certificate and the first private key of a PEM file (in any order; PEM
    /// parsing is rustls' `pki_types::pem`, the key's checks are ring's).
    pub fn from_pem(text: &str) -> Result<Self, CertificateError> {
        use x509_cert::der::Decode;

        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(CertificateError::EncryptedKey);
        }
        let cert_der = CertificateDer::pem_slice_iter(text.as_bytes())
            .find_map(Result::ok)
            .ok_or(CertificateError::NoCertificate)?
            .to_vec();
        let (pair, key) = match PrivateKeyDer::from_pem_slice(text.as_bytes()) {
            Ok(PrivateKeyDer::Pkcs8(der)) => {
                let pair =
                    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| CertificateError::BadKey)?;
                // jsonwebtoken signs with a PKCS#1 key and unwraps a PKCS#8 one from PEM.
                let pem = pem_rfc7468::encode_string(
                    "PRIVATE KEY",
                    pem_rfc7468::LineEnding::LF,
                    der.secret_pkcs8_der(),
                )
                .map_err(|_| CertificateError::BadKey)?;
                let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| CertificateError::BadKey)?;
                (pair, key)
            }
            Ok(PrivateKeyDer::Pkcs1(der)) => {
                let pair =
                    RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|_| CertificateError::BadKey)?;
                (pair, EncodingKey::from_rsa_der(der.secret_pkcs1_der()))
            }
            Ok(_) => return Err(CertificateError::BadKey),
            Err(_) => return Err(CertificateError::NoKey),
        };
        let cert =
            x509_cert::Certificate::from_der(&cert_der).map_err(|_| CertificateError::BadCertificate)?;
        let spki = &cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
            return Err(CertificateError::BadCertificate);
        }
        // Both sides are the DER `RSAPublicKey` (RFC 8017 A.1.1): equal keys, equal bytes.
        if spki.subject_public_key.raw_bytes() != pair.public_key().as_ref() {
            return Err(CertificateError::Mismatch);
        }
        let validity = &cert.tbs_certificate.validity;
        let secs =
            |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        Ok(ClientCertificate {
            thumbprint_s256: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert_der)),
            not_before: secs(&validity.not_before),
            not_after: secs(&validity.not_after),
            cert_der,
            key,
        })
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A client assertion for `client_id`, addressed to `token_endpoint`, valid ten minutes
    /// (MSAL's lifetime for assertions).
    pub fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            iss: &'a str,
            sub: &'a str,
            jti: String,
            nbf: i64,
            iat: i64,
            exp: i64,
        }
        let mut header = Header::new(Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint_s256.clone());
        let claims = Claims {
            aud: token_endpoint,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + 600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entra_emulator::identity::keys::{SigningKey, certificate_decoding_key};

    #[test]
    fn pem_with_certificate_and_key_signs_a_documented_assertion() {
        let k = SigningKey::generate("client").unwrap();
        for key_pem in [k.private_key_pem().to_owned(), k.private_key_pkcs1_pem().unwrap()] {
            let pem = format!("{}{}", key_pem, k.certificate_pem());
            let cert = ClientCertificate::from_pem(&pem).unwrap();
            assert_eq!(cert.thumbprint_s256, k.x5t_s256());
            assert!(cert.not_after > cert.not_before);
            assert!(!format!("{cert:?}").contains("PRIVATE"));
            let now = chrono::Utc::now().timestamp();
            let aud = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
            let jwt = cert.assertion("client-id", aud, now).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.alg, Algorithm::PS256);
            assert_eq!(header.x5t_s256.as_deref(), Some(k.x5t_s256().as_str()));
            let mut v = jsonwebtoken::Validation::new(Algorithm::PS256);
            v.set_audience(&[aud]);
            let data = jsonwebtoken::decode::<serde_json::Value>(
                &jwt,
                &certificate_decoding_key(k.certificate_der()).unwrap(),
                &v,
            )
            .unwrap();
            assert_eq!(data.claims["iss"], "client-id");
            assert_eq!(data.claims["sub"], "client-id");
            assert!(data.claims["jti"].is_string());
        }
    }

    #[test]
    fn unusable_files_say_why() {
        let k = SigningKey::generate("client").unwrap();
        let other = SigningKey::generate("other").unwrap();
        assert_eq!(
            ClientCertificate::from_pem(k.private_key_pem()).unwrap_err(),
            CertificateError::NoCertificate
        );
        assert_eq!(
            ClientCertificate::from_pem(&k.certificate_pem()).unwrap_err(),
            CertificateError::NoKey
        );
        assert_eq!(
            ClientCertificate::from_pem(&format!("{}{}", other.private_key_pem(), k.certificate_pem()))
                .unwrap_err(),
            CertificateError::Mismatch
        );
        assert_eq!(
            ClientCertificate::from_pem(&format!(
                "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                k.certificate_pem()
            ))
            .unwrap_err(),
            CertificateError::EncryptedKey
        );
    }
}
