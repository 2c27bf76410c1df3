//! Stanzas from users, read once into what they ask for: one module per XEP, each turning
//! its element into part of a [`Verb`]. The session then acts on the verb for a room or a
//! contact alike; nothing after this module looks at a message's XML again (but to bounce
//! it).

pub mod action;
pub mod chat_state;
pub mod correct;
pub mod invite;
pub mod markers;
pub mod moderate;
pub mod muc_admin;
pub mod oob;
pub mod reactions;
pub mod reply;
pub mod retract;
pub mod search;
pub mod thread;

use minidom::Element;

use crate::legacy::MessageKind;
use crate::stanza::Refusal;

/// Text a user sends: its kind and body, and what it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// Text, action (XEP-0245 `/me`) or notice.
    pub kind: MessageKind,
    /// The body, the `/me ` and any XEP-0461 fallback quote left out.
    pub body: String,
    /// The message it replies to (XEP-0461), if any (boxed: rare, and a verb travels in
    /// every session's inbox).
    pub reply: Option<Box<reply::Reply>>,
    /// Files shared with it (XEP-0066, XEP-0447).
    pub attachments: Vec<crate::legacy::Attachment>,
    /// The thread it belongs to (RFC 6121 `<thread/>`), if any (boxed, as the reply).
    pub thread: Option<Box<thread::Thread>>,
}

/// What one message stanza from a user asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Send text.
    Text(Text),
    /// Replace the message `target` (an XMPP id) with `text` (XEP-0308).
    Correct {
        /// The XMPP id of the corrected message.
        target: String,
        /// The new text.
        text: Text,
    },
    /// The user's whole set of reactions to `target` is now `emojis` (XEP-0444; empty:
    /// all taken back).
    React {
        /// The XMPP id of the message reacted to.
        target: String,
        /// The reactions, each a short string (usually one emoji), without duplicates.
        emojis: Vec<String>,
    },
    /// Retract the user's own message `target` (XEP-0424).
    Retract {
        /// The XMPP id of the retracted message.
        target: String,
    },
    /// The user is writing, paused or stopped (XEP-0085, a message without a body).
    ChatState(crate::legacy::ChatState),
    /// Change a room's subject (XEP-0045: a subject and no body).
    Subject(String),
    /// The user has seen the message `target` and those before it (XEP-0333).
    Displayed {
        /// The XMPP id of the message seen.
        target: String,
    },
    /// Invite someone to a room (XEP-0045 mediated, to a room; XEP-0249 direct, to a
    /// contact). Boxed: rare, and a verb travels in every session's inbox.
    Invite(Box<invite::Invitation>),
    /// Nothing a network carries: a delivery receipt (the network learns of delivery by
    /// itself), or an empty body.
    Nothing,
}

/// The optional `<reason/>` child (namespace `ns`) of a moderator's request: `None` when
/// absent or blank, refused with `policy-violation` past `max` bytes (`what` names it in
/// the refusal, like "A moderation reason").
pub(crate) fn reason(
    request: &Element,
    ns: &str,
    max: usize,
    what: &str,
) -> Result<Option<String>, Refusal> {
    let reason = request
        .get_child("reason", ns)
        .map(Element::text)
        .filter(|r| !r.trim().is_empty());
    if reason.as_ref().is_some_and(|r| r.len() > max) {
        return Err(Refusal::modify(
            "policy-violation",
            format!("{what} is limited to {max} bytes."),
        ));
    }
    Ok(reason.map(|r| r.replace('\0', "")))
}

/// Reads what `stanza` (a `<message/>` from a user) asks for, or why it is refused
/// (`not-acceptable` / `policy-violation` for oversized payloads, `bad-request` for broken
/// ones).
pub fn read_message(stanza: &Element) -> Result<Verb, Refusal> {
    if let Some(target) = retract::target(stanza) {
        return Ok(Verb::Retract { target });
    }
    if let Some(invitation) = invite::read(stanza)? {
        return Ok(Verb::Invite(Box::new(invitation)));
    }
    if let Some(r) = reactions::read(stanza)? {
        return Ok(Verb::React {
            target: r.target,
            emojis: r.emojis,
        });
    }
    let attachments = oob::read(stanza)?;
    let thread = thread::read(stanza)?;
    let body = match crate::stanza::body_of(stanza) {
        // A file without a body: its URL is the text, as clients write it.
        None if !attachments.is_empty() => Some(
            attachments
                .iter()
                .map(|a| a.url.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        body => body,
    };
    let Some(body) = body else {
        // XEP-0045: a subject change is a message with a subject and no body.
        if let Some(subject) = stanza.children().find(|c| c.name() == "subject") {
            return Ok(Verb::Subject(subject.text()));
        }
        if let Some(target) = markers::displayed(stanza) {
            return Ok(Verb::Displayed { target });
        }
        return Ok(chat_state::read(stanza).map_or(Verb::Nothing, Verb::ChatState));
    };
    // NUL can reach no legacy network; other control characters are the transport's job.
    let body = body.replace('\0', "");
    let (reply, body) = reply::read(stanza, body);
    let (kind, body) = action::read(body);
    if body.trim().is_empty() {
        return Ok(Verb::Nothing);
    }
    let text = Text {
        kind,
        body,
        reply: reply.map(Box::new),
        attachments,
        thread: thread.map(Box::new),
    };
    match correct::target(stanza) {
        Some(target) => Ok(Verb::Correct { target, text }),
        None => Ok(Verb::Text(text)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read(xml: &str) -> Result<Verb, Refusal> {
        read_message(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn text_action_and_nothing() {
        let v = read("<message xmlns='jabber:client'><body>/me waves</body></message>").unwrap();
        assert_eq!(
            v,
            Verb::Text(Text {
                kind: MessageKind::Action,
                body: "waves".into(),
                reply: None,
                attachments: vec![],
                thread: None,
            })
        );
        let v = read("<message xmlns='jabber:client'><active xmlns='http://jabber.org/protocol/chatstates'/></message>").unwrap();
        assert_eq!(v, Verb::ChatState(crate::legacy::ChatState::Active));
        let v = read(
            "<message xmlns='jabber:client'><received xmlns='urn:xmpp:receipts' id='x'/></message>",
        )
        .unwrap();
        assert_eq!(v, Verb::Nothing);
        let v = read("<message xmlns='jabber:client'><body>  </body></message>").unwrap();
        assert_eq!(v, Verb::Nothing);
    }

    #[test]
    fn correction_retraction_and_subject() {
        let v = read("<message xmlns='jabber:client'><body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>").unwrap();
        assert!(
            matches!(v, Verb::Correct { target, text } if target == "m1" && text.body == "fixed")
        );
        let v = read("<message xmlns='jabber:client'><body>This person attempted to retract a previous message, but it's unsupported by your client.</body><retract xmlns='urn:xmpp:message-retract:1' id='m2'/></message>").unwrap();
        assert_eq!(
            v,
            Verb::Retract {
                target: "m2".into()
            }
        );
        let v = read("<message xmlns='jabber:client'><subject>news</subject></message>").unwrap();
        assert_eq!(v, Verb::Subject("news".into()));
    }

    #[test]
    fn text_in_a_thread() {
        let v = read("<message xmlns='jabber:client'><body>in it</body><thread parent='p'>t</thread></message>").unwrap();
        let Verb::Text(text) = v else {
            panic!("text expected")
        };
        assert_eq!(text.body, "in it");
        let thread = text.thread.unwrap();
        assert_eq!(
            (thread.id.as_str(), thread.parent.as_deref()),
            ("t", Some("p"))
        );
    }
}
