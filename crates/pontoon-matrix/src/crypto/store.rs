//! The crypto store of one session: matrix-sdk-crypto's `MemoryStore`, with what must
//! outlive the process written through to the transport's per-account state.
//!
//! Why our own: matrix-sdk-crypto's persistent store is one SQLite file per user, and a
//! gateway runs thousands of sessions in one process whose keys belong in its own store,
//! encrypted at rest there. Implementing the whole `CryptoStore` (some 45 methods) over
//! that state would be large; instead every call goes to a `MemoryStore`, and the three
//! calls through which the machine saves what it learnt also write it through:
//! the Olm account (identity and one-time keys), the Olm sessions with other devices and
//! the inbound Megolm sessions (room keys). Everything else (others' devices, outbound
//! room keys, tracked users) is fetched or made again after a restart.
//!
//! The transport state holds at most 64 keys of at most 64 KiB per account, so sessions
//! are kept in a fixed number of buckets (a map per bucket, chosen by a hash of the
//! session id), rewritten when one of their sessions changes.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use matrix_sdk_common::cross_process_lock::CrossProcessLockGeneration;
use matrix_sdk_crypto::olm::{
    InboundGroupSession, OlmMessageHash, OutboundGroupSession, PickledAccount,
    PickledInboundGroupSession, PickledSession, PrivateCrossSigningIdentity, SenderDataType,
};
use matrix_sdk_crypto::store::types::{
    BackupKeys, Changes, DehydratedDeviceKey, DeviceChanges, PendingChanges, RoomKeyCounts,
    RoomKeyWithheldEntry, RoomPendingKeyBundleDetails, RoomSettings, StoredRoomKeyBundleData,
    TrackedUser,
};
use matrix_sdk_crypto::store::{CryptoStore, CryptoStoreError, MemoryStore};
use matrix_sdk_crypto::vodozemac::Curve25519PublicKey;
use matrix_sdk_crypto::{
    Account, DeviceData, GossipRequest, SecretInfo, Session, UserIdentityData,
};
use pontoon_core::state::TransportState;
use ruma::events::secret::request::SecretName;
use ruma::{DeviceId, OwnedDeviceId, RoomId, TransactionId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::warn;
use zeroize::Zeroizing;

/// The state key of the Olm account.
const ACCOUNT_KEY: &str = "e2ee.account";
/// Buckets of Olm sessions (one or a few per device the user talks to).
const OLM_BUCKETS: u32 = 8;
/// Buckets of inbound Megolm sessions (one per sender, room and key rotation).
const MEGOLM_BUCKETS: u32 = 16;
/// The largest bucket written: under the transport state's 64 KiB value limit.
const MAX_BUCKET: usize = 60 * 1024;

/// A `MemoryStore` whose account and sessions are written through to `state`.
#[derive(Debug)]
pub(crate) struct SavedStore {
    mem: MemoryStore,
    state: TransportState,
    /// One write-through at a time (a bucket is read, changed and written back).
    writing: Mutex<()>,
}

/// The state key of the bucket of session `id` of a kind (`olm`, `megolm`).
fn bucket_key(kind: &str, buckets: u32, id: &str) -> String {
    // FNV-1a: stable across builds and restarts, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("e2ee.{kind}.{}", h % buckets)
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> CryptoStoreError {
    CryptoStoreError::backend(e)
}

impl SavedStore {
    /// The store of `user`'s device `device`, loaded from `state`. A stored account of
    /// another device (the login made a new one) is forgotten: its keys are of no use.
    pub(crate) async fn load(
        state: TransportState,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<SavedStore, CryptoStoreError> {
        let store = SavedStore {
            mem: MemoryStore::new(),
            state,
            writing: Mutex::new(()),
        };
        let Some(pickle) = store.get_json::<PickledAccount>(ACCOUNT_KEY).await? else {
            return Ok(store);
        };
        let account = Account::from_pickle(pickle).map_err(backend)?;
        if account.user_id() != user || account.device_id() != device {
            warn!(%device, "the stored encryption keys are of another device; starting anew");
            store.forget().await?;
            return Ok(store);
        }
        let own_keys = account.device_keys();
        // The machine takes its own device from the store once the account is there
        // (MemoryStore panics without it): made again from the account, as a new machine
        // does. Its local trust stays unset (only the crate may set it); nothing Pontoon
        // does depends on it.
        let own_device = DeviceData::from_account(&account);
        store
            .mem
            .save_pending_changes(PendingChanges {
                account: Some(account),
            })
            .await?;
        store
            .mem
            .save_changes(Changes {
                devices: DeviceChanges {
                    new: vec![own_device],
                    ..Default::default()
                },
                ..Default::default()
            })
            .await?;
        let mut sessions = Vec::new();
        for b in 0..OLM_BUCKETS {
            let key = format!("e2ee.olm.{b}");
            let bucket: BTreeMap<String, PickledSession> =
                store.get_json(&key).await?.unwrap_or_default();
            for (id, pickle) in bucket {
                match Session::from_pickle(own_keys.clone(), pickle) {
                    Ok(s) => sessions.push(s),
                    Err(e) => warn!(session = %id, error = %e, "a stored Olm session is unusable"),
                }
            }
        }
        store
            .mem
            .save_changes(Changes {
                sessions,
                ..Default::default()
            })
            .await?;
        let mut group = Vec::new();
        for b in 0..MEGOLM_BUCKETS {
            let key = format!("e2ee.megolm.{b}");
            let bucket: BTreeMap<String, PickledInboundGroupSession> =
                store.get_json(&key).await?.unwrap_or_default();
            for (id, pickle) in bucket {
                match InboundGroupSession::from_pickle(pickle) {
                    Ok(s) => group.push(s),
                    Err(e) => warn!(session = %id, error = %e, "a stored room key is unusable"),
                }
            }
        }
        store.mem.save_inbound_group_sessions(group, None).await?;
        Ok(store)
    }

    /// Removes every key this store wrote.
    pub(crate) async fn forget(&self) -> Result<(), CryptoStoreError> {
        self.state.delete(ACCOUNT_KEY).await.map_err(backend)?;
        for b in 0..OLM_BUCKETS {
            self.state
                .delete(&format!("e2ee.olm.{b}"))
                .await
                .map_err(backend)?;
        }
        for b in 0..MEGOLM_BUCKETS {
            self.state
                .delete(&format!("e2ee.megolm.{b}"))
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CryptoStoreError> {
        match self.state.get(key).await.map_err(backend)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Adds `items` (session id and pickle) to their buckets, each bucket read and
    /// written once. A bucket that would pass the size limit is not written: the
    /// sessions still work until the process ends, and the operator is told.
    async fn save_items<T: Serialize + DeserializeOwned>(
        &self,
        kind: &str,
        buckets: u32,
        items: Vec<(String, T)>,
    ) -> Result<(), CryptoStoreError> {
        let mut by_bucket: HashMap<String, Vec<(String, T)>> = HashMap::new();
        for (id, pickle) in items {
            by_bucket
                .entry(bucket_key(kind, buckets, &id))
                .or_default()
                .push((id, pickle));
        }
        for (key, items) in by_bucket {
            let mut bucket: BTreeMap<String, T> = self.get_json(&key).await?.unwrap_or_default();
            bucket.extend(items);
            let bytes = serde_json::to_vec(&bucket)?;
            if bytes.len() > MAX_BUCKET {
                warn!(bucket = %key, "the encryption keys outgrew their place in the store; new ones are kept until restart only");
                continue;
            }
            self.state.put(&key, &bytes).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn save_account(&self, account: &Account) -> Result<(), CryptoStoreError> {
        let bytes = serde_json::to_vec(&account.pickle())?;
        self.state.put(ACCOUNT_KEY, &bytes).await.map_err(backend)
    }

    async fn save_sessions(&self, sessions: &[Session]) -> Result<(), CryptoStoreError> {
        let mut items = Vec::with_capacity(sessions.len());
        for s in sessions {
            items.push((s.session_id().to_owned(), s.pickle().await));
        }
        self.save_items("olm", OLM_BUCKETS, items).await
    }

    async fn save_group_sessions(
        &self,
        sessions: &[InboundGroupSession],
    ) -> Result<(), CryptoStoreError> {
        let mut items = Vec::with_capacity(sessions.len());
        for s in sessions {
            items.push((s.session_id().to_owned(), s.pickle().await));
        }
        self.save_items("megolm", MEGOLM_BUCKETS, items).await
    }
}

#[async_trait]
impl CryptoStore for SavedStore {
    type Error = CryptoStoreError;

    async fn close(&self) -> Result<(), Self::Error> {
        Ok(self.mem.close().await?)
    }

    async fn reopen(&self) -> Result<(), Self::Error> {
        Ok(self.mem.reopen().await?)
    }

    async fn load_account(&self) -> Result<Option<Account>, Self::Error> {
        Ok(self.mem.load_account().await?)
    }

    async fn load_identity(&self) -> Result<Option<PrivateCrossSigningIdentity>, Self::Error> {
        Ok(self.mem.load_identity().await?)
    }

    async fn save_changes(&self, changes: Changes) -> Result<(), Self::Error> {
        let _writing = self.writing.lock().await;
        let sessions = changes.sessions.clone();
        let group = changes.inbound_group_sessions.clone();
        self.mem.save_changes(changes).await?;
        if !sessions.is_empty() {
            self.save_sessions(&sessions).await?;
        }
        if !group.is_empty() {
            self.save_group_sessions(&group).await?;
        }
        Ok(())
    }

    async fn save_pending_changes(&self, changes: PendingChanges) -> Result<(), Self::Error> {
        let _writing = self.writing.lock().await;
        if let Some(account) = &changes.account {
            self.save_account(account).await?;
        }
        Ok(self.mem.save_pending_changes(changes).await?)
    }

    async fn save_inbound_group_sessions(
        &self,
        sessions: Vec<InboundGroupSession>,
        backed_up_to_version: Option<&str>,
    ) -> Result<(), Self::Error> {
        let _writing = self.writing.lock().await;
        self.save_group_sessions(&sessions).await?;
        Ok(self
            .mem
            .save_inbound_group_sessions(sessions, backed_up_to_version)
            .await?)
    }

    async fn get_sessions(&self, sender_key: &str) -> Result<Option<Vec<Session>>, Self::Error> {
        Ok(self.mem.get_sessions(sender_key).await?)
    }

    async fn get_inbound_group_session(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> Result<Option<InboundGroupSession>, Self::Error> {
        Ok(self
            .mem
            .get_inbound_group_session(room_id, session_id)
            .await?)
    }

    async fn get_withheld_info(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> Result<Option<RoomKeyWithheldEntry>, Self::Error> {
        Ok(self.mem.get_withheld_info(room_id, session_id).await?)
    }

    async fn get_withheld_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<RoomKeyWithheldEntry>, Self::Error> {
        Ok(self.mem.get_withheld_sessions_by_room_id(room_id).await?)
    }

    async fn get_inbound_group_sessions(&self) -> Result<Vec<InboundGroupSession>, Self::Error> {
        Ok(self.mem.get_inbound_group_sessions().await?)
    }

    async fn inbound_group_session_counts(
        &self,
        backup_version: Option<&str>,
    ) -> Result<RoomKeyCounts, Self::Error> {
        Ok(self
            .mem
            .inbound_group_session_counts(backup_version)
            .await?)
    }

    async fn get_inbound_group_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<InboundGroupSession>, Self::Error> {
        Ok(self
            .mem
            .get_inbound_group_sessions_by_room_id(room_id)
            .await?)
    }

    async fn get_inbound_group_sessions_for_device_batch(
        &self,
        sender_key: Curve25519PublicKey,
        sender_data_type: SenderDataType,
        after_session_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<InboundGroupSession>, Self::Error> {
        Ok(self
            .mem
            .get_inbound_group_sessions_for_device_batch(
                sender_key,
                sender_data_type,
                after_session_id,
                limit,
            )
            .await?)
    }

    async fn inbound_group_sessions_for_backup(
        &self,
        backup_version: &str,
        limit: usize,
    ) -> Result<Vec<InboundGroupSession>, Self::Error> {
        Ok(self
            .mem
            .inbound_group_sessions_for_backup(backup_version, limit)
            .await?)
    }

    async fn mark_inbound_group_sessions_as_backed_up(
        &self,
        backup_version: &str,
        room_and_session_ids: &[(&RoomId, &str)],
    ) -> Result<(), Self::Error> {
        Ok(self
            .mem
            .mark_inbound_group_sessions_as_backed_up(backup_version, room_and_session_ids)
            .await?)
    }

    async fn reset_backup_state(&self) -> Result<(), Self::Error> {
        Ok(self.mem.reset_backup_state().await?)
    }

    async fn load_backup_keys(&self) -> Result<BackupKeys, Self::Error> {
        Ok(self.mem.load_backup_keys().await?)
    }

    async fn load_dehydrated_device_pickle_key(
        &self,
    ) -> Result<Option<DehydratedDeviceKey>, Self::Error> {
        Ok(self.mem.load_dehydrated_device_pickle_key().await?)
    }

    async fn delete_dehydrated_device_pickle_key(&self) -> Result<(), Self::Error> {
        Ok(self.mem.delete_dehydrated_device_pickle_key().await?)
    }

    async fn get_outbound_group_session(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<OutboundGroupSession>, Self::Error> {
        Ok(self.mem.get_outbound_group_session(room_id).await?)
    }

    async fn load_tracked_users(&self) -> Result<Vec<TrackedUser>, Self::Error> {
        Ok(self.mem.load_tracked_users().await?)
    }

    async fn save_tracked_users(&self, users: &[(&UserId, bool)]) -> Result<(), Self::Error> {
        Ok(self.mem.save_tracked_users(users).await?)
    }

    async fn get_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<DeviceData>, Self::Error> {
        Ok(self.mem.get_device(user_id, device_id).await?)
    }

    async fn get_user_devices(
        &self,
        user_id: &UserId,
    ) -> Result<HashMap<OwnedDeviceId, DeviceData>, Self::Error> {
        Ok(self.mem.get_user_devices(user_id).await?)
    }

    async fn get_own_device(&self) -> Result<DeviceData, Self::Error> {
        Ok(self.mem.get_own_device().await?)
    }

    async fn get_user_identity(
        &self,
        user_id: &UserId,
    ) -> Result<Option<UserIdentityData>, Self::Error> {
        Ok(self.mem.get_user_identity(user_id).await?)
    }

    async fn is_message_known(&self, message_hash: &OlmMessageHash) -> Result<bool, Self::Error> {
        Ok(self.mem.is_message_known(message_hash).await?)
    }

    async fn get_outgoing_secret_requests(
        &self,
        request_id: &TransactionId,
    ) -> Result<Option<GossipRequest>, Self::Error> {
        Ok(self.mem.get_outgoing_secret_requests(request_id).await?)
    }

    async fn get_secret_request_by_info(
        &self,
        secret_info: &SecretInfo,
    ) -> Result<Option<GossipRequest>, Self::Error> {
        Ok(self.mem.get_secret_request_by_info(secret_info).await?)
    }

    async fn get_unsent_secret_requests(&self) -> Result<Vec<GossipRequest>, Self::Error> {
        Ok(self.mem.get_unsent_secret_requests().await?)
    }

    async fn delete_outgoing_secret_requests(
        &self,
        request_id: &TransactionId,
    ) -> Result<(), Self::Error> {
        Ok(self.mem.delete_outgoing_secret_requests(request_id).await?)
    }

    async fn get_secrets_from_inbox(
        &self,
        secret_name: &SecretName,
    ) -> Result<Vec<Zeroizing<String>>, Self::Error> {
        Ok(self.mem.get_secrets_from_inbox(secret_name).await?)
    }

    async fn delete_secrets_from_inbox(&self, secret_name: &SecretName) -> Result<(), Self::Error> {
        Ok(self.mem.delete_secrets_from_inbox(secret_name).await?)
    }

    async fn get_room_settings(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<RoomSettings>, Self::Error> {
        Ok(self.mem.get_room_settings(room_id).await?)
    }

    async fn get_received_room_key_bundle_data(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> matrix_sdk_crypto::store::Result<Option<StoredRoomKeyBundleData>, Self::Error> {
        Ok(self
            .mem
            .get_received_room_key_bundle_data(room_id, user_id)
            .await?)
    }

    async fn has_downloaded_all_room_keys(&self, room_id: &RoomId) -> Result<bool, Self::Error> {
        Ok(self.mem.has_downloaded_all_room_keys(room_id).await?)
    }

    async fn get_pending_key_bundle_details_for_room(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<RoomPendingKeyBundleDetails>, Self::Error> {
        Ok(self
            .mem
            .get_pending_key_bundle_details_for_room(room_id)
            .await?)
    }

    async fn get_all_rooms_pending_key_bundles(
        &self,
    ) -> Result<Vec<RoomPendingKeyBundleDetails>, Self::Error> {
        Ok(self.mem.get_all_rooms_pending_key_bundles().await?)
    }

    async fn get_custom_value(&self, key: &str) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.mem.get_custom_value(key).await?)
    }

    async fn set_custom_value(&self, key: &str, value: Vec<u8>) -> Result<(), Self::Error> {
        Ok(self.mem.set_custom_value(key, value).await?)
    }

    async fn remove_custom_value(&self, key: &str) -> Result<(), Self::Error> {
        Ok(self.mem.remove_custom_value(key).await?)
    }

    async fn try_take_leased_lock(
        &self,
        lease_duration_ms: u32,
        key: &str,
        holder: &str,
    ) -> Result<Option<CrossProcessLockGeneration>, Self::Error> {
        Ok(self
            .mem
            .try_take_leased_lock(lease_duration_ms, key, holder)
            .await?)
    }

    async fn next_batch_token(&self) -> Result<Option<String>, Self::Error> {
        Ok(self.mem.next_batch_token().await?)
    }

    async fn get_size(&self) -> Result<Option<usize>, Self::Error> {
        Ok(self.mem.get_size().await?)
    }
}
