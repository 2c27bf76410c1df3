//! XEP-0045's admin requests a room moderator sends, by nick: an IQ set of
//! `<query xmlns='…muc#admin'><item nick='…' role='none'/></query>` (§8.2 kick),
//! `affiliation='outcast'` (§9.1 ban), or another role (§8.3-8.4 voice, §9.6-9.7
//! moderator: `participant`, `visitor`, `moderator`), with an optional reason; the ban list
//! as the outcast list (§9.5: an IQ get for `affiliation='outcast'`, each ban mask an item
//! whose JID is the XEP-0106-escaped mask at the transport's domain) and lifting a ban by
//! that JID (`affiliation='none'`). Written here because xmpp-parsers 0.23 has no
//! `muc#admin` module; other requests by JID (memberships) and other lists are refused as
//! not implemented.

use minidom::Element;

use crate::stanza::Refusal;

/// The admin namespace of XEP-0045.
pub const NS: &str = "http://jabber.org/protocol/muc#admin";
/// Longest reason accepted, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// What a moderator asks of an occupant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    /// Out of the room now (role none).
    Kick {
        /// The occupant's nick.
        nick: String,
        /// Why, if the moderator said.
        reason: Option<String>,
    },
    /// Out of the room and kept out (affiliation outcast).
    Ban {
        /// The occupant's nick.
        nick: String,
        /// Why, if the moderator said.
        reason: Option<String>,
    },
    /// Lift bans, by the masks the outcast list gave (a client's ban-list editor sends
    /// several at once).
    Unban {
        /// The ban masks.
        masks: Vec<String>,
    },
    /// Another role: moderator, participant (voice), visitor (no voice).
    SetRole {
        /// The occupant's nick.
        nick: String,
        /// The role they get.
        role: crate::legacy::Role,
    },
}

/// Most bans lifted by one request.
pub const MAX_UNBANS: usize = 50;

/// Reads the `<query/>` of an admin IQ set.
pub fn read(query: &Element) -> Result<AdminRequest, Refusal> {
    let all: Vec<&Element> = query.children().filter(|c| c.is("item", NS)).collect();
    let lifting = |i: &&Element| {
        i.attr("nick").is_none() && i.attr("affiliation") == Some("none") && i.attr("jid").is_some()
    };
    if all.len() > 1 && all.iter().all(lifting) {
        if all.len() > MAX_UNBANS {
            return Err(Refusal::modify(
                "policy-violation",
                format!("At most {MAX_UNBANS} bans are lifted at once."),
            ));
        }
        let masks = all
            .iter()
            .map(|i| mask_of(i.attr("jid").unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(AdminRequest::Unban { masks });
    }
    let mut items = all.into_iter();
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(Refusal::modify(
            "bad-request",
            "An admin request names one occupant in one <item/>.",
        ));
    };
    let reason = super::reason(item, NS, MAX_REASON_BYTES, "A kick or ban reason")?;
    if let (None, Some("none"), Some(jid)) = (
        item.attr("nick"),
        item.attr("affiliation"),
        item.attr("jid"),
    ) {
        return mask_of(jid).map(|mask| AdminRequest::Unban { masks: vec![mask] });
    }
    let Some(nick) = item
        .attr("nick")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
    else {
        return Err(Refusal::cancel(
            "feature-not-implemented",
            "Name the occupant by nick: this gateway kicks and bans people in the room.",
        ));
    };
    use crate::legacy::Role;
    let role = |role| {
        Ok(AdminRequest::SetRole {
            nick: nick.clone(),
            role,
        })
    };
    match (item.attr("role"), item.attr("affiliation")) {
        (Some("none"), None) => Ok(AdminRequest::Kick { nick, reason }),
        (None, Some("outcast")) => Ok(AdminRequest::Ban { nick, reason }),
        (Some("moderator"), None) => role(Role::Moderator),
        (Some("participant"), None) => role(Role::Participant),
        (Some("visitor"), None) => role(Role::Visitor),
        _ => Err(Refusal::cancel(
            "feature-not-implemented",
            "This gateway carries kicks (role none), bans (affiliation outcast) and role changes (moderator, participant, visitor) by nick only.",
        )),
    }
}

/// Reads the `<query/>` of an admin IQ get: only the outcast list (the room's bans).
pub fn read_list(query: &Element) -> Result<(), Refusal> {
    let mut items = query.children().filter(|c| c.is("item", NS));
    match (
        items.next().and_then(|i| i.attr("affiliation")),
        items.next(),
    ) {
        (Some("outcast"), None) => Ok(()),
        _ => Err(Refusal::cancel(
            "feature-not-implemented",
            "This gateway lists the outcasts (the room's bans) only.",
        )),
    }
}

/// The outcast item of ban `mask`, its JID the escaped mask at `domain`.
pub fn outcast(mask: &str, domain: &str) -> Option<Element> {
    let jid = crate::escape::legacy_jid(mask, domain, None).ok()?;
    let mut item = Element::builder("item", NS).build();
    crate::stanza::set_attr(&mut item, "affiliation", "outcast");
    crate::stanza::set_attr(&mut item, "jid", jid.to_string());
    Some(item)
}

/// The ban mask an outcast item's JID names.
fn mask_of(jid: &str) -> Result<String, Refusal> {
    let local = jid::BareJid::new(jid)
        .ok()
        .and_then(|j| j.node().map(|n| n.as_str().to_owned()));
    match local {
        Some(local) => Ok(crate::escape::unescape(&local)),
        None => Err(Refusal::modify(
            "jid-malformed",
            "Name the ban by the JID the outcast list gave it.",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn query(items: &str) -> Element {
        format!("<query xmlns='{NS}'>{items}</query>")
            .parse()
            .unwrap()
    }

    #[test]
    fn kicks_and_bans() {
        assert_eq!(
            read(&query(
                "<item nick='bob' role='none'><reason>spam</reason></item>"
            ))
            .unwrap(),
            AdminRequest::Kick {
                nick: "bob".into(),
                reason: Some("spam".into())
            }
        );
        assert_eq!(
            read(&query("<item nick='bob' affiliation='outcast'/>")).unwrap(),
            AdminRequest::Ban {
                nick: "bob".into(),
                reason: None
            }
        );
        assert_eq!(
            read(&query("<item nick='bob' role='visitor'/>")).unwrap(),
            AdminRequest::SetRole {
                nick: "bob".into(),
                role: crate::legacy::Role::Visitor
            }
        );
        let e = read(&query("<item nick='bob' affiliation='member'/>")).unwrap_err();
        assert_eq!(e.condition, "feature-not-implemented");
        let e = read(&query("<item jid='b@x' affiliation='outcast'/>")).unwrap_err();
        assert_eq!(e.condition, "feature-not-implemented");
        assert_eq!(read(&query("")).unwrap_err().condition, "bad-request");
        let long = "x".repeat(MAX_REASON_BYTES + 1);
        let e = read(&query(&format!(
            "<item nick='b' role='none'><reason>{long}</reason></item>"
        )))
        .unwrap_err();
        assert_eq!(e.condition, "policy-violation");
    }

    #[test]
    fn the_outcast_list_and_lifting_a_ban() {
        assert!(read_list(&query("<item affiliation='outcast'/>")).is_ok());
        let e = read_list(&query("<item affiliation='member'/>")).unwrap_err();
        assert_eq!(e.condition, "feature-not-implemented");
        let item = outcast("bob!*@*", "irc.example.org").unwrap();
        let jid = item.attr("jid").unwrap();
        assert_eq!(jid, "bob!*\\40*@irc.example.org");
        let unban = format!("<item jid='{jid}' affiliation='none'/>");
        assert_eq!(
            read(&query(&unban)).unwrap(),
            AdminRequest::Unban {
                masks: vec!["bob!*@*".into()]
            }
        );
        let e = read(&query("<item jid='irc.example.org' affiliation='none'/>")).unwrap_err();
        assert_eq!(e.condition, "jid-malformed");
    }
}
