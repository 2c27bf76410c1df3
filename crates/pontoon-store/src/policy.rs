//! Operator policy per transport.
//!
//! The policy lives in the store (not only in TOML) so the console, REST API and ad-hoc
//! commands can change it at run time and every instance sharing a PostgreSQL store sees
//! the same policy. The TOML only seeds it on first start ([`Store::seed_transport_policy`]);
//! afterwards the stored row wins. Lists and the options map are stored as JSON text.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::registrations::{decode_json, encode_json};
use crate::store::{Backend, Store};

/// What the operator allows on one transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportPolicy {
    /// Whether the transport runs at all. Default `false`: every transport is disabled on a
    /// fresh install.
    pub enabled: bool,
    /// Whether anyone allowed may self-register. Default `true`.
    pub public_registration: bool,
    /// If `true` users cannot self-register, only operators can register them.
    /// Default `false`.
    pub manual_registration_only: bool,
    /// XMPP server domains whose users may use the transport; empty = any.
    pub allowed_servers: Vec<String>,
    /// Bare JIDs or domains allowed; empty = everyone (subject to `allowed_servers`).
    pub allow_list: Vec<String>,
    /// Verbose logging for this transport. Default `false`.
    pub debug_logging: bool,
    /// Transport options (connect_host, connect_port, tls, flood limits, ...).
    pub options: BTreeMap<String, String>,
    /// Days the message archive keeps (MAM, history on join); 0: nothing is archived.
    /// Default [`DEFAULT_HISTORY_DAYS`].
    pub history_days: u32,
    /// Messages the archive keeps per room, at most; 0: no count limit. Default
    /// [`DEFAULT_HISTORY_PER_ROOM`].
    pub history_per_room: u32,
    /// Users stay online while away unless they say otherwise. Default `false`.
    pub always_online_default: bool,
    /// At most this many users are kept online while away at once; 0: nobody is. Default
    /// [`DEFAULT_ALWAYS_ONLINE_LIMIT`].
    pub always_online_limit: u32,
}

/// Users kept online while away at once, unless the operator says otherwise.
pub const DEFAULT_ALWAYS_ONLINE_LIMIT: u32 = 100;

/// Days of history kept unless the operator says otherwise.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;
/// Messages per room kept unless the operator says otherwise.
pub const DEFAULT_HISTORY_PER_ROOM: u32 = 10_000;

impl TransportPolicy {
    /// The keys whose values differ between `self` and `other`, as the configuration file
    /// and `pontoon policy set` spell them (options as `options.NAME`), sorted.
    pub fn differences(&self, other: &TransportPolicy) -> Vec<String> {
        let mut keys = Vec::new();
        let mut check = |key: &str, differs: bool| {
            if differs {
                keys.push(key.to_owned());
            }
        };
        check("enabled", self.enabled != other.enabled);
        check(
            "public_registration",
            self.public_registration != other.public_registration,
        );
        check(
            "manual_registration_only",
            self.manual_registration_only != other.manual_registration_only,
        );
        check(
            "allowed_servers",
            self.allowed_servers != other.allowed_servers,
        );
        check("allow_list", self.allow_list != other.allow_list);
        check("debug_logging", self.debug_logging != other.debug_logging);
        check("history_days", self.history_days != other.history_days);
        check(
            "history_per_room",
            self.history_per_room != other.history_per_room,
        );
        check(
            "always_online_default",
            self.always_online_default != other.always_online_default,
        );
        check(
            "always_online_limit",
            self.always_online_limit != other.always_online_limit,
        );
        let names: std::collections::BTreeSet<&String> =
            self.options.keys().chain(other.options.keys()).collect();
        for name in names {
            if self.options.get(name) != other.options.get(name) {
                keys.push(format!("options.{name}"));
            }
        }
        keys.sort();
        keys
    }
}

impl Default for TransportPolicy {
    fn default() -> Self {
        TransportPolicy {
            enabled: false,
            public_registration: true,
            manual_registration_only: false,
            allowed_servers: Vec::new(),
            allow_list: Vec::new(),
            debug_logging: false,
            options: BTreeMap::new(),
            history_days: DEFAULT_HISTORY_DAYS,
            history_per_room: DEFAULT_HISTORY_PER_ROOM,
            always_online_default: false,
            always_online_limit: DEFAULT_ALWAYS_ONLINE_LIMIT,
        }
    }
}

pub(crate) const COLUMNS: &str = "transport, enabled, public_registration, manual_registration_only, \
                       allowed_servers, allow_list, debug_logging, options, history_days, \
                       history_per_room, always_online_default, always_online_limit";

impl Store {
    /// The stored policy of `transport`, if one was ever put or seeded.
    pub async fn transport_policy(
        &self,
        transport: &str,
    ) -> Result<Option<TransportPolicy>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transport_policies WHERE transport = $1"
        )))
        .bind(transport)
        .fetch_all(self.db()?)
        .await?
        .into_iter()
        .next();
        row.as_ref().map(decode_policy).transpose()
    }

    /// All stored policies, ordered by transport name.
    pub async fn transport_policies(&self) -> Result<Vec<(String, TransportPolicy)>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transport_policies ORDER BY transport"
        )))
        .fetch_all(self.db()?)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("transport")?, decode_policy(r)?)))
            .collect()
    }

    /// Stores `p` as the policy of `transport`, replacing any previous one.
    pub async fn put_transport_policy(
        &self,
        transport: &str,
        p: &TransportPolicy,
    ) -> Result<(), StoreError> {
        self.insert_policy(transport, p, PUT_ON_CONFLICT).await
    }

    /// Inserts `p` only if no policy exists yet for `transport` (first start: seed from
    /// TOML); returns the policy now in force (the stored one if there was one).
    pub async fn seed_transport_policy(
        &self,
        transport: &str,
        p: &TransportPolicy,
    ) -> Result<TransportPolicy, StoreError> {
        self.insert_policy(transport, p, "DO NOTHING").await?;
        self.transport_policy(transport).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "policy of {transport:?} vanished right after seeding"
            ))
        })
    }

    /// Changes the policy of `transport` with `change` in one write transaction and returns
    /// it as it was before and after. Unlike reading with [`Store::transport_policy`] and
    /// writing back with [`Store::put_transport_policy`], two operators changing different
    /// fields at once (the console and an ad-hoc command, two instances) both keep their
    /// change: the row is locked from the read to the write. A transport without a stored
    /// policy starts from the default one. Nothing is written when nothing changes.
    pub async fn update_transport_policy(
        &self,
        transport: &str,
        change: impl FnOnce(&mut TransportPolicy),
    ) -> Result<(TransportPolicy, TransportPolicy), StoreError> {
        // SQLite: BEGIN IMMEDIATE holds the database's write lock from here on.
        let mut tx = self.begin_write().await?;
        // PostgreSQL: make sure a row exists (waiting for a concurrent insert of it), then
        // lock it until the commit.
        policy_insert(transport, &TransportPolicy::default(), "DO NOTHING")?
            .execute(&mut *tx)
            .await?;
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transport_policies WHERE transport = $1{lock}"
        )))
        .bind(transport)
        .fetch_one(&mut *tx)
        .await?;
        let before = decode_policy(&row)?;
        let mut after = before.clone();
        change(&mut after);
        if after != before {
            policy_insert(transport, &after, PUT_ON_CONFLICT)?
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((before, after))
    }

    async fn insert_policy(
        &self,
        transport: &str,
        p: &TransportPolicy,
        on_conflict: &'static str,
    ) -> Result<(), StoreError> {
        policy_insert(transport, p, on_conflict)?
            .execute(self.db()?)
            .await?;
        Ok(())
    }
}

/// The `ON CONFLICT` action of [`Store::put_transport_policy`]: replace every field.
const PUT_ON_CONFLICT: &str = "DO UPDATE SET
                enabled = excluded.enabled,
                public_registration = excluded.public_registration,
                manual_registration_only = excluded.manual_registration_only,
                allowed_servers = excluded.allowed_servers,
                allow_list = excluded.allow_list,
                debug_logging = excluded.debug_logging,
                options = excluded.options,
                history_days = excluded.history_days,
                history_per_room = excluded.history_per_room,
                always_online_default = excluded.always_online_default,
                always_online_limit = excluded.always_online_limit,
                updated_at = excluded.updated_at";

/// The statement inserting `p` as the policy of `transport`, with `on_conflict`.
fn policy_insert(
    transport: &str,
    p: &TransportPolicy,
    on_conflict: &'static str,
) -> Result<sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>, StoreError> {
    let sql = format!(
        "INSERT INTO transport_policies
            (transport, enabled, public_registration, manual_registration_only,
             allowed_servers, allow_list, debug_logging, options, updated_at,
             history_days, history_per_room, always_online_default, always_online_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (transport) {on_conflict}"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(transport.to_owned())
        .bind(i16::from(p.enabled))
        .bind(i16::from(p.public_registration))
        .bind(i16::from(p.manual_registration_only))
        .bind(encode_json(&p.allowed_servers)?)
        .bind(encode_json(&p.allow_list)?)
        .bind(i16::from(p.debug_logging))
        .bind(encode_json(&p.options)?)
        .bind(crate::now())
        .bind(i64::from(p.history_days))
        .bind(i64::from(p.history_per_room))
        .bind(i16::from(p.always_online_default))
        .bind(i64::from(p.always_online_limit)))
}

pub(crate) fn decode_policy(row: &AnyRow) -> Result<TransportPolicy, StoreError> {
    let flag = |name: &str| -> Result<bool, StoreError> { Ok(row.try_get::<i64, _>(name)? != 0) };
    let text = |name: &str| -> Result<String, StoreError> { Ok(row.try_get::<String, _>(name)?) };
    let count = |name: &str| -> Result<u32, StoreError> {
        let n = row.try_get::<i64, _>(name)?;
        u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("policy {name} is {n}")))
    };
    Ok(TransportPolicy {
        enabled: flag("enabled")?,
        public_registration: flag("public_registration")?,
        manual_registration_only: flag("manual_registration_only")?,
        allowed_servers: decode_json(&text("allowed_servers")?, "allowed_servers")?,
        allow_list: decode_json(&text("allow_list")?, "allow_list")?,
        debug_logging: flag("debug_logging")?,
        options: decode_json(&text("options")?, "policy options")?,
        history_days: count("history_days")?,
        history_per_room: count("history_per_room")?,
        always_online_default: flag("always_online_default")?,
        always_online_limit: count("always_online_limit")?,
    })
}
