//! Small helpers to read stanza headers and build replies, shared by every feature module.

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::{Lang, Message, MessageType};

/// A refusal to send back as an XMPP error: RFC 6120 error type, defined condition, text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `cancel`, `modify`, `auth` or `wait`.
    pub error_type: &'static str,
    /// The defined condition, such as `not-allowed`.
    pub condition: &'static str,
    /// Readable explanation for the user.
    pub text: String,
}

impl Refusal {
    /// An error of type `cancel`.
    pub fn cancel(condition: &'static str, text: impl Into<String>) -> Self {
        Refusal {
            error_type: "cancel",
            condition,
            text: text.into(),
        }
    }
    /// An error of type `auth`.
    pub fn auth(condition: &'static str, text: impl Into<String>) -> Self {
        Refusal {
            error_type: "auth",
            condition,
            text: text.into(),
        }
    }
    /// An error of type `modify`.
    pub fn modify(condition: &'static str, text: impl Into<String>) -> Self {
        Refusal {
            error_type: "modify",
            condition,
            text: text.into(),
        }
    }
    /// An error of type `wait`.
    pub fn wait(condition: &'static str, text: impl Into<String>) -> Self {
        Refusal {
            error_type: "wait",
            condition,
            text: text.into(),
        }
    }

    /// The `<error/>` element of this refusal, for stanzas built from scratch.
    pub fn to_error(&self) -> xmpp_parsers::stanza_error::StanzaError {
        use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
        let error_type = match self.error_type {
            "auth" => ErrorType::Auth,
            "modify" => ErrorType::Modify,
            "wait" => ErrorType::Wait,
            _ => ErrorType::Cancel,
        };
        let el = Element::builder(self.condition, "urn:ietf:params:xml:ns:xmpp-stanzas").build();
        let condition =
            DefinedCondition::try_from(el).unwrap_or(DefinedCondition::UndefinedCondition);
        StanzaError::new(error_type, condition, "en", self.text.clone())
    }

    /// The error reply to `stanza`, or `None` where RFC 6120 forbids one (errors to errors).
    pub fn reply_to(&self, stanza: &Element) -> Option<Element> {
        pontoon_xmpp::stanza::error_reply(stanza, self.error_type, self.condition, Some(&self.text))
    }
}

/// Sets attribute `name` (no namespace) of `el`.
/// Logs an error stanza about to be sent to a user (the Overview's error count links to
/// these lines): its kind, condition, text and addressee, at info level. At most
/// [`ERRORS_LOGGED`] in each 10-second window over the whole process: a flood of refusals
/// (a client joining a thousand rooms) must not bury the rest of the log; the error
/// counter still counts every one.
pub(crate) fn log_error_sent(el: &Element) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static LOGGED: AtomicU32 = AtomicU32::new(0);
    let window = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 10);
    if WINDOW.swap(window, Relaxed) != window {
        LOGGED.store(0, Relaxed);
    }
    if LOGGED.fetch_add(1, Relaxed) >= ERRORS_LOGGED {
        return;
    }
    let error = el.children().find(|c| c.name() == "error");
    let condition = error
        .and_then(|e| e.children().find(|c| c.name() != "text"))
        .map_or("", |c| c.name());
    let text = error
        .and_then(|e| e.children().find(|c| c.name() == "text"))
        .map(Element::text)
        .unwrap_or_default();
    tracing::info!(
        target: ERRORS_TARGET,
        kind = el.name(),
        condition,
        text = %text,
        to = el.attr("to").unwrap_or_default(),
        "error sent to a user"
    );
}

/// Error stanzas logged per 10 seconds at most (see [`log_error_sent`]).
pub const ERRORS_LOGGED: u32 = 20;

/// The log target of [`log_error_sent`]'s lines.
pub const ERRORS_TARGET: &str = "pontoon::errors_sent";

pub(crate) fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    if let Ok(name) = rxml::NcName::try_from(name) {
        el.attrs_mut()
            .insert(rxml::Namespace::NONE, name, value.into());
    }
}

/// Removes attribute `name` (no namespace) of `el`.
pub(crate) fn remove_attr(el: &mut Element, name: &str) {
    if let Ok(name) = rxml::NcName::try_from(name) {
        el.attrs_mut().remove(&rxml::Namespace::NONE, &name);
    }
}

/// An element with attributes (no namespace) and no children.
pub(crate) fn elem(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut e = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut e, k, *v);
    }
    e
}

/// The parsed addressing of an incoming stanza.
#[derive(Clone, Debug)]
pub struct Header {
    /// The sender, always a valid JID (stanzas without one are dropped earlier).
    pub from: Jid,
    /// The `type` attribute, empty when absent.
    pub kind: String,
    /// The `id` attribute.
    pub id: Option<String>,
    /// When the stanza was read from the XMPP side (where its latency starts).
    pub read_at: std::time::Instant,
    /// `from`'s bare JID, made once (`Jid::to_bare` formats a new string; a message asked
    /// for it three times).
    user: BareJid,
}

impl Header {
    /// The header of a stanza from `from`.
    pub fn new(from: Jid, kind: String, id: Option<String>, read_at: std::time::Instant) -> Self {
        // A copy cut at the slash: one allocation (`to_bare` formats and grows a string).
        let user = from.clone().into_bare();
        Header {
            from,
            kind,
            id,
            read_at,
            user,
        }
    }

    /// The sender's bare JID.
    pub fn user(&self) -> &BareJid {
        &self.user
    }
}

/// An IQ result from `from` answering `header`, with an optional payload.
pub fn iq_result(from: &Jid, header: &Header, payload: Option<Element>) -> Element {
    Iq::Result {
        from: Some(from.clone()),
        to: Some(header.from.clone()),
        id: header.id.clone().unwrap_or_default(),
        payload,
    }
    .into()
}

/// The IQ result answering the raw request `iq` (its `to` becomes `from`), with a payload
/// if any.
pub fn iq_result_to(iq: &Element, payload: Option<Element>) -> Element {
    Iq::Result {
        from: iq.attr("to").and_then(|t| Jid::new(t).ok()),
        to: iq.attr("from").and_then(|f| Jid::new(f).ok()),
        id: iq.attr("id").unwrap_or_default().to_owned(),
        payload,
    }
    .into()
}

/// A chat message with a body.
pub fn chat(from: Jid, to: Jid, body: &str) -> Element {
    with_body(MessageType::Chat, from, to, body)
}

/// A message of type `kind` with a body.
fn with_body(kind: MessageType, from: Jid, to: Jid, body: &str) -> Element {
    let mut m = Message::new_with_type(kind, Some(to));
    m.from = Some(from);
    m.bodies.insert(Lang::default(), body.to_owned());
    m.into()
}

/// The text of the first `<body/>` of a message, if any.
pub fn body_of(message: &Element) -> Option<String> {
    message
        .children()
        .find(|c| c.name() == "body")
        .map(|b| b.text())
}

/// An XEP-0203 delay element for an RFC 3339 time stamp, if it parses.
pub fn delay(stamp: &str) -> Option<Element> {
    let stamp = stamp.parse::<xmpp_parsers::date::DateTime>().ok()?;
    Some(
        xmpp_parsers::delay::Delay {
            from: None,
            stamp,
            data: None,
        }
        .into(),
    )
}

/// A groupchat message with a body (a room's answer to a command typed in it). Room
/// messages of the network go through `crate::render`.
pub fn groupchat(from: Jid, to: Jid, body: &str) -> Element {
    with_body(MessageType::Groupchat, from, to, body)
}

/// `el` as XML text, to store (the archive, offline messages). Our serializer, not
/// minidom's `String::from(&Element)`: that one unwraps its writer's error, and a character
/// XML cannot carry (U+FFFE from an IRC line, a control character from another network)
/// panicked the store's writer task; ours writes U+FFFD instead. Sized for a usual stanza
/// up front (minidom's grew its buffer a dozen times per message). `None` only for an
/// element name that is not an XML name, which no stanza we build has.
pub(crate) fn to_xml(el: &Element) -> Option<String> {
    let mut out = Vec::with_capacity(1024);
    pontoon_xmpp::writer::serialize_into(el, &mut out).ok()?;
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod groupchat_tests {
    use super::*;
    use pontoon_xmpp::outgoing::{Message as Shared, Payload};

    /// The typed message converted to an element.
    fn typed(from: &Jid, to: &Jid, id: Option<&str>, body: &str, payloads: &[Element]) -> Element {
        let mut m = Message::new_with_type(MessageType::Groupchat, Some(to.clone()));
        m.from = Some(from.clone());
        m.id = id.map(|i| xmpp_parsers::message::Id(i.to_owned()));
        m.bodies.insert(Lang::default(), body.to_owned());
        m.payloads.extend(payloads.iter().cloned());
        m.into()
    }

    /// What `crate::render` sends is the element xmpp-parsers' typed message makes (the
    /// bytes of the two ways are tested in `pontoon_xmpp::outgoing`).
    #[test]
    fn a_rendered_message_is_the_typed_message() {
        let from = Jid::new("#c7%irc.example@pontoon.example/n\\20ck").unwrap();
        let to = Jid::new("u1@example.org/r'\"&").unwrap();
        let delay = delay("2026-11-23T02:59:00Z").unwrap();
        let client = crate::legacy::ClientIds {
            id: Some("x".into()),
            origin_id: Some("o-1".into()),
        };
        let ids = crate::ids::room_message_ids(&client, &from, "sid-1");
        let occupant = crate::ids::occupant_id("#c7", "n ck");
        let with_ids: Vec<Payload> = ids
            .map(Payload::Flat)
            .chain([delay.clone().into(), occupant.into()])
            .collect();
        let delay = [Payload::Element(delay)];
        let cases: [(Option<&str>, &str, &[Payload]); 7] = [
            (None, "hello", &[]),
            (Some("abc-1"), "hello", &[]),
            (Some("i<d>&'\""), "<b>&amp; 'q' \"x\" ]]> \u{e9}", &[]),
            (None, "/me waves", &[]),
            (Some("x"), "late line", &delay),
            (Some("x"), "with ids", &with_ids),
            (None, "", &[]),
        ];
        for (id, body, payloads) in cases {
            let elements: Vec<Element> = payloads.iter().map(Payload::to_element).collect();
            let old = typed(&from, &to, id, body, &elements);
            let shared = Shared {
                kind: "groupchat",
                from: from.clone(),
                id: id.map(Into::into),
                body: Some(body.into()),
                payloads: payloads.to_vec(),
            };
            assert_eq!(old, shared.to_element(Some(&to)), "{id:?} {body:?}");
        }
        let answer = groupchat(from.clone(), to.clone(), "done");
        assert_eq!(answer, typed(&from, &to, None, "done", &[]));
    }
}

#[cfg(test)]
mod to_xml_tests {
    use super::*;

    /// A body with a character XML 1.0 cannot carry (valid UTF-8, so an IRC line can bring
    /// it): minidom's own serializer panics on it, ours writes U+FFFD and the text reads
    /// back.
    #[test]
    fn a_stanza_xml_cannot_carry_is_stored_not_panicked_on() {
        let from = Jid::new("#c%irc.example@pontoon.example/bob").expect("a JID");
        let to = Jid::new("u@example.org/r").expect("a JID");
        let el = chat(from, to, "a\u{FFFE}b");
        let minidom = std::panic::catch_unwind(|| String::from(&el));
        assert!(minidom.is_err(), "minidom's serializer panics on U+FFFE");
        let xml = to_xml(&el).expect("serialized");
        let back: Element = xml.parse().expect("reads back");
        assert_eq!(body_of(&back).as_deref(), Some("a\u{FFFD}b"));
        let plain = chat(
            Jid::new("a@b").expect("a JID"),
            Jid::new("c@d").expect("a JID"),
            "hi & <bye>",
        );
        let back: Element = to_xml(&plain)
            .expect("serialized")
            .parse()
            .expect("reads back");
        assert_eq!(back, plain);
    }
}
