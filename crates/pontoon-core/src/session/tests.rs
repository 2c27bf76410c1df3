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

/// The stanzas a test session sends, as elements.
struct Sent(mpsc::Receiver<pontoon_xmpp::OutStanza>);

impl Sent {
    async fn recv(&mut self) -> Option<Element> {
        self.0
            .recv()
            .await
            .map(pontoon_xmpp::OutStanza::into_element)
    }

    fn try_recv(&mut self) -> Result<Element, mpsc::error::TryRecvError> {
        self.0.try_recv().map(pontoon_xmpp::OutStanza::into_element)
    }
}

/// What a test session's other ends are: the stanzas it sends, its inbox's sender.
struct Ends {
    out: Sent,
    _inbox: crate::channel::Sender<SessionInput>,
    _legacy: crate::channel::Receiver<LegacyCommand>,
}

/// A session of alice@example.org on the test.localhost transport (named "Test"), not
/// started; `privileges` is what her server granted.
async fn test_session(
    privileges: Option<crate::privilege::Privileges>,
) -> (Session, crate::channel::Receiver<SessionInput>, Ends) {
    let key = pontoon_store::StoreKey::from_bytes([7; 32]);
    let store = pontoon_store::Store::open("sqlite::memory:", key)
        .await
        .unwrap();
    let (out, out_rx) = mpsc::channel(256);
    let (ended, _ended_rx) = mpsc::channel(1);
    let granted = crate::privilege::Granted::default();
    if let Some(p) = privileges {
        granted.take("example.org", p);
    }
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
        id_map: crate::id_map::IdMapWriter::spawn(store.clone(), "test"),
        media: None,
        avatars: Default::default(),
        privileges: Arc::new(granted),
        archive: crate::archive::Archive::spawn(store.clone(), "test", 30, 0),
        away: Default::default(),
        outbox: Arc::new(crate::outbox::Outbox::open(store.clone(), "test").await),
        cluster: None,
        store: store.clone(),
    });
    let (tx, inbox) = crate::channel::bounded(1);
    let (legacy, legacy_rx) = crate::channel::bounded(4);
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
    let ends = Ends {
        out: Sent(out_rx),
        _inbox: tx,
        _legacy: legacy_rx,
    };
    (session, inbox, ends)
}

#[tokio::test]
async fn run_future_size() {
    let (session, inbox, _ends) = test_session(None).await;
    let (_events_tx, events) = crate::channel::bounded(1);
    let fut = Box::new(session).run((inbox, events), false, None);
    let size = std::mem::size_of_val(&fut);
    eprintln!("session run future: {size} bytes");
    // The session itself (boxed): 776 bytes with issue 17's roster and bookmarks state (40);
    // 808 since its weak inbox sender is a `crate::channel` one (16 bytes, not 8), which
    // saves the tokio channel's ~650 bytes per session; 496 since performance pass 4 made
    // the transport state shared (104 -> 8), the room directory and the verbs' memory boxed
    // at first use (104 -> 8 and 128 -> 8); 456 since the queues are `crate::channel`'s own
    // and the resources a `VecMap`; 408 since `small::Map` boxes its hash table (its rooms
    // and contacts, 32 -> 24 bytes each) and also keeps the resources.
    let session = std::mem::size_of::<Session>();
    eprintln!("session: {session} bytes");
    assert!(session <= 408, "the session is {session} bytes");
    // 1,632 until performance pass 4 handled room messages in a boxed future and received
    // events in the box they were queued in (a legacy event is 256 bytes, and was held in
    // more than one of the future's states).
    // 352 since `run` is an `async move` block taking the task's other belongings (see
    // `run`): the whole task is then a 512-byte tokio cell in release builds (640 before;
    // cells are multiples of 128 bytes, and this one is at the edge); 208 since the queues
    // are `crate::channel`'s own (a receive waits in 8 bytes) and the timer is kept boxed
    // while there is a deadline (`rate::sleep_until_kept`): a 384-byte cell.
    assert!(size <= 208, "session run future is {size} bytes");
}

/// The largest block glibc's per-thread cache keeps (`tcache_max_bytes` on 64-bit): a
/// block past it goes through the allocator's bins, which first merge every small freed
/// block (`malloc_consolidate`), and is copied whole into its box.
const ALLOCATOR_CACHE_MAX: usize = 1032;

#[tokio::test]
async fn a_room_message_is_handled_in_a_future_the_allocator_caches() {
    let (mut session, _inbox, _ends) = test_session(None).await;
    let stanza: Element = "<message xmlns='jabber:client' type='groupchat' from='alice@example.org/phone' to='room%irc.example.org@irc.gw'><body>hello</body></message>"
        .parse()
        .unwrap();
    let verb = crate::inbound::read_message(&stanza).unwrap();
    let input = SessionInput::RoomMessage {
        from: "alice@example.org/phone".parse().unwrap(),
        room: LegacyId::new("room", Some("irc.example.org")),
        verb,
        stanza,
        read_at: std::time::Instant::now(),
        handled: None,
    };
    let fut = session.on_input(input);
    let size = std::mem::size_of_val(&*fut);
    eprintln!("a room message's future: {size} bytes");
    // 5,560 bytes (release) until performance pass 4 gave each kind of input its own future:
    // one `async fn` for all of them was as large as a presence's or a logout's.
    assert!(
        size <= ALLOCATOR_CACHE_MAX,
        "a room message's future is {size} bytes"
    );
    drop(fut);
    let stanza: Element = "<message xmlns='jabber:client' type='chat' from='alice@example.org/phone' to='bob%irc.example.org@irc.gw'><body>hello</body></message>"
        .parse()
        .unwrap();
    let input = SessionInput::Message {
        to: LegacyId::new("bob", Some("irc.example.org")),
        verb: crate::inbound::read_message(&stanza).unwrap(),
        via_room: None,
        stanza,
        read_at: std::time::Instant::now(),
        handled: None,
    };
    let fut = session.on_input(input);
    let size = std::mem::size_of_val(&*fut);
    eprintln!("a chat message's future: {size} bytes");
    // Past the cache (every verb of a chat goes through `act`), but no longer the 5.5 KB of
    // every input's.
    assert!(size <= 2048, "a chat message's future is {size} bytes");
    drop(fut);
    let event = LegacyEvent::RoomMessage {
        room: LegacyId::new("room", Some("irc.example.org")),
        nick: "bob".into(),
        body: "hi".into(),
        kind: crate::legacy::MessageKind::Text,
        ids: Default::default(),
        id: None,
        attachments: Vec::new(),
        reply_to: None,
        thread: None,
        time: None,
    };
    let fut = session.on_room_message(event, crate::channel::Stamp::now());
    let size = std::mem::size_of_val(&fut);
    eprintln!("a received room message's future: {size} bytes");
    // 1,040 bytes (release) while the event was kept beside the stanzas made from it.
    assert!(
        size <= ALLOCATOR_CACHE_MAX,
        "a received room message's future is {size} bytes"
    );
}

fn echo() -> crate::legacy::Contact {
    crate::legacy::Contact {
        id: LegacyId::new("echo", None),
        name: Some("Echo".into()),
        avatar: None,
    }
}

fn answer(to: &Element, kind: &str, payload: &str) -> Element {
    format!(
        "<iq xmlns='jabber:component:accept' type='{kind}' from='alice@example.org' \
         to='test.localhost' id='{}'>{payload}</iq>",
        to.attr("id").unwrap()
    )
    .parse()
    .unwrap()
}

fn roster_privilege() -> Option<crate::privilege::Privileges> {
    Some(crate::privilege::Privileges {
        version: 2,
        roster: crate::privilege::Access::Both,
        ..Default::default()
    })
}

#[tokio::test]
async fn without_the_roster_privilege_contacts_are_asked_in() {
    let (mut session, _inbox, mut ends) = test_session(None).await;
    session.on_contact_list(vec![echo()]).await;
    let p = ends.out.recv().await.unwrap();
    let xml = String::from(&p);
    assert!(xml.starts_with("<presence"), "{xml}");
    assert!(xml.contains("type='subscribe'"), "{xml}");
    assert!(
        xml.contains("<nick xmlns='http://jabber.org/protocol/nick'>Echo</nick>"),
        "{xml}"
    );
}

#[tokio::test]
async fn a_refused_roster_write_falls_back_to_subscription_requests() {
    let (mut session, _inbox, mut ends) = test_session(roster_privilege()).await;
    session.on_contact_list(vec![echo()]).await;
    let get = ends.out.recv().await.unwrap();
    assert_eq!(get.attr("type"), Some("get"));
    session
        .on_roster_answer(answer(&get, "result", "<query xmlns='jabber:iq:roster'/>"))
        .await;
    let set = ends.out.recv().await.unwrap();
    assert_eq!(set.attr("type"), Some("set"));
    assert!(String::from(&set).contains("name='Echo'"));
    // An answer to something else changes nothing.
    session.on_roster_answer(answer(&get, "error", "")).await;
    assert!(ends.out.try_recv().is_err());
    // The server refuses the write although it granted it: echo is asked in instead.
    let refusal =
        "<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";
    session
        .on_roster_answer(answer(&set, "error", refusal))
        .await;
    let p = String::from(&ends.out.recv().await.unwrap());
    assert!(
        p.contains("type='subscribe'") && p.contains("from='echo@test.localhost'"),
        "{p}"
    );
    // And later contacts too.
    session
        .on_contact_updated(crate::legacy::Contact {
            id: LegacyId::new("bob", None),
            name: None,
            avatar: None,
        })
        .await;
    let p = String::from(&ends.out.recv().await.unwrap());
    assert!(
        p.contains("type='subscribe'") && p.contains("from='bob@test.localhost'"),
        "{p}"
    );
}

#[tokio::test]
async fn a_contact_the_user_renamed_keeps_their_name() {
    let (mut session, _inbox, mut ends) = test_session(roster_privilege()).await;
    session.on_contact_list(vec![echo()]).await;
    let get = ends.out.recv().await.unwrap();
    // Echo is in the roster already, under the name the user gave.
    let mine = "<query xmlns='jabber:iq:roster'><item jid='echo@test.localhost' name='Mine' \
        subscription='both'><group>Friends</group></item></query>";
    session.on_roster_answer(answer(&get, "result", mine)).await;
    assert!(
        ends.out.try_recv().is_err(),
        "nothing written over the user's item"
    );
    // The network renames echo: the roster is read again, and still says the user's name.
    let mut renamed = echo();
    renamed.name = Some("Echo 2".into());
    session.on_contact_updated(renamed).await;
    let reread = ends.out.recv().await.unwrap();
    assert_eq!(reread.attr("type"), Some("get"));
    session
        .on_roster_answer(answer(&reread, "result", mine))
        .await;
    assert!(
        ends.out.try_recv().is_err(),
        "nothing written over the user's name"
    );
    // `sync contacts` after the user deleted echo: the roster is read again, and echo,
    // missing from it, written.
    session.sync_contacts().await;
    let get = ends.out.recv().await.unwrap();
    assert_eq!(get.attr("type"), Some("get"));
    let told = String::from(&ends.out.recv().await.unwrap());
    assert!(
        told.contains("Your Test contact list has 1 contact"),
        "{told}"
    );
    let empty = "<query xmlns='jabber:iq:roster'/>";
    session
        .on_roster_answer(answer(&get, "result", empty))
        .await;
    let set = String::from(&ends.out.recv().await.unwrap());
    assert!(
        set.contains("type='set'") && set.contains("name='Echo 2'"),
        "{set}"
    );
}

#[tokio::test]
async fn subscription_requests_are_paced() {
    let (mut session, _inbox, mut ends) = test_session(None).await;
    // The store is open: the clock may stop now (paused from the start, its pool times out).
    tokio::time::pause();
    let contacts = (0..50)
        .map(|n| crate::legacy::Contact {
            id: LegacyId::new(&format!("c{n}"), None),
            name: None,
            avatar: None,
        })
        .collect();
    session.on_contact_list(contacts).await;
    let count = |ends: &mut Ends| {
        let mut n = 0;
        while let Ok(p) = ends.out.try_recv() {
            assert!(String::from(&p).contains("type='subscribe'"));
            n += 1;
        }
        n
    };
    // A burst at once, then ten a second, in the session's timer turns.
    assert_eq!(count(&mut ends), 20);
    let due = session.roster_due().expect("more wait");
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    assert!(due <= tokio::time::Instant::now());
    session.send_asks().await;
    assert_eq!(count(&mut ends), 10);
    tokio::time::advance(std::time::Duration::from_secs(5)).await;
    session.send_asks().await;
    assert_eq!(count(&mut ends), 20);
    assert!(session.roster_due().is_none(), "none wait");
}

#[tokio::test]
async fn a_roster_read_never_answered_falls_back_to_requests() {
    let (mut session, _inbox, mut ends) = test_session(roster_privilege()).await;
    tokio::time::pause();
    session.on_contact_list(vec![echo()]).await;
    let get = ends.out.recv().await.unwrap();
    assert_eq!(get.attr("type"), Some("get"));
    let due = session.roster_due().expect("the read's deadline");
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    assert!(due <= tokio::time::Instant::now());
    session.roster_tick().await;
    let p = String::from(&ends.out.recv().await.unwrap());
    assert!(
        p.contains("type='subscribe'") && p.contains("from='echo@test.localhost'"),
        "{p}"
    );
    assert!(session.roster_due().is_none());
}
