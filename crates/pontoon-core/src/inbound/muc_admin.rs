//! XEP-0045's admin requests a room moderator sends, by nick: an IQ set of
//! `<query xmlns='…muc#admin'><item nick='…' role='none'/></query>` (§8.2 kick),
//! `affiliation='outcast'` (§9.1 ban), or another role (§8.3-8.4 voice, §9.6-9.7
//! moderator: `participant`, `visitor`, `moderator`), with an optional reason. Written here
//! because xmpp-parsers 0.23 has no `muc#admin` module; requests by JID (memberships) and
//! lists are refused as not implemented.

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
    /// Another role: moderator, participant (voice), visitor (no voice).
    SetRole {
        /// The occupant's nick.
        nick: String,
        /// The role they get.
        role: crate::legacy::Role,
    },
}

/// Reads the `<query/>` of an admin IQ set.
pub fn read(query: &Element) -> Result<AdminRequest, Refusal> {
    let mut items = query.children().filter(|c| c.is("item", NS));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(Refusal::modify(
            "bad-request",
            "An admin request names one occupant in one <item/>.",
        ));
    };
    let reason = super::reason(item, NS, MAX_REASON_BYTES, "A kick or ban reason")?;
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
}
