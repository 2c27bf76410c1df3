//! How the gateway stops: every task it started, each given its own time to end after the
//! shutdown was signalled, in order (services log their users out first).

use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::warn;

/// The gateway's tasks, to stop once the shutdown was signalled.
pub struct Running {
    /// Each service's task and its component link's (component mode), by transport name.
    pub services: Vec<(String, JoinHandle<()>, Option<JoinHandle<()>>)>,
    /// Server mode's client router.
    pub router: Option<JoinHandle<()>>,
    /// The console.
    pub console: Option<JoinHandle<Result<(), pontoon_admin::AdminError>>>,
    /// The public file listener.
    pub file_listener: Option<JoinHandle<()>>,
    /// The run-time debug switch's watcher.
    pub debug_watch: JoinHandle<()>,
    /// The stall watchdog.
    pub watchdog: JoinHandle<()>,
}

impl Running {
    /// Waits for every task to end, each within its own bound (the caller bounds the
    /// whole): services (logging users out), links, router, console, file listener,
    /// watchers. A task still running when its bound passes is aborted.
    pub async fn stop(self) {
        let Running {
            services,
            router,
            console,
            file_listener,
            debug_watch,
            watchdog,
        } = self;
        stop_services(services).await;
        if let Some(router) = router {
            within(router, "the client router").await;
        }
        if let Some(console) = console {
            match tokio::time::timeout(Duration::from_secs(5), console).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => warn!(error = %e, "admin console stopped with an error"),
                Ok(Err(e)) => warn!(error = %e, "admin console task failed"),
                Err(_) => warn!("admin console did not stop in time"),
            }
        }
        if let Some(files) = file_listener {
            within(files, "the file listener").await;
        }
        let _ = debug_watch.await;
        let _ = watchdog.await;
    }
}

/// Waits 5 s for `task`, then aborts it with a warning naming `what`.
async fn within(task: JoinHandle<()>, what: &str) {
    let abort = task.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .is_err()
    {
        warn!("{what} did not stop in time");
        abort.abort();
    }
}

/// Each service, then its component link.
async fn stop_services(services: Vec<(String, JoinHandle<()>, Option<JoinHandle<()>>)>) {
    for (name, service, link) in services {
        // A service gives its sessions 5 s to log out, then returns.
        let abort = service.abort_handle();
        match tokio::time::timeout(Duration::from_secs(7), service).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(transport = %name, error = %e, "service task failed"),
            Err(_) => {
                warn!(transport = %name, "the service did not stop in time; abandoning its sessions");
                abort.abort();
            }
        }
        // The service dropped its side of the link: the link flushes and closes the stream.
        if let Some(link) = link {
            let abort = link.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), link)
                .await
                .is_err()
            {
                warn!(transport = %name, "component link did not close in time");
                abort.abort();
            }
        }
    }
}
