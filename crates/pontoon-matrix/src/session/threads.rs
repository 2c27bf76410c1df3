//! Threads (`m.thread` relations) and replies (`m.in_reply_to`) in both directions, as the
//! vocabulary says them: a thread named by its root's event id, a reply by the event
//! answered.
//!
//! A threaded event carries an `m.in_reply_to` too: with `is_falling_back` it is only a
//! fallback for clients without threads (the latest event of the thread), not a reply, and
//! is not shown as one; without it, it is a reply within the thread. Sent threaded messages
//! do the same, falling back to the latest event of the thread the session saw (else the
//! root), as the specification asks.

use ruma::OwnedEventId;
use ruma::events::relation::{InReplyTo, Reply, Thread};
use ruma::events::room::message::Relation;

/// The latest event seen in each recent thread, by root event id: the reply fallback of
/// the next threaded message.
pub type ThreadLatest = super::recent::Recent<String, String>;

/// What a received message's relation says: the event it replies to, and the root of the
/// thread it is in (event ids).
pub(super) fn received<C>(relation: Option<&Relation<C>>) -> (Option<String>, Option<String>) {
    match relation {
        Some(Relation::Reply(r)) => (Some(r.in_reply_to.event_id.to_string()), None),
        Some(Relation::Thread(t)) => {
            let reply = t
                .in_reply_to
                .as_ref()
                .filter(|_| !t.is_falling_back)
                .map(|r| r.event_id.to_string());
            (reply, Some(t.event_id.to_string()))
        }
        _ => (None, None),
    }
}

/// The relation of a message sent in reply to `reply_to`, in the thread of `thread`
/// (root, latest event seen in it); `None` for neither.
pub(super) fn relation<C>(
    reply_to: Option<OwnedEventId>,
    thread: Option<(OwnedEventId, OwnedEventId)>,
) -> Option<Relation<C>> {
    match (thread, reply_to) {
        (Some((root, _)), Some(reply)) => Some(Relation::Thread(Thread::reply(root, reply))),
        (Some((root, latest)), None) => Some(Relation::Thread(Thread::plain(root, latest))),
        (None, Some(reply)) => Some(Relation::Reply(Reply::new(InReplyTo::new(reply)))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ruma::events::room::message::{
        RoomMessageEventContent, RoomMessageEventContentWithoutRelation,
    };

    use super::*;

    fn id(s: &str) -> OwnedEventId {
        OwnedEventId::try_from(s).unwrap()
    }

    fn parse(json: serde_json::Value) -> RoomMessageEventContent {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_thread_fallback_is_not_a_reply() {
        let c = parse(serde_json::json!({
            "msgtype": "m.text", "body": "in the thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": "$root:x",
                "is_falling_back": true, "m.in_reply_to": {"event_id": "$latest:x"}}
        }));
        assert_eq!(
            received(c.relates_to.as_ref()),
            (None, Some("$root:x".to_owned()))
        );
        let c = parse(serde_json::json!({
            "msgtype": "m.text", "body": "answering",
            "m.relates_to": {"rel_type": "m.thread", "event_id": "$root:x",
                "m.in_reply_to": {"event_id": "$other:x"}}
        }));
        assert_eq!(
            received(c.relates_to.as_ref()),
            (Some("$other:x".to_owned()), Some("$root:x".to_owned()))
        );
        let c = parse(serde_json::json!({
            "msgtype": "m.text", "body": "plain reply",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$other:x"}}
        }));
        assert_eq!(
            received(c.relates_to.as_ref()),
            (Some("$other:x".to_owned()), None)
        );
    }

    #[test]
    fn sent_relations_serialise_as_the_spec_says() {
        let json = |r: Option<Relation<RoomMessageEventContentWithoutRelation>>| {
            let mut c = RoomMessageEventContent::text_plain("x");
            c.relates_to = r;
            serde_json::to_value(&c).unwrap()["m.relates_to"].clone()
        };
        let t = json(relation(None, Some((id("$root:x"), id("$latest:x")))));
        assert_eq!(t["rel_type"], "m.thread");
        assert_eq!(t["event_id"], "$root:x");
        assert_eq!(t["is_falling_back"], true);
        assert_eq!(t["m.in_reply_to"]["event_id"], "$latest:x");
        let t = json(relation(
            Some(id("$other:x")),
            Some((id("$root:x"), id("$latest:x"))),
        ));
        assert_eq!(t["rel_type"], "m.thread");
        assert!(t.get("is_falling_back").is_none_or(|f| f == false));
        assert_eq!(t["m.in_reply_to"]["event_id"], "$other:x");
        let t = json(relation(Some(id("$other:x")), None));
        assert!(t.get("rel_type").is_none());
        assert_eq!(t["m.in_reply_to"]["event_id"], "$other:x");
        assert!(relation::<RoomMessageEventContentWithoutRelation>(None, None).is_none());
    }
}
