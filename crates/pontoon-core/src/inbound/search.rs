//! XEP-0055 search of a room directory: on the transport domain (its own network) or a
//! network's JID, the form asks for a term, and the answer lists the rooms whose id, name
//! or topic contains it, as an XEP-0004 result with one item per room. The term goes to
//! the transport too (`LegacyCommand::ListRooms`), so a network that searches its own
//! directory (a Matrix homeserver's public rooms) is asked for matches, not for everything;
//! the core filters what comes back either way. Written by hand: xmpp-parsers 0.23 has no
//! search module and its forms carry no `<reported/>` or `<item/>`.

use minidom::Element;

use crate::escape;
use crate::legacy::RoomInfo;
use crate::stanza::Refusal;

/// XEP-0055's namespace.
pub const NS: &str = "jabber:iq:search";
const NS_DATA: &str = "jabber:x:data";

/// Longest term taken.
pub const MAX_TERM_CHARS: usize = 100;
/// Most rooms in one answer.
pub const MAX_RESULTS: usize = 100;

fn field(var: &str, kind: &str, label: Option<&str>, value: Option<&str>) -> Element {
    let mut f = crate::stanza::elem("field", NS_DATA, &[("var", var), ("type", kind)]);
    if let Some(l) = label {
        crate::stanza::set_attr(&mut f, "label", l);
    }
    if let Some(v) = value {
        let mut el = Element::bare("value", NS_DATA);
        el.append_text(v.to_owned());
        f.append_child(el);
    }
    f
}

/// The search form (the answer to a `get`).
pub fn form(network: &str) -> Element {
    let mut q = Element::bare("query", NS);
    let mut instructions = Element::bare("instructions", NS);
    instructions.append_text(format!("Search the rooms of {network} by name or topic."));
    q.append_child(instructions);
    let mut x = crate::stanza::elem("x", NS_DATA, &[("type", "form")]);
    let mut title = Element::bare("title", NS_DATA);
    title.append_text(format!("Rooms of {network}"));
    x.append_child(title);
    x.append_child(field("FORM_TYPE", "hidden", None, Some(NS)));
    x.append_child(field(
        "q",
        "text-single",
        Some("Name or topic contains"),
        None,
    ));
    q.append_child(x);
    q
}

/// The term of a submitted search (`set`), or why it is refused.
pub fn term(query: &Element) -> Result<String, Refusal> {
    let value = query
        .get_child("x", NS_DATA)
        .into_iter()
        .flat_map(|x| x.children())
        .filter(|f| f.is("field", NS_DATA) && f.attr("var") == Some("q"))
        .filter_map(|f| f.get_child("value", NS_DATA))
        .map(Element::text)
        .next()
        .unwrap_or_default();
    let term = value.trim();
    if term.is_empty() {
        return Err(Refusal::modify("bad-request", "Give a term to search for."));
    }
    if term.chars().count() > MAX_TERM_CHARS || term.chars().any(char::is_control) {
        return Err(Refusal::modify(
            "not-acceptable",
            format!("A search term is at most {MAX_TERM_CHARS} characters, on one line."),
        ));
    }
    Ok(term.to_owned())
}

/// Whether `room` matches `term` (case-insensitive, in its id, name or topic).
pub fn matches(room: &RoomInfo, term: &str) -> bool {
    let term = term.to_lowercase();
    [
        Some(room.room.as_str()),
        room.name.as_deref(),
        room.topic.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|t| t.to_lowercase().contains(&term))
}

/// The answer: the rooms of `rooms` matching `term` (at most [`MAX_RESULTS`]), with their
/// JIDs on `domain`.
pub fn results(rooms: &[RoomInfo], term: &str, domain: &str) -> Element {
    let mut x = crate::stanza::elem("x", NS_DATA, &[("type", "result")]);
    x.append_child(field("FORM_TYPE", "hidden", None, Some(NS)));
    let mut reported = Element::bare("reported", NS_DATA);
    for (var, label, kind) in [
        ("jid", "Room", "jid-single"),
        ("name", "Name", "text-single"),
        ("users", "Users", "text-single"),
        ("topic", "Topic", "text-single"),
    ] {
        reported.append_child(field(var, kind, Some(label), None));
    }
    x.append_child(reported);
    for room in rooms.iter().filter(|r| matches(r, term)).take(MAX_RESULTS) {
        let Ok(jid) = escape::legacy_jid(&room.room, domain, None) else {
            continue;
        };
        let mut item = Element::bare("item", NS_DATA);
        let users = room.occupants.map(|n| n.to_string());
        for (var, value) in [
            ("jid", Some(jid.to_string())),
            (
                "name",
                Some(room.name.clone().unwrap_or_else(|| room.room.to_string())),
            ),
            ("users", users),
            ("topic", room.topic.clone()),
        ] {
            let mut f = crate::stanza::elem("field", NS_DATA, &[("var", var)]);
            let mut v = Element::bare("value", NS_DATA);
            v.append_text(value.unwrap_or_default());
            f.append_child(v);
            item.append_child(f);
        }
        x.append_child(item);
    }
    let mut q = Element::bare("query", NS);
    q.append_child(x);
    q
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::legacy::LegacyId;

    fn room(id: &str, name: Option<&str>, topic: Option<&str>) -> RoomInfo {
        RoomInfo {
            room: LegacyId::new(id, None),
            name: name.map(str::to_owned),
            occupants: Some(3),
            topic: topic.map(str::to_owned),
        }
    }

    #[test]
    fn the_term_matches_id_name_or_topic() {
        let rooms = [
            room("#rust:example.org", Some("Rust"), None),
            room(
                "!abc:example.org",
                Some("Cooking"),
                Some("all about RUSTIC bread"),
            ),
            room("#go:example.org", None, Some("gophers")),
        ];
        let answer = results(&rooms, "rust", "matrix.example.org");
        let xml = String::from(&answer);
        assert_eq!(xml.matches("<item").count(), 2, "{xml}");
        assert!(
            xml.contains("#rust\\3aexample.org@matrix.example.org"),
            "{xml}"
        );
        assert!(!xml.contains("gophers"), "{xml}");
    }

    #[test]
    fn terms_are_bounded() {
        let submit = |v: &str| -> Element {
            format!(
                "<query xmlns='{NS}'><x xmlns='{NS_DATA}' type='submit'><field var='q'><value>{v}</value></field></x></query>"
            )
            .parse()
            .unwrap()
        };
        assert_eq!(term(&submit(" cats ")).unwrap(), "cats");
        assert_eq!(term(&submit("")).unwrap_err().condition, "bad-request");
        assert_eq!(
            term(&submit(&"x".repeat(101))).unwrap_err().condition,
            "not-acceptable"
        );
        assert!(
            String::from(&form("example.org")).contains("var=\"q\"")
                || String::from(&form("example.org")).contains("var='q'")
        );
    }
}
