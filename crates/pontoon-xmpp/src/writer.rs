//! Serializing elements and stream framing to bytes.
//!
//! Why not minidom's `write_to`: it panics (`expect`/`assert!`) when the
//! element carries characters XML cannot represent (IRC colour codes such as
//! `\x03` are common in text bridged from legacy networks) or odd prefix
//! declarations. On a gateway one such message would kill the link task, so
//! this module has its own small serializer that never panics: characters
//! that XML 1.0 cannot carry are replaced by U+FFFD, and the only error is
//! an element or attribute name that is not a valid XML name (a programming
//! error, reported as [`WriteError`]).
//!
//! Namespaces are declared as needed: an element whose namespace differs
//! from its parent's gets an `xmlns='...'` (a top-level element always gets
//! one, which is valid inside any stream), attributes in a foreign namespace
//! get an `ns0:`-style prefix declared on their element, and `xml:`
//! attributes use the built-in prefix.

use minidom::{Element, Node};

use crate::ns;
use crate::reader::StreamHeader;

/// Deepest element nesting the serializer accepts (protects the stack
/// against pathological trees built by code).
const MAX_WRITE_DEPTH: usize = 256;

/// The closing tag of a stream.
pub const STREAM_CLOSE: &[u8] = b"</stream:stream>";

/// Why an element could not be serialized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// An element or attribute name is not a valid XML name (NCName).
    #[error("invalid XML name: {0:?}")]
    InvalidName(String),
    /// The element tree is nested deeper than the serializer accepts.
    #[error("element tree nested too deeply")]
    TooDeep,
}

/// Serialize `el` (without XML declaration) to a new buffer.
pub fn serialize(el: &Element) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::new();
    serialize_into(el, &mut out)?;
    Ok(out)
}

/// Append the serialization of `el` to `out`. On error `out` is left as it
/// was.
pub fn serialize_into(el: &Element, out: &mut Vec<u8>) -> Result<(), WriteError> {
    serialize_mapped(el, None, out)
}

/// As [`serialize_into`], writing `el` in the namespace `to` if it is in `from`, and its
/// descendants in `from` below it likewise: the bytes of
/// `serialize_into(&ns::rewrite_ns(el, from, to))` without copying the element (the
/// component link writes `jabber:client` stanzas as `jabber:component:accept`).
pub fn serialize_into_ns(
    el: &Element,
    from: &str,
    to: &str,
    out: &mut Vec<u8>,
) -> Result<(), WriteError> {
    serialize_mapped(el, Some((from, to)), out)
}

fn serialize_mapped(
    el: &Element,
    map: Option<(&str, &str)>,
    out: &mut Vec<u8>,
) -> Result<(), WriteError> {
    let len = out.len();
    let res = write_element(el, None, map, out, 0);
    if res.is_err() {
        out.truncate(len);
    }
    res
}

/// Appends `el` as a child of an element written in the namespace `parent_ns` (the writer
/// of a [`crate::outgoing::Message`] writes its own start tag, then its payloads here).
pub(crate) fn write_child(
    el: &Element,
    parent_ns: &str,
    map: Option<(&str, &str)>,
    out: &mut Vec<u8>,
) -> Result<(), WriteError> {
    write_element(el, Some(parent_ns), map, out, 1)
}

fn is_ncname(name: &str) -> bool {
    rxml::NcNameStr::from_str(name).is_ok()
}

fn write_element(
    el: &Element,
    parent_ns: Option<&str>,
    map: Option<(&str, &str)>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), WriteError> {
    if depth > MAX_WRITE_DEPTH {
        return Err(WriteError::TooDeep);
    }
    let name = el.name();
    if !is_ncname(name) {
        return Err(WriteError::InvalidName(name.to_owned()));
    }
    // The namespace as written. `Element::ns` copies it into a new String, so it is only
    // called for an element whose namespace is neither mapped nor its parent's (rare).
    let map = map.filter(|(from, _)| el.has_ns(*from));
    let owned;
    let ns: &str = match (map, parent_ns) {
        (Some((_, to)), _) => to,
        (None, Some(parent)) if el.has_ns(parent) => parent,
        _ => {
            owned = el.ns();
            &owned
        }
    };
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    if parent_ns != Some(ns) {
        out.extend_from_slice(b" xmlns='");
        escape_into(ns, true, out);
        out.push(b'\'');
    }
    let mut declared: Vec<&str> = Vec::new();
    for ((attr_ns, attr_name), value) in el.attrs() {
        let attr_name: &str = attr_name.as_ref();
        let attr_ns: &str = attr_ns.as_str();
        out.push(b' ');
        if attr_ns.is_empty() {
            // plain attribute
        } else if attr_ns == rxml::XMLNS_XML {
            out.extend_from_slice(b"xml:");
        } else {
            let idx = match declared.iter().position(|d| *d == attr_ns) {
                Some(i) => i,
                None => {
                    declared.push(attr_ns);
                    let i = declared.len() - 1;
                    out.extend_from_slice(format!("xmlns:ns{i}='").as_bytes());
                    escape_into(attr_ns, true, out);
                    out.extend_from_slice(b"' ");
                    i
                }
            };
            out.extend_from_slice(format!("ns{idx}:").as_bytes());
        }
        out.extend_from_slice(attr_name.as_bytes());
        out.extend_from_slice(b"='");
        escape_into(value, true, out);
        out.push(b'\'');
    }
    let mut nodes = el.nodes().peekable();
    if nodes.peek().is_none() {
        out.extend_from_slice(b"/>");
        return Ok(());
    }
    out.push(b'>');
    for node in nodes {
        match node {
            Node::Element(child) => write_element(child, Some(ns), map, out, depth + 1)?,
            Node::Text(text) => escape_into(text, false, out),
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    Ok(())
}

/// What a byte is to [`escape_into`]: special in text, in an attribute value, or both.
/// `0xEF` is marked in both: it may start U+FFFE or U+FFFF, which is checked when met.
const IN_TEXT: u8 = 1;
const IN_ATTR: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = IN_TEXT | IN_ATTR;
        b += 1;
    }
    t[b'\n' as usize] = IN_ATTR;
    t[b'\t' as usize] = IN_ATTR;
    t[b'&' as usize] = IN_TEXT | IN_ATTR;
    t[b'<' as usize] = IN_TEXT | IN_ATTR;
    t[b'>' as usize] = IN_TEXT | IN_ATTR;
    t[b'\'' as usize] = IN_ATTR;
    t[b'"' as usize] = IN_ATTR;
    t[0xEF] = IN_TEXT | IN_ATTR;
    t
};

/// Escape `s` for text (`attr == false`) or a single-quoted attribute value,
/// replacing characters XML cannot carry by U+FFFD.
///
/// Runs of bytes that need nothing are copied at once: in UTF-8 only ASCII bytes can be
/// markup or control characters, and U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`) are the only
/// other characters of a `str` that XML cannot carry. Whether a byte needs a look is one
/// load from a 256-entry table (a chain of comparisons before: 3,100 instructions a
/// message, `bench/profile`).
pub(crate) fn escape_into(s: &str, attr: bool, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mask = if attr { IN_ATTR } else { IN_TEXT };
    out.reserve(bytes.len());
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if CLASS[usize::from(b)] & mask == 0 {
            i += 1;
            continue;
        }
        let (replacement, width): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'\'' => (b"&apos;", 1),
            b'"' => (b"&quot;", 1),
            b'\r' => (b"&#xD;", 1),
            b'\n' => (b"&#xA;", 1),
            b'\t' => (b"&#x9;", 1),
            0xEF => {
                if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                {
                    ("\u{FFFD}".as_bytes(), 3)
                } else {
                    i += 1;
                    continue;
                }
            }
            _ => ("\u{FFFD}".as_bytes(), 1),
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        i += width;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Escape `s` as XML text (for building raw stream framing by hand).
#[must_use]
pub fn escape_text(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    escape_into(s, true, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The opening of a stream: XML declaration and `<stream:stream ...>` with
/// `xmlns` set to `header.default_ns` and the `stream` prefix bound.
/// Absent attributes are left out.
#[must_use]
pub fn open_stream(header: &StreamHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_into(&header.default_ns, true, &mut out);
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(ns::STREAMS.as_bytes());
    out.push(b'\'');
    for (name, value) in [
        ("to", &header.to),
        ("from", &header.from),
        ("id", &header.id),
        ("version", &header.version),
    ] {
        if let Some(v) = value {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            escape_into(v, true, &mut out);
            out.push(b'\'');
        }
    }
    out.push(b'>');
    out
}

/// A stream error followed by the stream close:
/// `<stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>[<text ..>..</text>]</stream:error></stream:stream>`.
///
/// The `stream` prefix is the one bound by every stream header Pontoon
/// sends or accepts from XMPP servers. An invalid `condition` (not an XML
/// name) becomes `undefined-condition`.
#[must_use]
pub fn stream_error(condition: &str, text: Option<&str>) -> Vec<u8> {
    let condition = if is_ncname(condition) {
        condition
    } else {
        "undefined-condition"
    };
    let mut out = Vec::with_capacity(200);
    out.extend_from_slice(b"<stream:error><");
    out.extend_from_slice(condition.as_bytes());
    out.extend_from_slice(b" xmlns='");
    out.extend_from_slice(ns::XMPP_STREAMS.as_bytes());
    out.extend_from_slice(b"'/>");
    if let Some(text) = text {
        out.extend_from_slice(b"<text xmlns='");
        out.extend_from_slice(ns::XMPP_STREAMS.as_bytes());
        out.extend_from_slice(b"'>");
        escape_into(text, false, &mut out);
        out.extend_from_slice(b"</text>");
    }
    out.extend_from_slice(b"</stream:error>");
    out.extend_from_slice(STREAM_CLOSE);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::limits::Limits;
    use crate::reader::{Frame, StreamReader, parse_stream_error};

    /// The character-by-character escaping the byte-run version replaced, as the reference.
    fn escape_reference(s: &str, attr: bool) -> Vec<u8> {
        let is_xml_char = |c: char| {
            matches!(c,
                '\u{9}' | '\u{A}' | '\u{D}'
                | '\u{20}'..='\u{D7FF}'
                | '\u{E000}'..='\u{FFFD}'
                | '\u{10000}'..='\u{10FFFF}')
        };
        let mut out = Vec::new();
        let mut tmp = [0u8; 4];
        for c in s.chars() {
            match c {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                '\'' if attr => out.extend_from_slice(b"&apos;"),
                '"' if attr => out.extend_from_slice(b"&quot;"),
                '\r' => out.extend_from_slice(b"&#xD;"),
                '\n' if attr => out.extend_from_slice(b"&#xA;"),
                '\t' if attr => out.extend_from_slice(b"&#x9;"),
                c if is_xml_char(c) => out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes()),
                _ => out.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        out
    }

    #[test]
    fn every_character_of_the_basic_plane_escapes_as_the_reference_says() {
        let mut s = String::new();
        for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
            s.clear();
            s.push('a');
            s.push(c);
            s.push('z');
            for attr in [false, true] {
                let mut got = Vec::new();
                escape_into(&s, attr, &mut got);
                assert_eq!(got, escape_reference(&s, attr), "{c:?} attr={attr}");
            }
        }
    }

    #[test]
    fn escaping_matches_the_character_by_character_reference() {
        let samples = [
            "",
            "plain text",
            "a < b && c > d",
            "quotes ' and \" here",
            "line\nbreak\ttab\rreturn",
            "\u{0}\u{1}\u{8}\u{B}\u{C}\u{1F}\u{7F}",
            "é ü 中文 😀 \u{D7FF} \u{E000} \u{FFFD}",
            "\u{FFFE}x\u{FFFF}y\u{FFEF}\u{FEFF}",
            "\u{EFFF}\u{F000}",
            "end with special &",
            "&&&<<<>>>",
        ];
        for s in samples {
            for attr in [false, true] {
                let mut got = Vec::new();
                escape_into(s, attr, &mut got);
                assert_eq!(got, escape_reference(s, attr), "{s:?} attr={attr}");
            }
        }
    }

    #[test]
    fn serialize_into_ns_writes_what_rewrite_ns_would() {
        let samples = [
            "<message xmlns='jabber:client' to='a@b' type='groupchat'><body>hi &amp; bye</body>\
             <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none'/></x></message>",
            "<iq xmlns='jabber:client' type='result' id='1'><query xmlns='jabber:iq:version'><name>P</name></query></iq>",
            "<message xmlns='jabber:client'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client'><body>inner</body></message></forwarded></message>",
            "<presence xmlns='urn:other'><status xmlns='jabber:client'>s</status></presence>",
        ];
        for s in samples {
            let el: Element = s.parse().unwrap();
            let mut direct = Vec::new();
            serialize_into_ns(&el, ns::CLIENT, ns::COMPONENT_ACCEPT, &mut direct).unwrap();
            let mut copied = Vec::new();
            serialize_into(
                &ns::rewrite_ns(el, ns::CLIENT, ns::COMPONENT_ACCEPT),
                &mut copied,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(copied).unwrap()
            );
        }
    }

    fn roundtrip(el: &Element) -> Element {
        let bytes = serialize(el).unwrap();
        std::str::from_utf8(&bytes).unwrap().parse().unwrap()
    }

    #[test]
    fn serializes_namespaces_attrs_and_text() {
        let el: Element = "<message xmlns='jabber:client' to='a@b' id='x&apos;\"'>\
            <body xml:lang='en'>a &lt; b &amp; c</body>\
            <x xmlns='urn:x' xmlns:p='urn:p' p:attr='v'><y/></x></message>"
            .parse()
            .unwrap();
        let bytes = serialize(&el).unwrap();
        let s = String::from_utf8(bytes).unwrap();
        assert!(s.starts_with("<message xmlns='jabber:client'"), "{s}");
        assert!(
            s.contains("<body xml:lang='en'>a &lt; b &amp; c</body>"),
            "{s}"
        );
        assert!(s.contains("<y/>"), "{s}");
        assert_eq!(roundtrip(&el), el);
    }

    #[test]
    fn control_characters_do_not_panic() {
        let mut el = Element::builder("message", ns::CLIENT)
            .attr(rxml::NcName::try_from("id").unwrap(), "a\u{1}b")
            .build();
        el.append_child(
            Element::builder("body", ns::CLIENT)
                .append("\u{3}04red\u{3} and \u{2}bold\u{2}\r\n\u{FFFE}")
                .build(),
        );
        let back = roundtrip(&el);
        assert_eq!(back.attr("id"), Some("a\u{FFFD}b"));
        assert_eq!(
            back.get_child("body", ns::CLIENT).unwrap().text(),
            "\u{FFFD}04red\u{FFFD} and \u{FFFD}bold\u{FFFD}\r\n\u{FFFD}"
        );
    }

    #[test]
    fn invalid_names_are_errors() {
        let el = Element::bare("stream:error", ns::STREAMS);
        assert!(matches!(serialize(&el), Err(WriteError::InvalidName(_))));
        let mut buf = b"keep".to_vec();
        let mut parent = Element::bare("ok", "urn:x");
        parent.append_child(Element::bare("not ok", "urn:x"));
        assert!(serialize_into(&parent, &mut buf).is_err());
        assert_eq!(buf, b"keep");
    }

    #[test]
    fn too_deep_is_an_error() {
        let mut el = Element::bare("a", "urn:x");
        for _ in 0..300 {
            let mut parent = Element::bare("a", "urn:x");
            parent.append_child(el);
            el = parent;
        }
        assert_eq!(serialize(&el), Err(WriteError::TooDeep));
    }

    #[tokio::test]
    async fn stream_error_and_header_parse_back() {
        let header = StreamHeader {
            id: Some("i'd".into()),
            from: None,
            to: Some("irc.example.org".into()),
            version: Some("1.0".into()),
            default_ns: ns::COMPONENT_ACCEPT.into(),
        };
        let mut doc = open_stream(&header);
        doc.extend(stream_error("policy-violation", Some("too <big>")));
        let mut r = StreamReader::new(&doc[..], Limits::default());
        let Frame::Header(h) = r.next().await.unwrap() else {
            panic!()
        };
        assert_eq!(h, header);
        let Frame::Stanza(e) = r.next().await.unwrap() else {
            panic!()
        };
        let pe = parse_stream_error(&e).unwrap();
        assert_eq!(pe.condition, "policy-violation");
        assert_eq!(pe.text.as_deref(), Some("too <big>"));
        assert!(matches!(r.next().await.unwrap(), Frame::End));
        assert!(
            String::from_utf8(stream_error("bad name", None))
                .unwrap()
                .contains("undefined-condition")
        );
    }
}
