//! The transport conformance suite (`pontoon_testkit::conformance`) against real IRC
//! servers: ngircd, which has no message tags (every verb written out as a readable line),
//! and InspIRCd, whose message tags carry reactions, replies and typing natively. The peer
//! is a raw IRC client on the server, reading the lines an IRC user's client would show.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use pontoon_core::legacy::{MessageKind, Verbs};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use pontoon_testkit::conformance::{self, Meeting, Peer, Seen};
use pontoon_testkit::harness::{Harness, Options, enabled};
use support::{Raw, start_inspircd, start_ngircd};

/// A raw IRC client in the conformance suite's shoes.
struct IrcPeer {
    raw: Raw,
    nick: String,
    /// The client negotiated message-tags and echo-message (InspIRCd).
    tags: bool,
}

/// The tags of an IRC line (`@a=b;c ...`), unescaped enough for the ids and emoji here.
fn tags_of(line: &str) -> (Vec<(String, String)>, &str) {
    let Some(rest) = line.strip_prefix('@') else {
        return (Vec::new(), line);
    };
    let (tags, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let tags = tags
        .split(';')
        .map(|t| {
            let (k, v) = t.split_once('=').unwrap_or((t, ""));
            (
                k.to_owned(),
                v.replace("\\s", " ")
                    .replace("\\:", ";")
                    .replace("\\\\", "\\"),
            )
        })
        .collect();
    (tags, rest)
}

fn tag(tags: &[(String, String)], key: &str) -> Option<String> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

impl Peer for IrcPeer {
    fn nick(&self) -> String {
        self.nick.clone()
    }

    async fn join(&mut self, room: &str) {
        self.raw.send(&format!("JOIN {room}")).await;
        self.raw.until(|l| l.contains(" 366 ")).await;
    }

    async fn say(&mut self, room: &str, text: &str) -> Option<String> {
        self.raw.send(&format!("PRIVMSG {room} :{text}")).await;
        if !self.tags {
            return None;
        }
        // echo-message: the server sends the line back with its msgid.
        let nick = self.nick.clone();
        let echo = self
            .raw
            .until(|l| l.contains(&format!(":{nick}!")) && l.contains(&format!(":{text}")))
            .await;
        tag(&tags_of(&echo).0, "msgid")
    }

    async fn correct(&mut self, _room: &str, _target: &str, _text: &str) {
        panic!("IRC declares no edits");
    }

    async fn react(&mut self, room: &str, target: &str, emoji: &str) {
        self.raw
            .send(&format!(
                "@+draft/react={emoji};+draft/reply={target} TAGMSG {room}"
            ))
            .await;
    }

    async fn retract(&mut self, _room: &str, _target: &str) {
        panic!("IRC declares no deletions");
    }

    async fn next(&mut self) -> Seen {
        let line = self.raw.until(|_| true).await;
        let (tags, rest) = tags_of(&line);
        let mut words = rest.splitn(4, ' ');
        let (Some(prefix), Some(command)) = (words.next(), words.next()) else {
            return Seen::Other;
        };
        let from = prefix
            .trim_start_matches(':')
            .split('!')
            .next()
            .unwrap_or_default()
            .to_owned();
        if from == self.nick {
            return Seen::Other;
        }
        let text = words.nth(1).unwrap_or_default().trim_start_matches(':');
        match command {
            "PRIVMSG" => {
                let (kind, body) = match text.strip_prefix("\u{1}ACTION ") {
                    Some(action) => (MessageKind::Action, action.trim_end_matches('\u{1}')),
                    None => (MessageKind::Text, text),
                };
                Seen::Text {
                    from,
                    body: body.to_owned(),
                    kind,
                    id: tag(&tags, "msgid"),
                    reply_to: tag(&tags, "+draft/reply"),
                    // IRC has no files: links are in the text.
                    files: Vec::new(),
                }
            }
            "TAGMSG" => match (tag(&tags, "+draft/react"), tag(&tags, "+draft/unreact")) {
                (Some(emoji), _) => Seen::Reaction {
                    target: tag(&tags, "+draft/reply").unwrap_or_default(),
                    emoji,
                    removed: false,
                },
                (None, Some(emoji)) => Seen::Reaction {
                    target: tag(&tags, "+draft/reply").unwrap_or_default(),
                    emoji,
                    removed: true,
                },
                _ => Seen::Other,
            },
            _ => Seen::Other,
        }
    }
}

async fn run(port: u16, tags: bool, verbs: Verbs) {
    let cfg = IrcConfig {
        fixed_server: Some(ServerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            verify_cert: true,
        }),
        flood_burst: 20,
        flood_per_second: 20.0,
        connect_timeout: Duration::from_secs(5),
        ..IrcConfig::default()
    };
    let mut h = Harness::start_with(Options {
        transport: Arc::new(IrcTransport::new(cfg)),
        ..Options::new(enabled())
    })
    .await;
    let raw = if tags {
        Raw::connect_with_caps(port, "bob", "message-tags echo-message").await
    } else {
        Raw::connect(port, "bob").await
    };
    let mut peer = IrcPeer {
        raw,
        nick: "bob".into(),
        tags,
    };
    let meeting = Meeting {
        user: "anna@localhost/phone",
        room_jid: "#conf@test.localhost",
        room: "#conf",
        nick: "anna",
    };
    conformance::run(&mut h, &mut peer, &meeting, verbs).await;
    h.shutdown.cancel();
}

#[tokio::test]
async fn conformance_on_ngircd() {
    let ircd = start_ngircd().await;
    tokio::time::timeout(
        Duration::from_secs(60),
        run(ircd.port, false, Verbs::default()),
    )
    .await
    .expect("the suite ends within 60 s");
}

#[tokio::test]
async fn conformance_on_inspircd() {
    let ircd = start_inspircd().await;
    let verbs = Verbs {
        reactions: true,
        replies: true,
        typing: true,
        ..Verbs::default()
    };
    tokio::time::timeout(Duration::from_secs(60), run(ircd.port, true, verbs))
        .await
        .expect("the suite ends within 60 s");
}
