//! The session's inbox: what the service hands a session ([`SessionInput`]) and the
//! sending half it hands it through ([`InboxSender`]).

use std::time::Instant;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::presence::Show;

use crate::legacy::LegacyId;
use pontoon_xmpp::handled::Handled;

/// What the service hands a session (boxed in the inbox, see [`InboxSender`]).
#[derive(Debug)]
pub enum SessionInput {
    /// Presence from one of the user's resources to the transport.
    Presence {
        /// The resource's full JID (or the bare JID when the server speaks for all).
        from: Jid,
        /// Available or not.
        available: bool,
        /// `<show/>`.
        show: Option<Show>,
        /// `<status/>`.
        status: Option<String>,
        /// The original stanza, handled again if the session ends before reading it.
        stanza: Element,
    },
    /// A message from the user to a legacy contact, already checked by the service.
    Message {
        /// The contact's legacy id.
        to: LegacyId,
        /// What the message asks for.
        verb: crate::inbound::Verb,
        /// The room and nick the user wrote to, for a private message through a room.
        via_room: Option<(LegacyId, String)>,
        /// The original stanza, for bounces.
        stanza: Element,
        /// When it was read from the XMPP side.
        read_at: Instant,
        /// Its XEP-0198 receipt (server mode): dropped once the message is sent, kept or
        /// bounced, so the client's `h` covers it only then.
        handled: Option<Handled>,
    },
    /// A command word typed to the transport JID.
    Command {
        /// The command.
        name: String,
        /// Its arguments.
        args: String,
    },
    /// A resource joins a room (or changes nick in it).
    JoinRoom {
        /// The resource.
        from: Jid,
        /// The room's legacy id.
        room: LegacyId,
        /// The nick asked for.
        nick: String,
        /// Room password.
        password: Option<String>,
        /// The original stanza, handled again if the session ends before reading it.
        stanza: Element,
    },
    /// A resource leaves a room.
    LeaveRoom {
        /// The resource.
        from: Jid,
        /// The room's legacy id.
        room: LegacyId,
    },
    /// A groupchat message (text, subject change, correction, reaction...) from a resource.
    RoomMessage {
        /// The resource.
        from: Jid,
        /// The room's legacy id.
        room: LegacyId,
        /// What the message asks for.
        verb: crate::inbound::Verb,
        /// The original stanza, for bounces.
        stanza: Element,
        /// When it was read from the XMPP side.
        read_at: Instant,
        /// Its XEP-0198 receipt (server mode): dropped once the message is sent, kept or
        /// bounced, so the client's `h` covers it only then.
        handled: Option<Handled>,
    },
    /// Follow a legacy contact's presence and tell `reply_to` what is known of it.
    AddContact {
        /// The contact's legacy id.
        contact: LegacyId,
        /// Who asked (a probe's or subscription's sender).
        reply_to: Jid,
    },
    /// Follow many contacts at once (a new session's contact list); presence goes to the
    /// user's bare JID as it becomes known.
    AddContacts {
        /// The contacts' legacy ids.
        contacts: Vec<LegacyId>,
    },
    /// Stop following a contact.
    RemoveContact {
        /// The contact's legacy id.
        contact: LegacyId,
    },
    /// An IQ to a room or a contact that the session answers, knowing what the network
    /// carries: disco#info, a moderator's retraction (XEP-0425).
    ChatIq {
        /// The room or contact.
        chat: crate::legacy::ChatId,
        /// The IQ.
        stanza: Element,
    },
    /// A raw command to a network (`crate::raw`), checked by the transport.
    Raw {
        /// The network.
        network: String,
        /// The command.
        line: String,
        /// The user's message, for a bounce.
        stanza: Element,
    },
    /// A settings command (`crate::settings::commands`) about a network.
    Settings {
        /// The network ([`crate::settings::ONLY_NETWORK`] at the transport's JID) or room.
        scope: crate::settings::Scope,
        /// What the user asked.
        request: crate::settings::commands::Request,
        /// How they asked (chat or ad-hoc command).
        reply: crate::settings::commands::Reply,
    },
    /// A disco#items request for a room directory.
    ListRooms {
        /// The network (`None`: the transport's own).
        network: Option<String>,
        /// A search term (XEP-0055), answered as a search result.
        search: Option<String>,
        /// The IQ to answer.
        stanza: Element,
    },
    /// Server mode: answer `reply` once the legacy login is known to have succeeded or
    /// failed (at once when the session is already online).
    AwaitLogin {
        /// Where the outcome goes.
        reply: tokio::sync::oneshot::Sender<crate::server::LoginOutcome>,
        /// Refuse the login unless the network checked the credentials
        /// ([`LegacyEvent::Authenticated`]).
        require_checked: bool,
    },
    /// A contact's picture was fetched, or could not be (the session's own background
    /// work, `crate::avatar`).
    AvatarFetched {
        /// Whose.
        contact: LegacyId,
        /// The reference it was fetched by (the contact may have changed it meanwhile).
        reference: Box<str>,
        /// Its hash, if it came.
        sha1: Option<[u8; 20]>,
    },
    /// The user's server answered an IQ of the session's (XEP-0356: `roster.rs`,
    /// `bookmarks.rs`).
    HostAnswer {
        /// The answer, result or error.
        stanza: Element,
    },
    /// The `bookmarks` command: the user's choice for the rooms they are in, or `None` to
    /// be told it (`bookmarks.rs`).
    Bookmarks {
        /// What they chose.
        choice: Option<super::BookmarkChoice>,
    },
    /// The `sync contacts` command: the network's contacts into the roster again.
    SyncContacts,
    /// Log out and end: shutdown, unregistration or an operator's request.
    Logout {
        /// Quit message for the legacy network and reason shown to the user.
        reason: String,
    },
    /// Server mode: the user's last client disconnected (stay online if they chose so,
    /// else log out).
    ClientsGone,
    /// The user changed their choice to stay online while away.
    AlwaysOnline {
        /// Their choice (or the transport's default, where they made none).
        on: bool,
    },
}

impl SessionInput {
    /// The user's original stanza carried by this input, for bounces and retries.
    pub fn into_stanza(self) -> Option<Element> {
        match self {
            SessionInput::Message { stanza, .. }
            | SessionInput::RoomMessage { stanza, .. }
            | SessionInput::Presence { stanza, .. }
            | SessionInput::JoinRoom { stanza, .. }
            | SessionInput::ListRooms { stanza, .. }
            | SessionInput::ChatIq { stanza, .. }
            | SessionInput::Raw { stanza, .. } => Some(stanza),
            SessionInput::Settings {
                reply: crate::settings::commands::Reply::Command(stanza),
                ..
            } => Some(stanza),
            _ => None,
        }
    }

    /// A user's message's XEP-0198 receipt, taken out (to go with the stanza when it is
    /// handled again).
    pub fn take_handled(&mut self) -> Option<Handled> {
        match self {
            SessionInput::Message { handled, .. } | SessionInput::RoomMessage { handled, .. } => {
                handled.take()
            }
            _ => None,
        }
    }

    /// When a user's message was read from the XMPP side; now for other inputs.
    pub fn read_at(&self) -> Instant {
        match self {
            SessionInput::Message { read_at, .. } | SessionInput::RoomMessage { read_at, .. } => {
                *read_at
            }
            _ => Instant::now(),
        }
    }
}

/// The sending half of a session's inbox: a [`crate::channel`] queue (boxed inputs, storage
/// grown on first use), which the session closes and then drains when it ends
/// ([`crate::channel::Receiver::close`]), so nothing lands in a queue nobody reads. It was a
/// tokio channel, whose state and first block of 32 slots took about 800 bytes per session
/// (performance pass 4).
#[derive(Clone, Debug)]
pub struct InboxSender(pub(super) crate::channel::Sender<SessionInput>);

impl InboxSender {
    /// Hands `input` to the session, waiting for room; gives it back if the session ended.
    pub async fn send(
        &self,
        input: SessionInput,
    ) -> Result<(), crate::channel::SendError<SessionInput>> {
        self.0.send(input).await
    }

    /// Hands `input` to the session if its inbox has room now; gives it back otherwise.
    // The error is the input given back (as tokio's is), in the few paths that handle it.
    #[allow(clippy::result_large_err)]
    pub fn try_send(
        &self,
        input: SessionInput,
    ) -> Result<(), crate::channel::TrySendError<SessionInput>> {
        self.0.try_send(input)
    }
}
