//! The client-to-server listener of server mode (RFC 6120).
//!
//! XMPP clients connect to Pontoon itself. Per accepted TCP connection one
//! task runs the whole stream life: stream header (`jabber:client`, `to`
//! must be a served domain), features, STARTTLS (or TLS first on a
//! XEP-0368 direct TLS listener), SASL PLAIN, stream restart, resource
//! binding (or XEP-0198 resumption), and then the bound stream, whose
//! stanzas go to the application as [`C2sEvent`]s while the application
//! writes to the client through a bounded per-connection queue
//! ([`C2sHandle`]).
//!
//! Authentication is the application's: the wire layer decodes SASL PLAIN
//! and asks an [`Authenticator`] (in Pontoon the legacy network itself).
//! The password travels in a [`Password`], which never prints and is
//! zeroed when dropped.
//!
//! Everything is bounded: stanza size and depth ([`Limits`]), the number of
//! connections that have not authenticated yet (a global cap), failed and
//! total authentication attempts (per connection and per address per
//! minute), time to authenticate and bind, idle time of bound streams
//! (a ping first, then `connection-timeout`), the outbound queue, the
//! XEP-0198 unacknowledged queue and the number of sessions waiting to be
//! resumed. A client that breaks the rules gets an RFC 6120 stream error
//! and loses only its own connection.
//!
//! Submodules: `negotiate` (up to binding), `session` (the bound stream
//! and XEP-0198), `sasl` (PLAIN), `limiter` (attempts per address).

mod limiter;
mod negotiate;
mod sasl;
mod session;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use jid::{BareJid, FullJid};
use minidom::Element;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::limits::Limits;

pub use sasl::{Password, PlainCredentials, SaslError, parse_plain};

/// Default TCP port of client-to-server streams.
pub const DEFAULT_PORT: u16 = 5222;
/// Default port of XEP-0368 direct TLS client streams.
pub const DEFAULT_DIRECT_TLS_PORT: u16 = 5223;

/// Configuration of the c2s listener.
#[derive(Clone)]
pub struct C2sConfig {
    /// The domains served (`gateway.example.org`); a stream header whose
    /// `to` is none of them gets `host-unknown`. Compared ignoring ASCII
    /// case.
    pub domains: Vec<String>,
    /// TLS for STARTTLS and direct TLS; `None` offers no STARTTLS (then only
    /// loopback clients with `allow_plaintext_on_loopback` can log in).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Allow SASL PLAIN without TLS for clients connecting from a loopback
    /// address (STARTTLS is then offered but not required). Off by default.
    pub allow_plaintext_on_loopback: bool,
    /// Limits on what a client may send (stanza bytes and depth).
    pub limits: Limits,
    /// Most connections that have not authenticated yet, over all
    /// listeners; more are refused with `policy-violation`. Default 256.
    pub max_unauthenticated: usize,
    /// Most connections that have not authenticated yet from one client
    /// address (IPv6: per /64), so one address cannot take every slot of
    /// [`max_unauthenticated`](Self::max_unauthenticated); more are refused
    /// with `policy-violation`. Default 32.
    pub max_unauthenticated_per_address: usize,
    /// Authentication attempts (PLAIN exchanges handed to the
    /// [`Authenticator`]) allowed per client address (IPv6: per /64) per
    /// minute; beyond, the attempt fails with `temporary-auth-failure` and
    /// the stream is closed. Default 10.
    pub auth_attempts_per_minute: u32,
    /// Failed SASL exchanges allowed on one connection before it is closed
    /// with `policy-violation`. Default 3.
    pub max_auth_failures: u32,
    /// Time a connection may take from accept to authentication, and again
    /// from authentication to binding; the time the [`Authenticator`] takes
    /// is not counted. Default 30 s.
    pub negotiation_timeout: Duration,
    /// Longest an [`Authenticator`] call may take before the attempt fails
    /// with `temporary-auth-failure`. Default 60 s (a legacy login can be
    /// slow).
    pub auth_timeout: Duration,
    /// A bound stream that sends nothing (whitespace counts) for this long
    /// is pinged (XEP-0199, or a XEP-0198 `<r/>`). Default 300 s.
    pub idle_timeout: Duration,
    /// After the ping, the client has this long to send anything before
    /// the stream is closed with `connection-timeout`. Default 60 s.
    pub ping_timeout: Duration,
    /// Longest a single write or flush to a client may take. Default 30 s.
    pub write_timeout: Duration,
    /// Capacity of each bound connection's outbound queue. Default 256.
    pub out_queue: usize,
    /// Top-level elements (stanzas, XEP-0198 requests) a bound client may send per
    /// second once its burst is spent; beyond, its stream is not read until the rate
    /// allows (TCP slows the client down, nothing is refused), as Prosody's `mod_limits`
    /// does per connection. Zero: no limit. Default 50.
    pub stanzas_per_second: f64,
    /// The burst of [`stanzas_per_second`](Self::stanzas_per_second): what a client may
    /// send at once (a login with its roster, disco and room joins). Default 200.
    pub stanza_burst: u32,
    /// Offer XEP-0198 stream management. Default true.
    pub stream_management: bool,
    /// Most stanzas sent but not yet acknowledged by a client with XEP-0198
    /// on; at this many the connection stops taking from its outbound
    /// queue until the client acknowledges. Default 500.
    pub sm_max_unacked: usize,
    /// How long a XEP-0198 session whose connection broke waits to be
    /// resumed; zero disables resumption. Default 300 s.
    pub sm_resume_timeout: Duration,
    /// Most sessions waiting to be resumed at once; a session that breaks
    /// beyond that is closed at once. Default 1024.
    pub max_detached: usize,
}

impl C2sConfig {
    /// A configuration with the defaults for `domains` and `tls`.
    pub fn new(domains: Vec<String>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self {
            domains,
            tls,
            allow_plaintext_on_loopback: false,
            limits: Limits::default(),
            max_unauthenticated: 256,
            max_unauthenticated_per_address: 32,
            auth_attempts_per_minute: 10,
            max_auth_failures: 3,
            negotiation_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            ping_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            out_queue: 256,
            stanzas_per_second: 50.0,
            stanza_burst: 200,
            stream_management: true,
            sm_max_unacked: 500,
            sm_resume_timeout: Duration::from_secs(300),
            max_detached: 1024,
        }
    }

    /// Whether `domain` is served (ASCII case-insensitive).
    #[must_use]
    pub fn serves(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

impl fmt::Debug for C2sConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("C2sConfig")
            .field("domains", &self.domains)
            .field("tls", &self.tls.is_some())
            .field(
                "allow_plaintext_on_loopback",
                &self.allow_plaintext_on_loopback,
            )
            .field("limits", &self.limits)
            .field("max_unauthenticated", &self.max_unauthenticated)
            .field(
                "max_unauthenticated_per_address",
                &self.max_unauthenticated_per_address,
            )
            .field("auth_attempts_per_minute", &self.auth_attempts_per_minute)
            .field("max_auth_failures", &self.max_auth_failures)
            .field("negotiation_timeout", &self.negotiation_timeout)
            .field("auth_timeout", &self.auth_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("ping_timeout", &self.ping_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("out_queue", &self.out_queue)
            .field("stanzas_per_second", &self.stanzas_per_second)
            .field("stanza_burst", &self.stanza_burst)
            .field("stream_management", &self.stream_management)
            .field("sm_max_unacked", &self.sm_max_unacked)
            .field("sm_resume_timeout", &self.sm_resume_timeout)
            .field("max_detached", &self.max_detached)
            .finish()
    }
}

/// Why a [`C2sConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No domain to serve.
    #[error("no domain to serve")]
    NoDomain,
    /// A served domain is not a valid JID domain.
    #[error("invalid domain {0:?}")]
    BadDomain(String),
    /// Neither TLS nor plain-text login on loopback: nobody could log in.
    #[error(
        "no TLS configuration and plain-text login on loopback not allowed: nobody could log in"
    )]
    NoLogin,
    /// A bound that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The stanza rate is negative or not a number.
    #[error("stanzas_per_second must be a number, zero or more")]
    BadRate,
}

/// Which kind of listener a connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Plain TCP; STARTTLS is offered (and required unless plain-text login
    /// on loopback is allowed and the client is on loopback).
    StartTls,
    /// XEP-0368 direct TLS: the TLS handshake comes first.
    DirectTls,
}

impl ListenMode {
    /// The name log lines give it.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenMode::StartTls => "starttls",
            ListenMode::DirectTls => "direct-tls",
        }
    }
}

/// Identifies one client connection (and, with XEP-0198 resumption, the
/// session that survives a new TCP connection). Unique per [`C2sServer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c2s-{}", self.0)
    }
}

/// What the application learns about a login attempt.
#[derive(Debug)]
pub struct AuthRequest {
    /// The SASL authentication identity as sent, e.g.
    /// `nick%irc.libera.chat`.
    pub username: String,
    /// The account the stream will be bound to: the username, normalized
    /// (nodeprep) as a JID localpart, at the domain the client connected to.
    pub jid: BareJid,
    /// The password (never printed; zeroed on drop). Do not keep it longer
    /// than the login needs.
    pub password: Password,
    /// The served domain the client connected to.
    pub domain: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the stream is encrypted (false only for loopback plain text).
    pub secure: bool,
}

/// Opaque value an [`Authenticator`] returns on success; handed back in
/// [`C2sEvent::Bound`] (e.g. the legacy session the login created).
pub type AuthToken = Box<dyn Any + Send>;

/// The result of a login attempt.
pub enum AuthOutcome {
    /// The credentials are good; the token comes back with the bound stream.
    Success(AuthToken),
    /// Wrong credentials: SASL `not-authorized` with this text.
    NotAuthorized(String),
    /// The check could not be made now (legacy network unreachable, ...):
    /// SASL `temporary-auth-failure` with this text.
    TemporaryFailure(String),
    /// The attempt was given up: SASL `aborted`.
    Aborted,
}

impl fmt::Debug for AuthOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthOutcome::Success(_) => f.write_str("Success(..)"),
            AuthOutcome::NotAuthorized(t) => f.debug_tuple("NotAuthorized").field(t).finish(),
            AuthOutcome::TemporaryFailure(t) => f.debug_tuple("TemporaryFailure").field(t).finish(),
            AuthOutcome::Aborted => f.write_str("Aborted"),
        }
    }
}

/// The future an [`Authenticator`] returns.
pub type AuthFuture = Pin<Box<dyn Future<Output = AuthOutcome> + Send>>;

/// Checks credentials; implemented by the application (the legacy login).
///
/// Calls are bounded by [`C2sConfig::auth_timeout`] and rate limited per
/// address. Closures `Fn(AuthRequest) -> impl Future<Output = AuthOutcome>`
/// implement it.
pub trait Authenticator: Send + Sync + 'static {
    /// Check `req`; the future must not borrow `self`.
    fn authenticate(&self, req: AuthRequest) -> AuthFuture;
}

impl<F, Fut> Authenticator for F
where
    F: Fn(AuthRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AuthOutcome> + Send + 'static,
{
    fn authenticate(&self, req: AuthRequest) -> AuthFuture {
        Box::pin(self(req))
    }
}

/// Why a bound connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed its stream.
    ClientClosed,
    /// The application closed it ([`C2sHandle::close`] or dropped every
    /// sender of its queue).
    ClosedByApplication,
    /// Another login bound the same full JID (the old one got `conflict`).
    Replaced,
    /// The client did not answer the idle ping.
    Idle,
    /// The client broke the protocol; holds the stream error sent.
    ProtocolError(String),
    /// The connection failed (reset, write timeout, ...).
    ConnectionLost(String),
    /// The connection failed and the XEP-0198 session was not resumed in
    /// time.
    ResumeExpired,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ClientClosed => f.write_str("client closed the stream"),
            CloseReason::ClosedByApplication => f.write_str("closed by the gateway"),
            CloseReason::Replaced => f.write_str("replaced by a new login with the same resource"),
            CloseReason::Idle => f.write_str("client did not answer the idle ping"),
            CloseReason::ProtocolError(e) => write!(f, "protocol error: {e}"),
            CloseReason::ConnectionLost(e) => write!(f, "connection lost: {e}"),
            CloseReason::ResumeExpired => {
                f.write_str("connection lost and the session was not resumed in time")
            }
        }
    }
}

/// What the listener reports to the application, in order per connection:
/// `Bound`, then `Stanza`s (and `Resumed` after a XEP-0198 resumption),
/// then `Closed`.
#[derive(Debug)]
pub enum C2sEvent {
    /// A client authenticated and bound a resource.
    Bound {
        /// The connection.
        conn: ConnId,
        /// The full JID bound.
        jid: FullJid,
        /// What the [`Authenticator`] returned.
        token: AuthToken,
        /// Where to send stanzas to this client, and how to close it.
        handle: C2sHandle,
    },
    /// A stanza from the client: a `message`, `presence` or `iq` in
    /// `jabber:client`, with `from` set to the bound full JID by the server
    /// (whatever the client wrote there, RFC 6120 section 8.1.2.1).
    Stanza {
        /// The connection.
        conn: ConnId,
        /// The stanza.
        stanza: Element,
        /// When it was read from the client (where the gateway's message latency starts).
        read_at: std::time::Instant,
        /// With XEP-0198, the stanza's receipt: the client's `<r/>` is answered with an
        /// `h` that covers it only once this is dropped, so drop it when the stanza is
        /// handled (passed on, kept, or refused), not before.
        handled: Option<crate::handled::Handled>,
    },
    /// The client resumed the XEP-0198 session of `conn` on a new TCP
    /// connection after logging in again; `token` is what the
    /// [`Authenticator`] returned for that new login (the original one
    /// from `Bound` stays in force).
    Resumed {
        /// The connection (the same id as before).
        conn: ConnId,
        /// The new login's token.
        token: AuthToken,
    },
    /// The client has the stanzas the application marked with these [`Outgoing::delivery`]
    /// numbers: it acknowledged them (XEP-0198), or, without stream management, they were
    /// written to its connection (all a server can know then). In the order sent.
    Delivered {
        /// The connection.
        conn: ConnId,
        /// The marks of the stanzas now delivered.
        deliveries: Vec<u64>,
    },
    /// The connection is gone for good; `handle`s of it no longer deliver.
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
        /// Stanzas for the client that it did not acknowledge (XEP-0198) or
        /// that were still queued, oldest first, with their marks: the application may
        /// bounce or store them (RFC 6120 section 10 / XEP-0198 section 5).
        undelivered: Vec<Outgoing>,
    },
}

/// A stanza for a client, with the application's mark when it wants to hear that the
/// client has it ([`C2sEvent::Delivered`]): how a server keeps a message in its store
/// until the client acknowledges it, so a crash in between loses nothing.
#[derive(Debug)]
pub struct Outgoing {
    /// The stanza, in `jabber:client`.
    pub stanza: Element,
    /// The application's number for it, reported back once delivered; `None`: not tracked.
    pub delivery: Option<u64>,
}

impl From<Element> for Outgoing {
    fn from(stanza: Element) -> Self {
        Outgoing {
            stanza,
            delivery: None,
        }
    }
}

/// Control messages to a connection task.
#[derive(Debug)]
enum Control {
    /// Close with a stream error (`None`: a plain `</stream:stream>`).
    Close {
        condition: Option<&'static str>,
        text: Option<String>,
        reason: CloseReason,
    },
    /// Another stream resumed this session: hand it over.
    Takeover(tokio::sync::oneshot::Sender<Box<session::Session>>),
}

/// The application's side of a bound connection.
#[derive(Debug, Clone)]
pub struct C2sHandle {
    /// The connection.
    pub conn: ConnId,
    /// The bound full JID.
    pub jid: FullJid,
    /// Stanzas to the client, in `jabber:client` (bounded: wait or drop
    /// when full; never block the task that reads [`C2sEvent`]s on it for
    /// long). Set `to` yourself; the server writes what it gets. An [`Element`]
    /// converts (`.into()`) to an untracked [`Outgoing`].
    pub out: mpsc::Sender<Outgoing>,
    ctl: mpsc::Sender<Control>,
}

impl C2sHandle {
    /// Close the stream with stream error `condition` (an RFC 6120
    /// condition such as `system-shutdown`, `policy-violation`) and an
    /// optional text, or with a plain close when `condition` is `None`.
    /// Returns false when the connection's task is gone or its control queue is full; a
    /// second call while the first close is under way is queued again and returns true,
    /// so a caller that must close once keeps its own mark (as the server-mode router does).
    pub fn close(&self, condition: Option<&'static str>, text: Option<String>) -> bool {
        self.ctl
            .try_send(Control::Close {
                condition,
                text,
                reason: CloseReason::ClosedByApplication,
            })
            .is_ok()
    }
}

/// The listener's shared state: configuration, caps and registries.
struct Shared {
    cfg: C2sConfig,
    auth: Box<dyn Authenticator>,
    events: mpsc::Sender<C2sEvent>,
    unauth: limiter::Unauthenticated,
    limiter: Mutex<limiter::RateLimiter>,
    next_conn: AtomicU64,
    /// Bound full JIDs, to replace an older login of the same resource.
    bound: Mutex<HashMap<FullJid, BoundEntry>>,
    /// XEP-0198 sessions by stream management id.
    resume: Mutex<HashMap<String, session::ResumeSlot>>,
}

struct BoundEntry {
    conn: ConnId,
    ctl: mpsc::Sender<Control>,
    sm_id: Option<String>,
}

/// Lock a mutex, recovering from poisoning (the data is simple maps whose
/// invariants a panic elsewhere cannot break).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The c2s server: listeners and connection tasks share it. Cheap to clone.
#[derive(Clone)]
pub struct C2sServer {
    shared: Arc<Shared>,
}

impl fmt::Debug for C2sServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("C2sServer")
            .field("cfg", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl C2sServer {
    /// Check `cfg` and build the server; events go to `events`.
    pub fn new(
        cfg: C2sConfig,
        auth: impl Authenticator,
        events: mpsc::Sender<C2sEvent>,
    ) -> Result<Self, ConfigError> {
        if cfg.domains.is_empty() {
            return Err(ConfigError::NoDomain);
        }
        for d in &cfg.domains {
            if jid::DomainPart::new(d).is_err() {
                return Err(ConfigError::BadDomain(d.clone()));
            }
        }
        if cfg.tls.is_none() && !cfg.allow_plaintext_on_loopback {
            return Err(ConfigError::NoLogin);
        }
        for (name, v) in [
            ("max_unauthenticated", cfg.max_unauthenticated),
            (
                "max_unauthenticated_per_address",
                cfg.max_unauthenticated_per_address,
            ),
            ("out_queue", cfg.out_queue),
            ("sm_max_unacked", cfg.sm_max_unacked),
            ("limits.max_stanza_bytes", cfg.limits.max_stanza_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if !cfg.stanzas_per_second.is_finite() || cfg.stanzas_per_second < 0.0 {
            return Err(ConfigError::BadRate);
        }
        if cfg.auth_attempts_per_minute == 0 {
            return Err(ConfigError::Zero("auth_attempts_per_minute"));
        }
        let limiter = limiter::RateLimiter::new(
            cfg.auth_attempts_per_minute,
            Duration::from_secs(60),
            limiter::MAX_TRACKED,
        );
        Ok(Self {
            shared: Arc::new(Shared {
                unauth: limiter::Unauthenticated::new(
                    cfg.max_unauthenticated,
                    cfg.max_unauthenticated_per_address,
                ),
                cfg,
                auth: Box::new(auth),
                events,
                limiter: Mutex::new(limiter),
                next_conn: AtomicU64::new(1),
                bound: Mutex::new(HashMap::new()),
                resume: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration in use.
    #[must_use]
    pub fn config(&self) -> &C2sConfig {
        &self.shared.cfg
    }

    /// Connections accepted and not yet authenticated.
    #[must_use]
    pub fn unauthenticated(&self) -> usize {
        self.shared.unauth.in_use()
    }

    /// Bound full JIDs right now (including sessions waiting for XEP-0198
    /// resumption).
    #[must_use]
    pub fn bound(&self) -> usize {
        lock(&self.shared.bound).len()
    }

    /// Close every bound stream with the stream error `condition` (e.g.
    /// `system-shutdown`) and end the sessions waiting for XEP-0198
    /// resumption; each reports [`C2sEvent::Closed`]. Connections still
    /// negotiating are not affected (abort the listeners first).
    pub async fn close_all(&self, condition: &'static str, text: Option<String>) {
        let ctls: Vec<mpsc::Sender<Control>> = lock(&self.shared.bound)
            .values()
            .map(|e| e.ctl.clone())
            .collect();
        for ctl in ctls {
            let _ = ctl.try_send(Control::Close {
                condition: Some(condition),
                text: text.clone(),
                reason: CloseReason::ClosedByApplication,
            });
        }
        session::finish_detached(&self.shared).await;
    }

    /// Accept connections from `listener` until the task is aborted.
    pub fn spawn_listener(&self, listener: TcpListener, mode: ListenMode) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.serve(listener, mode).await })
    }

    /// Accept connections from `listener` forever (one task each).
    pub async fn serve(&self, listener: TcpListener, mode: ListenMode) {
        // Display, not Debug: the log shows `127.0.0.1:5222`, not `Some(127.0.0.1:5222)`.
        let local = listener
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        tracing::info!(%local, mode = %mode.as_str(), "c2s listener up");
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    self.accept(tcp, peer, mode);
                }
                Err(e) => {
                    // Usually out of file descriptors: back off briefly
                    // instead of spinning.
                    tracing::warn!(%local, error = %e, "c2s accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Run the stream of one accepted connection in its own task.
    pub fn accept(&self, tcp: TcpStream, peer: SocketAddr, mode: ListenMode) -> JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move { negotiate::run_connection(shared, tcp, peer, mode).await })
    }

    /// Runs the stream of one connection over an in-memory stream, as if accepted from
    /// `peer` on a STARTTLS listener (STARTTLS itself fails): negotiation, binding and the
    /// bound stream, until the stream ends. For the fuzz targets only.
    #[cfg(feature = "fuzzing")]
    pub async fn serve_memory(&self, io: tokio::io::DuplexStream, peer: SocketAddr) {
        negotiate::run_memory(self.shared.clone(), io, peer).await;
    }
}

/// The transport of a c2s stream: plain TCP or TLS over TCP.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// An in-memory stream ([`C2sServer::serve_memory`], for the fuzz targets).
    #[cfg(feature = "fuzzing")]
    Memory(tokio::io::DuplexStream),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "fuzzing")]
            Io::Memory(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "fuzzing")]
            Io::Memory(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "fuzzing")]
            Io::Memory(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "fuzzing")]
            Io::Memory(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A reader wrapper that counts bytes, so whitespace keepalives (which the
/// stream reader consumes silently) count as activity.
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        this.bytes = this.bytes.wrapping_add(read as u64);
        res
    }
}

/// The instant `d` from now, saturating (a configured timeout of years must
/// not overflow the clock arithmetic).
fn after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Set an unprefixed attribute (names here are constants, always valid).
fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    if let Ok(name) = rxml::NcName::try_from(name) {
        el.attrs_mut()
            .insert(rxml::Namespace::NONE, name, value.into());
    }
}

/// A random identifier of `len` alphanumeric characters (stream ids,
/// generated resources, XEP-0198 ids).
fn random_id(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked() {
        let ok = |cfg: C2sConfig| {
            let (tx, _rx) = mpsc::channel(1);
            C2sServer::new(cfg, |_req: AuthRequest| async { AuthOutcome::Aborted }, tx).map(|_| ())
        };
        assert_eq!(ok(C2sConfig::new(vec![], None)), Err(ConfigError::NoDomain));
        assert_eq!(
            ok(C2sConfig::new(vec!["a b".into()], None)),
            Err(ConfigError::BadDomain("a b".into()))
        );
        assert_eq!(
            ok(C2sConfig::new(vec!["example.org".into()], None)),
            Err(ConfigError::NoLogin)
        );
        let mut cfg = C2sConfig::new(vec!["example.org".into()], None);
        cfg.allow_plaintext_on_loopback = true;
        assert_eq!(ok(cfg.clone()), Ok(()));
        cfg.out_queue = 0;
        assert_eq!(ok(cfg), Err(ConfigError::Zero("out_queue")));
        assert!(C2sConfig::new(vec!["Example.ORG".into()], None).serves("example.org"));
    }
}
