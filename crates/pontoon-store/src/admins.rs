//! Web console administrators: a name and an argon2id password hash (PHC string).
//!
//! There is no default account: the operator creates the first one with
//! `pontoon admin add <name>`. Hashing and verification cost tens of milliseconds of CPU
//! by design, so they run on threads of their own ([`crate::passwords`]), never on a runtime
//! worker. A login with
//! an unknown name still verifies against a dummy hash with the same parameters, so the
//! response time does not tell which names exist.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::{Backend, Store};

/// A console administrator, as listed (the hash never leaves the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminAccount {
    /// Login name.
    pub name: String,
    /// Unix seconds of the account's creation (a password reset keeps it).
    pub created_at: i64,
    /// Unix seconds of the latest password change (the account's revision, see
    /// [`Store::admin_updated_at`]).
    pub updated_at: i64,
}

/// Longest accepted password, in bytes: enough for any passphrase, small enough that a
/// hostile login form cannot make us hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Shortest password an operator may choose for an administrator, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The rule for a new administrator password, the same for the CLI, the console and the
/// API: at least [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`] bytes.
/// ([`Store::put_admin`] itself only refuses empty and overlong ones, so tests and
/// migrations can store any password.)
pub fn check_new_password(password: &str) -> Result<(), StoreError> {
    // The messages spell the limits out: `InvalidPassword` holds static text.
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::InvalidPassword(
            "must be at least 8 characters long",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::InvalidPassword(
            "must be at most 1024 bytes long",
        ));
    }
    Ok(())
}

/// A PHC string with argon2's default parameters (the ones [`Store::put_admin`] uses) for a
/// password nobody knows; verified against when the name is unknown so both paths cost the
/// same. A unit test keeps its parameters equal to the defaults.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$IR4HTUNoAqyzYht3qjliGw$\
                          xfIcts+vLd4H/bweXpJAluIFgFqIELeYmXHQYtME5ic";

/// Checks a console administrator's or API token's name: 1 to 64 characters, none of them
/// whitespace or control characters.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    let len = name.chars().count();
    if len == 0 || len > 64 {
        return Err(StoreError::InvalidName {
            what,
            reason: "must be 1 to 64 characters long",
        });
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::InvalidName {
            what,
            reason: "must not contain spaces or control characters",
        });
    }
    Ok(())
}

impl Store {
    /// Creates the administrator `name` with `password`, or resets the password of an
    /// existing one (its creation time is kept).
    ///
    /// `updated_at` strictly increases on every reset, even within one second, so it works
    /// as the account's revision: the console remembers it at login and ends the session
    /// when it changes (see [`Store::admin_updated_at`]).
    ///
    /// Fails with [`StoreError::InvalidName`] for an empty, overlong or blank-containing
    /// name and [`StoreError::InvalidPassword`] for an empty or overlong password.
    pub async fn put_admin(&self, name: &str, password: &str) -> Result<(), StoreError> {
        check_name("administrator name", name)?;
        if password.is_empty() {
            return Err(StoreError::InvalidPassword("must not be empty"));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(StoreError::InvalidPassword("must be at most 1024 bytes"));
        }
        let password = password.to_owned();
        let phc = crate::passwords::hash(password).await?;
        let now = crate::now();
        sqlx::query(
            "INSERT INTO admin_accounts (name, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET
                password_hash = excluded.password_hash,
                updated_at = CASE WHEN excluded.updated_at > admin_accounts.updated_at
                                  THEN excluded.updated_at
                                  ELSE admin_accounts.updated_at + 1 END",
        )
        .bind(name)
        .bind(phc)
        .bind(now)
        .bind(now)
        .execute(self.db()?)
        .await?;
        Ok(())
    }

    /// Whether `password` is the password of administrator `name`. An unknown name (or an
    /// over-long password) costs the same hashing time and returns `false`.
    pub async fn verify_admin(&self, name: &str, password: &str) -> Result<bool, StoreError> {
        Ok(self.check_admin(name, password).await?.is_some())
    }

    /// Like [`Store::verify_admin`], but a right password returns the account's revision
    /// (its `updated_at`, read in the same query as the hash): a console session keeps it
    /// and is refused once [`Store::admin_updated_at`] differs (password reset, account
    /// deleted). A wrong password or an unknown name returns `None`.
    pub async fn check_admin(&self, name: &str, password: &str) -> Result<Option<i64>, StoreError> {
        let stored: Option<(String, i64)> = if check_name("administrator name", name).is_ok() {
            let row =
                sqlx::query("SELECT password_hash, updated_at FROM admin_accounts WHERE name = $1")
                    .bind(name)
                    .fetch_all(self.db()?)
                    .await?
                    .into_iter()
                    .next();
            match row {
                Some(r) => Some((r.try_get("password_hash")?, r.try_get("updated_at")?)),
                None => None,
            }
        } else {
            None
        };
        let acceptable = password.len() <= MAX_PASSWORD_BYTES;
        // Truncate rather than skip the work, so timing stays flat.
        let password: String = if acceptable {
            password.to_owned()
        } else {
            password.chars().take(MAX_PASSWORD_BYTES / 4).collect()
        };
        let (phc, revision) = match stored {
            Some((phc, revision)) => (phc, Some(revision)),
            None => (DUMMY_HASH.to_owned(), None),
        };
        let ok = crate::passwords::verify(password, phc).await?;
        Ok(revision.filter(|_| ok && acceptable))
    }

    /// The revision (`updated_at`, unix seconds, strictly increasing on every password
    /// reset) of administrator `name`; `None` if there is no such administrator. The console
    /// checks it on every request, so deleting an administrator or resetting their password
    /// (from the CLI, also while the gateway runs) ends their console sessions.
    pub async fn admin_updated_at(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT updated_at FROM admin_accounts WHERE name = $1")
                .bind(name)
                .fetch_all(self.db()?)
                .await?
                .into_iter()
                .next(),
        )
    }

    /// Every administrator, by name.
    pub async fn list_admins(&self) -> Result<Vec<AdminAccount>, StoreError> {
        let rows = sqlx::query(match self.backend {
            // Byte order on both backends, whatever the database's locale.
            Backend::Sqlite => {
                "SELECT name, created_at, updated_at FROM admin_accounts ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT name, created_at, updated_at FROM admin_accounts ORDER BY name COLLATE \"C\""
            }
        })
        .fetch_all(self.db()?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdminAccount {
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Deletes administrator `name`; `true` if it existed. Their console sessions end at
    /// their next request: the console checks [`Store::admin_updated_at`] on each one.
    pub async fn delete_admin(&self, name: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM admin_accounts WHERE name = $1")
            .bind(name)
            .execute(self.db()?)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Number of administrators (0 on a fresh install).
    pub async fn count_admins(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_accounts")
            .fetch_all(self.db()?)
            .await?
            .into_iter()
            .next()
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("x", "admin").is_ok());
        assert!(check_name("x", "ädmin.2@example").is_ok());
        assert!(check_name("x", &"a".repeat(64)).is_ok());
        assert!(check_name("x", &"a".repeat(65)).is_err());
        assert!(check_name("x", "").is_err());
        assert!(check_name("x", "a b").is_err());
        assert!(check_name("x", "a\tb").is_err());
        assert!(check_name("x", "a\u{7}").is_err());
    }

    #[test]
    fn new_passwords() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        // Characters, not bytes: eight accented letters are enough.
        assert!(check_new_password("éééééééé").is_ok());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        let e = check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).unwrap_err();
        assert!(
            e.to_string().contains(&MAX_PASSWORD_BYTES.to_string()),
            "{e}"
        );
        let e = check_new_password("").unwrap_err();
        assert!(
            e.to_string().contains(&MIN_PASSWORD_CHARS.to_string()),
            "{e}"
        );
    }

    #[tokio::test]
    async fn dummy_hash_matches_default_parameters() {
        let dummy = argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).unwrap();
        let real = crate::passwords::hash("anything".to_owned()).await.unwrap();
        let real = argon2::password_hash::phc::PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params.to_string(), real.params.to_string());
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
        assert!(
            !crate::passwords::verify("anything".to_owned(), DUMMY_HASH.to_owned())
                .await
                .unwrap()
        );
    }
}
