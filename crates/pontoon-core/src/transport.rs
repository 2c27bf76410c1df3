//! The contract between the core and a legacy network.
//!
//! A transport describes itself (disco identity, registration form, commands) and starts
//! one legacy session per user. Sessions are actors spoken to through bounded channels,
//! so the core never awaits a network and no trait needs async methods.

use std::collections::BTreeMap;

use crate::channel;

use crate::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId};

/// The kind of a field in a transport's registration form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A secret, shown masked.
    Password,
    /// A yes/no choice.
    Boolean,
}

/// One field of a transport's registration form (XEP-0077 / XEP-0004).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationField {
    /// The form variable; `username`, `password`, `nick` and `email` are also offered as
    /// XEP-0077 legacy elements for old clients.
    pub var: &'static str,
    /// Label shown to the user.
    pub label: &'static str,
    /// How the field is entered.
    pub kind: FieldKind,
    /// Whether the form is refused without it.
    pub required: bool,
}

/// A command the user can type to the transport's own JID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportCommand {
    /// The command word.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// Why a registration form or a legacy address was refused, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A legacy address: a contact or a room, parsed once (see [`LegacyId`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A contact, by normalised legacy id.
    Contact(LegacyId),
    /// A room, by normalised legacy id.
    Room(LegacyId),
    /// A whole network (for transports that reach several), by normalised name: its
    /// room directory is what service discovery lists.
    Network(String),
}

/// A legacy network Pontoon can bridge to.
pub trait Transport: Send + Sync + 'static {
    /// The gateway type from the XMPP registry (`irc`, `matrix`, ...), used as the
    /// disco identity `gateway/<type>`.
    fn gateway_type(&self) -> &'static str;

    /// Instructions shown above the registration form.
    fn registration_instructions(&self) -> &'static str;

    /// The fields this network asks for at registration.
    fn registration_fields(&self) -> &'static [RegistrationField];

    /// Checks submitted form values and turns them into the account to store.
    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid>;

    /// Text of the XEP-0100 `jabber:iq:gateway` prompt (what to type to add a contact).
    fn prompt(&self) -> &'static str;

    /// Checks and normalises a legacy contact address typed by the user or taken from a JID.
    fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid>;

    /// Tells a room from a contact in an (unescaped) JID localpart, normalising it.
    /// The default knows no rooms.
    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        self.normalize_contact(local).map(Address::Contact)
    }

    /// The name contact `id` goes by, for its vCard (XEP-0054 `FN` and `NICKNAME`). The
    /// default is its name on the network.
    fn contact_name(&self, id: &LegacyId) -> String {
        id.name().to_owned()
    }

    /// The contact id of the occupant `nick` of `room`, for private messages sent from
    /// the room. The default has none.
    fn occupant_contact(&self, _room: &LegacyId, _nick: &str) -> Option<LegacyId> {
        None
    }

    /// The account to use for a user who joins a room without registering (biboumi style),
    /// or `None` where the network needs a registration.
    fn anonymous_account(&self, _nick: &str) -> Option<LegacyAccount> {
        None
    }

    /// Commands the user can send to the transport JID, for the help text.
    fn commands(&self) -> &'static [TransportCommand];

    /// Starts a legacy session for `account`. The session reports through `events` and obeys
    /// the returned sender; it ends after `LoginFailed` or `Disconnected`, or when the
    /// command sender is dropped. `state` is the transport's own persisted state for this
    /// account (`crate::state`).
    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        state: crate::state::TransportState,
    ) -> channel::Sender<LegacyCommand>;
}
