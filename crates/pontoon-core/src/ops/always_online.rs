//! A user's choice to stay online while away (`crate::session::away`): one implementation
//! for every interface that changes it (the user's ad-hoc command today; the operator's
//! tools may follow).

use pontoon_store::{Store, TransportPolicy};

use super::OpsError;

/// Records that `user` stays online on `transport` while away (`on`), or not, under
/// `policy`; returns the sentence for the user. Refused when the user is not registered,
/// and turning it on when the operator keeps nobody online while away.
pub async fn set(
    store: &Store,
    (transport, policy): (&str, &TransportPolicy),
    user: &str,
    on: bool,
) -> Result<String, OpsError> {
    if on && policy.always_online_limit == 0 {
        return Err(OpsError::Invalid(
            "The operator of this gateway keeps nobody online while away.".to_owned(),
        ));
    }
    if !store.set_always_online(user, transport, Some(on)).await? {
        return Err(OpsError::NotFound(
            "You are not registered with this transport; register first.".to_owned(),
        ));
    }
    Ok(if on {
        format!(
            "You stay online while away: when your last client goes offline, your session stays connected and in its rooms (the gateway keeps at most {} users online while away). What is said in your rooms waits in their history; direct messages wait with your server.",
            policy.always_online_limit
        )
    } else {
        "You are logged out when your last client goes offline.".to_owned()
    })
}

/// Whether `user` stays online while away on `transport`: their choice, else the policy's
/// default.
pub async fn get(
    store: &Store,
    (transport, policy): (&str, &TransportPolicy),
    user: &str,
) -> Result<bool, OpsError> {
    let reg = store.registration(user, transport).await?.ok_or_else(|| {
        OpsError::NotFound("You are not registered with this transport; register first.".to_owned())
    })?;
    Ok(reg.always_online.unwrap_or(policy.always_online_default))
}

/// Whether `user`'s direct messages on `transport` wait at the gateway while they are away
/// (`true`) or go to their server at once (`false`, the default); component mode
/// (`crate::session::away_messages`).
pub async fn keeps_messages(store: &Store, transport: &str, user: &str) -> Result<bool, OpsError> {
    let state = crate::state::TransportState::new(store.clone(), transport, user);
    let value = state
        .get(crate::session::away_messages::AWAY_MESSAGES_KEY)
        .await?;
    Ok(value.as_deref() == Some(b"keep".as_slice()))
}

/// Records where `user`'s direct messages go while they are away (see [`keeps_messages`]).
pub async fn set_keeps_messages(
    store: &Store,
    transport: &str,
    user: &str,
    keep: bool,
) -> Result<(), OpsError> {
    let state = crate::state::TransportState::new(store.clone(), transport, user);
    let value: &[u8] = if keep { b"keep" } else { b"send" };
    state
        .put(crate::session::away_messages::AWAY_MESSAGES_KEY, value)
        .await?;
    Ok(())
}
