//! A backend as a [`Transport`]: what the core asks synchronously (its description, a
//! registration form's check, an address's parsing) is answered here from the backend's
//! hello, never by a round trip; sessions are multiplexed onto its processes.

use std::collections::BTreeMap;
use std::sync::Arc;

use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId};
use pontoon_core::transport::{Address, Descriptor, FieldKind, Invalid, RawRefused};
use pontoon_core::{Transport, state::TransportState};

use crate::addresses::Addresses;
use crate::config::BackendConfig;
use crate::pool::{Pool, ProcessView};
use crate::process::StartError;
use crate::protocol::Hello;

/// Commands waiting for a session's task.
const COMMAND_QUEUE: usize = 64;
/// Longest value of a registration field, in bytes.
const MAX_FIELD: usize = 1024;
/// Longest raw command, in bytes.
const MAX_RAW: usize = 512;

/// A transport whose network is reached through backend processes.
pub struct BackendTransport {
    pool: Pool,
    hello: Arc<Hello>,
    addresses: Addresses,
    max_unacked: usize,
}

impl BackendTransport {
    /// Starts the backend `cfg` describes and takes its hello; `options` are the
    /// transport's options, handed to each of its processes.
    pub async fn start(
        mut cfg: BackendConfig,
        options: BTreeMap<String, String>,
    ) -> Result<BackendTransport, StartError> {
        cfg.options = options;
        let max_unacked = cfg.limits.max_unacked;
        let (pool, hello) = Pool::start(cfg).await?;
        let addresses =
            Addresses::new(&hello.addresses).map_err(|e| StartError::Refused(e.to_string()))?;
        Ok(BackendTransport {
            pool,
            hello,
            addresses,
            max_unacked,
        })
    }

    /// Its processes, for the console.
    pub fn processes(&self) -> Vec<ProcessView> {
        self.pool.view()
    }

    /// Stops its processes, for Pontoon's shutdown: each has its input closed and a
    /// moment to log its users out before it is killed.
    pub async fn stop(&self) {
        self.pool.stop().await;
    }
}

/// A field's value checked: one line, not too long; a yes/no normalised.
fn check_field(label: &str, kind: FieldKind, value: &str) -> Result<String, Invalid> {
    if value.len() > MAX_FIELD {
        return Err(Invalid(format!("{label} is longer than {MAX_FIELD} bytes")));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Invalid(format!("{label} contains a line break or NUL")));
    }
    match kind {
        FieldKind::Boolean => match value.trim() {
            "1" | "true" => Ok("true".to_owned()),
            "" | "0" | "false" => Ok("false".to_owned()),
            _ => Err(Invalid(format!("{label} is yes or no"))),
        },
        FieldKind::Text => Ok(value.trim().to_owned()),
        FieldKind::Password => Ok(value.to_owned()),
    }
}

impl Transport for BackendTransport {
    fn descriptor(&self) -> &Descriptor {
        &self.hello.descriptor
    }

    /// The declared fields only, each checked; the login fields the hello names become the
    /// account's id and secret.
    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid> {
        let login = &self.hello.login;
        let mut options = BTreeMap::new();
        let mut legacy_id = None;
        let mut secret = None;
        for field in &self.hello.descriptor.registration_fields {
            let value = values.get(&field.var).map(String::as_str).unwrap_or("");
            let value = check_field(&field.label, field.kind, value)?;
            if value.is_empty() && field.required {
                return Err(Invalid(format!("{} is required", field.label)));
            }
            if field.var == login.id {
                legacy_id = Some(value);
            } else if Some(&field.var) == login.secret.as_ref() {
                secret = Some(value).filter(|v| !v.is_empty());
            } else if !value.is_empty() {
                options.insert(field.var.clone(), value);
            }
        }
        let legacy_id = legacy_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Invalid(format!("the {} field is required", login.id)))?;
        Ok(LegacyAccount {
            legacy_id,
            secret,
            options,
        })
    }

    fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid> {
        self.addresses.normalize_contact(input)
    }

    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        self.addresses.parse(local)
    }

    fn occupant_contact(&self, room: &LegacyId, nick: &str) -> Option<LegacyId> {
        self.addresses.occupant_contact(room, nick)
    }

    fn check_raw(&self, _network: &str, line: &str) -> Result<(), RawRefused> {
        if !self.hello.raw_commands {
            return Err(RawRefused::Unsupported);
        }
        if line.trim().is_empty() || line.len() > MAX_RAW || line.contains(['\r', '\n', '\0']) {
            return Err(RawRefused::Malformed(format!(
                "a raw command is one line of at most {MAX_RAW} bytes"
            )));
        }
        Ok(())
    }

    /// Says how its processes are, from what the host sees (no round trip: a hung backend
    /// is found by its pings).
    fn test_connection(&self) -> pontoon_core::transport::ConnectionTest {
        let views = self.pool.view();
        Box::pin(async move {
            let lines: Vec<String> = views
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    format!(
                        "process {}: {}, {} sessions, {} restarts",
                        i + 1,
                        v.state,
                        v.sessions,
                        v.restarts
                    )
                })
                .collect();
            if views.iter().all(|v| v.state.starts_with("running")) {
                Ok(lines.join("; "))
            } else {
                Err(lines.join("; "))
            }
        })
    }

    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        state: TransportState,
    ) -> channel::Sender<LegacyCommand> {
        let (commands, rx) = channel::bounded(COMMAND_QUEUE);
        let (session, worker, seat) = self.pool.assign();
        crate::session::spawn(crate::session::Task {
            session,
            account,
            events,
            commands: rx,
            state,
            worker,
            seat,
            max_unacked: self.max_unacked,
        });
        commands
    }
}
