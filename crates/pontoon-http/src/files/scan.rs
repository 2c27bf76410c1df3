//! The operator's scanner hook (Openfire's HTTP File Upload plugin has a virus-scanner
//! option): every upload is handed to a command before it is served. The command gets the
//! file's path as its last argument; exit status 0 passes the file, anything else (or no
//! answer in time) refuses it, and the file is deleted. The command runs without a shell,
//! with an empty environment but `PATH`, and its output is not kept beyond the log.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// The scanner command.
#[derive(Clone, Debug)]
pub struct Scanner {
    /// The program and its first arguments (the file's path comes last).
    pub command: Vec<String>,
    /// How long one scan may take.
    pub timeout: Duration,
}

/// What the scanner said of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it.
    Clean,
    /// Do not: the scanner's reason, in words for the uploader.
    Refused(String),
}

impl Scanner {
    /// Scans the file at `path`.
    pub(crate) async fn scan(&self, path: &Path) -> Verdict {
        let Some((program, args)) = self.command.split_first() else {
            return Verdict::Clean;
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .arg(path)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = match cmd.spawn() {
            Ok(child) => child.wait_with_output(),
            Err(e) => {
                tracing::warn!(error = %e, program = %program, "the upload scanner could not be started");
                return Verdict::Refused("the file could not be checked".to_owned());
            }
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(out)) if out.status.success() => Verdict::Clean,
            Ok(Ok(out)) => {
                let said = String::from_utf8_lossy(&out.stdout);
                let said: String = said
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                tracing::info!(status = %out.status, said = %said, "the upload scanner refused a file");
                Verdict::Refused("the file was refused by the server's scanner".to_owned())
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the upload scanner failed");
                Verdict::Refused("the file could not be checked".to_owned())
            }
            Err(_) => {
                tracing::warn!(
                    timeout_secs = self.timeout.as_secs(),
                    "the upload scanner took too long"
                );
                Verdict::Refused("the file could not be checked in time".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn scanner(script: &str) -> Scanner {
        Scanner {
            command: vec!["sh".into(), "-c".into(), script.into(), "scan".into()],
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn the_exit_status_decides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"EICAR").unwrap();
        assert_eq!(scanner("exit 0").scan(&file).await, Verdict::Clean);
        assert!(matches!(
            scanner("grep -q EICAR \"$1\" && exit 1; exit 0")
                .scan(&file)
                .await,
            Verdict::Refused(_)
        ));
        let slow = Scanner {
            timeout: Duration::from_millis(100),
            ..scanner("sleep 5")
        };
        assert!(matches!(slow.scan(&file).await, Verdict::Refused(_)));
    }
}
