//! XEP-0356 (Privileged Entity): what the host server lets the component do for its users,
//! as it says in the message it sends after the component's handshake. Both versions
//! are read: `urn:xmpp:privilege:2` (Prosody's mod_privilege) and `urn:xmpp:privilege:1`
//! (ejabberd up to 24.x). Hand-written: xmpp-parsers 0.23 has no module for it.
//!
//! Only a server may grant privileges over its users: an advertisement is taken from a
//! bare domain that is a parent of the component's own (`irc.example.org` is granted by
//! `example.org`), never from a user or another server; anything else is logged and
//! ignored. Every list read is bounded.

use std::collections::BTreeMap;
use std::sync::RwLock;

use minidom::Element;

pub mod bookmarks;

/// Ids of the IQs a session sends to the user's server (roster, bookmarks); the answers go
/// back to the session ([`crate::session::SessionInput::HostAnswer`]).
pub const SESSION_IQ_PREFIX: &str = "pontoon-host-";
pub mod roster;
mod service;
pub use service::Forgetting;

/// XEP-0356 v0.4 and later.
pub const NS_V2: &str = "urn:xmpp:privilege:2";
/// XEP-0356 before v0.4.
pub const NS_V1: &str = "urn:xmpp:privilege:1";

/// Most permissions and IQ namespaces read from one advertisement.
const MAX_ITEMS: usize = 32;

/// What a permission allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Nothing.
    #[default]
    None,
    /// Reading (`get`).
    Get,
    /// Writing (`set`).
    Set,
    /// Both.
    Both,
}

impl Access {
    fn read(value: Option<&str>) -> Access {
        match value {
            Some("get") => Access::Get,
            Some("set") => Access::Set,
            Some("both") => Access::Both,
            _ => Access::None,
        }
    }

    /// Whether it allows reading.
    pub fn get(self) -> bool {
        matches!(self, Access::Get | Access::Both)
    }

    /// Whether it allows writing.
    pub fn set(self) -> bool {
        matches!(self, Access::Set | Access::Both)
    }

    fn word(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Get => "get",
            Access::Set => "set",
            Access::Both => "get and set",
        }
    }
}

/// What one host server grants the component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    /// The namespace version the server speaks (1 or 2).
    pub version: u8,
    /// The users' rosters.
    pub roster: Access,
    /// Sending messages as the users (carbons of what they sent elsewhere).
    pub message_outgoing: bool,
    /// IQs as the users, by namespace (v2 only: PEP for bookmarks and avatars).
    pub iq: Vec<(String, Access)>,
}

impl Privileges {
    /// Reads the `<privilege/>` of an advertisement message, if it has one.
    pub fn read(message: &Element) -> Option<Privileges> {
        // One pass over the children: every message the transport gets is asked.
        let (privilege, (ns, version)) = message.children().find_map(|c| {
            let known = [(NS_V2, 2), (NS_V1, 1)]
                .into_iter()
                .find(|(ns, _)| c.is("privilege", *ns))?;
            Some((c, known))
        })?;
        let mut granted = Privileges {
            version,
            ..Privileges::default()
        };
        for perm in privilege
            .children()
            .filter(|c| c.is("perm", ns))
            .take(MAX_ITEMS)
        {
            match perm.attr("access") {
                Some("roster") => granted.roster = Access::read(perm.attr("type")),
                Some("message") => granted.message_outgoing = perm.attr("type") == Some("outgoing"),
                Some("iq") => {
                    granted.iq = perm
                        .children()
                        .filter(|c| c.is("namespace", ns))
                        .take(MAX_ITEMS)
                        .filter_map(|n| {
                            let name = n.attr("ns").filter(|s| s.len() <= 256)?;
                            Some((name.to_owned(), Access::read(n.attr("type"))))
                        })
                        .collect();
                }
                _ => {}
            }
        }
        Some(granted)
    }

    /// What an IQ namespace may do.
    pub fn iq(&self, ns: &str) -> Access {
        self.iq
            .iter()
            .find(|(n, _)| n == ns)
            .map_or(Access::None, |(_, a)| *a)
    }

    /// In words, for the user's `status` and the log.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("roster {}", self.roster.word())];
        parts.push(format!(
            "messages as you: {}",
            if self.message_outgoing { "yes" } else { "no" }
        ));
        if !self.iq.is_empty() {
            let names: Vec<String> = self
                .iq
                .iter()
                .map(|(n, a)| format!("{n} ({})", a.word()))
                .collect();
            parts.push(format!("IQs: {}", names.join(", ")));
        }
        parts.join("; ")
    }
}

/// What each host server granted, by its domain (a component of several virtual hosts
/// hears from each): written by the service, which hears the advertisements, read by its
/// sessions, which act on them. Bounded; forgotten when the component link goes down,
/// since the server says it again after the next handshake.
#[derive(Debug, Default)]
pub struct Granted(RwLock<BTreeMap<String, Privileges>>);

/// Most host domains remembered.
const MAX_HOSTS: usize = 16;

impl Granted {
    // A panic elsewhere while holding the lock leaves the map as it was: still usable.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Privileges>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Privileges>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `privileges` from the host `domain`; false when too many hosts already spoke.
    pub fn take(&self, domain: &str, privileges: Privileges) -> bool {
        let mut map = self.write();
        if !map.contains_key(domain) && map.len() >= MAX_HOSTS {
            return false;
        }
        map.insert(domain.to_owned(), privileges);
        true
    }

    /// What the server of `domain` granted, if it said.
    pub fn of(&self, domain: &str) -> Option<Privileges> {
        self.read().get(domain).cloned()
    }

    /// What the server of `domain` lets the component do with its users' rosters.
    pub fn roster(&self, domain: &str) -> Access {
        self.read().get(domain).map_or(Access::None, |p| p.roster)
    }

    /// Forgets them all (the link went down).
    pub fn clear(&self) {
        self.write().clear();
    }
}

/// Ids of the messages sent as a user ([`as_user`]) start with it: the host server routes
/// them to the contact, that is back to the component, which must not take them for the
/// user's own.
pub const SENT_ID_PREFIX: &str = "pontoon-sent-";

/// The id of a message sent as the user whose own id is `id`.
pub fn sent_id(id: &str) -> String {
    format!("{SENT_ID_PREFIX}{id}")
}

/// Whether a message to a contact is one the component sent as the user ([`as_user`]),
/// come back: from the user's bare JID (only their server sends from it; a client's
/// messages come from its full JID), with such an id.
pub fn is_sent_as_user(from: &jid::Jid, id: Option<&str>) -> bool {
    from.resource().is_none() && id.is_some_and(|i| i.starts_with(SENT_ID_PREFIX))
}

/// `message` (from the user's bare JID, in `jabber:client`) wrapped for the user's server
/// `host` to send as theirs (XEP-0356 message permission, in the version it speaks).
pub fn as_user(
    component: &jid::Jid,
    host: &str,
    granted: &Privileges,
    message: Element,
) -> Element {
    let ns = if granted.version == 1 { NS_V1 } else { NS_V2 };
    // The same id outside: a refusal from the server names it.
    let id = message.attr("id").unwrap_or_default().to_owned();
    let forwarded = Element::builder("forwarded", "urn:xmpp:forward:0")
        .append(message)
        .build();
    let privilege = Element::builder("privilege", ns).append(forwarded).build();
    let mut outer = crate::stanza::elem(
        "message",
        pontoon_xmpp::ns::CLIENT,
        &[("from", component.as_str()), ("to", host), ("id", &id)],
    );
    outer.append_child(privilege);
    outer
}

/// Whether `from` may grant privileges to the component `domain`: a bare domain of which
/// `domain` is a subdomain.
pub fn may_grant(from: &jid::Jid, domain: &str) -> bool {
    from.node().is_none()
        && from.resource().is_none()
        && domain
            .strip_suffix(from.domain().as_str())
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn prosodys_advertisement() {
        let m = el(
            "<message xmlns='jabber:component:accept' from='localhost' to='irc.localhost'>\
            <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
            <perm access='message' type='outgoing'/><perm access='iq'>\
            <namespace ns='http://jabber.org/protocol/pubsub' type='both'/></perm></privilege></message>",
        );
        let p = Privileges::read(&m).unwrap();
        assert_eq!(
            (p.version, p.roster, p.message_outgoing),
            (2, Access::Both, true)
        );
        assert!(p.iq("http://jabber.org/protocol/pubsub").set());
        assert_eq!(p.iq("urn:other"), Access::None);
        assert!(
            p.describe().contains("roster get and set"),
            "{}",
            p.describe()
        );
    }

    #[test]
    fn ejabberds_advertisement_and_nothing() {
        let m = el("<message xmlns='jabber:component:accept' from='localhost'>\
            <privilege xmlns='urn:xmpp:privilege:1'><perm access='message' type='outgoing'/>\
            <perm access='roster' type='none'/><perm access='presence' type='none'/></privilege></message>");
        let p = Privileges::read(&m).unwrap();
        assert_eq!(
            (p.version, p.roster, p.message_outgoing),
            (1, Access::None, true)
        );
        assert!(
            Privileges::read(&el(
                "<message xmlns='jabber:component:accept'><body>x</body></message>"
            ))
            .is_none()
        );
    }

    #[test]
    fn only_a_parent_domain_grants() {
        let j = |s: &str| jid::Jid::new(s).unwrap();
        assert!(may_grant(&j("localhost"), "irc.localhost"));
        assert!(may_grant(&j("example.org"), "irc.example.org"));
        assert!(!may_grant(&j("alice@localhost"), "irc.localhost"));
        assert!(!may_grant(&j("localhost/x"), "irc.localhost"));
        assert!(!may_grant(&j("evil.example"), "irc.localhost"));
        assert!(!may_grant(&j("calhost"), "irc.localhost"));
        assert!(!may_grant(&j("irc.localhost"), "irc.localhost"));
    }
}
