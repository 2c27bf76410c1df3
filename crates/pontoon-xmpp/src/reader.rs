//! Incremental, bounded XML stream reader.
//!
//! Why it exists: an XMPP stream is one endless XML document whose top-level
//! children are the stanzas. A generic XML parser would happily buffer a
//! 10 MB text node or an endless attribute before handing anything back, so
//! this reader drives rxml's low-level [`RawParser`] itself, with a fixed
//! 8 KiB read buffer, and checks [`Limits`] after every event and every
//! chunk fed to the parser: the bytes of the current stanza (counted on the
//! wire, including the bytes the lexer holds but has not yet turned into an
//! event), the element depth and the number of attributes per element.
//!
//! A stanza that goes over a limit after its start tag is complete is not
//! fatal: the reader drops what it built of it, keeps parsing in a
//! "discard" mode that only counts bytes and depth until the stanza closes,
//! and then returns [`Frame::Skipped`] with the addressing attributes of
//! its start tag, so the caller can bounce it and carry on. Discarding has
//! its own absolute bounds ([`DISCARD_FACTOR`] times the limits); beyond
//! them, and for an over-limit stream header or stanza start tag, the
//! stream fails with [`ReadError::PolicyViolation`]. Memory use per stream
//! is therefore bounded by roughly `max_stanza_bytes` plus the read buffer.
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

use std::collections::HashSet;
use std::io;

use minidom::tree_builder::TreeBuilder;
use minidom::{Element, Node};
use rxml::error::EndOrError;
use rxml::parser::EventMetrics;
use rxml::{Options, Parse, RawEvent, RawParser, WithOptions};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::limits::Limits;
use crate::ns;

mod head;
use head::StanzaHead;

/// Size of the fixed read buffer of a [`StreamReader`].
pub const READ_BUFFER_SIZE: usize = 8 * 1024;

/// Upper bound for rxml's per-token limit (names, attribute values).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Maximum number of attributes (namespace declarations included) on one
/// element. More make a stanza [skipped](Frame::Skipped), or fail the
/// stream header.
pub const MAX_ATTRIBUTES: usize = 256;

/// While skipping an over-limit stanza, the reader still gives up on the
/// stream (policy violation) once the stanza exceeds this many times
/// [`Limits::max_stanza_bytes`] or [`Limits::max_depth`].
pub const DISCARD_FACTOR: usize = 16;

/// Why a stanza was skipped (see [`Frame::Skipped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The stanza is larger than `limit` bytes.
    TooLarge {
        /// [`Limits::max_stanza_bytes`].
        limit: usize,
    },
    /// The stanza nests elements deeper than `limit`.
    TooDeep {
        /// [`Limits::max_depth`].
        limit: usize,
    },
    /// An element of the stanza has more than `limit` attributes.
    TooManyAttributes {
        /// [`MAX_ATTRIBUTES`].
        limit: usize,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TooLarge { limit } => write!(f, "Stanza too large (limit {limit} bytes)"),
            SkipReason::TooDeep { limit } => {
                write!(f, "Stanza nested too deeply (limit {limit} levels)")
            }
            SkipReason::TooManyAttributes { limit } => {
                write!(
                    f,
                    "Stanza has too many attributes (limit {limit} per element)"
                )
            }
        }
    }
}

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
    /// A top-level element that went over a limit after its start tag and
    /// was read to its end and dropped. The fields come from its start tag
    /// (unprefixed attributes only); the stream goes on.
    Skipped {
        /// Local name, e.g. `message`.
        name: String,
        /// Namespace of the element (empty if its prefix is undeclared).
        ns: String,
        /// The `from` attribute.
        from: Option<String>,
        /// The `to` attribute.
        to: Option<String>,
        /// The `id` attribute.
        id: Option<String>,
        /// The `type` attribute.
        kind: Option<String>,
        /// Which limit it went over.
        reason: SkipReason,
    },
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
    /// parser does not detect duplicates); at most [`MAX_ATTRIBUTES`].
    head_attrs: HashSet<(Option<String>, String)>,
    /// Prefix declarations of the stream root: (prefix, namespace).
    root_prefixes: Vec<(String, String)>,
    /// Content namespace of the stream (default namespace of the root).
    content_ns: String,
    /// Start tag of the current top-level element.
    stanza: StanzaHead,
    /// Whether the start tag of the current top-level element is complete.
    stanza_head_done: bool,
    /// Whether the tree builder holds an element head not yet closed.
    tree_in_head: bool,
    /// Set while skipping an over-limit stanza.
    discard: Option<SkipReason>,
    /// Build elements of the stream's content namespace `.0` in `.1` (see
    /// [`StreamReader::map_content_ns`]).
    ns_map: Option<(&'static str, &'static str)>,
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
            head_attrs: HashSet::new(),
            root_prefixes: Vec::new(),
            content_ns: String::new(),
            stanza: StanzaHead::default(),
            stanza_head_done: false,
            tree_in_head: false,
            discard: None,
            ns_map: None,
        }
    }

    /// Builds the stanzas of a stream whose content namespace is `from` as elements in `to`
    /// (the component link reads `jabber:component:accept` as `jabber:client`): the same
    /// elements as [`ns::rewrite_ns`](crate::ns::rewrite_ns) of what would be read otherwise,
    /// without copying each one. Only elements that inherit the stream's default namespace
    /// are built in `to`; one that declares `from` itself is read as it is written. The
    /// stream header still reports `from`. Applies to the streams read after this call
    /// (set it before the header is read).
    pub fn map_content_ns(&mut self, from: &'static str, to: &'static str) {
        self.ns_map = Some((from, to));
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
        self.head_attrs = HashSet::new();
        self.root_prefixes = Vec::new();
        self.content_ns = String::new();
        self.stanza = StanzaHead::default();
        self.stanza_head_done = false;
        self.tree_in_head = false;
        self.discard = None;
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The underlying transport (e.g. to read a byte counter of a wrapper).
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// The underlying transport, mutably: writing to a transport that is
    /// both readable and writable while no read is in progress.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
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
            if self.phase == Phase::Prolog && self.inflight == 0 && self.unit_bytes == 0 {
                self.check_start()?;
            }
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

    /// A stream starts with markup: `<` is its first byte (rxml takes neither a byte order
    /// mark nor whitespace before it).
    /// The lexer would take other bytes for text and wait for the `<` that ends it, so an
    /// HTTP request or a line of garbage sent to the XMPP port would be answered by
    /// nothing until the negotiation timeout; it is `not-well-formed` at once instead.
    fn check_start(&self) -> Result<(), ReadError> {
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        match pending.first() {
            Some(b'<') | None => Ok(()),
            Some(_) => {
                let head: String = String::from_utf8_lossy(&pending[..pending.len().min(16)])
                    .chars()
                    .map(|c| if c.is_control() { '.' } else { c })
                    .collect();
                Err(ReadError::Xml(format!(
                    "not an XML stream (it starts with {head:?})"
                )))
            }
        }
    }

    /// Bytes of the current unit so far, including bytes held by the lexer.
    fn current_size(&self) -> usize {
        match self.phase {
            Phase::InStream if self.depth <= 1 => self.inflight,
            _ => self.unit_bytes.saturating_add(self.inflight),
        }
    }

    fn check_size(&mut self) -> Result<(), ReadError> {
        let size = self.current_size();
        if self.discard.is_some() {
            let bound = self.limits.max_stanza_bytes.saturating_mul(DISCARD_FACTOR);
            if size > bound {
                return Err(ReadError::PolicyViolation(format!(
                    "stanza exceeds {bound} bytes (too large even to skip)"
                )));
            }
            return Ok(());
        }
        if size > self.limits.max_stanza_bytes {
            if self.phase == Phase::InStream && self.depth >= 2 && self.stanza_head_done {
                self.start_discard(SkipReason::TooLarge {
                    limit: self.limits.max_stanza_bytes,
                });
                return Ok(());
            }
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
                if self.head_attrs.len() < MAX_ATTRIBUTES {
                    let key = (prefix.as_ref().map(|p| p.to_string()), name.to_string());
                    if !self.head_attrs.insert(key) {
                        return Err(ReadError::Xml(format!("duplicate attribute {name:?}")));
                    }
                } else if self.phase != Phase::InStream {
                    return Err(ReadError::PolicyViolation(format!(
                        "stream header has more than {MAX_ATTRIBUTES} attributes"
                    )));
                } else if self.discard.is_none() {
                    // Over the cap attributes are not checked for
                    // duplicates any more: the stanza is dropped anyway.
                    self.start_discard(SkipReason::TooManyAttributes {
                        limit: MAX_ATTRIBUTES,
                    });
                }
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
        let ev = match (ev, self.ns_map) {
            (RawEvent::Attribute(m, (None, name), value), Some((from, to)))
                if name.as_str() == "xmlns" && value == from =>
            {
                // The default namespace the stanzas inherit (see `map_content_ns`).
                RawEvent::Attribute(m, (None, name), to.to_owned())
            }
            (ev, _) => ev,
        };
        self.tree.process_event(ev).map_err(map_tree_error)?;
        if !is_close {
            return Ok(None);
        }
        let header = self.build_header()?;
        self.phase = Phase::InStream;
        self.unit_bytes = 0;
        self.root_prefixes = std::mem::take(&mut self.root_attrs)
            .into_iter()
            .filter_map(|(p, name, value)| (p.as_deref() == Some("xmlns")).then_some((name, value)))
            .collect();
        self.content_ns.clone_from(&header.default_ns);
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
            RawEvent::ElementHeadOpen(_, (prefix, name)) => {
                self.depth += 1;
                if self.depth == 2 {
                    self.unit_bytes = len;
                    self.stanza
                        .begin(prefix.as_ref().map(|p| p.as_str()), name.as_str());
                    self.stanza_head_done = false;
                } else {
                    self.unit_bytes = self.unit_bytes.saturating_add(len);
                }
            }
            RawEvent::Attribute(_, (prefix, name), value) => {
                self.unit_bytes = self.unit_bytes.saturating_add(len);
                if self.depth == 2 && !self.stanza_head_done {
                    self.stanza
                        .record(prefix.as_ref().map(|p| p.as_str()), name.as_str(), value);
                }
            }
            RawEvent::ElementHeadClose(_) => {
                self.unit_bytes = self.unit_bytes.saturating_add(len);
                if self.depth == 2 {
                    self.stanza_head_done = true;
                }
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
        let is_open = matches!(ev, RawEvent::ElementHeadOpen(..));
        let is_foot = matches!(ev, RawEvent::ElementFoot(_));

        if let Some(reason) = self.discard {
            if is_foot && self.depth == 1 {
                return Ok(Some(self.finish_skip(reason)));
            }
            let bound = self.limits.max_depth.saturating_mul(DISCARD_FACTOR);
            if is_open && self.depth - 1 > bound {
                return Err(ReadError::PolicyViolation(format!(
                    "element nesting deeper than {bound} (too deep even to skip)"
                )));
            }
            return Ok(None);
        }

        if is_open && self.depth - 1 > self.limits.max_depth {
            if self.depth == 2 {
                // The top-level element itself: nothing to skip to.
                return Err(ReadError::PolicyViolation(format!(
                    "element nesting deeper than {}",
                    self.limits.max_depth
                )));
            }
            self.start_discard(SkipReason::TooDeep {
                limit: self.limits.max_depth,
            });
            return Ok(None);
        }
        let is_close = matches!(ev, RawEvent::ElementHeadClose(_));
        self.tree.process_event(ev).map_err(map_tree_error)?;
        if is_open {
            self.tree_in_head = true;
        } else if is_close {
            self.tree_in_head = false;
        }
        if is_foot && self.depth == 1 {
            let Some(mut el) = self.tree.unshift_child() else {
                return Err(ReadError::Xml("completed element not found".into()));
            };
            if self.unit_bytes > self.limits.max_stanza_bytes {
                // Only its last event took it over the limit.
                drop(el);
                return Ok(Some(self.finish_skip(SkipReason::TooLarge {
                    limit: self.limits.max_stanza_bytes,
                })));
            }
            self.unit_bytes = 0;
            strip_prefixes(&mut el);
            return Ok(Some(Frame::Stanza(el)));
        }
        Ok(None)
    }

    /// Drop what the tree builder holds of the current top-level element
    /// and switch to discarding the rest of it.
    fn start_discard(&mut self, reason: SkipReason) {
        if self.tree_in_head {
            // Either pushes the element (popped below) or fails (an
            // undeclared prefix), which also clears the pending head.
            let _ = self
                .tree
                .process_event(RawEvent::ElementHeadClose(EventMetrics::zero()));
            self.tree_in_head = false;
        }
        // Close every open element down to the stream root; the partial
        // stanza then is the root's only child.
        while self.tree.depth() > 1 {
            let before = self.tree.depth();
            let _ = self
                .tree
                .process_event(RawEvent::ElementFoot(EventMetrics::zero()));
            if self.tree.depth() >= before {
                break;
            }
        }
        while self.tree.unshift_child().is_some() {}
        self.discard = Some(reason);
    }

    /// The skipped element has closed: report it and resume normal reading.
    fn finish_skip(&mut self, reason: SkipReason) -> Frame {
        self.discard = None;
        self.unit_bytes = 0;
        let head = &mut self.stanza;
        let ns = match &head.prefix {
            None => head
                .default_decl
                .get()
                .map_or_else(|| self.content_ns.clone(), str::to_owned),
            Some(p) => head
                .prefix_decl
                .get()
                .map(str::to_owned)
                .or_else(|| {
                    self.root_prefixes
                        .iter()
                        .find(|(rp, _)| rp == p)
                        .map(|(_, ns)| ns.clone())
                })
                .unwrap_or_default(),
        };
        Frame::Skipped {
            name: std::mem::take(&mut head.name),
            ns,
            from: head.from.take(),
            to: head.to.take(),
            id: head.id.take(),
            kind: head.kind.take(),
            reason,
        }
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
    async fn a_stream_that_does_not_start_with_markup_is_refused_at_once() {
        use tokio::io::AsyncWriteExt;
        // The peer keeps the connection open: the answer must not wait for more bytes.
        let (mut peer, ours) = tokio::io::duplex(1024);
        peer.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut r = StreamReader::new(ours, Limits::default());
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), r.next())
            .await
            .expect("answered without waiting");
        let err = got.expect_err("not XML");
        assert_eq!(err.stream_error_condition(), "not-well-formed");
        assert!(err.to_string().contains("GET / HTTP"), "{err}");
        // With or without the XML declaration, at any chunking, a stream is read.
        let header = "<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' to='a.example'>";
        for doc in [format!("<?xml version='1.0'?>{header}"), header.to_owned()] {
            for chunk in [1, 4096] {
                let mut r = reader(doc.as_bytes(), chunk, Limits::default());
                let got = r.next().await;
                assert!(matches!(got, Ok(Frame::Header(_))), "{doc:?}: {got:?}");
            }
        }
    }

    #[tokio::test]
    async fn mapped_content_namespace_builds_stanzas_in_the_target_namespace() {
        let doc = "<stream:stream xmlns='jabber:component:accept' \
            xmlns:stream='http://etherx.jabber.org/streams' id='c1' from='example.org'>\
            <message to='a@b'><body>hi</body><x xmlns='urn:x'><y/></x></message>\
            <iq xmlns='jabber:component:accept' id='2'/></stream:stream>";
        for chunk in [1, 4096] {
            let mut r = reader(doc.as_bytes(), chunk, Limits::default());
            r.map_content_ns(ns::COMPONENT_ACCEPT, ns::CLIENT);
            let (frames, err) = read_all(r).await;
            assert!(err.is_none(), "{err:?}");
            let Frame::Header(h) = &frames[0] else {
                panic!("no header")
            };
            assert_eq!(h.default_ns, ns::COMPONENT_ACCEPT);
            let Frame::Stanza(m) = &frames[1] else {
                panic!("no message")
            };
            assert!(m.is("message", ns::CLIENT));
            assert_eq!(
                m.get_child("body", ns::CLIENT).map(|b| b.text()),
                Some("hi".into())
            );
            let x = m.get_child("x", "urn:x").unwrap();
            assert!(x.get_child("y", "urn:x").is_some());
            // Declared by the stanza itself: read as written.
            assert!(matches!(&frames[2], Frame::Stanza(iq) if iq.is("iq", ns::COMPONENT_ACCEPT)));
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
            // one byte over: skipped, and the stream goes on
            let lim = stanza.len() - 1;
            let (frames, err) = read_all(reader(doc.as_bytes(), chunk, limits(lim))).await;
            assert!(err.is_none(), "above limit, chunk {chunk}: {err:?}");
            assert_eq!(frames.len(), 4, "chunk {chunk}: {frames:?}");
            assert!(
                matches!(&frames[1], Frame::Skipped { name, id, reason: SkipReason::TooLarge { limit }, .. }
                    if name == "message" && id.as_deref() == Some("x") && *limit == lim),
                "chunk {chunk}: {:?}",
                frames[1]
            );
            assert!(matches!(&frames[2], Frame::Stanza(p) if p.name() == "presence"));
        }
    }

    /// An over-limit stanza is skipped with the fields of its start tag,
    /// the following stanzas are read normally, and the tree builder keeps
    /// no trace of it.
    #[tokio::test]
    async fn oversized_stanza_is_skipped_and_the_stream_goes_on() {
        let big = format!(
            "<message from='evil@remote/r' to='x@irc.example' id='big1' type='chat'>\
             <body>{}</body><x xmlns='urn:x'><y a='1'/></x></message>",
            "a".repeat(20_000)
        );
        let doc = format!(
            "{HEADER}<presence id='p1'/>{big}<message id='m2'><body>ok</body></message>\
             <p:iq xmlns:p='jabber:client' id='i3'><q>{}</q></p:iq>\
             <stream:features><x>{}</x></stream:features><presence id='p4'/></stream:stream>",
            "b".repeat(5000),
            "c".repeat(5000),
        );
        for chunk in [1, 7, 4096, usize::MAX] {
            let (frames, err) = read_all(reader(doc.as_bytes(), chunk, limits(4096))).await;
            assert!(err.is_none(), "chunk {chunk}: {err:?}");
            assert_eq!(frames.len(), 8, "chunk {chunk}: {frames:?}");
            assert!(matches!(&frames[1], Frame::Stanza(p) if p.attr("id") == Some("p1")));
            assert_eq!(
                frames[2],
                Frame::Skipped {
                    name: "message".into(),
                    ns: ns::CLIENT.into(),
                    from: Some("evil@remote/r".into()),
                    to: Some("x@irc.example".into()),
                    id: Some("big1".into()),
                    kind: Some("chat".into()),
                    reason: SkipReason::TooLarge { limit: 4096 },
                }
            );
            let Frame::Stanza(m) = &frames[3] else {
                panic!("chunk {chunk}: {:?}", frames[3])
            };
            assert_eq!(m.attr("id"), Some("m2"));
            assert_eq!(
                m.children().count(),
                1,
                "no leftovers of the skipped stanza"
            );
            assert!(
                matches!(&frames[4], Frame::Skipped { name, ns, id, .. }
                    if name == "iq" && ns == "jabber:client" && id.as_deref() == Some("i3")),
                "{:?}",
                frames[4]
            );
            assert!(
                matches!(&frames[5], Frame::Skipped { name, ns, .. }
                    if name == "features" && ns == crate::ns::STREAMS),
                "{:?}",
                frames[5]
            );
            assert!(matches!(&frames[6], Frame::Stanza(p) if p.attr("id") == Some("p4")));
        }
    }

    #[tokio::test]
    async fn too_deep_or_too_many_attributes_is_skipped() {
        let mut deep = String::from("<message id='d'><body>x</body>");
        for _ in 0..40 {
            deep.push_str("<a>");
        }
        // an unclosed head when the depth limit hits, too
        deep.push_str("<b xmlns:z='urn:z' z:k='v' k='v'>");
        deep.push_str("</b>");
        for _ in 0..40 {
            deep.push_str("</a>");
        }
        deep.push_str("</message>");
        let mut attrs = String::from("<iq id='a' type='get'><query");
        for i in 0..MAX_ATTRIBUTES + 1 {
            attrs.push_str(&format!(" a{i}='v'"));
        }
        attrs.push_str("/></iq>");
        // too many attributes on the stanza itself: still skipped, with
        // the addressing attributes that come after the cap
        let mut own = String::from("<message");
        for i in 0..MAX_ATTRIBUTES + 1 {
            own.push_str(&format!(" a{i}='v'"));
        }
        own.push_str(" id='own' to='t'><body/></message>");
        let doc = format!("{HEADER}{deep}{attrs}{own}<presence/></stream:stream>");
        for chunk in [3, 4096] {
            let (frames, err) = read_all(reader(doc.as_bytes(), chunk, Limits::default())).await;
            assert!(err.is_none(), "chunk {chunk}: {err:?}");
            assert_eq!(frames.len(), 6, "{frames:?}");
            assert!(
                matches!(&frames[1], Frame::Skipped { id, reason: SkipReason::TooDeep { limit: 32 }, .. }
                if id.as_deref() == Some("d")),
                "{:?}",
                frames[1]
            );
            assert!(
                matches!(&frames[2], Frame::Skipped { id, kind, reason: SkipReason::TooManyAttributes { .. }, .. }
                if id.as_deref() == Some("a") && kind.as_deref() == Some("get")),
                "{:?}",
                frames[2]
            );
            assert!(
                matches!(&frames[3], Frame::Skipped { id, to, reason: SkipReason::TooManyAttributes { .. }, .. }
                if id.as_deref() == Some("own") && to.as_deref() == Some("t")),
                "{:?}",
                frames[3]
            );
            assert!(matches!(&frames[4], Frame::Stanza(p) if p.name() == "presence"));
        }
        // exactly at the cap is fine
        let mut ok = String::from("<iq id='a' type='get'><query");
        for i in 0..MAX_ATTRIBUTES {
            ok.push_str(&format!(" a{i}='v'"));
        }
        ok.push_str("/></iq>");
        let doc = format!("{HEADER}{ok}</stream:stream>");
        let (frames, err) = read_all(reader(doc.as_bytes(), 4096, Limits::default())).await;
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(&frames[1], Frame::Stanza(_)));
    }

    #[tokio::test]
    async fn skipping_still_rejects_malformed_xml() {
        let doc = format!(
            "{HEADER}<message><body>{}</body><a></b></message></stream:stream>",
            "x".repeat(5000)
        );
        let (_, err) = read_all(reader(doc.as_bytes(), 100, limits(1024))).await;
        assert!(matches!(err, Some(ReadError::Xml(_))), "{err:?}");
        let mut doc = format!("{HEADER}<message><body>{}", "x".repeat(5000)).into_bytes();
        doc.extend_from_slice(b"\xff</body></message></stream:stream>");
        let (_, err) = read_all(reader(&doc, 100, limits(1024))).await;
        assert!(matches!(err, Some(ReadError::Xml(_))), "{err:?}");
        // an over-limit start tag is not skipped
        let doc = format!(
            "{HEADER}<message to='{}' from='{}'/></stream:stream>",
            "t".repeat(700),
            "f".repeat(700)
        );
        let (_, err) = read_all(reader(doc.as_bytes(), 100, limits(1024))).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn huge_text_node_is_cut_while_streaming() {
        // 10 MB of text announced in a never-closing element: it is
        // skipped up to the absolute bound, then the stream fails long
        // before the reader has read it all.
        let mut doc = format!("{HEADER}<message><body>").into_bytes();
        doc.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        let mut r = reader(&doc, 64 * 1024, Limits::default());
        assert!(matches!(r.next().await, Ok(Frame::Header(_))));
        let err = r.next().await.unwrap_err();
        assert!(matches!(err, ReadError::PolicyViolation(_)), "{err:?}");
        assert_eq!(err.stream_error_condition(), "policy-violation");
        let consumed = r.io.pos;
        assert!(
            consumed < DISCARD_FACTOR * Limits::DEFAULT_MAX_STANZA_BYTES + 2 * READ_BUFFER_SIZE,
            "read {consumed} bytes"
        );
        assert!(
            consumed > Limits::DEFAULT_MAX_STANZA_BYTES,
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

        // many attributes: skipped, then too large even to skip
        let mut doc = format!("{HEADER}<message").into_bytes();
        for i in 0..100_000 {
            doc.extend(format!(" a{i}='v'").bytes());
        }
        let (_, err) = read_all(reader(&doc, 4096, limits(16 * 1024))).await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
    }

    /// Duplicate detection is hashed and capped: the worst case (as many distinct
    /// attributes as fit) is fast, and duplicates are still found.
    #[tokio::test]
    async fn many_attributes_are_cheap() {
        let mut doc = format!("{HEADER}<message").into_bytes();
        for i in 0..40_000 {
            doc.extend(format!(" a{i}=''").bytes());
        }
        doc.extend_from_slice(b"/><presence/></stream:stream>");
        let started = std::time::Instant::now();
        let (frames, err) = read_all(reader(&doc, 4096, limits(1 << 20))).await;
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(
            &frames[1],
            Frame::Skipped {
                reason: SkipReason::TooManyAttributes {
                    limit: MAX_ATTRIBUTES
                },
                ..
            }
        ));
        assert!(matches!(&frames[2], Frame::Stanza(_)));
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = err_of(b"<message><x a='1' b='2' a='3'/></message>").await;
        assert!(matches!(e, ReadError::Xml(_)), "{e:?}");
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
        let (frames, err) = read_all(reader(nest(33).as_bytes(), 4096, lim)).await;
        assert!(err.is_none(), "{err:?}");
        assert!(
            matches!(&frames[1], Frame::Skipped { name, reason: SkipReason::TooDeep { limit: 32 }, .. } if name == "a"),
            "{frames:?}"
        );
        // a top-level element alone cannot be skipped at max_depth 0
        let (_, err) = read_all(reader(
            nest(1).as_bytes(),
            4096,
            Limits {
                max_depth: 0,
                ..lim
            },
        ))
        .await;
        assert!(
            matches!(err, Some(ReadError::PolicyViolation(_))),
            "{err:?}"
        );
        // an endless nesting is cut at the skipping bound without reading
        // it all
        let mut doc = String::from(HEADER);
        for _ in 0..100_000 {
            doc.push_str("<a>");
        }
        let mut r = reader(doc.as_bytes(), 4096, lim);
        assert!(matches!(r.next().await, Ok(Frame::Header(_))));
        let err = r.next().await.unwrap_err();
        assert!(matches!(err, ReadError::PolicyViolation(_)), "{err:?}");
        assert!(
            r.io.pos < 3 * 32 * DISCARD_FACTOR + 2 * READ_BUFFER_SIZE,
            "read {}",
            r.io.pos
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
                    Frame::Skipped { .. } => panic!("nothing is over a limit"),
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
