//! Invitations: XEP-0045 mediated (`<x xmlns='…muc#user'><invite to='…'/></x>`, sent to a
//! room, naming the invitee) and XEP-0249 direct (`<x xmlns='jabber:x:conference'
//! jid='…'/>`, sent to the invitee, naming the room). The direct form is read by hand:
//! xmpp-parsers 0.23 has no module for XEP-0249.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::muc::user::MucUser;

use crate::stanza::Refusal;

/// XEP-0249's namespace.
pub const NS_DIRECT: &str = "jabber:x:conference";

/// Longest invitation reason passed on, in bytes (a reason is one line of text).
pub const MAX_REASON_BYTES: usize = 1024;

/// Someone invited to a room: who, or to which room, depending on where it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// Sent to a room: the invitee. Sent to a contact: the room.
    pub jid: Jid,
    /// Why, if the inviter said.
    pub reason: Option<String>,
}

/// The invitation `stanza` carries, if any; a broken one is refused with `bad-request`
/// (no JID, or one that does not parse), an oversized reason with `not-acceptable`.
pub fn read(stanza: &Element) -> Result<Option<Invitation>, Refusal> {
    let (jid, reason) = if let Some(x) = stanza.get_child("x", NS_DIRECT) {
        (x.attr("jid"), x.attr("reason").map(str::to_owned))
    } else if let Some(x) = stanza.get_child("x", xmpp_parsers::ns::MUC_USER) {
        let Ok(user) = MucUser::try_from(x.clone()) else {
            return Err(Refusal::modify(
                "bad-request",
                "The muc#user element does not parse.",
            ));
        };
        let Some(invite) = user.invite else {
            return Ok(None);
        };
        let Some(to) = invite.to else {
            return Err(Refusal::modify(
                "bad-request",
                "An invitation names whom it is for: <invite to='…'/>.",
            ));
        };
        return checked(Some(to.as_str()), invite.reason);
    } else {
        return Ok(None);
    };
    checked(jid, reason)
}

fn checked(jid: Option<&str>, reason: Option<String>) -> Result<Option<Invitation>, Refusal> {
    let jid = jid
        .and_then(|j| Jid::new(j).ok())
        .ok_or_else(|| Refusal::modify("bad-request", "The invitation names no valid JID."))?;
    if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON_BYTES) {
        return Err(Refusal::modify(
            "not-acceptable",
            format!("An invitation's reason is at most {MAX_REASON_BYTES} bytes."),
        ));
    }
    let reason = reason.filter(|r| !r.trim().is_empty());
    Ok(Some(Invitation { jid, reason }))
}

/// XEP-0249 `<x xmlns='jabber:x:conference' jid='room' reason='…'/>`.
pub fn direct(room: &Jid, reason: Option<&str>) -> Element {
    let mut x = crate::stanza::elem("x", NS_DIRECT, &[("jid", room.as_str())]);
    if let Some(reason) = reason {
        crate::stanza::set_attr(&mut x, "reason", reason);
    }
    x
}

/// XEP-0045 7.8.2: the room passes `from`'s invitation on to the invitee.
pub fn mediated(from: &Jid, reason: Option<&str>) -> Element {
    let mut invite = crate::stanza::elem(
        "invite",
        xmpp_parsers::ns::MUC_USER,
        &[("from", from.as_str())],
    );
    if let Some(reason) = reason {
        let mut r = Element::bare("reason", xmpp_parsers::ns::MUC_USER);
        r.append_text_node(reason);
        invite.append_child(r);
    }
    let mut x = Element::bare("x", xmpp_parsers::ns::MUC_USER);
    x.append_child(invite);
    x
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read_xml(xml: &str) -> Result<Option<Invitation>, Refusal> {
        read(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn both_forms_are_read() {
        let direct = read_xml("<message xmlns='jabber:client'><x xmlns='jabber:x:conference' jid='#c@irc.example.org' reason='come'/></message>").unwrap().unwrap();
        assert_eq!(direct.jid.as_str(), "#c@irc.example.org");
        assert_eq!(direct.reason.as_deref(), Some("come"));
        let mediated = read_xml("<message xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='bob@irc.example.org'><reason>hi</reason></invite></x></message>").unwrap().unwrap();
        assert_eq!(mediated.jid.as_str(), "bob@irc.example.org");
        assert_eq!(mediated.reason.as_deref(), Some("hi"));
        assert_eq!(
            read_xml("<message xmlns='jabber:client'><body>hi</body></message>").unwrap(),
            None
        );
    }

    #[test]
    fn broken_ones_are_refused() {
        let no_jid =
            read_xml("<message xmlns='jabber:client'><x xmlns='jabber:x:conference'/></message>");
        assert_eq!(no_jid.unwrap_err().condition, "bad-request");
        let no_to = read_xml(
            "<message xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'><invite/></x></message>",
        );
        assert_eq!(no_to.unwrap_err().condition, "bad-request");
        let long = format!(
            "<message xmlns='jabber:client'><x xmlns='jabber:x:conference' jid='r@x' reason='{}'/></message>",
            "a".repeat(MAX_REASON_BYTES + 1)
        );
        assert_eq!(read_xml(&long).unwrap_err().condition, "not-acceptable");
    }

    #[test]
    fn elements_round_trip() {
        let room = Jid::new("#c@irc.example.org").unwrap();
        let el = direct(&room, Some("come"));
        let msg = Element::builder("message", "jabber:client")
            .append(el)
            .build();
        let back = read(&msg).unwrap().unwrap();
        assert_eq!((back.jid, back.reason.as_deref()), (room, Some("come")));
        let user = Jid::new("a@example.org").unwrap();
        let x = mediated(&user, None);
        let parsed = MucUser::try_from(x).unwrap();
        assert_eq!(parsed.invite.unwrap().from, Some(user));
    }
}
