//! The operator's handle on a running service: what the console, the REST API and the
//! metrics endpoint ask of it, and the counters they read.
//!
//! Requests travel over a bounded channel into the service's own loop (the service owns
//! its sessions; nobody else touches them). Counters are plain atomics shared with the
//! service and its sessions, so reading them never waits on the service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jid::BareJid;
use tokio::sync::{mpsc, oneshot};

use crate::latency::{LatencyHistogram, LatencySnapshot};

mod shown;
mod status;

pub(crate) use shown::PresenceIndex;
pub use shown::{STATUS_TEXT_MAX, Shown, UserPresence};
pub use status::{SessionInfo, SessionState, SessionStatus};

/// How many operator requests may wait for the service; more get [`ControlError::Busy`].
pub(crate) const CONTROL_QUEUE: usize = 32;

/// How long an operator request may wait for the service's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Longest operator announcement, in characters: the same for the console, the REST API
/// and the `announce` ad-hoc command.
pub const MAX_ANNOUNCEMENT: usize = 4000;

/// Checks an operator's announcement (every operator tool uses this one check): returns it
/// trimmed, or the reason it is refused (empty, longer than [`MAX_ANNOUNCEMENT`]).
pub fn check_announcement(text: &str) -> Result<&str, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the announcement is empty".to_owned());
    }
    if text.chars().count() > MAX_ANNOUNCEMENT {
        return Err(format!(
            "the announcement is longer than {MAX_ANNOUNCEMENT} characters"
        ));
    }
    Ok(text)
}

/// Checks a user's bare JID given by an operator (`user@example.org`; surrounding blanks
/// ignored) and returns it normalised, or the reason it is refused: not a bare JID, or a
/// domain alone. Every operator tool (console, REST API, ad-hoc commands) uses this check.
pub fn user_jid(text: &str) -> Result<BareJid, String> {
    let bare =
        BareJid::new(text.trim()).map_err(|e| format!("{text:?} is not a valid bare JID: {e}"))?;
    if bare.node().is_none() {
        return Err(format!(
            "{text:?} is a domain; a user's bare JID (user@example.org) is needed"
        ));
    }
    Ok(bare)
}

/// Message and error counts of one service since it started (monotonic).
#[derive(Debug, Default)]
pub struct ServiceCounters {
    /// Messages (chat and groupchat) passed from XMPP to the legacy network.
    pub messages_to_legacy: AtomicU64,
    /// Messages passed from the legacy network to XMPP (one per legacy message, however
    /// many of the user's clients get it; a room echoes the user's own messages back).
    pub messages_to_xmpp: AtomicU64,
    /// Error stanzas sent to users (refusals and bounces).
    pub errors: AtomicU64,
    /// Legacy logins that failed.
    pub login_failures: AtomicU64,
    /// Legacy connections that dropped and were connected again by the transport (counted
    /// when the connection is back, not when it drops).
    pub legacy_reconnects: AtomicU64,
    /// Times the component link came up after the first (reconnects to the XMPP server).
    pub link_reconnects: AtomicU64,
    /// Whether the component link is up now.
    pub link_up: AtomicBool,
    /// Stanzas waiting in the queue to the XMPP side at the last sample.
    pub link_queue_depth: AtomicU64,
    /// How long the messages counted in `messages_to_legacy` took: from the stanza read
    /// from the XMPP side to the command handed to the legacy session.
    pub latency_to_legacy: LatencyHistogram,
    /// How long the messages counted in `messages_to_xmpp` took: from the legacy session
    /// handing the event over (right after reading it) to the stanza built for the XMPP side.
    pub latency_to_xmpp: LatencyHistogram,
}

/// A snapshot of [`ServiceCounters`] plus the session counts, for display and export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// See [`ServiceCounters::messages_to_legacy`].
    pub messages_to_legacy: u64,
    /// See [`ServiceCounters::messages_to_xmpp`].
    pub messages_to_xmpp: u64,
    /// See [`ServiceCounters::errors`].
    pub errors: u64,
    /// See [`ServiceCounters::login_failures`].
    pub login_failures: u64,
    /// See [`ServiceCounters::legacy_reconnects`].
    pub legacy_reconnects: u64,
    /// See [`ServiceCounters::link_reconnects`].
    pub link_reconnects: u64,
    /// See [`ServiceCounters::link_up`].
    pub link_up: bool,
    /// See [`ServiceCounters::link_queue_depth`].
    pub link_queue_depth: u64,
    /// Sessions per state, in the order of [`SessionState::ALL`], at the last sample
    /// (the service samples twice a second).
    pub sessions: [u64; 4],
    /// See [`ServiceCounters::latency_to_legacy`].
    pub latency_to_legacy: LatencySnapshot,
    /// See [`ServiceCounters::latency_to_xmpp`].
    pub latency_to_xmpp: LatencySnapshot,
}

impl ServiceCounters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message handed to the legacy session, read from the XMPP side at `read_at`.
    pub(crate) fn message_to_legacy(&self, read_at: Instant) {
        Self::bump(&self.messages_to_legacy);
        self.latency_to_legacy.record_since(read_at);
    }

    /// Counts a message built for the XMPP side, handed over by the legacy session at
    /// `read_at`.
    pub(crate) fn message_to_xmpp(&self, read_at: Instant) {
        Self::bump(&self.messages_to_xmpp);
        self.latency_to_xmpp.record_since(read_at);
    }
}

/// What the operator asks of a service.
#[derive(Debug)]
pub(crate) enum ControlRequest {
    /// The sessions now.
    Sessions(oneshot::Sender<Vec<SessionInfo>>),
    /// Ends one user's session; answers whether there was one.
    Disconnect {
        user: BareJid,
        reason: String,
        reply: oneshot::Sender<bool>,
    },
    /// Deletes a user's registration as their own removal does (session ended, the
    /// transport's goodbye said, the roster left); answers whether there was one.
    Unregister {
        user: BareJid,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    /// Sends a message from the transport to every user with a session; answers how many.
    Announce {
        text: String,
        reply: oneshot::Sender<usize>,
    },
    /// Reads policy and registrations from the store now rather than at the next tick.
    Reload(oneshot::Sender<()>),
    /// Server mode: log `user` in to the legacy network with `username` and `password`;
    /// answered once the legacy login succeeded or failed.
    Login {
        user: BareJid,
        username: String,
        password: pontoon_xmpp::c2s::Password,
        reply: oneshot::Sender<crate::server::LoginOutcome>,
    },
    /// Server mode: the user's last XMPP connection is gone; log them out.
    ServerLogout { user: BareJid },
    /// The transport state to act as `user` with (their media fetched for a link).
    State {
        user: BareJid,
        reply: oneshot::Sender<Option<crate::state::TransportState>>,
    },
}

/// Why an operator request got no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// The service has stopped (shutdown).
    #[error("the service is not running")]
    Stopped,
    /// The service has too many operator requests waiting.
    #[error("the service is busy; try again")]
    Busy,
    /// The service did not answer in time.
    #[error("the service did not answer in time")]
    Timeout,
}

/// A cheap, cloneable handle on one running service. Made by
/// [`Service::control`](crate::Service::control).
#[derive(Clone, Debug)]
pub struct ServiceControl {
    pub(crate) transport: String,
    pub(crate) domain: String,
    pub(crate) display_name: String,
    pub(crate) tx: mpsc::Sender<ControlRequest>,
    pub(crate) counters: Arc<ServiceCounters>,
    pub(crate) session_counts: Arc<[AtomicU64; 4]>,
    /// The sessions' statuses by user (`shown`).
    pub(crate) presences: PresenceIndex,
    /// The service loop's progress (see [`crate::watchdog`]).
    pub(crate) watch: crate::watchdog::LoopWatch,
    /// The transport's archive (server mode's router answers the users' own MAM queries);
    /// none on a handle of no running service.
    pub(crate) archive: Option<Arc<crate::archive::Archive>>,
}

impl ServiceControl {
    /// The transport's name (`irc`).
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// The domain the service answers for (`irc.example.org`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The name shown to users (`IRC`).
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Counters and session counts now; never waits.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ServiceStats {
            messages_to_legacy: load(&c.messages_to_legacy),
            messages_to_xmpp: load(&c.messages_to_xmpp),
            errors: load(&c.errors),
            login_failures: load(&c.login_failures),
            legacy_reconnects: load(&c.legacy_reconnects),
            link_reconnects: load(&c.link_reconnects),
            link_up: c.link_up.load(Ordering::Relaxed),
            link_queue_depth: load(&c.link_queue_depth),
            sessions: std::array::from_fn(|i| load(&self.session_counts[i])),
            latency_to_legacy: c.latency_to_legacy.snapshot(),
            latency_to_xmpp: c.latency_to_xmpp.snapshot(),
        }
    }

    /// The sessions now, sorted by user.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, ControlError> {
        let mut list = self.ask(ControlRequest::Sessions).await?;
        list.sort_by(|a, b| a.user.as_str().cmp(b.user.as_str()));
        Ok(list)
    }

    /// Logs `user` out of the legacy network with `reason` (shown to them). Returns whether
    /// they had a session. They log in again at their next presence to the transport.
    pub async fn disconnect(&self, user: &BareJid, reason: &str) -> Result<bool, ControlError> {
        let (user, reason) = (user.clone(), reason.to_owned());
        self.ask(|reply| ControlRequest::Disconnect {
            user,
            reason,
            reply,
        })
        .await
    }

    /// Deletes `user`'s registration through the running service, as the user's own
    /// removal does; answers whether there was one, or why it failed.
    pub async fn unregister(&self, user: &BareJid) -> Result<Result<bool, String>, ControlError> {
        let user = user.clone();
        self.ask(|reply| ControlRequest::Unregister { user, reply })
            .await
    }

    /// Sends `text` from the transport's JID to every user with a session. Returns how many
    /// users it was sent to.
    pub async fn announce(&self, text: &str) -> Result<usize, ControlError> {
        let text = text.to_owned();
        self.ask(|reply| ControlRequest::Announce { text, reply })
            .await
    }

    /// The transport state to act as `user` with, for a media link: their session's while
    /// they are logged in; in component mode the stored state otherwise; in server mode
    /// nothing (it is sealed by the password of their login).
    pub async fn transport_state(
        &self,
        user: &BareJid,
    ) -> Result<Option<crate::state::TransportState>, ControlError> {
        let user = user.clone();
        self.ask(|reply| ControlRequest::State { user, reply })
            .await
    }

    /// Applies the store's policy and registrations now (after an operator's change), so
    /// the change takes effect before this returns.
    pub async fn reload(&self) -> Result<(), ControlError> {
        self.ask(ControlRequest::Reload).await
    }

    /// Server mode: logs `user` in to the legacy network with the SASL `username` and
    /// `password` (never stored), waiting at most `within` for the legacy login's outcome.
    pub async fn login(
        &self,
        user: BareJid,
        username: String,
        password: pontoon_xmpp::c2s::Password,
        within: std::time::Duration,
    ) -> crate::server::LoginOutcome {
        use crate::server::LoginOutcome;
        let (reply, answer) = oneshot::channel();
        let request = ControlRequest::Login {
            user,
            username,
            password,
            reply,
        };
        if self.tx.send(request).await.is_err() {
            return LoginOutcome::TemporaryFailure("The gateway is shutting down".to_owned());
        }
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => LoginOutcome::TemporaryFailure(format!(
                "The login to {} did not complete",
                self.display_name
            )),
            Err(_) => LoginOutcome::TemporaryFailure(format!(
                "The {} network did not answer in time",
                self.display_name
            )),
        }
    }

    /// Server mode: the user's last connection closed; their legacy session ends. Never
    /// waits (the client router calls it, and must not wait on a service): when the
    /// service's queue is full, a task waits for room.
    pub fn server_logout(&self, user: BareJid) {
        if let Err(mpsc::error::TrySendError::Full(request)) =
            self.tx.try_send(ControlRequest::ServerLogout { user })
        {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(request).await;
            });
        }
    }

    /// A handle on no running service (its requests fail with
    /// [`ControlError::Stopped`]), for tests of what holds one.
    #[cfg(test)]
    pub(crate) fn detached(transport: &str, domain: &str) -> ServiceControl {
        ServiceControl {
            transport: transport.to_owned(),
            domain: domain.to_owned(),
            display_name: transport.to_owned(),
            tx: mpsc::channel(1).0,
            counters: Arc::default(),
            session_counts: Arc::default(),
            presences: PresenceIndex::default(),
            watch: crate::watchdog::LoopWatch::new(format!("service {transport}")),
            archive: None,
        }
    }

    /// The service loop's progress: the watchdog and readiness look at it.
    pub fn watch(&self) -> &crate::watchdog::LoopWatch {
        &self.watch
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ControlRequest,
    ) -> Result<T, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ControlError::Busy,
            mpsc::error::TrySendError::Closed(_) => ControlError::Stopped,
        })?;
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Err(_) => Err(ControlError::Timeout),
            Ok(Err(_)) => Err(ControlError::Stopped),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_checked() {
        assert_eq!(check_announcement("  hi \n"), Ok("hi"));
        assert!(check_announcement(" \n ").is_err());
        let max = "é".repeat(MAX_ANNOUNCEMENT);
        assert_eq!(check_announcement(&max), Ok(max.as_str()));
        assert!(check_announcement(&format!("{max}x")).is_err());
    }

    #[test]
    fn user_jids_need_a_node() {
        assert_eq!(
            user_jid(" alice@example.org ").map(|j| j.to_string()),
            Ok("alice@example.org".to_owned())
        );
        assert!(user_jid("example.org").is_err_and(|e| e.contains("is a domain")));
        assert!(user_jid("not a jid@@").is_err());
        assert!(user_jid("alice@example.org/res").is_err());
    }
}
