//! One transport domain's service: receives every stanza for the domain, answers what the
//! domain answers itself (disco, registration, help...) and routes the rest to the user's
//! session.
//!
//! Each protocol feature lives in its own module as an `impl Service` block; this file only
//! holds the state, the main loop and the dispatch; [`sessions`] starts and ends the users'
//! sessions, [`reconcile`] keeps the service in step with the store and the link.

mod mode;
mod reconcile;
mod sessions;

pub(crate) use mode::Mode;

use crate::legacy::LegacyId;
use pontoon_xmpp::OutStanza;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jid::{BareJid, Jid};
use minidom::Element;
use pontoon_store::{Store, TransportPolicy};
use pontoon_xmpp::component::LinkEvent;
use pontoon_xmpp::handled::Handled;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, warn};

use crate::control::{
    CONTROL_QUEUE, ControlRequest, ServiceControl, ServiceCounters, SessionInfo, SessionState,
};
use crate::policy::{self, Action};
use crate::session::{SessionContext, SessionEnded, SessionHandle, SessionInput};
use crate::stanza::{Header, Refusal};
use crate::transport::{Address, Transport};

/// What became of an input offered to a session.
pub(crate) enum Offer {
    /// The session has it.
    Taken,
    /// The session's inbox is full; the input comes back (the caller refuses it, or holds
    /// it if it is a presence, see [`crate::presence`]).
    Busy(Box<SessionInput>),
    /// No session (or it just ended).
    NoSession(Box<SessionInput>),
}

/// A refusal for a user whose session cannot keep up.
pub(crate) fn busy() -> Refusal {
    Refusal::wait(
        "resource-constraint",
        "Your session is busy (the legacy network is slow); try again shortly.",
    )
}

/// Static settings of one transport domain.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The transport's name in the store and the config (`irc`, `test`).
    pub transport_name: String,
    /// The domain the transport serves (`irc.example.org`).
    pub domain: String,
    /// The name shown to users (`IRC`).
    pub display_name: String,
    /// Capacity of each session's inbox.
    pub inbox_capacity: usize,
    /// JIDs allowed to run the operator's ad-hoc commands (XEP-0050) on the domain.
    pub admins: Vec<BareJid>,
    /// Requests and messages each user may send to the domain per second (see
    /// [`crate::rate_limit`]).
    pub stanza_rate: crate::rate_limit::StanzaRate,
}

/// Builds the transport anew from changed options (see [`Service::with_rebuild`]); the
/// error is a readable reason.
pub type RebuildTransport =
    Arc<dyn Fn(&BTreeMap<String, String>) -> Result<Arc<dyn Transport>, String> + Send + Sync>;

/// Who a stanza is addressed to within the domain.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// The transport itself.
    Domain,
    /// A legacy contact, by its normalised legacy id.
    Contact(LegacyId),
    /// A legacy room, by its normalised legacy id, with the occupant nick (JID resource).
    Room(LegacyId, Option<String>),
    /// A whole legacy network (its room directory).
    Network(String),
}

/// The service of one transport domain. Built by [`Service::new`], driven by [`Service::run`].
pub struct Service {
    pub(crate) cfg: ServiceConfig,
    pub(crate) domain_jid: Jid,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) store: Store,
    pub(crate) out: mpsc::Sender<OutStanza>,
    pub(crate) sessions: HashMap<BareJid, SessionHandle>,
    pub(crate) session_ctx: Arc<SessionContext>,
    ended_rx: mpsc::Receiver<SessionEnded>,
    next_generation: u64,
    pub(crate) policy: TransportPolicy,
    /// Stanzas a handler wants sent after its IQ reply (XEP-0100 subscribes after the result).
    pub(crate) after_reply: Vec<Element>,
    /// Users to probe once their ending session is over (their registration changed).
    pub(crate) relogin: std::collections::HashSet<BareJid>,
    /// Users just registered, asked for a subscription, and when: not probed meanwhile
    /// (`reconcile.rs`, `probe_registered`).
    pub(crate) subscribing: HashMap<BareJid, std::time::Instant>,
    /// Legacy contacts each user follows, learned from their probes and subscriptions, so a
    /// new session of theirs follows them from the start (bounded per user).
    pub(crate) contacts: HashMap<BareJid, std::collections::BTreeSet<LegacyId>>,
    /// What the last reconcile saw of the store.
    store_seen: reconcile::StoreSeen,
    /// Operator requests (console, REST API, ad-hoc commands of other services).
    control_rx: mpsc::Receiver<ControlRequest>,
    /// The prototype of the handles given out by [`Service::control`].
    control: ServiceControl,
    /// Shared with the control handles and every session.
    pub(crate) counters: Arc<ServiceCounters>,
    /// The component link came up at least once (a later `Up` is a reconnect).
    link_was_up: bool,
    /// Makes a new transport when the operator changes its options.
    rebuild: Option<RebuildTransport>,
    /// The options the transport in use was built with (or last tried).
    applied_options: BTreeMap<String, String>,
    /// Whether the service last acted on the transport as enabled (policy may be re-read
    /// by any handler; the change is acted on once, here).
    applied_enabled: bool,
    /// Ad-hoc command sessions waiting for a form.
    pub(crate) adhoc: crate::adhoc::Pending,
    /// Component or server mode: what the two do differently.
    pub(crate) mode: Mode,
    /// Stanzas each user may send per second (see [`crate::rate_limit`]).
    pub(crate) rate: crate::rate_limit::UserRates,
    /// Availability presences that found their session's inbox full, the latest per
    /// resource, handed over in order as it drains (see [`crate::presence`]); only users
    /// with some held have an entry.
    pub(crate) held_presences: HashMap<BareJid, Vec<SessionInput>>,
    /// What the host servers let the component do (XEP-0356, component mode); shared
    /// with the sessions.
    pub(crate) privileges: Arc<crate::privilege::Granted>,
    /// Rosters read to take an unregistered user's contacts out (`crate::privilege`).
    pub(crate) forgetting: crate::privilege::Forgetting,
}

/// How often the service looks for operator changes in the store.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);

/// Errors that stop a service from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configured domain is not a valid JID domain.
    #[error("invalid transport domain {0:?}: {1}")]
    Domain(String, String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] pontoon_store::StoreError),
}

impl Service {
    /// Builds the service; `out` carries stanzas to the XMPP side.
    pub async fn new(
        cfg: ServiceConfig,
        transport: Arc<dyn Transport>,
        store: Store,
        out: mpsc::Sender<OutStanza>,
    ) -> Result<Service, ServiceError> {
        let domain_jid = Jid::new(&cfg.domain)
            .ok()
            .filter(|j| j.node().is_none() && j.resource().is_none())
            .ok_or_else(|| Service::domain_error(&cfg.domain))?;
        let policy = store
            .transport_policy(&cfg.transport_name)
            .await?
            .unwrap_or_default();
        let (ended_tx, ended_rx) = mpsc::channel(64);
        let counters = Arc::new(ServiceCounters::default());
        let privileges = Arc::new(crate::privilege::Granted::default());
        let archive = crate::archive::Archive::spawn(
            store.clone(),
            &cfg.transport_name,
            policy.history_days,
            policy.history_per_room,
        );
        let session_ctx = Arc::new(SessionContext {
            privileges: privileges.clone(),
            transport_name: cfg.transport_name.clone(),
            domain: domain_jid.clone(),
            display_name: cfg.display_name.clone(),
            transport: transport.clone(),
            out: out.clone(),
            presence_payloads: Self::presence_payloads(transport.as_ref(), &cfg.display_name),
            ended: ended_tx,
            inbox_capacity: cfg.inbox_capacity,
            ends_with_login: false,
            counters: counters.clone(),
            store: store.clone(),
            id_map: crate::id_map::IdMapWriter::spawn(store.clone(), &cfg.transport_name),
            media: None,
            avatars: Default::default(),
            archive: archive.clone(),
            away: {
                let slots = crate::session::away::AwaySlots::default();
                slots.set_limit(policy.always_online_limit);
                Arc::new(slots)
            },
            outbox: Arc::new(crate::outbox::Outbox::open(store.clone(), &cfg.transport_name).await),
            cluster: None,
        });
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let control = ServiceControl {
            transport: cfg.transport_name.clone(),
            domain: cfg.domain.clone(),
            display_name: cfg.display_name.clone(),
            tx: control_tx,
            counters: counters.clone(),
            session_counts: Arc::new(Default::default()),
            presences: Default::default(),
            watch: crate::watchdog::LoopWatch::new(format!("service {}", cfg.transport_name)),
            archive: Some(archive),
        };
        Ok(Service {
            control_rx,
            control,
            counters,
            link_was_up: false,
            rebuild: None,
            applied_options: policy.options.clone(),
            applied_enabled: policy.enabled,
            adhoc: Default::default(),
            mode: Mode::Component,
            rate: crate::rate_limit::UserRates::new(cfg.stanza_rate),
            held_presences: HashMap::new(),
            privileges,
            forgetting: Default::default(),
            cfg,
            domain_jid,
            transport,
            store,
            out,
            sessions: HashMap::new(),
            session_ctx,
            ended_rx,
            next_generation: 0,
            policy,
            after_reply: Vec::new(),
            store_seen: reconcile::StoreSeen::default(),
            contacts: HashMap::new(),
            relogin: Default::default(),
            subscribing: HashMap::new(),
        })
    }

    /// A handle for the operator's tools; valid while the service runs.
    pub fn control(&self) -> ServiceControl {
        self.control.clone()
    }

    /// Lets the service apply the operator's changes to the transport's options at run
    /// time: when the stored options change, `rebuild` makes a new transport from them (an
    /// error keeps the old one, with a warning) and every session logs in again with it.
    /// Without it, option changes wait for a restart.
    pub fn with_rebuild(mut self, rebuild: RebuildTransport) -> Self {
        self.rebuild = Some(rebuild);
        self
    }

    /// Runs the service in server mode: its stanzas come from and go to the c2s router
    /// (through the channels given to [`Service::new`] and [`Service::run`]), sessions
    /// start only through logins ([`ServiceControl::login`]), and there are no
    /// registrations to probe or reconcile.
    pub fn with_server_mode(mut self, options: crate::server::ServerOptions) -> Self {
        self.mode = Mode::Server(crate::server::ServerState {
            options,
            accounts: HashMap::new(),
        });
        // The c2s listener is this service's link: it is up while the service runs.
        self.counters.link_up.store(true, Ordering::Relaxed);
        self.session_ctx = Arc::new(SessionContext {
            ends_with_login: true,
            ..self.session_ctx.as_ref().clone()
        });
        self
    }

    /// Runs as one of several instances on one PostgreSQL store: sessions are leased
    /// through `cluster` (`crate::cluster`), and the store is looked at when `changes` (the
    /// store's change feed) says so rather than twice a second.
    pub fn with_cluster(
        mut self,
        cluster: Option<Arc<crate::cluster::Cluster>>,
        changes: Option<pontoon_store::ChangeFeed>,
    ) -> Self {
        self.store_seen.feed = changes.map(|f| f.subscribe());
        self.store_seen.fence = cluster.as_ref().map(|c| c.fence());
        self.session_ctx = Arc::new(SessionContext {
            cluster,
            ..self.session_ctx.as_ref().clone()
        });
        self
    }

    /// Serves the network's files that clients cannot fetch themselves through `links`
    /// (Pontoon's HTTP listener, `crate::media`).
    pub fn with_media_links(mut self, links: crate::media::MediaLinks) -> Self {
        self.session_ctx = Arc::new(SessionContext {
            media: Some(links),
            ..self.session_ctx.as_ref().clone()
        });
        self
    }

    fn presence_payloads(transport: &dyn Transport, display_name: &str) -> Vec<Element> {
        crate::disco::caps_element(&transport.descriptor().gateway_type, display_name)
            .into_iter()
            .collect()
    }

    fn domain_error(domain: &str) -> ServiceError {
        ServiceError::Domain(domain.to_owned(), "a bare domain is needed".to_owned())
    }

    /// Runs until `shutdown` is cancelled or the link is gone, then logs every user out
    /// (they get unavailable presence) and returns, dropping its side of the link.
    ///
    /// Everything runs in a `service` span with the field `transport` (the transport's
    /// name, recorded as a string), and each session in a child `session` span with
    /// `transport` and `user`, which the transport's own tasks inherit: the console's
    /// per-transport debug switch (and `RUST_LOG=[{transport=irc}]=debug`) select on it.
    pub async fn run(self, inbound: mpsc::Receiver<LinkEvent>, shutdown: CancellationToken) {
        let span = tracing::info_span!(
            "service",
            transport = self.cfg.transport_name.as_str(),
            domain = self.cfg.domain.as_str()
        );
        self.run_in_span(inbound, shutdown).instrument(span).await
    }

    async fn run_in_span(
        mut self,
        mut inbound: mpsc::Receiver<LinkEvent>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watch = self.control.watch.clone();
        // Ends with this run, whatever ends it (the task holds the link's sender).
        let expiry = shutdown.child_token();
        let _expiry = expiry.clone().drop_guard();
        if !self.session_ctx.ends_with_login {
            // What was kept for users away who never came back goes to their server.
            tokio::spawn(crate::retention::expire_offline(
                self.session_ctx.store.clone(),
                crate::retention::Expired::Forward {
                    transport: self.cfg.transport_name.clone(),
                    out: self.session_ctx.out.clone(),
                },
                expiry,
            ));
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = inbound.recv() => match event {
                    None => break,
                    Some(LinkEvent::Up) => {
                        info!(domain = %self.cfg.domain, "component link up");
                        if self.link_was_up {
                            ServiceCounters::bump(&self.counters.link_reconnects);
                        }
                        self.link_was_up = true;
                        self.counters.link_up.store(true, Ordering::Relaxed);
                        self.on_link_up().await;
                    }
                    Some(LinkEvent::Standby) => {
                        let _busy = watch.busy();
                        self.counters.link_up.store(false, Ordering::Relaxed);
                        self.stand_by().await;
                    }
                    Some(LinkEvent::Down { reason }) => {
                        self.counters.link_up.store(false, Ordering::Relaxed);
                        self.privileges.clear();
                        warn!(domain = %self.cfg.domain, %reason, "component link down");
                    }
                    Some(LinkEvent::Stanza(el, read_at, handled)) => {
                        let _busy = watch.busy();
                        self.handle(el, read_at, handled).await;
                    }
                },
                Some(ended) = self.ended_rx.recv() => {
                    let _busy = watch.busy();
                    self.on_session_ended(ended).await;
                }
                Some(request) = self.control_rx.recv() => {
                    let _busy = watch.busy();
                    self.on_control(request).await;
                }
                fenced = crate::cluster::next_fence(&mut self.store_seen.fence) => {
                    let _busy = watch.busy();
                    self.on_fence(fenced).await;
                }
                change = crate::cluster::next_change(&mut self.store_seen.feed) => {
                    let _busy = watch.busy();
                    self.on_change(change).await;
                }
                _ = tick.tick() => {
                    let _busy = watch.busy();
                    self.reconcile_on_tick().await;
                    self.sweep_outbox().await;
                    self.sample();
                    self.adhoc.expire();
                    self.rate.forget_idle();
                    self.flush_held_presences();
                }
            }
        }
        self.counters.link_up.store(false, Ordering::Relaxed);
        self.stop().await;
    }

    /// Sends what waited for a reply to go first (roster changes after a registration).
    pub(crate) async fn flush_after_reply(&mut self) {
        for el in std::mem::take(&mut self.after_reply) {
            self.send(el).await;
        }
    }

    /// Sends a stanza to the XMPP side, waiting for room (back-pressure).
    pub(crate) async fn send(&self, el: Element) {
        if el.attr("type") == Some("error") {
            ServiceCounters::bump(&self.counters.errors);
            crate::stanza::log_error_sent(&el);
        }
        if self.out.send(el.into()).await.is_err() {
            debug!("outbound link closed; stanza dropped at shutdown");
        }
    }

    /// Sends the error reply for `stanza`, if one is allowed.
    pub(crate) async fn refuse(&self, stanza: &Element, refusal: Refusal) {
        debug!(condition = refusal.condition, text = %refusal.text, "refusing stanza");
        if let Some(reply) = refusal.reply_to(stanza) {
            self.send(reply).await;
        }
    }

    /// Policy check for `user` doing `action`.
    pub(crate) fn check(&self, user: &BareJid, action: Action) -> Result<(), Refusal> {
        policy::check(&self.policy, &self.cfg.display_name, user.as_str(), action)
    }

    /// Dispatches one stanza from the XMPP side, read at `read_at`; `handled` (its XEP-0198
    /// receipt) is dropped once it is, by the session for a message to the network.
    async fn handle(&mut self, el: Element, read_at: Instant, handled: Option<Handled>) {
        let Some(from) = el.attr("from").and_then(|f| Jid::new(f).ok()) else {
            // Without a valid sender there is nobody to answer.
            warn!(name = el.name(), "stanza without a valid 'from' dropped");
            return;
        };
        let header = Header::new(
            from,
            el.attr("type").unwrap_or_default().to_owned(),
            el.attr("id").map(str::to_owned),
            read_at,
        );
        if Self::rate_counted(&el, &header.kind) && !self.rate.allow(header.user()) {
            let rate = self.rate.rate();
            let refusal = Refusal::wait(
                "policy-violation",
                format!(
                    "You are sending too fast: at most {} requests and messages a second (bursts of {}); slow down and try again.",
                    rate.per_second, rate.burst
                ),
            );
            self.refuse(&el, refusal).await;
            return;
        }
        let target = match self.target(&el) {
            Ok(t) => t,
            Err(refusal) => {
                if el.name() != "presence" || header.kind != "error" {
                    self.refuse(&el, refusal).await;
                }
                return;
            }
        };
        match el.name() {
            "iq" => self.on_iq(el, header, target).await,
            "message" => self.on_message(el, header, target, handled).await,
            "presence" => self.on_presence(el, header, target).await,
            other => debug!(name = other, "unknown top-level element ignored"),
        }
    }

    /// Whether `el` counts against its sender's stanza rate: IQ requests, messages and
    /// subscription requests and answers, which a person sends one by one (see
    /// [`crate::rate_limit`] for why not availability, probes, answers and errors).
    fn rate_counted(el: &Element, kind: &str) -> bool {
        match el.name() {
            "iq" => matches!(kind, "get" | "set"),
            "message" => kind != "error",
            "presence" => matches!(
                kind,
                "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed"
            ),
            _ => false,
        }
    }

    /// Works out the addressee, refusing malformed or foreign addresses.
    fn target(&self, el: &Element) -> Result<Target, Refusal> {
        let to = el.attr("to").unwrap_or_default();
        let jid = Jid::new(to).map_err(|e| {
            Refusal::modify("jid-malformed", format!("Invalid address {to:?}: {e}"))
        })?;
        if jid.domain().as_str() != self.cfg.domain {
            return Err(Refusal::cancel(
                "item-not-found",
                format!("{to} is not served by this transport."),
            ));
        }
        match jid.node() {
            None => Ok(Target::Domain),
            Some(node) => {
                let address = crate::address::of_localpart(
                    self.transport.as_ref(),
                    &self.cfg.display_name,
                    &self.cfg.domain,
                    node.as_str(),
                )?;
                Ok(match address {
                    Address::Contact(c) => Target::Contact(c),
                    Address::Room(r) => {
                        Target::Room(r, jid.resource().map(|r| r.as_str().to_owned()))
                    }
                    Address::Network(n) => Target::Network(n),
                })
            }
        }
    }
}
