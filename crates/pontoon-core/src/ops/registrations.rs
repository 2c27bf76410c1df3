//! Registrations: (bare JID, transport) -> legacy account. One set of rules for a user
//! registering themselves and for an operator registering someone:
//!
//! - the transport checks and normalises the details under its options in force (a fixed
//!   server, `allowed_networks`...): the caller passes the transport's check, built with
//!   those options;
//! - a user gives what the transport's form requires (a password where it asks one); an
//!   operator may leave the password out (the transport then checks the rest with a
//!   stand-in and no secret is stored);
//! - a legacy id belongs to one JID per transport ([`OpsError::Conflict`]);
//! - adding refuses a JID that is registered already (editing replaces).

use std::collections::BTreeMap;

use jid::BareJid;
use pontoon_store::{Registration, Store, StoreError};

use super::OpsError;
use crate::legacy::LegacyAccount;

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requester {
    /// The user, for themselves (in-band registration).
    User,
    /// An operator, on the user's behalf (ad-hoc command, console, API, CLI).
    Operator,
}

/// What is asked for: the registration form's values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The legacy id (the form's `username`).
    pub legacy_id: String,
    /// The password, if one was given (empty counts as none).
    pub password: Option<String>,
    /// The transport's further fields (`network`...).
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Details")
            .field("legacy_id", &self.legacy_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("options", &self.options)
            .finish()
    }
}

impl Details {
    /// From a registration form's values (`username`, `password`, the rest as options).
    pub fn from_form(mut values: BTreeMap<String, String>) -> Self {
        let legacy_id = values.remove("username").unwrap_or_default();
        let password = values.remove("password");
        values.remove("FORM_TYPE");
        Details {
            legacy_id,
            password,
            options: values,
        }
    }
}

/// Passed to the transport's checks in place of a password an operator left out.
const PASSWORD_STAND_IN: &str = "x";

/// The registration `details` make for `user` on `transport`, as the transport checks them
/// (`check`: the transport's `account_from_form` under its options in force; `Err` is a
/// readable reason).
pub fn prepare(
    transport: &str,
    user: &BareJid,
    details: Details,
    by: Requester,
    check: impl FnOnce(&BTreeMap<String, String>) -> Result<LegacyAccount, String>,
) -> Result<Registration, OpsError> {
    let password = details.password.filter(|p| !p.is_empty());
    let mut values = details.options;
    values.insert("username".to_owned(), details.legacy_id);
    let stand_in = by == Requester::Operator && password.is_none();
    if let Some(p) = password.clone() {
        values.insert("password".to_owned(), p);
    } else if stand_in {
        values.insert("password".to_owned(), PASSWORD_STAND_IN.to_owned());
    }
    let account = check(&values).map_err(OpsError::Invalid)?;
    Ok(Registration {
        jid: user.to_string(),
        transport: transport.to_owned(),
        legacy_id: account.legacy_id,
        secret: if stand_in { None } else { account.secret },
        options: account.options,
        created_at: 0,
        updated_at: 0,
        last_login_at: None,
        always_online: None,
    })
}

/// Stores `reg`, replacing the JID's registration with the transport if there is one.
/// `network` names the transport in the refusal (its display name).
pub async fn save(store: &Store, reg: &Registration, network: &str) -> Result<(), OpsError> {
    match store.put_registration(reg).await {
        Ok(()) => Ok(()),
        Err(StoreError::LegacyIdTaken { legacy_id, .. }) => Err(OpsError::Conflict(format!(
            "The {network} account {legacy_id:?} is already registered by another JID."
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Stores `reg` for a JID that must not be registered with the transport yet.
pub async fn add(store: &Store, reg: &Registration, network: &str) -> Result<(), OpsError> {
    if store
        .registration(&reg.jid, &reg.transport)
        .await?
        .is_some()
    {
        return Err(OpsError::Conflict(format!(
            "{} is already registered with {network}; edit the registration instead.",
            reg.jid
        )));
    }
    save(store, reg, network).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(values: &BTreeMap<String, String>) -> Result<LegacyAccount, String> {
        let id = values.get("username").cloned().unwrap_or_default();
        if id.is_empty() {
            return Err("a user name is required".into());
        }
        let secret = values.get("password").cloned();
        if secret.is_none() {
            return Err("a password is required".into());
        }
        Ok(LegacyAccount {
            legacy_id: id.to_lowercase(),
            secret,
            options: BTreeMap::new(),
        })
    }

    fn user() -> BareJid {
        "alice@example.org".parse().unwrap()
    }

    #[test]
    fn users_give_what_the_form_requires_operators_may_leave_the_password_out() {
        let no_password = Details {
            legacy_id: "Bob".into(),
            ..Details::default()
        };
        let e = prepare("t", &user(), no_password.clone(), Requester::User, strict).unwrap_err();
        assert_eq!(e.to_string(), "a password is required");
        let reg = prepare("t", &user(), no_password, Requester::Operator, strict).unwrap();
        assert_eq!((reg.legacy_id.as_str(), reg.secret), ("bob", None));
        let with = Details {
            legacy_id: "bob".into(),
            password: Some("pw".into()),
            ..Details::default()
        };
        let reg = prepare("t", &user(), with, Requester::Operator, strict).unwrap();
        assert_eq!(reg.secret.as_deref(), Some("pw"));
    }

    #[test]
    fn form_values_split_into_details() {
        let values: BTreeMap<String, String> = [
            ("username", "bob"),
            ("password", "pw"),
            ("network", "irc.example.net"),
            ("FORM_TYPE", "jabber:iq:register"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let d = Details::from_form(values);
        assert_eq!(d.legacy_id, "bob");
        assert_eq!(d.password.as_deref(), Some("pw"));
        assert_eq!(d.options.keys().collect::<Vec<_>>(), ["network"]);
        assert!(!format!("{d:?}").contains("pw\""), "{d:?}");
    }
}
