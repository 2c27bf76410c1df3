//! The operations behind both the console and the REST API, so the two always do the same
//! thing: read the transports' state, change a policy, add/edit/delete registrations, list
//! and end sessions, announce; and console administrators and API tokens ([`admins`],
//! public: `pontoon admin ...` uses it too).
//!
//! Every change goes to the store first and is then pushed to the running service with
//! [`ServiceControl::reload`]. If that push fails (the service is busy or stopping), the
//! change is still stored and the service picks it up at its next store check (every
//! 500 ms), so the failure is logged, not reported as a failed change.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use jid::BareJid;
use pontoon_core::ops::OpsError;
use pontoon_core::ops::audit::{self, action, registration_detail};
use pontoon_core::ops::registrations as ops;
use pontoon_core::{ControlError, ServiceControl, ServiceStats};
use pontoon_store::{Registration, StoreError, TransportPolicy};
use tracing::{info, warn};

use crate::Gateway;

pub mod admins;
mod badges;
mod registrations;
mod sessions;
pub(crate) use badges::{badge, set_badge};
pub(crate) use registrations::{Listed, RegistrationFilter, list_registrations, sort_named};
pub(crate) use sessions::{SessionFilter, SessionsPage, page_limit, sessions_page, state_named};

/// Why an operation was refused or failed. The message is for the operator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpError {
    /// The request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No such transport, registration or session.
    #[error("{0}")]
    NotFound(String),
    /// It exists already, or a legacy id is taken.
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but not acceptable (bad JID, refused options).
    #[error("{0}")]
    Invalid(String),
    /// The store or the service did not answer.
    #[error("{0}")]
    Unavailable(String),
}

impl OpError {
    /// The API's error code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            OpError::BadRequest(_) => "bad_request",
            OpError::NotFound(_) => "not_found",
            OpError::Conflict(_) => "conflict",
            OpError::Invalid(_) => "invalid",
            OpError::Unavailable(_) => "unavailable",
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            OpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Conflict(_) => StatusCode::CONFLICT,
            OpError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            OpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LegacyIdTaken {
                transport,
                legacy_id,
            } => OpError::Conflict(format!(
                "the {transport} account {legacy_id:?} is already registered by another JID"
            )),
            e @ (StoreError::InvalidName { .. } | StoreError::InvalidPassword(_)) => {
                OpError::Invalid(e.to_string())
            }
            StoreError::TokenNameTaken(name) => OpError::Conflict(format!(
                "an API token named {name:?} already exists; revoke it first or choose another name"
            )),
            other => {
                warn!(error = %other, "store error in an operator request");
                OpError::Unavailable(format!("the store failed: {other}"))
            }
        }
    }
}

impl From<ControlError> for OpError {
    fn from(e: ControlError) -> Self {
        OpError::Unavailable(format!("the transport did not answer: {e}"))
    }
}

/// The handle of the configured transport `name`.
pub(crate) fn control<'a>(gw: &'a Gateway, name: &str) -> Result<&'a ServiceControl, OpError> {
    gw.services
        .iter()
        .find(|c| c.transport() == name)
        .ok_or_else(|| OpError::NotFound(format!("no transport named {name:?}")))
}

/// A transport as the operator sees it: static facts, counters and policy.
#[derive(Clone, Debug)]
pub(crate) struct TransportView {
    pub(crate) name: String,
    pub(crate) domain: String,
    pub(crate) display_name: String,
    pub(crate) stats: ServiceStats,
    pub(crate) policy: TransportPolicy,
    /// A backend's processes (none for a transport built in).
    pub(crate) processes: Vec<pontoon_backend::pool::ProcessView>,
}

impl TransportView {
    fn new(gw: &Gateway, c: &ServiceControl, policy: TransportPolicy) -> TransportView {
        TransportView {
            processes: (gw.backend_processes)(c.transport()),
            name: c.transport().to_owned(),
            domain: c.domain().to_owned(),
            display_name: c.display_name().to_owned(),
            stats: c.stats(),
            policy,
        }
    }
}

/// Every configured transport, in configuration order (one store query). A transport
/// without a stored policy has the default one, as the service itself assumes.
pub(crate) async fn transports(gw: &Gateway) -> Result<Vec<TransportView>, OpError> {
    let mut stored: BTreeMap<String, TransportPolicy> =
        gw.store.transport_policies().await?.into_iter().collect();
    Ok(gw
        .services
        .iter()
        .map(|c| TransportView::new(gw, c, stored.remove(c.transport()).unwrap_or_default()))
        .collect())
}

/// One transport.
pub(crate) async fn transport(gw: &Gateway, name: &str) -> Result<TransportView, OpError> {
    let c = control(gw, name)?;
    let policy = gw.store.transport_policy(name).await?.unwrap_or_default();
    Ok(TransportView::new(gw, c, policy))
}

pub(crate) use pontoon_core::ops::policy::PolicyChange;

/// Applies `change` to the policy of `name`: validated, stored, then pushed to the service
/// (and to the log filter when debug logging changed). Returns the new state.
///
/// The values are checked first (they do not depend on the stored policy); the stored
/// policy is then changed in one store transaction, so a concurrent change of other fields
/// (another operator, an ad-hoc command) is kept, not overwritten.
pub(crate) async fn change_policy(
    gw: &Gateway,
    name: &str,
    change: PolicyChange,
    actor: &str,
) -> Result<TransportView, OpError> {
    let c = control(gw, name)?;
    let change = change.checked(|o| (gw.validate_options)(name, o))?;
    let summary = change.summary();
    let (before, p) = pontoon_core::ops::policy::change(&gw.store, name, change).await?;
    if p != before {
        info!(actor, transport = name, change = %summary, "operator changed the transport's policy");
        audit::record(
            &gw.store,
            actor,
            action::POLICY_CHANGE,
            name,
            None,
            &summary,
        )
        .await;
        reload(c).await;
        if p.debug_logging != before.debug_logging {
            apply_debug(gw).await?;
        }
    }
    Ok(TransportView::new(gw, c, p))
}

/// Transports whose connection test is running: one at a time per transport.
static TESTING: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Removes a transport from [`TESTING`] when its test ends (or is dropped).
struct Testing(String);

impl Drop for Testing {
    fn drop(&mut self) {
        if let Ok(mut running) = TESTING.lock() {
            running.remove(&self.0);
        }
    }
}

/// Runs the connection test of `name` with its stored options (the transport bounds the
/// time; nothing blocks the runtime). A second test of the same transport while one runs
/// is refused. `Ok` and `Err` both hold words for the operator.
pub(crate) async fn test_connection(
    gw: &Gateway,
    name: &str,
    actor: &str,
) -> Result<String, OpError> {
    control(gw, name)?;
    let options = gw
        .store
        .transport_policy(name)
        .await?
        .unwrap_or_default()
        .options;
    let _guard = {
        let mut running = TESTING
            .lock()
            .map_err(|_| OpError::Unavailable("connection tests are unavailable".to_owned()))?;
        if !running.insert(name.to_owned()) {
            return Err(OpError::Conflict(format!(
                "a connection test of {name} is already running"
            )));
        }
        Testing(name.to_owned())
    };
    let outcome = (gw.test_connection)(name, &options).await;
    info!(
        actor,
        transport = name,
        ok = outcome.is_ok(),
        "operator tested the transport's connection"
    );
    outcome
        .map(|ok| format!("{name}: {ok}"))
        .map_err(|e| OpError::Invalid(format!("{name}: {e}")))
}

/// Applies the stored debug flags of all transports to the log filter now.
async fn apply_debug(gw: &Gateway) -> Result<(), OpError> {
    let list = crate::logs::debug_transports(&gw.store).await?;
    gw.log_filter.apply(&list);
    Ok(())
}

/// Pushes a stored change to the service (see the module docs for why failure is logged).
async fn reload(c: &ServiceControl) {
    if let Err(e) = c.reload().await {
        warn!(transport = c.transport(), error = %e, "the service did not reload at once; it will pick the change up shortly");
    }
}

/// Checks a user's bare JID (`user@example.org`) and returns it normalised (the check
/// every operator tool shares, ad-hoc commands included).
pub(crate) fn user_jid(jid: &str) -> Result<BareJid, OpError> {
    pontoon_core::control::user_jid(jid).map_err(OpError::Invalid)
}

/// A JID taken from a URL: anything invalid simply names nothing.
pub(crate) fn path_jid(jid: &str) -> Result<BareJid, OpError> {
    user_jid(jid).map_err(|_| OpError::NotFound(format!("{jid:?} is not a user's bare JID")))
}

/// A new registration made by the operator.
#[derive(Clone, Default)]
pub(crate) struct NewRegistration {
    pub(crate) jid: String,
    pub(crate) transport: String,
    pub(crate) legacy_id: String,
    pub(crate) password: Option<String>,
    pub(crate) options: BTreeMap<String, String>,
}

/// What to do with a stored password.
#[derive(Clone, Debug, Default)]
pub(crate) enum PasswordChange {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Replace it.
    Set(String),
    /// Remove it.
    Clear,
}

/// Runs the transport's own checks on the details, under the transport's options in force
/// (its stored policy), and builds the registration: `pontoon_core::ops`, the rules every
/// interface shares.
async fn checked_registration(
    gw: &Gateway,
    jid: &BareJid,
    transport: &str,
    details: ops::Details,
) -> Result<Registration, OpError> {
    let options = gw
        .store
        .transport_policy(transport)
        .await?
        .unwrap_or_default()
        .options;
    Ok(ops::prepare(
        transport,
        jid,
        details,
        ops::Requester::Operator,
        |values| (gw.account_from_form)(transport, &options, values),
    )?)
}

impl From<OpsError> for OpError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::Invalid(t) => OpError::Invalid(t),
            OpsError::Conflict(t) => OpError::Conflict(t),
            OpsError::NotFound(t) => OpError::NotFound(t),
            OpsError::Store(e) => e.into(),
        }
    }
}

/// The registration of `jid` with `transport`.
pub(crate) async fn registration(
    gw: &Gateway,
    transport: &str,
    jid: &str,
) -> Result<Registration, OpError> {
    control(gw, transport)?;
    let jid = path_jid(jid)?;
    gw.store
        .registration(jid.as_str(), transport)
        .await?
        .ok_or_else(|| OpError::NotFound(format!("{jid} is not registered with {transport}")))
}

/// Registers a user on their behalf; they are logged in at their next presence.
pub(crate) async fn add_registration(
    gw: &Gateway,
    new: NewRegistration,
    actor: &str,
) -> Result<Registration, OpError> {
    let c = control(gw, &new.transport)?;
    let jid = user_jid(&new.jid)?;
    let details = ops::Details {
        legacy_id: new.legacy_id,
        password: new.password,
        options: new.options,
    };
    let reg = checked_registration(gw, &jid, &new.transport, details).await?;
    ops::add(&gw.store, &reg, &new.transport).await?;
    info!(actor, transport = %reg.transport, user = %reg.jid, legacy_id = %reg.legacy_id, "operator added a registration");
    let detail = registration_detail(&reg);
    audit::record(
        &gw.store,
        actor,
        action::REGISTRATION_ADD,
        &reg.transport,
        Some(&reg.jid),
        &detail,
    )
    .await;
    reload(c).await;
    stored(gw, &reg).await
}

/// Reads back what the store holds (timestamps are set by the store).
async fn stored(gw: &Gateway, reg: &Registration) -> Result<Registration, OpError> {
    gw.store
        .registration(&reg.jid, &reg.transport)
        .await?
        .ok_or_else(|| OpError::NotFound(format!("{} was deleted meanwhile", reg.jid)))
}

/// Edits a registration; `None` fields are kept. The user's session, if any, is ended and
/// logs in again with the new details.
pub(crate) async fn edit_registration(
    gw: &Gateway,
    transport: &str,
    jid: &str,
    legacy_id: Option<String>,
    password: PasswordChange,
    options: Option<BTreeMap<String, String>>,
    actor: &str,
) -> Result<Registration, OpError> {
    let c = control(gw, transport)?;
    let old = registration(gw, transport, jid).await?;
    let password = match password {
        PasswordChange::Keep => old.secret.clone(),
        PasswordChange::Set(p) => Some(p),
        PasswordChange::Clear => None,
    };
    let jid = path_jid(&old.jid)?;
    let details = ops::Details {
        legacy_id: legacy_id.unwrap_or_else(|| old.legacy_id.clone()),
        password,
        options: options.unwrap_or_else(|| old.options.clone()),
    };
    let reg = checked_registration(gw, &jid, transport, details).await?;
    ops::save(&gw.store, &reg, transport).await?;
    info!(actor, transport, user = %reg.jid, legacy_id = %reg.legacy_id, "operator edited a registration");
    let detail = registration_detail(&reg);
    audit::record(
        &gw.store,
        actor,
        action::REGISTRATION_EDIT,
        transport,
        Some(&reg.jid),
        &detail,
    )
    .await;
    reload(c).await;
    stored(gw, &reg).await
}

/// Deletes a registration; the user's session ends.
pub(crate) async fn delete_registration(
    gw: &Gateway,
    transport: &str,
    jid: &str,
    actor: &str,
) -> Result<(), OpError> {
    let c = control(gw, transport)?;
    let jid = path_jid(jid)?;
    // Through the running service, as the user's own removal: the session ends and the
    // transport says goodbye to the network (a Matrix device logs out).
    let removed = match c.unregister(&jid).await {
        Ok(Ok(removed)) => removed,
        Ok(Err(text)) => return Err(OpError::Unavailable(text)),
        Err(e) => return Err(OpError::Unavailable(e.to_string())),
    };
    if !removed {
        return Err(OpError::NotFound(format!(
            "{jid} is not registered with {transport}"
        )));
    }
    info!(actor, transport, user = %jid, "operator deleted a registration");
    audit::record(
        &gw.store,
        actor,
        action::REGISTRATION_DELETE,
        transport,
        Some(jid.as_str()),
        "",
    )
    .await;
    reload(c).await;
    Ok(())
}

/// Ends a user's session; `NotFound` if they have none.
pub(crate) async fn disconnect(
    gw: &Gateway,
    transport: &str,
    jid: &str,
    actor: &str,
) -> Result<(), OpError> {
    let c = control(gw, transport)?;
    let user = path_jid(jid)?;
    if !c.disconnect(&user, "Disconnected by the operator").await? {
        return Err(OpError::NotFound(format!(
            "{user} has no session on {transport}"
        )));
    }
    info!(actor, transport, user = %user, "operator ended a session");
    audit::record(
        &gw.store,
        actor,
        action::SESSION_END,
        transport,
        Some(user.as_str()),
        "",
    )
    .await;
    Ok(())
}

/// Sends `text` to every user with a session on `transport`; returns how many.
pub(crate) async fn announce(
    gw: &Gateway,
    transport: &str,
    text: &str,
    actor: &str,
) -> Result<usize, OpError> {
    let c = control(gw, transport)?;
    // The check the `announce` ad-hoc command uses too.
    let text = pontoon_core::control::check_announcement(text).map_err(OpError::Invalid)?;
    let sent = c.announce(text).await?;
    info!(actor, transport, sent, "operator sent an announcement");
    let detail = format!("sent to {sent} user(s): {text}");
    audit::record(
        &gw.store,
        actor,
        action::ANNOUNCEMENT,
        transport,
        None,
        &detail,
    )
    .await;
    Ok(sent)
}

/// One page of the audit log, newest first (see `Store::audit_log`).
pub(crate) async fn audit_page(
    gw: &Gateway,
    search: &str,
    limit: u32,
    offset: u32,
) -> Result<pontoon_store::AuditPage, OpError> {
    Ok(gw.store.audit_log(search, limit, u64::from(offset)).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn user_jids_need_a_node() {
        assert_eq!(
            user_jid(" alice@example.org ").unwrap().as_str(),
            "alice@example.org"
        );
        assert!(matches!(user_jid("example.org"), Err(OpError::Invalid(_))));
        assert!(matches!(user_jid("not a jid"), Err(OpError::Invalid(_))));
        assert!(matches!(path_jid("x"), Err(OpError::NotFound(_))));
    }

    #[test]
    fn errors_map_to_codes_and_statuses() {
        let e = OpError::from(StoreError::LegacyIdTaken {
            transport: "irc".into(),
            legacy_id: "bob".into(),
        });
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(e.code(), "conflict");
        let e = OpError::from(ControlError::Busy);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
