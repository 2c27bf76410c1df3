//! A real service over a real SQLite store, driven with stanzas as the component link
//! delivers them: the wiring the core's, the console's and the conformance tests share.
//! Every stanza the service sends is checked against the XEP rules of
//! [`crate::xep_check`]; a test fails at the first one that breaks them.

#![allow(clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use pontoon_core::{RebuildTransport, Service, ServiceConfig, ServiceControl, Transport};
use pontoon_store::{Store, StoreKey, TransportPolicy};
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::TestTransport;

/// The transport name and domain of every harness.
pub const DOMAIN: &str = "test.localhost";

/// A fresh SQLite store in a temporary directory, with `policy` for the `test` transport.
pub struct TempStore {
    /// The store.
    pub store: Store,
    /// Its URL.
    pub url: String,
    /// Removed when dropped.
    pub dir: tempfile::TempDir,
}

/// Opens a [`TempStore`].
pub async fn temp_store(policy: &TransportPolicy) -> TempStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = StoreKey::load_or_create(&dir.path().join("key")).expect("key");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::open(&url, key).await.expect("store");
    store
        .put_transport_policy("test", policy)
        .await
        .expect("policy");
    TempStore { store, url, dir }
}

/// The configuration of the `test` transport's service at [`DOMAIN`].
pub fn service_config(admins: Vec<BareJid>) -> ServiceConfig {
    ServiceConfig {
        transport_name: "test".into(),
        domain: DOMAIN.into(),
        display_name: "Test network".into(),
        inbox_capacity: 16,
        admins,
        stanza_rate: Default::default(),
    }
}

/// What a harness runs: the policy, admins, how options rebuild the transport, and the
/// transport itself (the plain test network unless said).
pub struct Options {
    /// The transport's policy in the store.
    pub policy: TransportPolicy,
    /// Operators' JIDs.
    pub admins: Vec<BareJid>,
    /// How an options change rebuilds the transport.
    pub rebuild: Option<RebuildTransport>,
    /// The transport.
    pub transport: Arc<dyn Transport>,
}

impl Options {
    /// `policy` over the plain test network.
    pub fn new(policy: TransportPolicy) -> Self {
        Options {
            policy,
            admins: Vec::new(),
            rebuild: None,
            transport: Arc::new(TestTransport::default()),
        }
    }
}

impl Harness {
    /// A harness of the plain test network under `policy`.
    pub async fn start(policy: TransportPolicy) -> Harness {
        Harness::start_with(Options::new(policy)).await
    }

    /// A harness as `options` say.
    pub async fn start_with(options: Options) -> Harness {
        let temp = temp_store(&options.policy).await;
        Harness::launch(options, temp).await
    }

    /// Stops the service as a shutdown does and starts a new one (over the plain test
    /// network) on the same store, as a restart of the gateway would.
    pub async fn restart(self) -> Harness {
        self.shutdown.cancel();
        let _ = self.task.await;
        let policy = self
            .store
            .transport_policy("test")
            .await
            .expect("policy")
            .unwrap_or_default();
        let temp = TempStore {
            store: self.store,
            url: self.url,
            dir: self.dir,
        };
        Harness::launch(Options::new(policy), temp).await
    }

    /// A harness as `options` say, over a store opened before (to find it as an earlier
    /// run left it).
    pub async fn launch(options: Options, temp: TempStore) -> Harness {
        let TempStore { store, url, dir } = temp;
        let (out_tx, from_service) = mpsc::channel(64);
        let (to_service, in_rx) = mpsc::channel(64);
        let service = Service::new(
            service_config(options.admins),
            options.transport,
            store.clone(),
            out_tx,
        )
        .await
        .expect("service");
        let service = match options.rebuild {
            Some(r) => service.with_rebuild(r),
            None => service,
        };
        let control = service.control();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(service.run(in_rx, shutdown.clone()));
        Harness {
            stash: Default::default(),
            control,
            to_service,
            from_service,
            shutdown,
            task,
            store,
            url,
            dir,
        }
    }
}

/// A running service of the test transport (domain `test.localhost`) over a fresh SQLite
/// store, its link replaced by two queues: stanzas in as the component link would deliver
/// them, stanzas out as it would send them, each checked against [`crate::xep_check`].
pub struct Harness {
    /// Stanzas received while waiting for an IQ answer, read again first.
    pub stash: std::collections::VecDeque<Element>,
    /// The operator's handle on the service.
    pub control: ServiceControl,
    /// What the link delivers to the service.
    pub to_service: mpsc::Sender<LinkEvent>,
    /// What the service sends out.
    pub from_service: mpsc::Receiver<pontoon_xmpp::OutStanza>,
    /// Stops the service.
    pub shutdown: CancellationToken,
    /// The service task.
    pub task: tokio::task::JoinHandle<()>,
    /// The service's store.
    pub store: Store,
    /// The store's URL (to open it again, as a restart would).
    pub url: String,
    /// The store's directory (its key file is `key`).
    pub dir: tempfile::TempDir,
}

/// A policy with the transport enabled, all else default.
pub fn enabled() -> TransportPolicy {
    TransportPolicy {
        enabled: true,
        ..TransportPolicy::default()
    }
}

impl Harness {
    pub async fn send(&self, xml: &str) {
        let el: Element = xml.parse().expect("test stanza parses");
        self.to_service
            .send(LinkEvent::Stanza(el, std::time::Instant::now(), None))
            .await
            .expect("service alive");
    }

    pub async fn recv(&mut self) -> Element {
        if let Some(el) = self.stash.pop_front() {
            return el;
        }
        let el = tokio::time::timeout(Duration::from_secs(5), self.from_service.recv())
            .await
            .expect("a stanza within 5 s")
            .expect("channel open")
            .into_element();
        eprintln!("<- {}", String::from(&el));
        // Every stanza the service sends keeps the XEPs' rules (issue 13).
        if let Err(breach) = crate::xep_check::check(&el) {
            panic!("{breach}: {}", String::from(&el));
        }
        el
    }

    /// Receives until a stanza matches, failing after 10 stanzas.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        for _ in 0..10 {
            let el = self.recv().await;
            if pred(&el) {
                return el;
            }
        }
        panic!("no stanza matched: {what}");
    }

    /// Receives until every predicate matched some stanza (in any order), failing after 20.
    pub async fn expect_all(&mut self, what: &str, preds: &[&dyn Fn(&Element) -> bool]) {
        let mut done = vec![false; preds.len()];
        for _ in 0..20 {
            let el = self.recv().await;
            for (i, p) in preds.iter().enumerate() {
                if !done[i] && p(&el) {
                    done[i] = true;
                }
            }
            if done.iter().all(|d| *d) {
                return;
            }
        }
        panic!("not all matched: {what} {done:?}");
    }

    /// Sends `stanza` (whose `id` is `id`) and returns the condition of the error it gets.
    pub async fn refusal_of(&mut self, stanza: &str, id: &str) -> Option<String> {
        self.send(stanza).await;
        let err = self
            .expect("refused", |e| {
                e.attr("type") == Some("error") && e.attr("id") == Some(id)
            })
            .await;
        error_condition(&err)
    }

    /// `user` (a full JID) joins as `occupant` (`room@domain/nick`); waits for its self
    /// presence (110).
    pub async fn join_room(&mut self, user: &str, occupant: &str) {
        self.send(&format!(
            "<presence xmlns='jabber:client' from='{user}' to='{occupant}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
        self.expect("self presence", |e| {
            e.attr("to") == Some(user)
                && is_from(e, occupant)
                && statuses(e).contains(&"110".to_owned())
        })
        .await;
    }

    pub async fn register(&mut self, user: &str, username: &str, password: &str) -> Element {
        self.send(&format!(
            "<iq xmlns='jabber:client' type='set' id='r1' from='{user}/res' to='test.localhost'>\
             <query xmlns='jabber:iq:register'><username>{username}</username><password>{password}</password></query></iq>"
        ))
        .await;
        self.expect("register reply", |e| e.name() == "iq").await
    }
}

pub fn error_condition(el: &Element) -> Option<String> {
    el.get_child("error", "jabber:client")?
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().to_owned())
}

/// The XEP-0359 stanza-id `e` carries, if any.
pub fn stanza_id(e: &Element) -> Option<String> {
    e.get_child("stanza-id", "urn:xmpp:sid:0")
        .and_then(|s| s.attr("id"))
        .map(str::to_owned)
}

pub fn is_from(e: &Element, from: &str) -> bool {
    e.attr("from") == Some(from)
}

pub fn statuses(e: &Element) -> Vec<String> {
    e.get_child("x", "http://jabber.org/protocol/muc#user")
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn bare(s: &str) -> BareJid {
    BareJid::new(s).expect("bare JID")
}

pub fn body(e: &Element) -> Option<String> {
    e.get_child("body", "jabber:client").map(|b| b.text())
}

impl Harness {
    /// Registers `user` as `name` and logs them in from `user/res`.
    pub async fn login(&mut self, user: &str, name: &str) {
        let reply = self.register(user, name, "pw").await;
        assert_eq!(reply.attr("type"), Some("result"));
        self.come_online(&format!("{user}/res")).await;
    }

    /// `resource` (a registered user's full JID) sends its presence; waits until the
    /// transport says the user is online.
    pub async fn come_online(&mut self, resource: &str) {
        self.send(&format!(
            "<presence xmlns='jabber:client' from='{resource}' to='{DOMAIN}'/>"
        ))
        .await;
        self.expect("online", |e| {
            e.name() == "presence" && is_from(e, DOMAIN) && e.attr("type").is_none()
        })
        .await;
    }

    /// Polls the control handle until `f` holds (the service applies things in its loop).
    pub async fn until(&self, what: &str, f: impl Fn(&ServiceControl) -> bool) {
        for _ in 0..50 {
            if f(&self.control) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never happened: {what}");
    }
}

pub const NS_COMMANDS: &str = "http://jabber.org/protocol/commands";

pub fn command_of(e: &Element) -> &Element {
    e.get_child("command", NS_COMMANDS)
        .unwrap_or_else(|| panic!("no command in {}", String::from(e)))
}

pub fn note_of(e: &Element) -> String {
    command_of(e)
        .get_child("note", NS_COMMANDS)
        .map(|n| n.text())
        .unwrap_or_default()
}

pub fn form_vars(e: &Element) -> Vec<String> {
    command_of(e)
        .get_child("x", "jabber:x:data")
        .map(|x| {
            x.children()
                .filter_map(|f| f.attr("var").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn form_values(e: &Element, var: &str) -> Vec<String> {
    command_of(e)
        .get_child("x", "jabber:x:data")
        .and_then(|x| x.children().find(|f| f.attr("var") == Some(var)))
        .map(|f| {
            f.children()
                .filter(|v| v.name() == "value")
                .map(|v| v.text())
                .collect()
        })
        .unwrap_or_default()
}

pub fn submit_form(fields: &[(&str, &str)]) -> String {
    let mut x = String::from("<x xmlns='jabber:x:data' type='submit'>");
    for (var, value) in fields {
        x.push_str(&format!(
            "<field var='{var}'><value>{value}</value></field>"
        ));
    }
    x.push_str("</x>");
    x
}

impl Harness {
    /// The answer to IQ `id`; what comes before it is kept for later `expect`s.
    pub async fn answer(&mut self, id: &str) -> Element {
        let mut skipped = Vec::new();
        let found = loop {
            let e = self.recv().await;
            if e.name() == "iq" && e.attr("id") == Some(id) {
                break e;
            }
            skipped.push(e);
            assert!(skipped.len() < 20, "no answer to {id}");
        };
        for e in skipped.into_iter().rev() {
            self.stash.push_front(e);
        }
        found
    }

    pub async fn iq(&mut self, from: &str, id: &str, payload: &str) -> Element {
        self.send(&format!(
            "<iq xmlns='jabber:client' type='set' id='{id}' from='{from}' to='test.localhost'>{payload}</iq>"
        ))
        .await;
        self.answer(id).await
    }

    pub async fn get(&mut self, from: &str, id: &str, payload: &str) -> Element {
        self.get_to(from, DOMAIN, id, payload).await
    }

    /// An IQ get from `from` to `to` (a contact, a room); returns the answer.
    pub async fn get_to(&mut self, from: &str, to: &str, id: &str, payload: &str) -> Element {
        self.send(&format!(
            "<iq xmlns='jabber:client' type='get' id='{id}' from='{from}' to='{to}'>{payload}</iq>"
        ))
        .await;
        self.answer(id).await
    }

    /// Executes `node` as `from`; returns the answer.
    pub async fn execute(&mut self, from: &str, node: &str) -> Element {
        self.iq(
            from,
            &format!("x-{node}"),
            &format!("<command xmlns='{NS_COMMANDS}' node='{node}' action='execute'/>"),
        )
        .await
    }

    /// Submits a form to the command session of `stage`.
    pub async fn submit(
        &mut self,
        from: &str,
        stage: &Element,
        fields: &[(&str, &str)],
    ) -> Element {
        let c = command_of(stage);
        let node = c.attr("node").expect("node");
        let sid = c.attr("sessionid").expect("sessionid");
        self.iq(
            from,
            &format!("s-{node}"),
            &format!(
                "<command xmlns='{NS_COMMANDS}' node='{node}' sessionid='{sid}' action='complete'>{}</command>",
                submit_form(fields)
            ),
        )
        .await
    }
}

/// Matches a message to `who` whose body is `body`.
pub fn message_to(who: &'static str, body: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| {
        e.name() == "message"
            && e.attr("to") == Some(who)
            && e.get_child("body", "jabber:client")
                .map(|b| b.text())
                .as_deref()
                == Some(body)
    }
}
