//! The XEP-0114 component link to the host XMPP server.
//!
//! Why a hand-written link: tokio-xmpp's `Component` needs xmpp-parsers'
//! `component` feature, which switches every typed stanza to
//! `jabber:component:accept` for the whole binary (its `ns::DEFAULT_NS`
//! changes) and so breaks the typed `jabber:client` stanzas of the c2s server
//! (seen with xmpp-parsers 0.23). Here the link speaks the component protocol
//! on the wire and hands `jabber:client` stanzas to the rest of Pontoon:
//! the reader builds them in `jabber:client`
//! ([`StreamReader::map_content_ns`](crate::reader::StreamReader::map_content_ns))
//! and the writer writes them in `jabber:component:accept`
//! ([`crate::writer::serialize_into_ns`]), so no stanza is copied to change
//! its namespace.
//!
//! The link is one task ([`spawn_link`]) that keeps one connection up:
//! connect (with timeout), open the stream, authenticate with the
//! handshake, then pump stanzas both ways until something fails, and
//! reconnect after a capped exponential backoff with jitter. Reading and
//! writing run concurrently so a slow write never stops reads; inbound
//! stanzas are only read when the `inbound` channel has room (back-pressure
//! reaches the server through TCP), outbound stanzas wait in the `outbound`
//! channel while the link is down. A stanza taken from `outbound` while the
//! connection dies may be lost: XEP-0114 has no acknowledgements.
//!
//! The link never waits for room in `inbound` except to read more from the
//! socket: `Up` is handed over by the read side before the first stanza
//! (writing goes on meanwhile), and `Down` is dropped when `inbound` is
//! full, so a consumer blocked on a full `outbound` cannot deadlock it.
//! Writes are batched (at most 64 stanzas or 64 KiB per flush) and every
//! write and flush has its own timeout. A stanza from the server that goes
//! over [`Limits`] after its start tag is skipped by the reader and bounced
//! to its sender with a `policy-violation` stanza error; the link stays up.

use std::fmt;
use std::io;
use std::time::Duration;

use minidom::Element;
use rand::Rng;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::limits::Limits;
use crate::ns;
use crate::outgoing::OutStanza;
use crate::reader::{Frame, ReadError, SkipReason, StreamHeader, StreamReader, parse_stream_error};
use crate::writer;

/// A link that stayed up at least this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a single write or flush may take before the link is
/// considered dead (the peer stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A batch of stanzas written before one flush is cut after this many
/// stanzas...
const BATCH_MAX_STANZAS: usize = 64;
/// ... or after this many bytes.
const BATCH_MAX_BYTES: usize = 64 * 1024;
/// Capacity of the queue of error replies to skipped (over-limit) stanzas;
/// when it is full, further replies are dropped.
const REPLY_QUEUE: usize = 32;
/// How long to wait for the peer's `</stream:stream>` on shutdown, and for
/// writing farewell stream errors.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Granularity of checks for closed channels while waiting to reconnect.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Scratch serialization buffers above this capacity are released.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Configuration of one component link.
#[derive(Clone)]
pub struct ComponentConfig {
    /// Host name or address of the XMPP server's component port.
    pub host: String,
    /// The component port (5347 by convention).
    pub port: u16,
    /// The component's domain, e.g. `irc.example.org`.
    pub domain: String,
    /// The shared secret. Never logged; redacted in `Debug`.
    pub secret: String,
    /// Limits on what the server may send.
    pub limits: Limits,
    /// First reconnection delay (default 1 s).
    pub backoff_initial: Duration,
    /// Largest reconnection delay (default 60 s).
    pub backoff_max: Duration,
    /// Timeout for the TCP connect and, separately, for the handshake
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// How often a standby instance tries to take the link over while another instance
    /// holds it (the server answered `conflict`; default 2 s, with jitter).
    pub standby_retry: Duration,
}

impl ComponentConfig {
    /// A configuration with default limits, backoff and timeout.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        domain: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            domain: domain.into(),
            secret: secret.into(),
            limits: Limits::default(),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            standby_retry: Duration::from_secs(2),
        }
    }

    /// The reconnection delay before attempt number `failures` (1-based):
    /// `backoff_initial * 2^(failures-1)` capped at `backoff_max`, with
    /// "equal jitter" (uniform in the upper half of that value).
    #[must_use]
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self
            .backoff_initial
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max);
        let half = base / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_ns == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ns)
        };
        half + Duration::from_nanos(jitter)
    }
}

impl fmt::Debug for ComponentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("domain", &self.domain)
            .field("secret", &"<redacted>")
            .field("limits", &self.limits)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// What the link reports to the rest of Pontoon.
#[derive(Debug, PartialEq)]
pub enum LinkEvent {
    /// The link is authenticated; stanzas flow.
    Up,
    /// The link went down (it was `Up` before); it reconnects by itself.
    Down {
        /// Human-readable cause, for logs and the console.
        reason: String,
    },
    /// The server refused the link because another connection holds the component's domain
    /// (`conflict`: another instance of the gateway is active; Prosody's default
    /// `component_conflict_resolve = "kick_new"`). The link stands by, trying again every
    /// `standby_retry`, and takes over when the other one is gone. Sent once per standby.
    Standby,
    /// A stanza from the server, already in `jabber:client`, when it was read (where the
    /// gateway's message latency starts), and, from a server-mode client with XEP-0198,
    /// its receipt ([`crate::handled`]: dropped once the stanza is handled). A component
    /// link has no acknowledgements: `None`.
    Stanza(Element, std::time::Instant, Option<crate::handled::Handled>),
}

/// Why establishing a component connection failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The TCP connection was refused (server down, wrong port).
    #[error("connection refused: {0}")]
    Refused(io::Error),
    /// Connecting or the handshake took longer than `connect_timeout`.
    #[error("timed out")]
    Timeout,
    /// The server rejected the component: `not-authorized` (wrong secret)
    /// or `host-unknown` (no such component configured). Holds the stream
    /// error condition and text.
    #[error("rejected by the server: {0}")]
    Auth(String),
    /// The server broke the protocol (bad header, unexpected element, a
    /// stream error other than the above, malformed XML, ...).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Any other I/O error (DNS resolution, connection reset, ...).
    #[error("I/O error: {0}")]
    Io(io::Error),
    /// Another connection holds the component's domain (stream error `conflict`).
    #[error("another connection holds the domain: {0}")]
    Conflict(String),
}

impl From<ReadError> for LinkError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => LinkError::Io(e),
            ReadError::UnexpectedEof => LinkError::Protocol("server closed the connection".into()),
            other => LinkError::Protocol(other.to_string()),
        }
    }
}

/// An authenticated component stream, as returned by [`connect_once`].
#[derive(Debug)]
pub struct ComponentStream {
    /// The reader, positioned after the server's `<handshake/>`.
    pub reader: StreamReader<OwnedReadHalf>,
    /// The buffered writer half (flush after writing).
    pub writer: BufWriter<OwnedWriteHalf>,
    /// The stream id the server chose.
    pub stream_id: String,
}

/// The XEP-0114 handshake value: lowercase hex of SHA-1(stream id + secret).
#[must_use]
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(stream_id.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Connect, open the stream and authenticate once (no retries).
pub async fn connect_once(cfg: &ComponentConfig) -> Result<ComponentStream, LinkError> {
    let tcp = match timeout(
        cfg.connect_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    {
        Err(_) => return Err(LinkError::Timeout),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(LinkError::Refused(e));
        }
        Ok(Err(e)) => return Err(LinkError::Io(e)),
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let (r, w) = tcp.into_split();
    let mut reader = server_reader(r, cfg);
    let mut writer = BufWriter::new(w);
    match timeout(
        cfg.connect_timeout,
        handshake(cfg, &mut reader, &mut writer),
    )
    .await
    {
        Err(_) => Err(LinkError::Timeout),
        Ok(Err(e)) => Err(e),
        Ok(Ok(stream_id)) => Ok(ComponentStream {
            reader,
            writer,
            stream_id,
        }),
    }
}

async fn handshake<R, W>(
    cfg: &ComponentConfig,
    reader: &mut StreamReader<R>,
    writer: &mut W,
) -> Result<String, LinkError>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let header = StreamHeader {
        to: Some(cfg.domain.clone()),
        default_ns: ns::COMPONENT_ACCEPT.to_owned(),
        ..StreamHeader::default()
    };
    writer
        .write_all(&writer::open_stream(&header))
        .await
        .map_err(LinkError::Io)?;
    writer.flush().await.map_err(LinkError::Io)?;

    // The reader yields the header first or fails.
    let Frame::Header(h) = reader.next().await? else {
        return Err(LinkError::Protocol("expected a stream header".into()));
    };
    if h.default_ns != ns::COMPONENT_ACCEPT {
        return Err(LinkError::Protocol(format!(
            "server stream namespace is {:?}, expected {}",
            h.default_ns,
            ns::COMPONENT_ACCEPT
        )));
    }
    let Some(id) = h.id else {
        // The server may still explain itself with a stream error.
        if let Ok(Frame::Stanza(el)) = reader.next().await
            && let Some(e) = parse_stream_error(&el)
        {
            return Err(stream_error_to_link_error(&e));
        }
        return Err(LinkError::Protocol("stream header without id".into()));
    };

    let mut hs = Element::bare("handshake", ns::COMPONENT_ACCEPT);
    hs.append_text(handshake_digest(&id, &cfg.secret));
    let bytes = writer::serialize(&hs).map_err(|e| LinkError::Protocol(e.to_string()))?;
    writer.write_all(&bytes).await.map_err(LinkError::Io)?;
    writer.flush().await.map_err(LinkError::Io)?;

    loop {
        match reader.next().await? {
            // In jabber:client when it inherits the stream's namespace (`map_content_ns`).
            Frame::Stanza(el)
                if el.is("handshake", ns::CLIENT) || el.is("handshake", ns::COMPONENT_ACCEPT) =>
            {
                return Ok(id);
            }
            Frame::Stanza(el) => {
                if let Some(e) = parse_stream_error(&el) {
                    return Err(stream_error_to_link_error(&e));
                }
                if el.has_ns(ns::STREAMS) {
                    // e.g. <stream:features/>: not used by XEP-0114, skip.
                    continue;
                }
                return Err(LinkError::Protocol(format!(
                    "unexpected <{}/> before the handshake reply",
                    el.name()
                )));
            }
            Frame::Skipped { name, reason, .. } => {
                return Err(LinkError::Protocol(format!(
                    "unexpected <{name}/> before the handshake reply ({reason})"
                )));
            }
            Frame::Header(_) => return Err(LinkError::Protocol("second stream header".into())),
            Frame::End => return Err(LinkError::Protocol("server closed the stream".into())),
        }
    }
}

/// The XEP-0114 handshake of `cfg` against a server that answers over `io`; the stream id
/// on success. For the fuzz targets only.
#[cfg(feature = "fuzzing")]
pub async fn handshake_over(
    cfg: &ComponentConfig,
    io: tokio::io::DuplexStream,
) -> Result<String, LinkError> {
    let (r, mut w) = tokio::io::split(io);
    let mut reader = server_reader(r, cfg);
    handshake(cfg, &mut reader, &mut w).await
}

/// The reader of what the XMPP server sends, with `cfg`'s limits.
fn server_reader<R: tokio::io::AsyncRead + Unpin>(io: R, cfg: &ComponentConfig) -> StreamReader<R> {
    let mut reader = StreamReader::new(io, cfg.limits);
    // Stanzas are built in jabber:client directly (what `inbound_stanza` hands on).
    reader.map_content_ns(ns::COMPONENT_ACCEPT, ns::CLIENT);
    reader
}

fn stream_error_to_link_error(e: &crate::reader::PeerStreamError) -> LinkError {
    match e.condition.as_str() {
        "not-authorized" | "host-unknown" | "improper-addressing" => LinkError::Auth(e.to_string()),
        "conflict" => LinkError::Conflict(e.to_string()),
        _ => LinkError::Protocol(format!("stream error: {e}")),
    }
}

/// Start the link task. It runs until `outbound` is closed (all senders
/// dropped: queued stanzas are written, the stream is closed, and the peer
/// gets up to 2 s to close its side) or `inbound` is closed.
///
/// `inbound` receives [`LinkEvent::Up`] after each successful handshake,
/// [`LinkEvent::Stanza`] for every stanza (in `jabber:client`), and
/// [`LinkEvent::Down`] when an established link fails (dropped if
/// `inbound` is full at that moment). Stanzas sent to
/// `outbound` must be in `jabber:client`; they are written in
/// `jabber:component:accept`. While the link is down they wait in the
/// channel.
pub fn spawn_link(
    cfg: ComponentConfig,
    inbound: mpsc::Sender<LinkEvent>,
    outbound: mpsc::Receiver<OutStanza>,
) -> JoinHandle<()> {
    tokio::spawn(run_link(cfg, inbound, outbound))
}

enum PumpEnd {
    /// The link failed; reconnect.
    Down(String),
    /// Orderly shutdown (outbound closed or inbound closed); stop.
    Stop,
}

async fn run_link(
    cfg: ComponentConfig,
    inbound: mpsc::Sender<LinkEvent>,
    mut outbound: mpsc::Receiver<OutStanza>,
) {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let domain = cfg.domain.as_str();
    let mut failures: u32 = 0;
    // Another instance holds the domain (`LinkEvent::Standby` was sent).
    let mut standby = false;
    loop {
        if inbound.is_closed() {
            tracing::debug!(%addr, domain, "component link: inbound closed, stopping");
            return;
        }
        if outbound.is_closed() && outbound.is_empty() {
            tracing::debug!(%addr, domain, "component link: outbound closed, stopping");
            return;
        }
        match connect_once(&cfg).await {
            Ok(stream) => {
                if std::mem::take(&mut standby) {
                    tracing::info!(%addr, %domain, "component link taken over from the instance that held it");
                }
                tracing::info!(%addr, %domain, "component link up");
                // `Up` is delivered by the read side of the pump, before any
                // stanza: the link never waits for room in `inbound` while
                // it could be writing (the consumer may be blocked on a
                // full `outbound`).
                let mut pending_up = true;
                let up_since = Instant::now();
                let end = pump(
                    stream,
                    &inbound,
                    &mut outbound,
                    &mut pending_up,
                    WRITE_TIMEOUT,
                )
                .await;
                match end {
                    PumpEnd::Stop => {
                        tracing::info!(%addr, domain, "component link closed");
                        return;
                    }
                    PumpEnd::Down(reason) => {
                        tracing::warn!(%addr, domain, %reason, "component link down");
                        // `Down` only follows a delivered `Up`, and is
                        // informational: never wait for room for it.
                        if !pending_up {
                            match inbound.try_send(LinkEvent::Down { reason }) {
                                Ok(()) => {}
                                Err(mpsc::error::TrySendError::Full(_)) => tracing::debug!(
                                    %addr, domain,
                                    "component link: inbound full, Down event not delivered"
                                ),
                                Err(mpsc::error::TrySendError::Closed(_)) => return,
                            }
                        }
                        if up_since.elapsed() >= STABLE_AFTER {
                            failures = 0;
                        }
                    }
                }
            }
            Err(LinkError::Conflict(why)) => {
                if !standby {
                    tracing::info!(%addr, domain, reason = %why, "component link: another instance holds the domain; standing by");
                    standby = true;
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        inbound.try_send(LinkEvent::Standby)
                    {
                        return;
                    }
                }
                let jitter = rand::rng().random_range(0.75..1.25);
                if !idle(cfg.standby_retry.mul_f64(jitter), &inbound, &outbound).await {
                    return;
                }
                // What this instance's sessions said as they ended is for users the active
                // instance serves now: not sent later, when this one takes over.
                let mut dropped = 0usize;
                while outbound.try_recv().is_ok() {
                    dropped += 1;
                }
                if dropped > 0 {
                    tracing::debug!(%addr, domain, dropped, "component link: standing by; stanzas for the active instance's users dropped");
                }
                continue;
            }
            Err(e) => log_connect_error(&addr, domain, &e),
        }
        failures = failures.saturating_add(1);
        let delay = cfg.backoff(failures);
        tracing::debug!(%addr, domain, ?delay, failures, "component link: reconnecting later");
        if !idle(delay, &inbound, &outbound).await {
            if !outbound.is_empty() {
                tracing::warn!(
                    %addr, domain, dropped = outbound.len(),
                    "component link stopped while down; queued stanzas not delivered"
                );
            }
            return;
        }
    }
}

fn log_connect_error(addr: &str, domain: &str, e: &LinkError) {
    match e {
        LinkError::Refused(err) => tracing::error!(
            %addr, domain, error = %err,
            "component link: connection refused; is the XMPP server running with its component port open?"
        ),
        LinkError::Auth(cond) if cond.starts_with("not-authorized") => tracing::error!(
            %addr, domain, condition = %cond,
            "component link: server rejected the handshake; is the component secret right?"
        ),
        LinkError::Auth(cond) => tracing::error!(
            %addr, domain, condition = %cond,
            "component link: server does not accept this component; is it configured there (e.g. Prosody `Component \"{domain}\"`)?"
        ),
        LinkError::Timeout => {
            tracing::error!(%addr, domain, "component link: connect or handshake timed out")
        }
        LinkError::Protocol(msg) => {
            tracing::warn!(%addr, domain, error = %msg, "component link: protocol error")
        }
        LinkError::Io(err) => {
            tracing::warn!(%addr, domain, error = %err, "component link: I/O error")
        }
        LinkError::Conflict(why) => {
            tracing::info!(%addr, domain, reason = %why, "component link: another connection holds the domain")
        }
    }
}

/// Wait `delay`, returning false early if a channel closes (stop the link).
async fn idle(
    delay: Duration,
    inbound: &mpsc::Sender<LinkEvent>,
    outbound: &mpsc::Receiver<OutStanza>,
) -> bool {
    let until = Instant::now() + delay;
    loop {
        if inbound.is_closed() || outbound.is_closed() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        tokio::time::sleep((until - now).min(IDLE_POLL)).await;
    }
}

enum ReadEnd {
    PeerClosed,
    PeerError(String),
    Error(ReadError),
    InboundClosed,
}

enum WriteEnd {
    /// `outbound` closed; everything queued and `</stream:stream>` written.
    Closed,
    Failed(String),
}

/// A stanza from the server in `jabber:component:accept`, as a
/// `jabber:client` [`LinkEvent`]; `None` for other elements.
fn inbound_stanza(el: Element) -> Option<LinkEvent> {
    if !matches!(el.name(), "message" | "presence" | "iq") {
        return None;
    }
    let read_at = std::time::Instant::now();
    if el.has_ns(ns::CLIENT) {
        // Inherited the stream's namespace: the reader built it in jabber:client already.
        Some(LinkEvent::Stanza(el, read_at, None))
    } else if el.has_ns(ns::COMPONENT_ACCEPT) {
        // Declared jabber:component:accept itself.
        Some(LinkEvent::Stanza(
            ns::rewrite_ns(el, ns::COMPONENT_ACCEPT, ns::CLIENT),
            read_at,
            None,
        ))
    } else {
        None
    }
}

/// The `policy-violation` error reply (in `jabber:client`) to a stanza the
/// reader skipped, or `None` when none is due (not a stanza, or an error).
fn skipped_reply(frame: &Frame) -> Option<Element> {
    let Frame::Skipped {
        name,
        ns: el_ns,
        from,
        to,
        id,
        kind,
        reason,
    } = frame
    else {
        return None;
    };
    if el_ns != ns::COMPONENT_ACCEPT || !matches!(name.as_str(), "message" | "presence" | "iq") {
        return None;
    }
    // A minimal copy of the start tag, enough for `error_reply`.
    let mut head = Element::bare(name.as_str(), ns::CLIENT);
    for (attr, value) in [("from", from), ("to", to), ("id", id), ("type", kind)] {
        if let (Some(value), Ok(attr)) = (value, rxml::NcName::try_from(attr)) {
            head.attrs_mut()
                .insert(rxml::Namespace::NONE, attr, value.clone());
        }
    }
    let text = match reason {
        SkipReason::TooLarge { limit } => format!("Stanza too large (limit {limit} bytes)"),
        SkipReason::TooDeep { .. } => "Stanza nested too deeply".to_owned(),
        SkipReason::TooManyAttributes { .. } => "Stanza has too many attributes".to_owned(),
    };
    crate::stanza::error_reply(&head, "modify", "policy-violation", Some(&text))
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut StreamReader<R>,
    inbound: &mpsc::Sender<LinkEvent>,
    replies: &mpsc::Sender<Element>,
    pending_up: &mut bool,
) -> ReadEnd {
    loop {
        // Reserve room first: while the consumer is behind we stop reading,
        // which pushes back on the server through TCP. Writing goes on
        // meanwhile (the write loop runs concurrently). Both awaits are
        // cancel-safe, so nothing is lost when the pump stops.
        let Ok(permit) = inbound.reserve().await else {
            return ReadEnd::InboundClosed;
        };
        if *pending_up {
            permit.send(LinkEvent::Up);
            *pending_up = false;
            continue;
        }
        match reader.next().await {
            Ok(Frame::Stanza(el)) => {
                if let Some(e) = parse_stream_error(&el) {
                    return ReadEnd::PeerError(e.to_string());
                }
                let name = el.name().to_owned();
                let el_ns = el.ns();
                match inbound_stanza(el) {
                    Some(ev) => permit.send(ev),
                    None => tracing::debug!(
                        name, ns = %el_ns,
                        "component link: ignoring non-stanza element"
                    ),
                }
            }
            Ok(frame @ Frame::Skipped { .. }) => {
                if let Frame::Skipped {
                    name,
                    from,
                    to,
                    reason,
                    ..
                } = &frame
                {
                    tracing::warn!(
                        name,
                        from = from.as_deref().unwrap_or(""),
                        to = to.as_deref().unwrap_or(""),
                        %reason,
                        "component link: skipped an over-limit stanza from the server"
                    );
                }
                if let Some(reply) = skipped_reply(&frame)
                    && replies.try_send(reply).is_err()
                {
                    tracing::debug!("component link: error reply queue full, reply dropped");
                }
            }
            Ok(Frame::End) => return ReadEnd::PeerClosed,
            Ok(Frame::Header(_)) => {
                return ReadEnd::Error(ReadError::BadFormat("second stream header".into()));
            }
            Err(e) => return ReadEnd::Error(e),
        }
    }
}

/// Run `fut` (a write or flush) with `limit`, mapping both failures to a
/// reason for [`WriteEnd::Failed`].
async fn timed<F>(limit: Duration, fut: F) -> Result<(), String>
where
    F: std::future::Future<Output = io::Result<()>>,
{
    match timeout(limit, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err("write timed out (server not reading)".into()),
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    outbound: &mut mpsc::Receiver<OutStanza>,
    replies: &mut mpsc::Receiver<Element>,
    write_timeout: Duration,
) -> WriteEnd {
    let mut scratch = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            Some(reply) = replies.recv() => Some(OutStanza::Element(reply)),
            el = outbound.recv() => el,
        };
        let Some(first) = first else {
            let res = async {
                timed(write_timeout, writer.write_all(writer::STREAM_CLOSE)).await?;
                timed(write_timeout, writer.flush()).await
            }
            .await;
            return match res {
                Ok(()) => WriteEnd::Closed,
                Err(reason) => WriteEnd::Failed(reason),
            };
        };
        // Batch what is queued right now, up to a bound, then flush. Each
        // write and flush has its own timeout: a peer that keeps reading is
        // never timed out, however long the traffic lasts.
        let mut count = 0usize;
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some(el) = next {
            scratch.clear();
            // Written in the component namespace as it is serialized (no copy of the element).
            match el.write_ns(ns::CLIENT, ns::COMPONENT_ACCEPT, &mut scratch) {
                Ok(()) => {
                    if let Err(reason) = timed(write_timeout, writer.write_all(&scratch)).await {
                        return WriteEnd::Failed(reason);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, name = el.name(), "component link: dropping unserializable stanza")
                }
            }
            count += 1;
            bytes = bytes.saturating_add(scratch.len());
            if count >= BATCH_MAX_STANZAS || bytes >= BATCH_MAX_BYTES {
                break;
            }
            next = replies
                .try_recv()
                .ok()
                .map(OutStanza::Element)
                .or_else(|| outbound.try_recv().ok());
        }
        if scratch.capacity() > SCRATCH_KEEP {
            scratch = Vec::new();
        }
        if let Err(reason) = timed(write_timeout, writer.flush()).await {
            return WriteEnd::Failed(reason);
        }
    }
}

enum PumpResult {
    Read(ReadEnd),
    Write(WriteEnd),
}

async fn pump(
    stream: ComponentStream,
    inbound: &mpsc::Sender<LinkEvent>,
    outbound: &mut mpsc::Receiver<OutStanza>,
    pending_up: &mut bool,
    write_timeout: Duration,
) -> PumpEnd {
    let ComponentStream {
        mut reader,
        mut writer,
        ..
    } = stream;
    let (reply_tx, mut reply_rx) = mpsc::channel(REPLY_QUEUE);
    let result = {
        let read = read_loop(&mut reader, inbound, &reply_tx, pending_up);
        let write = write_loop(&mut writer, outbound, &mut reply_rx, write_timeout);
        tokio::select! {
            r = read => PumpResult::Read(r),
            w = write => PumpResult::Write(w),
        }
    };
    match result {
        PumpResult::Write(WriteEnd::Closed) => {
            // Our close is written; give the peer a moment to close its side
            // and deliver what it still sends (after `Up`, if still due).
            let _ = timeout(CLOSE_TIMEOUT, async {
                loop {
                    match reader.next().await {
                        Ok(Frame::Stanza(el)) => {
                            let Some(ev) = inbound_stanza(el) else {
                                continue;
                            };
                            if *pending_up {
                                if inbound.send(LinkEvent::Up).await.is_err() {
                                    break;
                                }
                                *pending_up = false;
                            }
                            if inbound.send(ev).await.is_err() {
                                break;
                            }
                        }
                        Ok(Frame::Skipped { .. } | Frame::Header(_)) => {}
                        Ok(Frame::End) | Err(_) => break,
                    }
                }
            })
            .await;
            let _ = timeout(CLOSE_TIMEOUT, writer.shutdown()).await;
            PumpEnd::Stop
        }
        PumpResult::Write(WriteEnd::Failed(reason)) => PumpEnd::Down(reason),
        PumpResult::Read(ReadEnd::InboundClosed) => {
            farewell(&mut writer, writer::STREAM_CLOSE).await;
            PumpEnd::Stop
        }
        PumpResult::Read(ReadEnd::PeerClosed) => {
            farewell(&mut writer, writer::STREAM_CLOSE).await;
            PumpEnd::Down("server closed the stream".into())
        }
        PumpResult::Read(ReadEnd::PeerError(e)) => {
            farewell(&mut writer, writer::STREAM_CLOSE).await;
            PumpEnd::Down(format!("stream error from server: {e}"))
        }
        PumpResult::Read(ReadEnd::Error(e)) => {
            if e.is_protocol_error() {
                let bytes = writer::stream_error(e.stream_error_condition(), None);
                farewell(&mut writer, &bytes).await;
            }
            PumpEnd::Down(format!("read failed: {e}"))
        }
    }
}

/// Write `bytes` (a stream close or error), flush and shut the socket down,
/// all bounded by [`CLOSE_TIMEOUT`].
async fn farewell(writer: &mut BufWriter<OwnedWriteHalf>, bytes: &[u8]) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        writer.write_all(bytes).await?;
        writer.flush().await?;
        writer.shutdown().await
    })
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
