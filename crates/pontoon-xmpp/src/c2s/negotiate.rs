//! Stream negotiation up to resource binding: header, STARTTLS, SASL
//! PLAIN, restart, bind (or XEP-0198 resume).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jid::{BareJid, DomainPart, NodePart, ResourcePart};
use minidom::{Element, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::Instrument;
use zeroize::Zeroizing;

use super::sasl::parse_plain;
use super::{
    AuthOutcome, AuthRequest, AuthToken, ConnId, Counting, Io, ListenMode, Shared, after, lock,
    random_id, session, set_attr,
};
use crate::limits::Limits;
use crate::ns;
use crate::reader::{Frame, ReadError, StreamHeader, StreamReader};
use crate::writer;

/// Bound on writing a farewell (stream error or close) to a client.
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for the client's own close after ours (bytes it sends meanwhile are
/// dropped unread).
const LINGER: Duration = Duration::from_secs(2);

/// The XML stream over one transport, both directions.
pub(super) struct Wire {
    pub(super) reader: StreamReader<Counting<ReadHalf<Io>>>,
    pub(super) writer: BufWriter<WriteHalf<Io>>,
    /// Whether the transport is TLS.
    pub(super) secure: bool,
    /// Whether our header of the current stream was sent (a stream error
    /// must follow a header, RFC 6120 section 4.9.1.1).
    header_sent: bool,
    /// The served domain of this stream (as configured).
    pub(super) domain: String,
    write_timeout: Duration,
}

impl Wire {
    fn new(io: Io, limits: Limits, secure: bool, domain: String, write_timeout: Duration) -> Self {
        let (r, w) = tokio::io::split(io);
        Self {
            reader: StreamReader::new(Counting { inner: r, bytes: 0 }, limits),
            writer: BufWriter::new(w),
            secure,
            header_sent: false,
            domain,
            write_timeout,
        }
    }

    /// Bytes received so far on this transport.
    pub(super) fn bytes_read(&self) -> u64 {
        self.reader.get_ref().bytes
    }

    /// Queue `bytes` (written out by [`flush`](Self::flush)), with the
    /// write timeout.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match timeout(self.write_timeout, self.writer.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out (client not reading)".into()),
        }
    }

    /// Flush, with the write timeout.
    pub(super) async fn flush(&mut self) -> Result<(), String> {
        match timeout(self.write_timeout, self.writer.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("flush failed: {e}")),
            Err(_) => Err("write timed out (client not reading)".into()),
        }
    }

    /// Write `bytes` and flush.
    pub(super) async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.write(bytes).await?;
        self.flush().await
    }

    /// Serialize `el`, write it and flush.
    pub(super) async fn send_el(&mut self, el: &Element) -> Result<(), String> {
        let bytes = writer::serialize(el).map_err(|e| e.to_string())?;
        self.send(&bytes).await
    }

    fn server_header(&self, to: Option<String>) -> Vec<u8> {
        writer::open_stream(&StreamHeader {
            id: Some(random_id(16)),
            from: Some(self.domain.clone()),
            to,
            version: Some("1.0".into()),
            default_ns: ns::CLIENT.into(),
        })
    }

    /// Send the stream error `condition` (after a header if none was
    /// sent), close the stream and shut the transport down, all bounded.
    pub(super) async fn fail(&mut self, condition: &str, text: Option<&str>) {
        let mut bytes = Vec::new();
        if !self.header_sent {
            bytes = self.server_header(None);
            self.header_sent = true;
        }
        bytes.extend(writer::stream_error(condition, text));
        self.farewell(&bytes).await;
    }

    /// Close the stream (`</stream:stream>`) and shut the transport down.
    pub(super) async fn close(&mut self) {
        if self.header_sent {
            self.farewell(writer::STREAM_CLOSE).await;
        } else {
            let _ = timeout(CLOSE_TIMEOUT, self.writer.shutdown()).await;
        }
    }

    async fn farewell(&mut self, bytes: &[u8]) {
        let sent = timeout(CLOSE_TIMEOUT, async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await?;
            self.writer.shutdown().await
        })
        .await;
        if matches!(sent, Ok(Ok(()))) {
            self.linger().await;
        }
    }

    /// Reads and drops what the client still sends, until it closes too or [`LINGER`]
    /// passes. Closing a socket with unread bytes in it makes the kernel reset the
    /// connection, and a reset can destroy the stream error on its way to the client
    /// before the client reads it (seen with a 100,000-deep nesting: the client got
    /// nothing at all). RFC 6120 section 4.4 asks to wait for the peer's close anyway.
    async fn linger(&mut self) {
        let io = self.reader.get_mut();
        let mut scratch = [0u8; 4096];
        let _ = timeout(LINGER, async {
            while let Ok(n) = io.read(&mut scratch).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

/// How negotiation stops when it does not reach a bound stream.
#[derive(Debug)]
pub(super) enum Stop {
    /// Send this stream error and close.
    Error {
        condition: &'static str,
        text: Option<String>,
    },
    /// Close the stream normally (client closed, or a refusal already
    /// explained by a SASL/TLS failure element).
    Close(String),
    /// The transport is gone: nothing more to send.
    Gone(String),
}

impl Stop {
    fn error(condition: &'static str, text: impl Into<String>) -> Self {
        Stop::Error {
            condition,
            text: Some(text.into()),
        }
    }
}

/// The authenticated account.
pub(super) struct Authed {
    pub(super) jid: BareJid,
    pub(super) token: AuthToken,
}

/// What negotiation produced.
pub(super) enum Negotiated {
    /// Bind `resource`; answer the bind iq `iq_id`.
    Bind {
        authed: Authed,
        resource: ResourcePart,
        iq_id: String,
    },
    /// A XEP-0198 session taken over; `h` is the client's count.
    Resume {
        authed: Authed,
        session: Box<session::Session>,
        h: u32,
    },
}

enum PreAuth {
    StartTls,
    Authed(Authed),
}

/// Refuse a connection over the unauthenticated cap: a header and a
/// `policy-violation` stream error, bounded by [`CLOSE_TIMEOUT`].
async fn refuse(mut tcp: TcpStream, domain: &str) {
    let mut bytes = writer::open_stream(&StreamHeader {
        id: Some(random_id(16)),
        from: Some(domain.to_owned()),
        to: None,
        version: Some("1.0".into()),
        default_ns: ns::CLIENT.into(),
    });
    bytes.extend(writer::stream_error(
        "policy-violation",
        Some("Too many connections are logging in right now; try again later"),
    ));
    let _ = timeout(CLOSE_TIMEOUT, async {
        tcp.write_all(&bytes).await?;
        tcp.shutdown().await
    })
    .await;
}

/// The whole life of one accepted connection.
pub(super) async fn run_connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    mode: ListenMode,
) {
    let first_domain = shared.cfg.domains.first().cloned().unwrap_or_default();
    let permit = match shared.unauth.try_acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(why) => {
            match why {
                super::limiter::Refused::Global => {
                    tracing::info!(%peer, "c2s: too many unauthenticated connections; refusing one");
                }
                super::limiter::Refused::Address => {
                    tracing::info!(%peer, "c2s: too many unauthenticated connections from this address; refusing one");
                }
            }
            if mode == ListenMode::StartTls {
                refuse(tcp, &first_domain).await;
            }
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    let span = tracing::info_span!("c2s", %conn, %peer);
    async move {
        let deadline = after(shared.cfg.negotiation_timeout);
        let io = match mode {
            ListenMode::StartTls => Io::Plain(tcp),
            ListenMode::DirectTls => {
                let Some(tls) = shared.cfg.tls.clone() else {
                    tracing::warn!("c2s: direct TLS connection but no TLS configured");
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                match timeout_at(deadline, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => Io::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "c2s: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("c2s: TLS handshake timed out");
                        return;
                    }
                }
            }
        };
        serve_io(
            shared,
            io,
            peer,
            conn,
            permit,
            mode == ListenMode::DirectTls,
            deadline,
        )
        .await;
    }
    .instrument(span)
    .await;
}

/// The life of one in-memory connection (the fuzz targets' way in).
#[cfg(feature = "fuzzing")]
pub(super) async fn run_memory(shared: Arc<Shared>, io: tokio::io::DuplexStream, peer: SocketAddr) {
    let Ok(permit) = shared.unauth.try_acquire(peer.ip()) else {
        return;
    };
    let conn = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    let deadline = after(shared.cfg.negotiation_timeout);
    serve_io(shared, Io::Memory(io), peer, conn, permit, false, deadline).await;
}

/// Negotiates the stream over `io`, then serves it bound (or resumed) until it ends.
async fn serve_io(
    shared: Arc<Shared>,
    io: Io,
    peer: SocketAddr,
    conn: ConnId,
    permit: super::limiter::Slot,
    secure: bool,
    deadline: Instant,
) {
    let first_domain = shared.cfg.domains.first().cloned().unwrap_or_default();
    let wire = Wire::new(
        io,
        shared.cfg.limits,
        secure,
        first_domain,
        shared.cfg.write_timeout,
    );
    let mut neg = Negotiation {
        shared: shared.clone(),
        peer,
        wire: Some(wire),
        failures: 0,
        permit: Some(permit),
    };
    let res = neg.run(deadline).await;
    let Negotiation { wire, permit, .. } = neg;
    drop(permit);
    let Some(mut wire) = wire else {
        if let Err(stop) = res {
            tracing::debug!(?stop, "c2s: connection ended during negotiation");
        }
        return;
    };
    match res {
        Ok(Negotiated::Bind {
            authed,
            resource,
            iq_id,
        }) => session::bind(shared, wire, conn, authed, resource, iq_id).await,
        Ok(Negotiated::Resume { authed, session, h }) => {
            session::resume(shared, wire, authed, session, h).await;
        }
        Err(stop) => {
            tracing::debug!(?stop, "c2s: connection ended during negotiation");
            match stop {
                Stop::Error { condition, text } => wire.fail(condition, text.as_deref()).await,
                Stop::Close(_) => wire.close().await,
                Stop::Gone(_) => {}
            }
        }
    }
}

struct Negotiation {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// `None` only while STARTTLS swaps the transport.
    wire: Option<Wire>,
    /// Failed SASL exchanges on this connection.
    failures: u32,
    /// The slot in the unauthenticated cap, released on authentication.
    permit: Option<super::limiter::Slot>,
}

/// Whether `el` is a `jabber:client` stanza (message, presence, iq).
fn is_client_stanza(el: &Element) -> bool {
    crate::stanza::is_stanza(el)
}

/// Take the text of `el` out of it, so the caller controls (and zeroes)
/// the only copy of a SASL payload.
fn take_text(mut el: Element) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for node in el.take_nodes() {
        if let Node::Text(t) = node {
            let t = Zeroizing::new(t);
            out.push_str(&t);
        }
    }
    out
}

fn sasl_el(name: &str) -> Element {
    Element::bare(name, ns::SASL)
}

impl Negotiation {
    fn wire(&mut self) -> Result<&mut Wire, Stop> {
        self.wire
            .as_mut()
            .ok_or_else(|| Stop::Gone("transport lost".into()))
    }

    fn plaintext_ok(&self) -> bool {
        self.shared.cfg.allow_plaintext_on_loopback && self.peer.ip().to_canonical().is_loopback()
    }

    async fn send_el(&mut self, el: &Element) -> Result<(), Stop> {
        self.wire()?.send_el(el).await.map_err(Stop::Gone)
    }

    /// Read the next frame before `deadline`, mapping failures to stops.
    async fn read(&mut self, deadline: Instant) -> Result<Frame, Stop> {
        let wire = self.wire()?;
        match timeout_at(deadline, wire.reader.next()).await {
            Err(_) => Err(Stop::error("connection-timeout", "Took too long to log in")),
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(e)) => Err(read_stop(e)),
        }
    }

    async fn run(&mut self, mut deadline: Instant) -> Result<Negotiated, Stop> {
        let authed = loop {
            self.open_stream(deadline, None).await?;
            let features = self.pre_auth_features()?;
            self.send_el(&features).await?;
            match self.pre_auth(&mut deadline).await? {
                PreAuth::StartTls => self.starttls(deadline).await?,
                PreAuth::Authed(a) => break a,
            }
        };
        // Authenticated: no longer counts against the cap.
        self.permit = None;
        tracing::info!(jid = %authed.jid, "c2s: authenticated");
        self.wire()?.reader.reset();
        let deadline = after(self.shared.cfg.negotiation_timeout);
        let domain = self.wire()?.domain.clone();
        self.open_stream(deadline, Some(&domain)).await?;
        let features = self.post_auth_features();
        self.send_el(&features).await?;
        self.bind_phase(deadline, authed).await
    }

    /// Read the client's stream header and answer with ours.
    async fn open_stream(&mut self, deadline: Instant, expect: Option<&str>) -> Result<(), Stop> {
        self.wire()?.header_sent = false;
        let Frame::Header(h) = self.read(deadline).await? else {
            return Err(Stop::error("bad-format", "Expected a stream header"));
        };
        let served = h.to.as_deref().and_then(|to| {
            self.shared
                .cfg
                .domains
                .iter()
                .find(|d| d.eq_ignore_ascii_case(to))
                .cloned()
        });
        let wire = self.wire()?;
        if let Some(d) = &served {
            wire.domain.clone_from(d);
        }
        // Echo the client's `from` as `to` only if it is a plausible JID.
        let to = h.from.filter(|f| jid::Jid::new(f).is_ok());
        let header = wire.server_header(to);
        wire.send(&header).await.map_err(Stop::Gone)?;
        wire.header_sent = true;
        if h.default_ns != ns::CLIENT {
            return Err(Stop::error(
                "invalid-namespace",
                "This port serves jabber:client streams",
            ));
        }
        if !h.version.as_deref().is_some_and(|v| v.starts_with("1.")) {
            return Err(Stop::error("unsupported-version", "XMPP 1.0 streams only"));
        }
        let Some(domain) = served else {
            return Err(Stop::error(
                "host-unknown",
                format!(
                    "This server does not serve {:?}",
                    h.to.as_deref().unwrap_or("")
                ),
            ));
        };
        if let Some(expect) = expect
            && !expect.eq_ignore_ascii_case(&domain)
        {
            return Err(Stop::error(
                "host-unknown",
                "The stream must stay on the domain you logged in to",
            ));
        }
        Ok(())
    }

    fn pre_auth_features(&mut self) -> Result<Element, Stop> {
        let plaintext_ok = self.plaintext_ok();
        let has_tls = self.shared.cfg.tls.is_some();
        let secure = self.wire()?.secure;
        if !secure && !has_tls && !plaintext_ok {
            return Err(Stop::error(
                "policy-violation",
                "Encryption is required and TLS is not available on this server",
            ));
        }
        let mut features = Element::bare("features", ns::STREAMS);
        if !secure && has_tls {
            let mut starttls = Element::bare("starttls", ns::TLS);
            if !plaintext_ok {
                starttls.append_child(Element::bare("required", ns::TLS));
            }
            features.append_child(starttls);
        }
        if secure || plaintext_ok {
            let mut mechs = sasl_el("mechanisms");
            let mut plain = sasl_el("mechanism");
            plain.append_text("PLAIN");
            mechs.append_child(plain);
            features.append_child(mechs);
        }
        Ok(features)
    }

    fn post_auth_features(&self) -> Element {
        let mut features = Element::bare("features", ns::STREAMS);
        features.append_child(Element::bare("bind", ns::BIND));
        let mut session = Element::bare("session", ns::SESSION);
        session.append_child(Element::bare("optional", ns::SESSION));
        features.append_child(session);
        if self.shared.cfg.stream_management {
            features.append_child(Element::bare("sm", ns::SM));
        }
        features
    }

    /// Until STARTTLS or a successful SASL exchange.
    async fn pre_auth(&mut self, deadline: &mut Instant) -> Result<PreAuth, Stop> {
        loop {
            match self.read(*deadline).await? {
                Frame::Stanza(el) if el.is("starttls", ns::TLS) => {
                    if self.wire()?.secure || self.shared.cfg.tls.is_none() {
                        self.send_el(&Element::bare("failure", ns::TLS)).await?;
                        return Err(Stop::Close("STARTTLS not possible".into()));
                    }
                    return Ok(PreAuth::StartTls);
                }
                Frame::Stanza(el) if el.is("auth", ns::SASL) => {
                    if let Some(authed) = self.sasl(el, deadline).await? {
                        return Ok(PreAuth::Authed(authed));
                    }
                }
                Frame::Stanza(el) if el.is("abort", ns::SASL) => {
                    self.sasl_failure("aborted", None).await?;
                }
                Frame::Stanza(el) => return Err(unexpected(&el, "Log in first")),
                frame => return Err(other_frame(frame)),
            }
        }
    }

    /// `<proceed/>`, then the TLS handshake on the same TCP connection.
    async fn starttls(&mut self, deadline: Instant) -> Result<(), Stop> {
        self.send_el(&Element::bare("proceed", ns::TLS)).await?;
        let Some(tls) = self.shared.cfg.tls.clone() else {
            return Err(Stop::Gone("no TLS configuration".into()));
        };
        let Some(wire) = self.wire.take() else {
            return Err(Stop::Gone("transport lost".into()));
        };
        let Wire {
            reader,
            writer,
            domain,
            write_timeout,
            ..
        } = wire;
        let (counting, rest) = reader.into_parts();
        if !rest.is_empty() {
            // Bytes after <starttls/> in the clear: not allowed (and a
            // classic injection attempt).
            return Err(Stop::Gone("data after <starttls/>".into()));
        }
        let tcp = match counting.inner.unsplit(writer.into_inner()) {
            Io::Plain(tcp) => tcp,
            Io::Tls(_) => return Err(Stop::Gone("STARTTLS over TLS".into())),
            #[cfg(feature = "fuzzing")]
            Io::Memory(_) => return Err(Stop::Gone("no TLS in memory".into())),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let tls_stream = match timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Stop::Gone(format!("TLS handshake failed: {e}"))),
            Err(_) => return Err(Stop::Gone("TLS handshake timed out".into())),
        };
        self.wire = Some(Wire::new(
            Io::Tls(Box::new(tls_stream)),
            self.shared.cfg.limits,
            true,
            domain,
            write_timeout,
        ));
        Ok(())
    }

    async fn sasl_failure(&mut self, condition: &str, text: Option<&str>) -> Result<(), Stop> {
        let mut failure = sasl_el("failure");
        failure.append_child(sasl_el(condition));
        if let Some(text) = text {
            let mut t = sasl_el("text");
            t.append_text(text);
            failure.append_child(t);
        }
        self.send_el(&failure).await
    }

    /// A failed exchange: log it with its reason (every refused login is, for the operator),
    /// tell the client, and close when it has failed too often on this connection. `who` is
    /// the account, once known.
    async fn failed(
        &mut self,
        who: Option<&BareJid>,
        condition: &str,
        text: Option<&str>,
    ) -> Result<(), Stop> {
        // The reason is the network's, the policy's or ours, never a secret.
        tracing::info!(
            jid = %who.map_or_else(|| "unknown".to_owned(), BareJid::to_string),
            %condition,
            reason = %text.unwrap_or(condition),
            "c2s: login refused"
        );
        self.sasl_failure(condition, text).await?;
        self.failures += 1;
        if self.failures >= self.shared.cfg.max_auth_failures {
            return Err(Stop::error(
                "policy-violation",
                "Too many failed authentication attempts",
            ));
        }
        Ok(())
    }

    /// One SASL exchange; `Some` on success.
    async fn sasl(
        &mut self,
        auth: Element,
        deadline: &mut Instant,
    ) -> Result<Option<Authed>, Stop> {
        let secure = self.wire()?.secure;
        if !secure && !self.plaintext_ok() {
            self.failed(
                None,
                "encryption-required",
                Some("Use STARTTLS before logging in"),
            )
            .await?;
            return Ok(None);
        }
        if auth.attr("mechanism") != Some("PLAIN") {
            self.failed(None, "invalid-mechanism", Some("Only PLAIN is offered"))
                .await?;
            return Ok(None);
        }
        let mut data = take_text(auth);
        if data.trim().is_empty() {
            // No initial response: an empty challenge asks for it.
            self.send_el(&sasl_el("challenge")).await?;
            match self.read(*deadline).await? {
                Frame::Stanza(el) if el.is("response", ns::SASL) => data = take_text(el),
                Frame::Stanza(el) if el.is("abort", ns::SASL) => {
                    self.sasl_failure("aborted", None).await?;
                    return Ok(None);
                }
                Frame::Stanza(el) => return Err(unexpected(&el, "Log in first")),
                frame => return Err(other_frame(frame)),
            }
        }
        let creds = match parse_plain(&data) {
            Ok(c) => c,
            Err(e) => {
                self.failed(None, e.condition(), None).await?;
                return Ok(None);
            }
        };
        drop(data);
        let domain = self.wire()?.domain.clone();
        let Ok(domain_part) = DomainPart::new(&domain) else {
            return Err(Stop::error("internal-server-error", "bad served domain"));
        };
        let Ok(node) = NodePart::new(&creds.authcid) else {
            self.failed(
                None,
                "not-authorized",
                Some("This username cannot be part of an address"),
            )
            .await?;
            return Ok(None);
        };
        let jid = BareJid::from_parts(Some(&node), &domain_part);
        if !creds.authzid.is_empty()
            && creds.authzid != creds.authcid
            && BareJid::new(&creds.authzid).ok().as_ref() != Some(&jid)
        {
            self.failed(Some(&jid), "invalid-authzid", None).await?;
            return Ok(None);
        }
        let allowed = lock(&self.shared.limiter).attempt(self.peer.ip(), Instant::now());
        if !allowed {
            tracing::info!(
                %jid,
                condition = "temporary-auth-failure",
                reason = "too many login attempts from this address",
                "c2s: login refused"
            );
            self.sasl_failure(
                "temporary-auth-failure",
                Some("Too many login attempts from your address; try again in a minute"),
            )
            .await?;
            return Err(Stop::Close("authentication rate limit".into()));
        }
        let req = AuthRequest {
            username: creds.authcid,
            jid: jid.clone(),
            password: creds.password,
            domain,
            peer: self.peer,
            secure,
        };
        let started = Instant::now();
        let outcome = match timeout(
            self.shared.cfg.auth_timeout,
            self.shared.auth.authenticate(req),
        )
        .await
        {
            Ok(o) => o,
            Err(_) => AuthOutcome::TemporaryFailure(
                "Logging in to the network took too long; try again later".into(),
            ),
        };
        // The application's time does not count against the client.
        *deadline = deadline.checked_add(started.elapsed()).unwrap_or(*deadline);
        match outcome {
            AuthOutcome::Success(token) => {
                self.send_el(&sasl_el("success")).await?;
                Ok(Some(Authed { jid, token }))
            }
            AuthOutcome::NotAuthorized(text) => {
                self.failed(Some(&jid), "not-authorized", Some(&text))
                    .await?;
                Ok(None)
            }
            AuthOutcome::TemporaryFailure(text) => {
                self.failed(Some(&jid), "temporary-auth-failure", Some(&text))
                    .await?;
                Ok(None)
            }
            AuthOutcome::Aborted => {
                self.sasl_failure("aborted", None).await?;
                Ok(None)
            }
        }
    }

    /// After authentication: bind a resource, or resume a session.
    async fn bind_phase(&mut self, deadline: Instant, authed: Authed) -> Result<Negotiated, Stop> {
        loop {
            match self.read(deadline).await? {
                Frame::Stanza(el)
                    if el.is("iq", ns::CLIENT)
                        && el.attr("type") == Some("set")
                        && el.get_child("bind", ns::BIND).is_some() =>
                {
                    let iq_id = el.attr("id").unwrap_or_default().to_owned();
                    let requested = el
                        .get_child("bind", ns::BIND)
                        .and_then(|b| b.get_child("resource", ns::BIND))
                        .map(|r| r.text().trim().to_owned())
                        .filter(|r| !r.is_empty());
                    let resource = match requested {
                        None => ResourcePart::new(&random_id(12)).map(|r| r.into_owned()),
                        Some(r) => ResourcePart::new(&r).map(|r| r.into_owned()),
                    };
                    match resource {
                        Ok(resource) => {
                            return Ok(Negotiated::Bind {
                                authed,
                                resource,
                                iq_id,
                            });
                        }
                        Err(e) => {
                            if let Some(reply) = crate::stanza::error_reply(
                                &el,
                                "modify",
                                "bad-request",
                                Some(&format!("Invalid resource: {e}")),
                            ) {
                                self.send_el(&reply).await?;
                            }
                        }
                    }
                }
                Frame::Stanza(el)
                    if el.is("resume", ns::SM) && self.shared.cfg.stream_management =>
                {
                    let h = el.attr("h").and_then(|h| h.parse::<u32>().ok());
                    let previd = el.attr("previd").unwrap_or_default();
                    let taken = match h {
                        Some(_) => {
                            session::take_for_resume(&self.shared, &authed.jid, previd).await
                        }
                        None => None,
                    };
                    match (taken, h) {
                        (Some(session), Some(h)) => {
                            return Ok(Negotiated::Resume { authed, session, h });
                        }
                        _ => {
                            let mut failed = Element::bare("failed", ns::SM);
                            failed.append_child(Element::bare("item-not-found", ns::XMPP_STANZAS));
                            self.send_el(&failed).await?;
                        }
                    }
                }
                Frame::Stanza(el) if el.has_ns(ns::SM) => {
                    let mut failed = Element::bare("failed", ns::SM);
                    failed.append_child(Element::bare("unexpected-request", ns::XMPP_STANZAS));
                    self.send_el(&failed).await?;
                }
                Frame::Stanza(el) => return Err(unexpected(&el, "Bind a resource first")),
                frame => return Err(other_frame(frame)),
            }
        }
    }
}

/// The stop for a read error.
pub(super) fn read_stop(e: ReadError) -> Stop {
    if e.is_protocol_error() {
        let condition = e.stream_error_condition();
        Stop::Error {
            condition,
            text: Some(e.to_string()),
        }
    } else {
        Stop::Gone(e.to_string())
    }
}

/// The stop for an element that is not allowed at this point: a stanza
/// before authentication (or binding) is `not-authorized`, anything else
/// unknown is `unsupported-stanza-type`.
fn unexpected(el: &Element, text: &str) -> Stop {
    if is_client_stanza(el) {
        Stop::error("not-authorized", text)
    } else {
        Stop::error(
            "unsupported-stanza-type",
            format!("Unexpected <{}/> in {}", el.name(), el.ns()),
        )
    }
}

/// The stop for a frame other than a stanza.
pub(super) fn other_frame(frame: Frame) -> Stop {
    match frame {
        Frame::Skipped { reason, .. } => Stop::error("policy-violation", reason.to_string()),
        Frame::End => Stop::Close("client closed the stream".into()),
        Frame::Header(_) => Stop::error("bad-format", "Unexpected stream header"),
        Frame::Stanza(el) => unexpected(&el, "Not allowed here"),
    }
}

/// Build `<iq type='result' id=..>` with `child`.
pub(super) fn iq_result(id: &str, child: Option<Element>) -> Element {
    let mut iq = Element::bare("iq", ns::CLIENT);
    set_attr(&mut iq, "type", "result");
    set_attr(&mut iq, "id", id);
    if let Some(child) = child {
        iq.append_child(child);
    }
    iq
}
