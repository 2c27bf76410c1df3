//! An in-memory legacy network for tests, compiled only with the `test-transport` feature.
//!
//! Users of one `TestTransport` can message each other by legacy id; the contact `echo`
//! answers every message; the password `wrong` fails the login. It exercises the core end to
//! end without a real network and is never offered by a release build.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channel;

use crate::legacy::{
    Affiliation, Availability, ClientIds, LeaveKind, LegacyAccount, LegacyCommand, LegacyEvent,
    Occupant, Role, RoomError, RoomInfo,
};
use crate::transport::{
    Address, FieldKind, Invalid, RegistrationField, Transport, TransportCommand,
};

/// A room of the test network: members by nick, and the subject.
#[derive(Default)]
struct TestRoom {
    members: Vec<(String, channel::Sender<LegacyEvent>)>,
    subject: Option<String>,
}

#[derive(Default)]
struct State {
    users: HashMap<String, channel::Sender<LegacyEvent>>,
    rooms: HashMap<String, TestRoom>,
    /// Room messages sent so far: the test network names each (`test-<n>`), as IRC's
    /// msgid does.
    messages: u64,
}

type Network = Arc<Mutex<State>>;

/// The in-memory test network.
#[derive(Default)]
pub struct TestTransport {
    network: Network,
}

const FIELDS: &[RegistrationField] = &[
    RegistrationField {
        var: "username",
        label: "User name",
        kind: FieldKind::Text,
        required: true,
    },
    RegistrationField {
        var: "password",
        label: "Password",
        kind: FieldKind::Password,
        required: true,
    },
];

const COMMANDS: &[TransportCommand] = &[
    TransportCommand {
        name: "whoami",
        help: "your user name on the test network",
    },
    TransportCommand {
        name: "reconnect",
        help: "drop your test network connection (it comes back at once)",
    },
];

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
    fn gateway_type(&self) -> &'static str {
        "test"
    }

    fn registration_instructions(&self) -> &'static str {
        "Enter your test network user name and password."
    }

    fn registration_fields(&self) -> &'static [RegistrationField] {
        FIELDS
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

    fn prompt(&self) -> &'static str {
        "Enter the user name of a test network contact."
    }

    fn normalize_contact(&self, input: &str) -> Result<String, Invalid> {
        valid_id(input)
    }

    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        match local.strip_prefix('#') {
            Some(name) => valid_id(name).map(|n| Address::Room(format!("#{n}"))),
            None => valid_id(local).map(Address::Contact),
        }
    }

    fn occupant_contact(&self, _room: &str, nick: &str) -> Option<String> {
        valid_id(nick).ok()
    }

    fn anonymous_account(&self, nick: &str) -> Option<LegacyAccount> {
        Some(LegacyAccount {
            legacy_id: valid_id(nick).ok()?,
            secret: None,
            options: BTreeMap::new(),
        })
    }

    fn commands(&self) -> &'static [TransportCommand] {
        COMMANDS
    }

    // Nothing to remember between sessions: the state handle goes unused.
    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        _state: crate::state::TransportState,
    ) -> channel::Sender<LegacyCommand> {
        let (tx, rx) = channel::bounded(64);
        tokio::spawn(tracing::Instrument::in_current_span(run(
            self.network.clone(),
            account,
            events,
            rx,
        )));
        tx
    }
}

async fn run(
    network: Network,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    mut commands: channel::Receiver<LegacyCommand>,
) {
    // A short delay, like a real login, so messages sent meanwhile wait in the outbox.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if account.secret.as_deref() == Some("wrong") {
        let _ = events
            .send(LegacyEvent::LoginFailed {
                reason: "invalid password".to_owned(),
            })
            .await;
        return;
    }
    let me = account.legacy_id.clone();
    if let Ok(mut net) = network.lock() {
        net.users.insert(me.clone(), events.clone());
    }
    if account.secret.is_some() {
        // The test network checks passwords (it refuses "wrong").
        let _ = events.send(LegacyEvent::Authenticated).await;
    }
    let _ = events.send(LegacyEvent::Connected).await;
    let _ = events
        .send(LegacyEvent::ContactPresence {
            contact: "echo".to_owned(),
            availability: Availability::Available,
            status: Some("I repeat what you say".to_owned()),
        })
        .await;
    while let Some(cmd) = commands.recv().await {
        match cmd {
            LegacyCommand::SendMessage {
                to, body, kind, id, ..
            } => {
                let event = if to == "echo" {
                    events
                        .send(LegacyEvent::Message {
                            attachments: vec![],
                            reply_to: None,
                            from: "echo".to_owned(),
                            body: format!("echo: {body}"),
                            kind,
                            id: None,
                            time: None,
                        })
                        .await
                        .ok();
                    continue;
                } else {
                    network.lock().ok().and_then(|n| n.users.get(&to).cloned())
                };
                match event {
                    Some(peer) => {
                        let _ = peer
                            .send(LegacyEvent::Message {
                                attachments: vec![],
                                reply_to: None,
                                from: me.clone(),
                                body,
                                kind,
                                id: None,
                                time: None,
                            })
                            .await;
                    }
                    None => {
                        let _ = events
                            .send(LegacyEvent::SendFailed {
                                to,
                                id,
                                reason: "that user is not online on the test network".to_owned(),
                            })
                            .await;
                    }
                }
            }
            LegacyCommand::UserCommand { name, .. } if name == "reconnect" => {
                // Like a real transport losing its connection and getting it back.
                let _ = events
                    .send(LegacyEvent::Reconnecting {
                        reason: "connection reset (simulated)".to_owned(),
                    })
                    .await;
                let _ = events
                    .send(LegacyEvent::Notice {
                        text: "Connection lost; reconnecting...".to_owned(),
                    })
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = events.send(LegacyEvent::Connected).await;
                let _ = events
                    .send(LegacyEvent::Notice {
                        text: "Reconnected.".to_owned(),
                    })
                    .await;
            }
            LegacyCommand::UserCommand { name, .. } => {
                let text = if name == "whoami" {
                    format!("You are {me} on the test network.")
                } else {
                    format!("Unknown command {name}.")
                };
                let _ = events.send(LegacyEvent::Notice { text }).await;
            }
            LegacyCommand::SetPresence { .. } => {}
            LegacyCommand::AddContact { contact } => {
                let online = contact == "echo"
                    || network.lock().is_ok_and(|n| n.users.contains_key(&contact));
                let availability = if online {
                    Availability::Available
                } else {
                    Availability::Offline
                };
                let _ = events
                    .send(LegacyEvent::ContactPresence {
                        contact,
                        availability,
                        status: None,
                    })
                    .await;
            }
            LegacyCommand::RemoveContact { .. } => {}
            LegacyCommand::ListRooms { request, .. } => {
                let mut rooms: Vec<RoomInfo> = network
                    .lock()
                    .map(|n| {
                        n.rooms
                            .iter()
                            .map(|(name, r)| RoomInfo {
                                room: name.clone(),
                                occupants: u32::try_from(r.members.len()).ok(),
                                topic: r.subject.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                rooms.sort_by(|a, b| a.room.cmp(&b.room));
                let _ = events.send(LegacyEvent::RoomList { request, rooms }).await;
            }
            LegacyCommand::Disconnect { .. } => break,
            room_command => {
                for (to, event) in rooms(&network, &events, room_command) {
                    let _ = to.send(event).await;
                }
            }
        }
    }
    let mut farewells = Vec::new();
    if let Ok(mut net) = network.lock() {
        // Only remove our own entry: a newer login of the same id may have replaced it.
        if net.users.get(&me).is_some_and(|s| s.same_channel(&events)) {
            net.users.remove(&me);
        }
        for (name, room) in net.rooms.iter_mut() {
            let Some(pos) = room
                .members
                .iter()
                .position(|(_, s)| s.same_channel(&events))
            else {
                continue;
            };
            let (nick, _) = room.members.remove(pos);
            for (_, peer) in &room.members {
                farewells.push((
                    peer.clone(),
                    LegacyEvent::OccupantLeft {
                        room: name.clone(),
                        nick: nick.clone(),
                        kind: LeaveKind::Quit,
                        reason: Some("logged out".to_owned()),
                    },
                ));
            }
        }
    }
    for (to, event) in farewells {
        let _ = to.send(event).await;
    }
}

fn occupant(nick: &str, first: bool) -> Occupant {
    Occupant {
        nick: nick.to_owned(),
        role: if first {
            Role::Moderator
        } else {
            Role::Participant
        },
        affiliation: if first {
            Affiliation::Owner
        } else {
            Affiliation::None
        },
    }
}

/// Applies a room command to the network; returns the events to deliver (sent after the
/// lock is released, so no await happens under it).
fn rooms(
    network: &Network,
    me: &channel::Sender<LegacyEvent>,
    cmd: LegacyCommand,
) -> Vec<(channel::Sender<LegacyEvent>, LegacyEvent)> {
    let mut out = Vec::new();
    let Ok(mut net) = network.lock() else {
        return out;
    };
    match cmd {
        LegacyCommand::JoinRoom { room, nick, .. } => {
            if room == "#banned" {
                out.push((
                    me.clone(),
                    LegacyEvent::RoomJoinFailed {
                        room,
                        error: RoomError::Banned,
                        text: "You are banned from #banned".to_owned(),
                    },
                ));
                return out;
            }
            let r = net.rooms.entry(room.clone()).or_default();
            if r.members
                .iter()
                .any(|(n, s)| *n == nick && !s.same_channel(me))
            {
                out.push((
                    me.clone(),
                    LegacyEvent::RoomJoinFailed {
                        room,
                        error: RoomError::NickInUse,
                        text: format!("{nick} is already in use"),
                    },
                ));
                return out;
            }
            for (_, peer) in &r.members {
                out.push((
                    peer.clone(),
                    LegacyEvent::OccupantUpdated {
                        room: room.clone(),
                        occupant: occupant(&nick, false),
                    },
                ));
            }
            r.members.push((nick.clone(), me.clone()));
            let occupants = r
                .members
                .iter()
                .enumerate()
                .map(|(i, (n, _))| occupant(n, i == 0))
                .collect();
            out.push((
                me.clone(),
                LegacyEvent::RoomJoined {
                    room,
                    nick,
                    occupants,
                    subject: r.subject.clone(),
                },
            ));
        }
        LegacyCommand::LeaveRoom { room, reason } => {
            if let Some(r) = net.rooms.get_mut(&room)
                && let Some(pos) = r.members.iter().position(|(_, s)| s.same_channel(me))
            {
                let (nick, _) = r.members.remove(pos);
                for (_, peer) in r
                    .members
                    .iter()
                    .chain(std::iter::once(&(nick.clone(), me.clone())))
                {
                    out.push((
                        peer.clone(),
                        LegacyEvent::OccupantLeft {
                            room: room.clone(),
                            nick: nick.clone(),
                            kind: LeaveKind::Part,
                            reason: reason.clone(),
                        },
                    ));
                }
            }
        }
        LegacyCommand::SendRoomMessage {
            room,
            body,
            kind,
            ids,
            ..
        } => {
            net.messages += 1;
            let id = format!("test-{}", net.messages);
            if let Some(r) = net.rooms.get(&room)
                && let Some((nick, _)) = r.members.iter().find(|(_, s)| s.same_channel(me))
            {
                for (_, peer) in &r.members {
                    let own = peer.same_channel(me);
                    out.push((
                        peer.clone(),
                        LegacyEvent::RoomMessage {
                            attachments: vec![],
                            reply_to: None,
                            room: room.clone(),
                            nick: nick.clone(),
                            body: body.clone(),
                            kind,
                            ids: if own { ids.clone() } else { ClientIds::none() },
                            id: Some(id.clone()),
                            time: None,
                        },
                    ));
                }
            }
        }
        LegacyCommand::SetSubject { room, subject } => {
            if let Some(r) = net.rooms.get_mut(&room)
                && let Some((nick, _)) = r.members.iter().find(|(_, s)| s.same_channel(me)).cloned()
            {
                r.subject = Some(subject.clone());
                for (_, peer) in &r.members {
                    out.push((
                        peer.clone(),
                        LegacyEvent::RoomSubject {
                            room: room.clone(),
                            nick: Some(nick.clone()),
                            subject: subject.clone(),
                        },
                    ));
                }
            }
        }
        LegacyCommand::SetNick { nick, .. } => {
            for (name, r) in net.rooms.iter_mut() {
                let Some(pos) = r.members.iter().position(|(_, s)| s.same_channel(me)) else {
                    continue;
                };
                let old = std::mem::replace(&mut r.members[pos].0, nick.clone());
                for (_, peer) in &r.members {
                    out.push((
                        peer.clone(),
                        LegacyEvent::OccupantRenamed {
                            room: name.clone(),
                            old: old.clone(),
                            new: nick.clone(),
                        },
                    ));
                }
            }
        }
        _ => {}
    }
    out
}
