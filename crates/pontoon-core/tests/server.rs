//! Server mode in memory: logins through the service's control handle (the test network
//! refuses the password "wrong"), and the router between a real c2s listener on loopback
//! (plain text allowed there) and the service, driven by a minimal raw XMPP client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jid::BareJid;
use pontoon_core::rate_limit::StanzaRate;
use pontoon_core::server::{
    LegacyAuthenticator, LoginOutcome, RoutedService, Router, ServerOptions,
};
use pontoon_core::{Service, ServiceConfig, ServiceControl};
use pontoon_store::{Store, StoreKey, TransportPolicy};
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::{TempStore, enabled, service_config, temp_store};
use pontoon_xmpp::c2s::{C2sConfig, C2sServer, ListenMode, Password};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Stack {
    control: ServiceControl,
    ended: mpsc::Receiver<BareJid>,
    port: u16,
    shutdown: CancellationToken,
    /// Keeps the service's inbound channel open (closed, the service stops).
    _inbound: Option<mpsc::Sender<pontoon_xmpp::component::LinkEvent>>,
    _dir: tempfile::TempDir,
}

/// A service in server mode; with `router`, also the c2s listener and the router (then
/// `ended` is the router's and stays empty).
async fn stack(router: bool, allow_unauthenticated: bool) -> Stack {
    stack_with(
        enabled(),
        router,
        allow_unauthenticated,
        64,
        StanzaRate::default(),
        |_| {},
    )
    .await
}

/// [`stack`] with every queue between the listener, the router and the service holding
/// `queue` stanzas, the service's per-user `stanza_rate`, and the c2s configuration
/// adjusted by `tweak`.
async fn stack_with(
    policy: pontoon_store::TransportPolicy,
    router: bool,
    allow_unauthenticated: bool,
    queue: usize,
    stanza_rate: StanzaRate,
    tweak: impl FnOnce(&mut C2sConfig),
) -> Stack {
    let TempStore { store, dir, .. } = temp_store(&policy).await;
    let (out_tx, out_rx) = mpsc::channel(queue);
    let (in_tx, in_rx) = mpsc::channel(queue);
    let (ended_tx, ended_rx) = mpsc::channel(64);
    let service = Service::new(
        ServiceConfig {
            stanza_rate,
            ..service_config(vec![])
        },
        Arc::new(TestTransport::default()),
        store.clone(),
        out_tx,
    )
    .await
    .unwrap()
    .with_server_mode(ServerOptions {
        allow_unauthenticated,
        ended: ended_tx,
        uploads: None,
    });
    let control = service.control();
    let shutdown = CancellationToken::new();
    tokio::spawn(service.run(in_rx, shutdown.clone()));
    let mut port = 0;
    let mut ended = ended_rx;
    let mut keep = None;
    if router {
        let mut cfg = C2sConfig::new(vec!["test.localhost".into()], None);
        cfg.allow_plaintext_on_loopback = true;
        tweak(&mut cfg);
        let (ev_tx, ev_rx) = mpsc::channel(queue);
        let (abandoned_tx, abandoned_rx) = mpsc::channel(64);
        let server = C2sServer::new(
            cfg,
            LegacyAuthenticator::new([control.clone()], abandoned_tx),
            ev_tx,
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        port = listener.local_addr().unwrap().port();
        server.spawn_listener(listener, ListenMode::StartTls);
        let routed = RoutedService {
            control: control.clone(),
            inbound: in_tx,
        };
        let r = Router::new([routed], store);
        tokio::spawn(r.run(ev_rx, out_rx, ended, abandoned_rx, shutdown.clone()));
        let (_unused_tx, unused_rx) = mpsc::channel(1);
        ended = unused_rx;
    } else {
        // Nobody reads the service's stanzas in the login-only tests: drain them.
        let mut out_rx = out_rx;
        tokio::spawn(async move { while out_rx.recv().await.is_some() {} });
        keep = Some(in_tx);
    }
    Stack {
        control,
        ended,
        port,
        shutdown,
        _inbound: keep,
        _dir: dir,
    }
}

fn user(s: &str) -> BareJid {
    BareJid::new(s).unwrap()
}

async fn login(c: &ServiceControl, jid: &str, name: &str, pw: &str) -> LoginOutcome {
    c.login(
        user(jid),
        name.into(),
        Password::new(pw.into()),
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn logins_are_checked_by_the_network() {
    let mut s = stack(false, false).await;
    let c = &s.control;
    match login(c, "alice@test.localhost", "alice", "wrong").await {
        LoginOutcome::NotAuthorized(t) => assert!(t.contains("invalid password"), "{t}"),
        o => panic!("{o:?}"),
    }
    // The failed session ended (and said so); a good login works.
    let gone = tokio::time::timeout(Duration::from_secs(5), s.ended.recv()).await;
    assert_eq!(gone.unwrap().unwrap().as_str(), "alice@test.localhost");
    assert_eq!(
        login(c, "alice@test.localhost", "alice", "right").await,
        LoginOutcome::Success
    );
    // A second login: only with the same password, and it shares the session.
    match login(c, "alice@test.localhost", "alice", "other").await {
        LoginOutcome::NotAuthorized(t) => assert!(t.contains("another password"), "{t}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        login(c, "alice@test.localhost", "alice", "right").await,
        LoginOutcome::Success
    );
    assert_eq!(c.sessions().await.unwrap().len(), 1);
    // The last client gone: logged out, and the next login checks the password again.
    c.server_logout(user("alice@test.localhost"));
    let gone = tokio::time::timeout(Duration::from_secs(5), s.ended.recv()).await;
    assert_eq!(gone.unwrap().unwrap().as_str(), "alice@test.localhost");
    match login(c, "alice@test.localhost", "alice", "wrong").await {
        LoginOutcome::NotAuthorized(_) => {}
        o => panic!("{o:?}"),
    }
    // An invalid legacy name is refused with the transport's words.
    match login(c, "a+b@test.localhost", "a+b", "pw").await {
        LoginOutcome::NotAuthorized(t) => assert!(t.contains("test network names"), "{t}"),
        o => panic!("{o:?}"),
    }
    s.shutdown.cancel();
}

#[tokio::test]
async fn a_disabled_transport_refuses_logins() {
    let s = stack(false, false).await;
    let c = &s.control;
    let dir = &s._dir;
    let key = StoreKey::load_or_create(&dir.path().join("key")).unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::open(&url, key).await.unwrap();
    store
        .put_transport_policy("test", &TransportPolicy::default())
        .await
        .unwrap();
    match login(c, "alice@test.localhost", "alice", "pw").await {
        LoginOutcome::NotAuthorized(t) => assert!(t.contains("disabled"), "{t}"),
        o => panic!("{o:?}"),
    }
    s.shutdown.cancel();
}

/// A minimal XMPP client: plain text on loopback, SASL PLAIN, bind.
struct Client {
    tcp: TcpStream,
    buf: String,
}

impl Client {
    async fn read_until(&mut self, needle: &str) -> String {
        let fut = async {
            loop {
                if let Some(i) = self.buf.find(needle) {
                    let end = i + needle.len();
                    let head: String = self.buf.drain(..end).collect();
                    return head;
                }
                let mut chunk = [0u8; 4096];
                let n = self.tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed; so far: {}", self.buf);
                self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), fut).await {
            Ok(s) => s,
            Err(_) => panic!("no {needle:?} within 5 s; got {:?}", self.buf),
        }
    }

    async fn send(&mut self, xml: &str) {
        self.tcp.write_all(xml.as_bytes()).await.unwrap();
    }

    async fn header(&mut self) {
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='test.localhost' version='1.0'>").await;
        self.read_until("</features>").await;
    }

    /// Logs in; `Err` with the failure's XML.
    async fn login(port: u16, name: &str, pw: &str, resource: &str) -> Result<Client, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut c = Client {
            tcp,
            buf: String::new(),
        };
        c.header().await;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("\0{name}\0{pw}"));
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"
        ))
        .await;
        let answer = c.read_until(">").await;
        if answer.contains("<failure") {
            let rest = c.read_until("</failure>").await;
            return Err(answer + &rest);
        }
        c.header().await;
        c.send(&format!("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")).await;
        c.read_until("</iq>").await;
        Ok(c)
    }
}

#[tokio::test]
async fn router_routes_between_clients_and_the_service() {
    let s = stack(true, false).await;
    let err = Client::login(s.port, "alice", "wrong", "one").await.err();
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("not-authorized") && e.contains("invalid password")),
        "{err:?}"
    );
    let mut one = Client::login(s.port, "alice", "pw", "one").await.unwrap();
    let mut two = Client::login(s.port, "alice", "pw", "two").await.unwrap();
    // Roster: empty, then an item, pushed to both resources.
    one.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    let r = one.read_until("</iq>").await;
    assert!(r.contains("id=\"r1\"") || r.contains("id='r1'"), "{r}");
    one.send("<presence/>").await;
    two.send("<presence/>").await;
    // Each resource learns of the other.
    one.read_until("alice@test.localhost/two").await;
    one.send("<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='echo@test.localhost'/></query></iq>").await;
    two.read_until("echo@test.localhost").await;
    // A message to a contact goes to the legacy network; the answer to the bare JID
    // reaches every available resource.
    one.send("<message to='echo@test.localhost' type='chat'><body>hi</body></message>")
        .await;
    one.read_until("echo: hi").await;
    two.read_until("echo: hi").await;
    // Ping the account; unknown queries get an error, never silence.
    one.send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let head = one.read_until("id='p'").await;
    let tail = one.read_until(">").await;
    let ping = head.rsplit("<iq").next().unwrap_or_default().to_owned() + &tail;
    assert!(ping.contains("type='result'"), "{ping}");
    one.send("<iq type='get' id='v'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
        .await;
    one.read_until("service-unavailable").await;
    // Foreign domains are not reachable.
    one.send("<message to='bob@example.org'><body>x</body></message>")
        .await;
    one.read_until("remote-server-not-found").await;
    s.shutdown.cancel();
}

#[tokio::test]
async fn a_login_that_never_binds_is_logged_out() {
    let s = stack(true, false).await;
    let tcp = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let mut c = Client {
        tcp,
        buf: String::new(),
    };
    c.header().await;
    let creds = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    c.send(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{creds}</auth>"
    ))
    .await;
    c.read_until("<success").await;
    assert_eq!(s.control.sessions().await.unwrap().len(), 1);
    drop(c);
    let mut left = 1;
    for _ in 0..50 {
        left = s.control.sessions().await.unwrap().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the session outlived its unbound login");
    s.shutdown.cancel();
}

#[tokio::test]
async fn carbons_copy_sent_and_alone_received_messages() {
    let s = stack(true, false).await;
    let mut one = Client::login(s.port, "alice", "pw", "one").await.unwrap();
    let mut two = Client::login(s.port, "alice", "pw", "two").await.unwrap();
    // The account advertises carbons.
    one.send("<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let info = one.read_until("</iq>").await;
    assert!(info.contains("urn:xmpp:carbons:2"), "{info}");
    // Only `one` is available; `two` enables carbons (and stays unavailable, so messages
    // to the bare JID do not reach it directly).
    one.send("<presence/>").await;
    two.send("<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
        .await;
    let r = two.read_until("id='c'").await;
    let r = r.rsplit("<iq").next().unwrap_or_default().to_owned() + &two.read_until(">").await;
    assert!(r.contains("result"), "{r}");
    // A private message is not copied; the next one is, as <sent>; the answers to the
    // bare JID reach `two` as <received>.
    one.send("<message to='echo@test.localhost' type='chat'><body>a</body><private xmlns='urn:xmpp:carbons:2'/></message>").await;
    one.send("<message to='echo@test.localhost' type='chat'><body>b</body></message>")
        .await;
    let seen = two.read_until("<body>b</body>").await;
    assert!(!seen.contains("<body>a</body>"), "{seen}");
    let tail = two.read_until("</message>").await;
    // The carbon: from the last complete stanza before it.
    let sent = seen
        .rsplit("</message>")
        .next()
        .unwrap_or_default()
        .to_owned()
        + &tail;
    assert!(
        sent.contains("<sent xmlns=\"urn:xmpp:carbons:2\"")
            || sent.contains("<sent xmlns='urn:xmpp:carbons:2'"),
        "{sent}"
    );
    assert!(sent.contains("urn:xmpp:forward:0"), "{sent}");
    let got = two.read_until("echo: b").await;
    assert!(got.contains("<received"), "{got}");
    one.read_until("echo: b").await;
    // Disabled, nothing more is copied: a groupchat-free, private-free message then a
    // ping shows no carbon arrived in between.
    two.send("<iq type='set' id='x'><disable xmlns='urn:xmpp:carbons:2'/></iq>")
        .await;
    two.read_until("id='x'").await;
    one.send("<message to='echo@test.localhost' type='chat'><body>c</body></message>")
        .await;
    one.read_until("echo: c").await;
    two.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let between = two.read_until("p2").await;
    assert!(
        !between.contains("<body>c</body>") && !between.contains("echo: c"),
        "{between}"
    );
    s.shutdown.cancel();
}

#[tokio::test]
async fn private_storage_bookmarks_and_vcards() {
    let s = stack(true, false).await;
    let mut one = Client::login(s.port, "alice", "pw", "one").await.unwrap();
    // Private storage: the empty element back, then what was stored.
    one.send("<iq type='get' id='g1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>").await;
    let r = one.read_until("</iq>").await;
    assert!(r.contains("result") && !r.contains("conference"), "{r}");
    one.send("<iq type='set' id='s1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='#r@test.localhost'/></storage></query></iq>").await;
    one.read_until("id='s1'").await;
    one.send("<iq type='get' id='g2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>").await;
    let r = one.read_until("</iq>").await;
    assert!(r.contains("#r@test.localhost"), "{r}");
    // Reserved namespaces are refused.
    one.send("<iq type='set' id='s2'><query xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query></iq>").await;
    one.read_until("not-acceptable").await;
    // PEP bookmarks: publish, items.
    one.send("<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='#r@test.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='R'/></item></publish></pubsub></iq>").await;
    one.read_until("</iq>").await;
    one.send("<iq type='get' id='p2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>").await;
    let r = one.read_until("id='p2'").await;
    let r = r + &one.read_until("</iq>").await;
    assert!(r.contains("name='R'") || r.contains("name=\"R\""), "{r}");
    // A contact's vCard: its name; the account's own: empty until set.
    one.send("<iq type='get' id='v1' to='echo@test.localhost'><vCard xmlns='vcard-temp'/></iq>")
        .await;
    let r = one.read_until("id='v1'").await;
    let r = r + &one.read_until("</iq>").await;
    assert!(
        r.contains("<FN>echo</FN>") && r.contains("<NICKNAME>echo</NICKNAME>"),
        "{r}"
    );
    one.send("<iq type='get' id='v2'><vCard xmlns='vcard-temp'/></iq>")
        .await;
    let r = one.read_until("id='v2'").await;
    let r = r + &one.read_until("/>").await;
    assert!(r.contains("vcard-temp"), "{r}");
    s.shutdown.cancel();
}

/// Issue 20: a burst of IQs from one client froze the whole gateway for good (the router
/// waited for room in the service's queue while the service waited for room in the
/// router's). With small queues and no stanza rate, only the structure can keep it alive:
/// another user is served during the flood, and the flooder gets an answer to every iq.
#[tokio::test]
async fn an_iq_flood_never_stalls_the_router() {
    let unlimited = StanzaRate {
        per_second: 0.0,
        burst: 1,
    };
    let s = stack_with(enabled(), true, true, 4, unlimited, |c| {
        c.stanzas_per_second = 0.0
    })
    .await;
    let flooder = Client::login(s.port, "rep", "pw", "raw").await.unwrap();
    let mut other = Client::login(s.port, "bob", "pw", "one").await.unwrap();
    let n = 2000;
    let burst: String = (0..n)
        .map(|i| format!("<iq type='get' id='q{i}' to='test.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        .collect();
    let (mut rd, mut wr) = flooder.tcp.into_split();
    let reader = tokio::spawn(async move {
        // Counts the flooder's answers (results or errors) until it has them all or the
        // stream closes.
        let mut seen = String::new();
        let mut answers = 0;
        let mut chunk = vec![0u8; 65536];
        while answers < n {
            match tokio::time::timeout(Duration::from_secs(20), rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(k)) => {
                    seen.push_str(&String::from_utf8_lossy(&chunk[..k]));
                    answers += seen.matches("id='q").count() + seen.matches("id=\"q").count();
                    let keep = seen.len().saturating_sub(16);
                    seen.drain(..keep);
                }
            }
        }
        answers
    });
    let writer = tokio::spawn(async move {
        wr.write_all(burst.as_bytes()).await.unwrap();
        wr
    });
    // During the flood: the other user's ping and message are answered at once.
    let started = tokio::time::Instant::now();
    other
        .send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    other.read_until("id='p'").await;
    other.send("<presence/>").await;
    other
        .send("<message to='echo@test.localhost' type='chat'><body>hi</body></message>")
        .await;
    other.read_until("echo: hi").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the other user waited {:?}",
        started.elapsed()
    );
    let _wr = writer.await.unwrap();
    let answers = reader.await.unwrap();
    assert!(answers >= n, "the flooder got {answers} answers of {n}");
    s.shutdown.cancel();
}

/// Always online in server mode: the user's last client goes; what the network says to
/// them meanwhile is kept and handed to their next client, with a delay.
#[tokio::test]
async fn messages_while_away_wait_for_the_next_client() {
    let policy = pontoon_store::TransportPolicy {
        always_online_default: true,
        ..enabled()
    };
    let s = stack_with(policy, true, false, 64, StanzaRate::default(), |_| {}).await;
    let mut alice = Client::login(s.port, "alice", "pw", "one").await.unwrap();
    alice.send("<presence/>").await;
    let mut bob = Client::login(s.port, "bob", "pw", "b").await.unwrap();
    bob.send("<presence/>").await;
    // Alice's client goes; her session stays (the operator sees it, with no client).
    drop(alice);
    for _ in 0..100 {
        let sessions = s.control.sessions().await.unwrap();
        let alice = sessions
            .iter()
            .find(|x| x.user == user("alice@test.localhost"));
        if alice.is_some_and(|a| a.resources.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        s.control.sessions().await.unwrap().len(),
        2,
        "alice stays online"
    );
    bob.send(
        "<message to='alice@test.localhost' type='chat'><body>hello offline alice</body></message>",
    )
    .await;
    // A moment for the message to be kept, then alice comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = Client::login(s.port, "alice", "pw", "two").await.unwrap();
    back.send("<presence/>").await;
    let got = back.read_until("hello offline alice").await;
    let rest = back.read_until("</message>").await;
    let m = got + &rest;
    assert!(m.contains("urn:xmpp:delay"), "{m}");
    assert!(m.contains("bob@test.localhost"), "{m}");
    s.shutdown.cancel();
}

/// XEP-0313 on the user's own account (server mode): their direct chats both ways, paged,
/// filtered by contact.
#[tokio::test]
async fn the_account_archive_pages_through_direct_chats() {
    let s = stack(true, false).await;
    let mut alice = Client::login(s.port, "alice", "pw", "one").await.unwrap();
    alice.send("<presence/>").await;
    alice
        .send("<message to='echo@test.localhost' type='chat' id='m1'><body>hi</body></message>")
        .await;
    alice.read_until("echo: hi").await;
    let query = |rsm: &str, with: &str| {
        let form = if with.is_empty() {
            String::new()
        } else {
            format!(
                "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>{with}</value></field></x>"
            )
        };
        format!(
            "<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='f'>{form}<set xmlns='http://jabber.org/protocol/rsm'>{rsm}</set></query></iq>"
        )
    };
    alice.send(&query("<max>1</max>", "")).await;
    let page = alice.read_until("</fin>").await;
    assert!(
        page.contains("<body>hi</body>") && !page.contains("echo: hi"),
        "{page}"
    );
    assert!(
        page.contains("complete='false'") || page.contains("complete=\"false\""),
        "{page}"
    );
    let last = page
        .split("<last>")
        .nth(1)
        .and_then(|r| r.split("</last>").next())
        .expect("last")
        .to_owned();
    alice
        .send(&query(&format!("<max>5</max><after>{last}</after>"), ""))
        .await;
    let page = alice.read_until("</fin>").await;
    assert!(
        page.contains("echo: hi") && page.contains("urn:xmpp:delay"),
        "{page}"
    );
    assert!(
        page.contains("complete='true'") || page.contains("complete=\"true\""),
        "{page}"
    );
    // With another contact: nothing.
    alice.send(&query("", "nobody@test.localhost")).await;
    let page = alice.read_until("</fin>").await;
    assert!(!page.contains("<result"), "{page}");
    s.shutdown.cancel();
}
