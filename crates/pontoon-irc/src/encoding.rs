//! Text encodings other than UTF-8, for networks (or their older users) that still speak
//! one: what a line that is not UTF-8 is read as (the user's `encoding`, windows-1252 by
//! default, as IRC clients do), and what the user's own lines are written in (their
//! `send-encoding`, UTF-8 by default). The one module that uses `encoding_rs`, the
//! WHATWG encodings every browser has.
//!
//! Only ASCII-compatible encodings are offered: in them, CR, LF, NUL, space and `:` are
//! never part of another character, so an encoded line keeps IRC's framing and cannot
//! carry a second command; and no character is longer than in UTF-8, so a line built
//! within 512 bytes stays within them. GB18030 is the one ASCII-compatible encoding that
//! breaks the last rule (four bytes for characters UTF-8 writes in two or three), so it is
//! refused: GBK covers what Chinese IRC users write.

use std::borrow::Cow;

use encoding_rs::{EncoderResult, Encoding, GB18030, UTF_8, WINDOWS_1252};

pub use encoding_rs::UTF_8 as DEFAULT_SEND;

/// The encoding of an encoding setting.
pub type Charset = &'static Encoding;

/// What a line that is not UTF-8 is read as, unless the user says otherwise.
pub const DEFAULT_FALLBACK: Charset = WINDOWS_1252;

/// The encoding a setting names (a WHATWG label: `latin1`, `windows-1251`, `koi8-r`,
/// `shift_jis`...), if it is one IRC can carry.
pub fn lookup(label: &str) -> Result<Charset, String> {
    match Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e == GB18030 => {
            Err("gb18030 can make a line longer than IRC allows: use gbk".to_owned())
        }
        Some(e) if e.is_ascii_compatible() && e.output_encoding() == e => Ok(e),
        Some(e) => Err(format!(
            "{} cannot be used on IRC (it is not ASCII-compatible)",
            e.name()
        )),
        None => Err(format!(
            "{label:?} is not an encoding name (try latin1, windows-1251, koi8-r, iso-8859-2, shift_jis, gbk, big5, euc-kr)"
        )),
    }
}

/// The name a setting stores for `charset`.
pub fn name(charset: Charset) -> String {
    charset.name().to_ascii_lowercase()
}

/// One line's bytes as text: UTF-8 when valid, else `fallback`.
pub fn decode(bytes: &[u8], fallback: Charset) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => fallback.decode_without_bom_handling(bytes).0,
    }
}

/// `text` in `charset`, each character it lacks written as `?` (not the HTML escapes
/// `encoding_rs` writes by default, which IRC users would read as noise).
pub fn encode(text: &str, charset: Charset) -> Cow<'_, [u8]> {
    if charset == UTF_8 {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut encoder = charset.new_encoder();
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    let mut chunk = [0u8; 1024];
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(rest, &mut chunk, true);
        out.extend_from_slice(chunk.get(..written).unwrap_or_default());
        rest = rest.get(read..).unwrap_or_default();
        match result {
            EncoderResult::InputEmpty => break,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(_) => out.push(b'?'),
        }
    }
    Cow::Owned(out)
}

/// Channels with encodings of their own (the user's room settings), for one connection:
/// a line is read or written in its channel's charset when it names one of them.
#[derive(Clone, Debug, Default)]
pub struct ChannelCharsets(Vec<(Box<[u8]>, Charset)>);
// Names folded once when made; a line's words are compared folding as they go.

impl ChannelCharsets {
    /// The charsets of `channels` (name and charset).
    pub fn new<'a>(channels: impl IntoIterator<Item = (&'a str, Charset)>) -> Self {
        ChannelCharsets(
            channels
                .into_iter()
                .map(|(c, cs)| (fold(c.as_bytes()).into(), cs))
                .collect(),
        )
    }

    /// Whether no channel has one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The charset of the channel `line` is about (its first or second parameter: the
    /// target of PRIVMSG, NOTICE, TOPIC, PART, KICK, the channel of a 332), if it has one.
    /// The line's structure is ASCII in every charset offered, so it is read as bytes.
    pub fn for_line(&self, line: &[u8]) -> Option<Charset> {
        if self.0.is_empty() {
            return None;
        }
        let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
        let mut first = words.next()?;
        if first.starts_with(b"@") {
            first = words.next()?;
        }
        if first.starts_with(b":") {
            words.next()?;
        }
        words
            .take(2)
            .take_while(|w| !w.starts_with(b":"))
            .find_map(|w| {
                // A message to a channel's operators or voiced (STATUSMSG `@#chan`).
                let w = w.strip_prefix(b"@").or(w.strip_prefix(b"+")).unwrap_or(w);
                self.0
                    .iter()
                    .find(|(c, _)| {
                        c.len() == w.len() && c.iter().zip(w).all(|(a, b)| *a == fold_byte(*b))
                    })
                    .map(|(_, cs)| *cs)
            })
    }
}

/// A channel name as IRC compares it (rfc1459: ASCII letters and `[]\~` as `{}|^`).
fn fold(name: &[u8]) -> Vec<u8> {
    name.iter().map(|b| fold_byte(*b)).collect()
}

fn fold_byte(b: u8) -> u8 {
    match b {
        b'[' => b'{',
        b']' => b'}',
        b'\\' => b'|',
        b'~' => b'^',
        b => b.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_line_is_matched_to_its_channel() {
        let koi = lookup("koi8-r").unwrap();
        let map = ChannelCharsets::new([("#Ru[x]", koi)]);
        assert_eq!(map.for_line(b":a!b@c PRIVMSG #ru{X} :\xf0"), Some(koi));
        assert_eq!(map.for_line(b"@time=x :a!b@c NOTICE #RU[x] :hi"), Some(koi));
        assert_eq!(map.for_line(b":srv 332 me #ru[x] :topic"), Some(koi));
        assert_eq!(map.for_line(b"PRIVMSG #ru[x] :mine"), Some(koi));
        assert_eq!(map.for_line(b":a!b@c PRIVMSG @#ru[x] :ops"), Some(koi));
        assert_eq!(map.for_line(b":a!b@c PRIVMSG #other :#ru[x]"), None);
        assert_eq!(map.for_line(b":a!b@c PRIVMSG me :text"), None);
        assert_eq!(
            ChannelCharsets::default().for_line(b"PRIVMSG #ru[x] :x"),
            None
        );
    }

    #[test]
    fn labels_and_refusals() {
        assert_eq!(name(lookup("latin1").unwrap()), "windows-1252");
        assert_eq!(name(lookup(" CP1251 ").unwrap()), "windows-1251");
        assert!(
            lookup("utf-16le")
                .unwrap_err()
                .contains("not ASCII-compatible")
        );
        assert!(lookup("iso-2022-jp").is_err());
        assert!(lookup("gb18030").unwrap_err().contains("gbk"));
        assert!(lookup("replacement").is_err());
        assert!(
            lookup("klingon")
                .unwrap_err()
                .contains("not an encoding name")
        );
    }

    #[test]
    fn decoding_falls_back_only_for_invalid_utf8() {
        let cp1251 = lookup("windows-1251").unwrap();
        assert_eq!(decode("привет".as_bytes(), cp1251), "привет");
        // "привет" in windows-1251.
        let bytes = [0xef, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2];
        assert_eq!(decode(&bytes, cp1251), "привет");
        assert_eq!(decode(&[0xe9, 0x80], DEFAULT_FALLBACK), "é€");
    }

    #[test]
    fn encoding_replaces_what_the_charset_lacks() {
        let cp1251 = lookup("windows-1251").unwrap();
        assert_eq!(
            &*encode("PRIVMSG #a :привет 👍", cp1251),
            b"PRIVMSG #a :\xef\xf0\xe8\xe2\xe5\xf2 ?"
        );
        assert_eq!(&*encode("plain", UTF_8), b"plain");
        let long = "é".repeat(3000);
        assert_eq!(encode(&long, DEFAULT_FALLBACK).len(), 3000);
    }
}
