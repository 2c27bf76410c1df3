//! Matrix ids to JID localparts and back.
//!
//! A contact is its Matrix user id without the `@` (`@bob:example.org` is
//! `bob:example.org`, which XEP-0106 then writes `bob\3aexample.org`); a room is its alias
//! (`#room:example.org`) or its id (`!opaque:example.org`) as it is. A user id whose
//! localpart itself starts with `#`, `!` or `@` (only possible in historical ids) keeps
//! its `@`, so the first character always tells the kind.
//!
//! XMPP servers lowercase localparts, but room ids are mixed-case and historical user ids
//! may be. So one more escape, ours, runs before XEP-0106's: an uppercase letter is `^`
//! and the letter in lowercase, `^` is `^^`, and `%` (server mode's `user%server` login
//! separator) is `^_`. `!AbC:x.org` is `!^ab^c:x.org`. Every Matrix id round-trips
//! (property-tested below); ids in the modern grammar (lowercase user ids, aliases) read
//! as they are.

use pontoon_core::legacy::LegacyId;
use pontoon_core::transport::Invalid;

/// The longest Matrix id (the spec's limit on user ids, room ids and aliases).
pub const MAX_ID_LEN: usize = 255;

/// What a Matrix id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatrixId {
    /// A user, `@local:server`.
    User(String),
    /// A room alias, `#name:server`.
    Alias(String),
    /// A room id, `!opaque:server`.
    Room(String),
}

impl MatrixId {
    /// The id as Matrix writes it.
    pub fn as_str(&self) -> &str {
        match self {
            MatrixId::User(s) | MatrixId::Alias(s) | MatrixId::Room(s) => s,
        }
    }
}

/// Writes `id` in our lowercase-safe escape.
fn escape_case(id: &str, out: &mut String) {
    for c in id.chars() {
        match c {
            '^' => out.push_str("^^"),
            '%' => out.push_str("^_"),
            c if c.is_ascii_uppercase() => {
                out.push('^');
                out.push(c.to_ascii_lowercase());
            }
            c => out.push(c),
        }
    }
}

/// Reads our escape back. Uppercase letters in `text` (typed by a user, not from a JID)
/// stay as they are.
fn unescape_case(text: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('^') => out.push('^'),
            Some('_') => out.push('%'),
            Some(l) if l.is_ascii_lowercase() => out.push(l.to_ascii_uppercase()),
            _ => {
                return Err(Invalid(format!(
                    "{text:?} is not a Matrix address: '^' must be followed by a lowercase letter, '^' or '_'"
                )));
            }
        }
    }
    Ok(out)
}

/// Checks the shape every Matrix id shares: a sigil, a localpart, `:`, a server name; no
/// control characters or whitespace; at most [`MAX_ID_LEN`] bytes.
fn check(id: &str) -> Result<(), Invalid> {
    let bad = |why: &str| Err(Invalid(format!("{id:?} is not a Matrix id: {why}")));
    if id.len() > MAX_ID_LEN {
        return bad("longer than 255 bytes");
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it contains a space or a control character");
    }
    let Some((local, server)) = id[1..].split_once(':') else {
        return bad("it needs a server, like @bob:example.org");
    };
    if local.is_empty() || server.is_empty() {
        return bad("the part before or after ':' is empty");
    }
    Ok(())
}

/// Reads an unescaped JID localpart (or what a user typed) as a Matrix id.
pub fn parse(local: &str) -> Result<MatrixId, Invalid> {
    let text = unescape_case(local.trim())?;
    let id = match text.chars().next() {
        Some('@') => MatrixId::User(text),
        Some('#') => MatrixId::Alias(text),
        Some('!') => MatrixId::Room(text),
        Some(_) => MatrixId::User(format!("@{text}")),
        None => return Err(Invalid("an empty Matrix address".to_owned())),
    };
    check(id.as_str())?;
    Ok(id)
}

/// The localpart text of a Matrix id (before XEP-0106): the inverse of [`parse`].
pub fn local_text(id: &MatrixId) -> String {
    let mut out = String::with_capacity(id.as_str().len() + 4);
    match id {
        MatrixId::User(user) => {
            let bare = &user[1..];
            if bare.starts_with(['#', '!', '@']) {
                escape_case(user, &mut out);
            } else {
                escape_case(bare, &mut out);
            }
        }
        MatrixId::Alias(s) | MatrixId::Room(s) => escape_case(s, &mut out),
    }
    out
}

/// The legacy id of a Matrix user, a contact.
pub fn contact(user_id: &str) -> LegacyId {
    LegacyId::new(&local_text(&MatrixId::User(user_id.to_owned())), None)
}

/// The legacy id of a room, by the alias or id the user knows it by.
pub fn room(id: &MatrixId) -> LegacyId {
    LegacyId::new(&local_text(id), None)
}

/// The Matrix id a legacy id names (the transport made it, so it parses).
pub fn of(id: &LegacyId) -> Result<MatrixId, Invalid> {
    parse(id.name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(contact("@bob:example.org").as_str(), "bob:example.org");
        assert_eq!(
            parse("bob:example.org").unwrap(),
            MatrixId::User("@bob:example.org".into())
        );
        assert_eq!(
            local_text(&MatrixId::Room("!AbC:x.org".into())),
            "!^ab^c:x.org"
        );
        assert_eq!(
            parse("!^ab^c:x.org").unwrap(),
            MatrixId::Room("!AbC:x.org".into())
        );
        assert_eq!(
            parse("#room:x.org").unwrap(),
            MatrixId::Alias("#room:x.org".into())
        );
        // A historical user id starting with a sigil keeps its '@'.
        assert_eq!(contact("@#odd:x.org").as_str(), "@#odd:x.org");
        assert_eq!(
            parse("@#odd:x.org").unwrap(),
            MatrixId::User("@#odd:x.org".into())
        );
        // Typed by a user: uppercase stays, '@' is optional.
        assert_eq!(
            parse("@Bob:example.org").unwrap(),
            MatrixId::User("@Bob:example.org".into())
        );
        for bad in ["", "bob", "bob:", ":x", "a b:x", "^X:y", "^1:y", "a\0:x"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&format!("a:{}", "x".repeat(300))).is_err());
    }

    fn any_id() -> impl Strategy<Value = MatrixId> {
        let local = "[!-9;-~]{1,20}"; // printable ASCII but ':' (historical user ids)
        let server = "[a-z0-9.-]{1,20}(:[0-9]{1,5})?";
        prop_oneof![
            (local, server).prop_map(|(l, s)| MatrixId::User(format!("@{l}:{s}"))),
            (local, server).prop_map(|(l, s)| MatrixId::Alias(format!("#{l}:{s}"))),
            (local, server).prop_map(|(l, s)| MatrixId::Room(format!("!{l}:{s}"))),
        ]
    }

    proptest! {
        /// Every Matrix id survives the way through a lowercasing XMPP server.
        #[test]
        fn round_trip(id in any_id()) {
            let text = local_text(&id);
            prop_assert_eq!(text.to_lowercase(), text.clone());
            prop_assert!(!text.contains('%'));
            prop_assert_eq!(parse(&text).unwrap(), id);
        }
    }
}
