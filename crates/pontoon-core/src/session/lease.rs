//! The session's lease (`crate::cluster`): with several instances on one store, a session
//! logs in to the network only once it holds the lease of its (transport, user), so one
//! account has one legacy connection. A lease held elsewhere is asked for (the user is
//! here now: the session moves), and waited for while its holder ends its session or, dead,
//! lets it lapse.

use std::time::Duration;

use jid::BareJid;
use pontoon_store::Lease;
use tracing::{info, warn};

use super::SessionContext;
use crate::cluster::LEASE_TIME;

/// How often a lease held elsewhere is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Takes the lease: `Ok(true)` once held, `Ok(false)` without a cluster (one instance),
/// `Err` with what to tell the user when another live instance kept it. A session the
/// gateway started by itself (`resume`: always online, after a restart or a takeover) does
/// not ask the holder to move: where several instances are active at once (ejabberd's
/// balanced components), each would start it; the holder keeps it.
pub(super) async fn take(
    ctx: &SessionContext,
    user: &BareJid,
    resume: bool,
) -> Result<bool, String> {
    let Some(cluster) = &ctx.cluster else {
        return Ok(false);
    };
    // Long enough for the holder to end its session, or to be dead for good.
    let deadline = tokio::time::Instant::now() + LEASE_TIME * 2;
    let mut asked = false;
    loop {
        let holder = match cluster.acquire(&ctx.transport_name, user.as_str()).await {
            Ok(Lease::Acquired) => return Ok(true),
            Ok(Lease::Held { instance, .. }) => instance,
            Err(e) => {
                warn!(error = %e, "could not take the session's lease; trying again");
                String::new()
            }
        };
        if !asked && !resume && !holder.is_empty() {
            info!(%holder, "the session is open on another instance: asking it to move here");
            cluster
                .ask_release(&ctx.transport_name, user.as_str())
                .await;
            asked = true;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "Your session with {} is open on another instance of the gateway{}; try again in a moment.",
                ctx.display_name,
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({holder})")
                }
            ));
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Gives the lease up as the session ends.
pub(super) async fn give_up(ctx: &SessionContext, user: &BareJid) {
    if let Some(cluster) = &ctx.cluster {
        cluster.release(&ctx.transport_name, user.as_str()).await;
    }
}
