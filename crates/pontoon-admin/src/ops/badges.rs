//! A user's presence badge (`pontoon_core::ops::badges`), as the operator switches it: the
//! console's registration page and the REST API's `/badges/{transport}/{jid}`. The same
//! operation as the user's own `badge on|off` command; the operator's change is logged and
//! audited.

use pontoon_core::ops::audit::{self, action};
use pontoon_core::ops::badges;
use tracing::info;

use super::{OpError, control, path_jid};
use crate::Gateway;

/// Whether `jid`'s presence badge on `transport` is on.
pub(crate) async fn badge(gw: &Gateway, transport: &str, jid: &str) -> Result<bool, OpError> {
    control(gw, transport)?;
    let jid = path_jid(jid)?;
    Ok(badges::is_on(&gw.store, transport, &jid).await?)
}

/// Turns `jid`'s presence badge on `transport` on or off.
pub(crate) async fn set_badge(
    gw: &Gateway,
    transport: &str,
    jid: &str,
    on: bool,
    actor: &str,
) -> Result<(), OpError> {
    control(gw, transport)?;
    let jid = path_jid(jid)?;
    if badges::set(&gw.store, transport, &jid, on).await? {
        let (what, word) = if on {
            (action::BADGE_ON, "on")
        } else {
            (action::BADGE_OFF, "off")
        };
        info!(actor, transport, user = %jid, state = word, "operator switched a user's presence badge");
        audit::record(&gw.store, actor, what, transport, Some(jid.as_str()), "").await;
    }
    Ok(())
}
