//! How a verb the network cannot carry is written as text its users can read. Where a
//! network does not declare edits, reactions or replies ([`crate::legacy::Verbs`]: IRC has
//! no edits, and reactions and replies only with message-tags), each is sent as a line
//! that says what it is: never silently as a fresh message, never dropped.

/// What a correction looks like on a network without edits.
pub const CORRECTION_MARK: &str = "(correction) ";

/// A correction with the new text `body`.
pub fn correction(body: &str) -> String {
    format!("{CORRECTION_MARK}{body}")
}

/// `body` as it was before [`correction`] marked it, if it was marked.
pub fn unmark_correction(body: &str) -> Option<&str> {
    body.strip_prefix(CORRECTION_MARK)
}

/// The text of an action saying the user reacted with `added` to a message by `author`
/// (`None`: their own).
pub fn reaction(added: &[String], author: Option<&str>) -> String {
    let emojis = added.join(" ");
    match author {
        Some(a) => format!("reacted {emojis} to {a}'s message"),
        None => format!("reacted {emojis} to their own message"),
    }
}

/// A reply's text: addressed to the author as chat networks without replies do
/// (`bob: text`), else with the client's quote before it.
pub fn reply(text: &str, author: Option<&str>, fallback: Option<&str>) -> String {
    match (author, fallback) {
        (Some(a), _) if !a.is_empty() => {
            let addressed = text
                .get(..a.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(a));
            if addressed {
                text.to_owned()
            } else {
                format!("{a}: {text}")
            }
        }
        (_, Some(quote)) => format!("{quote}{text}"),
        _ => text.to_owned(),
    }
}

/// `body` saying every file's URL (a network without attachments gets the links; clients
/// usually put the URL in the body already).
pub fn with_urls(body: &str, attachments: &[crate::legacy::Attachment]) -> String {
    let mut out = body.to_owned();
    for a in attachments {
        if !out.contains(&a.url) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&a.url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_they_are() {
        assert_eq!(correction("fixed"), "(correction) fixed");
        assert_eq!(unmark_correction("(correction) fixed"), Some("fixed"));
        assert_eq!(
            reaction(&["👍".into(), "🐢".into()], Some("bob")),
            "reacted 👍 🐢 to bob's message"
        );
        assert_eq!(
            reaction(&["👍".into()], None),
            "reacted 👍 to their own message"
        );
        assert_eq!(reply("sure", Some("bob"), Some("> x\n")), "bob: sure");
        assert_eq!(reply("Bob: sure", Some("bob"), None), "Bob: sure");
        assert_eq!(
            reply("sure", None, Some("> bob:\n> x\n")),
            "> bob:\n> x\nsure"
        );
        assert_eq!(reply("sure", None, None), "sure");
        let file = crate::legacy::Attachment {
            url: "https://x/a.png".into(),
            name: None,
            media_type: None,
            size: None,
            thumbnail: None,
        };
        assert_eq!(
            with_urls("https://x/a.png", std::slice::from_ref(&file)),
            "https://x/a.png"
        );
        assert_eq!(with_urls("look", &[file]), "look\nhttps://x/a.png");
    }
}
