//! Encrypted rooms: which rooms are, and encrypting a message for one (the room key
//! shared first with every device of its members, as Megolm wants).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk_crypto::store::CryptoStoreError;
use matrix_sdk_crypto::types::events::room::encrypted::RoomEncryptedEventContent;
use matrix_sdk_crypto::types::requests::ToDeviceRequest;
use matrix_sdk_crypto::{EncryptionSettings, OlmError, OlmMachine};
use ruma::api::client::keys::claim_keys::v3::Request as KeysClaimRequest;
use ruma::api::client::membership::get_member_events;
use ruma::api::client::state::get_state_event_for_key;
use ruma::events::room::member::MembershipState;
use ruma::events::{AnyMessageLikeEventContent, MessageLikeEventContent, StateEventType};
use ruma::serde::Raw;
use ruma::{OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, UserId};

use super::{Crypto, Error};
use crate::http::HttpError;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Crypto {
    /// Notes that `room` is encrypted (its `m.room.encryption` state was seen).
    pub fn note_encrypted(&mut self, room: &RoomId) {
        self.encrypted.insert(room.to_owned(), true);
    }

    /// Notes that the whole state of `room` was seen (a first sync, or a room just
    /// joined: it has `m.room.create`) without `m.room.encryption`: not encrypted.
    pub fn note_plaintext(&mut self, room: &RoomId) {
        self.encrypted.entry(room.to_owned()).or_insert(false);
    }

    /// Forgets the members of `room` (its membership changed).
    pub fn note_members_changed(&mut self, room: &RoomId) {
        self.members.remove(room);
    }

    /// Whether messages to `room` must be encrypted; asks the homeserver the first time
    /// a room not seen in a sync is used (after a restart, sync only tells changes).
    pub async fn is_encrypted(&mut self, room: &RoomId) -> Result<bool, HttpError> {
        if let Some(known) = self.encrypted.get(room) {
            return Ok(*known);
        }
        let request = get_state_event_for_key::v3::Request::new(
            room.to_owned(),
            StateEventType::RoomEncryption,
            String::new(),
        );
        let api = &self.api;
        let encrypted = match api
            .http
            .send(&api.homeserver, Some(&api.token), request, CALL_TIMEOUT)
            .await
        {
            Ok(_) => true,
            Err(e) if e.code() == Some("M_NOT_FOUND") => false,
            Err(e) => return Err(e),
        };
        self.encrypted.insert(room.to_owned(), encrypted);
        Ok(encrypted)
    }

    /// The users the room key of `room` goes to: joined and invited members.
    async fn members(&mut self, room: &RoomId) -> Result<Vec<OwnedUserId>, HttpError> {
        if let Some(m) = self.members.get(room) {
            return Ok(m.clone());
        }
        let mut request = get_member_events::v3::Request::new(room.to_owned());
        request.not_membership = Some(MembershipState::Leave);
        let api = &self.api;
        let answer = api
            .http
            .send(&api.homeserver, Some(&api.token), request, CALL_TIMEOUT)
            .await?;
        let members: Vec<OwnedUserId> = answer
            .chunk
            .iter()
            .filter_map(|raw| raw.deserialize().ok())
            .filter(|ev| {
                matches!(
                    ev.membership(),
                    MembershipState::Join | MembershipState::Invite
                )
            })
            .map(|ev| ev.state_key().to_owned())
            .collect();
        self.members.insert(room.to_owned(), members.clone());
        Ok(members)
    }

    /// Encrypts `content` for `room`, sharing the room key with the members' devices
    /// that do not have it yet (their keys queried and Olm sessions made as needed).
    pub async fn encrypt<C: MessageLikeEventContent>(
        &mut self,
        room: &OwnedRoomId,
        content: &C,
    ) -> Result<Raw<RoomEncryptedEventContent>, Error> {
        let kind = content.event_type().to_string();
        let content: Raw<AnyMessageLikeEventContent> = Raw::new(content)?.cast_unchecked();
        let members = self.members(room).await?;
        self.last_work = std::time::Instant::now();
        let machine =
            super::built(&mut self.machine, &self.state, &self.user, &self.device).await?;
        track(machine, &members).await?;
        // Queries the keys of users not tracked until now (all of them in a machine just
        // built from the store).
        self.api.flush(machine).await?;
        if let Some((id, claim)) = missing_sessions(machine, &members).await? {
            self.api.claim(machine, &id, claim).await?;
        }
        for share in share(machine, room, &members).await? {
            self.api.to_device(machine, &share).await?;
        }
        let encrypted = machine
            .encrypt_room_event_raw(room, &kind, &content)
            .await?;
        Ok(encrypted.content)
    }
}

// The machine takes users as iterators of references; an async fn holding one across an
// await is not `Send` for rustc (higher-ranked lifetimes), so these plain functions make
// the futures with the bound stated.

fn users(members: &[OwnedUserId]) -> impl Iterator<Item = &UserId> {
    members.iter().map(|u| u.as_ref())
}

fn track<'a>(
    machine: &'a OlmMachine,
    members: &'a [OwnedUserId],
) -> impl Future<Output = Result<(), CryptoStoreError>> + Send + 'a {
    machine.update_tracked_users(users(members))
}

fn missing_sessions<'a>(
    machine: &'a OlmMachine,
    members: &'a [OwnedUserId],
) -> impl Future<Output = Result<Option<(OwnedTransactionId, KeysClaimRequest)>, CryptoStoreError>>
+ Send
+ 'a {
    machine.get_missing_sessions(users(members))
}

fn share<'a>(
    machine: &'a OlmMachine,
    room: &'a RoomId,
    members: &'a [OwnedUserId],
) -> impl Future<Output = Result<Vec<Arc<ToDeviceRequest>>, OlmError>> + Send + 'a {
    machine.share_room_key(room, users(members), EncryptionSettings::default())
}
