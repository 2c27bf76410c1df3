//! The IRCv3 client tags the gateway reads from other IRC users (message-tags; the drafts
//! `+draft/reply`, `+draft/react`, `+draft/unreact` and `+typing`), checked: a message id or
//! a reaction that is too long or carries control characters is ignored, not carried.

use pontoon_core::legacy::ChatState;

use crate::line::IrcLine;

/// Longest message id taken from a tag (InspIRCd's are about 30 bytes).
const MAX_MSGID: usize = 128;
/// Longest reaction taken from a tag.
const MAX_REACTION: usize = 64;

fn clean(value: &str, max: usize) -> Option<&str> {
    (!value.is_empty()
        && value.len() <= max
        && !value.contains(|c: char| c.is_control() || c == ' '))
    .then_some(value)
}

/// The network's id of the message `l` replies to (`+draft/reply`), if any.
pub fn reply(l: &IrcLine) -> Option<String> {
    l.tag("+draft/reply")
        .and_then(|v| clean(v, MAX_MSGID))
        .map(str::to_owned)
}

/// The reaction `l` carries (`+draft/react`, or `+draft/unreact`: taken back), with the
/// message it is about (`+draft/reply`): `(target, emoji, removed)`.
pub fn reaction(l: &IrcLine) -> Option<(String, String, bool)> {
    let target = reply(l)?;
    let (emoji, removed) = match (l.tag("+draft/react"), l.tag("+draft/unreact")) {
        (Some(e), _) => (e, false),
        (None, Some(e)) => (e, true),
        (None, None) => return None,
    };
    let emoji = clean(emoji, MAX_REACTION)?;
    Some((target, emoji.to_owned(), removed))
}

/// The typing state `l` carries (`+typing`: active, paused, done).
pub fn typing(l: &IrcLine) -> Option<ChatState> {
    match l.tag("+typing")? {
        "active" => Some(ChatState::Composing),
        "paused" => Some(ChatState::Paused),
        "done" => Some(ChatState::Active),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn line(s: &str) -> IrcLine {
        crate::line::parse(s).unwrap()
    }

    #[test]
    fn reads_and_checks_the_tags() {
        let l = line("@+draft/react=👍;+draft/reply=abc TAGMSG #c");
        assert_eq!(reaction(&l), Some(("abc".into(), "👍".into(), false)));
        let l = line("@+draft/unreact=👍;+draft/reply=abc :n!u@h TAGMSG #c");
        assert_eq!(reaction(&l), Some(("abc".into(), "👍".into(), true)));
        // No target, an overlong reaction: nothing.
        assert_eq!(reaction(&line("@+draft/react=👍 TAGMSG #c")), None);
        let long = "x".repeat(MAX_REACTION + 1);
        assert_eq!(
            reaction(&line(&format!(
                "@+draft/react={long};+draft/reply=a TAGMSG #c"
            ))),
            None
        );
        assert_eq!(
            typing(&line("@+typing=active TAGMSG #c")),
            Some(ChatState::Composing)
        );
        assert_eq!(
            typing(&line("@+typing=done TAGMSG #c")),
            Some(ChatState::Active)
        );
        assert_eq!(typing(&line("@+typing=bogus TAGMSG #c")), None);
        assert_eq!(
            reply(&line("@+draft/reply=x1 PRIVMSG #c :hi")).as_deref(),
            Some("x1")
        );
    }
}
