//! An in-memory legacy network for tests, compiled only with the `test-transport` feature.
//!
//! Users of one `TestTransport` can message each other by legacy id; the contact `echo`
//! answers every message; the password `wrong` fails the login. It exercises the core end to
//! end without a real network and is never offered by a release build.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::legacy::{Availability, LegacyAccount, LegacyCommand, LegacyEvent};
use crate::transport::{FieldKind, Invalid, RegistrationField, Transport, TransportCommand};

type Network = Arc<Mutex<HashMap<String, mpsc::Sender<LegacyEvent>>>>;

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

const COMMANDS: &[TransportCommand] = &[TransportCommand {
    name: "whoami",
    help: "your user name on the test network",
}];

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

    fn commands(&self) -> &'static [TransportCommand] {
        COMMANDS
    }

    fn start_session(
        &self,
        account: LegacyAccount,
        events: mpsc::Sender<LegacyEvent>,
    ) -> mpsc::Sender<LegacyCommand> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(run(self.network.clone(), account, events, rx));
        tx
    }
}

async fn run(
    network: Network,
    account: LegacyAccount,
    events: mpsc::Sender<LegacyEvent>,
    mut commands: mpsc::Receiver<LegacyCommand>,
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
        net.insert(me.clone(), events.clone());
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
            LegacyCommand::SendMessage { to, body, id } => {
                let event = if to == "echo" {
                    events
                        .send(LegacyEvent::Message {
                            from: "echo".to_owned(),
                            body: format!("echo: {body}"),
                            id: None,
                        })
                        .await
                        .ok();
                    continue;
                } else {
                    network.lock().ok().and_then(|n| n.get(&to).cloned())
                };
                match event {
                    Some(peer) => {
                        let _ = peer
                            .send(LegacyEvent::Message {
                                from: me.clone(),
                                body,
                                id: None,
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
            LegacyCommand::UserCommand { name, .. } => {
                let text = if name == "whoami" {
                    format!("You are {me} on the test network.")
                } else {
                    format!("Unknown command {name}.")
                };
                let _ = events.send(LegacyEvent::Notice { text }).await;
            }
            LegacyCommand::SetPresence { .. } => {}
            LegacyCommand::Disconnect { .. } => break,
        }
    }
    if let Ok(mut net) = network.lock() {
        // Only remove our own entry: a newer login of the same id may have replaced it.
        if net.get(&me).is_some_and(|s| s.same_channel(&events)) {
            net.remove(&me);
        }
    }
}
