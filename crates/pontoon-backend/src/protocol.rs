//! The backend protocol: the lines the core and a backend exchange, around the vocabulary.
//!
//! The backend speaks first, with [`Hello`]: the protocol and vocabulary versions it
//! speaks, its [`Descriptor`], how its addresses are told apart ([`AddressRules`]) and which
//! registration fields log in ([`LoginFields`]). The core answers [`ToBackend::Welcome`]
//! with the transport's options, then logs users in and out ([`ToBackend::Login`],
//! [`ToBackend::Logout`]) and passes on their commands, each numbered per session so the
//! backend can say which it has handled ([`FromBackend::Done`]): what was not handled when
//! a backend dies is bounced to its sender. [`ToBackend::Ping`] must be answered within
//! seconds, or the backend is taken for hung and restarted.
//!
//! Sessions are numbered by the core, never reused while it runs; a backend only ever
//! names the sessions it was given.

use std::collections::BTreeMap;

use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent};
use pontoon_core::transport::Descriptor;
use serde::{Deserialize, Serialize};

/// The version of this protocol (the envelope; the vocabulary inside has its own,
/// [`pontoon_core::legacy::VOCABULARY_VERSION`]). Raised when an older backend could not
/// be understood.
pub const PROTOCOL_VERSION: u32 = 1;

/// A session's number, given by the core at login.
pub type SessionId = u64;

/// A backend's first line: what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Hello {
    /// The protocol version it speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The vocabulary version it speaks (`VOCABULARY_VERSION`); an older one is accepted,
    /// since every later field has a default.
    pub vocabulary: u32,
    /// What the transport says of itself.
    pub descriptor: Descriptor,
    /// How its contacts and rooms are addressed.
    #[serde(default)]
    pub addresses: AddressRules,
    /// Which registration fields log in.
    #[serde(default)]
    pub login: LoginFields,
    /// Whether it takes raw commands typed at the transport's JID
    /// ([`LegacyCommand::Raw`]); the core checks each is one line of at most 512 bytes.
    #[serde(default)]
    pub raw_commands: bool,
}

/// How names are compared on the network.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// As written: `Bob` and `bob` are two people.
    #[default]
    Exact,
    /// ASCII letters folded to lower case (XMPP domains, IRC without its extra rules).
    AsciiLowercase,
    /// Every letter folded to lower case (Unicode).
    Lowercase,
}

/// How the core tells a room from a contact and normalises both, declared once in the
/// handshake so that no stanza waits on a round trip to the backend (the core parses an
/// address for every stanza it routes). Patterns are regular expressions (Rust's `regex`
/// syntax, linear time, at most 4 KiB each) matched against the whole name after case
/// folding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddressRules {
    /// How names are folded before they are compared and used.
    #[serde(default)]
    pub case: Case,
    /// The longest name, in bytes (at most 1023, an XMPP localpart's limit).
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// What a contact's name looks like; by default any name without spaces or control
    /// characters.
    #[serde(default)]
    pub contact: Option<String>,
    /// What a room's name looks like: a name that matches is a room. By default the
    /// network has no rooms.
    #[serde(default)]
    pub room: Option<String>,
    /// The contact behind a room's occupant, for private messages from the room, with
    /// `{room}` and `{nick}` replaced (IRC: `{nick}`; XMPP: `{room}/{nick}`); by default
    /// occupants cannot be messaged privately.
    #[serde(default)]
    pub occupant_contact: Option<String>,
}

fn default_max_length() -> usize {
    255
}

impl Default for AddressRules {
    fn default() -> Self {
        AddressRules {
            case: Case::default(),
            max_length: default_max_length(),
            contact: None,
            room: None,
            occupant_contact: None,
        }
    }
}

/// Which fields of the registration form become the account's legacy id and secret; the
/// other fields are passed as its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginFields {
    /// The field holding the user's id on the network.
    #[serde(default = "default_id_field")]
    pub id: String,
    /// The field holding the password, if any.
    #[serde(default = "default_secret_field")]
    pub secret: Option<String>,
}

fn default_id_field() -> String {
    "username".to_owned()
}

fn default_secret_field() -> Option<String> {
    Some("password".to_owned())
}

impl Default for LoginFields {
    fn default() -> Self {
        LoginFields {
            id: default_id_field(),
            secret: default_secret_field(),
        }
    }
}

/// A line from the core to a backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToBackend {
    /// The answer to [`Hello`]: the backend is accepted.
    Welcome {
        /// The protocol version the core speaks.
        protocol: u32,
        /// The transport's options, as the operator set them (`[transports.NAME.options]`).
        options: BTreeMap<String, String>,
    },
    /// Log a user in: from now on `session` names them.
    Login {
        /// The session's number.
        session: SessionId,
        /// Their registration: legacy id, secret, options.
        account: LegacyAccount,
        /// What the backend last saved for this account ([`FromBackend::SaveState`]).
        state: Option<String>,
    },
    /// One of the user's commands.
    Command {
        /// The session.
        session: SessionId,
        /// Its number in the session, from 1, for [`FromBackend::Done`].
        seq: u64,
        /// The command.
        command: LegacyCommand,
    },
    /// The session is over: log the user out (a `disconnect` command came first when the
    /// user left; a logout without one is the core giving up on the session).
    Logout {
        /// The session.
        session: SessionId,
    },
    /// Are you there? Answer [`FromBackend::Pong`] with the same `request`.
    Ping {
        /// Correlates the answer.
        request: u64,
    },
}

/// A line from a backend to the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FromBackend {
    /// The backend's first line.
    Hello(Hello),
    /// Something happened in a session.
    Event {
        /// The session.
        session: SessionId,
        /// What.
        event: LegacyEvent,
    },
    /// The session's commands up to `seq` are handled: sent to the network, or answered
    /// with an event saying why not. Commands not yet done when a backend dies are bounced.
    Done {
        /// The session.
        session: SessionId,
        /// The last command handled.
        seq: u64,
    },
    /// Keep `state` for this session's account, to be given back at its next login (a
    /// token, a sync position): the core stores it encrypted, at most 64 KiB. `None`
    /// forgets it.
    SaveState {
        /// The session.
        session: SessionId,
        /// What to keep.
        state: Option<String>,
    },
    /// The answer to [`ToBackend::Ping`].
    Pong {
        /// The ping's `request`.
        request: u64,
    },
}

/// The published copy of the protocol's schema, relative to the workspace.
pub const PUBLISHED: &str = "docs/backends/protocol.schema.json";

/// The protocol's JSON Schema (draft 2020-12): every type under `$defs` (the vocabulary's
/// among them), `to_backend` and `from_backend` at the top.
pub fn schema() -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let to_backend = generator.subschema_for::<ToBackend>();
    let from_backend = generator.subschema_for::<FromBackend>();
    let defs = generator.take_definitions(true);
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("Pontoon's backend protocol, version {PROTOCOL_VERSION}"),
        "description": "The lines between Pontoon's core and a backend process, one JSON object a line: to_backend on the backend's stdin, from_backend on its stdout.",
        "version": PROTOCOL_VERSION,
        "vocabulary": pontoon_core::legacy::VOCABULARY_VERSION,
        "type": "object",
        "properties": {
            "to_backend": to_backend.to_value(),
            "from_backend": from_backend.to_value(),
        },
        "$defs": defs,
    })
}

/// The schema as published: pretty, with a final newline.
pub fn published_text() -> String {
    pontoon_core::legacy::schema::pretty(&schema())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pontoon_core::legacy::LegacyId;

    /// The published copy is the schema of these types; `PONTOON_WRITE_SCHEMA=1` rewrites it.
    #[test]
    fn the_published_schema_is_current() {
        assert!(
            pontoon_core::legacy::schema::is_published(PUBLISHED, &published_text()),
            "{PUBLISHED} is not the protocol's schema: run `PONTOON_WRITE_SCHEMA=1 cargo test -p pontoon-backend --lib protocol` and commit it"
        );
    }

    #[test]
    fn lines_read_as_documented() {
        let hello: FromBackend = serde_json::from_str(
            r#"{"hello":{"protocol":1,"vocabulary":2,"descriptor":{"gateway_type":"echo","registration_instructions":"","registration_fields":[],"prompt":"a name"}}}"#,
        )
        .unwrap();
        let FromBackend::Hello(hello) = hello else {
            panic!("{hello:?}")
        };
        assert_eq!(hello.addresses, AddressRules::default());
        assert_eq!(hello.login.id, "username");
        let event: FromBackend =
            serde_json::from_str(r#"{"event":{"session":3,"event":"connected"}}"#).unwrap();
        assert_eq!(
            event,
            FromBackend::Event {
                session: 3,
                event: LegacyEvent::Connected
            }
        );
        let line = serde_json::to_string(&ToBackend::Command {
            session: 3,
            seq: 1,
            command: LegacyCommand::LeaveRoom {
                room: LegacyId::new("#a", None),
                reason: None,
            },
        })
        .unwrap();
        assert_eq!(
            line,
            r##"{"command":{"session":3,"seq":1,"command":{"leave_room":{"room":{"name":"#a"},"reason":null}}}}"##
        );
    }
}
