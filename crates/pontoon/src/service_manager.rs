//! Tells the service manager how `pontoon run` is doing, through systemd's notification
//! protocol (a unit with `Type=notify`): `STATUS=` with what the gateway still waits for,
//! `READY=1` once it serves (the checks of `/readyz`: the store answers, every enabled
//! transport's component link is up, in server mode the client listener is bound),
//! `WATCHDOG=1` at half the interval the unit asks for (`WatchdogSec=`), and `STOPPING=1`
//! when the shutdown starts. Without `$NOTIFY_SOCKET` (not started by systemd) nothing is
//! sent and no task runs. The protocol itself is the `sd-notify` crate's.

use std::time::Duration;

use pontoon_core::ServiceControl;
use pontoon_core::watchdog::LoopWatch;
use pontoon_store::Store;
use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Readiness is checked after this long, then twice as long each time up to
/// [`CHECK_AT_MOST`] (each check asks the store for the transports' policies).
const CHECK_FIRST: Duration = Duration::from_millis(50);
const CHECK_AT_MOST: Duration = Duration::from_secs(2);

/// What the gateway is made of, for the readiness checks.
pub struct Parts {
    /// The store.
    pub store: Store,
    /// One handle per transport.
    pub services: Vec<ServiceControl>,
    /// Loops every user depends on besides the services' (server mode's client router).
    pub loops: Vec<LoopWatch>,
}

/// Whether a service manager listens (`$NOTIFY_SOCKET` is set).
fn listening() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
}

/// Starts a task telling the service manager about readiness (then pinging its watchdog)
/// until `shutdown`; nothing when no service manager listens.
pub fn spawn(parts: Parts, shutdown: CancellationToken) {
    if listening() {
        tokio::spawn(report(parts, shutdown));
    }
}

/// Tells the service manager the gateway is stopping (systemd then shows "deactivating"
/// at once, not when the process has exited).
pub async fn stopping() {
    if listening() {
        send(Some(NotifyState::Stopping), Some("Stopping".to_owned())).await;
    }
}

async fn report(parts: Parts, shutdown: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut ping = tokio::time::interval(watchdog.unwrap_or(CHECK_AT_MOST));
    let mut check_in = CHECK_FIRST;
    let mut waiting_for = String::new();
    let mut ready = false;
    loop {
        if !ready {
            let reasons =
                pontoon_admin::not_ready(&parts.store, &parts.services, &parts.loops).await;
            if reasons.is_empty() {
                ready = true;
                send(Some(NotifyState::Ready), Some("Serving".to_owned())).await;
                info!("ready: told the service manager");
                if watchdog.is_none() {
                    return;
                }
            } else {
                let status = format!("Waiting: {}", reasons.join("; "));
                if status != waiting_for {
                    send(None, Some(status.clone())).await;
                    waiting_for = status;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(check_in), if !ready => {
                check_in = (check_in * 2).min(CHECK_AT_MOST);
            }
            _ = ping.tick(), if watchdog.is_some() => {
                send(Some(NotifyState::Watchdog), None).await;
            }
        }
    }
}

/// Sends one notification. The send is a blocking system call (on a datagram socket
/// whose reader may be slow), so it runs off the async threads; a failure is logged,
/// never fatal: the gateway serves whether systemd heard or not.
async fn send(state: Option<NotifyState<'static>>, status: Option<String>) {
    let sent = tokio::task::spawn_blocking(move || {
        let mut states: Vec<NotifyState<'_>> = state.into_iter().collect();
        if let Some(status) = &status {
            states.push(NotifyState::Status(status));
        }
        sd_notify::notify(&states)
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "cannot notify the service manager ($NOTIFY_SOCKET)"),
        Err(e) => warn!(error = %e, "cannot notify the service manager ($NOTIFY_SOCKET)"),
    }
}
