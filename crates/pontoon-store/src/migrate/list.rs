//! The schema's migrations, in order (see `super`): append only.

use super::Migration;

/// All migrations, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "registrations and transport policies",
        sqlite: &[
            "CREATE TABLE registrations (
            jid TEXT NOT NULL,
            transport TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            secret BLOB,
            options TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (jid, transport)
        )",
            "CREATE UNIQUE INDEX registrations_transport_legacy_id
            ON registrations (transport, legacy_id)",
            "CREATE TABLE transport_policies (
            transport TEXT NOT NULL PRIMARY KEY,
            enabled SMALLINT NOT NULL CHECK (enabled IN (0, 1)),
            public_registration SMALLINT NOT NULL CHECK (public_registration IN (0, 1)),
            manual_registration_only SMALLINT NOT NULL CHECK (manual_registration_only IN (0, 1)),
            allowed_servers TEXT NOT NULL DEFAULT '[]',
            allow_list TEXT NOT NULL DEFAULT '[]',
            debug_logging SMALLINT NOT NULL CHECK (debug_logging IN (0, 1)),
            options TEXT NOT NULL DEFAULT '{}',
            updated_at INTEGER NOT NULL
        )",
        ],
        postgres: &[
            "CREATE TABLE registrations (
            jid TEXT NOT NULL,
            transport TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            secret BYTEA,
            options TEXT NOT NULL DEFAULT '{}',
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (jid, transport)
        )",
            "CREATE UNIQUE INDEX registrations_transport_legacy_id
            ON registrations (transport, legacy_id)",
            "CREATE TABLE transport_policies (
            transport TEXT NOT NULL PRIMARY KEY,
            enabled SMALLINT NOT NULL CHECK (enabled IN (0, 1)),
            public_registration SMALLINT NOT NULL CHECK (public_registration IN (0, 1)),
            manual_registration_only SMALLINT NOT NULL CHECK (manual_registration_only IN (0, 1)),
            allowed_servers TEXT NOT NULL DEFAULT '[]',
            allow_list TEXT NOT NULL DEFAULT '[]',
            debug_logging SMALLINT NOT NULL CHECK (debug_logging IN (0, 1)),
            options TEXT NOT NULL DEFAULT '{}',
            updated_at BIGINT NOT NULL
        )",
        ],
    },
    Migration {
        version: 2,
        description: "registration revisions per transport",
        sqlite: &["CREATE TABLE registration_revisions (
            transport TEXT NOT NULL PRIMARY KEY,
            revision INTEGER NOT NULL
        )"],
        postgres: &["CREATE TABLE registration_revisions (
            transport TEXT NOT NULL PRIMARY KEY,
            revision BIGINT NOT NULL
        )"],
    },
    Migration {
        version: 3,
        description: "console administrators and API tokens",
        sqlite: &[
            "CREATE TABLE admin_accounts (
            name TEXT NOT NULL PRIMARY KEY,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
            "CREATE TABLE api_tokens (
            name TEXT NOT NULL PRIMARY KEY,
            token_sha256 TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER
        )",
            "CREATE UNIQUE INDEX api_tokens_sha256 ON api_tokens (token_sha256)",
        ],
        postgres: &[
            "CREATE TABLE admin_accounts (
            name TEXT NOT NULL PRIMARY KEY,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE TABLE api_tokens (
            name TEXT NOT NULL PRIMARY KEY,
            token_sha256 TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT
        )",
            "CREATE UNIQUE INDEX api_tokens_sha256 ON api_tokens (token_sha256)",
        ],
    },
    Migration {
        version: 4,
        description: "server-mode rosters, keyed by transport and legacy account",
        sqlite: &["CREATE TABLE roster (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            contact_jid TEXT NOT NULL,
            name TEXT,
            groups TEXT NOT NULL DEFAULT '[]',
            subscription TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (transport, account, contact_jid)
        )"],
        postgres: &["CREATE TABLE roster (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            contact_jid TEXT NOT NULL,
            name TEXT,
            groups TEXT NOT NULL DEFAULT '[]',
            subscription TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (transport, account, contact_jid)
        )"],
    },
    Migration {
        version: 5,
        description: "server-mode account data (private XML storage, PEP bookmarks)",
        sqlite: &["CREATE TABLE account_data (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            item TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (transport, account, kind, item)
        )"],
        postgres: &["CREATE TABLE account_data (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            item TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (transport, account, kind, item)
        )"],
    },
    Migration {
        version: 6,
        description: "message id map (XMPP ids -> legacy message ids)",
        sqlite: &["CREATE TABLE message_ids (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            chat TEXT NOT NULL,
            xmpp_id TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            author TEXT NOT NULL,
            own SMALLINT NOT NULL CHECK (own IN (0, 1)),
            created_at INTEGER NOT NULL,
            PRIMARY KEY (transport, account, chat, xmpp_id)
        )"],
        postgres: &["CREATE TABLE message_ids (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            chat TEXT NOT NULL,
            xmpp_id TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            author TEXT NOT NULL,
            own SMALLINT NOT NULL CHECK (own IN (0, 1)),
            created_at BIGINT NOT NULL,
            PRIMARY KEY (transport, account, chat, xmpp_id)
        )"],
    },
    Migration {
        version: 7,
        description: "transport state (a transport's own key-value data per account, encrypted)",
        sqlite: &["CREATE TABLE transport_state (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (transport, account, key)
        )"],
        postgres: &["CREATE TABLE transport_state (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            key TEXT NOT NULL,
            value BYTEA NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (transport, account, key)
        )"],
    },
    Migration {
        version: 8,
        description: "message id map: what each XMPP id is to its message (id, origin-id, stanza-id)",
        sqlite: &["ALTER TABLE message_ids ADD COLUMN kinds SMALLINT NOT NULL DEFAULT 0"],
        postgres: &["ALTER TABLE message_ids ADD COLUMN kinds SMALLINT NOT NULL DEFAULT 0"],
    },
    Migration {
        version: 9,
        description: "registrations: last login time (for the operator's lists)",
        sqlite: &["ALTER TABLE registrations ADD COLUMN last_login_at INTEGER"],
        postgres: &["ALTER TABLE registrations ADD COLUMN last_login_at BIGINT"],
    },
    Migration {
        version: 10,
        description: "audit log of operator actions",
        sqlite: &[
            "CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            transport TEXT NOT NULL,
            subject TEXT,
            detail TEXT NOT NULL
        )",
            "CREATE INDEX audit_log_time ON audit_log (time)",
        ],
        postgres: &[
            "CREATE TABLE audit_log (
            id BIGSERIAL PRIMARY KEY,
            time BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            transport TEXT NOT NULL,
            subject TEXT,
            detail TEXT NOT NULL
        )",
            "CREATE INDEX audit_log_time ON audit_log (time)",
        ],
    },
    Migration {
        version: 11,
        description: "XEP-0363 uploads: slots and stored files",
        sqlite: &[
            "CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            transport TEXT NOT NULL,
            name TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            slot_expires_at INTEGER NOT NULL,
            stored_at INTEGER
        )",
            "CREATE INDEX uploads_owner ON uploads (owner)",
            "CREATE INDEX uploads_created ON uploads (created_at)",
        ],
        postgres: &[
            "CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            transport TEXT NOT NULL,
            name TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            slot_expires_at BIGINT NOT NULL,
            stored_at BIGINT
        )",
            "CREATE INDEX uploads_owner ON uploads (owner)",
            "CREATE INDEX uploads_created ON uploads (created_at)",
        ],
    },
    Migration {
        version: 12,
        description: "presence badges: the users who show their presence over HTTP",
        sqlite: &["CREATE TABLE presence_badges (
            transport TEXT NOT NULL,
            jid TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (transport, jid)
        )"],
        postgres: &["CREATE TABLE presence_badges (
            transport TEXT NOT NULL,
            jid TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (transport, jid)
        )"],
    },
    Migration {
        version: 13,
        description: "message archive (MAM): one row per message and conversation, and who may read a room's",
        sqlite: &[
            "CREATE TABLE archive (
            seq INTEGER PRIMARY KEY,
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            chat TEXT NOT NULL,
            stanza_id TEXT NOT NULL,
            time INTEGER NOT NULL,
            author TEXT NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE UNIQUE INDEX archive_stanza_id ON archive (transport, owner, chat, stanza_id)",
            "CREATE INDEX archive_chat ON archive (transport, owner, chat, seq)",
            "CREATE INDEX archive_time ON archive (transport, time)",
            "CREATE TABLE archive_spans (
            transport TEXT NOT NULL,
            room TEXT NOT NULL,
            account TEXT NOT NULL,
            joined_at INTEGER NOT NULL,
            left_at INTEGER,
            PRIMARY KEY (transport, room, account, joined_at)
        )",
        ],
        postgres: &[
            "CREATE TABLE archive (
            seq BIGSERIAL PRIMARY KEY,
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            chat TEXT NOT NULL,
            stanza_id TEXT NOT NULL,
            time BIGINT NOT NULL,
            author TEXT NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE UNIQUE INDEX archive_stanza_id ON archive (transport, owner, chat, stanza_id)",
            "CREATE INDEX archive_chat ON archive (transport, owner, chat, seq)",
            "CREATE INDEX archive_time ON archive (transport, time)",
            "CREATE TABLE archive_spans (
            transport TEXT NOT NULL,
            room TEXT NOT NULL,
            account TEXT NOT NULL,
            joined_at BIGINT NOT NULL,
            left_at BIGINT,
            PRIMARY KEY (transport, room, account, joined_at)
        )",
        ],
    },
    Migration {
        version: 14,
        description: "transport policy: the archive's retention (days, messages per room)",
        sqlite: &[
            "ALTER TABLE transport_policies ADD COLUMN history_days INTEGER NOT NULL DEFAULT 30",
            "ALTER TABLE transport_policies ADD COLUMN history_per_room INTEGER NOT NULL DEFAULT 10000",
        ],
        postgres: &[
            "ALTER TABLE transport_policies ADD COLUMN history_days BIGINT NOT NULL DEFAULT 30",
            "ALTER TABLE transport_policies ADD COLUMN history_per_room BIGINT NOT NULL DEFAULT 10000",
        ],
    },
    Migration {
        version: 15,
        description: "always online: the user's choice per registration, the transport's default and limit",
        sqlite: &[
            "ALTER TABLE registrations ADD COLUMN always_online SMALLINT",
            "ALTER TABLE transport_policies ADD COLUMN always_online_default SMALLINT NOT NULL DEFAULT 0",
            "ALTER TABLE transport_policies ADD COLUMN always_online_limit INTEGER NOT NULL DEFAULT 100",
        ],
        postgres: &[
            "ALTER TABLE registrations ADD COLUMN always_online SMALLINT",
            "ALTER TABLE transport_policies ADD COLUMN always_online_default SMALLINT NOT NULL DEFAULT 0",
            "ALTER TABLE transport_policies ADD COLUMN always_online_limit BIGINT NOT NULL DEFAULT 100",
        ],
    },
    Migration {
        version: 16,
        description: "server mode: offline messages, kept until a client of the user comes online",
        sqlite: &[
            "CREATE TABLE offline_messages (
            seq INTEGER PRIMARY KEY,
            owner TEXT NOT NULL,
            time INTEGER NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE INDEX offline_messages_owner ON offline_messages (owner, seq)",
        ],
        postgres: &[
            "CREATE TABLE offline_messages (
            seq BIGSERIAL PRIMARY KEY,
            owner TEXT NOT NULL,
            time BIGINT NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE INDEX offline_messages_owner ON offline_messages (owner, seq)",
        ],
    },
    Migration {
        version: 17,
        description: "the persisted outbox: messages waiting for the legacy connection",
        sqlite: &[
            "CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            time INTEGER NOT NULL,
            kind TEXT NOT NULL,
            chat TEXT NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE INDEX outbox_owner ON outbox (transport, owner, seq)",
        ],
        postgres: &[
            "CREATE TABLE outbox (
            seq BIGSERIAL PRIMARY KEY,
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            time BIGINT NOT NULL,
            kind TEXT NOT NULL,
            chat TEXT NOT NULL,
            stanza TEXT NOT NULL
        )",
            "CREATE INDEX outbox_owner ON outbox (transport, owner, seq)",
        ],
    },
    Migration {
        version: 18,
        description: "several instances: heartbeats, session leases, and (PostgreSQL) the change feed",
        sqlite: &[
            "CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            heartbeat_at INTEGER NOT NULL
        )",
            "CREATE TABLE session_leases (
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            instance TEXT NOT NULL,
            PRIMARY KEY (transport, owner)
        )",
            "CREATE INDEX session_leases_instance ON session_leases (instance)",
        ],
        postgres: &[
            "CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            heartbeat_at BIGINT NOT NULL
        )",
            "CREATE TABLE session_leases (
            transport TEXT NOT NULL,
            owner TEXT NOT NULL,
            instance TEXT NOT NULL,
            PRIMARY KEY (transport, owner)
        )",
            "CREATE INDEX session_leases_instance ON session_leases (instance)",
            // The change feed (changes.rs): every instance LISTENs on pontoon_changes; these
            // triggers say what changed, whoever wrote it (another instance, the CLI).
            "CREATE FUNCTION pontoon_notify_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pontoon_changes', json_build_array(TG_TABLE_NAME)::text);
  RETURN NULL;
END $$",
            // Registrations: the revision counter that the services' fingerprint reads (a
            // login's time, written at every login, is no change to act on).
            "CREATE TRIGGER registrations_changed AFTER INSERT OR UPDATE OR DELETE ON registration_revisions
             FOR EACH STATEMENT EXECUTE FUNCTION pontoon_notify_table()",
            "CREATE TRIGGER transport_policies_changed AFTER INSERT OR UPDATE OR DELETE ON transport_policies
             FOR EACH STATEMENT EXECUTE FUNCTION pontoon_notify_table()",
            "CREATE FUNCTION pontoon_notify_roster() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r roster%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('pontoon_changes', json_build_array('roster', r.transport, r.account, r.contact_jid)::text);
  RETURN NULL;
END $$",
            "CREATE TRIGGER roster_changed AFTER INSERT OR UPDATE OR DELETE ON roster
             FOR EACH ROW EXECUTE FUNCTION pontoon_notify_roster()",
            "CREATE FUNCTION pontoon_notify_account_data() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r account_data%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM pg_notify('pontoon_changes', json_build_array('account_data', r.transport, r.account, r.kind, r.item)::text);
  RETURN NULL;
END $$",
            "CREATE TRIGGER account_data_changed AFTER INSERT OR UPDATE OR DELETE ON account_data
             FOR EACH ROW EXECUTE FUNCTION pontoon_notify_account_data()",
            "CREATE FUNCTION pontoon_notify_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pontoon_changes', json_build_array('lease', OLD.transport, OLD.owner)::text);
  RETURN NULL;
END $$",
            "CREATE TRIGGER lease_freed AFTER DELETE ON session_leases
             FOR EACH ROW EXECUTE FUNCTION pontoon_notify_lease()",
            "CREATE TRIGGER lease_moved AFTER UPDATE ON session_leases
             FOR EACH ROW WHEN (OLD.instance IS DISTINCT FROM NEW.instance)
             EXECUTE FUNCTION pontoon_notify_lease()",
        ],
    },
    Migration {
        version: 19,
        description: "messages in a client's hands (offline_messages) or a transport's queue (outbox) stay in the store until delivered",
        sqlite: &[
            "ALTER TABLE offline_messages ADD COLUMN held_by TEXT",
            "ALTER TABLE offline_messages ADD COLUMN delivery INTEGER",
            "CREATE INDEX offline_messages_held ON offline_messages (held_by, delivery)",
            "ALTER TABLE outbox ADD COLUMN handed_by TEXT",
            "CREATE INDEX outbox_handed ON outbox (handed_by)",
        ],
        postgres: &[
            "ALTER TABLE offline_messages ADD COLUMN held_by TEXT",
            "ALTER TABLE offline_messages ADD COLUMN delivery BIGINT",
            "CREATE INDEX offline_messages_held ON offline_messages (held_by, delivery)",
            "ALTER TABLE outbox ADD COLUMN handed_by TEXT",
            "CREATE INDEX outbox_handed ON outbox (handed_by)",
        ],
    },
    Migration {
        version: 20,
        description: "archive spans name the instance that wrote them (several instances on one store)",
        sqlite: &["ALTER TABLE archive_spans ADD COLUMN instance TEXT NOT NULL DEFAULT ''"],
        postgres: &["ALTER TABLE archive_spans ADD COLUMN instance TEXT NOT NULL DEFAULT ''"],
    },
    Migration {
        version: 21,
        description: "message id map stored by its key alone on SQLite (WITHOUT ROWID): one b-tree written per record instead of two",
        sqlite: &[
            "CREATE TABLE message_ids_by_key (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            chat TEXT NOT NULL,
            xmpp_id TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            author TEXT NOT NULL,
            own SMALLINT NOT NULL CHECK (own IN (0, 1)),
            created_at INTEGER NOT NULL,
            kinds SMALLINT NOT NULL DEFAULT 0,
            PRIMARY KEY (transport, account, chat, xmpp_id)
        ) WITHOUT ROWID",
            "INSERT INTO message_ids_by_key
             (transport, account, chat, xmpp_id, legacy_id, author, own, created_at, kinds)
             SELECT transport, account, chat, xmpp_id, legacy_id, author, own, created_at, kinds
             FROM message_ids",
            "DROP TABLE message_ids",
            "ALTER TABLE message_ids_by_key RENAME TO message_ids",
        ],
        postgres: &[],
    },
    Migration {
        version: 22,
        description: "message id map keyed by its XMPP id first, and the archive's stanza-id index led by the stanza-id: new rows land together (Pontoon's ids grow with time)",
        sqlite: &[
            "CREATE TABLE message_ids_by_id (
            transport TEXT NOT NULL,
            account TEXT NOT NULL,
            chat TEXT NOT NULL,
            xmpp_id TEXT NOT NULL,
            legacy_id TEXT NOT NULL,
            author TEXT NOT NULL,
            own SMALLINT NOT NULL CHECK (own IN (0, 1)),
            created_at INTEGER NOT NULL,
            kinds SMALLINT NOT NULL DEFAULT 0,
            PRIMARY KEY (xmpp_id, transport, account, chat)
        ) WITHOUT ROWID",
            "INSERT INTO message_ids_by_id
             (transport, account, chat, xmpp_id, legacy_id, author, own, created_at, kinds)
             SELECT transport, account, chat, xmpp_id, legacy_id, author, own, created_at, kinds
             FROM message_ids",
            "DROP TABLE message_ids",
            "ALTER TABLE message_ids_by_id RENAME TO message_ids",
            "CREATE INDEX message_ids_legacy ON message_ids (legacy_id) WHERE legacy_id <> xmpp_id",
            "DROP INDEX archive_stanza_id",
            "CREATE UNIQUE INDEX archive_stanza_id ON archive (stanza_id, transport, owner, chat)",
        ],
        postgres: &[
            "ALTER TABLE message_ids DROP CONSTRAINT message_ids_pkey",
            "ALTER TABLE message_ids ADD PRIMARY KEY (xmpp_id, transport, account, chat)",
            "CREATE INDEX message_ids_legacy ON message_ids (legacy_id) WHERE legacy_id <> xmpp_id",
            "DROP INDEX archive_stanza_id",
            "CREATE UNIQUE INDEX archive_stanza_id ON archive (stanza_id, transport, owner, chat)",
        ],
    },
];
