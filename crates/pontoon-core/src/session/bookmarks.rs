//! The rooms the user is in on the network, in their bookmarks (XEP-0402), where their
//! server lets the gateway write them (XEP-0356 IQ permission, `crate::privilege::bookmarks`).
//! After login the network says which rooms the user is in ([`LegacyEvent::MemberOf`]);
//! those not bookmarked yet are added, joined automatically by the user's clients or not as
//! the user chose with the `bookmarks` command (kept in their transport state). Bookmarks
//! already there are left as the user has them, until they send the command again, which
//! writes every room with their choice.
//!
//! [`LegacyEvent::MemberOf`]: crate::legacy::LegacyEvent::MemberOf

use jid::{BareJid, Jid};
use minidom::Element;
use tracing::{debug, info, warn};

use crate::legacy::{LegacyId, RoomInfo};
use crate::privilege::bookmarks::{self as wire, Bookmark};

use super::Session;

/// The transport state key of the user's choice.
const CHOICE_KEY: &str = "pontoon.bookmarks";
/// Most rooms remembered from the network's list.
const MAX_ROOMS: usize = 500;

/// What the user chose for the rooms they are in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// Not bookmarked.
    Off,
    /// Bookmarked; clients join them when the user asks.
    #[default]
    On,
    /// Bookmarked, and clients join them when they connect.
    Autojoin,
}

impl Choice {
    /// Reads the word the user typed (`off`, `on`, `autojoin`).
    pub fn parse(word: &str) -> Option<Choice> {
        match word.to_ascii_lowercase().as_str() {
            "off" => Some(Choice::Off),
            "on" => Some(Choice::On),
            "autojoin" => Some(Choice::Autojoin),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Choice::Off => "off",
            Choice::On => "on",
            Choice::Autojoin => "autojoin",
        }
    }
}

/// The session's part: the network's rooms, and the read under way.
#[derive(Debug, Default)]
pub(super) struct Bookmarking {
    rooms: Vec<(LegacyId, Option<String>)>,
    /// The read waiting for its answer: its id, the choice, and whether every room is
    /// written (the user asked) or only those missing.
    reading: Option<(String, Choice, bool)>,
    next: u32,
}

impl Session {
    /// The network said which rooms the user is in (all after login, or those just joined).
    pub(super) async fn on_member_of(&mut self, rooms: Vec<RoomInfo>) {
        let known = self.bookmarking.get_or_insert_with(Default::default);
        for r in rooms {
            match known.rooms.iter().position(|(id, _)| *id == r.room) {
                Some(i) => known.rooms[i].1 = r.name,
                None if known.rooms.len() < MAX_ROOMS => known.rooms.push((r.room, r.name)),
                None => break,
            }
        }
        let choice = self.bookmark_choice().await;
        if choice != Choice::Off && self.may_bookmark() {
            self.read_bookmarks(choice, false).await;
        }
    }

    /// The `bookmarks` command: `choice` to change it, `None` to be told.
    pub(super) async fn on_bookmarks_command(&mut self, choice: Option<Choice>) {
        let text = match choice {
            None => {
                let now = self.bookmark_choice().await;
                format!(
                    "Bookmarks for the rooms you are in on {}: {}. {}",
                    self.ctx.display_name,
                    now.word(),
                    self.bookmarks_granted()
                )
            }
            Some(choice) => {
                let saved = self
                    .transport_state
                    .put(CHOICE_KEY, choice.word().as_bytes())
                    .await;
                if let Err(e) = saved {
                    warn!(error = %e, "the bookmarks choice could not be kept");
                    "Your choice could not be kept; try again later.".to_owned()
                } else if choice == Choice::Off {
                    "Rooms will not be added to your bookmarks (those there stay).".to_owned()
                } else if self.may_bookmark() {
                    self.read_bookmarks(choice, true).await;
                    format!(
                        "Adding the rooms you are in on {} to your bookmarks ({}).",
                        self.ctx.display_name,
                        choice.word()
                    )
                } else {
                    format!("Kept ({}). {}", choice.word(), self.bookmarks_granted())
                }
            }
        };
        let to = Jid::from(self.user.clone());
        self.send(crate::stanza::chat(self.ctx.domain.clone(), to, &text))
            .await;
    }

    fn bookmarks_granted(&self) -> &'static str {
        if self.may_bookmark() {
            "Your server lets this gateway write your bookmarks."
        } else {
            "Your server does not let this gateway write your bookmarks (XEP-0356 IQ permission on pubsub), so nothing is added."
        }
    }

    fn may_bookmark(&self) -> bool {
        self.ctx
            .privileges
            .of(self.user.domain().as_str())
            .is_some_and(|p| wire::allowed(&p))
    }

    async fn bookmark_choice(&self) -> Choice {
        match self.transport_state.get(CHOICE_KEY).await {
            Ok(Some(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(Choice::parse)
                .unwrap_or_default(),
            Ok(None) => Choice::default(),
            Err(e) => {
                warn!(error = %e, "the bookmarks choice could not be read; using the default");
                Choice::default()
            }
        }
    }

    fn bookmark_id(&mut self, kind: char) -> String {
        let b = self.bookmarking.get_or_insert_with(Default::default);
        b.next = b.next.wrapping_add(1);
        format!(
            "{}b{kind}{}-{}",
            crate::privilege::SESSION_IQ_PREFIX,
            self.generation,
            b.next
        )
    }

    async fn read_bookmarks(&mut self, choice: Choice, all: bool) {
        let id = self.bookmark_id('r');
        let read = wire::read(&self.ctx.domain, &self.user, &id);
        if let Some(b) = &mut self.bookmarking {
            b.reading = Some((id, choice, all));
        }
        self.send(read).await;
    }

    /// The user's server answered a bookmarks IQ of the session's.
    pub(super) async fn on_bookmarks_answer(&mut self, answer: Element) {
        let id = answer.attr("id").unwrap_or_default();
        let Some(b) = &mut self.bookmarking else {
            return;
        };
        let Some((choice, all)) = b
            .reading
            .take_if(|(r, _, _)| r == id)
            .map(|(_, c, a)| (c, a))
        else {
            // A publish's answer: only a refusal says anything.
            if answer.attr("type") == Some("error") {
                warn!(answer = %String::from(&answer), "the server refused to write a bookmark although it grants it");
            }
            return;
        };
        // No node yet (or a refused read, which Prosody reports the same way): every room
        // is missing.
        let there = wire::read_ids(&answer).unwrap_or_else(|| {
            debug!("no bookmarks read; writing every room");
            Vec::new()
        });
        let rooms = b.rooms.clone();
        let mut written = 0;
        for (room, name) in rooms {
            let Some(jid) = self.contact_jid(&room).map(|j| j.to_bare()) else {
                continue;
            };
            if !all && there.iter().any(|t| t.as_str() == jid.as_str()) {
                continue;
            }
            self.publish_bookmark(jid, name, choice).await;
            written += 1;
        }
        info!(
            written,
            "the rooms the user is in added to their bookmarks (XEP-0402)"
        );
    }

    async fn publish_bookmark(&mut self, jid: BareJid, name: Option<String>, choice: Choice) {
        let id = self.bookmark_id('p');
        let bookmark = Bookmark {
            jid,
            name,
            autojoin: choice == Choice::Autojoin,
        };
        let publish = wire::publish(&self.ctx.domain, &self.user, &id, &bookmark);
        self.send(publish).await;
    }

    /// An answer to one of the session's IQs: from the user's server (roster, bookmarks),
    /// or from a client of theirs (its features, `roster.rs`).
    pub(super) async fn on_host_answer(&mut self, answer: Element) {
        let kind = answer
            .attr("id")
            .and_then(|id| id.strip_prefix(crate::privilege::SESSION_IQ_PREFIX))
            .and_then(|rest| rest.chars().next());
        match kind {
            Some('b') => self.on_bookmarks_answer(answer).await,
            Some('c') => self.on_client_features(answer).await,
            _ => self.on_roster_answer(answer).await,
        }
    }
}
