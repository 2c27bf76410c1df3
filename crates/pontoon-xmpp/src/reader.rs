//! Incremental, bounded XML stream reader.
//!
//! Why it exists: an XMPP stream is one endless XML document whose top-level
//! children are the stanzas. A generic XML parser would happily buffer a
//! 10 MB text node or an endless attribute before handing anything back, so
//! this reader drives rxml's low-level [`RawParser`] itself, with a fixed
//! 8 KiB read buffer, and checks [`Limits`] after every event and every
//! chunk fed to the parser: the bytes of the current stanza (counted on the
//! wire, including the bytes the lexer holds but has not yet turned into an
//! event) and the element depth. A violation is reported at once as
//! [`ReadError::PolicyViolation`]; memory use per stream is therefore
//! bounded by roughly `max_stanza_bytes` plus the read buffer.
//!
//! rxml already implements "restricted XML" as XMPP requires it: no DTDs,
//! no processing instructions, no comments, UTF-8 only, XML 1.0 only. Its
//! token length limit (8 KiB by default) bounds single names and attribute
//! values; long text is split into several events.
//!
//! Events are turned into [`minidom::Element`]s by minidom's
//! [`TreeBuilder`], which is fed the stream header too, so namespace
//! prefixes declared on `<stream:stream>` resolve inside stanzas. Each
//! complete depth-1 child is detached from the builder and returned as
//! [`Frame::Stanza`], with its prefix declarations stripped (they are
//! re-declared by the [`writer`](crate::writer) and could otherwise make
//! minidom's own serializer panic).

use std::io;

use minidom::tree_builder::TreeBuilder;
use minidom::{Element, Node};
use rxml::error::EndOrError;
use rxml::{Options, Parse, RawEvent, RawParser, WithOptions};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::limits::Limits;
use crate::ns;

/// Size of the fixed read buffer of a [`StreamReader`].
pub const READ_BUFFER_SIZE: usize = 8 * 1024;

/// Upper bound for rxml's per-token limit (names, attribute values).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The attributes of a peer's `<stream:stream>` opening tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// The `id` attribute (the stream id chosen by the receiving entity).
    pub id: Option<String>,
    /// The `from` attribute.
    pub from: Option<String>,
    /// The `to` attribute.
    pub to: Option<String>,
    /// The `version` attribute (`1.0` for RFC 6120 streams).
    pub version: Option<String>,
    /// The default namespace of the stream content, e.g. `jabber:client`
    /// or `jabber:component:accept`.
    pub default_ns: String,
}

/// One unit read from an XML stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The peer's stream header (always the first frame).
    Header(StreamHeader),
    /// A complete top-level element: a stanza, `<stream:features>`,
    /// `<stream:error>`, a component `<handshake/>`, ...
    Stanza(Element),
    /// The peer closed the stream with `</stream:stream>`.
    End,
}

/// Why reading a stream failed. After an error the reader is finished.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The transport reached end of file before `</stream:stream>`.
    #[error("unexpected end of stream")]
    UnexpectedEof,
    /// The bytes are not well-formed (namespace-well-formed, UTF-8) XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// Well-formed XML using a construct XMPP forbids (comment, processing
    /// instruction, DTD, non-UTF-8 encoding declaration, ...).
    #[error("restricted XML: {0}")]
    Restricted(String),
    /// A limit was exceeded (stanza size, depth, token length).
    #[error("policy violation: {0}")]
    PolicyViolation(String),
    /// The stream root or its content namespace is not what XMPP requires.
    #[error("invalid namespace: {0}")]
    InvalidNamespace(String),
    /// XML that is well-formed but not a valid XMPP stream (e.g. text
    /// between stanzas).
    #[error("bad format: {0}")]
    BadFormat(String),
    /// [`StreamReader::next`] was called after the stream ended or failed.
    #[error("the stream has already ended or failed")]
    Finished,
}

impl ReadError {
    /// The RFC 6120 stream error condition to send to the peer for this
    /// error (section 4.9.3).
    #[must_use]
    pub fn stream_error_condition(&self) -> &'static str {
        match self {
            ReadError::Io(_) | ReadError::UnexpectedEof | ReadError::Finished => {
                "undefined-condition"
            }
            ReadError::Xml(_) => "not-well-formed",
            ReadError::Restricted(_) => "restricted-xml",
            ReadError::PolicyViolation(_) => "policy-violation",
            ReadError::InvalidNamespace(_) => "invalid-namespace",
            ReadError::BadFormat(_) => "bad-format",
        }
    }

    /// Whether the peer can still be told about the error with a stream
    /// error (false when the transport itself is gone).
    #[must_use]
    pub fn is_protocol_error(&self) -> bool {
        !matches!(
            self,
            ReadError::Io(_) | ReadError::UnexpectedEof | ReadError::Finished
        )
    }
}

fn map_rxml_error(e: rxml::Error) -> ReadError {
    match e {
        rxml::Error::RestrictedXml(msg @ ("long name or reference" | "event too long")) => {
            ReadError::PolicyViolation(format!("token too long ({msg})"))
        }
        rxml::Error::RestrictedXml(msg) => ReadError::Restricted(msg.to_owned()),
        rxml::Error::InvalidEof(_) => ReadError::UnexpectedEof,
        // rxml's lexer only knows `<!--` and `<![CDATA[` after `<!`; a
        // DOCTYPE (or any other markup declaration) ends up here.
        rxml::Error::InvalidSyntax(msg @ "malformed cdata or comment section start") => {
            ReadError::Restricted(format!("markup declaration (DTD?): {msg}"))
        }
        rxml::Error::InvalidUtf8Byte(b) => ReadError::Xml(format!("invalid UTF-8 byte 0x{b:02x}")),
        other => ReadError::Xml(other.to_string()),
    }
}

fn map_tree_error(e: minidom::Error) -> ReadError {
    ReadError::Xml(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the end of the stream header.
    Prolog,
    /// Inside the stream.
    InStream,
    /// After `</stream:stream>` or an error.
    Done,
}

/// An attribute of the stream root, as raw (prefix, local name, value).
type RawAttr = (Option<String>, String, String);

/// Incremental, bounded reader of one XML stream.
///
/// [`next`](StreamReader::next) is cancel-safe as long as the underlying
/// [`AsyncRead`] is (tokio's sockets and [`tokio::io::DuplexStream`] are):
/// no byte is lost if the future is dropped, so it can be used in
/// `tokio::select!`.
pub struct StreamReader<R> {
    io: R,
    limits: Limits,
    parser: RawParser,
    tree: TreeBuilder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    phase: Phase,
    /// Open elements, including the stream root.
    depth: usize,
    /// Bytes attributed to events of the current unit (header or stanza).
    unit_bytes: usize,
    /// Bytes consumed by the parser but not yet attributed to an event.
    inflight: usize,
    root_name: Option<(Option<String>, String)>,
    root_attrs: Vec<RawAttr>,
    /// Raw attribute names of the element head being parsed (rxml's raw
    /// parser does not detect duplicates).
    head_attrs: Vec<(Option<String>, String)>,
}

impl<R> std::fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("limits", &self.limits)
            .field("phase", &self.phase)
            .field("depth", &self.depth)
            .field("unit_bytes", &self.unit_bytes)
            .finish_non_exhaustive()
    }
}

fn new_parser(limits: &Limits) -> RawParser {
    <RawParser as WithOptions>::with_options(Options {
        max_token_length: limits.max_stanza_bytes.clamp(64, MAX_TOKEN_BYTES),
        ..Options::default()
    })
}

/// Remove prefix declarations recursively (see the module docs).
fn strip_prefixes(el: &mut Element) {
    el.prefixes = Default::default();
    for node in el.nodes_mut() {
        if let Node::Element(child) = node {
            strip_prefixes(child);
        }
    }
}

fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

impl<R: AsyncRead + Unpin> StreamReader<R> {
    /// Create a reader over `io` enforcing `limits`.
    pub fn new(io: R, limits: Limits) -> Self {
        Self {
            io,
            parser: new_parser(&limits),
            limits,
            tree: TreeBuilder::new(),
            buf: vec![0u8; READ_BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            phase: Phase::Prolog,
            depth: 0,
            unit_bytes: 0,
            inflight: 0,
            root_name: None,
            root_attrs: Vec::new(),
            head_attrs: Vec::new(),
        }
    }

    /// Read the next frame: first the [`Frame::Header`], then stanzas, then
    /// [`Frame::End`]. After `End` or an error, further calls return
    /// [`ReadError::Finished`].
    pub async fn next(&mut self) -> Result<Frame, ReadError> {
        if self.phase == Phase::Done {
            return Err(ReadError::Finished);
        }
        match self.next_inner().await {
            Ok(frame) => {
                if matches!(frame, Frame::End) {
                    self.phase = Phase::Done;
                }
                Ok(frame)
            }
            Err(e) => {
                self.phase = Phase::Done;
                Err(e)
            }
        }
    }

    /// Start reading a new stream on the same transport, as after SASL
    /// success (RFC 6120 section 6.4.6). Bytes already received but not yet
    /// parsed are kept. (For STARTTLS use [`into_parts`](Self::into_parts)
    /// instead: the new stream runs over a different transport.)
    pub fn reset(&mut self) {
        self.parser = new_parser(&self.limits);
        self.tree = TreeBuilder::new();
        self.phase = Phase::Prolog;
        self.depth = 0;
        self.unit_bytes = 0;
        self.inflight = 0;
        self.root_name = None;
        self.root_attrs = Vec::new();
        self.head_attrs = Vec::new();
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Give back the transport and the bytes received but not yet parsed.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let rest = self
            .buf
            .get(self.start..self.end)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        (self.io, rest)
    }

    async fn next_inner(&mut self) -> Result<Frame, ReadError> {
        loop {
            // Call the parser until it needs more data, even with an empty
            // slice: it may hold queued events (e.g. the foot of `<a/>`).
            loop {
                let (used, res) = {
                    let mut slice = self.buf.get(self.start..self.end).unwrap_or_default();
                    let before = slice.len();
                    let res = self.parser.parse(&mut slice, false);
                    (before - slice.len(), res)
                };
                self.start += used;
                self.inflight = self.inflight.saturating_add(used);
                match res {
                    Ok(Some(ev)) => {
                        let frame = self.handle(ev)?;
                        self.check_size()?;
                        if let Some(frame) = frame {
                            return Ok(frame);
                        }
                    }
                    Ok(None) => {
                        return Err(ReadError::Xml("document ended unexpectedly".into()));
                    }
                    Err(EndOrError::NeedMoreData) => {
                        self.check_size()?;
                        if used == 0 || self.start >= self.end {
                            break;
                        }
                    }
                    Err(EndOrError::Error(e)) => return Err(map_rxml_error(e)),
                }
            }
            if self.start >= self.end {
                self.start = 0;
                self.end = 0;
            } else if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let Some(free) = self.buf.get_mut(self.end..).filter(|b| !b.is_empty()) else {
                return Err(ReadError::Xml("parser made no progress".into()));
            };
            let n = self.io.read(free).await?;
            if n == 0 {
                return Err(ReadError::UnexpectedEof);
            }
            self.end += n;
        }
    }

    /// Bytes of the current unit so far, including bytes held by the lexer.
    fn current_size(&self) -> usize {
        match self.phase {
            Phase::InStream if self.depth <= 1 => self.inflight,
            _ => self.unit_bytes.saturating_add(self.inflight),
        }
    }

    fn check_size(&self) -> Result<(), ReadError> {
        let size = self.current_size();
        if size > self.limits.max_stanza_bytes {
            let what = if self.phase == Phase::Prolog {
                "stream header"
            } else {
                "stanza"
            };
            return Err(ReadError::PolicyViolation(format!(
                "{what} exceeds {} bytes",
                self.limits.max_stanza_bytes
            )));
        }
        Ok(())
    }

    fn handle(&mut self, ev: RawEvent) -> Result<Option<Frame>, ReadError> {
        let len = ev.metrics().len();
        self.inflight = self.inflight.saturating_sub(len);
        match &ev {
            RawEvent::ElementHeadOpen(..) => self.head_attrs.clear(),
            RawEvent::Attribute(_, (prefix, name), _) => {
                let key = (prefix.as_ref().map(|p| p.to_string()), name.to_string());
                if self.head_attrs.contains(&key) {
                    return Err(ReadError::Xml(format!("duplicate attribute {name:?}")));
                }
                self.head_attrs.push(key);
            }
            RawEvent::ElementHeadClose(_) => self.head_attrs.clear(),
            _ => {}
        }
        match self.phase {
            Phase::Prolog => self.handle_prolog(ev, len),
            Phase::InStream => self.handle_in_stream(ev, len),
            Phase::Done => Err(ReadError::Finished),
        }
    }

    fn handle_prolog(&mut self, ev: RawEvent, len: usize) -> Result<Option<Frame>, ReadError> {
        self.unit_bytes = self.unit_bytes.saturating_add(len);
        match &ev {
            RawEvent::XmlDeclaration(..) => return Ok(None),
            RawEvent::ElementHeadOpen(_, (prefix, name)) => {
                self.root_name = Some((prefix.as_ref().map(|p| p.to_string()), name.to_string()));
                self.depth = 1;
            }
            RawEvent::Attribute(_, (prefix, name), value) => {
                self.root_attrs.push((
                    prefix.as_ref().map(|p| p.to_string()),
                    name.to_string(),
                    value.clone(),
                ));
            }
            RawEvent::ElementHeadClose(_) => {}
            RawEvent::Text(..) | RawEvent::ElementFoot(_) => {
                return Err(ReadError::BadFormat(
                    "content before the stream header".into(),
                ));
            }
        }
        let is_close = matches!(ev, RawEvent::ElementHeadClose(_));
        self.tree.process_event(ev).map_err(map_tree_error)?;
        if !is_close {
            return Ok(None);
        }
        let header = self.build_header()?;
        self.phase = Phase::InStream;
        self.unit_bytes = 0;
        self.root_attrs = Vec::new();
        Ok(Some(Frame::Header(header)))
    }

    fn build_header(&self) -> Result<StreamHeader, ReadError> {
        let Some((prefix, local)) = &self.root_name else {
            return Err(ReadError::BadFormat("no stream root".into()));
        };
        let mut header = StreamHeader::default();
        let mut default_ns: Option<&str> = None;
        let mut root_ns: Option<&str> = None;
        for (p, name, value) in &self.root_attrs {
            match (p.as_deref(), name.as_str()) {
                (None, "xmlns") => default_ns = Some(value),
                (Some("xmlns"), declared) if Some(declared) == prefix.as_deref() => {
                    root_ns = Some(value);
                }
                (None, "id") => header.id = Some(value.clone()),
                (None, "from") => header.from = Some(value.clone()),
                (None, "to") => header.to = Some(value.clone()),
                (None, "version") => header.version = Some(value.clone()),
                _ => {}
            }
        }
        if prefix.is_none() {
            root_ns = default_ns;
        }
        if root_ns != Some(ns::STREAMS) {
            return Err(ReadError::InvalidNamespace(format!(
                "stream root is not in {}",
                ns::STREAMS
            )));
        }
        if local != "stream" {
            return Err(ReadError::BadFormat(format!(
                "stream root is <{local}>, not <stream>"
            )));
        }
        match default_ns {
            Some(d) if !d.is_empty() && prefix.is_some() => header.default_ns = d.to_owned(),
            _ => {
                return Err(ReadError::InvalidNamespace(
                    "stream header declares no content namespace".into(),
                ));
            }
        }
        Ok(header)
    }

    fn handle_in_stream(&mut self, ev: RawEvent, len: usize) -> Result<Option<Frame>, ReadError> {
        match &ev {
            RawEvent::ElementHeadOpen(..) => {
                self.depth += 1;
                if self.depth == 2 {
                    self.unit_bytes = len;
                } else {
                    self.unit_bytes = self.unit_bytes.saturating_add(len);
                }
                if self.depth - 1 > self.limits.max_depth {
                    return Err(ReadError::PolicyViolation(format!(
                        "element nesting deeper than {}",
                        self.limits.max_depth
                    )));
                }
            }
            RawEvent::Attribute(..) | RawEvent::ElementHeadClose(_) => {
                self.unit_bytes = self.unit_bytes.saturating_add(len);
            }
            RawEvent::Text(_, text) => {
                if self.depth <= 1 {
                    if is_xml_whitespace(text) {
                        return Ok(None);
                    }
                    return Err(ReadError::BadFormat("text between stanzas".into()));
                }
                self.unit_bytes = self.unit_bytes.saturating_add(len);
            }
            RawEvent::ElementFoot(_) => {
                if self.depth <= 1 {
                    self.depth = 0;
                    return Ok(Some(Frame::End));
                }
                self.depth -= 1;
                self.unit_bytes = self.unit_bytes.saturating_add(len);
            }
            RawEvent::XmlDeclaration(..) => {
                return Err(ReadError::Xml("XML declaration inside the stream".into()));
            }
        }
        let is_foot = matches!(ev, RawEvent::ElementFoot(_));
        self.tree.process_event(ev).map_err(map_tree_error)?;
        if is_foot && self.depth == 1 {
            if self.unit_bytes > self.limits.max_stanza_bytes {
                return Err(ReadError::PolicyViolation(format!(
                    "stanza exceeds {} bytes",
                    self.limits.max_stanza_bytes
                )));
            }
            self.unit_bytes = 0;
            let Some(mut el) = self.tree.unshift_child() else {
                return Err(ReadError::Xml("completed element not found".into()));
            };
            strip_prefixes(&mut el);
            return Ok(Some(Frame::Stanza(el)));
        }
        Ok(None)
    }
}

/// A stream error sent by the peer (`<stream:error>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStreamError {
    /// The defined condition, e.g. `not-authorized` or `host-unknown`.
    pub condition: String,
    /// The optional human-readable text.
    pub text: Option<String>,
}

impl std::fmt::Display for PeerStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.text {
            Some(text) => write!(f, "{} ({text})", self.condition),
            None => f.write_str(&self.condition),
        }
    }
}

/// If `el` is a `<stream:error>`, extract its condition and text.
#[must_use]
pub fn parse_stream_error(el: &Element) -> Option<PeerStreamError> {
    if !el.is("error", ns::STREAMS) {
        return None;
    }
    let mut condition = None;
    let mut text = None;
    for child in el.children() {
        if !child.has_ns(ns::XMPP_STREAMS) {
            continue;
        }
        if child.name() == "text" {
            text = Some(child.text());
        } else if condition.is_none() {
            condition = Some(child.name().to_owned());
        }
    }
    Some(PeerStreamError {
        condition: condition.unwrap_or_else(|| "undefined-condition".to_owned()),
        text,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::io::ReadBuf;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.org' version='1.0'>";

    /// An AsyncRead that yields its data in chunks of at most `chunk` bytes.
    struct Chunked {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .chunk
                .min(buf.remaining())
                .min(self.data.len() - self.pos);
            let pos = self.pos;
            buf.put_slice(&self.data[pos..pos + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    fn reader(data: &[u8], chunk: usize, limits: Limits) -> StreamReader<Chunked> {
        StreamReader::new(
            Chunked {
                data: data.to_vec(),
                pos: 0,
                chunk,
            },
            limits,
        )
    }

    async fn read_all(mut r: StreamReader<Chunked>) -> (Vec<Frame>, Option<ReadError>) {
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), r.next())
                .await
                .expect("reader hung")
            {
                Ok(Frame::End) => {
                    frames.push(Frame::End);
                    return (frames, None);
                }
                Ok(f) => frames.push(f),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    fn limits(max: usize) -> Limits {
        Limits {
            max_stanza_bytes: max,
            max_depth: 32,
        }
    }

    #[tokio::test]
    async fn header_stanzas_end_in_one_read_and_bytewise() {
        let doc = format!(
            "{HEADER}\n <message to='a@b' id='1'><body>h&amp;llo ü</body></message>\
             <iq type='get' id='2'><query xmlns='jabber:iq:version'/></iq> \n\t \
             <presence/></stream:stream>"
        );
        for chunk in [usize::MAX, 1, 3, 7] {
            let (frames, err) = read_all(reader(doc.as_bytes(), chunk, Limits::default())).await;
            assert!(err.is_none(), "chunk {chunk}: {err:?}");
            assert_eq!(frames.len(), 5, "chunk {chunk}");
            let Frame::Header(h) = &frames[0] else {
                panic!("no header")
            };
            assert_eq!(h.id.as_deref(), Some("s1"));
            assert_eq!(h.from.as_deref(), Some("example.org"));
            assert_eq!(h.to, None);
            assert_eq!(h.version.as_deref(), Some("1.0"));
            assert_eq!(h.default_ns, "jabber:client");
            let Frame::Stanza(m) = &frames[1] else {
                panic!("no message")
            };
            assert!(m.is("message", ns::CLIENT));
            assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "h&llo ü");
            let Frame::Stanza(iq) = &frames[2] else {
                panic!("no iq")
            };
            assert!(iq.get_child("query", "jabber:iq:version").is_some());
            assert!(matches!(&frames[3], Frame::Stanza(p) if p.is("presence", ns::CLIENT)));
            assert!(matches!(frames[4], Frame::End));
        }
    }

    #[tokio::test]
    async fn reset_reads_a_restarted_stream() {
        let doc = format!(
            "{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}<iq id='b'/>"
        );
        for chunk in [1, 4096] {
            let mut r = reader(doc.as_bytes(), chunk, Limits::default());
            assert!(matches!(r.next().await, Ok(Frame::Header(_))));
            assert!(matches!(r.next().await, Ok(Frame::Stanza(s)) if s.name() == "success"));
            r.reset();
            assert!(
                matches!(r.next().await, Ok(Frame::Header(h)) if h.id.as_deref() == Some("s1"))
            );
            assert!(matches!(r.next().await, Ok(Frame::Stanza(s)) if s.attr("id") == Some("b")));
        }
    }

    #[tokio::test]
    async fn finished_after_end() {
        let doc = format!("{HEADER}</stream:stream>");
        let mut r = reader(doc.as_bytes(), 100, Limits::default());
        assert!(matches!(r.next().await, Ok(Frame::Header(_))));
        assert!(matches!(r.next().await, Ok(Frame::End)));
        assert!(matches!(r.next().await, Err(ReadError::Finished)));
    }

    #[tokio::test]
    async fn prefixes_declared_on_root_resolve_and_stream_elements() {
        let doc = format!(
            "{HEADER}<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\
             <stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bad secret</text></stream:error></stream:stream>"
        );
        let (frames, err) = read_all(reader(doc.as_bytes(), 5, Limits::default())).await;
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(&frames[1], Frame::Stanza(f) if f.is("features", ns::STREAMS)));
        let Frame::Stanza(e) = &frames[2] else {
            panic!()
        };
        let pe = parse_stream_error(e).unwrap();
        assert_eq!(pe.condition, "not-authorized");
        assert_eq!(pe.text.as_deref(), Some("bad secret"));
    }

    #[tokio::test]
    async fn truncated_streams_are_unexpected_eof() {
        let full = format!("{HEADER}<message><body>hello</body></message></stream:stream>");
        // every cut point strictly inside the document
        for cut in 0..full.len() - "</stream:stream>".len() {
            let (_, err) = read_all(reader(&full.as_bytes()[..cut], 4096, Limits::default())).await;
            assert!(
                matches!(err, Some(ReadError::UnexpectedEof)),
                "cut {cut}: {err:?}"
            );
        }
        for cut in full.len() - "</stream:stream>".len()..full.len() {
            let (_, err) = read_all(reader(&full.as_bytes()[..cut], 1, Limits::default())).await;
            assert!(matches!(err, Some(ReadError::UnexpectedEof)));
        }
    }

    /// Measures the on-wire size of the stanza and checks the limit at
    /// exactly that size and one byte below.
    #[tokio::test]
    async fn stanza_size_limit_is_exact() {
        let stanza = format!(
            "<message id='x'><body>{}</body></message>",
            "a".repeat(5000)
        );
        let doc = format!("{HEADER}{stanza}<presence/></stream:stream>");
        for chunk in [usize::MAX, 1, 999] {
            let (frames, err) = read_all(reader(doc.as_bytes(), chunk, limits(stanza.len()))).await;
            assert!(err.is_none(), "at limit, chunk {chunk}: {err:?}");
            assert_eq!(frames.len(), 4);
            let (frames, err) =
                read_all(reader(doc.as_bytes(), chunk, limits(stanza.len() - 1))).await;
            assert!(
                matches!(err, Some(ReadError::PolicyViolation(_))),
                "above limit, chunk {chunk}: {err:?}"
            );
            assert_eq!(frames.len(), 1);
        }
    }

    #[tokio::test]
    async fn huge_text_node_is_cut_while_streaming() {
        // 10 MB of text announced; the reader must fail long before it has
        // read it all.
        let mut doc = format!("{HEADER}<message><body>").into_bytes();
        doc.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        let mut r = reader(&doc, 64 * 1024, Limits::default());
        assert!(matches!(r.next().await, Ok(Frame::Header(_))));
        let err = r.next().await.unwrap_err();
        assert!(matches!(err, ReadError::PolicyViolation(_)), "{err:?}");
        assert_eq!(err.stream_error_condition(), "policy-violation");
        let consumed = r.io.pos;
        assert!(
            consumed < Limits::DEFAULT_MAX_STANZA_BYTES + 2 * READ_BUFFER_SIZE,
            "read {consumed} bytes"
        );
    }

    #[tokio::test]
    async fn huge_attribute_and_name_are_rejected() {
        let mut doc = format!("{HEADER}<message to='").into_bytes();
        doc.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        let (_, err) = read_all(reader(&doc, 4096, Limits::default())).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );

        let mut doc = format!("{HEADER}<m").into_bytes();
        doc.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        let (_, err) = read_all(reader(&doc, 4096, Limits::default())).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );

        // endless whitespace inside an element head
        let mut doc = format!("{HEADER}<message").into_bytes();
        doc.extend(std::iter::repeat_n(b' ', 1024 * 1024));
        let (_, err) = read_all(reader(&doc, 4096, Limits::default())).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );

        // many attributes
        let mut doc = format!("{HEADER}<message").into_bytes();
        for i in 0..100_000 {
            doc.extend(format!(" a{i}='v'").bytes());
        }
        let (_, err) = read_all(reader(&doc, 4096, Limits::default())).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn oversized_stream_header_is_rejected() {
        let mut doc =
            b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
                .to_vec();
        for i in 0..100_000 {
            doc.extend(format!(" a{i}='v'").bytes());
        }
        let (_, err) = read_all(reader(&doc, 4096, Limits::default())).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn depth_limit() {
        let lim = Limits {
            max_stanza_bytes: 1 << 20,
            max_depth: 32,
        };
        let nest = |d: usize| {
            let mut s = String::from(HEADER);
            for _ in 0..d {
                s.push_str("<a>");
            }
            for _ in 0..d {
                s.push_str("</a>");
            }
            s.push_str("</stream:stream>");
            s
        };
        let (frames, err) = read_all(reader(nest(32).as_bytes(), 4096, lim)).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 3);
        let (_, err) = read_all(reader(nest(33).as_bytes(), 4096, lim)).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
        // an endless nesting is cut at the limit without reading it all
        let mut doc = String::from(HEADER);
        for _ in 0..100_000 {
            doc.push_str("<a>");
        }
        let (_, err) = read_all(reader(doc.as_bytes(), 4096, lim)).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
    }

    async fn err_of(body: &[u8]) -> ReadError {
        let mut doc = HEADER.as_bytes().to_vec();
        doc.extend_from_slice(body);
        doc.extend_from_slice(b"</stream:stream>");
        let (_, err) = read_all(reader(&doc, 3, Limits::default())).await;
        err.expect("expected an error")
    }

    #[tokio::test]
    async fn malformed_xml() {
        for body in [
            &b"<message></iq>"[..],
            b"<message a='1' a='2'/>",
            b"<message a=1/>",
            b"<foo:bar/>",
            b"<message>&unknown;</message>",
            b"<message><</message>",
            b"<message>]]></message>",
            b"<1message/>",
        ] {
            let e = err_of(body).await;
            assert!(
                matches!(e, ReadError::Xml(_)),
                "{}: {e:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(e.stream_error_condition(), "not-well-formed");
        }
    }

    #[tokio::test]
    async fn restricted_xml() {
        for body in [
            &b"<message><!-- hi --></message>"[..],
            b"<?pi data?>",
            b"<message><?pi data?></message>",
            b"<!DOCTYPE foo>",
        ] {
            let e = err_of(body).await;
            assert_eq!(e.stream_error_condition(), "restricted-xml");
            assert!(
                matches!(e, ReadError::Restricted(_)),
                "{}: {e:?}",
                String::from_utf8_lossy(body)
            );
        }
        // at document start
        for doc in [
            &b"<!DOCTYPE stream [<!ENTITY x 'y'>]><stream:stream/>"[..],
            b"<?xml version='1.1'?><stream:stream/>",
            b"<?xml version='1.0' encoding='latin1'?><stream:stream/>",
            // rxml reads this as a broken XML declaration: not-well-formed
            b"<?xml-stylesheet href='x'?><stream:stream/>",
        ] {
            let (_, err) = read_all(reader(doc, 2, Limits::default())).await;
            let e = err.unwrap();
            assert!(
                matches!(e, ReadError::Restricted(_) | ReadError::Xml(_)),
                "{}: {e:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[tokio::test]
    async fn invalid_utf8() {
        for body in [
            &b"<message><body>\xff</body></message>"[..],
            b"<message><body>\xc3</body></message>",
            b"<message><body>\xed\xa0\x80</body></message>",
            b"<message to='\xc0\xaf'/>",
            b"<message><body>\x01</body></message>",
        ] {
            let e = err_of(body).await;
            assert!(matches!(e, ReadError::Xml(_)), "{body:?}: {e:?}");
        }
    }

    #[tokio::test]
    async fn bad_stream_roots() {
        let cases: [(&[u8], &str); 5] = [
            (b"<stream xmlns='jabber:client'>", "invalid-namespace"),
            (
                b"<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>",
                "invalid-namespace",
            ),
            (
                b"<stream:streamx xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
                "bad-format",
            ),
            (
                b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
                "invalid-namespace",
            ),
            (b"<x:stream xmlns='jabber:client'>", "not-well-formed"),
        ];
        for (doc, cond) in cases {
            let (_, err) = read_all(reader(doc, 4096, Limits::default())).await;
            let e = err.unwrap();
            assert_eq!(
                e.stream_error_condition(),
                cond,
                "{}: {e:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[tokio::test]
    async fn text_between_stanzas_is_rejected_but_whitespace_is_fine() {
        let e = err_of(b"<presence/>hello<presence/>").await;
        assert!(matches!(e, ReadError::BadFormat(_)), "{e:?}");
        // lots of whitespace keepalives, more than the stanza limit in total
        let mut doc = HEADER.to_owned();
        for _ in 0..2000 {
            doc.push_str(&" ".repeat(100));
            doc.push_str("\n<presence/>");
        }
        doc.push_str("</stream:stream>");
        let (frames, err) = read_all(reader(doc.as_bytes(), 1000, limits(1000))).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 2002);
    }

    #[tokio::test]
    async fn stanzas_over_duplex_with_cancellation() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut r = StreamReader::new(server, Limits::default());
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            client.write_all(HEADER.as_bytes()).await.unwrap();
            for i in 0..50 {
                client
                    .write_all(format!("<message id='{i}'><body>{i}</body></message>").as_bytes())
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            client.write_all(b"</stream:stream>").await.unwrap();
        });
        let mut got = 0;
        loop {
            // cancel the read often; no byte may be lost
            tokio::select! {
                f = r.next() => match f.unwrap() {
                    Frame::Header(_) => {}
                    Frame::Stanza(m) => {
                        assert_eq!(m.attr("id"), Some(got.to_string().as_str()));
                        got += 1;
                    }
                    Frame::End => break,
                },
                _ = tokio::time::sleep(Duration::from_micros(300)) => {}
            }
        }
        assert_eq!(got, 50);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn stanzas_have_no_prefix_declarations_and_serialize() {
        let doc = format!(
            "{HEADER}<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xmlns:p='urn:p'>\
             <p:x p:a='1' xml:lang='en'/></message></stream:stream>"
        );
        let (frames, err) = read_all(reader(doc.as_bytes(), 4096, Limits::default())).await;
        assert!(err.is_none(), "{err:?}");
        let Frame::Stanza(m) = &frames[1] else {
            panic!()
        };
        // minidom's own serializer would panic on the xmlns:xml declaration
        let s = String::from(m);
        assert!(s.contains("urn:p"));
        let again = crate::writer::serialize(m).unwrap();
        let reparsed: Element = std::str::from_utf8(&again).unwrap().parse().unwrap();
        assert_eq!(&reparsed, m);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn run(data: Vec<u8>, chunk: usize, max: usize) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async {
                let (_, _) = read_all(reader(&data, chunk, limits(max))).await;
            });
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
                run(data, chunk, 512);
            }

            #[test]
            fn random_xmlish_never_panics(parts in proptest::collection::vec(prop_oneof![
                Just("<".to_string()), Just(">".to_string()), Just("/".to_string()),
                Just("'".to_string()), Just("=".to_string()), Just(" ".to_string()),
                Just("a".to_string()), Just(":".to_string()), Just("&".to_string()),
                Just(";".to_string()), Just("xmlns".to_string()), Just("stream".to_string()),
                Just("<message>".to_string()), Just("</message>".to_string()),
                Just("<![CDATA[".to_string()), Just("]]>".to_string()), Just("\u{fffe}".to_string()),
                Just("é".to_string()),
            ], 0..200), chunk in 1usize..32, cut in 0usize..4000) {
                let mut doc = HEADER.as_bytes().to_vec();
                for p in parts { doc.extend_from_slice(p.as_bytes()); }
                doc.truncate(cut.max(1));
                run(doc, chunk, 300);
            }

            #[test]
            fn valid_stream_any_cut_never_panics(cut in 0usize..400, chunk in 1usize..16) {
                let full = format!("{HEADER}<message id='1'><body>x&lt;y</body></message><presence/></stream:stream>");
                let bytes = full.as_bytes();
                run(bytes[..cut.min(bytes.len())].to_vec(), chunk, 1 << 16);
            }
        }
    }
}
