//! The change feed: what changed in a PostgreSQL store, whoever changed it (another
//! instance, the CLI), told to every instance at once instead of each polling for it.
//!
//! Triggers (migration 18) `NOTIFY pontoon_changes` with a JSON array naming the change;
//! [`Store::change_feed`] runs one `LISTEN` connection per process and hands each change to
//! every subscriber. A lost connection is re-established, and subscribers get
//! [`Change::Resync`]: what was said meanwhile is lost, so they look at the store again. A
//! SQLite store has no feed (`None`): one instance, which polls for the CLI's changes.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::{Backend, Store};

/// The channel the triggers notify.
const CHANNEL: &str = "pontoon_changes";

/// How many changes a slow subscriber may be behind before it is told to resync.
const FEED_CAPACITY: usize = 1024;

/// One change in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Some registration was added, changed or removed.
    Registrations,
    /// Some transport's policy changed.
    Policies,
    /// A roster item of a server-mode account.
    Roster {
        /// The transport (server-mode domain's transport).
        transport: String,
        /// The account (a bare JID).
        account: String,
        /// The contact.
        contact: String,
    },
    /// An account's stored data (bookmarks, private XML).
    AccountData {
        /// The transport.
        transport: String,
        /// The account (a bare JID).
        account: String,
        /// What kind of data (`private`, `pep:...`).
        kind: String,
        /// Which item.
        item: String,
    },
    /// A session's lease was given up or taken over.
    Lease {
        /// The transport.
        transport: String,
        /// The user.
        owner: String,
    },
    /// Another instance asks the holder of a session's lease to end the session there: the
    /// user logged in to it.
    Release {
        /// The transport.
        transport: String,
        /// The user.
        owner: String,
        /// The asking instance.
        by: String,
    },
    /// Changes may have been missed: look at the store again.
    Resync,
}

impl Change {
    /// Reads a notification's payload; `None` for one this build does not know.
    fn parse(payload: &str) -> Option<Change> {
        let fields: Vec<String> = serde_json::from_str(payload).ok()?;
        let mut f = fields.into_iter();
        let kind = f.next()?;
        let mut next = || f.next();
        Some(match kind.as_str() {
            "registration_revisions" => Change::Registrations,
            "transport_policies" => Change::Policies,
            "roster" => Change::Roster {
                transport: next()?,
                account: next()?,
                contact: next()?,
            },
            "account_data" => Change::AccountData {
                transport: next()?,
                account: next()?,
                kind: next()?,
                item: next()?,
            },
            "lease" => Change::Lease {
                transport: next()?,
                owner: next()?,
            },
            "release" => Change::Release {
                transport: next()?,
                owner: next()?,
                by: next()?,
            },
            _ => return None,
        })
    }
}

/// A running change feed; subscribe as many times as needed.
#[derive(Clone, Debug)]
pub struct ChangeFeed {
    tx: Arc<broadcast::Sender<Change>>,
}

impl ChangeFeed {
    /// A receiver of every change from now on. A receiver that falls behind gets
    /// `RecvError::Lagged`, to be read as [`Change::Resync`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// A feed fed by hand (tests, and SQLite stores of tests that want one).
    pub fn detached() -> (ChangeFeed, broadcast::Sender<Change>) {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        (
            ChangeFeed {
                tx: Arc::new(tx.clone()),
            },
            tx,
        )
    }
}

impl Store {
    /// Asks (through the change feed) the instance holding the lease of `owner`'s session
    /// on `transport` to end it, on behalf of instance `by`. Nothing on SQLite (one
    /// instance).
    pub async fn ask_release(
        &self,
        transport: &str,
        owner: &str,
        by: &str,
    ) -> Result<(), crate::StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(
            "SELECT pg_notify($1, json_build_array('release', $2::text, $3::text, $4::text)::text)",
        )
        .bind(CHANNEL)
        .bind(transport)
        .bind(owner)
        .bind(by)
        .execute(self.db()?)
        .await?;
        Ok(())
    }

    /// Starts the change feed of a PostgreSQL store (`None` for SQLite), until `shutdown`.
    pub async fn change_feed(
        &self,
        shutdown: CancellationToken,
    ) -> Result<Option<ChangeFeed>, crate::StoreError> {
        let (Backend::Postgres, Some(url)) = (self.backend, self.listen_url.clone()) else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(&url).await?;
        listener.listen(CHANNEL).await?;
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        let tx = Arc::new(tx);
        let feed = ChangeFeed { tx: tx.clone() };
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = listener.try_recv() => next,
                };
                match next {
                    Ok(Some(n)) => match Change::parse(n.payload()) {
                        Some(change) => {
                            let _ = tx.send(change);
                        }
                        None => tracing::debug!(payload = n.payload(), "unknown change ignored"),
                    },
                    Ok(None) => {
                        tracing::warn!(
                            "change feed: connection to PostgreSQL lost; listening again"
                        );
                        let _ = tx.send(Change::Resync);
                    }
                    Err(e) => {
                        // Reconnecting failed: try again shortly (the store's health task
                        // reports the outage itself).
                        tracing::debug!(error = %e, "change feed: cannot listen yet");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                        let _ = tx.send(Change::Resync);
                    }
                }
            }
        });
        Ok(Some(feed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_as_changes() {
        assert_eq!(
            Change::parse(r#"["registration_revisions"]"#),
            Some(Change::Registrations)
        );
        assert_eq!(
            Change::parse(r#"["roster","irc","a@x","b@y"]"#),
            Some(Change::Roster {
                transport: "irc".into(),
                account: "a@x".into(),
                contact: "b@y".into()
            })
        );
        assert_eq!(Change::parse(r#"["roster","irc"]"#), None);
        assert_eq!(Change::parse("not json"), None);
        assert_eq!(Change::parse(r#"["something new"]"#), None);
    }
}
