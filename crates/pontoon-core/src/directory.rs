//! Room directory (XEP-0030 disco#items on the transport or a network, paged with
//! XEP-0059, and XEP-0055 searches, `crate::inbound::search`): the session asks its legacy
//! network for the room list once, puts the rooms the user is in first, keeps it for a
//! minute so a client paging through it sees one consistent list, and answers each page.

use std::collections::HashMap;
use std::time::Duration;

use minidom::Element;
use tokio::time::Instant;
use xmpp_parsers::disco::{DiscoItemsResult, Item};
use xmpp_parsers::rsm::{First, SetQuery, SetResult};

use crate::escape;
use crate::legacy::{LegacyCommand, RoomInfo};
use crate::session::Session;
use crate::stanza::Refusal;

/// How long a fetched room list serves further pages.
const CACHE_FOR: Duration = Duration::from_secs(60);
/// How long the legacy network may take to list its rooms.
const ANSWER_WITHIN: Duration = Duration::from_secs(90);
/// Items per page when the client does not say (and the most it may ask for).
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Requests waiting for one listing, at most.
const MAX_WAITING: usize = 16;

/// One client's disco#items request, or search.
#[derive(Debug)]
pub(crate) struct PageRequest {
    iq: Element,
    rsm: Option<SetQuery>,
    search: Option<String>,
}

/// What a listing is of: a network (`None`: the transport's own), searched for a term or
/// whole.
type Listing = (Option<String>, Option<String>);

/// Room listings of one session: made at its first listing (most sessions never list, and
/// the two maps were 104 bytes of every session; performance pass 4).
#[derive(Debug, Default)]
pub(crate) struct Directory(Option<Box<Listings>>);

/// Cached lists and requests waiting for one.
#[derive(Debug, Default)]
struct Listings {
    cache: HashMap<Listing, (Instant, Vec<RoomInfo>)>,
    pending: HashMap<u64, (Listing, Instant, Vec<PageRequest>)>,
    next_request: u64,
}

impl Directory {
    /// The earliest deadline of a pending listing, for the session's timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let pending = &self.0.as_ref()?.pending;
        pending.values().map(|(_, d, _)| *d).min()
    }

    /// The listings, made if this is the first.
    fn listings(&mut self) -> &mut Listings {
        self.0.get_or_insert_default()
    }

    /// The cached list of `listing`, if any.
    fn cached(&self, listing: &Listing) -> Option<&(Instant, Vec<RoomInfo>)> {
        self.0.as_ref()?.cache.get(listing)
    }

    /// A pending listing, taken out.
    fn take(&mut self, request: u64) -> Option<(Listing, Instant, Vec<PageRequest>)> {
        self.0.as_mut()?.pending.remove(&request)
    }

    /// The pending listings' ids.
    fn pending(&self) -> impl Iterator<Item = (&u64, &(Listing, Instant, Vec<PageRequest>))> {
        self.0.iter().flat_map(|l| l.pending.iter())
    }
}

/// Parses the XEP-0059 request in a disco#items query, if any.
pub fn rsm_of(query: &Element) -> Option<SetQuery> {
    query
        .get_child("set", "http://jabber.org/protocol/rsm")
        .and_then(|s| SetQuery::try_from(s.clone()).ok())
}

impl Session {
    /// A client asked for the rooms of `network` (`None`: the transport's own network),
    /// those matching `search` when it searched.
    pub(crate) async fn list_rooms(
        &mut self,
        network: Option<String>,
        search: Option<String>,
        iq: Element,
    ) {
        let rsm = iq.children().next().and_then(rsm_of);
        let listing: Listing = (network, search.clone());
        let request = PageRequest { iq, rsm, search };
        if let Some((at, rooms)) = self.directory.cached(&listing)
            && at.elapsed() < CACHE_FOR
        {
            let reply = self.page(rooms, &request);
            self.send(reply).await;
            return;
        }
        let listings = self.directory.listings();
        if let Some((_, _, waiting)) = listings
            .pending
            .values_mut()
            .find(|(l, _, _)| *l == listing)
        {
            if waiting.len() < MAX_WAITING {
                waiting.push(request);
            } else {
                self.bounce(
                    &request.iq,
                    Refusal::wait(
                        "resource-constraint",
                        "Too many room list requests at once.",
                    ),
                )
                .await;
            }
            return;
        }
        listings.next_request += 1;
        let id = listings.next_request;
        let (network, search) = listing.clone();
        listings
            .pending
            .insert(id, (listing, Instant::now() + ANSWER_WITHIN, vec![request]));
        let _ = self
            .legacy
            .send(LegacyCommand::ListRooms {
                request: id,
                network,
                search,
            })
            .await;
    }

    pub(crate) async fn on_room_list(&mut self, request: u64, rooms: Vec<RoomInfo>) {
        let Some((listing, _, waiting)) = self.directory.take(request) else {
            return;
        };
        let rooms = match &listing {
            (network, None) => self.joined_first(network.as_deref(), rooms),
            (_, Some(_)) => rooms,
        };
        for r in &waiting {
            let reply = self.page(&rooms, r);
            self.send(reply).await;
        }
        self.directory
            .listings()
            .cache
            .insert(listing, (Instant::now(), rooms));
    }

    /// The network's list with the rooms the user is in first (those the network does not
    /// list too: IRC's secret channels, Matrix's private rooms), each once.
    fn joined_first(&self, network: Option<&str>, listed: Vec<RoomInfo>) -> Vec<RoomInfo> {
        let mut joined: Vec<RoomInfo> = self
            .rooms
            .iter()
            .filter(|(id, r)| r.joined && id.network() == network)
            .map(|(id, r)| r.listed_as(id))
            .collect();
        if joined.is_empty() {
            return listed;
        }
        joined.sort_by(|a, b| a.room.as_str().cmp(b.room.as_str()));
        let mut rest = Vec::with_capacity(listed.len());
        for info in listed {
            match joined.iter_mut().find(|j| j.room == info.room) {
                // What the network says of it (its own count and topic) wins.
                Some(j) => *j = info,
                None => rest.push(info),
            }
        }
        joined.extend(rest);
        joined
    }

    pub(crate) async fn on_room_list_failed(&mut self, request: u64, text: String) {
        let Some((_, _, waiting)) = self.directory.take(request) else {
            return;
        };
        for r in waiting {
            self.bounce(&r.iq, Refusal::wait("remote-server-timeout", text.clone()))
                .await;
        }
    }

    /// Fails every listing still waiting (the session is ending).
    pub(crate) async fn fail_listings(&mut self, text: &str) {
        let ids: Vec<u64> = self.directory.pending().map(|(id, _)| *id).collect();
        for id in ids {
            self.on_room_list_failed(id, text.to_owned()).await;
        }
    }

    /// Fails listings the network did not answer in time.
    pub(crate) async fn expire_listings(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self
            .directory
            .pending()
            .filter(|(_, (_, deadline, _))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.on_room_list_failed(id, "The network did not list its rooms in time.".into())
                .await;
        }
    }

    /// One page of `rooms` answering `request` (for a search: the matching rooms).
    fn page(&self, rooms: &[RoomInfo], request: &PageRequest) -> Element {
        let domain = self.ctx.domain.domain();
        if let Some(term) = &request.search {
            let answer = crate::inbound::search::results(rooms, term, domain.as_str());
            return crate::stanza::iq_result_to(&request.iq, Some(answer));
        }
        let max = request
            .rsm
            .as_ref()
            .and_then(|r| r.max)
            .unwrap_or(PAGE)
            .min(MAX_PAGE);
        let start = match &request.rsm {
            Some(SetQuery {
                after: Some(after), ..
            }) => rooms
                .iter()
                .position(|r| r.room.as_str() == after)
                .map_or(rooms.len(), |i| i + 1),
            Some(SetQuery {
                index: Some(index), ..
            }) => (*index).min(rooms.len()),
            _ => 0,
        };
        let slice = rooms.get(start..).unwrap_or_default();
        let slice = slice.get(..max.min(slice.len())).unwrap_or_default();
        let items = slice
            .iter()
            .filter_map(|r| {
                let jid = escape::legacy_jid(&r.room, domain, None).ok()?;
                let mut name = r.name.clone().unwrap_or_else(|| r.room.to_string());
                if let Some(n) = r.occupants {
                    name.push_str(&format!(" ({n})"));
                }
                if let Some(topic) = r.topic.as_deref().filter(|t| !t.is_empty()) {
                    name.push_str(": ");
                    name.push_str(topic);
                }
                Some(Item {
                    jid,
                    node: None,
                    name: Some(name),
                })
            })
            .collect();
        let rsm = request.rsm.as_ref().map(|_| SetResult {
            first: slice.first().map(|r| First {
                index: Some(start),
                item: r.room.to_string(),
            }),
            last: slice.last().map(|r| r.room.to_string()),
            count: Some(rooms.len()),
        });
        let node = request
            .iq
            .children()
            .next()
            .and_then(|q| q.attr("node"))
            .map(str::to_owned);
        let payload: Element = DiscoItemsResult { node, items, rsm }.into();
        crate::stanza::iq_result_to(&request.iq, Some(payload))
    }
}
