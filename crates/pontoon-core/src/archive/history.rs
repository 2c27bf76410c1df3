//! The history a client is shown when it enters a room (XEP-0045 7.2.14): the last
//! messages of the room's archive the user may read, as the client's `<history/>` asks
//! (`maxstanzas`, `maxchars`, `seconds`, `since`), each with a delay stamped by the room.
//! Without `<history/>`, or with one that sets no limit, the last [`DEFAULT_STANZAS`]; a
//! client that limits by time or characters only gets what fits, up to [`MAX_STANZAS`].

use jid::Jid;
use minidom::Element;
use pontoon_store::{ArchiveKey, ArchiveQuery};
use xmpp_parsers::muc::Muc;

use super::Archive;

/// Messages shown when the client does not say.
pub const DEFAULT_STANZAS: u32 = 20;
/// Messages shown at most.
pub const MAX_STANZAS: u32 = 100;

/// What a client asked of the room's history when joining.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryRequest {
    /// Messages, at most.
    pub stanzas: u32,
    /// Characters of XML, at most.
    pub chars: Option<u32>,
    /// Only messages since this time (microseconds since the epoch).
    pub since: Option<i64>,
    /// Only messages archived before this time (microseconds; 0: the time of the
    /// request): what comes after is shown live, after the history.
    pub until: i64,
}

impl HistoryRequest {
    /// What a client that says nothing is shown.
    pub fn default_request() -> HistoryRequest {
        HistoryRequest {
            stanzas: DEFAULT_STANZAS,
            ..Default::default()
        }
    }

    /// What the join presence `presence` asks for.
    pub fn of_join(presence: &Element) -> HistoryRequest {
        let history = presence
            .get_child("x", xmpp_parsers::ns::MUC)
            .and_then(|x| Muc::try_from(x.clone()).ok())
            .and_then(|m| m.history);
        let Some(h) = history else {
            return HistoryRequest::default_request();
        };
        let seconds = h
            .seconds
            .map(|s| super::now_micros() - i64::from(s) * 1_000_000);
        let since = h.since.map(|t| t.0.timestamp_micros());
        // A client limiting by time or size asked for all that fits (XEP-0045 7.2.14).
        let other_limit = seconds.is_some() || since.is_some() || h.maxchars.is_some();
        let stanzas = h.maxstanzas.unwrap_or(if other_limit {
            MAX_STANZAS
        } else {
            DEFAULT_STANZAS
        });
        HistoryRequest {
            stanzas: stanzas.min(MAX_STANZAS),
            chars: h.maxchars,
            since: seconds.max(since),
            until: 0,
        }
    }

    /// Nothing is asked for.
    pub fn is_none(&self) -> bool {
        self.stanzas == 0 || self.chars == Some(0)
    }
}

impl Archive {
    /// The history `user` is shown in `room` (whose JID is `room_jid`), addressed to the
    /// resource `to`, oldest first. Empty when the archive cannot be read (logged).
    pub(crate) async fn history(
        &self,
        room: &str,
        user: &str,
        (room_jid, to): (&Jid, &Jid),
        request: HistoryRequest,
    ) -> Vec<Element> {
        if request.is_none() || !self.is_on() {
            return Vec::new();
        }
        let end = match request.until {
            0 => super::now_micros(),
            t => t,
        };
        self.settled().await;
        let query = ArchiveQuery {
            start: request.since,
            end: Some(end),
            reader: Some(user.to_owned()),
            max: request.stanzas as usize,
            from_end: true,
            ..Default::default()
        };
        let page = match self
            .store()
            .query_archive(&ArchiveKey::room(self.transport(), room), &query)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a room's history");
                return Vec::new();
            }
        };
        // `maxchars` counts from the newest back.
        let mut left = request.chars.map_or(usize::MAX, |c| c as usize);
        let mut shown = Vec::with_capacity(page.messages.len());
        for m in page.messages.iter().rev() {
            if m.stanza.len() > left {
                break;
            }
            left -= m.stanza.len();
            let Ok(mut el) = m.stanza.parse::<Element>() else {
                continue;
            };
            crate::stanza::set_attr(&mut el, "to", to.as_str());
            if let Some(delay) = super::mam::delay(m.time, Some(room_jid.clone()), None) {
                el.append_child(delay.into());
            }
            shown.push(el);
        }
        shown.reverse();
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(x: &str) -> Element {
        format!("<presence xmlns='jabber:client'>{x}</presence>")
            .parse()
            .unwrap()
    }

    #[test]
    fn requests_follow_the_join_presence() {
        let none = join("<x xmlns='http://jabber.org/protocol/muc'/>");
        assert_eq!(HistoryRequest::of_join(&none).stanzas, DEFAULT_STANZAS);
        let zero = join("<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x>");
        assert!(HistoryRequest::of_join(&zero).is_none());
        let chars = join("<x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x>");
        assert!(HistoryRequest::of_join(&chars).is_none());
        let many = join(
            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='100000' since='2026-01-01T00:00:00Z'/></x>",
        );
        let r = HistoryRequest::of_join(&many);
        assert_eq!(r.stanzas, MAX_STANZAS);
        assert_eq!(r.since, Some(1_767_225_600_000_000));
        let recent = join("<x xmlns='http://jabber.org/protocol/muc'><history seconds='60'/></x>");
        assert_eq!(HistoryRequest::of_join(&recent).stanzas, MAX_STANZAS);
        let since = HistoryRequest::of_join(&recent).since.unwrap();
        assert!((super::super::now_micros() - since - 60_000_000).abs() < 5_000_000);
    }
}
