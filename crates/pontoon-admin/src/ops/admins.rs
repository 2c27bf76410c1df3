//! Console administrators and REST API tokens: the one implementation behind the console's
//! Administrators page and `pontoon admin ...` (which work on the store directly, so these
//! take the store, not a running gateway). Each change is logged and written to the audit
//! log, with the administrator's or token's name as the subject and no transport.
//!
//! A deleted administrator or one whose password changed loses their console sessions at
//! their next request (the console checks the account's revision on every request); a
//! revoked token is refused at its next use.

use pontoon_core::ops::audit::{self, action};
use pontoon_store::{AdminAccount, ApiToken, Store};
use tracing::info;

use super::OpError;

/// What [`put_admin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminChange {
    /// A new administrator.
    Added,
    /// An existing administrator got a new password.
    PasswordChanged,
}

/// Who removes an administrator, which decides what [`delete_admin`] refuses.
#[derive(Clone, Copy, Debug)]
pub enum Remover<'a> {
    /// A signed-in administrator (the console): not themselves, and never the last
    /// administrator, so the console cannot lock everybody out.
    Admin(&'a str),
    /// A program with an API token: never the last administrator.
    Program,
    /// The operator at the command line, who can always add one back: anything goes.
    Cli,
}

/// Every administrator, by name.
pub async fn list_admins(store: &Store) -> Result<Vec<AdminAccount>, OpError> {
    Ok(store.list_admins().await?)
}

/// Creates administrator `name`, or sets a new password for an existing one, after the
/// password rule every tool shares ([`pontoon_store::check_new_password`]).
pub async fn put_admin(
    store: &Store,
    name: &str,
    password: &str,
    actor: &str,
) -> Result<AdminChange, OpError> {
    pontoon_store::check_new_password(password)?;
    let existed = store.admin_updated_at(name).await?.is_some();
    store.put_admin(name, password).await?;
    let (change, what) = if existed {
        info!(
            actor,
            admin = name,
            "operator changed an administrator's password"
        );
        (AdminChange::PasswordChanged, action::ADMIN_PASSWORD)
    } else {
        info!(actor, admin = name, "operator added an administrator");
        (AdminChange::Added, action::ADMIN_ADD)
    };
    audit::record(store, actor, what, "", Some(name), "").await;
    Ok(change)
}

/// Deletes administrator `name`; `NotFound` if there is none, `Invalid` for what
/// `remover` may not do (see [`Remover`]).
///
/// The last-administrator check and the deletion are two statements: two administrators
/// removing each other at the same instant could both succeed. `pontoon admin add` is the
/// way back in then, as on a fresh install.
pub async fn delete_admin(
    store: &Store,
    name: &str,
    remover: Remover<'_>,
    actor: &str,
) -> Result<(), OpError> {
    if let Remover::Admin(me) = remover
        && me == name
    {
        return Err(OpError::Invalid(
            "you cannot remove yourself: another administrator can, or `pontoon admin delete` on the server".to_owned(),
        ));
    }
    if !matches!(remover, Remover::Cli)
        && store.admin_updated_at(name).await?.is_some()
        && store.count_admins().await? <= 1
    {
        return Err(OpError::Invalid(format!(
            "{name} is the last administrator: add another one first, or nobody could log in"
        )));
    }
    if !store.delete_admin(name).await? {
        return Err(OpError::NotFound(format!(
            "no administrator named {name:?}"
        )));
    }
    info!(actor, admin = name, "operator removed an administrator");
    audit::record(store, actor, action::ADMIN_DELETE, "", Some(name), "").await;
    Ok(())
}

/// Every API token, by name (names and dates: the tokens themselves are not stored).
pub async fn list_tokens(store: &Store) -> Result<Vec<ApiToken>, OpError> {
    Ok(store.list_api_tokens().await?)
}

/// Creates the API token `name` and returns it: the only time anybody sees it (it is never
/// logged). `Conflict` if a token of that name exists.
pub async fn create_token(store: &Store, name: &str, actor: &str) -> Result<String, OpError> {
    let token = store.create_api_token(name).await?;
    info!(actor, token_name = name, "operator created an API token");
    audit::record(store, actor, action::TOKEN_CREATE, "", Some(name), "").await;
    Ok(token)
}

/// Revokes the API token `name`; `NotFound` if there is none.
pub async fn revoke_token(store: &Store, name: &str, actor: &str) -> Result<(), OpError> {
    if !store.revoke_api_token(name).await? {
        return Err(OpError::NotFound(format!("no API token named {name:?}")));
    }
    info!(actor, token_name = name, "operator revoked an API token");
    audit::record(store, actor, action::TOKEN_REVOKE, "", Some(name), "").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pontoon_store::StoreKey;

    use super::*;

    async fn store() -> Store {
        Store::open("sqlite::memory:", StoreKey::from_bytes([7; 32]))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn administrators() {
        let s = store().await;
        assert_eq!(
            put_admin(&s, "root", "password1", "t").await.unwrap(),
            AdminChange::Added
        );
        assert_eq!(
            put_admin(&s, "root", "password2", "t").await.unwrap(),
            AdminChange::PasswordChanged
        );
        assert!(s.verify_admin("root", "password2").await.unwrap());
        // The shared rule: too short is refused, and nothing changes.
        let e = put_admin(&s, "root", "short", "t").await.unwrap_err();
        assert!(
            matches!(&e, OpError::Invalid(m) if m.contains("at least 8")),
            "{e}"
        );
        assert!(s.verify_admin("root", "password2").await.unwrap());
        assert!(matches!(
            put_admin(&s, "bad name", "password1", "t").await,
            Err(OpError::Invalid(_))
        ));

        // Not yourself, not the last one; the CLI may.
        let e = delete_admin(&s, "root", Remover::Admin("root"), "t")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, OpError::Invalid(m) if m.contains("yourself")),
            "{e}"
        );
        let e = delete_admin(&s, "root", Remover::Admin("gone"), "t")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, OpError::Invalid(m) if m.contains("last")),
            "{e}"
        );
        put_admin(&s, "second", "password3", "t").await.unwrap();
        delete_admin(&s, "second", Remover::Admin("root"), "t")
            .await
            .unwrap();
        assert!(matches!(
            delete_admin(&s, "second", Remover::Admin("root"), "t").await,
            Err(OpError::NotFound(_))
        ));
        delete_admin(&s, "root", Remover::Cli, "t").await.unwrap();
        assert!(list_admins(&s).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn tokens() {
        let s = store().await;
        let token = create_token(&s, "ci", "t").await.unwrap();
        assert_eq!(
            s.verify_api_token(&token).await.unwrap().as_deref(),
            Some("ci")
        );
        assert!(matches!(
            create_token(&s, "ci", "t").await,
            Err(OpError::Conflict(_))
        ));
        assert_eq!(list_tokens(&s).await.unwrap().len(), 1);
        revoke_token(&s, "ci", "t").await.unwrap();
        assert_eq!(s.verify_api_token(&token).await.unwrap(), None);
        assert!(matches!(
            revoke_token(&s, "ci", "t").await,
            Err(OpError::NotFound(_))
        ));
    }
}
