//! The one vocabulary every transport speaks with the core.
//!
//! A transport never sees XML and the XMPP side never sees a legacy wire format:
//! everything a network can do is said with [`LegacyCommand`] (core to network) and
//! [`LegacyEvent`] (network to core). A feature that does not fit is a change here,
//! made once, for all transports.

use std::collections::BTreeMap;
use std::fmt;

/// The legacy identity a user registered with, as the transport needs it to log in.
#[derive(Clone, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// What the core asks a legacy session to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyCommand {
    /// Send a one-to-one message to a legacy contact.
    SendMessage {
        /// The contact's legacy id.
        to: String,
        /// Message text (never contains NUL; transports still sanitise for their wire).
        body: String,
        /// The XMPP message id, echoed back in [`LegacyEvent::SendFailed`].
        id: Option<String>,
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
    /// Log out of the legacy network.
    Disconnect {
        /// The quit message shown to others where the network has one.
        reason: String,
    },
}

/// What a legacy session tells the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyEvent {
    /// Login succeeded: the user is online on the legacy network.
    Connected,
    /// Login failed; the session is over. The reason is shown to the user.
    LoginFailed {
        /// Readable reason from the network.
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
        /// The network's message id, if it has one.
        id: Option<String>,
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
