//! End-to-end encryption for one session: Pontoon's device takes part in Olm/Megolm
//! through matrix-sdk-crypto's `OlmMachine` (vodozemac underneath), the field's
//! maintained implementation, rather than anything of our own.
//!
//! The machine is fed what each `/sync` brings for it ([`Crypto::receive`]), its requests
//! go out through the transport's HTTP client ([`requests`]), its keys are kept in the
//! transport state, encrypted at rest by Pontoon's store ([`store`]), and rooms know
//! whether they are encrypted and with whom to share keys ([`room`]).

mod requests;
mod room;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use matrix_sdk_common::deserialized_responses::WithheldCode;
use matrix_sdk_crypto::store::CryptoStoreError;
use matrix_sdk_crypto::{
    DecryptionSettings, EncryptionSyncChanges, MegolmError, OlmError, OlmMachine, TrustRequirement,
};
use pontoon_core::state::TransportState;
use ruma::api::client::sync::sync_events::DeviceLists;
use ruma::events::{AnySyncTimelineEvent, AnyToDeviceEvent};
use ruma::serde::Raw;
use ruma::{OneTimeKeyAlgorithm, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId};

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
    machine: OlmMachine,
    api: Api,
    /// Whether each room seen is encrypted (from its state; asked once when unknown).
    encrypted: HashMap<OwnedRoomId, bool>,
    /// The members (joined or invited) of encrypted rooms messages were sent to, until a
    /// membership change in the room.
    members: HashMap<OwnedRoomId, Vec<OwnedUserId>>,
}

/// What decrypting a room event gave.
pub enum Decrypted {
    /// The event as its sender wrote it (with the room's `event_id`, `sender`,
    /// `origin_server_ts` and `unsigned`, as a sync brings a plaintext event).
    Event(Box<AnySyncTimelineEvent>),
    /// It could not be decrypted; the words say why, for the user.
    Failed(String),
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
    /// the first time).
    pub async fn open(
        http: Http,
        creds: &Credentials,
        state: TransportState,
    ) -> Result<Crypto, Error> {
        let user = UserId::parse(creds.user_id.as_str())
            .map_err(|e| Error::Http(HttpError::Malformed(e.to_string())))?;
        let device: ruma::OwnedDeviceId = creds.device_id.as_str().into();
        let store = SavedStore::load(state, &user, &device).await?;
        let machine = OlmMachine::with_store(&user, &device, store, None).await?;
        Ok(Crypto {
            machine,
            api: Api {
                http,
                homeserver: creds.homeserver.clone(),
                token: creds.access_token.clone(),
            },
            encrypted: HashMap::new(),
            members: HashMap::new(),
        })
    }

    /// Feeds the machine what a `/sync` answer brought for it (to-device messages such
    /// as room keys, changed device lists, one-time key counts), then sends what it
    /// asks for (key uploads, key queries).
    pub async fn receive(
        &self,
        to_device: Vec<Raw<AnyToDeviceEvent>>,
        devices: &DeviceLists,
        one_time_keys: &BTreeMap<OneTimeKeyAlgorithm, UInt>,
        fallback_keys: Option<&[OneTimeKeyAlgorithm]>,
    ) -> Result<(), Error> {
        let changes = EncryptionSyncChanges {
            to_device_events: to_device,
            changed_devices: devices,
            one_time_keys_counts: one_time_keys,
            unused_fallback_keys: fallback_keys,
            next_batch_token: None,
        };
        self.machine
            .receive_sync_changes(changes, &decryption_settings())
            .await?;
        self.api.flush(&self.machine).await
    }

    /// Sends whatever requests the machine has waiting.
    pub async fn flush(&self) -> Result<(), Error> {
        self.api.flush(&self.machine).await
    }

    /// Decrypts an `m.room.encrypted` event of `room`.
    pub async fn decrypt(&self, room: &RoomId, raw: &Raw<AnySyncTimelineEvent>) -> Decrypted {
        let event = match self
            .machine
            .decrypt_room_event(raw.cast_ref_unchecked(), room, &decryption_settings())
            .await
        {
            Ok(d) => d.event,
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
