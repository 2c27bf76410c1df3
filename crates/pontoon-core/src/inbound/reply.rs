//! XEP-0461 (message replies) with its XEP-0428 fallback: `<reply to='author' id='…'/>`
//! names the message answered, and `<fallback for='urn:xmpp:reply:0'><body start end/>`
//! marks the quote the client put at the head of the body for clients without replies.
//! Written here because xmpp-parsers 0.23 has neither module.

use minidom::Element;

/// XEP-0461's namespace.
pub const NS: &str = "urn:xmpp:reply:0";
/// XEP-0428's namespace.
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";

/// What a message replies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The XMPP id of the message answered (its stanza-id in rooms).
    pub target: String,
    /// The answered message's author as the client named it (a JID; in rooms the
    /// occupant JID), if it did.
    pub to: Option<String>,
    /// The quote the client put before the body (left out of the text), if any.
    pub fallback: Option<String>,
}

/// The reply `stanza` carries, and `body` without its fallback quote.
pub fn read(stanza: &Element, body: String) -> (Option<Reply>, String) {
    let Some(target) = stanza
        .get_child("reply", NS)
        .and_then(|r| r.attr("id").filter(|id| !id.is_empty()).map(|id| (r, id)))
    else {
        return (None, body);
    };
    let (el, id) = target;
    let (fallback, body) = match fallback_range(stanza, &body) {
        Some((start, end)) => {
            let quote = body[start..end].to_owned();
            let rest = format!("{}{}", &body[..start], &body[end..]);
            (Some(quote), rest)
        }
        None => (None, body),
    };
    let reply = Reply {
        target: id.to_owned(),
        to: el.attr("to").map(str::to_owned),
        fallback,
    };
    (Some(reply), body)
}

/// The byte range of the reply fallback in `body`, from XEP-0428's code point offsets;
/// `None` if there is none or it does not fit the body.
fn fallback_range(stanza: &Element, body: &str) -> Option<(usize, usize)> {
    let range = stanza
        .children()
        .filter(|c| c.is("fallback", NS_FALLBACK) && c.attr("for") == Some(NS))
        .find_map(|f| f.get_child("body", NS_FALLBACK))?;
    let start: usize = range.attr("start")?.parse().ok()?;
    let end: usize = range.attr("end")?.parse().ok()?;
    if start > end {
        return None;
    }
    let byte = |chars: usize| {
        body.char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(body.len()))
            .nth(chars)
    };
    Some((byte(start)?, byte(end)?))
}

/// `<reply id='…' to='…'/>`, for a message from the network that replies to `target`.
pub fn element(target: &str, to: Option<&jid::Jid>) -> Element {
    let to = to.map(|j| j.to_string());
    let mut attrs = vec![("id", target)];
    if let Some(to) = &to {
        attrs.push(("to", to));
    }
    crate::stanza::elem("reply", NS, &attrs)
}

/// The author's name to address them by: the resource of an occupant JID (a nick), else
/// the local part of a contact's JID.
pub fn author_name(to: &str) -> Option<String> {
    let jid = jid::Jid::new(to).ok()?;
    match jid.resource() {
        Some(r) => Some(r.to_string()),
        None => jid.node().map(|n| crate::escape::unescape(n.as_str())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fallback_is_cut_by_code_points() {
        let body = "> Bob:\n> héllo 👋\nsure";
        let quote_len = "> Bob:\n> héllo 👋\n".chars().count();
        let xml = format!(
            "<message xmlns='jabber:client'><body>{body}</body><reply xmlns='urn:xmpp:reply:0' to='r@irc.localhost/Bob' id='s1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='{quote_len}'/></fallback></message>"
        );
        let el: Element = xml.parse().unwrap();
        let (reply, rest) = read(&el, body.to_owned());
        let reply = reply.unwrap();
        assert_eq!(rest, "sure");
        assert_eq!(reply.target, "s1");
        assert_eq!(reply.fallback.as_deref(), Some("> Bob:\n> héllo 👋\n"));
        assert_eq!(
            author_name(reply.to.as_deref().unwrap()).as_deref(),
            Some("Bob")
        );
    }

    #[test]
    fn a_bad_range_keeps_the_body() {
        let el: Element = "<message xmlns='jabber:client'><body>hi</body><reply xmlns='urn:xmpp:reply:0' id='s1'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='99'/></fallback></message>".parse().unwrap();
        let (reply, rest) = read(&el, "hi".into());
        assert_eq!(rest, "hi");
        assert_eq!(reply.unwrap().fallback, None);
    }
}
