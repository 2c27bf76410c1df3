//! Keeping the service in step with the store and the link: the operator's policy and
//! options, changed registrations, link-up probes, and the orderly stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jid::{BareJid, Jid};
use pontoon_store::Change;
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use super::*;

/// What the last reconcile saw of the store.
#[derive(Debug, Default)]
pub(super) struct StoreSeen {
    /// The registrations fingerprint.
    fingerprint: Option<pontoon_store::Fingerprint>,
    /// The store's database did not answer: logins were refused meanwhile, so its return
    /// probes the registered users (those online log in without doing anything).
    unreachable: bool,
    /// PostgreSQL's change feed (`pontoon_store::ChangeFeed`): with it, the store is looked
    /// at when it says something changed, and every [`FEED_POLL`] in case; without it
    /// (SQLite), at every tick.
    pub(super) feed: Option<broadcast::Receiver<Change>>,
    /// With several instances, whether this one must end its sessions
    /// (`crate::cluster::Cluster::fence`).
    pub(super) fence: Option<tokio::sync::watch::Receiver<bool>>,
    /// When the store was last looked at.
    looked_at: Option<std::time::Instant>,
}

/// With a change feed, how often the store is looked at anyway.
const FEED_POLL: Duration = Duration::from_secs(30);

/// How long a new registration's subscription request is left to the user before they are
/// probed like everyone else.
const SUBSCRIBING_FOR: Duration = Duration::from_secs(60);

/// How long a look at the store for changes may take before it is given up.
const RECONCILE_STORE_WAIT: Duration = Duration::from_secs(2);

impl Service {
    /// Applies what operators changed in the store while the gateway runs (the CLI, later
    /// the console): a disabled transport or a deleted registration ends its sessions, an
    /// edited one logs the user in again. Cheap when nothing changed: one small query.
    /// The tick: the store is looked at unless the change feed makes it needless.
    pub(super) async fn reconcile_on_tick(&mut self) {
        // While the database does not answer, its return is watched for at every tick: the
        // feed is silent then, and the users who came online meanwhile wait for it.
        let due = self.store_seen.feed.is_none()
            || self.store_seen.unreachable
            || self
                .store_seen
                .looked_at
                .is_none_or(|t| t.elapsed() >= FEED_POLL);
        if due {
            self.reconcile().await;
        }
    }

    /// What the change feed says (`None`: it is gone, and the store is polled again).
    pub(super) async fn on_change(&mut self, change: Option<Change>) {
        match change {
            None => {
                warn!("the store's change feed ended; polling the store instead");
                self.store_seen.feed = None;
            }
            Some(Change::Registrations | Change::Policies | Change::Resync) => {
                self.reconcile().await;
            }
            Some(Change::Release {
                transport,
                owner,
                by,
            }) if transport == self.cfg.transport_name => {
                let mine = self
                    .session_ctx
                    .cluster
                    .as_ref()
                    .is_some_and(|c| c.id() != by);
                if let (true, Ok(user)) = (mine, owner.parse::<BareJid>())
                    && self.sessions.contains_key(&user)
                {
                    info!(user = %user, instance = %by, "the user's session moves to another instance");
                    self.end_session(
                        &user,
                        "Your session moved to another instance of the gateway",
                        false,
                    )
                    .await;
                }
            }
            // Rosters and account data are the router's (server mode); leases are taken by
            // the sessions waiting for them.
            Some(_) => {}
        }
    }

    pub(crate) async fn reconcile(&mut self) {
        self.store_seen.looked_at = Some(std::time::Instant::now());
        // A look at the store is given up rather than waited for: started just as the
        // database went away (before its health check says so), a query waits for a
        // connection for up to 10 s, and the service answers nobody meanwhile. Nothing is
        // lost: the next tick looks again.
        let looked = tokio::time::timeout(
            RECONCILE_STORE_WAIT,
            self.store
                .registrations_fingerprint(&self.cfg.transport_name),
        )
        .await;
        let Ok(fingerprint) = looked else {
            debug!("the store did not answer the look for changes in time; looking again");
            // Due again at the next tick.
            self.store_seen.looked_at = None;
            return;
        };
        let fingerprint = match fingerprint {
            Ok(f) => f,
            // An unreachable database is logged once, by the store; not twice a second here.
            Err(e) if e.is_unreachable() => {
                self.store_seen.unreachable = true;
                return;
            }
            Err(e) => {
                warn!(error = %e, "could not check the store for changes");
                return;
            }
        };
        tracing::trace!(?fingerprint, "reconcile");
        if tokio::time::timeout(RECONCILE_STORE_WAIT, self.reload_policy())
            .await
            .is_err()
        {
            debug!("the store did not answer for the policy in time; looking again");
            self.store_seen.looked_at = None;
            return;
        }
        let registrations = self.mode.registrations_log_in();
        if std::mem::take(&mut self.store_seen.unreachable)
            && self.policy.enabled
            && registrations
            && self.counters.link_up.load(Ordering::Relaxed)
        {
            self.probe_registered().await;
        }
        if self.policy.options != self.applied_options {
            self.apply_options().await;
        }
        if self.applied_enabled != self.policy.enabled {
            self.applied_enabled = self.policy.enabled;
            if self.policy.enabled {
                info!(domain = %self.cfg.domain, "transport enabled by the operator");
                // Registered users online now log in at once rather than at their next
                // presence; with the link down, the next link-up probes them anyway.
                if self.counters.link_up.load(Ordering::Relaxed) && registrations {
                    self.probe_registered().await;
                }
            } else {
                info!(domain = %self.cfg.domain, "transport disabled by the operator: ending its sessions");
                let reason = format!(
                    "The {} transport was disabled by the operator",
                    self.cfg.display_name
                );
                let users: Vec<BareJid> = self.sessions.keys().cloned().collect();
                for user in users {
                    self.end_session(&user, &reason, false).await;
                }
                // Sessions already ending to log in again (changed options or registration
                // in the same tick) must not probe a disabled transport's users: the next
                // enable probes every registered user anyway.
                self.relogin.clear();
            }
        }
        if !registrations || self.store_seen.fingerprint.as_ref() == Some(&fingerprint) {
            return;
        }
        debug!(?fingerprint, "registrations changed in the store");
        let first = self.store_seen.fingerprint.is_none();
        self.store_seen.fingerprint = Some(fingerprint);
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

    /// The operator changed the transport's options: build a transport with them and log
    /// every user in again through it (their sessions hold the old one until they end).
    pub(super) async fn apply_options(&mut self) {
        self.applied_options = self.policy.options.clone();
        let Some(rebuild) = self.rebuild.clone() else {
            info!("the transport's options changed; they apply after a restart");
            return;
        };
        let transport = match rebuild(&self.policy.options) {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "the transport's new options are not valid; keeping the running transport");
                return;
            }
        };
        info!(
            sessions = self.sessions.len(),
            "the transport's options changed; logging every user in again"
        );
        let old = self.session_ctx.as_ref();
        self.session_ctx = Arc::new(SessionContext {
            transport: transport.clone(),
            presence_payloads: Self::presence_payloads(transport.as_ref(), &old.display_name),
            ..old.clone()
        });
        self.transport = transport;
        let reason = format!(
            "The operator changed the settings of the {} transport; logging in again",
            self.cfg.display_name
        );
        // A session already ending (logout, removed registration, shutdown) is not logged in
        // again: its user would be probed although nothing asked for it.
        let users = self.active_users();
        for user in users {
            self.end_session(&user, &reason, true).await;
        }
    }

    /// Every registration of this transport: bare JID to `updated_at` (one paged read).
    pub(super) async fn registration_revisions(&self) -> Option<HashMap<String, i64>> {
        let mut all = HashMap::new();
        let mut offset = 0;
        loop {
            let query = pontoon_store::RegistrationQuery {
                transport: Some(self.cfg.transport_name.clone()),
                search: None,
                limit: 1000,
                offset,
                ..Default::default()
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
    /// Another instance holds the component link: this one's sessions end (their leases
    /// freed for the active instance, whose users' presences now reach it).
    /// This instance lost its heartbeat while others are alive (`fenced`): its sessions end
    /// before their leases lapse, and the store's return probes the registered users (those
    /// still online log in again, here or on another instance).
    pub(super) async fn on_fence(&mut self, fenced: bool) {
        if !fenced {
            info!(domain = %self.cfg.domain, "heartbeat renewed: sessions may start here again");
            return;
        }
        info!(domain = %self.cfg.domain, sessions = self.sessions.len(), "this instance lost the database: ending its sessions");
        self.store_seen.unreachable = true;
        let users: Vec<BareJid> = self.sessions.keys().cloned().collect();
        for user in users {
            // Probed again once each session is over (a presence that reaches a session on
            // its way out is lost): the new session logs in once it can take its lease.
            self.end_session(
                &user,
                "This instance of the gateway lost its database; you will be logged in again once it is back",
                true,
            )
            .await;
        }
    }

    pub(super) async fn stand_by(&mut self) {
        info!(domain = %self.cfg.domain, sessions = self.sessions.len(), "another instance serves this transport: standing by");
        let users: Vec<BareJid> = self.sessions.keys().cloned().collect();
        for user in users {
            self.end_session(
                &user,
                "Another instance of the gateway serves this transport now",
                false,
            )
            .await;
        }
    }

    pub(super) async fn stop(&mut self) {
        info!(domain = %self.cfg.domain, sessions = self.sessions.len(), "stopping transport");
        self.relogin.clear();
        // What waits for a connection stays for the next run.
        self.session_ctx.outbox.shutting_down();
        let users: Vec<BareJid> = self.sessions.keys().cloned().collect();
        for user in users {
            self.end_session(&user, "The gateway is shutting down", false)
                .await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.sessions.is_empty() {
            match tokio::time::timeout_at(deadline, self.ended_rx.recv()).await {
                Ok(Some(mut ended)) => {
                    self.forget_session(&ended.user, ended.generation);
                    // Nothing is dropped in silence, even at shutdown.
                    let refusal = Refusal::wait(
                        "service-unavailable",
                        "The gateway is shutting down; try again in a moment.",
                    );
                    self.bounce_leftovers(ended.leftovers(), refusal).await;
                }
                Ok(None) | Err(_) => break,
            }
        }
        // What the sessions handed the store's writers (archive, id map) is written by
        // the run's shutdown, once every service has stopped (`Store::finish_writers`).
    }

    /// Re-reads the operator policy (it may have changed at run time).
    pub(crate) async fn reload_policy(&mut self) {
        match self.store.transport_policy(&self.cfg.transport_name).await {
            Ok(p) => {
                self.policy = p.unwrap_or_default();
                self.session_ctx
                    .archive
                    .set_retention(self.policy.history_days, self.policy.history_per_room);
                self.session_ctx
                    .away
                    .set_limit(self.policy.always_online_limit);
            }
            Err(e) => {
                error!(error = %e, "could not read the transport policy; keeping the last one")
            }
        }
    }

    /// The component link came (back) up: ask every registered user for their presence, so
    /// those online are logged back in without doing anything (after a restart or upgrade).
    pub(super) async fn on_link_up(&mut self) {
        self.reload_policy().await;
        if !self.policy.enabled {
            // A pending disable is left to `reconcile`, which ends the sessions.
            return;
        }
        // These probes serve a pending enable too: `reconcile` must not probe again.
        self.applied_enabled = true;
        // A new link may be to a restarted server, where a pending request can be gone:
        // everyone is probed.
        self.subscribing.clear();
        self.probe_registered().await;
    }

    /// Asks every registered user for their presence; those online answer and log in.
    pub(super) async fn probe_registered(&mut self) {
        let Some(registered) = self.registration_revisions().await else {
            error!("could not list registrations to probe");
            return;
        };
        // A user asked for a subscription a moment ago is not probed: their server answers a
        // probe from a contact it has no subscription with by `unsubscribed`, and Prosody's
        // answer also drops the pending request, so the user's approval then goes nowhere.
        // Their approval brings their presence anyway.
        self.subscribing
            .retain(|_, at| at.elapsed() < SUBSCRIBING_FOR);
        for jid in registered.keys() {
            if let Ok(user) = BareJid::new(jid) {
                if self.subscribing.contains_key(&user) {
                    continue;
                }
                let probe = xmpp_parsers::presence::Presence::probe()
                    .with_from(self.domain_jid.clone())
                    .with_to(Jid::from(user));
                self.send(probe.into()).await;
            }
        }
        info!(domain = %self.cfg.domain, probed = registered.len(), "probed registered users");
        self.start_always_online().await;
    }

    /// Starts the session of every user who stays online while away and has none (after a
    /// restart, or the transport enabled): it logs in with no client and joins the rooms
    /// it was in (`session/away.rs`); a probe answer or a client's presence finds it there.
    async fn start_always_online(&mut self) {
        if self.policy.always_online_limit == 0 {
            return;
        }
        let users = match self
            .store
            .always_online_users(&self.cfg.transport_name, self.policy.always_online_default)
            .await
        {
            Ok(users) => users,
            Err(e) => {
                error!(error = %e, "could not list the users who stay online while away");
                return;
            }
        };
        let mut started = 0usize;
        for jid in users.iter().take(self.policy.always_online_limit as usize) {
            let Ok(user) = BareJid::new(jid) else {
                continue;
            };
            if self.sessions.contains_key(&user)
                || self.check(&user, crate::policy::Action::Use).is_err()
            {
                continue;
            }
            let reg = match self.store.registration(jid, &self.cfg.transport_name).await {
                Ok(Some(reg)) => reg,
                Ok(None) => continue,
                Err(e) => {
                    error!(error = %e, "could not read a registration to log in");
                    return;
                }
            };
            let account = crate::legacy::LegacyAccount {
                legacy_id: reg.legacy_id,
                secret: reg.secret,
                options: reg.options,
            };
            self.start_session(user, account, (Some(reg.updated_at), Some(true), true));
            started += 1;
        }
        if started > 0 {
            info!(domain = %self.cfg.domain, started, "logged in the users who stay online while away");
        }
    }
}
