//! XEP-0444 (message reactions): a user's whole set of reactions to one message, parsed
//! with xmpp-parsers and bounded (a set or a reaction past the limits is refused with
//! `policy-violation`, not cut).

use minidom::Element;
use xmpp_parsers::reactions::Reactions;

use crate::stanza::Refusal;

/// Most reactions in one set.
pub const MAX_REACTIONS: usize = 16;
/// Longest reaction, in bytes (an emoji with modifiers and joiners fits many times).
pub const MAX_REACTION_BYTES: usize = 64;

/// A user's reactions to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionSet {
    /// The XMPP id of the message reacted to.
    pub target: String,
    /// The reactions, in the client's order, without duplicates or empty ones.
    pub emojis: Vec<String>,
}

/// The reactions `stanza` carries, if any.
pub fn read(stanza: &Element) -> Result<Option<ReactionSet>, Refusal> {
    let Some(el) = stanza.get_child("reactions", xmpp_parsers::ns::REACTIONS) else {
        return Ok(None);
    };
    let reactions = Reactions::try_from(el.clone()).map_err(|_| {
        Refusal::modify(
            "bad-request",
            "The reactions element is malformed (XEP-0444).",
        )
    })?;
    if reactions.id.is_empty() {
        return Err(Refusal::modify(
            "bad-request",
            "Reactions must name the message they react to.",
        ));
    }
    if reactions.reactions.len() > MAX_REACTIONS {
        return Err(Refusal::modify(
            "policy-violation",
            format!("At most {MAX_REACTIONS} reactions to one message are accepted."),
        ));
    }
    let mut emojis: Vec<String> = Vec::with_capacity(reactions.reactions.len());
    for r in reactions.reactions {
        let emoji = r.emoji.trim();
        if emoji.len() > MAX_REACTION_BYTES {
            return Err(Refusal::modify(
                "policy-violation",
                "A reaction is limited to a short text such as one emoji.",
            ));
        }
        if !emoji.is_empty()
            && !emoji.contains(char::is_control)
            && !emojis.iter().any(|e| e == emoji)
        {
            emojis.push(emoji.to_owned());
        }
    }
    Ok(Some(ReactionSet {
        target: reactions.id,
        emojis,
    }))
}

/// `<reactions id='target'>` with `emojis`, for the user's own clients.
pub fn element(target: &str, emojis: &[String]) -> Element {
    Reactions {
        id: target.to_owned(),
        reactions: emojis
            .iter()
            .map(|e| xmpp_parsers::reactions::Reaction { emoji: e.clone() })
            .collect(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read_xml(xml: &str) -> Result<Option<ReactionSet>, Refusal> {
        read(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn reads_dedupes_and_bounds() {
        let set = read_xml("<message xmlns='jabber:client'><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction><reaction>👍</reaction><reaction> </reaction><reaction>🐢</reaction></reactions></message>")
            .unwrap()
            .unwrap();
        assert_eq!(set.target, "m1");
        assert_eq!(set.emojis, ["👍", "🐢"]);
        let many: String = (0..MAX_REACTIONS + 1)
            .map(|i| format!("<reaction>{i}</reaction>"))
            .collect();
        let err = read_xml(&format!("<message xmlns='jabber:client'><reactions xmlns='urn:xmpp:reactions:0' id='m1'>{many}</reactions></message>")).unwrap_err();
        assert_eq!(err.condition, "policy-violation");
        let long = "x".repeat(MAX_REACTION_BYTES + 1);
        let err = read_xml(&format!("<message xmlns='jabber:client'><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>{long}</reaction></reactions></message>")).unwrap_err();
        assert_eq!(err.condition, "policy-violation");
        assert!(
            read_xml("<message xmlns='jabber:client'><body>hi</body></message>")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn element_round_trips() {
        let el = element("m1", &["👍".to_owned()]);
        let mut m = Element::bare("message", "jabber:client");
        m.append_child(el);
        assert_eq!(read(&m).unwrap().unwrap().emojis, ["👍"]);
    }
}
