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

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

/// The version of this vocabulary, for transports in other processes: raised when a change
/// is not backward compatible (a variant or field renamed or removed).
pub const VOCABULARY_VERSION: u32 = 2;
use std::fmt;

/// The legacy identity a user registered with, as the transport needs it to log in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyAccount {
    /// The user's id on the legacy network (nick, user name, Matrix id...).
    pub legacy_id: String,
    /// The password or token, if the network needs one. Never logged.
    pub secret: Option<String>,
    /// Further per-registration options the transport's form asked for.
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for LegacyAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyAccount")
            .field("legacy_id", &self.legacy_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("options", &self.options)
            .finish()
    }
}

/// How available a legacy contact (or the user) is, as XMPP's `<show/>` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Online and available.
    Available,
    /// Away for a short while.
    Away,
    /// Away for a long while.
    ExtendedAway,
    /// Busy, do not disturb.
    DoNotDisturb,
    /// Free for chat.
    Chat,
    /// Offline.
    Offline,
}

/// An occupant's standing in a room, as XEP-0045 roles say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May kick and change the subject (IRC channel operators and above).
    Moderator,
    /// May speak (IRC voice, or anyone in an unmoderated channel).
    Participant,
    /// Present but may not speak (IRC +m channel without voice).
    Visitor,
}

/// An occupant's long-term standing in a room, as XEP-0045 affiliations say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Affiliation {
    /// IRC `~` (founder).
    Owner,
    /// IRC `&` and `@`.
    Admin,
    /// IRC `%` and `+`.
    Member,
    /// Everyone else.
    None,
}

/// Someone in a legacy room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupant {
    /// Their nick in the room.
    pub nick: String,
    /// Their role.
    pub role: Role,
    /// Their affiliation.
    pub affiliation: Affiliation,
}

/// A room in a network's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room's legacy id, as [`LegacyCommand::JoinRoom`] takes it.
    pub room: String,
    /// How many are in it, if the network says.
    pub occupants: Option<u32>,
    /// Its topic, if any.
    pub topic: Option<String>,
}

/// Why joining a room failed, mapped by the core to the matching MUC error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomError {
    /// The user is banned (`forbidden`).
    Banned,
    /// The room is full (`service-unavailable`).
    Full,
    /// The room is invite-only (`registration-required`).
    InviteOnly,
    /// A key/password is needed or was wrong (`not-authorized`).
    BadKey,
    /// The nick is taken (`conflict`).
    NickInUse,
    /// No such room, or an invalid name (`item-not-found`).
    NotFound,
    /// Anything else (`service-unavailable`).
    Other,
}

/// Why someone left a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveKind {
    /// They left the room (IRC PART).
    Part,
    /// They left the network (IRC QUIT).
    Quit,
    /// They were kicked.
    Kick {
        /// Who kicked them.
        by: Option<String>,
    },
}

/// What kind of text a message is. On XMPP an action is a body starting with `/me `
/// (XEP-0245) and a notice is an ordinary body; on IRC they are CTCP ACTION and NOTICE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Ordinary text.
    #[default]
    Text,
    /// Something the author does (`/me waves`), the text without the `/me `.
    Action,
    /// Automatic text that must not be answered automatically (IRC NOTICE).
    Notice,
}

/// A conversation: a room, or a direct chat with a contact (legacy ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatId {
    /// A room.
    Room(String),
    /// A direct chat with this contact.
    Contact(String),
}

impl ChatId {
    /// The chat's legacy id (rooms' and contacts' ids never collide on a network: IRC
    /// channels start with a channel prefix, Matrix room ids with `!` or `#`).
    pub fn id(&self) -> &str {
        match self {
            ChatId::Room(id) | ChatId::Contact(id) => id,
        }
    }
}

/// Whether someone is writing (XEP-0085's states a network can tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatState {
    /// Writing now.
    Composing,
    /// Was writing, stopped for a moment.
    Paused,
    /// Not writing (any more).
    Active,
}

/// A file shared in a message: where to fetch it, and what is known of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Where it is (http or https).
    pub url: String,
    /// Its file name, if known.
    #[serde(default)]
    pub name: Option<String>,
    /// Its media type (`image/png`), if known.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Its size in bytes, if known.
    #[serde(default)]
    pub size: Option<u64>,
}

/// The verbs a network carries natively; the core writes the others as readable text
/// (`crate::verbs`). Per network, since one IRC server has message-tags and another not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verbs {
    /// [`LegacyCommand::React`].
    #[serde(default)]
    pub reactions: bool,
    /// `reply_to` on sent messages.
    #[serde(default)]
    pub replies: bool,
    /// [`LegacyCommand::SetChatState`].
    #[serde(default)]
    pub typing: bool,
}

/// Why the network did not take a message the user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendError {
    /// The network refused it (a moderated channel, a ban): `forbidden`.
    Refused,
    /// Too many messages wait to be sent: `resource-constraint`, try again later.
    Busy,
    /// The network could not be reached, or the user is not in the room:
    /// `recipient-unavailable`.
    Unreachable,
}

/// The ids an XMPP client gave a message it sent. The transport carries them untouched and
/// hands them back with the message's reflection, so the client recognises its own message
/// (clients match by the XEP-0359 origin-id first, then by the stanza `id`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIds {
    /// The stanza's `id` attribute.
    pub id: Option<String>,
    /// The XEP-0359 `<origin-id/>`.
    pub origin_id: Option<String>,
}

impl ClientIds {
    /// No ids: a message that is not a reflection of the user's own.
    pub fn none() -> Self {
        ClientIds::default()
    }

    /// Whether the client gave no id at all (the message is not a reflection of its own).
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.origin_id.is_none()
    }
}

/// What the core asks a legacy session to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LegacyCommand {
    /// Send a one-to-one message to a legacy contact.
    SendMessage {
        /// The contact's legacy id.
        to: String,
        /// Message text (never contains NUL; transports still sanitise for their wire).
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The XMPP message id, echoed back in [`LegacyEvent::SendFailed`].
        id: Option<String>,
        /// The network's id of the message this one replies to (only where the network
        /// carries replies, [`Verbs::replies`]).
        reply_to: Option<String>,
    },
    /// The user's own presence changed (aggregated over all their resources).
    SetPresence {
        /// How available the user is.
        availability: Availability,
        /// Free text status.
        status: Option<String>,
    },
    /// A text command the user typed to the transport itself (for example `status`).
    UserCommand {
        /// The command word.
        name: String,
        /// The rest of the line.
        args: String,
    },
    /// Join a room (for IRC, a channel `#chan%server`).
    JoinRoom {
        /// The room's legacy id.
        room: String,
        /// The nick the user asked for; the session may have to use another one.
        nick: String,
        /// Room password (IRC channel key), if the client gave one.
        password: Option<String>,
    },
    /// Leave a room.
    LeaveRoom {
        /// The room's legacy id.
        room: String,
        /// Part message.
        reason: Option<String>,
    },
    /// Send a message to a room.
    SendRoomMessage {
        /// The room's legacy id.
        room: String,
        /// Message text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The client's ids, handed back in the reflected [`LegacyEvent::RoomMessage`].
        #[serde(default)]
        ids: ClientIds,
        /// The network's id of the message this one replies to (only where the network
        /// carries replies, [`Verbs::replies`]).
        reply_to: Option<String>,
    },
    /// The user's reactions to a message changed (only where the network carries them,
    /// [`Verbs::reactions`]).
    React {
        /// Where.
        chat: ChatId,
        /// The network's id of the message.
        target: String,
        /// Reactions added.
        added: Vec<String>,
        /// Reactions taken back.
        removed: Vec<String>,
    },
    /// The user is writing, paused, or stopped (only where the network carries it,
    /// [`Verbs::typing`]).
    SetChatState {
        /// Where.
        chat: ChatId,
        /// The state.
        state: ChatState,
    },
    /// Change a room's subject.
    SetSubject {
        /// The room's legacy id.
        room: String,
        /// The new subject.
        subject: String,
    },
    /// Change the user's nick (on IRC, on the room's network, so in all its rooms).
    SetNick {
        /// The room the client asked from, which names the network.
        room: String,
        /// The new nick.
        nick: String,
    },
    /// Follow a contact's presence (the user added them, or their client probed them at
    /// login). The session answers with [`LegacyEvent::ContactPresence`] as it learns.
    AddContact {
        /// The contact's legacy id.
        contact: String,
    },
    /// Stop following a contact's presence.
    RemoveContact {
        /// The contact's legacy id.
        contact: String,
    },
    /// List the rooms of a network (for service discovery); answered with
    /// [`LegacyEvent::RoomList`] or [`LegacyEvent::RoomListFailed`] carrying `request`.
    ListRooms {
        /// Correlates the answer.
        request: u64,
        /// The network asked about, from [`crate::transport::Address::Network`]; `None` for
        /// the transport's own (fixed) network.
        network: Option<String>,
    },
    /// Log out of the legacy network.
    Disconnect {
        /// The quit message shown to others where the network has one.
        reason: String,
    },
}

/// What a legacy session tells the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LegacyEvent {
    /// Login succeeded: the user is online on the legacy network. After
    /// [`LegacyEvent::Reconnecting`], it means the connection is back.
    Connected,
    /// The legacy connection was lost and the transport is connecting again by itself; the
    /// session goes on (the transport keeps the user's rooms and queued messages, and tells
    /// the user about the outage itself). [`LegacyEvent::Connected`] follows once it is back,
    /// [`LegacyEvent::Disconnected`] if the transport gives up.
    Reconnecting {
        /// Readable reason the connection was lost.
        reason: String,
    },
    /// The network checked the user's credentials (a services login such as IRC SASL);
    /// sent before the first [`LegacyEvent::Connected`]. A network that checked nothing
    /// (an IRC server without SASL) does not send it: server mode then refuses the login
    /// unless the operator allows unchecked logins.
    Authenticated,
    /// Login failed; the session is over. The reason is shown to the user.
    LoginFailed {
        /// Readable reason from the network.
        reason: String,
    },
    /// The network could not be reached for the login (connection lost or timed out before
    /// it was complete): not the user's credentials' fault, worth trying again later. The
    /// session is over.
    Unreachable {
        /// Readable reason.
        reason: String,
    },
    /// The legacy connection ended; the session is over.
    Disconnected {
        /// Readable reason.
        reason: String,
    },
    /// A one-to-one message from a legacy contact.
    Message {
        /// The contact's legacy id.
        from: String,
        /// Message text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The network's message id, if it has one.
        id: Option<String>,
        /// The network's id of the message this one replies to, if any.
        reply_to: Option<String>,
        /// Files shared with it (the body says them too, for clients that show no files).
        #[serde(default)]
        attachments: Vec<Attachment>,
        /// When the network says it was sent (RFC 3339), for a delay stamp; `None` for now.
        time: Option<String>,
    },
    /// The user is in a room: everything needed to show it (XEP-0045 join).
    RoomJoined {
        /// The room's legacy id.
        room: String,
        /// The user's own nick in the room.
        nick: String,
        /// Everyone in the room, the user included.
        occupants: Vec<Occupant>,
        /// The subject, if any.
        subject: Option<String>,
    },
    /// Joining a room failed.
    RoomJoinFailed {
        /// The room's legacy id.
        room: String,
        /// Why, for the XMPP error condition.
        error: RoomError,
        /// Readable text from the network.
        text: String,
    },
    /// Someone joined a room, or their role changed.
    OccupantUpdated {
        /// The room's legacy id.
        room: String,
        /// Who, as they are now.
        occupant: Occupant,
    },
    /// Someone left a room (the user included, when `nick` is the user's own).
    OccupantLeft {
        /// The room's legacy id.
        room: String,
        /// Who.
        nick: String,
        /// How.
        kind: LeaveKind,
        /// Part, quit or kick message.
        reason: Option<String>,
    },
    /// Someone in a room changed nick (the user included).
    OccupantRenamed {
        /// The room's legacy id.
        room: String,
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
    },
    /// A message in a room, including the user's own, reflected.
    RoomMessage {
        /// The room's legacy id.
        room: String,
        /// Who said it.
        nick: String,
        /// Message text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// For the user's own messages, the ids their client sent them with; none otherwise.
        #[serde(default)]
        ids: ClientIds,
        /// The network's id of the message (IRC `msgid`), if it has one.
        id: Option<String>,
        /// The network's id of the message this one replies to, if any.
        reply_to: Option<String>,
        /// Files shared with it (the body says them too, for clients that show no files).
        #[serde(default)]
        attachments: Vec<Attachment>,
        /// When the network says it was sent (RFC 3339).
        time: Option<String>,
    },
    /// A room's subject changed (or was announced).
    RoomSubject {
        /// The room's legacy id.
        room: String,
        /// Who changed it, if known.
        nick: Option<String>,
        /// The subject.
        subject: String,
    },
    /// The rooms of a network, answering [`LegacyCommand::ListRooms`].
    RoomList {
        /// The request answered.
        request: u64,
        /// The rooms (the transport bounds how many).
        rooms: Vec<RoomInfo>,
    },
    /// Listing rooms failed.
    RoomListFailed {
        /// The request answered.
        request: u64,
        /// Readable reason.
        text: String,
    },
    /// What a network carries natively, once known (on IRC, after the capability
    /// negotiation of each server). Until then, nothing.
    Verbs {
        /// The network (`None`: the transport's only one), as
        /// [`crate::transport::Transport::network_of`] names it.
        network: Option<String>,
        /// The verbs.
        verbs: Verbs,
    },
    /// Someone reacted to a message, or took a reaction back (the user's own reactions
    /// included, as the network reflects them).
    Reaction {
        /// Where.
        chat: ChatId,
        /// Who: a nick in a room, the contact in a direct chat.
        author: String,
        /// The network's id of the message reacted to.
        target: String,
        /// The reaction (usually one emoji).
        emoji: String,
        /// Taken back rather than added.
        removed: bool,
    },
    /// Someone is writing, paused, or stopped (XEP-0085).
    ChatState {
        /// Where.
        chat: ChatId,
        /// Who: a nick in a room, the contact in a direct chat.
        author: String,
        /// The state.
        state: ChatState,
    },
    /// A room-related notice (for example a send error in a room).
    RoomNotice {
        /// The room's legacy id.
        room: String,
        /// The text.
        text: String,
    },
    /// A message the user sent to a room was not taken by the network: the user's client
    /// gets an error for that very message (its ids).
    RoomSendFailed {
        /// The room's legacy id.
        room: String,
        /// The ids the user's client gave the message.
        #[serde(default)]
        ids: ClientIds,
        /// Why.
        error: SendError,
        /// Readable reason from the network or the transport.
        reason: String,
    },
    /// A direct message the user sent was taken by the network under `legacy_id` (IRC:
    /// the `msgid` of its echo), so what others say about it finds it.
    MessageSent {
        /// The contact it was for.
        to: String,
        /// The XMPP id the user gave it.
        id: String,
        /// The network's id for it.
        legacy_id: String,
    },
    /// A message the user sent could not be delivered.
    SendFailed {
        /// The contact it was for.
        to: String,
        /// The XMPP id the user gave it.
        id: Option<String>,
        /// Readable reason.
        reason: String,
    },
    /// A legacy contact's presence.
    ContactPresence {
        /// The contact's legacy id.
        contact: String,
        /// How available the contact is.
        availability: Availability,
        /// Free text status.
        status: Option<String>,
    },
    /// Text from the network or the transport for the user (server notices, command answers).
    Notice {
        /// The text.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_vocabulary_is_json() {
        let command = LegacyCommand::SendRoomMessage {
            room: "#c".into(),
            body: "waves".into(),
            kind: MessageKind::Action,
            ids: ClientIds {
                id: Some("m1".into()),
                origin_id: None,
            },
            reply_to: None,
        };
        let json = serde_json::to_string(&command).unwrap();
        assert_eq!(
            json,
            r##"{"send_room_message":{"room":"#c","body":"waves","kind":"action","ids":{"id":"m1","origin_id":null},"reply_to":null}}"##
        );
        assert_eq!(
            serde_json::from_str::<LegacyCommand>(&json).unwrap(),
            command
        );
        // What an older peer leaves out takes its default.
        let event: LegacyEvent =
            serde_json::from_str(r#"{"message":{"from":"bob","body":"hi"}}"#).unwrap();
        assert_eq!(
            event,
            LegacyEvent::Message {
                from: "bob".into(),
                body: "hi".into(),
                kind: MessageKind::Text,
                id: None,
                reply_to: None,
                attachments: vec![],
                time: None,
            }
        );
        assert_eq!(
            serde_json::to_string(&LegacyEvent::Connected).unwrap(),
            r#""connected""#
        );
    }
}
