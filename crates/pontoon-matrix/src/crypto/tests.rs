//! The crypto store against a real (SQLite) Pontoon store: keys survive a restart, keys
//! of another device are dropped, and what one machine costs in memory.

use matrix_sdk_crypto::types::events::room::encrypted::EncryptedEvent;
use matrix_sdk_crypto::{EncryptionSettings, OlmMachine};
use pontoon_core::state::TransportState;
use pontoon_store::{Store, StoreKey};
use ruma::events::room::message::RoomMessageEventContent;
use ruma::serde::Raw;
use ruma::{DeviceId, RoomId, UserId, device_id, room_id, user_id};

use super::{SavedStore, decryption_settings};

async fn state() -> TransportState {
    let store = Store::open("sqlite::memory:", StoreKey::from_bytes([5; 32]))
        .await
        .expect("store");
    TransportState::new(store, "matrix", "alice@example.org")
}

async fn machine(state: &TransportState, user: &UserId, device: &DeviceId) -> OlmMachine {
    let store = SavedStore::load(state.clone(), user, device)
        .await
        .expect("load");
    OlmMachine::with_store(user, device, store, None)
        .await
        .expect("machine")
}

/// A room event around encrypted `content`, as a sync would bring it.
fn event(
    user: &UserId,
    content: &Raw<matrix_sdk_crypto::types::events::room::encrypted::RoomEncryptedEventContent>,
) -> Raw<EncryptedEvent> {
    let json = serde_json::json!({
        "type": "m.room.encrypted",
        "sender": user,
        "event_id": "$one:example.org",
        "origin_server_ts": 1_700_000_000_000u64,
        "content": content,
    });
    serde_json::from_value(json).expect("event")
}

#[tokio::test]
async fn keys_and_room_keys_survive_a_restart() {
    let state = state().await;
    let (user, device) = (user_id!("@alice:example.org"), device_id!("PONTOON"));
    let room: &RoomId = room_id!("!room:example.org");
    let first = machine(&state, user, device).await;
    let identity = first.identity_keys();
    first
        .share_room_key(room, std::iter::empty(), EncryptionSettings::default())
        .await
        .expect("share");
    let sent = first
        .encrypt_room_event(room, RoomMessageEventContent::text_plain("kept"))
        .await
        .expect("encrypt");
    drop(first);

    let again = machine(&state, user, device).await;
    assert_eq!(again.identity_keys().curve25519, identity.curve25519);
    assert_eq!(again.identity_keys().ed25519, identity.ed25519);
    // Its own device is in the store again (the machine takes it from there when an Olm
    // message comes in; a MemoryStore without it panics).
    let own = again.get_device(user, device, None).await.expect("device");
    assert!(own.is_some(), "the own device after a reload");
    let decrypted = again
        .decrypt_room_event(&event(user, &sent.content), room, &decryption_settings())
        .await
        .expect("the room key was kept");
    let body = decrypted
        .event
        .get_field::<serde_json::Value>("content")
        .expect("content")
        .and_then(|c| c.get("body")?.as_str().map(str::to_owned));
    assert_eq!(body.as_deref(), Some("kept"));
}

#[tokio::test]
async fn keys_of_another_device_are_dropped() {
    let state = state().await;
    let user = user_id!("@alice:example.org");
    let old = machine(&state, user, device_id!("OLD"))
        .await
        .identity_keys();
    let new = machine(&state, user, device_id!("NEW")).await;
    assert_ne!(new.identity_keys().curve25519, old.curve25519);
    assert_eq!(new.device_id(), device_id!("NEW"));
    // And the new device's account is what is stored now.
    let again = machine(&state, user, device_id!("NEW")).await;
    assert_eq!(
        again.identity_keys().curve25519,
        new.identity_keys().curve25519
    );
}

#[test]
fn key_counts_that_ask_for_the_machine() {
    use ruma::{OneTimeKeyAlgorithm, UInt};
    use std::collections::BTreeMap;
    // The count the machine keeps uploaded is vodozemac's.
    let account = matrix_sdk_crypto::vodozemac::olm::Account::new();
    assert_eq!(
        account.max_number_of_one_time_keys() as u64,
        super::ONE_TIME_KEYS
    );
    let curve = OneTimeKeyAlgorithm::SignedCurve25519;
    let counts = |n: u32| BTreeMap::from([(curve.clone(), UInt::from(n))]);
    let fallback = [curve.clone()];
    // An idle device: all keys uploaded, its fallback key unused.
    assert!(!super::keys_wanted(&counts(50), Some(&fallback)));
    assert!(!super::keys_wanted(&counts(50), None));
    // Keys claimed, none uploaded yet, or the fallback key used.
    assert!(super::keys_wanted(&counts(49), Some(&fallback)));
    assert!(super::keys_wanted(&BTreeMap::new(), Some(&fallback)));
    assert!(super::keys_wanted(&counts(50), Some(&[])));
}

/// The resident memory of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Measurement, not a check: `cargo test -p pontoon-matrix --release -- --ignored
/// --nocapture memory_per_machine` prints the RSS one machine (with its store) adds.
#[tokio::test(flavor = "current_thread")]
#[ignore]
async fn memory_per_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::open(&url, StoreKey::from_bytes([5; 32]))
        .await
        .expect("store");
    let room: &RoomId = room_id!("!room:example.org");
    let user = user_id!("@alice:example.org");
    let mut machines = Vec::new();
    // A first one, so one-time set-up (the runtime, SQLite, lazy statics) is not counted.
    for round in [1usize, 100, 500] {
        let before = rss_kib();
        for i in 0..round {
            let account = format!("user{}-{i}@example.org", machines.len());
            let state = TransportState::new(store.clone(), "matrix", &account);
            let m = machine(&state, user, device_id!("PONTOON")).await;
            m.share_room_key(room, std::iter::empty(), EncryptionSettings::default())
                .await
                .expect("share");
            machines.push(m);
        }
        let after = rss_kib();
        println!(
            "{round} machines (each with a room key): RSS +{} KiB, {} KiB per machine",
            after.saturating_sub(before),
            after.saturating_sub(before) / round as u64
        );
    }
}
