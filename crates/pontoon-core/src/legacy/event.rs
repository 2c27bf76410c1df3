//! What a legacy session tells the core.

use serde::{Deserialize, Serialize};

use super::*;

/// What a legacy session tells the core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The transport now keeps what it needs to log in again in its own state (a Matrix
    /// device's access token): the password stored with the user's registration is
    /// deleted, so the gateway no longer holds it. Sent after the login that used it.
    SecretConsumed,
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
        from: LegacyId,
        /// Message text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
        /// The network's message id, if it has one.
        id: Option<String>,
        /// The network's id of the message this one replies to, if any.
        reply_to: Option<String>,
        /// The network's id of the root of the thread this message belongs to, if any
        /// (shown as an XMPP `<thread/>`, see `crate::inbound::thread`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Files shared with it (the body says them too, for clients that show no files).
        #[serde(default)]
        attachments: Vec<Attachment>,
        /// When the network says it was sent (RFC 3339), for a delay stamp; `None` for now.
        time: Option<String>,
        /// The user sent it, from another client of theirs on the network, and `from` is
        /// the contact they sent it to: shown as sent by them (an XEP-0280 carbon where
        /// their server lets the gateway, `crate::privilege`). Not for the echo of what the
        /// gateway sent itself.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_user: bool,
    },
    /// The user is in a room: everything needed to show it (XEP-0045 join).
    RoomJoined {
        /// The room's legacy id.
        room: LegacyId,
        /// The room's name, where it has one besides its id (a Matrix room name).
        #[serde(default)]
        name: Option<String>,
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
        room: LegacyId,
        /// Why, for the XMPP error condition.
        error: RoomError,
        /// Readable text from the network.
        text: String,
    },
    /// Someone joined a room, or their role changed.
    OccupantUpdated {
        /// The room's legacy id.
        room: LegacyId,
        /// Who, as they are now.
        occupant: Occupant,
    },
    /// Someone left a room (the user included, when `nick` is the user's own).
    OccupantLeft {
        /// The room's legacy id.
        room: LegacyId,
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
        room: LegacyId,
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
    },
    /// A message in a room, including the user's own, reflected.
    RoomMessage {
        /// The room's legacy id.
        room: LegacyId,
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
        /// The network's id of the root of the thread this message belongs to, if any
        /// (shown as an XMPP `<thread/>`, see `crate::inbound::thread`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<String>,
        /// Files shared with it (the body says them too, for clients that show no files).
        #[serde(default)]
        attachments: Vec<Attachment>,
        /// When the network says it was sent (RFC 3339).
        time: Option<String>,
    },
    /// A room's subject changed (or was announced).
    RoomSubject {
        /// The room's legacy id.
        room: LegacyId,
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
        /// [`LegacyId::network`](crate::legacy::LegacyId::network) names it.
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
    /// Someone edited a message (the user's own included, as the network reflects them).
    Corrected {
        /// Where.
        chat: ChatId,
        /// Who: a nick in a room, the contact in a direct chat.
        author: String,
        /// The network's id of the edited message.
        target: String,
        /// Its new text.
        body: String,
        /// Text, action or notice.
        #[serde(default)]
        kind: MessageKind,
    },
    /// A message was deleted by its author, or by a moderator of the room.
    Retracted {
        /// Where.
        chat: ChatId,
        /// Who wrote it: a nick in a room, the contact in a direct chat.
        author: String,
        /// The network's id of the deleted message.
        target: String,
        /// The room moderator (nick) who deleted it, if not its author (XEP-0425).
        #[serde(default)]
        moderator: Option<String>,
        /// Why, if the moderator said.
        #[serde(default)]
        reason: Option<String>,
    },
    /// What happened to a message the user sent: delivered, or seen (in a room: seen by
    /// `author`).
    Receipt {
        /// Where.
        chat: ChatId,
        /// Who received or saw it: a nick in a room, the contact in a direct chat.
        author: String,
        /// The network's id of the message.
        target: String,
        /// Delivered or seen.
        receipt: Receipt,
    },
    /// The user's contact list on the network, whole (after login), so the user's roster
    /// can follow it.
    ContactList {
        /// Everyone on it.
        contacts: Vec<Contact>,
    },
    /// Someone was added to the user's contact list, or changed name or avatar.
    ContactUpdated {
        /// Who, as they are now.
        contact: Contact,
    },
    /// Someone was removed from the user's contact list.
    ContactRemoved {
        /// Their legacy id.
        contact: LegacyId,
    },
    /// Rooms the user is in on the network as the network keeps them (Matrix's joined
    /// rooms, whatever client joined them): every one when the transport first learns them,
    /// then each one joined. Bookmarked for the user's clients where their server lets the
    /// gateway (`crate::privilege::bookmarks`).
    MemberOf {
        /// The rooms, with what the network says of them.
        rooms: Vec<RoomInfo>,
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
        room: LegacyId,
        /// The text.
        text: String,
    },
    /// A message the user sent to a room was not taken by the network: the user's client
    /// gets an error for that very message (its ids).
    RoomSendFailed {
        /// The room's legacy id.
        room: LegacyId,
        /// The ids the user's client gave the message.
        #[serde(default)]
        ids: ClientIds,
        /// Why.
        error: SendError,
        /// Readable reason from the network or the transport.
        reason: String,
    },
    /// Someone invited the user into `room`; the user's clients see a XEP-0249 invitation.
    Invited {
        /// The room's legacy id.
        room: LegacyId,
        /// Who invited, where known (a contact id).
        #[serde(default)]
        by: Option<LegacyId>,
        /// Why, where the network says.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The network did not carry out what the user asked of its message `target` in
    /// `chat` (a correction, retraction, reaction, or a moderator's deletion): the user is
    /// told in that chat, and the core stops waiting for its echo.
    VerbRefused {
        /// Where.
        chat: ChatId,
        /// The network's id of the message the verb was about.
        target: String,
        /// Readable reason from the network or the transport.
        reason: String,
    },
    /// A direct message the user sent was taken by the network under `legacy_id` (IRC:
    /// the `msgid` of its echo), so what others say about it finds it.
    MessageSent {
        /// The contact it was for.
        to: LegacyId,
        /// The XMPP id the user gave it.
        id: String,
        /// The network's id for it.
        legacy_id: String,
    },
    /// The transport's queue of the user's messages is backed up (`waiting`: what the core
    /// sends now waits behind others, IRC's flood pacing) or empty again. Said once per
    /// change, per connection: a transport with several connections says each. While it is
    /// backed up, the core keeps each message it sends in its store and sends it
    /// [`LegacyCommand::Tracked`](super::LegacyCommand::Tracked).
    Backlog {
        /// Backed up (true) or empty again (false).
        waiting: bool,
    },
    /// The transport is done with the [`LegacyCommand::Tracked`](super::LegacyCommand::Tracked)
    /// message `receipt`: written to the network, or failed and said so.
    Settled {
        /// The receipt the command carried.
        receipt: u64,
    },
    /// A message the user sent could not be delivered.
    SendFailed {
        /// The contact it was for.
        to: LegacyId,
        /// The XMPP id the user gave it.
        id: Option<String>,
        /// Readable reason.
        reason: String,
    },
    /// A legacy contact's presence.
    ContactPresence {
        /// The contact's legacy id.
        contact: LegacyId,
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
    /// The answer to [`LegacyCommand::GetRoomConfig`](super::LegacyCommand::GetRoomConfig):
    /// the room's configuration, or why it could not be read, in words.
    RoomConfig {
        /// The request answered.
        request: u64,
        /// The configuration, or why not.
        config: Result<super::RoomConfig, String>,
    },
    /// The answer to [`LegacyCommand::ListBans`](super::LegacyCommand::ListBans): the
    /// room's ban masks, or why they could not be listed, in words.
    BanList {
        /// The request answered.
        request: u64,
        /// The masks, or why not.
        masks: Result<Vec<String>, String>,
    },
    /// The answer to [`LegacyCommand::LookUp`](super::LegacyCommand::LookUp): what the
    /// network says of them, `None` when it does not know them.
    LookedUp {
        /// The request answered.
        request: u64,
        /// What it says.
        details: Option<super::ContactDetails>,
    },
    /// Text from one network, shown from its own JID (its server's notices, the answers to
    /// the user's raw commands, [`LegacyCommand::Raw`](super::LegacyCommand::Raw)).
    NetworkNotice {
        /// The network, as [`crate::transport::Address::Network`] names it.
        network: String,
        /// The text.
        text: String,
    },
}
