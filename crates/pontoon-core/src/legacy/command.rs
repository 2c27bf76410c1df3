//! What the core asks a legacy session to do.

use serde::{Deserialize, Serialize};

use super::Availability;
use super::{Attachment, ChatId, ChatState, ClientIds, LegacyId, MessageKind};

/// What the core asks a legacy session to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LegacyCommand {
    /// Send a one-to-one message to a legacy contact.
    SendMessage {
        /// The contact's legacy id.
        to: LegacyId,
        /// Message text (never contains NUL; transports still sanitise for their wire).
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The XMPP message id, echoed back in [`LegacyEvent::SendFailed`](super::LegacyEvent::SendFailed).
        id: Option<String>,
        /// The network's id of the message this one replies to (only where the network
        /// carries replies, [`Verbs::replies`](super::Verbs::replies)).
        reply_to: Option<String>,
        /// The network's id of the root of the thread this message belongs to (only where
        /// the network carries threads, [`Verbs::threads`](super::Verbs::threads)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Files shared with it (only where the network carries files,
        /// [`Verbs::files`](super::Verbs::files); elsewhere their links are in the body).
        #[serde(default)]
        attachments: Vec<Attachment>,
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
        room: LegacyId,
        /// The nick the user asked for; the session may have to use another one.
        nick: String,
        /// Room password (IRC channel key), if the client gave one.
        password: Option<String>,
    },
    /// Leave a room.
    LeaveRoom {
        /// The room's legacy id.
        room: LegacyId,
        /// Part message.
        reason: Option<String>,
    },
    /// Send a message to a room.
    SendRoomMessage {
        /// The room's legacy id.
        room: LegacyId,
        /// Message text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The client's ids, handed back in the reflected [`LegacyEvent::RoomMessage`](super::LegacyEvent::RoomMessage).
        #[serde(default)]
        ids: ClientIds,
        /// The network's id of the message this one replies to (only where the network
        /// carries replies, [`Verbs::replies`](super::Verbs::replies)).
        reply_to: Option<String>,
        /// The network's id of the root of the thread this message belongs to (only where
        /// the network carries threads, [`Verbs::threads`](super::Verbs::threads)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Files shared with it (only where the network carries files,
        /// [`Verbs::files`](super::Verbs::files)).
        #[serde(default)]
        attachments: Vec<Attachment>,
    },
    /// The user's reactions to a message changed (only where the network carries them,
    /// [`Verbs::reactions`](super::Verbs::reactions)).
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
    /// Replace the text of the user's message `target` (only where the network carries
    /// edits, [`Verbs::corrections`](super::Verbs::corrections)).
    Correct {
        /// Where.
        chat: ChatId,
        /// The network's id of the message.
        target: String,
        /// The new text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
    },
    /// Delete the user's message `target` (only where the network can,
    /// [`Verbs::retractions`](super::Verbs::retractions)).
    Retract {
        /// Where.
        chat: ChatId,
        /// The network's id of the message.
        target: String,
    },
    /// As a moderator of `room`, delete someone else's message `target` (only where the
    /// network can, [`Verbs::moderation`](super::Verbs::moderation)). Once done, the
    /// transport reports it to the moderator too, as
    /// [`LegacyEvent::Retracted`](super::LegacyEvent::Retracted) naming them: the core shows
    /// the deletion only then.
    Moderate {
        /// The room's legacy id.
        room: LegacyId,
        /// The network's id of the message.
        target: String,
        /// Why, shown to the room where the network can.
        reason: Option<String>,
    },
    /// As a moderator of `room`, give `nick` another role (only where the network can,
    /// [`Verbs::roles`](super::Verbs::roles)): moderator (IRC: op), participant (voice),
    /// visitor (neither). The room shows it when the network does.
    SetRole {
        /// The room's legacy id.
        room: LegacyId,
        /// The occupant's nick.
        nick: String,
        /// The role they get.
        role: super::Role,
    },
    /// As a moderator of `room`, send `nick` out of it (only where the network can,
    /// [`Verbs::kicks`](super::Verbs::kicks)); the room shows it when the network does.
    Kick {
        /// The room's legacy id.
        room: LegacyId,
        /// The occupant's nick.
        nick: String,
        /// Why, shown to the room where the network can.
        reason: Option<String>,
    },
    /// As a moderator of `room`, send `nick` out of it and keep them out (only where the
    /// network can, [`Verbs::kicks`](super::Verbs::kicks)).
    Ban {
        /// The room's legacy id.
        room: LegacyId,
        /// The occupant's nick.
        nick: String,
        /// Why, shown to the room where the network can.
        reason: Option<String>,
    },
    /// The user has seen everything in `chat` up to the message `target` (only where the
    /// network carries read markers, [`Verbs::markers`](super::Verbs::markers)).
    MarkDisplayed {
        /// Where.
        chat: ChatId,
        /// The network's id of the last message seen.
        target: String,
    },
    /// The user is writing, paused, or stopped (only where the network carries it,
    /// [`Verbs::typing`](super::Verbs::typing)).
    SetChatState {
        /// Where.
        chat: ChatId,
        /// The state.
        state: ChatState,
    },
    /// Change a room's subject.
    SetSubject {
        /// The room's legacy id.
        room: LegacyId,
        /// The new subject.
        subject: String,
    },
    /// Change the user's nick (on IRC, on the room's network, so in all its rooms).
    SetNick {
        /// The room the client asked from, which names the network.
        room: LegacyId,
        /// The new nick.
        nick: String,
    },
    /// Invite `contact` into `room` (IRC: INVITE). Answered, where it fails, by a notice.
    Invite {
        /// The room's legacy id.
        room: LegacyId,
        /// Who is invited.
        contact: LegacyId,
        /// Why, where the network carries it.
        reason: Option<String>,
    },
    /// Follow a contact's presence (the user added them, or their client probed them at
    /// login). The session answers with [`LegacyEvent::ContactPresence`](super::LegacyEvent::ContactPresence) as it learns.
    AddContact {
        /// The contact's legacy id.
        contact: LegacyId,
    },
    /// Stop following a contact's presence.
    RemoveContact {
        /// The contact's legacy id.
        contact: LegacyId,
    },
    /// Send `line` to `network` as the network's own command (IRC: a raw line), as the
    /// user typed it to the network's JID; checked first by
    /// [`Transport::check_raw`](crate::transport::Transport::check_raw). Answers come as
    /// [`LegacyEvent::NetworkNotice`](super::LegacyEvent::NetworkNotice).
    Raw {
        /// The network, from [`crate::transport::Address::Network`].
        network: String,
        /// The command, one line.
        line: String,
    },
    /// The user changed their settings of `network` ([`crate::settings`];
    /// [`crate::settings::ONLY_NETWORK`] for a transport with one): the network's values
    /// now. When they take effect is the transport's to say (IRC: at the next connection).
    SettingsChanged {
        /// The network.
        network: String,
        /// Its values, by setting name.
        values: crate::settings::Values,
    },
    /// The user changed their settings of `room` ([`crate::settings::Scope::Room`]): the
    /// room's values now (IRC: the channel's key at the next join, its encodings at the
    /// next connection).
    RoomSettingsChanged {
        /// The room.
        room: LegacyId,
        /// Its values, by setting name.
        values: crate::settings::Values,
    },
    /// Say what the network says of `contact` (IRC: WHOIS), where
    /// [`Verbs::lookup`](super::Verbs::lookup) says it can; answered, always and within
    /// seconds, with [`LegacyEvent::LookedUp`](super::LegacyEvent::LookedUp) carrying
    /// `request`.
    LookUp {
        /// Correlates the answer.
        request: u64,
        /// Who.
        contact: LegacyId,
    },
    /// List the ban masks of `room`, where [`Verbs::ban_list`](super::Verbs::ban_list)
    /// says the network keeps them; answered, always and within seconds, with
    /// [`LegacyEvent::BanList`](super::LegacyEvent::BanList) carrying `request`.
    ListBans {
        /// Correlates the answer.
        request: u64,
        /// The room.
        room: LegacyId,
    },
    /// Read `room`'s configuration, where [`Verbs::room_config`](super::Verbs::room_config)
    /// says it has one; answered, always and within seconds, with
    /// [`LegacyEvent::RoomConfig`](super::LegacyEvent::RoomConfig) carrying `request`.
    GetRoomConfig {
        /// Correlates the answer.
        request: u64,
        /// The room.
        room: LegacyId,
    },
    /// Change the parts of `room`'s configuration `config` has, as one of its moderators.
    SetRoomConfig {
        /// The room.
        room: LegacyId,
        /// What to change.
        config: super::RoomConfig,
    },
    /// Lift the ban `mask` in `room`, as one of its moderators.
    Unban {
        /// The room.
        room: LegacyId,
        /// The mask, as [`LegacyEvent::BanList`](super::LegacyEvent::BanList) gave it.
        mask: String,
    },
    /// Describe the connection to `network` for the user (server, encryption, nick, since
    /// when), answered as [`LegacyEvent::NetworkNotice`](super::LegacyEvent::NetworkNotice)
    /// (or a notice from the transport for [`crate::settings::ONLY_NETWORK`]).
    DescribeConnection {
        /// The network.
        network: String,
    },
    /// List the rooms of a network (for service discovery); answered with
    /// [`LegacyEvent::RoomList`](super::LegacyEvent::RoomList) or [`LegacyEvent::RoomListFailed`](super::LegacyEvent::RoomListFailed) carrying `request`.
    ListRooms {
        /// Correlates the answer.
        request: u64,
        /// The network asked about, from [`crate::transport::Address::Network`]; `None` for
        /// the transport's own (fixed) network.
        network: Option<String>,
        /// Only rooms whose id, name or topic contains this (XEP-0055 search); a network
        /// that cannot search lists everything, and the core filters.
        #[serde(default)]
        search: Option<String>,
    },
    /// Log out of the legacy network.
    Disconnect {
        /// The quit message shown to others where the network has one.
        reason: String,
    },
    /// Carry out `command` (a [`LegacyCommand::SendMessage`] or
    /// [`LegacyCommand::SendRoomMessage`]) and answer
    /// [`LegacyEvent::Settled`](super::LegacyEvent::Settled) with `receipt` once done with it:
    /// written to the network, or failed (and said so with its own event). The core keeps
    /// the message in its store meanwhile, so a crash loses none of it. Sent only to a
    /// transport that said its queue is backed up
    /// ([`LegacyEvent::Backlog`](super::LegacyEvent::Backlog)); one that never does never
    /// gets it.
    Tracked {
        /// The core's number for the message.
        receipt: u64,
        /// The message.
        command: Box<LegacyCommand>,
    },
}
