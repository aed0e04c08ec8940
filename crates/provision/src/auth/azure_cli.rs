//! The Azure CLI as a credential: `az account get-access-token --resource {graph} --output json`
//! gives a token for the account `az login` signed in (the Azure SDKs' `AzureCliCredential`
//! does the same). Its JSON holds `accessToken`, `expiresOn`, `tenant` and `tokenType`.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// What running `az` gave.
#[derive(Debug)]
pub enum Outcome {
    /// A token (kept out of `Debug` by `Token`).
    Token(Token),
    /// `az` is not installed, or not signed in: `auto` goes on to the next source.
    Unavailable(String),
}

pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    access_token: String,
}

/// The program to run: `az`, or `az.cmd` on Windows where the CLI is a batch file.
fn program() -> &'static str {
    if cfg!(windows) { "az.cmd" } else { "az" }
}

pub async fn get_access_token(resource: &str, tenant: Option<&str>) -> Result<Outcome> {
    let mut cmd = tokio::process::Command::new(program());
    cmd.args([
        "account",
        "get-access-token",
        "--resource",
        resource,
        "--output",
        "json",
    ]);
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let run = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await;
    let output = match run {
        Err(_) => {
            return Err(Error::auth(
                "`az account get-access-token` did not answer within 60 seconds",
            ));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Outcome::Unavailable("`az` is not on PATH".to_owned()));
        }
        Ok(Err(e)) => return Err(Error::auth("cannot run `az`").with_source(e)),
        Ok(Ok(o)) => o,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // az prints "Please run 'az login' to setup account." when nobody is signed in.
        if stderr.contains("az login") {
            return Ok(Outcome::Unavailable("the Azure CLI is not signed in".to_owned()));
        }
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message")
            .trim_start_matches("ERROR:")
            .trim()
            .to_owned();
        return Err(
            Error::auth(format!("`az account get-access-token` failed: {first}"))
                .with_help("run `az login` (with `--tenant` for another tenant), or choose another --auth"),
        );
    }
    let answer: Answer = serde_json::from_slice(&output.stdout).map_err(|e| {
        Error::auth("`az account get-access-token` printed something that is not its JSON").with_source(e)
    })?;
    Ok(Outcome::Token(Token(answer.access_token)))
}
