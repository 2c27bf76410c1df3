//! XEP-0106 JID escaping: legacy ids as JID localparts, and back.
//!
//! The ten characters a localpart cannot hold are written `\XX`; a backslash is escaped
//! only where it would otherwise be read as an escape, so ids without those characters
//! keep their look (`john.doe\40example.net@msn.example.org`).

/// The characters XEP-0106 escapes, with their codes.
const ESCAPES: [(char, &str); 10] = [
    (' ', "20"),
    ('"', "22"),
    ('&', "26"),
    ('\'', "27"),
    ('/', "2f"),
    (':', "3a"),
    ('<', "3c"),
    ('>', "3e"),
    ('@', "40"),
    ('\\', "5c"),
];

fn code_of(c: char) -> Option<&'static str> {
    ESCAPES
        .iter()
        .find(|(ch, _)| *ch == c)
        .map(|(_, code)| *code)
}

fn char_of(code: &str) -> Option<char> {
    ESCAPES
        .iter()
        .find(|(_, k)| k.eq_ignore_ascii_case(code))
        .map(|(ch, _)| *ch)
}

/// Whether `s` starts with an escape sequence (`\` then one of the ten codes).
fn starts_with_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3 && b[0] == b'\\' && s.get(1..3).and_then(char_of).is_some()
}

/// Escapes a legacy id for use as a JID localpart.
pub fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    escape_into(&mut out, id);
    out
}

/// [`escape`], appended to `out`.
fn escape_into(out: &mut String, id: &str) {
    for (i, c) in id.char_indices() {
        match c {
            // A backslash stays as it is unless it would read as an escape sequence.
            '\\' if !starts_with_escape(&id[i..]) => out.push('\\'),
            _ => match code_of(c) {
                Some(code) => {
                    out.push('\\');
                    out.push_str(code);
                }
                None => out.push(c),
            },
        }
    }
}

/// Reverses [`escape`]. Sequences that are not escapes are kept as they are.
pub fn unescape(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut rest = local;
    while let Some(c) = rest.chars().next() {
        if c == '\\'
            && let Some(ch) = rest.get(1..3).and_then(char_of)
        {
            out.push(ch);
            rest = &rest[3..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The JID of a legacy id on a transport domain, `escaped-id@domain[/resource]`: the one
/// place legacy contacts, rooms and occupants become JIDs.
pub fn legacy_jid(id: &str, domain: &str, resource: Option<&str>) -> Result<jid::Jid, jid::Error> {
    // One string sized for the usual case (a few escapes at most), written in place: a
    // message's sender is one of these, and `format!` grew its string two or three times.
    let mut s = String::with_capacity(
        id.len() + 8 + 1 + domain.len() + resource.map_or(0, |r| r.len() + 1),
    );
    escape_into(&mut s, id);
    s.push('@');
    s.push_str(domain);
    if let Some(resource) = resource {
        s.push('/');
        s.push_str(resource);
    }
    jid::Jid::new(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_from_xep_0106() {
        assert_eq!(escape("space cadet"), r"space\20cadet");
        assert_eq!(escape(r#"call me "ishmael""#), r"call\20me\20\22ishmael\22");
        assert_eq!(escape("at&t guy"), r"at\26t\20guy");
        assert_eq!(escape("d'artagnan"), r"d\27artagnan");
        assert_eq!(escape("/.fanboy"), r"\2f.fanboy");
        assert_eq!(escape("::foo::"), r"\3a\3afoo\3a\3a");
        assert_eq!(escape("<foo>"), r"\3cfoo\3e");
        assert_eq!(escape("user@host"), r"user\40host");
        assert_eq!(escape(r"c:\net"), r"c\3a\net");
        assert_eq!(escape(r"c:\\net"), r"c\3a\\net");
        assert_eq!(escape(r"c:\cool stuff"), r"c\3a\cool\20stuff");
        assert_eq!(escape(r"c:\5commas"), r"c\3a\5c5commas");
        assert_eq!(unescape(r"john.doe\40example.net"), "john.doe@example.net");
    }

    #[test]
    fn legacy_jids_are_escaped_id_at_domain_slash_resource() {
        let jid = |id, resource| legacy_jid(id, "irc.example.org", resource).map(|j| j.to_string());
        assert_eq!(
            jid("a b@c", Some("nick/x")).ok().as_deref(),
            Some(r"a\20b\40c@irc.example.org/nick/x")
        );
        assert_eq!(
            jid("#chan", None).ok().as_deref(),
            Some("#chan@irc.example.org")
        );
        // More escapes than the string was sized for.
        assert_eq!(
            jid("@@@@@@", None).ok().as_deref(),
            Some(r"\40\40\40\40\40\40@irc.example.org")
        );
        assert!(jid("", None).is_err());
    }

    #[test]
    fn escaped_ids_are_valid_localparts() {
        for id in ["john.doe@example.net", "a b", "x/y:z", r"c:\5c"] {
            let jid = format!("{}@irc.example.org", escape(id));
            assert!(jid::BareJid::new(&jid).is_ok(), "{jid}");
        }
    }

    proptest! {
        #[test]
        fn round_trip_any_string(s in any::<String>()) {
            prop_assert_eq!(unescape(&escape(&s)), s);
        }

        #[test]
        fn round_trip_escape_heavy(s in r#"[ "&'/:<>@\\a-z0-9]{0,40}"#) {
            prop_assert_eq!(unescape(&escape(&s)), s.clone());
            let e = escape(&s);
            prop_assert!(!e.contains([' ', '"', '&', '\'', '/', ':', '<', '>', '@']));
        }
    }
}
