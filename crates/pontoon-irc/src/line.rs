//! IRC lines on the wire: bounded reading, lenient decoding, parsing, and safe building.
//!
//! A hostile or broken server can send endless bytes without a newline, invalid UTF-8,
//! NULs or stray CRs. The decoder bounds every line (longer ones are discarded, not
//! buffered), decodes UTF-8 and falls back to the user's encoding (latin-1, that is
//! windows-1252, unless they chose another; [`crate::encoding`]), and drops NUL and CR. Outgoing lines are built only through [`build`], which removes CR,
//! LF and NUL from every parameter, so nothing a user types can start a second command.

use bytes::{Buf, BytesMut};
use irc_proto::{Message, Prefix};
use tokio_util::codec::{Decoder, Encoder};

use crate::encoding::{self, ChannelCharsets, Charset};

/// Longest incoming line kept: 8191 bytes of tags plus a 512-byte message.
pub const MAX_LINE: usize = 8191 + 512;

/// Longest outgoing line, CRLF included (RFC 1459).
pub const MAX_OUT_LINE: usize = 512;

/// Errors of the line codec: only I/O, since bad lines are dropped, never fatal.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A bytes-to-lines codec with a length limit and UTF-8 decoding with a fallback.
#[derive(Debug)]
pub struct LineCodec {
    /// How far the buffer was already searched for a newline.
    searched: usize,
    /// Discarding the rest of an over-long line.
    discarding: bool,
    /// What a line that is not UTF-8 is read as.
    fallback: Charset,
    /// Channels whose lines are read in a charset of their own (boxed: most have none).
    channels: Option<Box<ChannelCharsets>>,
}

impl Default for LineCodec {
    fn default() -> Self {
        LineCodec::with_fallback(encoding::DEFAULT_FALLBACK)
    }
}

impl LineCodec {
    /// A codec reading lines that are not UTF-8 as `fallback`.
    pub fn with_fallback(fallback: Charset) -> Self {
        LineCodec {
            searched: 0,
            discarding: false,
            fallback,
            channels: None,
        }
    }

    /// The same, reading the lines of `channels` in their own charsets.
    pub fn with_channels(mut self, channels: ChannelCharsets) -> Self {
        self.channels = (!channels.is_empty()).then(|| Box::new(channels));
        self
    }

    /// What `line`, if it is not UTF-8, is read as (its channel is looked for only then).
    fn charset_for(&self, line: &[u8]) -> Charset {
        match &self.channels {
            Some(c) if std::str::from_utf8(line).is_err() => {
                c.for_line(line).unwrap_or(self.fallback)
            }
            _ => self.fallback,
        }
    }
}

/// Decodes one line's bytes: UTF-8 when valid, else windows-1252; NUL and CR are dropped.
pub fn decode_text(bytes: &[u8]) -> String {
    decode_with(bytes, encoding::DEFAULT_FALLBACK)
}

/// Decodes one line's bytes: UTF-8 when valid, else `fallback`; NUL and CR are dropped.
pub fn decode_with(bytes: &[u8], fallback: Charset) -> String {
    let text = encoding::decode(bytes, fallback);
    if text.contains(['\0', '\r']) {
        text.replace(['\0', '\r'], "")
    } else {
        text.into_owned()
    }
}

impl Decoder for LineCodec {
    type Item = String;
    type Error = LineError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LineError> {
        loop {
            let limit = buf.len().min(MAX_LINE + 1);
            let start = self.searched.min(limit);
            let found = buf
                .get(start..limit)
                .and_then(|window| window.iter().position(|&b| b == b'\n'))
                .map(|i| start + i);
            match found {
                Some(end) => {
                    let line = buf.split_to(end + 1);
                    self.searched = 0;
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    let body = line.get(..end).unwrap_or_default();
                    let text = decode_with(body, self.charset_for(body));
                    if text.trim().is_empty() {
                        continue;
                    }
                    return Ok(Some(text));
                }
                None if buf.len() > MAX_LINE => {
                    // Too long: throw away what we have and the rest up to the newline.
                    buf.advance(buf.len());
                    self.searched = 0;
                    self.discarding = true;
                    return Ok(None);
                }
                None => {
                    self.searched = limit;
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LineError> {
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None => {
                // A last line without a newline is still a line.
                if buf.is_empty() || self.discarding {
                    buf.clear();
                    return Ok(None);
                }
                let text = decode_with(buf, self.charset_for(buf));
                buf.clear();
                Ok(if text.trim().is_empty() {
                    None
                } else {
                    Some(text)
                })
            }
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), LineError> {
        dst.extend_from_slice(line.as_bytes());
        dst.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// Who sent a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A server.
    Server(String),
    /// A user: nick, user and host (the last two may be empty).
    User {
        /// Nick.
        nick: String,
        /// User name (ident).
        user: String,
        /// Host.
        host: String,
    },
}

/// One parsed incoming line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrcLine {
    /// IRCv3 tags, unescaped.
    pub tags: Vec<(String, Option<String>)>,
    /// The sender, if the line names one.
    pub source: Option<Source>,
    /// The command or numeric, uppercase.
    pub verb: String,
    /// The parameters, the trailing one included.
    pub params: Vec<String>,
}

/// Why a line could not be parsed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// irc-proto refused it.
    #[error("malformed line: {0}")]
    Malformed(String),
    /// No command.
    #[error("line without a command")]
    NoCommand,
}

/// Splits the command part of a line (after tags and prefix) into verb and parameters.
///
/// irc-proto's typed commands are not used for this: they drop MODE arguments of modes
/// they do not know and move CAP lists between fields depending on the `*` marker.
fn split_command(rest: &str) -> Option<(String, Vec<String>)> {
    let rest = rest.trim_start_matches(' ');
    let (head, trailing) = match rest.find(" :") {
        Some(i) => (rest.get(..i)?, rest.get(i + 2..)),
        None => (rest, None),
    };
    let mut words = head.split(' ').filter(|w| !w.is_empty());
    let verb = words.next()?.to_ascii_uppercase();
    let mut params: Vec<String> = words.map(str::to_owned).collect();
    if let Some(t) = trailing {
        params.push(t.to_owned());
    }
    Some((verb, params))
}

/// Skips a leading `@tags` and `:prefix` word.
fn after_prefix(line: &str) -> &str {
    let mut rest = line.trim_start_matches(' ');
    for marker in ['@', ':'] {
        if rest.starts_with(marker) {
            rest = match rest.find(' ') {
                Some(i) => rest.get(i + 1..).unwrap_or(""),
                None => "",
            };
            rest = rest.trim_start_matches(' ');
        }
    }
    rest
}

/// Parses one line (without CRLF).
pub fn parse(line: &str) -> Result<IrcLine, ParseError> {
    let msg: Message = line
        .parse()
        .map_err(|e: irc_proto::error::ProtocolError| ParseError::Malformed(e.to_string()))?;
    let (verb, params) = split_command(after_prefix(line)).ok_or(ParseError::NoCommand)?;
    let tags = msg
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.0, t.1))
        .collect();
    let source = msg.prefix.map(|p| match p {
        Prefix::ServerName(s) => Source::Server(s),
        Prefix::Nickname(nick, user, host) => Source::User { nick, user, host },
    });
    Ok(IrcLine {
        tags,
        source,
        verb,
        params,
    })
}

impl IrcLine {
    /// Parameter `i`, or "" when absent.
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The last parameter, or "".
    pub fn last(&self) -> &str {
        self.params.last().map(String::as_str).unwrap_or("")
    }

    /// The value of tag `key`, if present with a value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The sender's nick, for lines from users.
    pub fn nick(&self) -> Option<&str> {
        match &self.source {
            Some(Source::User { nick, .. }) => Some(nick),
            _ => None,
        }
    }
}

/// Removes what must never reach the wire inside a parameter: CR, LF and NUL.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_clean(&mut out, text);
    out
}

/// Appends `text` to `line` as [`clean`] makes it.
fn push_clean(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\r' | '\n' => line.push(' '),
            '\0' => {}
            c => line.push(c),
        }
    }
}

/// Appends `word` to `line` as a middle parameter: no space, no leading `:`, no CR/LF/NUL,
/// never empty (`*` for nothing left).
fn push_middle(line: &mut String, word: &str) {
    let start = line.len();
    let mut leading = true;
    for c in word.chars() {
        if matches!(c, '\r' | '\n' | '\0' | ' ') || (leading && c == ':') {
            continue;
        }
        leading = false;
        line.push(c);
    }
    if line.len() == start {
        line.push('*');
    }
}

/// Truncates `s` to at most `max` bytes on a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Builds an outgoing line (without CRLF) from a verb, middle parameters and an optional
/// trailing parameter. Every part is cleaned; the result never exceeds 510 bytes.
pub fn build(verb: &str, middles: &[&str], trailing: Option<&str>) -> String {
    // One allocation a line (this is on every message's path): the parts are cleaned as
    // they are appended, not each into a string of its own.
    let wanted = verb.len()
        + middles.iter().map(|m| m.len() + 1).sum::<usize>()
        + trailing.map_or(0, |t| t.len() + 2);
    let mut line = String::with_capacity(wanted.min(MAX_OUT_LINE));
    push_middle(&mut line, verb);
    for m in middles {
        line.push(' ');
        push_middle(&mut line, m);
    }
    if let Some(t) = trailing {
        line.push_str(" :");
        push_clean(&mut line, t);
    }
    let end = truncate(&line, MAX_OUT_LINE - 2).len();
    line.truncate(end);
    line
}

/// Longest tag section written (IRCv3 message-tags gives client tags 4094 bytes).
const MAX_OUT_TAGS: usize = 4094;

/// A tag value escaped as message-tags says (`;`, space, `\`, CR, LF; NUL dropped).
fn escape_tag_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// A line with client tags (`@key=value;... VERB ...`): the tags escaped, dropped whole if
/// they would not fit, the rest as [`build`] makes it. Keys are the gateway's own.
pub fn build_tagged(
    tags: &[(&str, &str)],
    verb: &str,
    middles: &[&str],
    trailing: Option<&str>,
) -> String {
    let rest = build(verb, middles, trailing);
    let section: Vec<String> = tags
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_tag_value(v)))
        .collect();
    let section = section.join(";");
    if section.is_empty() || section.len() > MAX_OUT_TAGS {
        return rest;
    }
    format!("@{section} {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_lines_escape_their_values() {
        let l = build_tagged(
            &[("+draft/react", "a; b\\"), ("+draft/reply", "x1")],
            "TAGMSG",
            &["#c"],
            None,
        );
        assert_eq!(l, "@+draft/react=a\\:\\sb\\\\;+draft/reply=x1 TAGMSG #c");
        let parsed = parse(&l).unwrap();
        assert_eq!(parsed.tag("+draft/react"), Some("a; b\\"));
        assert_eq!(build_tagged(&[], "TAGMSG", &["#c"], None), "TAGMSG #c");
    }

    fn decode_all(input: &[u8]) -> Vec<String> {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(l) = codec.decode(&mut buf).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_crlf_and_lf() {
        assert_eq!(decode_all(b"A\r\nB\n\r\nC"), vec!["A", "B"]);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode_all(b"caf\xe9\r\n"), vec!["café"]);
        assert_eq!(decode_all("café\r\n".as_bytes()), vec!["café"]);
        assert_eq!(decode_all(b"a\0b\rc\n"), vec!["abc"]);
    }

    #[test]
    fn overlong_lines_are_dropped_not_buffered() {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&vec![b'x'; MAX_LINE + 10]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"yyyy\r\nPING :ok\r\n");
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some("PING :ok"));
        // A line of exactly the limit is kept.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&vec![b'z'; MAX_LINE]);
        buf.extend_from_slice(b"\n");
        assert_eq!(
            codec.decode(&mut buf).unwrap().map(|l| l.len()),
            Some(MAX_LINE)
        );
    }

    #[test]
    fn incremental_input() {
        let mut codec = LineCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"PI");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"NG x\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some("PING x"));
    }

    #[test]
    fn parse_lines() {
        let l = parse("@time=2024-01-01T00:00:00.000Z;msgid=a\\sb :nick!u@h PRIVMSG #c :hi there")
            .unwrap();
        assert_eq!(l.verb, "PRIVMSG");
        assert_eq!(l.params, vec!["#c", "hi there"]);
        assert_eq!(l.tag("time"), Some("2024-01-01T00:00:00.000Z"));
        assert_eq!(l.tag("msgid"), Some("a b"));
        assert_eq!(l.nick(), Some("nick"));
        let l = parse(":irc.test CAP * LS * :a b").unwrap();
        assert_eq!(l.params, vec!["*", "LS", "*", "a b"]);
        assert_eq!(l.source, Some(Source::Server("irc.test".into())));
        let l = parse(":srv MODE #c +jov 5:10 a b").unwrap();
        assert_eq!(l.params, vec!["#c", "+jov", "5:10", "a", "b"]);
        let l = parse("ping :x").unwrap();
        assert_eq!(l.verb, "PING");
        assert!(parse(":onlyprefix").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn build_sanitises() {
        assert_eq!(
            build("PRIVMSG", &["#c"], Some("a\r\nQUIT :x\0")),
            "PRIVMSG #c :a  QUIT :x"
        );
        assert_eq!(build("JOIN", &["#a b\r\n", ":k"], None), "JOIN #ab k");
        assert_eq!(build("PRIVMSG", &["#c"], Some(&"é".repeat(400))).len(), 510);
    }

    /// `build` as it was written before it appended in place, part by part: the reference
    /// the one-allocation `build` must match.
    fn build_part_by_part(verb: &str, middles: &[&str], trailing: Option<&str>) -> String {
        fn middle(word: &str) -> String {
            let w: String = clean(word).chars().filter(|&c| c != ' ').collect();
            let w = w.trim_start_matches(':').to_owned();
            if w.is_empty() { "*".to_owned() } else { w }
        }
        let mut line = middle(verb);
        for m in middles {
            line.push(' ');
            line.push_str(&middle(m));
        }
        if let Some(t) = trailing {
            line.push_str(" :");
            line.push_str(&clean(t));
        }
        truncate(&line, MAX_OUT_LINE - 2).to_owned()
    }

    proptest::proptest! {
        #[test]
        fn build_matches_the_part_by_part_reference(
            verb in "[A-Z: \\r\\n\\x00]{0,8}",
            middles in proptest::collection::vec("[#a-z: \\r\\n\\x00é]{0,12}", 0..4),
            trailing in proptest::option::of("(\\PC|[\\r\\n\\x00: ]){0,600}"),
        ) {
            let middles: Vec<&str> = middles.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(
                build(&verb, &middles, trailing.as_deref()),
                build_part_by_part(&verb, &middles, trailing.as_deref())
            );
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn decoder_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..20)) {
            let mut codec = LineCodec::default();
            let mut buf = BytesMut::new();
            for c in chunks {
                buf.extend_from_slice(&c);
                while let Ok(Some(l)) = codec.decode(&mut buf) {
                    proptest::prop_assert!(!l.contains(['\r', '\n', '\0']));
                    proptest::prop_assert!(l.len() <= MAX_LINE * 2);
                    let _ = parse(&l);
                }
            }
        }
    }
}
