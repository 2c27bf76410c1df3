//! The session task's future lives as long as the session (issue 8, memory per session):
//! a handler that makes it grow should box its rare part, as `run` does.

use super::*;

/// A transport that is never started: only the session's future is measured.
struct Idle(crate::transport::Descriptor);

impl crate::Transport for Idle {
    fn descriptor(&self) -> &crate::transport::Descriptor {
        &self.0
    }
    fn account_from_form(
        &self,
        _values: &std::collections::BTreeMap<String, String>,
    ) -> Result<crate::legacy::LegacyAccount, crate::transport::Invalid> {
        Err(crate::transport::Invalid("no accounts".into()))
    }
    fn normalize_contact(
        &self,
        input: &str,
    ) -> Result<crate::legacy::LegacyId, crate::transport::Invalid> {
        Ok(crate::legacy::LegacyId::new(input, None))
    }
    fn start_session(
        &self,
        _account: crate::legacy::LegacyAccount,
        _events: crate::channel::Sender<LegacyEvent>,
        _state: crate::state::TransportState,
    ) -> crate::channel::Sender<LegacyCommand> {
        crate::channel::bounded(1).0
    }
}

#[tokio::test]
async fn run_future_size() {
    let key = pontoon_store::StoreKey::from_bytes([7; 32]);
    let store = pontoon_store::Store::open("sqlite::memory:", key)
        .await
        .unwrap();
    let (out, _out_rx) = mpsc::channel(1);
    let (ended, _ended_rx) = mpsc::channel(1);
    let ctx = Arc::new(SessionContext {
        transport_name: "test".into(),
        domain: "test.localhost".parse().unwrap(),
        display_name: "Test".into(),
        transport: Arc::new(Idle(crate::transport::Descriptor {
            gateway_type: "test".to_owned(),
            registration_instructions: String::new(),
            registration_fields: Vec::new(),
            prompt: String::new(),
            commands: Vec::new(),
            network_settings: Vec::new(),
            room_settings: Vec::new(),
            one_network: false,
        })),
        out,
        presence_payloads: vec![],
        ended,
        inbox_capacity: 4,
        ends_with_login: false,
        counters: Default::default(),
        id_map: crate::id_map::IdMapWriter::spawn(store.clone()),
        media: None,
        avatars: Default::default(),
        store: store.clone(),
    });
    let (tx, inbox) = mpsc::channel(1);
    let (_events_tx, events) = crate::channel::bounded(1);
    let (legacy, _legacy_rx) = crate::channel::bounded(1);
    let session = Session::new(
        ctx,
        "alice@example.org".parse().unwrap(),
        0,
        legacy,
        Arc::new(SessionStatus::new(String::new())),
        (
            tx.downgrade(),
            crate::state::TransportState::new(store.clone(), "test", "alice@example.org"),
        ),
    );
    let fut = Box::new(session).run(inbox, events);
    let size = std::mem::size_of_val(&fut);
    eprintln!("session run future: {size} bytes");
    // 1,536 before messages carried their thread (the legacy event grew 24 bytes, held in
    // more than one of the future's states).
    assert!(size <= 1632, "session run future is {size} bytes");
}
