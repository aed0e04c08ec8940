//! [`Run`]: the binary run to its end with its output captured, or killed with SIGKILL at a
//! deadline (a run that does not end is a hang; the crash scenario kills on purpose).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A run that takes longer than this is a hang.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// How `provision` signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth<'a> {
    /// The seeded administrator client and its secret.
    ClientSecret,
    /// Another client and its secret.
    Client { id: &'a str, secret: &'a str },
    /// `PROVISION_AUTH=access-token` with this token.
    AccessToken(&'a str),
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    /// Killed by the harness: it ran past [`RUN_TIMEOUT`].
    pub hung: bool,
    /// Killed by the harness on purpose (the crash scenario).
    pub killed: bool,
    pub elapsed: Duration,
    pub args: String,
}

impl Run {
    /// Spawn `cmd` and wait for its end; with `kill_after`, send SIGKILL at that moment if it
    /// is still running (else at [`RUN_TIMEOUT`], and the run is a hang).
    pub async fn spawn(mut cmd: tokio::process::Command, args: &[&str], kill_after: Option<Duration>) -> Run {
        let started = std::time::Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn provision");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let read_out = tokio::spawn(async move {
            let mut s = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut s).await;
            s
        });
        let read_err = tokio::spawn(async move {
            let mut s = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut s).await;
            s
        });
        let limit = kill_after.unwrap_or(RUN_TIMEOUT);
        let (status, killed, hung) = match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status.ok(), false, false),
            Err(_) => {
                // SIGKILL: no destructor, no flush, as a crash or an OOM kill would do.
                let _ = child.start_kill();
                (
                    child.wait().await.ok(),
                    kill_after.is_some(),
                    kill_after.is_none(),
                )
            }
        };
        let stdout = String::from_utf8_lossy(&read_out.await.unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&read_err.await.unwrap_or_default()).into_owned();
        Run {
            status,
            stdout,
            stderr,
            hung,
            killed,
            elapsed: started.elapsed(),
            args: args.first().copied().unwrap_or_default().to_owned(),
        }
    }

    pub fn code(&self) -> i32 {
        self.status.and_then(|s| s.code()).unwrap_or(-1)
    }

    pub fn ok(&self) -> bool {
        self.code() == 0
    }

    /// A panic, or death by a signal the harness did not send (abort, stack overflow).
    pub fn panicked(&self) -> bool {
        if self.stderr.contains("panicked at") || self.code() == 101 {
            return true;
        }
        !self.killed && !self.hung && self.status.is_some_and(|s| s.code().is_none())
    }

    /// A clear error: exit 1, 3 or 4, one `error:` line with a message, no panic, and under
    /// `--format json` either nothing or one whole JSON document on stdout.
    pub fn clear_error(&self) -> bool {
        let stdout_ok = self.stdout.trim().is_empty()
            || !self.stdout.trim_start().starts_with('{')
            || serde_json::from_str::<Value>(&self.stdout).is_ok();
        matches!(self.code(), 1 | 3 | 4)
            && !self.panicked()
            && stdout_ok
            && self
                .stderr
                .lines()
                .any(|l| l.trim_start().starts_with("error") && l.len() > "error: ".len() + 10)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} exit {:?} after {:.1} s (hung {}, killed {})\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.status,
            self.elapsed.as_secs_f64(),
            self.hung,
            self.killed,
            self.stdout,
            self.stderr
        )
    }
}
