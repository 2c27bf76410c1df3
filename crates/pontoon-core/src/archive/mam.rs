//! XEP-0313 (Message Archive Management, `urn:xmpp:mam:2`) on a room's JID: a client asks
//! for the room's archive by time, by id or by page (XEP-0059 RSM), in either direction,
//! and gets each message forwarded with its time, then a `<fin/>`.
//!
//! The form's fields: `with` (an occupant's JID: what they said), `start`, `end`, and those
//! of `urn:xmpp:mam:2#extended`: `after-id`, `before-id`, `ids`. A field the archive does
//! not know is refused with `feature-not-implemented`, an id it does not hold with
//! `item-not-found`. Pages are 50 messages unless the client asks otherwise, at most
//! [`pontoon_store::MAX_ARCHIVE_PAGE`]. A user reads what was archived while they were in
//! the room (`crate::archive`).

use jid::Jid;
use minidom::Element;
use pontoon_store::{ArchivePage, ArchiveQuery, ArchivedMessage, MAX_ARCHIVE_PAGE, StoreError};
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::mam::{Fin, Query, QueryId};
use xmpp_parsers::rsm::{First, SetResult};

use crate::stanza::Refusal;

/// `urn:xmpp:mam:2`.
pub const NS: &str = xmpp_parsers::ns::MAM;
/// The extended query fields (`after-id`, `before-id`, `ids`).
pub const NS_EXTENDED: &str = "urn:xmpp:mam:2#extended";
/// A page when the client names no size.
const DEFAULT_PAGE: usize = 50;

/// A query, parsed.
#[derive(Debug)]
pub struct Asked {
    /// The client's id for the query, repeated on every result.
    pub queryid: Option<QueryId>,
    /// What the store is asked.
    pub query: ArchiveQuery,
    /// Results newest first within the page (XEP-0313 `flip-page`).
    pub flip: bool,
    /// The form's `with`: an occupant in a room's archive, a contact in a user's.
    pub with: Option<Jid>,
}

/// Reads a query (`<query xmlns='urn:xmpp:mam:2'/>` of an iq set); what `with` names is
/// the caller's to apply ([`Asked::with`]).
pub fn parse(payload: &Element) -> Result<Asked, Refusal> {
    let q = Query::try_from(payload.clone())
        .map_err(|e| Refusal::modify("bad-request", format!("Not a MAM query: {e}")))?;
    if q.node.is_some() {
        return Err(Refusal::cancel(
            "feature-not-implemented",
            "This archive has no nodes.",
        ));
    }
    let mut query = ArchiveQuery::default();
    let mut with = None;
    for field in q.form.iter().flat_map(|f| f.fields.iter()) {
        let var = field.var.as_deref().unwrap_or_default();
        let value = field.values.first().map(String::as_str).unwrap_or_default();
        match var {
            "FORM_TYPE" => {}
            "with" => {
                let jid = Jid::new(value)
                    .map_err(|_| Refusal::modify("bad-request", "'with' is not a JID."))?;
                with = Some(jid);
            }
            "start" => query.start = Some(micros(value)?),
            "end" => query.end = Some(micros(value)?),
            "after-id" => query.after_id = Some(value.to_owned()),
            "before-id" => query.before_id = Some(value.to_owned()),
            "ids" => {
                query.ids = field
                    .values
                    .iter()
                    .take(MAX_ARCHIVE_PAGE)
                    .cloned()
                    .collect()
            }
            other => {
                return Err(Refusal::cancel(
                    "feature-not-implemented",
                    format!("This archive has no field {other:?}."),
                ));
            }
        }
    }
    let set = q.set.unwrap_or(xmpp_parsers::rsm::SetQuery {
        max: None,
        after: None,
        before: None,
        index: None,
    });
    query.max = set.max.unwrap_or(DEFAULT_PAGE).min(MAX_ARCHIVE_PAGE);
    if set.index.is_some() {
        return Err(Refusal::cancel(
            "feature-not-implemented",
            "Pages by index are not supported; page by id.",
        ));
    }
    // RSM bounds narrow the form's.
    if let Some(after) = set.after.filter(|a| !a.is_empty()) {
        query.after_id = Some(after);
    }
    match set.before {
        Some(before) if before.is_empty() => query.from_end = true,
        Some(before) => {
            query.before_id = Some(before);
            query.from_end = true;
        }
        None => {}
    }
    Ok(Asked {
        queryid: q.queryid,
        query,
        flip: q.flip_page,
        with,
    })
}

/// A refusal for what the store said of a query.
pub fn refusal(e: &StoreError) -> Refusal {
    match e {
        StoreError::NotFound => Refusal::cancel(
            "item-not-found",
            "That message is not in the archive (or not any more).",
        ),
        _ => Refusal::wait(
            "internal-server-error",
            "The archive cannot be read right now; try again later.",
        ),
    }
}

/// The answer to a query from `to` on `archive` (the room's JID, the user's bare JID): each
/// message of `page` forwarded with its time, then the iq result with the `<fin/>`
/// answering `iq`. Rendered as it is taken, so the task sending it can let others run
/// between messages (a page is up to [`MAX_ARCHIVE_PAGE`] of them).
pub fn answer(
    iq: &Element,
    archive: &Jid,
    to: &Jid,
    asked: &Asked,
    page: ArchivePage,
) -> impl Iterator<Item = Element> + Send + 'static {
    let set = SetResult {
        first: page.messages.first().map(|m| First {
            index: None,
            item: m.stanza_id.clone(),
        }),
        last: page.messages.last().map(|m| m.stanza_id.clone()),
        count: None,
    };
    let fin = Fin {
        complete: page.complete,
        set,
    };
    let fin = crate::stanza::iq_result_to(iq, Some(fin.into()));
    let mut messages = page.messages;
    if asked.flip {
        messages.reverse();
    }
    let (from, to) = (archive.to_string(), to.to_string());
    let queryid = asked.queryid.as_ref().map(|q| q.0.clone());
    messages
        .into_iter()
        .filter_map(move |m| {
            let forwarded = result(&m, queryid.as_deref())?;
            let mut el = crate::stanza::elem(
                "message",
                pontoon_xmpp::ns::CLIENT,
                &[("from", &from), ("to", &to), ("id", &crate::ids::fresh())],
            );
            el.append_child(forwarded);
            Some(el)
        })
        .chain(std::iter::once(fin))
}

/// The form a client fills in (the answer to an iq get of the query).
pub fn form() -> Element {
    let mut fields = vec![Field::new("FORM_TYPE", FieldType::Hidden).with_value(NS)];
    for (var, kind) in [
        ("with", FieldType::JidSingle),
        ("start", FieldType::TextSingle),
        ("end", FieldType::TextSingle),
        ("after-id", FieldType::TextSingle),
        ("before-id", FieldType::TextSingle),
        ("ids", FieldType::ListMulti),
    ] {
        fields.push(Field::new(var, kind));
    }
    let form = DataForm {
        type_: DataFormType::Form,
        title: None,
        instructions: None,
        fields,
    };
    let mut query = Element::bare("query", NS);
    query.append_child(form.into());
    query
}

/// `<result><forwarded><delay/>message</forwarded></result>` for one archived message;
/// `None` for a stored text that is not a message (skipped, as a damaged row would be).
/// Built as elements, not through xmpp-parsers' typed `Forwarded`: the round trip through
/// the typed message cost most of a page's CPU, for the same XML.
fn result(m: &ArchivedMessage, queryid: Option<&str>) -> Option<Element> {
    let stanza: Element = m.stanza.parse().ok()?;
    if !stanza.is("message", pontoon_xmpp::ns::CLIENT) {
        return None;
    }
    let mut forwarded = Element::bare("forwarded", xmpp_parsers::ns::FORWARD);
    if let Some(stamp) = stamp_text(m.time) {
        forwarded.append_child(crate::stanza::elem(
            "delay",
            xmpp_parsers::ns::DELAY,
            &[("stamp", &stamp)],
        ));
    }
    forwarded.append_child(stanza);
    let mut result = crate::stanza::elem("result", NS, &[("id", &m.stanza_id)]);
    if let Some(q) = queryid {
        crate::stanza::set_attr(&mut result, "queryid", q);
    }
    result.append_child(forwarded);
    Some(result)
}

/// An XEP-0082 time as microseconds since the epoch.
pub fn micros(value: &str) -> Result<i64, Refusal> {
    value
        .parse::<xmpp_parsers::date::DateTime>()
        .map(|t| t.0.timestamp_micros())
        .map_err(|_| Refusal::modify("bad-request", format!("{value:?} is not an XEP-0082 time.")))
}

/// Microseconds since the epoch as an XEP-0082 time (to the millisecond); `None` only for
/// a date `crate::time` cannot write (then there is no stamp rather than a panic).
pub fn stamp(micros: i64) -> Option<xmpp_parsers::date::DateTime> {
    stamp_text(micros)?.parse().ok()
}

/// [`stamp`] as text (`2026-12-07T03:04:05.678Z`); `None` for a year outside 0-9999.
pub fn stamp_text(micros: i64) -> Option<String> {
    let secs = micros.div_euclid(1_000_000);
    let millis = micros.rem_euclid(1_000_000) / 1000;
    let t = crate::time::Utc::from_unix(secs);
    if !(0..=9999).contains(&t.year) {
        return None;
    }
    let text = t.rfc3339();
    Some(format!("{}.{millis:03}Z", text.trim_end_matches('Z')))
}

/// The XEP-0203 delay saying a message is from `micros` (by `from`, why in `data`).
pub fn delay(
    micros: i64,
    from: Option<Jid>,
    data: Option<String>,
) -> Option<xmpp_parsers::delay::Delay> {
    Some(xmpp_parsers::delay::Delay {
        from,
        stamp: stamp(micros)?,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::mam::Result_;

    fn query(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn forms_and_pages_become_store_queries() {
        let el = query(
            "<query xmlns='urn:xmpp:mam:2' queryid='q1'>
               <x xmlns='jabber:x:data' type='submit'>
                 <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
                 <field var='start'><value>2026-01-01T00:00:00Z</value></field>
                 <field var='with'><value>#c@irc.example.org/bob</value></field>
               </x>
               <set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set>
             </query>",
        );
        let asked = parse(&el).unwrap();
        assert_eq!(asked.queryid, Some(QueryId("q1".into())));
        assert_eq!(asked.query.max, 10);
        assert!(asked.query.from_end);
        assert_eq!(
            asked.with.map(|w| w.to_string()).as_deref(),
            Some("#c@irc.example.org/bob")
        );
        assert_eq!(asked.query.start, Some(1_767_225_600_000_000));
        let el = query(
            "<query xmlns='urn:xmpp:mam:2'>
               <set xmlns='http://jabber.org/protocol/rsm'><max>9999</max><after>s7</after></set>
             </query>",
        );
        let asked = parse(&el).unwrap();
        assert_eq!(asked.query.max, MAX_ARCHIVE_PAGE);
        assert_eq!(asked.query.after_id.as_deref(), Some("s7"));
        assert!(!asked.query.from_end);
    }

    #[test]
    fn unknown_fields_and_bad_times_are_refused_by_name() {
        let el = query(
            "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>
               <field var='full-text-search'><value>hi</value></field></x></query>",
        );
        let r = parse(&el).unwrap_err();
        assert_eq!(r.condition, "feature-not-implemented");
        let el = query(
            "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>
               <field var='start'><value>yesterday</value></field></x></query>",
        );
        assert_eq!(parse(&el).unwrap_err().condition, "bad-request");
    }

    #[test]
    fn answers_forward_each_message_with_its_time_then_fin() {
        let iq: Element = "<iq xmlns='jabber:client' type='set' id='i1' from='alice@example.org/phone' to='#c@irc.example.org'/>"
            .parse()
            .unwrap();
        let asked = Asked {
            queryid: Some(QueryId("q".into())),
            query: ArchiveQuery::default(),
            flip: false,
            with: None,
        };
        let page = ArchivePage {
            messages: vec![ArchivedMessage {
                stanza_id: "s1".into(),
                time: 1_700_000_000_123_456,
                chat: "#c".into(),
                stanza: "<message xmlns='jabber:client' type='groupchat' from='#c@irc.example.org/bob'><body>hi</body></message>".into(),
            }],
            complete: true,
        };
        let room = Jid::new("#c@irc.example.org").unwrap();
        let to = Jid::new("alice@example.org/phone").unwrap();
        let out: Vec<Element> = answer(&iq, &room, &to, &asked, page).collect();
        assert_eq!(out.len(), 2);
        let r = Result_::try_from(out[0].get_child("result", NS).unwrap().clone()).unwrap();
        assert_eq!(r.id, "s1");
        assert_eq!(
            r.forwarded.delay.unwrap().stamp.0.timestamp_micros(),
            1_700_000_000_123_000
        );
        assert_eq!(r.forwarded.message.bodies[""], "hi");
        let fin = Fin::try_from(out[1].get_child("fin", NS).unwrap().clone()).unwrap();
        assert!(fin.complete);
        assert_eq!(fin.set.last.as_deref(), Some("s1"));
        assert_eq!(out[1].attr("id"), Some("i1"));
    }

    #[test]
    fn stamps_are_utc_to_the_millisecond_and_damaged_rows_are_skipped() {
        assert_eq!(
            stamp_text(1_700_000_000_123_456).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(
            stamp_text(-1_000).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        // Year 10000: no stamp rather than text XEP-0082 does not allow.
        assert_eq!(stamp_text(253_402_300_800_000_000), None);
        let row = |stanza: &str| ArchivedMessage {
            stanza_id: "s1".into(),
            time: 0,
            chat: "#c".into(),
            stanza: stanza.into(),
        };
        assert!(result(&row("<message xmlns='jabber:client'/>"), None).is_some());
        assert!(result(&row("<presence xmlns='jabber:client'/>"), None).is_none());
        assert!(result(&row("<message xmlns='jabber:client'>"), None).is_none());
        let r = result(&row("<message xmlns='jabber:client'/>"), None).unwrap();
        assert_eq!(r.attr("queryid"), None);
    }
}
