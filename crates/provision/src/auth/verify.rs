//! Checking a delegated access token the way the API that receives it would
//! (`access-tokens.md` "Validate tokens"; docs/graph-notes.md §7 "Access-token claims to
//! validate"): the signature against the tenant's signing keys, found through its OpenID
//! metadata; `aud`; `iss` and `tid`; `exp` and `nbf`; the client (`appid` or `azp`); and that
//! `scp` holds every delegated permission the manifest asks for. Every check is reported, so a
//! failure names everything that is wrong at once.
//!
//! The v2.0 metadata names the v2 issuer (`{authority}/{tid}/v2.0`); tokens for resources that
//! take v1.0 tokens (Microsoft Graph, the Defender APIs) carry the v1 issuer, which the v1.0
//! metadata (`{authority}/{tenant}/.well-known/openid-configuration`) names.

use std::collections::BTreeSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// What the token must show.
#[derive(Debug, Clone)]
pub struct Expected {
    pub tenant_id: String,
    pub client_id: String,
    /// Accepted `aud` values: the resource URL (v1 tokens) and the resource's appId (v2).
    pub audiences: Vec<String>,
    /// Delegated permission values `scp` must hold.
    pub scopes: BTreeSet<String>,
    /// Application permission values `roles` must hold (an app-only token: then `scp` is not
    /// checked).
    pub roles: Option<BTreeSet<String>>,
}

/// One check and how it went.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<T> {
    let response = crate::trace::send(http, http.get(url))
        .await
        .map_err(|e| Error::unreachable(what, url, &e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::failure(format!("{what} `{url}` answered {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| Error::failure(format!("{what} `{url}` is not the expected JSON")).with_source(e))
}

/// Verify `token` against the tenant's published keys and `expected`. Network failures are
/// errors; a token that fails a check gives a report with that check failed.
pub async fn verify(
    http: &reqwest::Client,
    authority_url: &str,
    token: &str,
    expected: &Expected,
    now: i64,
) -> Result<Report> {
    let authority = authority_url.trim_end_matches('/');
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Error::auth("the access token is not a JWT").with_source(e))?;
    let claims = super::unverified_claims(token)
        .ok_or_else(|| Error::auth("the access token's claims cannot be read"))?;
    let tenant = &expected.tenant_id;
    let v2: Metadata = get_json(
        http,
        &format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
        "the OpenID metadata",
    )
    .await?;
    let is_v1 = claims.get("ver").and_then(Value::as_str) == Some("1.0");
    let issuer_template = if is_v1 {
        let v1: Metadata = get_json(
            http,
            &format!("{authority}/{tenant}/.well-known/openid-configuration"),
            "the OpenID metadata",
        )
        .await?;
        v1.issuer
    } else {
        v2.issuer.clone()
    };
    let jwks: JwkSet = get_json(http, &v2.jwks_uri, "the signing keys").await?;

    let mut checks = Vec::new();
    checks.push(signature_check(token, &header, &jwks, &v2.jwks_uri));

    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let aud = text("aud");
    let aud_ok = expected.audiences.iter().any(|a| {
        a.trim_end_matches('/')
            .eq_ignore_ascii_case(aud.trim_end_matches('/'))
    });
    checks.push(compare("aud", &aud, aud_ok, &backticked(&expected.audiences)));
    let iss = text("iss");
    let want_iss = issuer_template.replace("{tenantid}", tenant);
    checks.push(compare("iss", &iss, iss == want_iss, &format!("`{want_iss}`")));
    let tid = text("tid");
    checks.push(compare(
        "tid",
        &tid,
        tid.eq_ignore_ascii_case(tenant),
        &format!("`{tenant}`"),
    ));
    let client = if is_v1 { text("appid") } else { text("azp") };
    checks.push(compare(
        if is_v1 { "appid" } else { "azp" },
        &client,
        client.eq_ignore_ascii_case(&expected.client_id),
        &format!("`{}`", expected.client_id),
    ));
    let exp = claims.get("exp").and_then(Value::as_i64);
    checks.push(Check {
        name: "exp",
        ok: exp.is_some_and(|e| e > now),
        detail: match exp {
            Some(e) if e > now => format!("valid for {} more minutes", (e - now) / 60),
            Some(e) => format!("expired {} seconds ago", now - e),
            None => "missing".to_owned(),
        },
    });
    // Five minutes of clock skew, as Microsoft's validators allow.
    let nbf = claims.get("nbf").and_then(Value::as_i64);
    checks.push(Check {
        name: "nbf",
        ok: nbf.is_some_and(|n| n <= now + 300),
        detail: match nbf {
            Some(n) if n <= now + 300 => "already valid".to_owned(),
            Some(n) => format!("not valid for another {} seconds", n - now),
            None => "missing".to_owned(),
        },
    });
    if let Some(roles) = &expected.roles {
        // An app-only token (client credentials): `roles` holds the application permissions.
        let have: Vec<String> = claims
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let missing: Vec<String> = roles
            .iter()
            .filter(|want| !have.iter().any(|h| h.eq_ignore_ascii_case(want)))
            .cloned()
            .collect();
        checks.push(Check {
            name: "roles",
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("holds {}", backticked(&roles.iter().cloned().collect::<Vec<_>>()))
            } else {
                format!(
                    "lacks {} (has {})",
                    backticked(&missing),
                    if have.is_empty() {
                        "none".to_owned()
                    } else {
                        backticked(&have)
                    }
                )
            },
        });
        return Ok(Report { checks });
    }
    let scp: BTreeSet<String> = text("scp").split_whitespace().map(str::to_owned).collect();
    let missing: Vec<String> = expected
        .scopes
        .iter()
        .filter(|want| !scp.iter().any(|s| s.eq_ignore_ascii_case(want)))
        .cloned()
        .collect();
    checks.push(Check {
        name: "scp",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!(
                "holds {}",
                backticked(&expected.scopes.iter().cloned().collect::<Vec<_>>())
            )
        } else {
            format!(
                "lacks {} (has {})",
                backticked(&missing),
                if scp.is_empty() {
                    "none".to_owned()
                } else {
                    backticked(&scp.into_iter().collect::<Vec<_>>())
                }
            )
        },
    });
    Ok(Report { checks })
}

/// A claim compared with what was expected: the value, and on failure what was wanted.
fn compare(name: &'static str, value: &str, ok: bool, wanted: &str) -> Check {
    let shown = if value.is_empty() {
        "missing".to_owned()
    } else {
        format!("`{value}`")
    };
    Check {
        name,
        ok,
        detail: if ok {
            shown
        } else {
            format!("{shown}, expected {wanted}")
        },
    }
}

fn backticked(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn signature_check(token: &str, header: &jsonwebtoken::Header, jwks: &JwkSet, jwks_uri: &str) -> Check {
    let name = "signature";
    let fail = |detail: String| Check {
        name,
        ok: false,
        detail,
    };
    // Entra signs access tokens with RS256 (`id_token_signing_alg_values_supported`).
    if header.alg != Algorithm::RS256 {
        return fail(format!("algorithm {:?}, expected RS256", header.alg));
    }
    let Some(kid) = header.kid.as_deref() else {
        return fail("the token header names no key (`kid`)".to_owned());
    };
    let Some(jwk) = jwks.find(kid) else {
        return fail(format!(
            "key `{kid}` is not among the tenant's signing keys at `{jwks_uri}`"
        ));
    };
    let key = match DecodingKey::from_jwk(jwk) {
        Ok(k) => k,
        Err(e) => return fail(format!("key `{kid}` cannot be used: {e}")),
    };
    let mut validation = Validation::new(Algorithm::RS256);
    // The claims are checked one by one below, so that each failure is named.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<Value>(token, &key, &validation) {
        Ok(_) => Check {
            name,
            ok: true,
            detail: format!("RS256 with the tenant's key `{kid}`"),
        },
        Err(e) => fail(format!("does not verify with key `{kid}`: {e}")),
    }
}
