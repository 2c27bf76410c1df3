//! The one vocabulary every transport speaks with the core.
//!
//! A transport never sees XML and the XMPP side never sees a legacy wire format:
//! everything a network can do is said with [`LegacyCommand`] (core to network) and
//! [`LegacyEvent`] (network to core). A feature that does not fit is a change here,
//! made once, for all transports.
//!
//! Every type here is owned data with serde: the out-of-process backend protocol is this
//! vocabulary as JSON (externally tagged, snake_case names), versioned by
//! [`VOCABULARY_VERSION`]; the two enums are `#[non_exhaustive]`, so a transport of
//! another crate (or process) is ready for variants added later.

mod command;
mod event;
mod id;
pub mod schema;
mod types;

pub use command::LegacyCommand;
pub use event::LegacyEvent;
pub use id::LegacyId;
pub use types::*;

/// The version of this vocabulary, for transports in other processes: raised when a change
/// is not backward compatible (a variant or field renamed or removed).
pub const VOCABULARY_VERSION: u32 = 2;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_vocabulary_is_json() {
        let command = LegacyCommand::SendRoomMessage {
            room: LegacyId::new("#c", Some("irc.example.org")),
            body: "waves".into(),
            kind: MessageKind::Action,
            ids: ClientIds {
                id: Some("m1".into()),
                origin_id: None,
            },
            reply_to: None,
            thread: None,
            attachments: vec![],
        };
        let json = serde_json::to_string(&command).unwrap();
        assert_eq!(
            json,
            r##"{"send_room_message":{"room":{"name":"#c","network":"irc.example.org"},"body":"waves","kind":"action","ids":{"id":"m1","origin_id":null},"reply_to":null,"attachments":[]}}"##
        );
        assert_eq!(
            serde_json::from_str::<LegacyCommand>(&json).unwrap(),
            command
        );
        // What an older peer leaves out takes its default.
        let event: LegacyEvent =
            serde_json::from_str(r#"{"message":{"from":{"name":"bob"},"body":"hi"}}"#).unwrap();
        assert_eq!(
            event,
            LegacyEvent::Message {
                from: LegacyId::new("bob", None),
                body: "hi".into(),
                kind: MessageKind::Text,
                id: None,
                reply_to: None,
                thread: None,
                attachments: vec![],
                time: None,
                by_user: false,
            }
        );
        assert_eq!(
            serde_json::to_string(&LegacyEvent::Connected).unwrap(),
            r#""connected""#
        );
    }
}

/// Commands and events wait in every session's queues: their size is per-session memory.
#[cfg(test)]
mod size {
    #[test]
    fn vocabulary_sizes() {
        let command = std::mem::size_of::<super::LegacyCommand>();
        let event = std::mem::size_of::<super::LegacyEvent>();
        eprintln!("LegacyCommand {command} bytes, LegacyEvent {event} bytes");
        // 152 and 224 before the thread of sent and received messages (24 bytes): queues
        // allocate on first use, so an idle session pays nothing for it.
        assert!(command <= 176, "LegacyCommand grew to {command} bytes");
        assert!(event <= 248, "LegacyEvent grew to {event} bytes");
    }
}
