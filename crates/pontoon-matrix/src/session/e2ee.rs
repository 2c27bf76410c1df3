//! The session's hooks for encrypted rooms; [`crate::crypto`] does the work. Kept apart
//! from the sync and command code so each hook there is one call.

use ruma::api::client::message::send_message_event;
use ruma::api::client::sync::sync_events::v3;
use ruma::events::room::message::RoomMessageEventContent;
use ruma::events::{AnySyncTimelineEvent, MessageLikeEventContent, MessageLikeEventType};
use ruma::serde::Raw;
use ruma::{OwnedRoomId, OwnedTransactionId, RoomId};
use tracing::{debug, warn};

use super::Session;
use super::sync::rfc3339;
use crate::crypto::{Crypto, Decrypted};
use crate::http::{Http, HttpError};
use crate::login::Credentials;

/// The session's encryption, or `None` (logged) when its keys cannot be loaded: the
/// session then still serves plaintext rooms.
pub(super) async fn open(
    http: &Http,
    creds: &Credentials,
    state: &pontoon_core::state::TransportState,
) -> Option<Crypto> {
    match Crypto::open(http.clone(), creds, state.clone()).await {
        Ok(c) => Some(c),
        Err(e) => {
            warn!(error = %e, "end-to-end encryption is not available for this session");
            None
        }
    }
}

/// A text field of an event, read without parsing the rest.
fn text_field<T>(raw: &Raw<T>, name: &str) -> Option<String> {
    raw.get_field::<String>(name).ok().flatten()
}

/// The `type` of an event.
fn event_type<T>(raw: &Raw<T>) -> Option<String> {
    text_field(raw, "type")
}

impl Session {
    /// Hands the encryption what a sync answer brought for it: to-device messages (room
    /// keys), device list changes, one-time key counts; and notes which rooms are
    /// encrypted and whose members changed. Runs before the timeline is shown, so the
    /// room keys of this answer are there to decrypt its messages.
    pub(super) async fn e2ee_sync(&mut self, response: &v3::Response) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        for (room_id, joined) in &response.rooms.join {
            let state = match &joined.state {
                v3::State::Before(s) | v3::State::After(s) => s.events.as_slice(),
                _ => &[],
            };
            let kinds = state
                .iter()
                .map(event_type)
                .chain(joined.timeline.events.iter().map(event_type));
            let (mut created, mut encrypted) = (false, false);
            for kind in kinds {
                match kind.as_deref() {
                    Some("m.room.encryption") => encrypted = true,
                    Some("m.room.create") => created = true,
                    Some("m.room.member") => crypto.note_members_changed(room_id),
                    _ => {}
                }
            }
            if encrypted {
                crypto.note_encrypted(room_id);
            } else if created {
                crypto.note_plaintext(room_id);
            }
        }
        if let Err(e) = crypto
            .receive(
                response.to_device.events.clone(),
                &response.device_lists,
                &response.device_one_time_keys_count,
                response.device_unused_fallback_key_types.as_deref(),
            )
            .await
        {
            warn!(error = %e, "the encryption part of a sync answer failed");
        }
        // Room keys come as to-device messages: messages that waited for theirs may
        // decrypt now.
        if !response.to_device.events.is_empty() && crypto.has_waiting() {
            let decrypted = Box::pin(crypto.decrypt_waiting()).await;
            for (room, event) in decrypted {
                self.show_late(&room, *event).await;
            }
        }
    }

    /// A message that was shown as undecryptable, decrypted now that its key came: a plain
    /// message replaces the words shown for it (the same event, corrected: XEP-0308 in
    /// the client), anything else (an edit, a reaction) takes its usual path.
    async fn show_late(&mut self, room: &RoomId, event: AnySyncTimelineEvent) {
        use ruma::events::room::message::{Relation, RoomMessageEventContentWithoutRelation};
        use ruma::events::{AnySyncMessageLikeEvent, SyncMessageLikeEvent};
        let message = match event {
            AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                SyncMessageLikeEvent::Original(message),
            )) if !matches!(message.content.relates_to, Some(Relation::Replacement(_))) => message,
            event @ AnySyncTimelineEvent::MessageLike(_) => {
                self.on_timeline(room.as_str(), event).await;
                return;
            }
            // State is never taken from encrypted content.
            _ => return,
        };
        let msgtype = message.content.msgtype;
        let mut correction = RoomMessageEventContent::new(msgtype.clone());
        correction.relates_to = Some(Relation::Replacement(
            ruma::events::relation::Replacement::new(
                message.event_id.clone(),
                RoomMessageEventContentWithoutRelation::new(msgtype),
            ),
        ));
        let time = rfc3339(message.origin_server_ts);
        self.on_message(
            room.as_str(),
            message.sender.as_str(),
            message.event_id.as_str(),
            correction,
            None,
            time,
        )
        .await;
    }

    /// Puts the encryption machine away when it has been idle for `quiet` (it is built
    /// again from the store when needed).
    pub(super) async fn e2ee_park(&mut self, quiet: std::time::Duration) {
        // Boxed (it is rare work, and the serve loop's future is per-session memory);
        // nothing to do, and no allocation, while the machine is away.
        if let Some(crypto) = self.crypto.as_mut().filter(|c| c.is_loaded()) {
            Box::pin(crypto.park_if_quiet(quiet)).await;
        }
    }

    /// Shows timeline event `raw` of `room_id` if it is encrypted, decrypted as its
    /// plaintext would be shown, or, when that fails, as words saying why (never dropped).
    /// `false` when the event is not encrypted.
    pub(super) async fn e2ee_timeline(
        &mut self,
        room_id: &str,
        raw: &Raw<AnySyncTimelineEvent>,
    ) -> bool {
        if event_type(raw).as_deref() != Some("m.room.encrypted") {
            return false;
        }
        let decrypted = match (self.crypto.as_mut(), RoomId::parse(room_id)) {
            (Some(crypto), Ok(room)) => crypto.decrypt(&room, raw).await,
            _ => Decrypted::Failed(
                "[a message that Pontoon could not decrypt: encryption is not available on this gateway]"
                    .to_owned(),
            ),
        };
        let waits = matches!(decrypted, Decrypted::Later(_));
        match decrypted {
            // Decrypted, it goes where the same event in plaintext goes. Only message
            // events: state (membership, power) is never taken from encrypted content.
            Decrypted::Event(event) => match *event {
                event @ AnySyncTimelineEvent::MessageLike(_) => {
                    self.on_timeline(room_id, event).await;
                }
                _ => debug!(room = %room_id, "an encrypted state event was skipped"),
            },
            Decrypted::Later(text) | Decrypted::Failed(text) => {
                if waits
                    && let (Some(crypto), Ok(room)) = (self.crypto.as_mut(), RoomId::parse(room_id))
                {
                    crypto.wait_for_key(room, raw.clone());
                }
                let (Some(sender), Some(event_id)) =
                    (text_field(raw, "sender"), text_field(raw, "event_id"))
                else {
                    return true;
                };
                let txn = raw
                    .get_field::<serde_json::Value>("unsigned")
                    .ok()
                    .flatten()
                    .and_then(|u| u.get("transaction_id")?.as_str().map(str::to_owned));
                let time = raw
                    .get_field::<ruma::MilliSecondsSinceUnixEpoch>("origin_server_ts")
                    .ok()
                    .flatten()
                    .and_then(rfc3339);
                let content = RoomMessageEventContent::text_plain(text);
                self.on_message(room_id, &sender, &event_id, content, txn, time)
                    .await;
            }
        }
        true
    }

    /// The request sending `content` to `room_id` encrypted, when the room is encrypted;
    /// `None` for a plaintext room.
    pub(super) async fn e2ee_request<C: MessageLikeEventContent>(
        &mut self,
        room_id: &OwnedRoomId,
        txn: &str,
        content: &C,
    ) -> Result<Option<send_message_event::v3::Request>, HttpError> {
        let Some(crypto) = self.crypto.as_mut() else {
            return Ok(None);
        };
        if !crypto.is_encrypted(room_id).await? {
            return Ok(None);
        }
        let encrypted = match crypto.encrypt(room_id, content).await {
            Ok(e) => e,
            Err(crate::crypto::Error::Http(e)) => return Err(e),
            Err(e) => {
                return Err(HttpError::Refused {
                    status: 0,
                    code: "E2EE".to_owned(),
                    message: e.to_string(),
                });
            }
        };
        Ok(Some(send_message_event::v3::Request::new_raw(
            room_id.clone(),
            OwnedTransactionId::from(txn),
            MessageLikeEventType::RoomEncrypted,
            encrypted.cast_unchecked(),
        )))
    }
}
