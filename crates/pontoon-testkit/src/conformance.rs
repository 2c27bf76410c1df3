//! The conformance suite every transport passes against its real peer: a user of the
//! gateway (an XMPP client, driven through a [`Harness`]) and someone on the network itself
//! (a [`Peer`]: an IRC client on the IRC server, a user of the test network) meet in a room
//! and exercise the vocabulary both ways.
//!
//! What it checks, for each verb the network declares ([`Verbs`]) natively and for each it
//! does not in its degraded, readable form:
//! - text both ways, with its kind (an action stays an action);
//! - ids round trip: a room message's stanza-id is the network's id for it, where the
//!   network has ids, so a later verb names it;
//! - files and corrections, reactions, replies and retractions from the user, as the peer
//!   sees them;
//! - corrections, reactions and retractions from the peer, where the network has them, as
//!   the user's client sees them (XEP-0308, XEP-0444, XEP-0424, naming the right message);
//! - bad input refused with the right condition (`item-not-found` for an unknown target,
//!   `policy-violation` for an oversized reaction set).

use minidom::Element;
use pontoon_core::legacy::{MessageKind, Verbs};

use crate::harness::{Harness, error_condition, is_from, stanza_id};

/// What the peer saw on the network, as the suite compares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A line of text (a new message).
    Text {
        /// Who wrote it.
        from: String,
        /// The text.
        body: String,
        /// Text, action or notice.
        kind: MessageKind,
        /// The network's id of the message, where it has ids.
        id: Option<String>,
        /// The network's id of the message it answers, where it has replies.
        reply_to: Option<String>,
        /// The URLs of the files it carries as files (where the network has files).
        files: Vec<String>,
    },
    /// A message was edited.
    Corrected {
        /// The network's id of the message.
        target: String,
        /// Its new text.
        body: String,
    },
    /// A reaction to a message (added, or taken back).
    Reaction {
        /// The network's id of the message.
        target: String,
        /// The reaction.
        emoji: String,
        /// Taken back.
        removed: bool,
    },
    /// A message was deleted.
    Retracted {
        /// The network's id of the message.
        target: String,
    },
    /// Anything else (joins, typing, markers): the suite skips it.
    Other,
}

/// Someone on the network under test, acting and seeing as its own users do.
#[allow(async_fn_in_trait)]
pub trait Peer {
    /// Their name in rooms.
    fn nick(&self) -> String;
    /// Joins `room` (the room's legacy id) and waits until they are in it.
    async fn join(&mut self, room: &str);
    /// Says `text` in `room`; returns the network's id for the message, if it has ids.
    async fn say(&mut self, room: &str, text: &str) -> Option<String>;
    /// Edits their message `target` (only called where the network has edits).
    async fn correct(&mut self, room: &str, target: &str, text: &str);
    /// Reacts to the message `target` (only called where the network has reactions).
    async fn react(&mut self, room: &str, target: &str, emoji: &str);
    /// Deletes their message `target` (only called where the network has deletions).
    async fn retract(&mut self, room: &str, target: &str);
    /// What they see next on the network (failing after a few seconds of nothing).
    async fn next(&mut self) -> Seen;
}

/// Where the suite meets: the user's full JID, the room's JID on the gateway and its
/// legacy id, and the user's nick.
pub struct Meeting<'a> {
    /// The user's full JID (`anna@localhost/phone`).
    pub user: &'a str,
    /// The room's bare JID on the gateway.
    pub room_jid: &'a str,
    /// The room's legacy id, as the peer names it.
    pub room: &'a str,
    /// The user's nick in the room.
    pub nick: &'a str,
}

const SID: &str = "urn:xmpp:sid:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";

/// Runs the whole suite: `verbs` is what the network declares it carries natively.
pub async fn run(h: &mut Harness, peer: &mut impl Peer, m: &Meeting<'_>, verbs: Verbs) {
    peer.join(m.room).await;
    h.join_room(m.user, &format!("{}/{}", m.room_jid, m.nick))
        .await;
    let peer_nick = peer.nick();
    let peer_jid = format!("{}/{}", m.room_jid, peer_nick);

    // Text from the user, and its id.
    let own_sid = user_says(h, m, "c1", "hello from xmpp", "").await;
    let seen = next_text(peer, "hello from xmpp").await;
    if let Seen::Text { id: Some(id), .. } = &seen {
        assert_eq!(
            &own_sid, id,
            "the reflection's stanza-id is the network's id"
        );
    }
    // An action stays an action.
    let action_sid = user_says(h, m, "c2", "/me waves", "").await;
    match next_text(peer, "waves").await {
        Seen::Text { kind, .. } => assert_eq!(kind, MessageKind::Action),
        other => panic!("not a text: {other:?}"),
    }

    // A shared file (XEP-0066): as a file where the network has files, else its link.
    const URL: &str = "https://files.example.org/cat.png";
    user_says(
        h,
        m,
        "c9",
        "look",
        &format!("<x xmlns='jabber:x:oob'><url>{URL}</url></x>"),
    )
    .await;
    match next_text(peer, "look").await {
        Seen::Text { body, files, .. } if verbs.files => {
            assert_eq!(files, vec![URL.to_owned()], "{body}");
        }
        Seen::Text { body, .. } => {
            if !body.contains(URL) {
                // A network of lines (IRC) sends the link on a line of its own.
                next_text(peer, URL).await;
            }
        }
        other => panic!("not a text: {other:?}"),
    }

    // Text from the peer, and its id.
    let peer_id = peer.say(m.room, "hello from the network").await;
    let theirs = h
        .expect("the peer's message", |e| {
            is_from(e, &peer_jid) && body(e).as_deref() == Some("hello from the network")
        })
        .await;
    let their_sid = stanza_id(&theirs).expect("a stanza-id by the room");
    // Its id names it too (XEP-0308 corrections name the `id` attribute).
    assert_eq!(theirs.attr("id"), Some(their_sid.as_str()));
    if let Some(id) = &peer_id {
        assert_eq!(&their_sid, id, "the stanza-id is the network's id");
    }

    // Correction of the user's message.
    user_says(
        h,
        m,
        "c3",
        "hello again",
        "<replace xmlns='urn:xmpp:message-correct:0' id='c1'/>",
    )
    .await;
    match peer_sees(peer).await {
        Seen::Corrected { target, body } if verbs.corrections => {
            assert_eq!(
                (target.as_str(), body.as_str()),
                (own_sid.as_str(), "hello again")
            );
        }
        Seen::Text { body, .. } if !verbs.corrections => {
            assert!(
                body.contains("hello again") && body.contains("correction"),
                "{body}"
            );
        }
        other => panic!(
            "correction seen as {other:?} (native: {})",
            verbs.corrections
        ),
    }

    // Reaction to the peer's message.
    h.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' id='c4' from='{}' to='{}'><reactions xmlns='{REACTIONS}' id='{their_sid}'><reaction>👍</reaction></reactions></message>",
        m.user, m.room_jid
    ))
    .await;
    match peer_sees(peer).await {
        Seen::Reaction { target, emoji, .. } if verbs.reactions => {
            assert_eq!(emoji, "👍");
            if let Some(id) = &peer_id {
                assert_eq!(&target, id);
            }
        }
        Seen::Text { body, kind, .. } if !verbs.reactions => {
            assert_eq!(kind, MessageKind::Action);
            assert!(body.contains("👍"), "{body}");
        }
        other => panic!("reaction seen as {other:?} (native: {})", verbs.reactions),
    }

    // Reply to the peer's message: addressed to them either way.
    h.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' id='c5' from='{}' to='{}'><body>&gt; hello from the network\nindeed</body><reply xmlns='urn:xmpp:reply:0' to='{peer_jid}' id='{their_sid}'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='25'/></fallback></message>",
        m.user, m.room_jid
    ))
    .await;
    match next_text(peer, "indeed").await {
        Seen::Text { body, reply_to, .. } => {
            assert!(body.starts_with(&format!("{peer_nick}: ")), "{body}");
            if verbs.replies && peer_id.is_some() {
                assert_eq!(reply_to, peer_id, "the reply names the message");
            }
        }
        other => panic!("reply seen as {other:?}"),
    }

    // Retraction of the user's message.
    let retract = format!(
        "<message xmlns='jabber:client' type='groupchat' id='c6' from='{}' to='{}'><retract xmlns='{RETRACT}' id='{own_sid}'/><body>retracted</body></message>",
        m.user, m.room_jid
    );
    if verbs.retractions {
        h.send(&retract).await;
        assert_eq!(
            peer_sees(peer).await,
            Seen::Retracted {
                target: own_sid.clone()
            }
        );
    } else {
        assert_eq!(
            h.refusal_of(&retract, "c6").await.as_deref(),
            Some("feature-not-implemented")
        );
    }

    // Verbs from the peer, where the network has them.
    if let (true, Some(id)) = (verbs.corrections, &peer_id) {
        peer.correct(m.room, id, "hello, corrected").await;
        let e = h
            .expect("the peer's correction", |e| {
                is_from(e, &peer_jid) && body(e).as_deref() == Some("hello, corrected")
            })
            .await;
        assert_eq!(attr_of(&e, "replace", CORRECT), Some(their_sid.clone()));
    }
    if verbs.reactions {
        // To a message still there: the user retracted their first one above.
        peer.react(m.room, &action_sid, "🎉").await;
        let e = h
            .expect("the peer's reaction", |e| {
                is_from(e, &peer_jid) && e.get_child("reactions", REACTIONS).is_some()
            })
            .await;
        assert_eq!(
            attr_of(&e, "reactions", REACTIONS),
            Some(action_sid.clone())
        );
    }
    if let (true, Some(id)) = (verbs.retractions, &peer_id) {
        peer.retract(m.room, id).await;
        let e = h
            .expect("the peer's retraction", |e| {
                is_from(e, &peer_jid) && e.get_child("retract", RETRACT).is_some()
            })
            .await;
        assert_eq!(attr_of(&e, "retract", RETRACT), Some(their_sid.clone()));
    }

    // Bad input.
    let unknown = format!(
        "<message xmlns='jabber:client' type='groupchat' id='c7' from='{}' to='{}'><body>x</body><replace xmlns='{CORRECT}' id='never-sent'/></message>",
        m.user, m.room_jid
    );
    assert_eq!(
        h.refusal_of(&unknown, "c7").await.as_deref(),
        Some("item-not-found")
    );
    let many: String = (0..17)
        .map(|i| format!("<reaction>{i}</reaction>"))
        .collect();
    let oversized = format!(
        "<message xmlns='jabber:client' type='groupchat' id='c8' from='{}' to='{}'><reactions xmlns='{REACTIONS}' id='{their_sid}'>{many}</reactions></message>",
        m.user, m.room_jid
    );
    assert_eq!(
        h.refusal_of(&oversized, "c8").await.as_deref(),
        Some("policy-violation")
    );
}

/// The user says `text` (with `extra` payloads) in the room as message `id`; returns the
/// stanza-id of its reflection.
async fn user_says(h: &mut Harness, m: &Meeting<'_>, id: &str, text: &str, extra: &str) -> String {
    h.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' id='{id}' from='{}' to='{}'><body>{text}</body><origin-id xmlns='{SID}' id='o-{id}'/>{extra}</message>",
        m.user, m.room_jid
    ))
    .await;
    let reflection = h
        .expect("the reflection of the user's message", |e| {
            e.attr("to") == Some(m.user)
                && e.attr("id") == Some(id)
                && e.attr("type") == Some("groupchat")
        })
        .await;
    if let Some(condition) = error_condition(&reflection) {
        panic!("the user's message {id} was refused: {condition}");
    }
    stanza_id(&reflection).expect("a stanza-id by the room")
}

/// The next thing the peer sees that the suite compares.
async fn peer_sees(peer: &mut impl Peer) -> Seen {
    for _ in 0..20 {
        match peer.next().await {
            Seen::Other => {}
            seen => return seen,
        }
    }
    panic!("the peer saw nothing but noise");
}

/// The next text the peer sees, which must contain `text`.
async fn next_text(peer: &mut impl Peer, text: &str) -> Seen {
    match peer_sees(peer).await {
        seen @ Seen::Text { .. } => {
            if let Seen::Text { body, .. } = &seen {
                assert!(body.contains(text), "expected {text:?}, saw {body:?}");
            }
            seen
        }
        other => panic!("expected the text {text:?}, saw {other:?}"),
    }
}

fn body(e: &Element) -> Option<String> {
    e.get_child("body", "jabber:client").map(Element::text)
}

fn attr_of(e: &Element, child: &str, ns: &str) -> Option<String> {
    e.get_child(child, ns)
        .and_then(|c| c.attr("id"))
        .map(str::to_owned)
}

/// The test network's own [`Peer`]: a [`crate::TestPeer`] seeing the vocabulary's events.
impl Peer for crate::TestPeer {
    fn nick(&self) -> String {
        self.name().to_owned()
    }

    async fn join(&mut self, room: &str) {
        use pontoon_core::legacy::{LegacyCommand, LegacyEvent};
        self.command(LegacyCommand::JoinRoom {
            room: crate::transport::id(room),
            nick: self.name().to_owned(),
            password: None,
        })
        .await;
        loop {
            if let LegacyEvent::RoomJoined { .. } = self.event().await {
                return;
            }
        }
    }

    async fn say(&mut self, room: &str, text: &str) -> Option<String> {
        use pontoon_core::legacy::{ClientIds, LegacyCommand, LegacyEvent};
        self.command(LegacyCommand::SendRoomMessage {
            room: crate::transport::id(room),
            body: text.to_owned(),
            kind: MessageKind::Text,
            ids: ClientIds::none(),
            reply_to: None,
            thread: None,
            attachments: Vec::new(),
        })
        .await;
        // The network echoes it to its author, with its id.
        loop {
            if let LegacyEvent::RoomMessage { body, id, .. } = self.event().await
                && body == text
            {
                return id;
            }
        }
    }

    async fn correct(&mut self, room: &str, target: &str, text: &str) {
        self.command(pontoon_core::legacy::LegacyCommand::Correct {
            chat: pontoon_core::legacy::ChatId::Room(crate::transport::id(room)),
            target: target.to_owned(),
            body: text.to_owned(),
            kind: MessageKind::Text,
        })
        .await;
    }

    async fn react(&mut self, room: &str, target: &str, emoji: &str) {
        self.command(pontoon_core::legacy::LegacyCommand::React {
            chat: pontoon_core::legacy::ChatId::Room(crate::transport::id(room)),
            target: target.to_owned(),
            added: vec![emoji.to_owned()],
            removed: vec![],
        })
        .await;
    }

    async fn retract(&mut self, room: &str, target: &str) {
        self.command(pontoon_core::legacy::LegacyCommand::Retract {
            chat: pontoon_core::legacy::ChatId::Room(crate::transport::id(room)),
            target: target.to_owned(),
        })
        .await;
    }

    async fn next(&mut self) -> Seen {
        use pontoon_core::legacy::LegacyEvent;
        let me = self.name().to_owned();
        match self.event().await {
            LegacyEvent::RoomMessage {
                nick,
                body,
                kind,
                id,
                reply_to,
                attachments,
                ..
            } if nick != me => Seen::Text {
                from: nick,
                body,
                kind,
                id,
                reply_to,
                files: attachments.into_iter().map(|a| a.url).collect(),
            },
            LegacyEvent::Corrected {
                author,
                target,
                body,
                ..
            } if author != me => Seen::Corrected { target, body },
            LegacyEvent::Reaction {
                author,
                target,
                emoji,
                removed,
                ..
            } if author != me => Seen::Reaction {
                target,
                emoji,
                removed,
            },
            LegacyEvent::Retracted { author, target, .. } if author != me => {
                Seen::Retracted { target }
            }
            _ => Seen::Other,
        }
    }
}
