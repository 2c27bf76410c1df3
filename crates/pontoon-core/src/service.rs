//! One transport domain's service: receives every stanza for the domain, answers what the
//! domain answers itself (disco, registration, help...) and routes the rest to the user's
//! session.
//!
//! Each protocol feature lives in its own module as an `impl Service` block; this file only
//! holds the state, the main loop and the dispatch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jid::{BareJid, Jid};
use minidom::Element;
use pontoon_store::{Store, TransportPolicy};
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::escape;
use crate::policy::{self, Action};
use crate::session::{SessionContext, SessionEnded, SessionHandle, SessionInput};
use crate::stanza::{Header, Refusal};
use crate::transport::{Address, Transport};

/// What became of an input offered to a session.
pub(crate) enum Offer {
    /// The session has it.
    Taken,
    /// The session's inbox is full; the input was dropped and the caller refuses it.
    Busy,
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
}

/// Who a stanza is addressed to within the domain.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// The transport itself.
    Domain,
    /// A legacy contact, by its normalised legacy id.
    Contact(String),
    /// A legacy room, by its normalised legacy id, with the occupant nick (JID resource).
    Room(String, Option<String>),
    /// A whole legacy network (its room directory).
    Network(String),
}

/// The service of one transport domain. Built by [`Service::new`], driven by [`Service::run`].
pub struct Service {
    pub(crate) cfg: ServiceConfig,
    pub(crate) domain_jid: Jid,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) store: Store,
    pub(crate) out: mpsc::Sender<Element>,
    pub(crate) sessions: HashMap<BareJid, SessionHandle>,
    pub(crate) session_ctx: Arc<SessionContext>,
    ended_rx: mpsc::Receiver<SessionEnded>,
    next_generation: u64,
    pub(crate) policy: TransportPolicy,
    /// Stanzas a handler wants sent after its IQ reply (XEP-0100 subscribes after the result).
    pub(crate) after_reply: Vec<Element>,
    /// Users to probe once their ending session is over (their registration changed).
    pub(crate) relogin: std::collections::HashSet<BareJid>,
    /// Legacy contacts each user follows, learned from their probes and subscriptions, so a
    /// new session of theirs follows them from the start (bounded per user).
    pub(crate) contacts: HashMap<BareJid, std::collections::BTreeSet<String>>,
    /// The store's registrations fingerprint at the last reconcile.
    fingerprint: Option<pontoon_store::Fingerprint>,
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
        out: mpsc::Sender<Element>,
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
        let presence_payloads =
            crate::disco::caps_element(transport.gateway_type(), &cfg.display_name)
                .into_iter()
                .collect();
        let session_ctx = Arc::new(SessionContext {
            domain: domain_jid.clone(),
            display_name: cfg.display_name.clone(),
            transport: transport.clone(),
            out: out.clone(),
            presence_payloads,
            ended: ended_tx,
            inbox_capacity: cfg.inbox_capacity,
        });
        Ok(Service {
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
            fingerprint: None,
            contacts: HashMap::new(),
            relogin: Default::default(),
        })
    }

    fn domain_error(domain: &str) -> ServiceError {
        ServiceError::Domain(domain.to_owned(), "a bare domain is needed".to_owned())
    }

    /// Runs until `shutdown` is cancelled or the link is gone, then logs every user out
    /// (they get unavailable presence) and returns, dropping its side of the link.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<LinkEvent>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = inbound.recv() => match event {
                    None => break,
                    Some(LinkEvent::Up) => {
                        info!(domain = %self.cfg.domain, "component link up");
                        self.on_link_up().await;
                    }
                    Some(LinkEvent::Down { reason }) => {
                        warn!(domain = %self.cfg.domain, %reason, "component link down");
                    }
                    Some(LinkEvent::Stanza(el)) => self.handle(el).await,
                },
                Some(ended) = self.ended_rx.recv() => self.on_session_ended(ended).await,
                _ = tick.tick() => self.reconcile().await,
            }
        }
        self.stop().await;
    }

    async fn on_session_ended(&mut self, ended: SessionEnded) {
        let was_current = self
            .sessions
            .get(&ended.user)
            .is_some_and(|s| s.generation == ended.generation);
        self.forget_session(&ended.user, ended.generation);
        if was_current {
            // Probes at the next login teach the contacts again; keep nothing for nobody.
            self.contacts.remove(&ended.user);
        }
        if self.relogin.remove(&ended.user) {
            // The user's answer to this probe logs them in with their new details.
            let probe = xmpp_parsers::presence::Presence::probe()
                .with_from(self.domain_jid.clone())
                .with_to(Jid::from(ended.user.clone()));
            self.send(probe.into()).await;
        }
        // Stanzas the session never read are handled afresh: a presence that arrived while
        // it was logging out starts a new login, a message gets a new session or a bounce.
        for input in ended.leftovers {
            if let SessionInput::Presence { stanza, .. }
            | SessionInput::JoinRoom { stanza, .. }
            | SessionInput::Message { stanza, .. }
            | SessionInput::RoomMessage { stanza, .. }
            | SessionInput::ListRooms { stanza, .. } = input
            {
                Box::pin(self.handle(stanza)).await;
            }
        }
    }

    /// Ends `user`'s session with `reason`. With `relogin`, probes the user once it is over,
    /// so their answer logs them in again: never two sessions of one user at once.
    pub(crate) async fn end_session(&mut self, user: &BareJid, reason: &str, relogin: bool) {
        if relogin {
            self.relogin.insert(user.clone());
        }
        let Some(handle) = self.sessions.get_mut(user) else {
            if self.relogin.remove(user) {
                let probe = xmpp_parsers::presence::Presence::probe()
                    .with_from(self.domain_jid.clone())
                    .with_to(Jid::from(user.clone()));
                self.send(probe.into()).await;
            }
            return;
        };
        if handle.ending {
            return;
        }
        handle.ending = true;
        let tx = handle.tx.clone();
        let logout = SessionInput::Logout {
            reason: reason.to_owned(),
        };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(logout)) = tx.try_send(logout) {
            // Once per ending session: wait for room without holding up the domain.
            tokio::spawn(async move {
                let _ = tx.send(logout).await;
            });
        }
    }

    /// Offers `input` to `user`'s session without waiting: one stalled session (a slow legacy
    /// server) must never stall every other user of the domain.
    pub(crate) fn offer(&self, user: &BareJid, input: SessionInput) -> Offer {
        use tokio::sync::mpsc::error::TrySendError;
        match self.sessions.get(user) {
            None => Offer::NoSession(Box::new(input)),
            Some(handle) => match handle.tx.try_send(input) {
                Ok(()) => Offer::Taken,
                Err(TrySendError::Full(_)) => Offer::Busy,
                Err(TrySendError::Closed(input)) => Offer::NoSession(Box::new(input)),
            },
        }
    }

    fn forget_session(&mut self, user: &BareJid, generation: u64) {
        if self
            .sessions
            .get(user)
            .is_some_and(|s| s.generation == generation)
        {
            self.sessions.remove(user);
        }
    }

    /// Applies what operators changed in the store while the gateway runs (the CLI, later
    /// the console): a disabled transport or a deleted registration ends its sessions, an
    /// edited one logs the user in again. Cheap when nothing changed: one small query.
    async fn reconcile(&mut self) {
        let fingerprint = match self
            .store
            .registrations_fingerprint(&self.cfg.transport_name)
            .await
        {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "could not check the store for changes");
                return;
            }
        };
        tracing::trace!(?fingerprint, "reconcile");
        let was_enabled = self.policy.enabled;
        self.reload_policy().await;
        if was_enabled && !self.policy.enabled {
            info!(domain = %self.cfg.domain, "transport disabled by the operator: ending its sessions");
            for handle in self.sessions.values() {
                let _ = handle
                    .tx
                    .send(SessionInput::Logout {
                        reason: format!(
                            "The {} transport was disabled by the operator",
                            self.cfg.display_name
                        ),
                    })
                    .await;
            }
        }
        if self.fingerprint.as_ref() == Some(&fingerprint) {
            return;
        }
        debug!(?fingerprint, "registrations changed in the store");
        let first = self.fingerprint.is_none();
        self.fingerprint = Some(fingerprint);
        if first {
            return;
        }
        if self.sessions.is_empty() {
            return;
        }
        let Some(current) = self.registration_revisions().await else {
            return;
        };
        let stale: Vec<(BareJid, bool)> = self
            .sessions
            .iter()
            .filter(|(_, h)| !h.ending)
            .filter_map(|(user, h)| {
                let at = h.registration?;
                match current.get(user.as_str()) {
                    None => Some((user.clone(), false)),
                    Some(now) if *now != at => Some((user.clone(), true)),
                    Some(_) => None,
                }
            })
            .collect();
        for (user, changed) in stale {
            let reason = if changed {
                "Your registration was changed; logging in again"
            } else {
                "Your registration was removed by the operator"
            };
            self.end_session(&user, reason, changed).await;
        }
    }

    /// Every registration of this transport: bare JID to `updated_at` (one paged read).
    async fn registration_revisions(&self) -> Option<HashMap<String, i64>> {
        let mut all = HashMap::new();
        let mut offset = 0;
        loop {
            let query = pontoon_store::RegistrationQuery {
                transport: Some(self.cfg.transport_name.clone()),
                search: None,
                limit: 1000,
                offset,
            };
            match self.store.list_registrations(&query).await {
                Ok(page) => {
                    let n = page.len();
                    all.extend(page.into_iter().map(|r| (r.jid, r.updated_at)));
                    if n < 1000 {
                        return Some(all);
                    }
                    offset += 1000;
                }
                Err(e) => {
                    warn!(error = %e, "could not read registrations");
                    return None;
                }
            }
        }
    }

    /// Logs every session out, waiting a bounded time for them to say goodbye.
    async fn stop(&mut self) {
        info!(domain = %self.cfg.domain, sessions = self.sessions.len(), "stopping transport");
        for handle in self.sessions.values() {
            let _ = handle
                .tx
                .send(SessionInput::Logout {
                    reason: "The gateway is shutting down".to_owned(),
                })
                .await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.sessions.is_empty() {
            match tokio::time::timeout_at(deadline, self.ended_rx.recv()).await {
                Ok(Some(ended)) => {
                    self.forget_session(&ended.user, ended.generation);
                    // Nothing is dropped in silence, even at shutdown.
                    for input in ended.leftovers {
                        if let Some(stanza) = input.stanza()
                            && matches!(stanza.name(), "message" | "iq")
                        {
                            let refusal = Refusal::wait(
                                "service-unavailable",
                                "The gateway is shutting down; try again in a moment.",
                            );
                            self.refuse(stanza, refusal).await;
                        }
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Sends a stanza to the XMPP side, waiting for room (back-pressure).
    pub(crate) async fn send(&self, el: Element) {
        if self.out.send(el).await.is_err() {
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

    /// Re-reads the operator policy (it may have changed at run time).
    pub(crate) async fn reload_policy(&mut self) {
        match self.store.transport_policy(&self.cfg.transport_name).await {
            Ok(p) => self.policy = p.unwrap_or_default(),
            Err(e) => {
                error!(error = %e, "could not read the transport policy; keeping the last one")
            }
        }
    }

    /// Policy check for `user` doing `action`.
    pub(crate) fn check(&self, user: &BareJid, action: Action) -> Result<(), Refusal> {
        policy::check(&self.policy, &self.cfg.display_name, user.as_str(), action)
    }

    /// Starts a session for `user` (replacing a finished one).
    pub(crate) fn start_session(
        &mut self,
        user: BareJid,
        account: crate::legacy::LegacyAccount,
        registration: Option<i64>,
    ) -> SessionHandle {
        self.next_generation += 1;
        let handle = crate::session::spawn(
            self.session_ctx.clone(),
            user.clone(),
            account,
            self.next_generation,
            registration,
        );
        if let Some(contacts) = self.contacts.get(&user) {
            // A fresh inbox has room for this one input: the session follows them first.
            let _ = handle.tx.try_send(SessionInput::AddContacts {
                contacts: contacts.iter().cloned().collect(),
            });
        }
        self.sessions.insert(user, handle.clone());
        handle
    }

    /// Dispatches one stanza from the XMPP side.
    async fn handle(&mut self, el: Element) {
        let Some(from) = el.attr("from").and_then(|f| Jid::new(f).ok()) else {
            // Without a valid sender there is nobody to answer.
            warn!(name = el.name(), "stanza without a valid 'from' dropped");
            return;
        };
        let header = Header {
            from,
            kind: el.attr("type").unwrap_or_default().to_owned(),
            id: el.attr("id").map(str::to_owned),
        };
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
            "message" => self.on_message(el, header, target).await,
            "presence" => self.on_presence(el, header, target).await,
            other => debug!(name = other, "unknown top-level element ignored"),
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
                let id = escape::unescape(node.as_str());
                self.transport
                    .parse_address(&id)
                    .map(|address| match address {
                        Address::Contact(c) => Target::Contact(c),
                        Address::Room(r) => {
                            Target::Room(r, jid.resource().map(|r| r.as_str().to_owned()))
                        }
                        Address::Network(n) => Target::Network(n),
                    })
                    .map_err(|e| {
                        Refusal::modify(
                            "jid-malformed",
                            format!(
                                "{id:?} is not a valid {} address: {e}",
                                self.cfg.display_name
                            ),
                        )
                    })
            }
        }
    }

    /// The component link came (back) up: ask every registered user for their presence, so
    /// those online are logged back in without doing anything (after a restart or upgrade).
    async fn on_link_up(&mut self) {
        self.reload_policy().await;
        if !self.policy.enabled {
            return;
        }
        let Some(registered) = self.registration_revisions().await else {
            error!("could not list registrations to probe");
            return;
        };
        for jid in registered.keys() {
            if let Ok(user) = BareJid::new(jid) {
                let probe = xmpp_parsers::presence::Presence::probe()
                    .with_from(self.domain_jid.clone())
                    .with_to(Jid::from(user));
                self.send(probe.into()).await;
            }
        }
        info!(domain = %self.cfg.domain, probed = registered.len(), "probed registered users");
    }
}
