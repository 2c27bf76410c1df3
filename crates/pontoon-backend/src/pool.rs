//! The processes of one backend transport: the first started with the transport (its
//! hello describes the transport), more started as users come when the operator limits
//! the users per process. A session stays on the process it was given for its life.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::config::BackendConfig;
use crate::process::{Process, StartError};
use crate::protocol::{Hello, SessionId};
use crate::session::Input;
use crate::worker::{Status, Worker};

/// Inputs waiting for a worker: commands of all its sessions. Session tasks wait when it
/// is full, so a slow backend slows its own users only.
const WORKER_QUEUE: usize = 1024;

/// A process slot: how to reach its worker, and what it shows.
struct Slot {
    input: mpsc::Sender<Input>,
    status: Arc<Status>,
    worker: tokio::task::JoinHandle<()>,
}

/// A place on a process, held by a session for its life; freed when dropped.
pub struct Seat(Arc<AtomicUsize>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All the processes of one backend transport.
pub struct Pool {
    cfg: Arc<BackendConfig>,
    hello: Arc<Hello>,
    slots: Mutex<Vec<Slot>>,
    next_session: AtomicU64,
}

/// What the console shows of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessView {
    /// Running, or restarting and why.
    pub state: String,
    /// Restarts so far.
    pub restarts: u32,
    /// Sessions on it.
    pub sessions: usize,
    /// Its last stderr lines.
    pub stderr: Vec<String>,
}

impl Pool {
    /// Starts the first process, which describes the transport in its hello.
    pub async fn start(cfg: BackendConfig) -> Result<(Pool, Arc<Hello>), StartError> {
        let cfg = Arc::new(cfg);
        let status = Arc::new(Status::default());
        let (process, hello) = Process::start(&cfg, &status.tail).await?;
        crate::addresses::Addresses::new(&hello.addresses)
            .map_err(|e| StartError::Refused(e.to_string()))?;
        let hello = Arc::new(hello);
        let pool = Pool {
            cfg,
            hello: hello.clone(),
            slots: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(1),
        };
        pool.add_slot(status, Some(process));
        Ok((pool, hello))
    }

    /// Starts a worker (and, without `process`, its process) in a new slot; its input.
    fn add_slot(&self, status: Arc<Status>, process: Option<Process>) -> mpsc::Sender<Input> {
        let (input, inputs) = mpsc::channel(WORKER_QUEUE);
        let worker = Worker::new(self.cfg.clone(), self.hello.clone(), status.clone(), inputs);
        let worker = tokio::spawn(worker.run(process));
        if let Ok(mut slots) = self.slots.lock() {
            slots.push(Slot {
                input: input.clone(),
                status,
                worker,
            });
        }
        input
    }

    /// Stops every process as the protocol says (input closed, a moment to exit, then
    /// killed), for Pontoon's shutdown.
    pub async fn stop(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .map(|mut s| s.drain(..).collect())
            .unwrap_or_default();
        for slot in &slots {
            let _ = slot.input.try_send(Input::Shutdown);
        }
        for slot in slots {
            let _ = slot.worker.await;
        }
    }

    /// A new session's number, the worker to serve it and its seat there: the least busy
    /// process with room, or a new one.
    pub fn assign(&self) -> (SessionId, mpsc::Sender<Input>, Seat) {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let limit = match self.cfg.users_per_process {
            0 => usize::MAX,
            n => n,
        };
        let found = self.slots.lock().ok().and_then(|slots| {
            slots
                .iter()
                .filter(|s| s.status.sessions.load(Ordering::Relaxed) < limit)
                .min_by_key(|s| s.status.sessions.load(Ordering::Relaxed))
                .map(|s| (s.input.clone(), s.status.sessions.clone()))
        });
        let (input, count) = match found {
            Some(found) => found,
            None => {
                let status = Arc::new(Status::default());
                let count = status.sessions.clone();
                (self.add_slot(status, None), count)
            }
        };
        count.fetch_add(1, Ordering::Relaxed);
        (session, input, Seat(count))
    }

    /// Each process, for the console.
    pub fn view(&self) -> Vec<ProcessView> {
        self.slots
            .lock()
            .map(|slots| {
                slots
                    .iter()
                    .map(|s| ProcessView {
                        state: s.status.state(),
                        restarts: s.status.restarts(),
                        sessions: s.status.sessions.load(Ordering::Relaxed),
                        stderr: s.status.tail.lines(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
