//! End-to-end encryption for one session: Pontoon's device takes part in Olm/Megolm
//! through matrix-sdk-crypto's `OlmMachine` (vodozemac underneath), the field's
//! maintained implementation, rather than anything of our own.
//!
//! The machine is fed what a `/sync` brings for it ([`Crypto::receive`]), its requests
//! go out through the transport's HTTP client ([`requests`]), its keys are kept in the
//! transport state, encrypted at rest by Pontoon's store ([`store`]), and rooms know
//! whether they are encrypted and with whom to share keys ([`room`]).
//!
//! An idle session holds no machine: it is built from the store when something needs it
//! (a to-device message, changed one-time key counts, an encrypted event, an encrypted
//! send) and dropped again after [`Crypto::park_if_quiet`]'s quiet period, once it has
//! nothing left to send. Everything a dropped machine knew that matters is in the store
//! (the account, Olm sessions, room keys received); what is not (others' devices, the
//! outgoing room key) is fetched or made again, as after a restart. A machine costs about
//! 50 KiB and its work on every sync answer was most of an idle session's CPU
//! (bench/README.md, "Matrix at scale").

mod late;
mod requests;
mod room;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use matrix_sdk_common::deserialized_responses::WithheldCode;
use matrix_sdk_crypto::store::CryptoStoreError;
use matrix_sdk_crypto::{
    DecryptionSettings, EncryptionSyncChanges, MegolmError, OlmError, OlmMachine, TrustRequirement,
};
use pontoon_core::state::TransportState;
use ruma::api::client::sync::sync_events::DeviceLists;
use ruma::events::{AnySyncTimelineEvent, AnyToDeviceEvent};
use ruma::serde::Raw;
use ruma::{OneTimeKeyAlgorithm, OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId};
use tracing::debug;

use crate::http::{Http, HttpError};
use crate::login::Credentials;
use requests::Api;
pub(crate) use store::SavedStore;

/// Why an encryption step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the homeserver failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The keys could not be read or written.
    #[error("the encryption keys could not be stored: {0}")]
    Store(#[from] CryptoStoreError),
    /// Olm (the device-to-device layer) failed.
    #[error("end-to-end encryption failed: {0}")]
    Olm(#[from] OlmError),
    /// Megolm (the room layer) failed.
    #[error("the message could not be encrypted: {0}")]
    Megolm(#[from] MegolmError),
    /// A request or event could not be written.
    #[error("an encryption message could not be written: {0}")]
    Json(#[from] serde_json::Error),
}

/// The encryption of one session.
pub struct Crypto {
    /// The machine while it is in use; `None` while the session is idle.
    machine: Option<OlmMachine>,
    /// Whose device this is, and where its keys are, to build the machine again.
    user: OwnedUserId,
    device: OwnedDeviceId,
    state: TransportState,
    /// When the machine last did work.
    last_work: Instant,
    /// The one-time key counts and unused fallback key types of the last sync answer the
    /// machine was fed: answers that repeat them (all idle ones) are not fed.
    key_counts: Option<KeyCounts>,
    api: Api,
    /// Whether each room seen is encrypted (from its state; asked once when unknown).
    encrypted: HashMap<OwnedRoomId, bool>,
    /// The members (joined or invited) of encrypted rooms messages were sent to, until a
    /// membership change in the room.
    members: HashMap<OwnedRoomId, Vec<OwnedUserId>>,
    /// Messages waiting for their room key ([`late`]).
    waiting: late::Waiting,
}

/// One-time key counts and unused fallback key types, as a sync answer says them.
type KeyCounts = (
    BTreeMap<OneTimeKeyAlgorithm, UInt>,
    Option<Vec<OneTimeKeyAlgorithm>>,
);

/// What decrypting a room event gave.
pub enum Decrypted {
    /// The event as its sender wrote it (with the room's `event_id`, `sender`,
    /// `origin_server_ts` and `unsigned`, as a sync brings a plaintext event).
    Event(Box<AnySyncTimelineEvent>),
    /// It could not be decrypted; the words say why, for the user.
    Failed(String),
    /// Its room key has not come (yet): the words say so, and the message waits for it
    /// ([`Crypto::wait_for_key`]).
    Later(String),
}

/// Decrypt what any device of the user's contacts sends: trust (cross-signing
/// verification) is for the user to judge, not a reason to hide messages.
fn decryption_settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}

impl Crypto {
    /// The encryption of the device `creds` names, its keys loaded from `state` (or made,
    /// the first time). The machine is built at once: a new device's keys are uploaded
    /// with the first sync, and a store that cannot be read is known at login.
    pub async fn open(
        http: Http,
        creds: &Credentials,
        state: TransportState,
    ) -> Result<Crypto, Error> {
        let user = UserId::parse(creds.user_id.as_str())
            .map_err(|e| Error::Http(HttpError::Malformed(e.to_string())))?;
        let device: OwnedDeviceId = creds.device_id.as_str().into();
        let mut crypto = Crypto {
            machine: None,
            user,
            device,
            state,
            last_work: Instant::now(),
            key_counts: None,
            api: Api {
                http,
                homeserver: creds.homeserver.clone(),
                token: creds.access_token.clone(),
            },
            encrypted: HashMap::new(),
            members: HashMap::new(),
            waiting: Default::default(),
        };
        built(
            &mut crypto.machine,
            &crypto.state,
            &crypto.user,
            &crypto.device,
        )
        .await?;
        Ok(crypto)
    }

    /// The machine, built from the store when it was dropped; marks it busy.
    async fn machine(&mut self) -> Result<&OlmMachine, Error> {
        self.last_work = Instant::now();
        built(&mut self.machine, &self.state, &self.user, &self.device).await
    }

    /// Whether the machine is in memory now.
    pub fn is_loaded(&self) -> bool {
        self.machine.is_some()
    }

    /// Drops the machine when it has done no work for `quiet` and has no request left to
    /// send (what it sends is made from state the store does not keep); a later need
    /// builds it again from the store.
    pub async fn park_if_quiet(&mut self, quiet: Duration) {
        let Some(machine) = &self.machine else {
            return;
        };
        if self.last_work.elapsed() < quiet {
            return;
        }
        match machine.outgoing_requests().await {
            Ok(pending) if pending.is_empty() => {}
            Ok(_) => {
                // Sent now; the machine stays if some could not be (tried again later).
                if let Err(e) = self.api.flush(machine).await {
                    debug!(error = %e, "the encryption machine's requests could not be sent yet");
                    return;
                }
            }
            Err(e) => {
                debug!(error = %e, "the encryption machine's requests could not be read");
                return;
            }
        }
        self.machine = None;
        debug!("the encryption machine was put away until it is needed");
    }

    /// Feeds the machine what a `/sync` answer brought for it (to-device messages such
    /// as room keys, changed device lists, one-time key counts), then sends what it
    /// asks for (key uploads, key queries). An answer with nothing for it is not fed (so
    /// an idle session's answers cost no machine): no to-device message, key counts that
    /// need nothing (see [`keys_wanted`]) or did not change since the last answer fed,
    /// and no device change, or no machine whose tracked devices it could make stale (a
    /// machine built later queries the devices it needs afresh).
    pub async fn receive(
        &mut self,
        to_device: Vec<Raw<AnyToDeviceEvent>>,
        devices: &DeviceLists,
        one_time_keys: &BTreeMap<OneTimeKeyAlgorithm, UInt>,
        fallback_keys: Option<&[OneTimeKeyAlgorithm]>,
    ) -> Result<(), Error> {
        let same_counts = self.key_counts.as_ref().is_some_and(|(otk, fallback)| {
            otk == one_time_keys && fallback.as_deref() == fallback_keys
        });
        let keys = !same_counts && keys_wanted(one_time_keys, fallback_keys);
        let devices_changed = !devices.changed.is_empty() || !devices.left.is_empty();
        if to_device.is_empty() && !keys && !(devices_changed && self.is_loaded()) {
            return Ok(());
        }
        let changes = EncryptionSyncChanges {
            to_device_events: to_device,
            changed_devices: devices,
            one_time_keys_counts: one_time_keys,
            unused_fallback_keys: fallback_keys,
            next_batch_token: None,
        };
        self.last_work = Instant::now();
        let machine = built(&mut self.machine, &self.state, &self.user, &self.device).await?;
        machine
            .receive_sync_changes(changes, &decryption_settings())
            .await?;
        self.api.flush(machine).await?;
        if !same_counts {
            self.key_counts = Some((one_time_keys.clone(), fallback_keys.map(<[_]>::to_vec)));
        }
        Ok(())
    }

    /// Sends whatever requests the machine has waiting (none when it is not loaded).
    pub async fn flush(&self) -> Result<(), Error> {
        match &self.machine {
            Some(machine) => self.api.flush(machine).await,
            None => Ok(()),
        }
    }

    /// Keeps `raw`, an event of `room` whose key has not come ([`Decrypted::Later`]), to
    /// decrypt when it does ([`Crypto::decrypt_waiting`]).
    pub fn wait_for_key(&mut self, room: OwnedRoomId, raw: Raw<AnySyncTimelineEvent>) {
        self.waiting.push(room, raw);
    }

    /// Decrypts an `m.room.encrypted` event of `room`.
    pub async fn decrypt(&mut self, room: &RoomId, raw: &Raw<AnySyncTimelineEvent>) -> Decrypted {
        let machine = match self.machine().await {
            Ok(m) => m,
            Err(e) => {
                return Decrypted::Failed(format!(
                    "[a message that Pontoon could not decrypt: {e}]"
                ));
            }
        };
        let event = match machine
            .decrypt_room_event(raw.cast_ref_unchecked(), room, &decryption_settings())
            .await
        {
            Ok(d) => d.event,
            Err(e @ MegolmError::MissingRoomKey(None)) => {
                return Decrypted::Later(undecryptable(&e));
            }
            Err(e) => return Decrypted::Failed(undecryptable(&e)),
        };
        // A timeline event without its `room_id`, as the sync's plaintext events are.
        match event.cast_unchecked::<AnySyncTimelineEvent>().deserialize() {
            Ok(e) => Decrypted::Event(Box::new(e)),
            Err(e) => Decrypted::Failed(format!(
                "[a message that Pontoon could not read after decrypting it: {e}]"
            )),
        }
    }
}

/// How many one-time keys the machine keeps uploaded (vodozemac's
/// `Account::max_number_of_one_time_keys`; a unit test checks it).
const ONE_TIME_KEYS: u64 = 50;

/// Whether a sync answer's key counts ask the machine for new keys: one-time keys were
/// claimed (fewer are left than it keeps uploaded), or its fallback key was used.
fn keys_wanted(
    one_time_keys: &BTreeMap<OneTimeKeyAlgorithm, UInt>,
    fallback_keys: Option<&[OneTimeKeyAlgorithm]>,
) -> bool {
    let curve = OneTimeKeyAlgorithm::SignedCurve25519;
    let left = one_time_keys.get(&curve).map_or(0, |n| u64::from(*n));
    left < ONE_TIME_KEYS || fallback_keys.is_some_and(|f| !f.contains(&curve))
}

/// The machine in `slot`, built from the store of `user`'s `device` in `state` when the
/// slot is empty. (A function of the fields, not a method, so the caller may use the
/// struct's other fields beside the machine.)
async fn built<'a>(
    slot: &'a mut Option<OlmMachine>,
    state: &TransportState,
    user: &UserId,
    device: &ruma::DeviceId,
) -> Result<&'a OlmMachine, Error> {
    let machine = match slot.take() {
        Some(m) => m,
        None => {
            let store = SavedStore::load(state.clone(), user, device).await?;
            let m = OlmMachine::with_store(user, device, store, None).await?;
            debug!("the encryption machine was loaded from the store");
            m
        }
    };
    Ok(slot.insert(machine))
}

/// The words the user sees for a message that could not be decrypted.
fn undecryptable(e: &MegolmError) -> String {
    let why = match e {
        MegolmError::MissingRoomKey(None) => "the sender's device did not share its key".to_owned(),
        MegolmError::MissingRoomKey(Some(code)) => match code {
            WithheldCode::Unverified | WithheldCode::Blacklisted => {
                "the sender's device does not share keys with unverified devices such as Pontoon's"
                    .to_owned()
            }
            WithheldCode::Unauthorised => "the sender's device refused to share its key".to_owned(),
            other => format!("the sender's device withheld its key ({})", other.as_str()),
        },
        MegolmError::Decryption(_) => {
            "the key Pontoon has does not reach back to this message".to_owned()
        }
        other => other.to_string(),
    };
    format!("[a message that Pontoon could not decrypt: {why}]")
}
