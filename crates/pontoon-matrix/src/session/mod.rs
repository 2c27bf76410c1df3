//! One user's Matrix session: an actor that logs in, long-polls `/sync` and carries out
//! the core's commands, one at a time, in order.
//!
//! The actor owns everything about the user's account it needs (its [`Rooms`]), so no lock
//! is shared. While a `/sync` is in flight the actor still takes commands: the long-poll
//! is a future the loop polls beside the inbox. Between events nothing runs.

mod commands;
mod directory;
mod e2ee;
mod files;
mod incoming;
mod profiles;
mod recent;
mod rooms;
mod sync;
mod threads;
mod verbs;

use std::sync::Arc;
use std::time::Duration;

use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent};
use pontoon_core::state::TransportState;
use tracing::{Instrument, debug, info, warn};

use crate::config::MatrixConfig;
use crate::http::{Http, HttpError};
use crate::login::{self, Credentials};
pub use rooms::Rooms;

/// Commands waiting for the session.
const INBOX: usize = 64;
/// The first wait after a failed sync; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The transport-state key of the sync token.
const SINCE_KEY: &str = "since";

/// Starts the session of `account`; it reports through `events`.
pub fn start(
    shared: Shared,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    state: TransportState,
) -> channel::Sender<LegacyCommand> {
    let (tx, rx) = channel::bounded(INBOX);
    tokio::spawn(run(shared, account, events, state, rx).in_current_span());
    tx
}

/// What the transport's sessions share.
pub struct Shared {
    /// The options.
    pub cfg: Arc<MatrixConfig>,
    /// The connection pool.
    pub http: Http,
    /// Turns among the sessions logging in ([`MatrixConfig::logins_at_once`]): a login,
    /// a new device's keys and a first sync (a catch-up) are the heaviest moments of a
    /// session, and a restart brings them all at once. Letting a few through at a time keeps
    /// the gateway's memory at what its sessions hold, not at that wave's peak (which the
    /// allocator keeps), and spares the homeserver the same wave.
    pub logins: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// What one session needs alone (its own turns): tests and tools.
    pub fn new(cfg: Arc<MatrixConfig>, http: Http) -> Shared {
        let logins = Arc::new(tokio::sync::Semaphore::new(cfg.logins_at_once));
        Shared { cfg, http, logins }
    }
}

/// A logged-in session.
pub(crate) struct Session {
    pub(crate) cfg: Arc<MatrixConfig>,
    pub(crate) http: Http,
    pub(crate) events: channel::Sender<LegacyEvent>,
    pub(crate) state: TransportState,
    pub(crate) creds: Credentials,
    /// The sync token the next `/sync` starts from; `None` before the first.
    pub(crate) since: Option<String>,
    /// The token last written to the store.
    since_saved: Option<String>,
    pub(crate) rooms: Rooms,
    /// The user's own reactions, to take them back.
    pub(crate) own_reactions: verbs::OwnReactions,
    /// Others' reactions, to show them taken back.
    pub(crate) seen_reactions: incoming::SeenReactions,
    /// The user's own recent messages (their read receipts are shown).
    pub(crate) own_events: recent::Recent<String, ()>,
    /// The event ids of the user's recent messages by the ids their client gave them: a
    /// verb on a message sent a moment ago may name it by the client's id, before the
    /// core has learnt the event id.
    pub(crate) sent_ids: recent::Recent<String, String>,
    /// The latest event of each recent thread, for the next threaded message's fallback.
    pub(crate) thread_latest: threads::ThreadLatest,
    /// Who is typing, per room.
    pub(crate) typing: std::collections::HashMap<String, Vec<String>>,
    /// End-to-end encryption, when its keys could be loaded.
    pub(crate) crypto: Option<crate::crypto::Crypto>,
    /// Transaction ids of sent events are unique per device: a counter and the start time.
    next_txn: u64,
    txn_epoch: u64,
}

impl Session {
    /// Sends an event to the core; `false` once the core has gone.
    pub(crate) async fn emit(&self, event: LegacyEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// A fresh transaction id for a sent event.
    pub(crate) fn txn_id(&mut self) -> String {
        self.next_txn += 1;
        format!("pontoon-{}-{}", self.txn_epoch, self.next_txn)
    }

    /// The user's access token.
    pub(crate) fn token(&self) -> Option<&str> {
        Some(&self.creds.access_token)
    }

    /// Sends `request` to the user's homeserver as them, waiting at most `timeout`.
    pub(crate) async fn call<R>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::IncomingResponse, HttpError>
    where
        R: ruma::api::OutgoingRequest,
        R::Authentication: crate::http::Auth,
        R::PathBuilder: crate::http::Path,
        R::IncomingResponse: ruma::api::IncomingResponse<EndpointError = ruma::api::error::Error>,
    {
        self.http
            .send(&self.creds.homeserver, self.token(), request, timeout)
            .await
    }

    /// Writes the sync token to the store when it moved (so a restart resumes there).
    async fn save_since(&mut self) {
        if self.since == self.since_saved {
            return;
        }
        if let Some(since) = &self.since {
            match self.state.put(SINCE_KEY, since.as_bytes()).await {
                Ok(()) => self.since_saved = self.since.clone(),
                Err(e) => warn!(error = %e, "the sync token could not be stored"),
            }
        }
    }
}

/// Whether a sync answer carries anything for the session (an idle long-poll's answer
/// carries nothing but its next token).
fn carries_news(r: &ruma::api::client::sync::sync_events::v3::Response) -> bool {
    !(r.rooms.is_empty()
        && r.rooms.knock.is_empty()
        && r.presence.is_empty()
        && r.account_data.is_empty()
        && r.to_device.is_empty()
        && r.device_lists.is_empty())
}

/// Why the login did not produce a session.
enum LoginError {
    /// The user must do something (a wrong password, a revoked token): `LoginFailed`.
    Refused(String),
    /// The homeserver is away: `Unreachable`.
    Away(String),
}

/// Logs in: with the stored device when there is one and no new password, else with the
/// password (keeping the stored device id, so the device and its keys stay).
async fn log_in(
    cfg: &MatrixConfig,
    http: &Http,
    account: &LegacyAccount,
    state: &TransportState,
) -> Result<(Credentials, bool), LoginError> {
    let stored: Option<Credentials> = match state.get(login::STATE_KEY).await {
        Ok(v) => v.and_then(|v| serde_json::from_slice(&v).ok()),
        Err(e) => return Err(LoginError::Away(format!("the gateway's store failed: {e}"))),
    };
    let user_id = &account.legacy_id;
    let homeserver = login::homeserver_for(cfg, http, user_id)
        .await
        .map_err(LoginError::Refused)?;
    let stored = stored.filter(|c| c.user_id == *user_id && c.homeserver == homeserver);
    let Some(password) = account.secret.as_deref() else {
        return match stored {
            Some(c) => Ok((c, false)),
            None => Err(LoginError::Refused(
                "Pontoon has no login for your Matrix account: register again with your password."
                    .to_owned(),
            )),
        };
    };
    let device = stored.as_ref().map(|c| c.device_id.as_str());
    match login::password_login(
        http,
        &homeserver,
        user_id,
        password,
        device,
        &cfg.device_name,
    )
    .await
    {
        Ok(c) => Ok((c, true)),
        Err(e) if e.is_transient() => Err(LoginError::Away(e.to_string())),
        Err(HttpError::Refused { code, .. }) if code == "M_FORBIDDEN" => Err(LoginError::Refused(
            "the homeserver refused the login: wrong Matrix id or password".to_owned(),
        )),
        Err(e) => Err(LoginError::Refused(format!(
            "the homeserver refused the login: {e}"
        ))),
    }
}

async fn run(
    shared: Shared,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    state: TransportState,
    mut inbox: channel::Receiver<LegacyCommand>,
) {
    let Shared { cfg, http, logins } = shared;
    // This session's turn to log in, kept until its first sync is done (the semaphore is
    // never closed; were it, the session would go without a turn).
    let turn = logins.acquire_owned().await.ok();
    // Boxed, like the rare paths below: the run future lives as long as the session.
    let (creds, fresh) = match Box::pin(log_in(&cfg, &http, &account, &state)).await {
        Ok(v) => v,
        Err(LoginError::Refused(reason)) => {
            let _ = events.send(LegacyEvent::LoginFailed { reason }).await;
            return;
        }
        Err(LoginError::Away(reason)) => {
            let _ = events.send(LegacyEvent::Unreachable { reason }).await;
            return;
        }
    };
    if fresh {
        // The homeserver checked the password: server mode may let the user in.
        let _ = events.send(LegacyEvent::Authenticated).await;
        match serde_json::to_vec(&creds) {
            Ok(v) => {
                if let Err(e) = state.put(login::STATE_KEY, &v).await {
                    warn!(error = %e, "the Matrix login could not be stored");
                } else {
                    // The device's token is kept; the password is no longer needed.
                    let _ = events.send(LegacyEvent::SecretConsumed).await;
                }
            }
            Err(e) => warn!(error = %e, "the Matrix login could not be written"),
        }
    }
    info!(user_id = %creds.user_id, device_id = %creds.device_id, "logged in to Matrix");
    let since = match state.get(SINCE_KEY).await {
        Ok(v) => v.and_then(|v| String::from_utf8(v).ok()),
        Err(_) => None,
    };
    let txn_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let crypto = Box::pin(e2ee::open(&http, &creds, &state)).await;
    let mut s = Session {
        crypto,
        rooms: Rooms::new(&creds.user_id),
        own_reactions: Default::default(),
        seen_reactions: Default::default(),
        own_events: Default::default(),
        typing: Default::default(),
        sent_ids: Default::default(),
        thread_latest: Default::default(),
        cfg,
        http,
        events,
        state,
        creds,
        since_saved: since.clone(),
        since,
        next_txn: 0,
        txn_epoch,
    };
    // The first sync (with a stored token: the catch-up) comes before `Connected`, so the
    // contact list is known when the user is told they are online.
    if let Err(reason) = Box::pin(s.first_sync()).await {
        let _ = s.events.send(reason).await;
        return;
    }
    // The device's keys are uploaded: an idle session needs no machine.
    s.e2ee_park(Duration::ZERO).await;
    drop(turn);
    let verbs = LegacyEvent::Verbs {
        network: None,
        verbs: verbs::MATRIX_VERBS,
    };
    if !s.emit(verbs).await || !s.emit(LegacyEvent::Connected).await {
        return;
    }
    let reason = s.serve(&mut inbox).await;
    s.save_since().await;
    debug!(%reason, "Matrix session ends");
    let _ = s.events.send(LegacyEvent::Disconnected { reason }).await;
}

impl Session {
    /// Syncs until the first answer, retrying while the homeserver is away.
    async fn first_sync(&mut self) -> Result<(), LegacyEvent> {
        let mut backoff = FIRST_BACKOFF;
        for _ in 0..5 {
            let attempt = match self.load_direct().await {
                Ok(()) => self.sync_once(Duration::ZERO).await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() => {
                    tokio::time::sleep(e.retry_after().unwrap_or(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(self.fatal(e)),
            }
        }
        Err(LegacyEvent::Unreachable {
            reason: "the homeserver did not answer the first sync".to_owned(),
        })
    }

    /// What an error that ends the session tells the user.
    fn fatal(&self, e: HttpError) -> LegacyEvent {
        match e {
            HttpError::UnknownToken { message } => LegacyEvent::LoginFailed {
                reason: format!(
                    "Your Matrix login is no longer valid ({message}): register again with your password."
                ),
            },
            e => LegacyEvent::Disconnected {
                reason: format!("Matrix: {e}"),
            },
        }
    }

    /// Runs until the core says stop or the login ends; returns why.
    async fn serve(&mut self, inbox: &mut channel::Receiver<LegacyCommand>) -> String {
        let mut backoff = FIRST_BACKOFF;
        let mut outage = false;
        // Answers in a row too large to read; each asks for fewer events.
        let mut shrink = 0;
        loop {
            let timeout = self.cfg.sync_timeout;
            let poll = sync::request(self, timeout, shrink);
            let http = self.http.clone();
            let base = self.creds.homeserver.clone();
            let token = self.creds.access_token.clone();
            let fut = async move {
                http.send(&base, Some(&token), poll, timeout + Duration::from_secs(30))
                    .await
            };
            tokio::pin!(fut);
            let answer = loop {
                tokio::select! {
                    answer = &mut fut => break answer,
                    command = inbox.recv() => match command {
                        None => return "the gateway ended the session".to_owned(),
                        Some(LegacyCommand::Disconnect { .. }) => return "logged out".to_owned(),
                        Some(c) => Box::pin(self.on_command(c)).await,
                    },
                }
            };
            match answer {
                Ok(response) => {
                    if outage {
                        outage = false;
                        let text = "Matrix: the homeserver answers again.".to_owned();
                        if !self.emit(LegacyEvent::Connected).await
                            || !self.emit(LegacyEvent::Notice { text }).await
                        {
                            return "the gateway ended the session".to_owned();
                        }
                    }
                    backoff = FIRST_BACKOFF;
                    if sync::skips(shrink) {
                        let text = format!(
                            "Matrix: an answer of the homeserver was larger than this gateway reads ({} KiB), so the messages in it were skipped. Read them in another Matrix client.",
                            self.cfg.max_response_bytes / 1024
                        );
                        self.emit(LegacyEvent::Notice { text }).await;
                    }
                    shrink = 0;
                    let news = carries_news(&response);
                    Box::pin(self.apply(response)).await;
                    // After an answer with nothing in it, the token before it resumes
                    // to the same place: an idle session writes nothing to the store.
                    if news {
                        self.save_since().await;
                    }
                    self.e2ee_park(self.cfg.e2ee_idle).await;
                }
                Err(HttpError::TooLarge(limit)) if !sync::skips(shrink) => {
                    shrink += 1;
                    warn!(
                        limit,
                        shrink, "a sync answer was too large; asking for fewer events"
                    );
                }
                Err(e) if e.is_transient() => {
                    if !outage {
                        outage = true;
                        warn!(error = %e, "Matrix sync failed; retrying");
                        let reason = e.to_string();
                        // The core leaves telling the user to the transport.
                        let text = format!(
                            "Matrix: {reason}. Pontoon keeps trying; messages you send meanwhile wait and go out in order."
                        );
                        if !self.emit(LegacyEvent::Reconnecting { reason }).await
                            || !self.emit(LegacyEvent::Notice { text }).await
                        {
                            return "the gateway ended the session".to_owned();
                        }
                    }
                    let wait = e.retry_after().unwrap_or(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // Commands still go through while waiting (they wait or bounce there).
                    let sleep = tokio::time::sleep(wait);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            () = &mut sleep => break,
                            command = inbox.recv() => match command {
                                None => return "the gateway ended the session".to_owned(),
                                Some(LegacyCommand::Disconnect { .. }) => return "logged out".to_owned(),
                                Some(c) => Box::pin(self.on_command(c)).await,
                            },
                        }
                    }
                }
                Err(e) => {
                    let event = self.fatal(e);
                    let reason = match &event {
                        LegacyEvent::LoginFailed { reason }
                        | LegacyEvent::Disconnected { reason } => reason.clone(),
                        _ => String::new(),
                    };
                    let _ = self
                        .emit(LegacyEvent::Notice {
                            text: reason.clone(),
                        })
                        .await;
                    return reason;
                }
            }
        }
    }

    /// One sync with a zero timeout (the first, or a catch-up), applied.
    async fn sync_once(&mut self, timeout: Duration) -> Result<(), HttpError> {
        let request = sync::request(self, timeout, 0);
        let response = self.call(request, Duration::from_secs(120)).await?;
        Box::pin(self.apply(response)).await;
        self.save_since().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_answer_carries_no_news() {
        use ruma::api::client::sync::sync_events::v3;
        let mut answer = v3::Response::new("s2".to_owned());
        assert!(!carries_news(&answer));
        // Key counts alone are the encryption's business, not the sync token's.
        answer
            .device_one_time_keys_count
            .insert(ruma::OneTimeKeyAlgorithm::SignedCurve25519, 50u32.into());
        assert!(!carries_news(&answer));
        let room: ruma::OwnedRoomId = "!r:example.org"
            .try_into()
            .unwrap_or_else(|e| panic!("{e}"));
        answer.rooms.leave.insert(room, Default::default());
        assert!(carries_news(&answer));
    }

    /// The run future is allocated once per session and stays for its life: its size is
    /// per-session memory (bench/README.md "Matrix at scale" measured it at 10 KB before
    /// the rare paths were boxed).
    #[test]
    fn run_future_size() {
        let (events, _rx) = channel::bounded(1);
        let (_tx, inbox) = channel::bounded(1);
        let account = LegacyAccount {
            legacy_id: "@alice:example.org".into(),
            secret: None,
            options: Default::default(),
        };
        let http = Http::new(Vec::new(), 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        let shared = Shared::new(Arc::new(MatrixConfig::default()), http);
        let fut = run(shared, account, events, TransportState::detached(), inbox);
        let size = std::mem::size_of_val(&fut);
        eprintln!("matrix session run future: {size} bytes");
        // 13,096 bytes before the login, the first sync, commands and sync answers were
        // boxed; what stays is mostly the `/sync` long-poll in flight, held while idle
        // (7,464 then; 8,024 with threads' and files' state, the answer's reading boxed,
        // and the encryption machine's put-away state: the `Session` itself is 1,376 bytes
        // of it, the long-poll future most of the rest).
        assert!(size <= 8_192, "matrix session run future is {size} bytes");
    }
}
