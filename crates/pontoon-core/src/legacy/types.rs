//! The vocabulary's nouns: accounts, people, rooms, message kinds, ids and capabilities.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::LegacyId;

/// The legacy identity a user registered with, as the transport needs it to log in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Occupant {
    /// Their nick in the room.
    pub nick: String,
    /// Who they are on the network, where it differs from the nick and stays when the nick
    /// changes (a Matrix user id); `None` on networks where the nick is all there is (IRC).
    /// Their XEP-0421 occupant id follows it.
    #[serde(default)]
    pub person: Option<String>,
    /// Their role.
    pub role: Role,
    /// Their affiliation.
    pub affiliation: Affiliation,
}

/// A room in a network's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoomInfo {
    /// The room's legacy id, as [`LegacyCommand::JoinRoom`](super::LegacyCommand::JoinRoom) takes it.
    pub room: LegacyId,
    /// Its name, where it has one besides its id.
    #[serde(default)]
    pub name: Option<String>,
    /// How many are in it, if the network says.
    pub occupants: Option<u32>,
    /// Its topic, if any.
    pub topic: Option<String>,
}

/// Why joining a room failed, mapped by the core to the matching MUC error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The user is in as many rooms as the network or the gateway allows
    /// (`policy-violation`: leave one first).
    TooManyRooms,
    /// The join cannot be taken now (`resource-constraint`: try again later).
    Busy,
    /// Anything else (`service-unavailable`).
    Other,
}

/// Why someone left a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// They were banned: kicked, and kept out (XEP-0045 status 301, affiliation outcast).
    Ban {
        /// Who banned them.
        by: Option<String>,
    },
}

/// What kind of text a message is. On XMPP an action is a body starting with `/me `
/// (XEP-0245) and a notice is an ordinary body; on IRC they are CTCP ACTION and NOTICE.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatId {
    /// A room.
    Room(LegacyId),
    /// A direct chat with this contact.
    Contact(LegacyId),
}

impl ChatId {
    /// The chat's legacy id (rooms' and contacts' ids never collide on a network: IRC
    /// channels start with a channel prefix, Matrix room ids with `!` or `#`).
    pub fn id(&self) -> &LegacyId {
        match self {
            ChatId::Room(id) | ChatId::Contact(id) => id,
        }
    }
}

/// Whether someone is writing (XEP-0085's states a network can tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// A small preview, where the network has one (XEP-0264 on the XMPP side).
    #[serde(default)]
    pub thumbnail: Option<Thumbnail>,
}

/// A preview image of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Thumbnail {
    /// Where it is (http or https, or a reference the transport fetches, as for files).
    pub url: String,
    /// Its media type, if known.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Its width in pixels, if known.
    #[serde(default)]
    pub width: Option<u32>,
    /// Its height in pixels, if known.
    #[serde(default)]
    pub height: Option<u32>,
}

/// The verbs a network carries natively; the core writes the others as readable text
/// (`crate::verbs`). Per network, since one IRC server has message-tags and another not.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Verbs {
    /// [`LegacyCommand::React`](super::LegacyCommand::React).
    #[serde(default)]
    pub reactions: bool,
    /// `reply_to` on sent messages.
    #[serde(default)]
    pub replies: bool,
    /// [`LegacyCommand::SetChatState`](super::LegacyCommand::SetChatState).
    #[serde(default)]
    pub typing: bool,
    /// [`LegacyCommand::Correct`](super::LegacyCommand::Correct): messages can be edited.
    #[serde(default)]
    pub corrections: bool,
    /// [`LegacyCommand::Retract`](super::LegacyCommand::Retract): the user's messages can
    /// be deleted.
    #[serde(default)]
    pub retractions: bool,
    /// [`LegacyCommand::Moderate`](super::LegacyCommand::Moderate): a room's moderators
    /// can delete others' messages.
    #[serde(default)]
    pub moderation: bool,
    /// [`LegacyCommand::MarkDisplayed`](super::LegacyCommand::MarkDisplayed): the network
    /// tells others what the user has read.
    #[serde(default)]
    pub markers: bool,
    /// The network says when a direct message reached its recipient
    /// ([`Receipt::Delivered`]).
    #[serde(default)]
    pub receipts: bool,
    /// Files: sent messages carry their attachments as such, not as links in the text.
    #[serde(default)]
    pub files: bool,
    /// [`LegacyCommand::Kick`](super::LegacyCommand::Kick) and
    /// [`LegacyCommand::Ban`](super::LegacyCommand::Ban): a room's moderators can send
    /// people out.
    #[serde(default)]
    pub kicks: bool,
    /// [`LegacyCommand::SetRole`](super::LegacyCommand::SetRole): a room's moderators can
    /// give others another role.
    #[serde(default)]
    pub roles: bool,
    /// Threads: sent messages carry the thread they belong to (`thread` on
    /// [`LegacyCommand::SendMessage`](super::LegacyCommand::SendMessage) and
    /// [`LegacyCommand::SendRoomMessage`](super::LegacyCommand::SendRoomMessage)).
    #[serde(default)]
    pub threads: bool,
    /// [`LegacyCommand::LookUp`](super::LegacyCommand::LookUp): the network says who
    /// someone is (IRC's WHOIS), shown as their vCard.
    #[serde(default)]
    pub lookup: bool,
    /// [`LegacyCommand::ListBans`](super::LegacyCommand::ListBans) and
    /// [`LegacyCommand::Unban`](super::LegacyCommand::Unban): rooms keep a list of ban
    /// masks, shown as the outcast list.
    #[serde(default)]
    pub ban_list: bool,
    /// [`LegacyCommand::GetRoomConfig`](super::LegacyCommand::GetRoomConfig) and
    /// [`LegacyCommand::SetRoomConfig`](super::LegacyCommand::SetRoomConfig): rooms have
    /// settings of their own (IRC's channel modes), shown as the room's configuration.
    #[serde(default)]
    pub room_config: bool,
}

/// A room's settings the network keeps (IRC's channel modes), as XEP-0045's room
/// configuration. Read, every part is there that the network has; to change, only the
/// parts to change are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoomConfig {
    /// Only occupants with voice may speak (IRC `+m`).
    #[serde(default)]
    pub moderated: Option<bool>,
    /// Only the invited may join (IRC `+i`).
    #[serde(default)]
    pub members_only: Option<bool>,
    /// Only moderators may change the subject (IRC `+t`).
    #[serde(default)]
    pub subject_locked: Option<bool>,
    /// A password is needed to join (IRC `+k`).
    #[serde(default)]
    pub password_protected: Option<bool>,
    /// The password, where one is set or to be set.
    #[serde(default)]
    pub password: Option<String>,
}

/// What a network says of someone ([`LegacyCommand::LookUp`](super::LegacyCommand::LookUp)),
/// each part only where it says it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContactDetails {
    /// Their real name (IRC's "real name" field).
    #[serde(default)]
    pub name: Option<String>,
    /// The services account they are logged in to.
    #[serde(default)]
    pub account: Option<String>,
    /// Where they are connected (an IRC server).
    #[serde(default)]
    pub server: Option<String>,
    /// Their address on the network (IRC's user@host).
    #[serde(default)]
    pub address: Option<String>,
    /// Seconds since they last said anything.
    #[serde(default)]
    pub idle_secs: Option<u64>,
    /// Their away message, when away.
    #[serde(default)]
    pub away: Option<String>,
}

impl Verbs {
    /// Every verb: a network that carries all of them.
    pub const ALL: Verbs = Verbs {
        reactions: true,
        replies: true,
        typing: true,
        corrections: true,
        retractions: true,
        moderation: true,
        markers: true,
        receipts: true,
        files: true,
        kicks: true,
        roles: true,
        threads: true,
        lookup: true,
        ban_list: true,
        room_config: true,
    };
}

/// Why the network did not take a message the user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Someone on the user's contact list of the network, as it names and shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Contact {
    /// Their legacy id (stable: a Matrix user id, an IRC nick).
    pub id: LegacyId,
    /// The name they show, if different from the id.
    #[serde(default)]
    pub name: Option<String>,
    /// Their picture, if they have one: a reference the transport's
    /// [`fetch_media`](crate::transport::Transport::fetch_media) fetches (a small version
    /// where the network makes one), shown as an XEP-0153 avatar (`crate::avatar`).
    #[serde(default)]
    pub avatar: Option<String>,
}

/// What the network confirms about a message the user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// It reached the recipient's device (XEP-0184 `<received/>`).
    Delivered,
    /// The recipient has seen it (XEP-0333 `<displayed/>`).
    Displayed,
}
