//! An in-memory legacy network for tests: the core end to end without a real network.
//!
//! Users of one [`TestTransport`] can message each other by legacy id and meet in rooms;
//! the contact `echo` answers every message; the password `wrong` fails the login. Two
//! flavours: [`TestTransport::default`] carries plain text only (like a plain IRC server,
//! so every verb is degraded by the core), [`TestTransport::rich`] carries every verb of
//! the vocabulary natively, lists the user's contacts, names its rooms and gives people ids
//! apart from their nicks (like Matrix). The binary offers it only when built with the
//! `test-transport` feature (never in a release).

mod rooms;
mod verbs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pontoon_core::channel;
use pontoon_core::legacy::{
    Availability, Contact, ContactDetails, LegacyAccount, LegacyCommand, LegacyEvent, LegacyId,
    Receipt, RoomInfo, Verbs,
};
use pontoon_core::transport::{
    Address, Descriptor, FieldKind, Invalid, RegistrationField, Transport, TransportCommand,
};

/// Someone in a room of the test network.
#[derive(Clone)]
struct Member {
    nick: String,
    /// Their user name (their person id on a rich network).
    person: String,
    to: channel::Sender<LegacyEvent>,
}

/// A room of the test network: members in order of arrival (the first is its owner), and
/// the subject.
#[derive(Default)]
struct TestRoom {
    members: Vec<Member>,
    subject: Option<String>,
}

/// Most message authors the network remembers (for moderation).
const AUTHORS: usize = 10_000;

#[derive(Default)]
struct State {
    users: HashMap<String, channel::Sender<LegacyEvent>>,
    rooms: HashMap<LegacyId, TestRoom>,
    /// Messages sent so far: the test network names each (`test-<n>`), as IRC's msgid does.
    messages: u64,
    /// Who wrote each room message, by id (the oldest forgotten beyond [`AUTHORS`]).
    authors: HashMap<String, String>,
}

impl State {
    /// A fresh message id, its author remembered.
    fn message_id(&mut self, author: &str) -> String {
        self.messages += 1;
        let id = format!("test-{}", self.messages);
        if self.authors.len() >= AUTHORS {
            self.authors.clear();
        }
        self.authors.insert(id.clone(), author.to_owned());
        id
    }
}

type Network = Arc<Mutex<State>>;

/// The options the test transport accepts, for the operator's forms.
pub const OPTION_SPECS: &[pontoon_core::transport::OptionSpec] =
    &[pontoon_core::transport::OptionSpec {
        name: "rich",
        kind: pontoon_core::transport::OptionKind::Bool,
        default: Some("false"),
        help: "Every verb native: contact lists, room names, person ids.",
    }];

/// The in-memory test network.
#[derive(Default)]
pub struct TestTransport {
    network: Network,
    rich: bool,
}

impl TestTransport {
    /// The rich flavour: every verb native, contact lists, room names, person ids.
    pub fn rich() -> Self {
        TestTransport {
            network: Network::default(),
            rich: true,
        }
    }

    /// Builds the flavour the options name (`rich = "true"`), or says what is wrong.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut rich = false;
        for (key, value) in options {
            match (key.as_str(), value.as_str()) {
                ("rich", "true") => rich = true,
                ("rich", "false") => rich = false,
                ("rich", v) => return Err(format!("rich must be true or false, not {v:?}")),
                (k, _) => return Err(format!("the test transport has no option {k:?}")),
            }
        }
        Ok(if rich {
            TestTransport::rich()
        } else {
            TestTransport::default()
        })
    }
}

/// What the test transport says of itself (built once: `Transport::descriptor` lends it).
static DESCRIPTOR: std::sync::LazyLock<Descriptor> = std::sync::LazyLock::new(|| {
    let command = |name: &str, help: &str| TransportCommand {
        name: name.to_owned(),
        help: help.to_owned(),
    };
    Descriptor {
        gateway_type: "test".to_owned(),
        registration_instructions: "Enter your test network user name and password.".to_owned(),
        registration_fields: vec![
            RegistrationField::new("username", "User name", FieldKind::Text, true),
            RegistrationField::new("password", "Password", FieldKind::Password, true),
        ],
        prompt: "Enter the user name of a test network contact.".to_owned(),
        commands: vec![
            command("whoami", "your user name on the test network"),
            command(
                "reconnect",
                "reconnect [ms]: drop your test network connection for a moment (300 ms unless said)",
            ),
            command(
                "friend",
                "friend <name> [shown name]: add someone to your contact list (rich network)",
            ),
            command(
                "unfriend",
                "unfriend <name>: remove someone from your contact list (rich network)",
            ),
            command(
                "elsewhere",
                "elsewhere <name> <text>: as if you wrote to them from another client (rich network)",
            ),
        ],
        network_settings: Vec::new(),
        room_settings: Vec::new(),
        one_network: true,
    }
});

/// A test network id: one network, so no network part.
pub fn id(name: &str) -> LegacyId {
    LegacyId::new(name, None)
}

fn valid_id(id: &str) -> Result<String, Invalid> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Invalid(
            "test network names are 1 to 64 letters, digits, '-', '_', '.' or '@'".to_owned(),
        ))
    }
}

impl Transport for TestTransport {
    fn descriptor(&self) -> &Descriptor {
        &DESCRIPTOR
    }

    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid> {
        let username = values.get("username").map(|s| s.trim()).unwrap_or_default();
        let legacy_id = valid_id(username)?;
        let password = values.get("password").cloned().unwrap_or_default();
        if password.is_empty() {
            return Err(Invalid("a password is required".to_owned()));
        }
        Ok(LegacyAccount {
            legacy_id,
            secret: Some(password),
            options: BTreeMap::new(),
        })
    }

    fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid> {
        valid_id(input).map(|n| id(&n))
    }

    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        match local.strip_prefix('#') {
            Some(name) => valid_id(name).map(|n| Address::Room(id(&format!("#{n}")))),
            None => valid_id(local).map(|n| Address::Contact(id(&n))),
        }
    }

    fn occupant_contact(&self, _room: &LegacyId, nick: &str) -> Option<LegacyId> {
        valid_id(nick).ok().map(|n| id(&n))
    }

    fn anonymous_account(&self, nick: &str) -> Option<LegacyAccount> {
        Some(LegacyAccount {
            legacy_id: valid_id(nick).ok()?,
            secret: None,
            options: BTreeMap::new(),
        })
    }

    // Nothing to remember between sessions: the state handle goes unused.
    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        _state: pontoon_core::state::TransportState,
    ) -> channel::Sender<LegacyCommand> {
        let (tx, rx) = channel::bounded(64);
        let me = Me {
            id: account.legacy_id.clone(),
            events,
            network: self.network.clone(),
            rich: self.rich,
        };
        tokio::spawn(tracing::Instrument::in_current_span(run(me, account, rx)));
        tx
    }
}

/// Someone on the test network itself (not through the gateway), for the conformance
/// suite: they act with the vocabulary's commands and see the network's events, as an IRC
/// user at their terminal sees lines.
pub struct TestPeer {
    me: Me,
    events: channel::Receiver<LegacyEvent>,
}

impl TestTransport {
    /// Logs `name` in on this network as a [`TestPeer`].
    pub fn peer(&self, name: &str) -> TestPeer {
        let (events, rx) = channel::bounded(256);
        let me = Me {
            id: name.to_owned(),
            events,
            network: self.network.clone(),
            rich: self.rich,
        };
        if let Ok(mut net) = me.network.lock() {
            net.users.insert(me.id.clone(), me.events.clone());
        }
        TestPeer { me, events: rx }
    }
}

/// Another client of a user already logged in through the gateway, acting on the network
/// in their name (as a Matrix app beside the gateway would): what it does reaches the
/// user's session as the network tells it.
pub struct TestDevice {
    me: Me,
}

impl TestTransport {
    /// A second client of the logged-in user `name`, if they are logged in.
    pub fn device(&self, name: &str) -> Option<TestDevice> {
        let events = self.network.lock().ok()?.users.get(name)?.clone();
        Some(TestDevice {
            me: Me {
                id: name.to_owned(),
                events,
                network: self.network.clone(),
                rich: self.rich,
            },
        })
    }
}

impl TestDevice {
    /// Does what `command` says, as the user's other client.
    pub async fn command(&self, command: LegacyCommand) {
        self.me.apply(command).await;
    }
}

impl TestPeer {
    /// Their user name.
    pub fn name(&self) -> &str {
        &self.me.id
    }

    /// Does what `command` says, as a session of the network would.
    pub async fn command(&mut self, command: LegacyCommand) {
        self.me.apply(command).await;
    }

    /// The next event the network delivers to them (none within 5 s fails the test).
    pub async fn event(&mut self) -> LegacyEvent {
        match tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await {
            Ok(Some(event)) => event,
            _ => panic!("{} saw nothing on the test network within 5 s", self.me.id),
        }
    }
}

/// A direct message's text.
struct Text {
    body: String,
    kind: pontoon_core::legacy::MessageKind,
    attachments: Vec<pontoon_core::legacy::Attachment>,
}

/// One logged-in user of the test network.
struct Me {
    /// Their user name.
    id: String,
    events: channel::Sender<LegacyEvent>,
    network: Network,
    rich: bool,
}

impl Me {
    async fn emit(&self, event: LegacyEvent) {
        let _ = self.events.send(event).await;
    }

    /// The peer `to`'s session, if they are online.
    fn peer(&self, to: &str) -> Option<channel::Sender<LegacyEvent>> {
        self.network.lock().ok()?.users.get(to).cloned()
    }
}

async fn run(me: Me, account: LegacyAccount, mut commands: channel::Receiver<LegacyCommand>) {
    // A short delay, like a real login, so messages sent meanwhile wait in the outbox.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if account.secret.as_deref() == Some("wrong") {
        me.emit(LegacyEvent::LoginFailed {
            reason: "invalid password".to_owned(),
        })
        .await;
        return;
    }
    if let Ok(mut net) = me.network.lock() {
        net.users.insert(me.id.clone(), me.events.clone());
    }
    if account.secret.is_some() {
        // The test network checks passwords (it refuses "wrong").
        me.emit(LegacyEvent::Authenticated).await;
    }
    if me.rich {
        // Every verb but room settings: the test network's rooms have none.
        let verbs = Verbs {
            room_config: false,
            ..Verbs::ALL
        };
        me.emit(LegacyEvent::Verbs {
            network: None,
            verbs,
        })
        .await;
    }
    me.emit(LegacyEvent::Connected).await;
    if me.rich {
        let echo = Contact {
            id: id("echo"),
            name: Some("Echo".to_owned()),
            avatar: None,
        };
        me.emit(LegacyEvent::ContactList {
            contacts: vec![echo],
        })
        .await;
        // Every user of the rich network is in its lobby, as Matrix users are in rooms
        // whatever client joined them.
        me.emit(LegacyEvent::MemberOf {
            rooms: vec![RoomInfo {
                room: id("#lobby"),
                name: Some(rooms::name_of("#lobby")),
                occupants: None,
                topic: None,
            }],
        })
        .await;
    }
    me.emit(LegacyEvent::ContactPresence {
        contact: id("echo"),
        availability: Availability::Available,
        status: Some("I repeat what you say".to_owned()),
    })
    .await;
    while let Some(cmd) = commands.recv().await {
        match cmd {
            LegacyCommand::UserCommand { name, args } => me.user_command(&name, &args).await,
            LegacyCommand::SetPresence { .. } | LegacyCommand::RemoveContact { .. } => {}
            LegacyCommand::AddContact { contact } => {
                let online = contact == "echo" || me.peer(&contact).is_some();
                let availability = if online {
                    Availability::Available
                } else {
                    Availability::Offline
                };
                me.emit(LegacyEvent::ContactPresence {
                    contact,
                    availability,
                    status: None,
                })
                .await;
            }
            LegacyCommand::ListRooms { request, .. } => {
                let rooms = me.room_list();
                me.emit(LegacyEvent::RoomList { request, rooms }).await;
            }
            // What the test network says of someone it knows: where they are.
            LegacyCommand::LookUp { request, contact } => {
                let known = contact == "echo" || me.peer(&contact).is_some();
                let details = known.then(|| ContactDetails {
                    server: Some("the test network".to_owned()),
                    ..ContactDetails::default()
                });
                me.emit(LegacyEvent::LookedUp { request, details }).await;
            }
            // The test network bans nobody: its ban lists are empty, and lifting is a no-op.
            LegacyCommand::ListBans { request, .. } => {
                let masks = Ok(Vec::new());
                me.emit(LegacyEvent::BanList { request, masks }).await;
            }
            LegacyCommand::Unban { .. } => {}
            LegacyCommand::Disconnect { .. } => break,
            other => me.apply(other).await,
        }
    }
    for (to, event) in rooms::leave_all(&me) {
        let _ = to.send(event).await;
    }
}

impl Me {
    /// Messages, verbs and room commands, as the network carries them.
    async fn apply(&self, command: LegacyCommand) {
        let out = match command {
            LegacyCommand::SendMessage {
                to,
                body,
                kind,
                id,
                attachments,
                ..
            } => {
                let text = Text {
                    body,
                    kind,
                    attachments,
                };
                return self.send_message(to, text, id).await;
            }
            other => match verbs::apply(self, &other) {
                Some(out) => out,
                None => rooms::apply(self, other),
            },
        };
        for (to, event) in out {
            let _ = to.send(event).await;
        }
    }

    async fn send_message(&self, to: LegacyId, text: Text, id: Option<String>) {
        let Text {
            body,
            kind,
            attachments,
        } = text;
        let legacy_id = match self.network.lock() {
            Ok(mut net) => net.message_id(&self.id),
            Err(_) => return,
        };
        if to == "echo" {
            self.emit(LegacyEvent::Message {
                attachments: vec![],
                reply_to: None,
                thread: None,
                from: self::id("echo"),
                body: format!("echo: {body}"),
                kind,
                id: None,
                time: None,
                by_user: false,
            })
            .await;
            return;
        }
        let Some(peer) = self.peer(&to) else {
            self.emit(LegacyEvent::SendFailed {
                to,
                id,
                reason: "that user is not online on the test network".to_owned(),
            })
            .await;
            return;
        };
        if let Some(id) = id {
            // The network's id now names the message for the sender too.
            self.emit(LegacyEvent::MessageSent {
                to: to.clone(),
                id,
                legacy_id: legacy_id.clone(),
            })
            .await;
        }
        let _ = peer
            .send(LegacyEvent::Message {
                attachments,
                reply_to: None,
                thread: None,
                from: self::id(&self.id),
                body,
                kind,
                id: Some(legacy_id.clone()),
                time: None,
                by_user: false,
            })
            .await;
        if self.rich {
            self.emit(LegacyEvent::Receipt {
                chat: pontoon_core::legacy::ChatId::Contact(to.clone()),
                author: to.to_string(),
                target: legacy_id,
                receipt: Receipt::Delivered,
            })
            .await;
        }
    }

    async fn user_command(&self, name: &str, args: &str) {
        match name {
            "reconnect" => {
                // Like a real transport losing its connection and getting it back.
                self.emit(LegacyEvent::Reconnecting {
                    reason: "connection reset (simulated)".to_owned(),
                })
                .await;
                self.notice("Connection lost; reconnecting...").await;
                // `reconnect <ms>`: an outage that long (300 ms unless said, 10 s at most).
                let ms = args.trim().parse::<u64>().unwrap_or(300).min(10_000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.emit(LegacyEvent::Connected).await;
                self.notice("Reconnected.").await;
            }
            "whoami" => {
                self.notice(&format!("You are {} on the test network.", self.id))
                    .await;
            }
            // What the user would type to a contact in another client of the network.
            "elsewhere" if self.rich => {
                let (to, text) = args.split_once(' ').unwrap_or((args, ""));
                let Some(to) = valid_id(to)
                    .ok()
                    .map(|n| id(&n))
                    .filter(|_| !text.is_empty())
                else {
                    return self.notice("Usage: elsewhere <name> <text>").await;
                };
                let legacy_id = match self.network.lock() {
                    Ok(mut net) => net.message_id(&self.id),
                    Err(_) => return,
                };
                self.emit(LegacyEvent::Message {
                    attachments: vec![],
                    reply_to: None,
                    thread: None,
                    from: to,
                    body: text.to_owned(),
                    kind: pontoon_core::legacy::MessageKind::Text,
                    id: Some(legacy_id),
                    time: None,
                    by_user: true,
                })
                .await;
            }
            "friend" | "unfriend" if self.rich => {
                let mut words = args.split_whitespace();
                let Some(id) = words.next().and_then(|w| valid_id(w).ok()).map(|n| id(&n)) else {
                    return self.notice(&format!("Usage: {name} <name>")).await;
                };
                let event = if name == "friend" {
                    let shown = words.collect::<Vec<_>>().join(" ");
                    LegacyEvent::ContactUpdated {
                        contact: Contact {
                            id,
                            name: Some(shown).filter(|s| !s.is_empty()),
                            avatar: None,
                        },
                    }
                } else {
                    LegacyEvent::ContactRemoved { contact: id }
                };
                self.emit(event).await;
            }
            _ => self.notice(&format!("Unknown command {name}.")).await,
        }
    }

    async fn notice(&self, text: &str) {
        self.emit(LegacyEvent::Notice {
            text: text.to_owned(),
        })
        .await;
    }

    fn room_list(&self) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> = self
            .network
            .lock()
            .map(|n| {
                n.rooms
                    .iter()
                    .map(|(id, r)| RoomInfo {
                        room: id.clone(),
                        name: self.rich.then(|| rooms::name_of(id)),
                        occupants: u32::try_from(r.members.len()).ok(),
                        topic: r.subject.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        rooms
    }
}
