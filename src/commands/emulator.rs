//! `provision emulator`: start the local Graph + identity emulator, print the ready line (one
//! JSON object on stdout, SPEC.md "Emulator") and serve until SIGINT or SIGTERM.

use crate::cli::EmulatorArgs;
use crate::emulator::{self, Config};
use crate::error::{Error, Result};
use crate::output::Printer;

pub async fn run(args: &EmulatorArgs, printer: &Printer) -> Result<i32> {
    let running = emulator::start(Config::from_args(args)).await?;
    let line = serde_json::to_string(&running.ready)
        .map_err(|e| Error::failure("cannot render the ready line").with_source(e))?;
    printer.outln(&line);
    wait_for_stop().await?;
    running.shutdown().await;
    Ok(0)
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
