//! The user's roster, read and written as the host server lets the component (XEP-0356
//! roster permission): RFC 6121 roster IQs sent from the transport's domain to the user's
//! bare JID, and their answers. The policy (what goes in, what is left as the user made
//! it) is the session's (`crate::session`); this module only speaks the wire.

use jid::{BareJid, Jid};
use minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::roster::{Group, Item, Roster, Subscription};

/// Ids of the roster reads the service sends when a user unregisters.
pub const FORGET_ID_PREFIX: &str = "pontoon-unroster-";

/// Most roster items read from one answer (a hostile or huge roster is cut, not copied).
const MAX_ITEMS: usize = 5000;

/// A roster item the gateway keeps: the name and groups it has in the user's roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The name the user's clients show.
    pub name: Option<String>,
    /// Its groups.
    pub groups: Vec<String>,
}

/// `<iq type='get'>` for `user`'s roster, from `domain`.
pub fn get(domain: &Jid, user: &BareJid, id: String) -> Element {
    Iq::from_get(
        id,
        Roster {
            ver: None,
            items: vec![],
        },
    )
    .with_from(domain.clone())
    .with_to(Jid::from(user.clone()))
    .into()
}

/// `<iq type='set'>` of one item of `user`'s roster (ejabberd takes one item a request):
/// `kept` adds or renames it with a mutual subscription, `None` removes it.
pub fn set(domain: &Jid, user: &BareJid, id: String, jid: BareJid, kept: Option<&Kept>) -> Element {
    let item = match kept {
        Some(k) => Item {
            jid,
            name: k.name.clone(),
            // Both ways, as a subscription accepted on each side would leave it: the user
            // sees the contact's presence, and the contact (the gateway) the user's.
            subscription: Subscription::Both,
            ask: Default::default(),
            groups: k.groups.iter().cloned().map(Group).collect(),
            approved: None,
        },
        None => Item {
            jid,
            name: None,
            subscription: Subscription::Remove,
            ask: Default::default(),
            groups: vec![],
            approved: None,
        },
    };
    Iq::from_set(
        id,
        Roster {
            ver: None,
            items: vec![item],
        },
    )
    .with_from(domain.clone())
    .with_to(Jid::from(user.clone()))
    .into()
}

/// The items at `domain` in a roster read's answer (`jabber:iq:roster` query), by JID;
/// `None` when the answer has no roster.
pub fn read_items(answer: &Element, domain: &str) -> Option<Vec<(BareJid, Kept)>> {
    let query = answer
        .children()
        .find(|c| c.is("query", xmpp_parsers::ns::ROSTER))?;
    let items = query
        .children()
        .filter(|c| c.is("item", xmpp_parsers::ns::ROSTER))
        .take(MAX_ITEMS)
        // One bad item (a JID the parser refuses) is skipped, not the whole roster.
        .filter_map(|c| Item::try_from(c.clone()).ok())
        .filter(|i| i.jid.domain().as_str() == domain && i.jid.node().is_some())
        .map(|i| {
            let kept = Kept {
                name: i.name,
                groups: i.groups.into_iter().map(|g| g.0).collect(),
            };
            (i.jid, kept)
        })
        .collect();
    Some(items)
}

/// Whether an answer to a roster IQ is one the host server sent: from the user's bare
/// JID (a client can only send from its full JID, which its server stamps).
pub fn from_host(from: &Jid) -> bool {
    from.resource().is_none() && from.node().is_some()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn set_and_remove_one_item() {
        let domain = Jid::new("irc.localhost").unwrap();
        let kept = Kept {
            name: Some("Echo".into()),
            groups: vec!["IRC".into()],
        };
        let el = set(
            &domain,
            &bare("alice@localhost"),
            "pontoon-roster-1".into(),
            bare("echo@irc.localhost"),
            Some(&kept),
        );
        let xml = String::from(&el);
        assert!(xml.contains("type='set'"), "{xml}");
        assert!(xml.contains("to='alice@localhost'"), "{xml}");
        assert!(xml.contains("subscription='both'"), "{xml}");
        assert!(xml.contains("<group>IRC</group>"), "{xml}");
        let el = set(
            &domain,
            &bare("alice@localhost"),
            "x".into(),
            bare("echo@irc.localhost"),
            None,
        );
        assert!(String::from(&el).contains("subscription='remove'"));
    }

    #[test]
    fn only_items_at_the_domain_are_read() {
        let answer: Element = "<iq xmlns='jabber:component:accept' type='result' id='a'>\
            <query xmlns='jabber:iq:roster'>\
            <item jid='echo@irc.localhost' name='Echo' subscription='both'><group>IRC</group></item>\
            <item jid='bob@localhost' subscription='both'/>\
            <item jid='irc.localhost' subscription='both'/>\
            <item jid='not a jid@@' subscription='both'/>\
            </query></iq>"
            .parse()
            .unwrap();
        let items = read_items(&answer, "irc.localhost").unwrap();
        assert_eq!(
            items,
            vec![(
                bare("echo@irc.localhost"),
                Kept {
                    name: Some("Echo".into()),
                    groups: vec!["IRC".into()]
                }
            )]
        );
        let empty: Element = "<iq xmlns='jabber:component:accept' type='result' id='a'/>"
            .parse()
            .unwrap();
        assert!(read_items(&empty, "irc.localhost").is_none());
    }

    #[test]
    fn answers_come_from_a_bare_jid() {
        assert!(from_host(&Jid::new("alice@localhost").unwrap()));
        assert!(!from_host(&Jid::new("alice@localhost/phone").unwrap()));
        assert!(!from_host(&Jid::new("localhost").unwrap()));
    }
}
