//! The host against a real process (tests/fake_backend.py, Python's standard library
//! only): the handshake, sessions, and a backend that crashes, hangs, floods and lies.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use pontoon_backend::process::StartError;
use pontoon_backend::{BackendConfig, BackendTransport, Limits};
use pontoon_core::Transport;
use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId, MessageKind};
use pontoon_core::state::TransportState;
use pontoon_core::transport::Address;

fn config(mode: &str, limits: Limits) -> BackendConfig {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_backend.py");
    BackendConfig {
        name: "fake".into(),
        command: vec!["python3".into(), script.into(), mode.into()],
        env: BTreeMap::new(),
        working_dir: None,
        users_per_process: 0,
        options: BTreeMap::new(),
        limits,
    }
}

fn quick() -> Limits {
    Limits {
        hello_timeout: Duration::from_secs(2),
        ping_interval: Duration::from_millis(300),
        answer_timeout: Duration::from_millis(700),
        restart_first: Duration::from_millis(100),
        ..Limits::default()
    }
}

async fn start(limits: Limits) -> BackendTransport {
    let options = BTreeMap::from([("colour".to_owned(), "blue".to_owned())]);
    BackendTransport::start(config("ok", limits), options)
        .await
        .unwrap()
}

struct User {
    events: channel::Receiver<LegacyEvent>,
    commands: channel::Sender<LegacyCommand>,
}

fn login(t: &BackendTransport, name: &str) -> User {
    let (tx, events) = channel::bounded(10_000);
    let account = LegacyAccount {
        legacy_id: name.into(),
        secret: None,
        options: BTreeMap::new(),
    };
    let commands = t.start_session(account, tx, TransportState::detached());
    User { events, commands }
}

impl User {
    /// The next event `pick` keeps, skipping others; fails after 10 s.
    async fn expect<T>(&mut self, mut pick: impl FnMut(&LegacyEvent) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("no such event within 10 s")
                .expect("the session ended");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    async fn say(&self, body: &str) {
        self.commands
            .send(LegacyCommand::SendMessage {
                to: LegacyId::new("bob", None),
                body: body.into(),
                kind: MessageKind::Text,
                id: Some(format!("id-{body}")),
                reply_to: None,
                thread: None,
                attachments: vec![],
            })
            .await
            .unwrap();
    }

    async fn echo(&mut self, body: &str) {
        self.say(body).await;
        self.expect(|e| match e {
            LegacyEvent::Message { body: b, .. } if b == body => Some(()),
            _ => None,
        })
        .await;
    }
}

fn connected(e: &LegacyEvent) -> Option<()> {
    matches!(e, LegacyEvent::Connected).then_some(())
}

/// A notice's text.
fn notice(e: &LegacyEvent) -> Option<String> {
    match e {
        LegacyEvent::Notice { text } => Some(text.clone()),
        _ => None,
    }
}

/// Why the session is reconnecting.
fn reconnecting(e: &LegacyEvent) -> Option<String> {
    match e {
        LegacyEvent::Reconnecting { reason } => Some(reason.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_describes_the_transport() {
    let t = start(quick()).await;
    assert_eq!(t.descriptor().gateway_type, "echo");
    assert_eq!(
        t.parse_address("#Chat").unwrap(),
        Address::Room(LegacyId::new("#chat", None))
    );
    assert_eq!(
        t.normalize_contact("Bob").unwrap(),
        LegacyId::new("bob", None)
    );
    let form = BTreeMap::from([
        ("username".to_owned(), " me ".to_owned()),
        ("password".to_owned(), "s3cret".to_owned()),
        ("colour".to_owned(), "red".to_owned()),
        ("undeclared".to_owned(), "x".to_owned()),
    ]);
    let account = t.account_from_form(&form).unwrap();
    assert_eq!(account.legacy_id, "me");
    assert_eq!(account.secret.as_deref(), Some("s3cret"));
    assert_eq!(
        account.options,
        BTreeMap::from([("colour".to_owned(), "red".to_owned())])
    );
    assert_eq!(
        t.account_from_form(&BTreeMap::new()).unwrap_err().0,
        "Name is required"
    );
    let injected = BTreeMap::from([("username".to_owned(), "me\r\nQUIT".to_owned())]);
    assert!(t.account_from_form(&injected).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_logs_in_and_messages_go_both_ways() {
    let t = start(quick()).await;
    let mut alice = login(&t, "alice");
    alice.expect(connected).await;
    let text = alice.expect(notice).await;
    assert_eq!(text, "logged in as alice state None");
    alice.echo("hello").await;
    // Pings are answered: still up well after several ping intervals.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    alice.echo("still there").await;
    assert_eq!(t.processes()[0].restarts, 0);
    assert!(
        t.processes()[0]
            .stderr
            .iter()
            .any(|l| l == r#"welcomed with {"colour": "blue"}"#),
        "{:?}",
        t.processes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_bounces_what_was_undone_and_logs_everyone_back_in() {
    let t = start(quick()).await;
    let mut alice = login(&t, "alice");
    alice.expect(connected).await;
    alice
        .commands
        .send(LegacyCommand::JoinRoom {
            room: LegacyId::new("#chat", None),
            nick: "alice".into(),
            password: None,
        })
        .await
        .unwrap();
    alice
        .expect(|e| matches!(e, LegacyEvent::RoomJoined { .. }).then_some(()))
        .await;
    let mut bob = login(&t, "bob");
    bob.expect(connected).await;
    alice.say("crash").await;
    let (id, reason) = alice
        .expect(|e| match e {
            LegacyEvent::SendFailed { id, reason, .. } => Some((id.clone(), reason.clone())),
            _ => None,
        })
        .await;
    assert_eq!(id.as_deref(), Some("id-crash"));
    assert!(reason.contains("backend stopped"), "{reason}");
    let why = alice.expect(reconnecting).await;
    assert!(why.contains("exited with status 3"), "{why}");
    bob.expect(|e| matches!(e, LegacyEvent::Reconnecting { .. }).then_some(()))
        .await;
    // Back, with the state it saved, and in the room again.
    alice.expect(connected).await;
    let text = alice.expect(notice).await;
    assert_eq!(text, "logged in as alice state seen alice");
    alice
        .expect(|e| matches!(e, LegacyEvent::RoomJoined { .. }).then_some(()))
        .await;
    bob.expect(connected).await;
    bob.echo("after").await;
    assert_eq!(t.processes()[0].restarts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_backend_is_killed_and_restarted() {
    let t = start(quick()).await;
    let mut alice = login(&t, "alice");
    alice.expect(connected).await;
    alice.say("hang").await;
    let why = alice.expect(reconnecting).await;
    assert!(why.contains("did not answer a ping"), "{why}");
    assert!(why.contains("killed by signal 9"), "{why}");
    alice.expect(connected).await;
    alice.echo("awake").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_cut_for_its_session_only() {
    let limits = Limits {
        event_burst: 50,
        events_per_second: 20.0,
        ..quick()
    };
    let t = start(limits).await;
    let mut alice = login(&t, "alice");
    let mut bob = login(&t, "bob");
    alice.expect(connected).await;
    bob.expect(connected).await;
    alice.say("flood 5000").await;
    alice
        .expect(|e| match e {
            LegacyEvent::Notice { text } if text.contains("some of it was dropped") => Some(()),
            _ => None,
        })
        .await;
    // Bob is served meanwhile, and the backend was not restarted.
    bob.echo("unharmed").await;
    assert_eq!(t.processes()[0].restarts, 0);
    let mut flooded = 0;
    while let Ok(e) = alice.events.try_recv() {
        flooded += usize::from(matches!(e, LegacyEvent::Notice { .. }));
    }
    assert!(flooded < 100, "{flooded} of the flood passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lies_are_refused_and_harm_nobody() {
    let t = start(quick()).await;
    let mut alice = login(&t, "alice");
    let mut bob = login(&t, "bob");
    alice.expect(connected).await;
    bob.expect(connected).await;
    alice.say("lie").await;
    // Each lie refused, the stream read on: the line after them arrives.
    alice
        .expect(|e| match e {
            LegacyEvent::Message { body, .. } if body == "lied" => Some(()),
            _ => None,
        })
        .await;
    bob.echo("fine").await;
    // Nothing reached bob from the event for a session that is not the backend's.
    while let Ok(e) = bob.events.try_recv() {
        assert!(!matches!(&e, LegacyEvent::Notice { text } if text == "for someone else"));
    }
    assert_eq!(t.processes()[0].restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_per_process_spreads_them_and_a_crash_stays_on_its_process() {
    let cfg = BackendConfig {
        users_per_process: 1,
        ..config("ok", quick())
    };
    let t = BackendTransport::start(cfg, BTreeMap::new()).await.unwrap();
    let mut alice = login(&t, "alice");
    alice.expect(connected).await;
    let mut bob = login(&t, "bob");
    bob.expect(connected).await;
    let processes = t.processes();
    assert_eq!(processes.len(), 2, "{processes:?}");
    assert!(processes.iter().all(|p| p.sessions == 1), "{processes:?}");
    alice.say("crash").await;
    alice
        .expect(|e| matches!(e, LegacyEvent::Reconnecting { .. }).then_some(()))
        .await;
    alice.expect(connected).await;
    // Bob's process never stopped.
    bob.echo("undisturbed").await;
    while let Ok(e) = bob.events.try_recv() {
        assert!(!matches!(e, LegacyEvent::Reconnecting { .. }), "{e:?}");
    }
    let restarts: Vec<u32> = t.processes().iter().map(|p| p.restarts).collect();
    assert_eq!(restarts, vec![1, 0]);
    // A session that ends frees its place: the next user takes it.
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut carol = login(&t, "carol");
    carol.expect(connected).await;
    assert_eq!(t.processes().len(), 2, "{:?}", t.processes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_does_not_say_hello_is_refused() {
    let mut limits = quick();
    limits.hello_timeout = Duration::from_millis(500);
    for (mode, expected) in [
        ("silent", "no hello"),
        ("exit", "ended before"),
        ("garbage", "not a hello"),
        ("old", "protocol version 99"),
        // Its reason, from its stderr, in the error: the start fails instead of looping.
        (
            "refuse",
            "did not take its welcome (it ended): the option colour must be a colour",
        ),
    ] {
        let err = BackendTransport::start(config(mode, limits.clone()), BTreeMap::new())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains(expected), "{mode}: {err}");
    }
    let missing = BackendConfig {
        command: vec!["/nonexistent/backend".into()],
        ..config("ok", quick())
    };
    assert!(matches!(
        BackendTransport::start(missing, BTreeMap::new()).await,
        Err(StartError::Spawn { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_slower_than_a_burst_is_waited_for_not_killed() {
    let limits = Limits {
        event_burst: 100_000,
        // What this tests is the input's back-pressure, not the ping: a Python backend
        // echoing thousands of lines on a loaded machine (the whole suite on 2 cores) once
        // took over 0.7 s to answer a ping it had read, and was restarted as hung.
        answer_timeout: Duration::from_secs(5),
        ..quick()
    };
    let t = start(limits).await;
    let mut alice = login(&t, "alice");
    alice.expect(connected).await;
    // Far more than the backend reads at once: the host holds back, the backend catches up.
    const BURST: usize = 6000;
    for i in 0..BURST {
        alice.say(&format!("slow {i}")).await;
    }
    let mut echoed = 0;
    while echoed < BURST {
        let got = tokio::time::timeout(Duration::from_secs(10), alice.events.recv()).await;
        match got {
            Ok(Some(LegacyEvent::Message { .. })) => echoed += 1,
            Ok(Some(_)) => {}
            other => panic!("after {echoed} echoes: {other:?}; {:?}", t.processes()),
        }
    }
    assert_eq!(t.processes()[0].restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_closes_the_input_and_the_backend_exits_by_itself() {
    let t = start(quick()).await;
    // Its worker says it runs as soon as it took it over.
    let mut state = String::new();
    for _ in 0..100 {
        state = t.processes()[0].state.clone();
        if state.starts_with("running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid: u32 = state
        .trim_start_matches("running (pid ")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    t.stop().await;
    // It read its EOF and exited: no kill, and well within the 2 s it is given.
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(t.processes().is_empty());
}
