//! Checks a stanza Pontoon sends against the rules of the XEPs it carries, for tests.
//!
//! xmpp-parsers' typed parsers hold each XEP's schema (they refuse an element its schema
//! does not allow); on top of them, the rules a schema cannot say but the XEP's text
//! requires and real clients depend on: every XEP-0045 occupant item has `affiliation` and
//! `role`, an occupant leaving has role `none`, every XEP-0004 field of a form or result
//! has its `type`, every room message with a body carries a XEP-0359 stanza-id by the room,
//! every occupant's presence and room message carries one XEP-0421 occupant id (rooms
//! advertise `urn:xmpp:occupant-id:0`).
//! The service test suite runs every stanza it receives through [`check`].

use jid::Jid;
use minidom::Element;
use xmpp_parsers::data_forms::DataForm;
use xmpp_parsers::muc::user::MucUser;
use xmpp_parsers::ns;
use xmpp_parsers::stanza_id::{OriginId, StanzaId};

/// XEP-0004 §3.3 field types.
const FIELD_TYPES: &[&str] = &[
    "boolean",
    "fixed",
    "hidden",
    "jid-multi",
    "jid-single",
    "list-multi",
    "list-single",
    "text-multi",
    "text-private",
    "text-single",
];
/// XEP-0045 §5.1 roles and §5.2 affiliations.
const ROLES: &[&str] = &["moderator", "none", "participant", "visitor"];
const AFFILIATIONS: &[&str] = &["admin", "member", "none", "outcast", "owner"];

/// `Ok` when `stanza` and everything in it keeps the rules above; else the first breach.
pub fn check(stanza: &Element) -> Result<(), String> {
    let kind = stanza.attr("type").unwrap_or_default();
    for x in stanza.children().filter(|c| c.is("x", ns::MUC_USER)) {
        muc_user(x, stanza.name(), kind)?;
    }
    if stanza.name() == "message" {
        message_ids(stanza, kind)?;
    }
    occupant_id(stanza, kind)?;
    forms(stanza)
}

/// XEP-0421 §3: an occupant's presence in a room and its room messages carry exactly one
/// occupant id.
fn occupant_id(stanza: &Element, kind: &str) -> Result<(), String> {
    let from_occupant = stanza
        .attr("from")
        .and_then(|f| f.parse::<Jid>().ok())
        .is_some_and(|j| j.resource().is_some());
    let in_room = match stanza.name() {
        "presence" => kind != "error" && stanza.children().any(|c| c.is("x", ns::MUC_USER)),
        "message" => kind == "groupchat",
        _ => false,
    };
    if !(from_occupant && in_room) {
        return Ok(());
    }
    let ids: Vec<&Element> = stanza
        .children()
        .filter(|c| c.is("occupant-id", pontoon_core::ids::NS_OCCUPANT_ID))
        .collect();
    match ids.as_slice() {
        [one] => xmpp_parsers::occupant_id::OccupantId::try_from((*one).clone())
            .map(|_| ())
            .map_err(|e| format!("occupant-id: {e}")),
        other => Err(format!(
            "{} occupant-ids on an occupant's {} (XEP-0421: exactly one)",
            other.len(),
            stanza.name()
        )),
    }
}

fn muc_user(x: &Element, stanza: &str, kind: &str) -> Result<(), String> {
    MucUser::try_from(x.clone()).map_err(|e| format!("muc#user does not parse: {e}"))?;
    for item in x.children().filter(|c| c.is("item", ns::MUC_USER)) {
        if stanza != "presence" {
            continue;
        }
        let affiliation = item
            .attr("affiliation")
            .ok_or("occupant item without affiliation (XEP-0045 §7.2.3)")?;
        let role = item
            .attr("role")
            .ok_or("occupant item without role (XEP-0045 §7.2.3)")?;
        if !AFFILIATIONS.contains(&affiliation) || !ROLES.contains(&role) {
            return Err(format!("bad item: affiliation={affiliation} role={role}"));
        }
        if kind == "unavailable" && role != "none" {
            return Err(format!("leaving occupant with role {role}, not none"));
        }
    }
    Ok(())
}

fn message_ids(m: &Element, kind: &str) -> Result<(), String> {
    for o in m.children().filter(|c| c.is("origin-id", ns::SID)) {
        let o = OriginId::try_from(o.clone()).map_err(|e| format!("origin-id: {e}"))?;
        if o.id.is_empty() {
            return Err("empty origin-id".into());
        }
    }
    let mut stamps = Vec::new();
    for s in m.children().filter(|c| c.is("stanza-id", ns::SID)) {
        let s = StanzaId::try_from(s.clone()).map_err(|e| format!("stanza-id: {e}"))?;
        if s.id.is_empty() || s.by.resource().is_some() {
            return Err(format!("stanza-id {:?} by {}", s.id, s.by));
        }
        if stamps.contains(&s.by) {
            return Err(format!("two stanza-ids by {}", s.by));
        }
        stamps.push(s.by);
    }
    let has_body = m.children().any(|c| c.name() == "body");
    if kind == "groupchat" && has_body {
        let room = m
            .attr("from")
            .and_then(|f| f.parse::<Jid>().ok())
            .ok_or("groupchat message without a valid from")?
            .to_bare();
        if !stamps.contains(&Jid::from(room.clone())) {
            return Err(format!("room message without a stanza-id by {room}"));
        }
    }
    Ok(())
}

fn forms(el: &Element) -> Result<(), String> {
    for child in el.children() {
        if child.is("x", ns::DATA_FORMS) {
            form(child)?;
        } else {
            forms(child)?;
        }
    }
    Ok(())
}

fn form(x: &Element) -> Result<(), String> {
    DataForm::try_from(x.clone()).map_err(|e| format!("data form does not parse: {e}"))?;
    let form_type = x.attr("type").unwrap_or_default();
    for field in x.children().filter(|c| c.is("field", ns::DATA_FORMS)) {
        let var = field.attr("var");
        let Some(t) = field.attr("type") else {
            if form_type == "submit" {
                continue;
            }
            return Err(format!(
                "field {var:?} of a {form_type} form has no type (XEP-0004 §3.2)"
            ));
        };
        if !FIELD_TYPES.contains(&t) {
            return Err(format!("field {var:?} has unknown type {t}"));
        }
        if var.is_none() && t != "fixed" {
            return Err(format!("{t} field without var (XEP-0004 §3.2)"));
        }
        if t == "boolean" {
            for v in field.children().filter(|c| c.is("value", ns::DATA_FORMS)) {
                if !["0", "1", "true", "false"].contains(&v.text().as_str()) {
                    return Err(format!("boolean field {var:?} has value {:?}", v.text()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;
    use minidom::Element;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn breaches_are_found() {
        let no_affiliation = el(
            "<presence xmlns='jabber:client' from='r@d/n'><x xmlns='http://jabber.org/protocol/muc#user'><item role='participant'/></x></presence>",
        );
        assert!(check(&no_affiliation).unwrap_err().contains("affiliation"));
        let leaving_participant = el(
            "<presence xmlns='jabber:client' type='unavailable' from='r@d/n'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>",
        );
        assert!(check(&leaving_participant).is_err());
        let untyped = el(
            "<iq xmlns='jabber:client' type='result'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'><field var='nick'/></x></query></iq>",
        );
        assert!(check(&untyped).unwrap_err().contains("no type"));
        let unstamped = el(
            "<message xmlns='jabber:client' type='groupchat' from='r@d/n'><body>hi</body></message>",
        );
        assert!(check(&unstamped).unwrap_err().contains("stanza-id"));
        let stamped = el(
            "<message xmlns='jabber:client' type='groupchat' from='r@d/n'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='1' by='r@d'/></message>",
        );
        assert!(check(&stamped).unwrap_err().contains("occupant-id"));
        let stamped = el(
            "<message xmlns='jabber:client' type='groupchat' from='r@d/n'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' id='1' by='r@d'/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='o1'/></message>",
        );
        assert_eq!(check(&stamped), Ok(()));
        let submit = el(
            "<iq xmlns='jabber:client' type='set'><x xmlns='jabber:x:data' type='submit'><field var='nick'><value>x</value></field></x></iq>",
        );
        assert_eq!(check(&submit), Ok(()));
    }
}
