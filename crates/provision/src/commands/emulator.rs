//! `provision emulator`: start the local Graph + identity emulator, print the ready line (one
//! JSON object on stdout, README.md "The emulator") and serve until SIGINT or SIGTERM; or, with
//! `--print-env`, start it in the background and print the environment that points
//! `provision` and Microsoft's libraries at it.

use std::io::BufRead as _;

use serde_json::Value;

use crate::cli::EmulatorArgs;
use crate::emulator::{self, Config, Faults, SeedTenant, identity};
use crate::error::{Error, Result};
use crate::output::Printer;

/// The emulator's configuration from `provision emulator`'s flags.
fn config_from_args(a: &EmulatorArgs) -> Config {
    Config {
        bind: a.bind.clone(),
        port: a.port,
        tls: a.tls,
        state: a.state.clone(),
        faults: {
            let base = if a.strict {
                Faults::strict()
            } else {
                Faults::default()
            };
            Faults {
                latency_ms: a.latency_ms,
                fault_rate: a.fault_rate,
                throttle_rate: a.throttle_rate,
                replication_lag_ms: a.replication_lag_ms.unwrap_or(base.replication_lag_ms),
                purge_lag_ms: a.purge_lag_ms.unwrap_or(base.purge_lag_ms),
                clock_step_ms: a.clock_step_ms,
                alternate_key_navigations: a
                    .alternate_key_navigations
                    .unwrap_or(base.alternate_key_navigations),
                service_principal_upsert: a
                    .service_principal_upsert
                    .unwrap_or(base.service_principal_upsert),
                seed: a.seed,
                ..base
            }
        },
        manual_approval: a.manual_approval,
        identity: identity::routes::Settings {
            device_code_lifetime_secs: a.device_code_lifetime_secs,
            device_code_interval_secs: a.device_code_interval_secs,
            ..identity::routes::Settings::default()
        },
        seed_tenant: a.seed_tenant.map(|apps| SeedTenant {
            apps,
            seed: a.seed.unwrap_or(0),
        }),
        extra_domains: Vec::new(),
        seed_tenant_id: None,
        ..Config::local()
    }
}

pub async fn run(args: &EmulatorArgs, printer: &Printer) -> Result<i32> {
    if args.print_env {
        return print_env(printer);
    }
    let running = emulator::start(config_from_args(args)).await?;
    let line = serde_json::to_string(&running.ready)
        .map_err(|e| Error::failure("cannot render the ready line").with_source(e))?;
    printer.outln(&line);
    wait_for_stop().await?;
    running.shutdown().await;
    Ok(0)
}

/// `--print-env`: run this same command without `--print-env` as a detached background
/// process, read its ready line, and print it as `export` lines for `eval`:
///
/// ```sh
/// eval "$(provision emulator --tls --emulator-state tenant.json --print-env)"
/// provision plan app.toml            # uses PROVISION_GRAPH_URL, AZURE_CLIENT_ID, …
/// kill "$PROVISION_EMULATOR_PID"
/// ```
fn print_env(printer: &Printer) -> Result<i32> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure("cannot find the provision executable").with_source(e))?;
    let args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--print-env")
        .collect();
    let mut command = std::process::Command::new(exe);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // Its own process group: the shell's Ctrl-C and hang-up do not reach it once this returns.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::failure("cannot start the emulator in the background").with_source(e))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| Error::failure("cannot read the emulator's ready line").with_source(e))?;
    }
    let ready: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(_) => {
            let status = child.wait().ok().and_then(|s| s.code());
            return Err(Error::failure(format!(
                "the background emulator stopped before it was ready (exit code {})",
                status.map_or("unknown".to_owned(), |c| c.to_string())
            ))
            .with_help("run the same command without `--print-env` to see its error"));
        }
    };
    for line in env_lines(&ready, child.id()) {
        printer.outln(&line);
    }
    Ok(0)
}

/// The `export` lines for a ready line: the variables `provision` reads (the emulator's Graph
/// and authority URLs, its tenant and administrator client, and under `--tls` its CA) and the
/// ones Microsoft's libraries read (`AZURE_AUTHORITY_HOST` for azure-identity,
/// `REQUESTS_CA_BUNDLE` for Python's requests and so MSAL and the Azure CLI).
pub fn env_lines(ready: &Value, pid: u32) -> Vec<String> {
    let text = |k: &str| ready.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut vars: Vec<(&str, Option<String>)> = vec![
        ("PROVISION_GRAPH_URL", text("graph_url")),
        ("PROVISION_AUTHORITY_URL", text("authority_url")),
        ("AZURE_AUTHORITY_HOST", text("authority_url")),
        ("AZURE_TENANT_ID", text("tenant_id")),
        ("AZURE_CLIENT_ID", text("client_id")),
        ("AZURE_CLIENT_SECRET", text("client_secret")),
    ];
    if let Some(ca) = text("ca_cert") {
        vars.push(("PROVISION_CA_CERT", Some(ca.clone())));
        vars.push(("REQUESTS_CA_BUNDLE", Some(ca)));
    }
    vars.push(("PROVISION_EMULATOR_PID", Some(pid.to_string())));
    vars.into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("export {k}={}", shell_quote(&v))))
        .collect()
}

/// Single-quoted for a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// Resolve on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn wait_for_stop() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Error::failure("cannot listen for SIGTERM").with_source(e))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| Error::failure("cannot listen for Ctrl-C").with_source(e)),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::failure("cannot listen for Ctrl-C").with_source(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_quote_values_and_name_the_ca_only_under_tls() {
        let ready = serde_json::json!({
            "graph_url": "http://127.0.0.1:1/v1.0", "authority_url": "http://127.0.0.1:1",
            "tenant_id": "t", "client_id": "c", "client_secret": "a'b~c", "ca_cert": null
        });
        let lines = env_lines(&ready, 42);
        assert!(lines.contains(&"export AZURE_CLIENT_SECRET='a'\\''b~c'".to_owned()));
        assert!(lines.iter().all(|l| !l.contains("CA")));
        assert_eq!(lines.last().unwrap(), "export PROVISION_EMULATOR_PID='42'");
    }
}
