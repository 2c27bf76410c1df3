//! The contract between the core and a legacy network.
//!
//! A transport describes itself once ([`Descriptor`]: disco identity, registration form,
//! commands, as owned data that an out-of-process backend can send in its handshake) and
//! starts one legacy session per user. Sessions are actors spoken to through bounded channels,
//! so the core never awaits a network and no trait needs async methods.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::channel;

use crate::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId};

/// The kind of a field in a transport's registration form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A secret, shown masked.
    Password,
    /// A yes/no choice.
    Boolean,
}

/// One field of a transport's registration form (XEP-0077 / XEP-0004).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistrationField {
    /// The form variable; `username`, `password`, `nick` and `email` are also offered as
    /// XEP-0077 legacy elements for old clients.
    pub var: String,
    /// Label shown to the user.
    pub label: String,
    /// How the field is entered.
    pub kind: FieldKind,
    /// Whether the form is refused without it.
    pub required: bool,
}

impl RegistrationField {
    /// A field `var` labelled `label`.
    pub fn new(var: &str, label: &str, kind: FieldKind, required: bool) -> Self {
        RegistrationField {
            var: var.to_owned(),
            label: label.to_owned(),
            kind,
            required,
        }
    }
}

/// A command the user can type to the transport's own JID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TransportCommand {
    /// The command word.
    pub name: String,
    /// One line of help.
    pub help: String,
}

/// What a transport says of itself, once: owned data with serde, so that a transport in
/// another process sends the same thing in its handshake as an in-process one builds at
/// start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Descriptor {
    /// The gateway type from the XMPP registry (`irc`, `matrix`, ...), used as the disco
    /// identity `gateway/<type>`.
    pub gateway_type: String,
    /// Instructions shown above the registration form.
    pub registration_instructions: String,
    /// The fields this network asks for at registration.
    pub registration_fields: Vec<RegistrationField>,
    /// Text of the XEP-0100 `jabber:iq:gateway` prompt (what to type to add a contact).
    pub prompt: String,
    /// Commands the user can send to the transport JID, for the help text.
    #[serde(default)]
    pub commands: Vec<TransportCommand>,
    /// Settings the user changes per network from their client (`crate::settings`).
    #[serde(default)]
    pub network_settings: Vec<crate::settings::SettingSpec>,
    /// Settings the user changes per room, at the room's JID (`crate::settings`).
    #[serde(default)]
    pub room_settings: Vec<crate::settings::SettingSpec>,
    /// The transport reaches one network, addressed by the transport's own JID (an IRC
    /// transport fixed to one server): its settings are changed there. Otherwise each
    /// network's JID takes them.
    #[serde(default)]
    pub one_network: bool,
}

/// How an operator option of a transport is entered (see [`OptionSpec`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptionKind {
    /// `true` or `false`.
    Bool,
    /// A number from `min` to `max` (inclusive).
    Number {
        /// Smallest value accepted.
        min: f64,
        /// Largest value accepted.
        max: f64,
    },
    /// One line of text.
    Text,
    /// A host name or IP address.
    Host,
    /// A comma-separated list.
    List,
}

/// One option a transport accepts in its policy, described for the operator's forms. The
/// transport's own validation still decides what is accepted; this only shapes the form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionSpec {
    /// The option's key.
    pub name: &'static str,
    /// How it is entered.
    pub kind: OptionKind,
    /// What applies when the option is not set, as shown to the operator.
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

impl OptionSpec {
    /// An option `name` entered as `kind`, with the `default` shown to the operator and one
    /// line of `help`.
    pub const fn new(
        name: &'static str,
        kind: OptionKind,
        default: Option<&'static str>,
        help: &'static str,
    ) -> OptionSpec {
        OptionSpec {
            name,
            kind,
            default,
            help,
        }
    }
}

/// Why a registration form or a legacy address was refused, in words for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Why a raw command ([`Transport::check_raw`]) is not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RawRefused {
    /// This network takes none.
    #[error("this network takes no raw commands: message a contact or a room on it")]
    Unsupported,
    /// Not one well-formed command (line breaks, too long, empty): in words.
    #[error("{0}")]
    Malformed(String),
    /// A command that would break the user's session (IRC: QUIT, CAP): in words.
    #[error("{0}")]
    Forbidden(String),
}

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

/// The answer of a connection test ([`Transport::test_connection`]): what was reached,
/// or why not, in words for the operator.
pub type ConnectionTest =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>;

/// What a transport says to its network when a registration is removed (a Matrix device
/// logging out), run by the service in the background, bounded in time.
pub type Goodbye = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The first step of [`Transport::forget`]: reading what the goodbye needs from the
/// account's state, before the store deletes it.
pub type Forget = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Goodbye>> + Send>>;

/// How a transport paces a user's messages ([`Transport::pacing`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacing {
    /// Messages written at once.
    pub burst: u32,
    /// Messages a second after the burst.
    pub per_second: f64,
}

/// A legacy network Pontoon can bridge to.
pub trait Transport: Send + Sync + 'static {
    /// What the transport says of itself.
    fn descriptor(&self) -> &Descriptor;

    /// How long a user's message may wait for the network while the session has no
    /// connection before it is bounced (the operator's option where the transport has one);
    /// `None`: the core's bound (`crate::outbox::MAX_WAIT`, an hour). Never longer than it.
    fn send_deadline(&self) -> Option<std::time::Duration> {
        None
    }

    /// The pace at which the transport writes a user's messages to the network, where it
    /// holds them back (IRC's flood protection): a burst, then so many a second. The core
    /// keeps the messages of a burst that will wait in the transport's queue in its store
    /// until written (`LegacyCommand::Tracked`); `None`: every message goes out at once.
    /// A transport that paces also says when its queue is backed up
    /// ([`LegacyEvent::Backlog`](crate::legacy::LegacyEvent::Backlog)) and settles what it
    /// is handed tracked.
    fn pacing(&self) -> Option<Pacing> {
        None
    }

    /// Checks submitted form values and turns them into the account to store.
    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid>;

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

    /// What a user can do at the JID of `network`, answering `help` there; `None` for the
    /// core's general words.
    fn network_help(&self, _network: &str) -> Option<String> {
        None
    }

    /// Checks `line`, a command the user typed to the JID of `network`, before it goes as
    /// [`LegacyCommand::Raw`](crate::legacy::LegacyCommand::Raw): synchronous, so that a
    /// refusal bounces the user's very message. The default takes no raw commands.
    fn check_raw(&self, _network: &str, _line: &str) -> Result<(), RawRefused> {
        Err(RawRefused::Unsupported)
    }

    /// Checks the value of setting `name` for `network` ([`crate::settings::ONLY_NETWORK`]
    /// at the transport's own JID; for a room's setting, the room's id as text) after the
    /// generic check of its kind, answering it normalised. The default takes every value
    /// the kind allows.
    fn check_setting(&self, _network: &str, _name: &str, value: &str) -> Result<String, Invalid> {
        Ok(value.to_owned())
    }

    /// How the stored value of setting `name` is shown to the user where its kind hides
    /// it (a secret), if the transport can say something that gives nothing away (a client
    /// certificate by its fingerprints). The default says nothing.
    fn show_setting(&self, _name: &str, _value: &str) -> Option<String> {
        None
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

    /// Tries to reach the network's fixed server, for the operator (the console's "Test
    /// connection"); the future bounds its own time. The default can test nothing.
    fn test_connection(&self) -> ConnectionTest {
        Box::pin(async { Err("this transport has no connection test".to_owned()) })
    }

    /// A registration is being removed: read from its `state` what the network must be
    /// told (the service awaits this, a store read), and answer the [`Goodbye`] to say,
    /// which runs after the registration and its state are deleted. The default has
    /// nothing to say.
    fn forget(&self, _state: crate::state::TransportState) -> Forget {
        Box::pin(async { None })
    }

    /// Fetches a file the transport named by `reference` (not an http URL) in an
    /// attachment, with the credentials in `account`'s `state`, reading at most
    /// `max_bytes`; for Pontoon's HTTP listener, which serves it to the user's client
    /// (`crate::media`). The default names no files so.
    fn fetch_media(
        &self,
        _state: crate::state::TransportState,
        _reference: String,
        _max_bytes: u64,
    ) -> crate::media::MediaFetch {
        Box::pin(async { Err(crate::media::FetchError::Unsupported) })
    }

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A backend's handshake carries its descriptor as JSON: the same data, owned.
    #[test]
    fn the_descriptor_is_json() {
        let d = Descriptor {
            gateway_type: "irc".to_owned(),
            registration_instructions: "Choose a nick.".to_owned(),
            registration_fields: vec![RegistrationField::new(
                "password",
                "Password",
                FieldKind::Password,
                false,
            )],
            prompt: "Enter a nick.".to_owned(),
            commands: vec![],
            network_settings: vec![],
            room_settings: vec![],
            one_network: false,
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""kind":"password""#), "{json}");
        assert_eq!(serde_json::from_str::<Descriptor>(&json).unwrap(), d);
    }
}
