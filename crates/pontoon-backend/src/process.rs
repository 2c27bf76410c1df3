//! One running backend process: started with the operator's command line and nothing else
//! of Pontoon's environment, its output read by a task of its own (so a line half-read is
//! never lost to a `select!`), its input written by another with flow control
//! ([`crate::stdin`]), its stderr kept as a short tail for the console.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{BackendConfig, DEFAULT_PATH};
use crate::framing::{self, LineError};
use crate::protocol::{FromBackend, Hello, PROTOCOL_VERSION, ToBackend};
use crate::stdin::{Closed, Stdin};

/// Lines of stderr kept for the console.
const TAIL_LINES: usize = 20;
/// Longest stderr line kept (longer ones are cut).
const TAIL_LINE_BYTES: usize = 1024;
/// Stderr lines logged per process before the rest are only kept in the tail.
const LOGGED_LINES: u32 = 200;
/// Lines read ahead of the worker.
const READ_AHEAD: usize = 256;

/// The last lines a backend wrote to stderr, newest last.
#[derive(Clone, Debug, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &str) {
        let mut line = line.to_owned();
        if line.len() > TAIL_LINE_BYTES {
            let mut cut = TAIL_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push('…');
        }
        if let Ok(mut lines) = self.0.lock() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Why a backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The command is empty.
    #[error("no command configured")]
    NoCommand,
    /// The program could not be run.
    #[error("cannot run {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It said nothing in time.
    #[error("no hello within {0:?}")]
    NoHello(Duration),
    /// It ended, or closed its output, before saying hello.
    #[error("it ended before its hello")]
    Ended,
    /// Its first line was not a hello.
    #[error("its first line is not a hello: {0}")]
    NotHello(String),
    /// It speaks another protocol version.
    #[error("it speaks protocol version {0}, Pontoon speaks {PROTOCOL_VERSION}")]
    Version(u32),
    /// It did not take its welcome (the options refused, most likely): it ended, or did
    /// not answer the first ping, with its last words on stderr.
    #[error("it did not take its welcome ({why}){}", last_words(.stderr))]
    NotWelcomed {
        /// What happened.
        why: String,
        /// Its last lines on stderr.
        stderr: Vec<String>,
    },
    /// Its hello was refused.
    #[error("its hello: {0}")]
    Refused(String),
}

/// A line from the backend, as the reader task passes it on.
pub type Line = Result<FromBackend, LineError>;

/// A started backend.
pub struct Process {
    child: Child,
    /// Lines it wrote, parsed; closed when its output ends.
    pub lines: mpsc::Receiver<Line>,
    /// What it reads.
    pub stdin: Stdin,
}

impl Process {
    /// Starts the backend `cfg` describes, reads its hello and welcomes it with the
    /// transport's options; it is started once it answered a first ping, so a backend
    /// that refuses its options fails here, with its reason, instead of being restarted
    /// again and again.
    pub async fn start(cfg: &BackendConfig, tail: &Tail) -> Result<(Process, Hello), StartError> {
        let (program, args) = cfg.command.split_first().ok_or(StartError::NoCommand)?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .envs(&cfg.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Not in Pontoon's process group: a Ctrl-C at Pontoon's terminal is Pontoon's to
            // handle; the backend ends when its input closes.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &cfg.working_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|source| StartError::Spawn {
            program: program.clone(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(StartError::Ended);
        };
        tokio::spawn(keep_stderr(stderr, tail.clone(), cfg.name.clone()));
        let (line_tx, mut lines) = mpsc::channel(READ_AHEAD);
        tokio::spawn(read_lines(stdout, line_tx));
        let stdin = Stdin::new(stdin);
        let first = tokio::time::timeout(cfg.limits.hello_timeout, lines.recv())
            .await
            .map_err(|_| StartError::NoHello(cfg.limits.hello_timeout))?;
        let hello = match first {
            None => return Err(StartError::Ended),
            Some(Ok(FromBackend::Hello(hello))) => hello,
            Some(Ok(other)) => return Err(StartError::NotHello(format!("{other:?}"))),
            Some(Err(e)) => return Err(StartError::NotHello(e.to_string())),
        };
        if hello.protocol != PROTOCOL_VERSION {
            return Err(StartError::Version(hello.protocol));
        }
        if hello.vocabulary > pontoon_core::legacy::VOCABULARY_VERSION {
            // Its newer variants will be refused line by line; what both know works.
            warn!(
                transport = %cfg.name,
                theirs = hello.vocabulary,
                ours = pontoon_core::legacy::VOCABULARY_VERSION,
                "the backend speaks a newer vocabulary than this Pontoon"
            );
        }
        let mut process = Process {
            child,
            lines,
            stdin,
        };
        process.welcome(cfg, tail).await?;
        Ok((process, hello))
    }

    /// Sends the welcome and a first ping, and waits for its pong.
    async fn welcome(&mut self, cfg: &BackendConfig, tail: &Tail) -> Result<(), StartError> {
        let refused = |why: String| StartError::NotWelcomed {
            why,
            stderr: tail.lines(),
        };
        let welcome = ToBackend::Welcome {
            protocol: PROTOCOL_VERSION,
            options: cfg.options.clone(),
        };
        self.send(&welcome)
            .and_then(|()| self.send(&ToBackend::Ping { request: 0 }))
            .map_err(|e| refused(e.to_string()))?;
        let answered = async {
            loop {
                match self.lines.recv().await {
                    Some(Ok(FromBackend::Pong { request: 0 })) => return Ok(()),
                    Some(_) => {}
                    None => return Err("it ended".to_owned()),
                }
            }
        };
        match tokio::time::timeout(cfg.limits.hello_timeout, answered).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => {
                // Its stderr is read by another task: a moment for its last words.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(refused(why))
            }
            Err(_) => Err(refused(format!(
                "no answer to a ping within {:?}",
                cfg.limits.hello_timeout
            ))),
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Queues `message` to be written; fails once the backend's input is closed.
    pub fn send(&self, message: &ToBackend) -> Result<(), Closed> {
        // Serialising owned vocabulary data cannot fail; were it to, nothing is sent.
        let line = serde_json::to_vec(message).map_err(|_| Closed)?;
        self.stdin.send(line)
    }

    /// Kills the backend (if it still runs) and says how it ended.
    pub async fn end(mut self) -> String {
        // Its own exit first, if it already made one.
        if let Ok(Some(status)) = self.child.try_wait() {
            return describe(status);
        }
        let _ = self.child.start_kill();
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            _ => "it could not be waited for".to_owned(),
        }
    }

    /// Stops the backend the way the protocol says: its input closed, a moment to log its
    /// users out and exit, then killed.
    pub async fn stop(mut self) -> String {
        self.stdin.close();
        self.ended().await
    }

    /// Waits a moment for the backend to exit by itself (its output closed), then says
    /// how it ended.
    pub async fn ended(mut self) -> String {
        if let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await
        {
            return describe(status);
        }
        self.end().await
    }
}

fn last_words(stderr: &[String]) -> String {
    match stderr.last() {
        Some(line) => format!(": {line}"),
        None => String::new(),
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => format!("it was killed by signal {signal}"),
        _ => "it ended".to_owned(),
    }
}

async fn read_lines(stdout: tokio::process::ChildStdout, lines: mpsc::Sender<Line>) {
    let mut reader = framing::Reader::new(BufReader::new(stdout));
    while let Ok(Some(line)) = reader.next::<FromBackend>().await {
        if lines.send(line).await.is_err() {
            return;
        }
    }
}

async fn keep_stderr(stderr: tokio::process::ChildStderr, tail: Tail, name: String) {
    // Read as bytes: a backend's stderr need not be UTF-8.
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut logged = 0;
    loop {
        line.clear();
        // A longer line is kept in pieces, so memory stays bounded.
        match (&mut reader)
            .take(TAIL_LINE_BYTES as u64 * 4)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        tail.push(text);
        if logged < LOGGED_LINES {
            logged += 1;
            info!(transport = %name, "backend: {text}");
            if logged == LOGGED_LINES {
                warn!(transport = %name, "backend: its further stderr lines are only kept for the console");
            }
        }
    }
}
