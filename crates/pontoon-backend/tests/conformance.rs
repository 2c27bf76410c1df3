//! The transport conformance suite (`pontoon_testkit::conformance`) against a backend
//! written with the Python SDK: sdk/python/examples/loopnet.py, a loopback network whose
//! process is its own server. The user comes through the host (`BackendTransport`), the
//! peer connects to the network over TCP and speaks its JSON-lines protocol (described in
//! loopnet.py). Every verb is native there. Needs `python3` (3.11 or later); the SDK is
//! taken from the repository through `PYTHONPATH`, not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use pontoon_backend::{BackendConfig, BackendTransport, Limits};
use pontoon_core::legacy::{MessageKind, Verbs};
use pontoon_testkit::conformance::{self, Meeting, Peer, Seen};
use pontoon_testkit::harness::{Harness, Options, enabled};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The repository's root.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// What loopnet declares at each login: every verb the suite knows, natively.
fn verbs() -> Verbs {
    Verbs {
        corrections: true,
        reactions: true,
        replies: true,
        retractions: true,
        files: true,
        ..Verbs::default()
    }
}

fn config() -> BackendConfig {
    BackendConfig {
        name: "loopnet".into(),
        command: vec![
            "python3".into(),
            format!("{REPO}/sdk/python/examples/loopnet.py"),
        ],
        env: BTreeMap::from([("PYTHONPATH".to_owned(), format!("{REPO}/sdk/python"))]),
        working_dir: None,
        users_per_process: 0,
        options: BTreeMap::new(),
        limits: Limits {
            hello_timeout: Duration::from_secs(10),
            ..Limits::default()
        },
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A user of loopnet, connected over TCP.
struct LoopPeer {
    nick: String,
    lines: Lines<BufReader<OwnedReadHalf>>,
    out: OwnedWriteHalf,
    /// What arrived while waiting for an answer, for `next`.
    early: VecDeque<Value>,
}

impl LoopPeer {
    /// Connects as `nick` once the network listens on `port` (it does after its welcome).
    async fn connect(port: u16, nick: &str) -> LoopPeer {
        let mut tries = 0;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => break s,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "loopnet does not listen on {port}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let (read, out) = stream.into_split();
        let mut peer = LoopPeer {
            nick: nick.to_owned(),
            lines: BufReader::new(read).lines(),
            out,
            early: VecDeque::new(),
        };
        peer.request(json!({ "nick": nick }), "hello").await;
        peer
    }

    async fn send(&mut self, request: Value) {
        let mut line = request.to_string();
        line.push('\n');
        self.out.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next line from the network; fails after 5 s of nothing.
    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("a line from loopnet within 5 s")
            .unwrap()
            .expect("loopnet closed the connection");
        eprintln!("peer <- {line}");
        serde_json::from_str(&line).unwrap()
    }

    /// Sends `request` and returns its answer, tagged `answer`; what comes between is kept
    /// for `next`.
    async fn request(&mut self, request: Value, answer: &str) -> Value {
        self.send(request).await;
        loop {
            let mut line = self.read().await;
            if let Some(error) = line.get("error") {
                panic!("loopnet refused a request: {error}");
            }
            match line.get_mut(answer) {
                Some(body) => return body.take(),
                None => self.early.push_back(line),
            }
        }
    }
}

fn string(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

fn optional(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

impl Peer for LoopPeer {
    fn nick(&self) -> String {
        self.nick.clone()
    }

    async fn join(&mut self, room: &str) {
        self.request(json!({ "join": room }), "joined").await;
    }

    async fn say(&mut self, room: &str, text: &str) -> Option<String> {
        let said = self
            .request(json!({ "say": { "room": room, "text": text } }), "said")
            .await;
        Some(string(&said, "id"))
    }

    async fn correct(&mut self, room: &str, target: &str, text: &str) {
        let request = json!({ "correct": { "room": room, "target": target, "text": text } });
        self.request(request, "done").await;
    }

    async fn react(&mut self, room: &str, target: &str, emoji: &str) {
        let request = json!({ "react": { "room": room, "target": target, "emoji": emoji } });
        self.request(request, "done").await;
    }

    async fn retract(&mut self, room: &str, target: &str) {
        let request = json!({ "retract": { "room": room, "target": target } });
        self.request(request, "done").await;
    }

    async fn next(&mut self) -> Seen {
        let line = match self.early.pop_front() {
            Some(line) => line,
            None => self.read().await,
        };
        let Some((tag, v)) = line.as_object().and_then(|o| o.iter().next()) else {
            return Seen::Other;
        };
        // The network never shows a peer its own doings, but be sure.
        if string(v, "from") == self.nick {
            return Seen::Other;
        }
        match tag.as_str() {
            "text" => Seen::Text {
                from: string(v, "from"),
                body: string(v, "body"),
                kind: match v["kind"].as_str() {
                    Some("action") => MessageKind::Action,
                    Some("notice") => MessageKind::Notice,
                    _ => MessageKind::Text,
                },
                id: optional(v, "id"),
                reply_to: optional(v, "reply_to"),
                files: v["files"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
            },
            "corrected" => Seen::Corrected {
                target: string(v, "target"),
                body: string(v, "body"),
            },
            "reaction" => Seen::Reaction {
                target: string(v, "target"),
                emoji: string(v, "emoji"),
                removed: v["removed"].as_bool().unwrap_or(false),
            },
            "retracted" => Seen::Retracted {
                target: string(v, "target"),
            },
            _ => Seen::Other,
        }
    }
}

/// Shows what the backend's process said on stderr (its last lines, as the console does),
/// which `cargo test` prints when the suite fails.
struct ShowStderr(Arc<BackendTransport>);

impl Drop for ShowStderr {
    fn drop(&mut self) {
        for process in self.0.processes() {
            eprintln!("loopnet: {}, {} restarts", process.state, process.restarts);
            for line in process.stderr {
                eprintln!("loopnet stderr: {line}");
            }
        }
    }
}

async fn run() {
    let port = free_port();
    let options = BTreeMap::from([("peer_port".to_owned(), port.to_string())]);
    let transport = BackendTransport::start(config(), options)
        .await
        .expect("loopnet starts");
    let transport = ShowStderr(Arc::new(transport));
    let mut h = Harness::start_with(Options {
        transport: transport.0.clone(),
        ..Options::new(enabled())
    })
    .await;
    let mut peer = LoopPeer::connect(port, "bob").await;
    // A backend has no anonymous accounts: the user registers and logs in first.
    h.login("anna@localhost", "anna").await;
    let meeting = Meeting {
        user: "anna@localhost/phone",
        room_jid: "#conf@test.localhost",
        room: "#conf",
        nick: "anna",
    };
    conformance::run(&mut h, &mut peer, &meeting, verbs()).await;
    assert_eq!(
        transport.0.processes()[0].restarts,
        0,
        "loopnet never stopped"
    );
    h.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_loopnet() {
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .expect("the suite ends within 60 s");
}
