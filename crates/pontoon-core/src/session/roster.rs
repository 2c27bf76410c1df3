//! The network's contact list in the user's roster. Where the user's server lets the
//! gateway read and write rosters (XEP-0356 roster permission `both`), the session writes
//! the items itself: the contacts appear named, in a group of the transport's name, with
//! no request to accept; they are renamed when the network renames them, unless the user
//! renamed them, and removed when the network removes them. Anything else the user set
//! (a name, groups, an item the gateway did not add) is left as it is. Elsewhere, or once
//! the server refused a write, contacts are asked in by subscription requests carrying
//! the name (XEP-0172), which the user's server accepts by itself for contacts already in
//! the roster (RFC 6121 3.1.3), paced; or, where a client of the user takes XEP-0144, in
//! roster item exchanges of up to a hundred contacts each.

use std::collections::HashMap;

use jid::{BareJid, Jid};
use minidom::Element;
use tracing::{info, warn};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::legacy::LegacyId;
use crate::privilege::roster::{self as wire, Kept};

use super::Session;

/// How the session keeps the user's roster.
#[derive(Debug, Default)]
pub(super) struct RosterSync {
    state: State,
    /// Numbers the session's roster IQs.
    next: u32,
    /// Subscription requests waiting for their turn; made at the first one.
    asks: Option<Box<Asks>>,
    /// Whether a client of the user takes XEP-0144 roster item exchange; made when a
    /// client advertises capabilities.
    exchange: Option<Box<Exchange>>,
}

/// XEP-0144 (roster item exchange): the contacts suggested in one message a client shows
/// as one list to accept, instead of a request each, where a client of the user says it
/// takes them (its disco#info, asked when it advertises capabilities, XEP-0115).
#[derive(Debug, Default)]
struct Exchange {
    /// The features query on its way, and until when the contact list waits for it.
    asked: Option<(String, tokio::time::Instant)>,
    /// The client that takes roster item exchange.
    to: Option<Jid>,
}

/// How long the user's server may take to answer a roster read.
const READ_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// XEP-0144's namespace.
const NS_ROSTERX: &str = "http://jabber.org/protocol/rosterx";
/// How long the contact list waits for a client's features.
const FEATURES_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);
/// Most items in one roster item exchange message.
const EXCHANGE_BATCH: usize = 100;

/// Subscription requests, paced: a contact list of hundreds asks in at
/// [`ASKS_PER_SECOND`] after a first [`ASK_BURST`], so neither the user's server (Prosody's
/// mod_limits, ejabberd's shapers) nor their client (a dialog each) is flooded.
#[derive(Debug)]
struct Asks {
    waiting: std::collections::VecDeque<(BareJid, Option<String>)>,
    bucket: crate::rate::TokenBucket,
    /// When the next one may go, while some wait.
    next: Option<tokio::time::Instant>,
}

/// Subscription requests sent at once.
const ASK_BURST: u32 = 20;
/// Subscription requests per second after the burst.
const ASKS_PER_SECOND: f64 = 10.0;

#[derive(Debug, Default)]
enum State {
    /// Decided at the network's first contact event (the privilege may come after login).
    #[default]
    Undecided,
    /// Subscription requests.
    Requests,
    /// The roster read is on its way (boxed: the state lives in every session).
    Reading(Box<Reading>),
    /// The items at the transport's domain, as the user's roster has them.
    Kept(Box<Written>),
}

/// A roster read on its way.
#[derive(Debug)]
struct Reading {
    id: String,
    /// When a server that has not answered is given up on (subscription requests then).
    until: tokio::time::Instant,
    /// Contacts the network removed meanwhile.
    removed: Vec<LegacyId>,
}

#[derive(Debug, Default)]
struct Written {
    items: HashMap<BareJid, Kept>,
    /// Writes waiting for the server's answer: the contact, and the item (`None`: removed).
    pending: HashMap<String, (LegacyId, Option<Kept>)>,
    /// A read of the roster for renames, by its id, with the renames waiting for it.
    reread: Option<(String, Vec<Rename>)>,
}

/// The network renamed a contact from `before` to `after`.
#[derive(Debug)]
struct Rename {
    contact: LegacyId,
    before: Option<String>,
    after: Option<String>,
}

impl Session {
    /// The id of a roster IQ (`r`) or a client features query (`c`): the service routes
    /// answers back by the prefix, the session by the whole id.
    fn roster_id(&mut self, kind: char) -> String {
        self.roster.next = self.roster.next.wrapping_add(1);
        format!(
            "{}{kind}{}-{}",
            crate::privilege::SESSION_IQ_PREFIX,
            self.generation,
            self.roster.next
        )
    }

    /// Decides, once, how contacts get into the roster: reads it where the user's server
    /// lets the gateway write it.
    async fn decide_roster(&mut self) {
        if !matches!(self.roster.state, State::Undecided) {
            return;
        }
        let access = self.ctx.privileges.roster(self.user.domain().as_str());
        if !(access.get() && access.set()) {
            self.roster.state = State::Requests;
            return;
        }
        let id = self.roster_id('r');
        let get = wire::get(&self.ctx.domain, &self.user, id.clone());
        self.roster.state = State::Reading(Box::new(Reading {
            id,
            until: tokio::time::Instant::now() + READ_WITHIN,
            removed: Vec::new(),
        }));
        self.send(get).await;
    }

    /// The contact `id` is on the network's list, named `name`; `before` is the name the
    /// network gave them earlier in this session, if it did.
    pub(super) async fn put_in_roster(
        &mut self,
        id: &LegacyId,
        name: Option<String>,
        before: Option<Option<String>>,
    ) {
        self.decide_roster().await;
        let Some(jid) = self.contact_jid(id).map(|j| j.to_bare()) else {
            return;
        };
        let written = match &mut self.roster.state {
            State::Kept(written) => written,
            // Reconciled with the roster when it comes.
            State::Reading(_) => return,
            _ => return self.ask_into_roster(jid, name).await,
        };
        let item = match (written.items.get(&jid), before) {
            (None, _) => Kept {
                name,
                groups: vec![self.ctx.display_name.clone()],
            },
            // Renamed by the network: renamed in the roster unless the user renamed them,
            // which only a fresh read tells (servers need not tell the gateway of the
            // user's roster changes).
            (Some(kept), Some(before)) if kept.name != name => {
                let rename = Rename {
                    contact: id.clone(),
                    before,
                    after: name,
                };
                return self.reread_for(rename).await;
            }
            (Some(_), _) => return,
        };
        self.write_item(id.clone(), jid, Some(item)).await;
    }

    /// Reads the roster again before `rename`, or adds it to the read on its way.
    async fn reread_for(&mut self, rename: Rename) {
        let State::Kept(written) = &mut self.roster.state else {
            return;
        };
        if let Some((_, renames)) = &mut written.reread {
            if renames.len() < Self::MAX_CONTACTS {
                renames.push(rename);
            }
            return;
        }
        let id = self.roster_id('r');
        let get = wire::get(&self.ctx.domain, &self.user, id.clone());
        if let State::Kept(written) = &mut self.roster.state {
            written.reread = Some((id, vec![rename]));
        }
        self.send(get).await;
    }

    /// The roster read again: each rename waiting for it is written where the item still
    /// has the name the network gave before.
    async fn on_reread(&mut self, mut written: Box<Written>, answer: &Element) {
        let renames = written.reread.take().map(|(_, r)| r).unwrap_or_default();
        let domain = self.ctx.domain.domain().as_str().to_owned();
        let Some(items) = wire::read_items(answer, &domain).filter(|_| is_result(answer)) else {
            self.roster.state = State::Kept(written);
            warn!(answer = %String::from(answer), "the server refused to read the user's roster again; renames left out");
            return;
        };
        written.items = items.into_iter().collect();
        self.roster.state = State::Kept(written);
        for rename in renames {
            let Some(jid) = self.contact_jid(&rename.contact).map(|j| j.to_bare()) else {
                continue;
            };
            let State::Kept(written) = &self.roster.state else {
                return;
            };
            let Some(kept) = written.items.get(&jid) else {
                continue;
            };
            if kept.name == rename.before && kept.name != rename.after {
                let item = Kept {
                    name: rename.after,
                    groups: kept.groups.clone(),
                };
                self.write_item(rename.contact, jid, Some(item)).await;
            }
        }
    }

    /// The network removed `id` from the user's list.
    pub(super) async fn take_out_of_roster(&mut self, id: LegacyId) {
        self.decide_roster().await;
        let Some(jid) = self.contact_jid(&id).map(|j| j.to_bare()) else {
            return;
        };
        match &mut self.roster.state {
            State::Kept(written) => {
                if written.items.contains_key(&jid) {
                    self.write_item(id, jid, None).await;
                }
            }
            State::Reading(reading) => {
                if reading.removed.len() < Self::MAX_CONTACTS {
                    reading.removed.push(id);
                }
            }
            // Unsubscribed both ways: RFC 6121 3.2 and 3.3.
            _ => {
                for kind in [PresenceType::Unsubscribe, PresenceType::Unsubscribed] {
                    let p = Presence::new(kind)
                        .with_from(Jid::from(jid.clone()))
                        .with_to(Jid::from(self.user.clone()));
                    self.send(Element::from(p)).await;
                }
            }
        }
    }

    async fn write_item(&mut self, contact: LegacyId, jid: BareJid, item: Option<Kept>) {
        let id = self.roster_id('r');
        let set = wire::set(&self.ctx.domain, &self.user, id.clone(), jid, item.as_ref());
        if let State::Kept(written) = &mut self.roster.state {
            written.pending.insert(id, (contact, item));
        }
        self.send(set).await;
    }

    /// A subscription request from the contact, with the name they show, in its turn.
    async fn ask_into_roster(&mut self, jid: BareJid, name: Option<String>) {
        let asks = self.roster.asks.get_or_insert_with(|| {
            Box::new(Asks {
                waiting: Default::default(),
                bucket: crate::rate::TokenBucket::new(
                    ASK_BURST,
                    ASKS_PER_SECOND,
                    tokio::time::Instant::now(),
                ),
                next: None,
            })
        });
        // Asked again (renamed, or `sync contacts`) before its turn: the latest name.
        match asks.waiting.iter().position(|(j, _)| *j == jid) {
            Some(i) => asks.waiting[i].1 = name,
            None if asks.waiting.len() < Self::MAX_CONTACTS => asks.waiting.push_back((jid, name)),
            None => return,
        }
        self.send_asks().await;
    }

    /// A client of the user (`from`) advertised capabilities: the first is asked whether
    /// it takes roster item exchange (component mode: in server mode the contact list is
    /// the roster).
    pub(super) async fn on_client_caps(&mut self, from: &Jid) {
        if self.ctx.ends_with_login || from.resource().is_none() {
            return;
        }
        let exchange = self.roster.exchange.get_or_insert_with(Default::default);
        if exchange.to.is_some() || exchange.asked.is_some() {
            return;
        }
        let id = self.roster_id('c');
        let until = tokio::time::Instant::now() + FEATURES_WITHIN;
        if let Some(e) = self.roster.exchange.as_mut() {
            e.asked = Some((id.clone(), until));
        }
        let query = crate::stanza::elem(
            "iq",
            pontoon_xmpp::ns::CLIENT,
            &[
                ("type", "get"),
                ("from", self.ctx.domain.as_str()),
                ("to", from.as_str()),
                ("id", &id),
            ],
        );
        let mut query = query;
        query.append_child(crate::stanza::elem(
            "query",
            "http://jabber.org/protocol/disco#info",
            &[],
        ));
        self.send(query).await;
    }

    /// A client answered the features query: roster item exchange is used if it takes it.
    pub(super) async fn on_client_features(&mut self, answer: Element) {
        let Some(exchange) = self.roster.exchange.as_mut() else {
            return;
        };
        let id = answer.attr("id").unwrap_or_default();
        if exchange.asked.as_ref().is_none_or(|(asked, _)| asked != id) {
            return;
        }
        exchange.asked = None;
        let takes = is_result(&answer)
            && answer
                .get_child("query", "http://jabber.org/protocol/disco#info")
                .is_some_and(|q| {
                    q.children()
                        .any(|f| f.name() == "feature" && f.attr("var") == Some(NS_ROSTERX))
                });
        if takes {
            exchange.to = answer.attr("from").and_then(|f| Jid::new(f).ok());
        }
        self.send_asks().await;
    }

    /// Sends the subscription requests whose turn has come, or every waiting contact in
    /// roster item exchanges where a client takes them.
    pub(crate) async fn send_asks(&mut self) {
        let now = tokio::time::Instant::now();
        if let Some(exchange) = self.roster.exchange.as_mut() {
            match &exchange.asked {
                // The client may yet say it takes roster item exchange.
                Some((_, until)) if *until > now => {
                    let until = *until;
                    if let Some(asks) = self.roster.asks.as_mut().filter(|a| !a.waiting.is_empty())
                    {
                        asks.next = Some(until);
                    }
                    return;
                }
                Some(_) => exchange.asked = None,
                None => {}
            }
            if let Some(to) = exchange.to.clone() {
                return self.exchange_asks(to).await;
            }
        }
        loop {
            let Some(asks) = self.roster.asks.as_mut() else {
                return;
            };
            if asks.waiting.is_empty() {
                // Nothing waits, and a full bucket is what a new one would be: forgotten.
                asks.next = None;
                if asks.bucket.is_full(now) {
                    self.roster.asks = None;
                }
                return;
            }
            if let Some(next) = asks.bucket.take_or_next(now) {
                asks.next = Some(next);
                return;
            }
            let Some((jid, name)) = asks.waiting.pop_front() else {
                return;
            };
            let mut p = Presence::new(PresenceType::Subscribe)
                .with_from(Jid::from(jid))
                .with_to(Jid::from(self.user.clone()));
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                p.payloads.push(xmpp_parsers::nick::Nick(name).into());
            }
            self.send(Element::from(p)).await;
        }
    }

    /// Every waiting contact, suggested to the client `to` in roster item exchanges.
    async fn exchange_asks(&mut self, to: Jid) {
        let Some(asks) = self.roster.asks.as_mut() else {
            return;
        };
        asks.next = None;
        let waiting: Vec<_> = asks.waiting.drain(..).collect();
        for batch in waiting.chunks(EXCHANGE_BATCH) {
            let mut x = crate::stanza::elem("x", NS_ROSTERX, &[]);
            for (jid, name) in batch {
                let mut item = crate::stanza::elem(
                    "item",
                    NS_ROSTERX,
                    &[("action", "add"), ("jid", jid.as_str())],
                );
                if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
                    crate::stanza::set_attr(&mut item, "name", name);
                }
                let mut group = crate::stanza::elem("group", NS_ROSTERX, &[]);
                group.append_text_node(self.ctx.display_name.as_str());
                item.append_child(group);
                x.append_child(item);
            }
            let mut m = crate::stanza::elem(
                "message",
                pontoon_xmpp::ns::CLIENT,
                &[("from", self.ctx.domain.as_str()), ("to", to.as_str())],
            );
            m.append_child(x);
            self.send(m).await;
        }
    }

    /// When the roster next has something to do by the clock: a waiting subscription
    /// request's turn, or a roster read given up on.
    pub(crate) fn roster_due(&self) -> Option<tokio::time::Instant> {
        let read = match &self.roster.state {
            State::Reading(reading) => Some(reading.until),
            _ => None,
        };
        let asks = self.roster.asks.as_ref().and_then(|a| a.next);
        [read, asks].into_iter().flatten().min()
    }

    /// The roster's turn of the session's timer: a read the server did not answer in time
    /// falls back to subscription requests (logged); waiting requests go.
    pub(crate) async fn roster_tick(&mut self) {
        if let State::Reading(reading) = &self.roster.state
            && reading.until <= tokio::time::Instant::now()
        {
            warn!(
                "the user's server did not answer the roster read in time although it grants it; asking contacts in by subscription requests"
            );
            self.fall_back_to_requests().await;
        }
        self.send_asks().await;
    }

    /// The user's server answered one of the session's roster IQs.
    pub(super) async fn on_roster_answer(&mut self, answer: Element) {
        let id = answer.attr("id").unwrap_or_default().to_owned();
        let ok = is_result(&answer);
        match std::mem::take(&mut self.roster.state) {
            State::Reading(reading) if reading.id == id => {
                let removed = reading.removed;
                let items = ok
                    .then(|| wire::read_items(&answer, self.ctx.domain.domain().as_str()))
                    .flatten();
                match items {
                    Some(items) => self.reconcile(items.into_iter().collect(), removed).await,
                    None => {
                        warn!(answer = %String::from(&answer), "the server refused to read the user's roster although it grants it; asking contacts in by subscription requests");
                        self.fall_back_to_requests().await;
                    }
                }
            }
            State::Kept(written) if written.reread.as_ref().is_some_and(|(r, _)| *r == id) => {
                self.on_reread(written, &answer).await;
            }
            State::Kept(mut written) => {
                let Some((contact, item)) = written.pending.remove(&id) else {
                    self.roster.state = State::Kept(written);
                    return;
                };
                if !ok {
                    warn!(answer = %String::from(&answer), "the server refused a roster write although it grants it; asking contacts in by subscription requests");
                    self.roster.state = State::Kept(written);
                    return self.fall_back_to_requests().await;
                }
                let Some(jid) = self.contact_jid(&contact).map(|j| j.to_bare()) else {
                    self.roster.state = State::Kept(written);
                    return;
                };
                let added = item.is_some();
                match item {
                    Some(item) => written.items.insert(jid, item),
                    None => written.items.remove(&jid),
                };
                self.roster.state = State::Kept(written);
                // The server does not probe a contact written into the roster: what is
                // known of them is told now.
                if added
                    && let Some((availability, status)) =
                        self.contacts.get(&contact).and_then(|c| c.presence.clone())
                {
                    self.send_contact_presence(&contact, availability, status, None)
                        .await;
                }
            }
            other => self.roster.state = other,
        }
    }

    /// The roster came: every contact the network listed meanwhile that is not in it is
    /// written, every one it removed meanwhile is taken out.
    async fn reconcile(&mut self, items: HashMap<BareJid, Kept>, removed: Vec<LegacyId>) {
        info!(
            items = items.len(),
            "the user's roster read (XEP-0356): writing the network's contacts into it"
        );
        self.roster.state = State::Kept(Box::new(Written {
            items,
            ..Written::default()
        }));
        for (id, name) in self.listed() {
            self.put_in_roster(&id, name, None).await;
        }
        for id in removed {
            self.take_out_of_roster(id).await;
        }
    }

    /// Written items stay; every listed contact not written yet is asked in.
    async fn fall_back_to_requests(&mut self) {
        let written = match std::mem::replace(&mut self.roster.state, State::Requests) {
            State::Kept(written) => written.items,
            _ => HashMap::new(),
        };
        for (id, name) in self.listed() {
            if let Some(jid) = self.contact_jid(&id).map(|j| j.to_bare())
                && !written.contains_key(&jid)
            {
                self.ask_into_roster(jid, name).await;
            }
        }
    }

    /// The `sync contacts` command: every contact the network listed goes into the roster
    /// again (written where missing, or asked in by subscription requests), and the user
    /// is told how many.
    pub(super) async fn sync_contacts(&mut self) {
        let listed = self.listed();
        let count = listed.len();
        if matches!(self.roster.state, State::Kept(_)) {
            // The user may have deleted items since the last read, and servers need not
            // tell the gateway: read the roster again, and write what it lacks.
            self.roster.state = State::Undecided;
            self.decide_roster().await;
        } else {
            for (id, name) in listed {
                self.put_in_roster(&id, name, None).await;
            }
        }
        let how = match self.roster.state {
            State::Requests => "each asks to be added to your roster",
            _ => "missing ones are written into your roster",
        };
        let text = format!(
            "Your {} contact list has {count} {}: {how}.",
            self.ctx.display_name,
            if count == 1 { "contact" } else { "contacts" }
        );
        let to = Jid::from(self.user.clone());
        self.send(crate::stanza::chat(self.ctx.domain.clone(), to, &text))
            .await;
    }

    /// The contacts the network listed, with their names.
    fn listed(&self) -> Vec<(LegacyId, Option<String>)> {
        self.contacts
            .iter()
            .filter_map(|(id, c)| Some((id.clone(), c.profile.as_ref()?.name.clone())))
            .collect()
    }
}

fn is_result(answer: &Element) -> bool {
    answer.attr("type") == Some("result")
}
