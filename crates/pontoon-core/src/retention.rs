//! Keeps what the store remembers of messages bounded: at start and then every hour,
//! - the message id map forgets ids recorded longer ago than its retention (`[store]
//!   message_id_retention_days`): a correction or retraction naming an older message is
//!   then refused with `item-not-found`;
//! - each transport's archive (`crate::archive`) forgets what is older than its policy's
//!   `history_days` and, per room, all but the newest `history_per_room` messages; with
//!   `history_days = 0` it keeps nothing.
//!
//! Besides, every hour, messages kept for users who do not come back
//! ([`expire_offline`]): after [`KEEP_OFFLINE_DAYS`] days, server mode's offline messages
//! are answered to their senders, and what component mode kept while a user was away
//! goes to the user's server; neither is dropped in silence.

use std::time::Duration;

use pontoon_store::{OfflineQueues, Store};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How often the expiry runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Runs until `shutdown`; `id_retention` is how long the message id map keeps an id.
pub async fn keep_bounded(store: Store, id_retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let before = now.saturating_sub(id_retention).as_secs();
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        match store.expire_message_ids(before).await {
            Ok(n) => debug!(forgotten = n, "message id map trimmed"),
            Err(e) => warn!(error = %e, "could not trim the message id map"),
        }
        trim_archives(&store, now).await;
    }
}

/// Days a message is kept for a user who does not come back (server mode's offline
/// messages, component mode's kept while away).
pub const KEEP_OFFLINE_DAYS: u64 = 30;

/// Expired kept messages handled per look, at most: the rest wait for the next (a backlog
/// must not flood the services at once).
const EXPIRE_AT_ONCE: i64 = 4096;

/// What becomes of a kept message nobody came for.
pub(crate) enum Expired {
    /// Server mode: its sender is told (`recipient-unavailable`), through the service of
    /// its domain.
    Bounce(crate::server::offline::Services),
    /// Component mode, the transport `transport`'s: it goes to the user's server through
    /// the component link `out`, which keeps it as any offline message.
    Forward {
        transport: String,
        out: tokio::sync::mpsc::Sender<pontoon_xmpp::OutStanza>,
    },
}

/// Every [`EVERY`] until `shutdown`: the messages kept longer than [`KEEP_OFFLINE_DAYS`]
/// are forgotten and each one answered or sent on, as `then` says.
pub(crate) async fn expire_offline(store: Store, then: Expired, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    let kept = crate::archive::micros(Duration::from_secs(KEEP_OFFLINE_DAYS * 86_400));
    let refusal = crate::stanza::Refusal::wait(
        "recipient-unavailable",
        format!("Not delivered: the user did not come online within {KEEP_OFFLINE_DAYS} days."),
    );
    let queues = match &then {
        Expired::Bounce(_) => OfflineQueues::Users,
        Expired::Forward { transport, .. } => OfflineQueues::Transport(transport),
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let before = crate::archive::now_micros() - kept;
        let expired = match store
            .take_expired_offline(queues, before, EXPIRE_AT_ONCE)
            .await
        {
            Ok(expired) => expired,
            Err(e) => {
                warn!(error = %e, "could not expire the kept messages");
                continue;
            }
        };
        if !expired.is_empty() {
            debug!(messages = expired.len(), "kept messages expired");
        }
        for m in expired {
            let Ok(el) = m.stanza.parse::<minidom::Element>() else {
                continue;
            };
            match &then {
                Expired::Bounce(services) => {
                    crate::server::offline::answer(services, &el, &refusal);
                }
                Expired::Forward { out, .. } => {
                    if out.send(el.into()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Applies every transport's archive retention at `now` (since the epoch).
async fn trim_archives(store: &Store, now: Duration) {
    let policies = match store.transport_policies().await {
        Ok(p) => p,
        Err(e) => {
            warn!(error = %e, "could not read the policies to trim the archives");
            return;
        }
    };
    for (transport, policy) in policies {
        let kept = Duration::from_secs(u64::from(policy.history_days) * 86_400);
        let before = match policy.history_days {
            0 => i64::MAX,
            _ => i64::try_from(now.saturating_sub(kept).as_micros()).unwrap_or(i64::MAX),
        };
        let per_room = u64::from(policy.history_per_room);
        match store.expire_archive(&transport, before, per_room).await {
            Ok(n) => debug!(transport, forgotten = n, "archive trimmed"),
            Err(e) => warn!(transport, error = %e, "could not trim the archive"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pontoon_store::{ChatKey, MappedMessage, StoreKey};

    /// A store in memory.
    async fn memory_store() -> Store {
        Store::open("sqlite::memory:", StoreKey::from_bytes([1; 32]))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_message_nobody_came_for_is_forgotten_and_its_sender_told() {
        let store = memory_store().await;
        let kept = "<message xmlns='jabber:client' from='bob@irc.example.org' \
                    to='alice@gw.example.org' type='chat' id='m1'><body>hi</body></message>";
        assert!(
            store
                .put_offline("alice@gw.example.org", 0, kept)
                .await
                .unwrap()
        );
        let fresh = crate::archive::now_micros();
        assert!(
            store
                .put_offline("alice@gw.example.org", fresh, kept)
                .await
                .unwrap()
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let services = std::collections::HashMap::from([("irc.example.org".to_owned(), tx)]);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(expire_offline(
            store.clone(),
            Expired::Bounce(services),
            shutdown.clone(),
        ));
        let Some(pontoon_xmpp::component::LinkEvent::Stanza(error, _, _)) = rx.recv().await else {
            panic!("no answer to the sender");
        };
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(error.attr("to"), Some("bob@irc.example.org"));
        assert_eq!(error.attr("type"), Some("error"));
        assert_eq!(error.attr("id"), Some("m1"));
        let condition = error.get_child("error", "jabber:client").unwrap();
        assert!(condition.has_child(
            "recipient-unavailable",
            "urn:ietf:params:xml:ns:xmpp-stanzas"
        ));
        // The fresh one stays, for the user.
        let left = store
            .offline_messages("alice@gw.example.org", 10)
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].time, fresh);
    }

    #[tokio::test]
    async fn what_was_kept_while_away_goes_to_the_user_s_server_when_nobody_came() {
        let store = memory_store().await;
        let kept = "<message xmlns='jabber:client' from='bob@irc.example.org' \
                    to='alice@example.org' type='chat'><body>hi</body></message>";
        let queue = pontoon_store::away_queue("alice@example.org", "irc");
        assert!(store.put_offline(&queue, 0, kept).await.unwrap());
        let (out, mut rx) = tokio::sync::mpsc::channel(4);
        let shutdown = CancellationToken::new();
        let then = Expired::Forward {
            transport: "irc".into(),
            out,
        };
        let task = tokio::spawn(expire_offline(store.clone(), then, shutdown.clone()));
        let sent = rx.recv().await.unwrap().into_element();
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(sent.attr("to"), Some("alice@example.org"));
        assert_eq!(sent.attr("type"), Some("chat"));
        let left = store.offline_messages(&queue, 10);
        assert!(left.await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ids_older_than_the_retention_are_forgotten() {
        let store = memory_store().await;
        let chat = ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let m = MappedMessage {
            legacy_id: "l1".into(),
            author: "alice".into(),
            own: true,
        };
        let ids = pontoon_store::XmppIds {
            id: Some("x1".into()),
            ..Default::default()
        };
        store.put_message_ids(&chat, &m, &ids).await.unwrap();
        // Stamps are whole seconds: let one pass, then keep nothing older than now.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(keep_bounded(
            store.clone(),
            Duration::ZERO,
            shutdown.clone(),
        ));
        let mut gone = false;
        for _ in 0..50 {
            if store.legacy_message(&chat, "x1").await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
        assert!(gone, "the expired id is still mapped");
    }

    #[tokio::test]
    async fn archives_keep_their_policys_days_and_count() {
        use pontoon_store::{ArchiveKey, ArchiveQuery, ArchiveRecord, ArchiveWrite};
        let store = memory_store().await;
        for (transport, days) in [("irc", 1), ("off", 0)] {
            let policy = pontoon_store::TransportPolicy {
                history_days: days,
                history_per_room: 1,
                ..Default::default()
            };
            store
                .put_transport_policy(transport, &policy)
                .await
                .unwrap();
        }
        let now = crate::archive::now_micros();
        let day = 86_400_000_000;
        let mut writes = Vec::new();
        for transport in ["irc", "off"] {
            for (id, time) in [("old", now - 2 * day), ("a", now - 10), ("b", now)] {
                writes.push(ArchiveWrite::Message(ArchiveRecord {
                    transport: transport.into(),
                    owner: "".into(),
                    chat: "#c".into(),
                    stanza_id: id.into(),
                    time,
                    author: "bob".into(),
                    stanza: "<message xmlns='jabber:client'/>".into(),
                }));
            }
        }
        store.write_archive(&writes).await.unwrap();
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        trim_archives(&store, since_epoch).await;
        let all = ArchiveQuery {
            max: 10,
            ..Default::default()
        };
        let left = |t: &'static str| {
            let store = store.clone();
            let all = all.clone();
            async move {
                let page = store
                    .query_archive(&ArchiveKey::room(t, "#c"), &all)
                    .await
                    .unwrap();
                page.messages
                    .into_iter()
                    .map(|m| m.stanza_id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(left("irc").await, ["b"]);
        assert!(left("off").await.is_empty());
    }
}
