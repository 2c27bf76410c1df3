//! The audit log of operator actions: every operation that changes something on an
//! operator's behalf (console, REST API, ad-hoc commands, command line) writes one entry
//! here, next to its log line. A failure to write it is logged as a warning and does not
//! undo the action, which has already happened.

use pontoon_store::{NewAuditEntry, Registration, Store};
use tracing::warn;

/// The fixed words naming actions in the log.
pub mod action {
    /// A transport's policy changed.
    pub const POLICY_CHANGE: &str = "policy.change";
    /// An operator registered a user.
    pub const REGISTRATION_ADD: &str = "registration.add";
    /// An operator edited a registration.
    pub const REGISTRATION_EDIT: &str = "registration.edit";
    /// An operator deleted a registration.
    pub const REGISTRATION_DELETE: &str = "registration.delete";
    /// An operator ended a user's session.
    pub const SESSION_END: &str = "session.end";
    /// An operator turned a user's presence badge on.
    pub const BADGE_ON: &str = "badge.on";
    /// An operator turned a user's presence badge off.
    pub const BADGE_OFF: &str = "badge.off";
    /// An operator sent an announcement.
    pub const ANNOUNCEMENT: &str = "announcement";
    /// An operator added a console administrator.
    pub const ADMIN_ADD: &str = "admin.add";
    /// An operator set a new password for a console administrator.
    pub const ADMIN_PASSWORD: &str = "admin.password";
    /// An operator removed a console administrator.
    pub const ADMIN_DELETE: &str = "admin.delete";
    /// An operator created a REST API token.
    pub const TOKEN_CREATE: &str = "token.create";
    /// An operator revoked a REST API token.
    pub const TOKEN_REVOKE: &str = "token.revoke";
}

/// The actor of the command line.
pub const CLI_ACTOR: &str = "cli";

/// Records one action; see the module docs for failures.
pub async fn record(
    store: &Store,
    actor: &str,
    action: &str,
    transport: &str,
    subject: Option<&str>,
    detail: &str,
) {
    let entry = NewAuditEntry {
        actor,
        action,
        transport,
        subject,
        detail,
    };
    if let Err(e) = store.append_audit(&entry).await {
        warn!(actor, action, transport, error = %e, "the operator action was done but not written to the audit log");
    }
}

/// What an audit entry says of a registration: the legacy id, whether a password is set and
/// the option keys (values may be secrets, as passwords are).
pub fn registration_detail(reg: &Registration) -> String {
    let password = if reg.secret.is_some() { "set" } else { "none" };
    let mut d = format!("legacy_id: {}, password: {password}", reg.legacy_id);
    if !reg.options.is_empty() {
        let keys: Vec<&str> = reg.options.keys().map(String::as_str).collect();
        d.push_str(&format!(", options: {}", keys.join(", ")));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_detail_has_no_secrets() {
        let mut r = Registration::new("a@x.org", "irc", "alice");
        r.secret = Some("hunter2".into());
        r.options
            .insert("nickserv_password".into(), "s3cret".into());
        let d = registration_detail(&r);
        assert_eq!(
            d,
            "legacy_id: alice, password: set, options: nickserv_password"
        );
        assert!(!d.contains("hunter2") && !d.contains("s3cret"));
    }
}
