//! Access control: who may register with and log in to a transport.
//!
//! The operator's policy lives in the store (editable at run time); this module only
//! decides, so every entry point (registration, login, messages) refuses the same way.

use pontoon_store::TransportPolicy;

use crate::stanza::Refusal;

/// What the user is trying to do, since registration has stricter rules than login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Self-registration through XEP-0077.
    Register,
    /// Any use of a transport by a registered user.
    Use,
}

/// Whether `bare_jid` matches an entry of an access list: a bare JID or a domain.
fn listed(list: &[String], bare_jid: &str, domain: &str) -> bool {
    list.iter()
        .any(|e| e.eq_ignore_ascii_case(bare_jid) || e.eq_ignore_ascii_case(domain))
}

/// Decides whether `bare_jid` may do `action` on a transport under `policy`.
pub fn check(
    policy: &TransportPolicy,
    display_name: &str,
    bare_jid: &str,
    action: Action,
) -> Result<(), Refusal> {
    let domain = bare_jid.rsplit('@').next().unwrap_or(bare_jid);
    if !policy.enabled {
        return Err(Refusal::cancel(
            "service-unavailable",
            format!("The {display_name} transport is disabled by the operator."),
        ));
    }
    if !policy.allowed_servers.is_empty()
        && !policy
            .allowed_servers
            .iter()
            .any(|s| s.eq_ignore_ascii_case(domain))
    {
        return Err(Refusal::auth(
            "forbidden",
            format!("Users of {domain} may not use the {display_name} transport."),
        ));
    }
    let on_list = listed(&policy.allow_list, bare_jid, domain);
    if !policy.allow_list.is_empty() && !on_list {
        return Err(Refusal::auth(
            "forbidden",
            format!("You are not on the access list of the {display_name} transport."),
        ));
    }
    if action == Action::Register {
        if policy.manual_registration_only {
            return Err(Refusal::cancel(
                "not-allowed",
                format!(
                    "Registration with the {display_name} transport is done by the operator only; ask them to register you."
                ),
            ));
        }
        // With public registration off, only users named on the access list may register.
        if !policy.public_registration && !on_list {
            return Err(Refusal::cancel(
                "not-allowed",
                format!("Public registration with the {display_name} transport is closed."),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> TransportPolicy {
        TransportPolicy {
            enabled: true,
            ..TransportPolicy::default()
        }
    }

    #[test]
    fn fresh_policy_refuses_everything() {
        let e = check(&TransportPolicy::default(), "IRC", "a@b.org", Action::Use).unwrap_err();
        assert_eq!(e.condition, "service-unavailable");
    }

    #[test]
    fn allowed_servers_and_lists() {
        let mut p = enabled();
        assert!(check(&p, "IRC", "a@b.org", Action::Register).is_ok());
        p.allowed_servers = vec!["example.org".into()];
        assert_eq!(
            check(&p, "IRC", "a@b.org", Action::Use)
                .unwrap_err()
                .condition,
            "forbidden"
        );
        assert!(check(&p, "IRC", "a@example.org", Action::Use).is_ok());
        p.allow_list = vec!["boss@example.org".into()];
        assert!(check(&p, "IRC", "a@example.org", Action::Use).is_err());
        assert!(check(&p, "IRC", "boss@example.org", Action::Use).is_ok());
    }

    #[test]
    fn registration_rules() {
        let mut p = enabled();
        p.manual_registration_only = true;
        assert_eq!(
            check(&p, "IRC", "a@b.org", Action::Register)
                .unwrap_err()
                .condition,
            "not-allowed"
        );
        assert!(check(&p, "IRC", "a@b.org", Action::Use).is_ok());
        p.manual_registration_only = false;
        p.public_registration = false;
        assert!(check(&p, "IRC", "a@b.org", Action::Register).is_err());
        p.allow_list = vec!["b.org".into()];
        assert!(check(&p, "IRC", "a@b.org", Action::Register).is_ok());
    }
}
