//! One legacy room as one user's session sees it: its state, and what each change means
//! for the user's clients in it.
//!
//! `Room` owns its state and answers each change with what happened (a [`Entry`], a
//! [`Departure`], a [`Rename`]...), never with stanzas: the session renders those for each
//! resource (`muc/mod.rs`), and the rules live here, testable without the session actor.

use crate::small::Map;

use jid::Jid;

use crate::legacy::{Affiliation, ClientIds, Occupant, Role};

/// One legacy room as one user's session sees it.
#[derive(Debug)]
pub(crate) struct Room {
    /// The nick the first client asked for (inline, as the nick: a few-byte `String` took a
    /// 32-byte heap block, in every room of every session).
    requested_nick: compact_str::CompactString,
    /// The user's nick in the room (the one asked for until the network says).
    pub(crate) nick: compact_str::CompactString,
    /// Joined on the legacy side.
    pub(crate) joined: bool,
    /// The user's resources in the room (joined, or waiting for the legacy join).
    resources: Map<Jid, (), 1>,
    /// Everyone in the room, by nick.
    pub(super) occupants: super::occupants::Occupants,
    /// The current subject.
    subject: Option<String>,
    /// The room's name, where the network gives it one besides its id.
    pub(crate) name: Option<String>,
    /// What a room needs now and then, boxed apart and dropped when empty: three vectors,
    /// 72 bytes of every room otherwise (performance pass 4).
    rare: Option<Box<Rare>>,
}

/// What a room keeps only now and then.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    /// Occupants the user wrote to privately through the room (`room@domain/nick`): their
    /// answers come from that JID too, so the conversation stays in one window.
    pub(crate) private: Vec<String>,
    /// Degraded verbs (corrections, reactions) sent and not yet reflected, by the client's
    /// ids (see `crate::verbs`).
    pub(crate) pending: Vec<(ClientIds, crate::verbs::Pending)>,
    /// The history each client waiting for the legacy join asked for.
    pub(crate) history: Vec<(Jid, crate::archive::history::HistoryRequest)>,
}

/// What a client's join presence means for the room.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The room is new to the session: join it on the legacy side.
    LegacyJoin,
    /// The legacy join is under way; the client is told when it is done.
    Waiting,
    /// A newcomer to a joined room: show it the room as it is.
    Burst,
    /// A client already in the room asked for another nick (XEP-0045 7.6).
    NickChange,
    /// A client already in the room sent presence again (a status change): nothing to do.
    Nothing,
}

/// Someone left the room.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Departure {
    /// Their nick.
    pub nick: String,
    /// Their person id, where the network gives one.
    pub person: Option<String>,
    /// What they were in the room.
    pub affiliation: Affiliation,
    /// It was the user: the room is gone for them.
    pub own: bool,
}

/// Someone changed nick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rename {
    /// The nick they had.
    pub old: String,
    /// Who they are now (with the new nick).
    pub occupant: Occupant,
    /// It was the user.
    pub own: bool,
}

/// What a client entering a joined room is shown, in XEP-0045's order.
#[derive(Debug)]
pub(crate) struct Burst<'a> {
    /// Everyone else.
    pub others: Vec<Occupant>,
    /// The user, as the room sees them.
    pub me: Occupant,
    /// The network gave the user another nick than the one asked for (status 210).
    pub assigned_nick: bool,
    /// The subject (empty when none, which XEP-0045 still sends).
    pub subject: &'a str,
}

impl Room {
    /// What a room directory says of it: its name, how many are in it, its subject.
    pub(crate) fn listed_as(&self, room: &crate::legacy::LegacyId) -> crate::legacy::RoomInfo {
        crate::legacy::RoomInfo {
            room: room.clone(),
            name: self.name.clone(),
            occupants: u32::try_from(self.occupants.len()).ok(),
            topic: self.subject.clone(),
        }
    }

    /// A room the client `from` asks to join as `nick`.
    pub(crate) fn new(from: Jid, nick: String) -> Room {
        let mut resources = Map::default();
        resources.insert(from, ());
        Room::with_resources(resources, nick)
    }

    /// A room joined with no client of the user in it (always online, after a restart).
    pub(crate) fn without_client(nick: String) -> Room {
        Room::with_resources(Map::default(), nick)
    }

    fn with_resources(resources: Map<Jid, (), 1>, nick: String) -> Room {
        Room {
            requested_nick: nick.as_str().into(),
            nick: nick.into(),
            joined: false,
            resources,
            occupants: Default::default(),
            subject: None,
            name: None,
            rare: None,
        }
    }

    /// What the room keeps now and then, made if this is the first time.
    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// The occupants the user wrote to privately through the room.
    pub(crate) fn private(&self) -> &[String] {
        self.rare.as_ref().map_or(&[], |r| &r.private)
    }

    /// Takes the history the clients waiting for the join asked for.
    pub(crate) fn take_history(&mut self) -> Vec<(Jid, crate::archive::history::HistoryRequest)> {
        let h = self.rare.as_mut().map(|r| std::mem::take(&mut r.history));
        self.tidy();
        h.unwrap_or_default()
    }

    /// Takes the degraded verb sent with `ids`, if it waits for its reflection.
    pub(crate) fn take_pending(&mut self, ids: &ClientIds) -> Option<crate::verbs::Pending> {
        let r = self.rare.as_mut()?;
        let pos = r.pending.iter().position(|(i, _)| i == ids)?;
        let p = r.pending.remove(pos).1;
        self.tidy();
        Some(p)
    }

    /// Drops the rare part once it holds nothing.
    fn tidy(&mut self) {
        if self
            .rare
            .as_ref()
            .is_some_and(|r| r.private.is_empty() && r.pending.is_empty() && r.history.is_empty())
        {
            self.rare = None;
        }
    }

    /// The nick the first client asked for (where a failed join is answered from).
    pub(crate) fn requested_nick(&self) -> &str {
        &self.requested_nick
    }

    /// The client `from` asks to be in the room as `nick`, the room being known already.
    pub(crate) fn enter(&mut self, from: Jid, nick: &str) -> Entry {
        let newcomer = self.resources.insert(from, ()).is_none();
        match (self.joined, newcomer) {
            (true, false) if nick != self.nick => Entry::NickChange,
            (true, true) => Entry::Burst,
            (false, true) => Entry::Waiting,
            _ => Entry::Nothing,
        }
    }

    /// The client `from` leaves: who it was in the room (for its own unavailable
    /// presence), `None` if it was not in. [`Self::is_empty`] tells whether it was the
    /// user's last client there.
    pub(crate) fn exit(&mut self, from: &Jid) -> Option<Departure> {
        self.resources.remove(from)?;
        Some(self.me_leaving())
    }

    /// The client `resource` went offline; `true` when none of the user's is left.
    pub(crate) fn drop_resource(&mut self, resource: &Jid) -> bool {
        self.resources.remove(resource);
        self.resources.is_empty()
    }

    /// Every client of the user leaves (the user stays in the room on the network).
    pub(crate) fn drop_all_resources(&mut self) {
        self.resources.clear();
        self.take_history();
    }

    /// No client of the user's is in the room.
    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Whether the client `from` may speak in the room (joined, and it is in).
    pub(crate) fn admits(&self, from: &Jid) -> bool {
        self.joined && self.resources.contains_key(from)
    }

    /// The user's clients in the room.
    pub(crate) fn resources(&self) -> impl Iterator<Item = &Jid> {
        self.resources.keys()
    }

    /// The legacy join is done: the clients waiting are to be shown the room.
    pub(crate) fn on_joined(
        &mut self,
        name: Option<String>,
        nick: String,
        occupants: Vec<Occupant>,
        subject: Option<String>,
    ) {
        self.joined = true;
        self.name = name;
        self.nick = nick.into();
        // A subject told before the join was done stays, unless the join says another.
        self.subject = subject.or(self.subject.take());
        self.occupants = occupants.into_iter().collect();
    }

    /// What a client entering the joined room is shown; `requested` is the nick that client
    /// asked for (`None`: the first client's), so 210 tells it when it got another.
    pub(crate) fn burst(&self, requested: Option<&str>) -> Burst<'_> {
        let others = self.occupants.others(&self.nick).collect();
        Burst {
            others,
            me: self.me(),
            assigned_nick: self.nick != requested.unwrap_or(&self.requested_nick),
            subject: self.subject.as_deref().unwrap_or_default(),
        }
    }

    /// Someone arrived or changed role or affiliation. `Some(own)` when the user's clients
    /// are to be shown it (not before the room is joined: the burst will).
    pub(crate) fn on_occupant(&mut self, occupant: Occupant) -> Option<bool> {
        let own = occupant.nick == self.nick;
        self.occupants.insert(occupant);
        self.joined.then_some(own)
    }

    /// Someone left (parted, quit, was kicked).
    pub(crate) fn on_left(&mut self, nick: String) -> Departure {
        let gone = self.occupants.remove(&nick);
        Departure {
            own: nick == self.nick,
            affiliation: gone.as_ref().map_or(Affiliation::None, |o| o.affiliation),
            person: gone.and_then(|o| o.person),
            nick,
        }
    }

    /// Someone changed nick; the private conversations with them follow.
    pub(crate) fn on_renamed(&mut self, old: String, new: String) -> Rename {
        let own = old == self.nick;
        let occupant = match self.occupants.remove(&old) {
            Some(mut o) => {
                o.nick.clone_from(&new);
                o
            }
            None => participant(new.clone()),
        };
        self.occupants.insert(occupant.clone());
        if own {
            self.nick = new.as_str().into();
        }
        if let Some(r) = self.rare.as_mut() {
            for n in r.private.iter_mut().filter(|n| **n == old) {
                n.clone_from(&new);
            }
        }
        Rename { old, occupant, own }
    }

    /// The subject changed; `true` when the user's clients are to be shown it.
    pub(crate) fn on_subject(&mut self, subject: String) -> bool {
        self.subject = Some(subject);
        self.joined
    }

    /// The user as the room sees them (a participant until the network says more).
    pub(crate) fn me(&self) -> Occupant {
        self.occupants
            .get(&self.nick)
            .map(super::occupants::Seat::to_occupant)
            .unwrap_or_else(|| participant(self.nick.to_string()))
    }

    /// The user leaving, as [`Departure`] says it.
    pub(crate) fn me_leaving(&self) -> Departure {
        let me = self.me();
        Departure {
            nick: me.nick,
            person: me.person,
            affiliation: me.affiliation,
            own: true,
        }
    }

    /// The role of the occupant `nick`, if they are in the room.
    pub(crate) fn role_of(&self, nick: &str) -> Option<Role> {
        self.occupants.get(nick).map(|o| o.role)
    }
}

/// Someone the network told nothing more about than their nick.
fn participant(nick: String) -> Occupant {
    Occupant {
        nick,
        person: None,
        role: Role::Participant,
        affiliation: Affiliation::None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    fn occupant(nick: &str, affiliation: Affiliation) -> Occupant {
        Occupant {
            nick: nick.to_owned(),
            person: Some(format!("@{nick}:example.org")),
            role: Role::Participant,
            affiliation,
        }
    }

    /// Joined as `anna` from `a@x/one`, with `bob` in the room.
    fn joined() -> Room {
        let mut room = Room::new(jid("a@x/one"), "anna".to_owned());
        room.on_joined(
            Some("Lobby".to_owned()),
            "anna".to_owned(),
            vec![
                occupant("anna", Affiliation::None),
                occupant("bob", Affiliation::Owner),
            ],
            Some("Welcome".to_owned()),
        );
        room
    }

    #[test]
    fn a_second_client_waits_for_the_join_then_sees_the_room() {
        let mut room = Room::new(jid("a@x/one"), "anna".to_owned());
        assert_eq!(room.enter(jid("a@x/two"), "anna"), Entry::Waiting);
        // A status change of a waiting client is no second join.
        assert_eq!(room.enter(jid("a@x/two"), "anna"), Entry::Nothing);
        assert!(!room.admits(&jid("a@x/one")));
        room.on_joined(None, "anna_".to_owned(), vec![], None);
        assert!(room.admits(&jid("a@x/two")));
        assert_eq!(room.resources().count(), 2);
        let burst = room.burst(None);
        assert!(burst.assigned_nick, "the network gave another nick: 210");
        assert_eq!(burst.me.nick, "anna_");
        assert_eq!(burst.subject, "");
        assert_eq!(room.enter(jid("a@x/three"), "anna"), Entry::Burst);
        // A later client asking the nick the user has is not told it was assigned; one
        // asking another nick is (status 210), whatever the first client asked.
        assert!(!room.burst(Some("anna_")).assigned_nick);
        assert!(room.burst(Some("someone")).assigned_nick);
    }

    #[test]
    fn a_client_in_the_room_asking_another_nick_changes_it() {
        let mut room = joined();
        assert_eq!(room.enter(jid("a@x/one"), "anna"), Entry::Nothing);
        assert_eq!(room.enter(jid("a@x/one"), "ann"), Entry::NickChange);
    }

    #[test]
    fn the_burst_is_everyone_else_then_the_user() {
        let room = joined();
        let burst = room.burst(None);
        let others: Vec<_> = burst.others.iter().map(|o| o.nick.as_str()).collect();
        assert_eq!(others, ["bob"]);
        assert_eq!(burst.me.nick, "anna");
        assert!(!burst.assigned_nick);
        assert_eq!(burst.subject, "Welcome");
    }

    #[test]
    fn occupants_before_the_join_wait_for_the_burst() {
        let mut room = Room::new(jid("a@x/one"), "anna".to_owned());
        assert_eq!(room.on_occupant(occupant("bob", Affiliation::None)), None);
        let mut room = joined();
        assert_eq!(
            room.on_occupant(occupant("carl", Affiliation::None)),
            Some(false)
        );
        assert_eq!(
            room.on_occupant(occupant("anna", Affiliation::Admin)),
            Some(true)
        );
        assert_eq!(room.me().affiliation, Affiliation::Admin);
    }

    #[test]
    fn leaving_says_who_left_and_whether_it_was_the_user() {
        let mut room = joined();
        let bob = room.on_left("bob".to_owned());
        assert_eq!(
            bob,
            Departure {
                nick: "bob".to_owned(),
                person: Some("@bob:example.org".to_owned()),
                affiliation: Affiliation::Owner,
                own: false,
            }
        );
        assert_eq!(room.role_of("bob"), None);
        assert!(room.on_left("anna".to_owned()).own);
        // Someone the room did not know leaves as nobody in particular.
        let ghost = room.on_left("ghost".to_owned());
        assert_eq!(ghost.affiliation, Affiliation::None);
    }

    #[test]
    fn the_last_client_out_empties_the_room() {
        let mut room = joined();
        room.enter(jid("a@x/two"), "anna");
        assert_eq!(room.exit(&jid("a@x/nobody")), None);
        let gone = room.exit(&jid("a@x/one")).unwrap();
        assert!(gone.own && gone.nick == "anna");
        assert!(!room.is_empty());
        assert!(room.drop_resource(&jid("a@x/two")));
        assert!(room.is_empty());
    }

    #[test]
    fn a_rename_keeps_who_they_are_and_their_private_chat() {
        let mut room = joined();
        room.rare_mut().private.push("bob".to_owned());
        let r = room.on_renamed("bob".to_owned(), "robert".to_owned());
        assert!(!r.own);
        assert_eq!(r.occupant.nick, "robert");
        assert_eq!(r.occupant.affiliation, Affiliation::Owner);
        assert_eq!(
            room.occupants.get("robert").and_then(|o| o.person()),
            Some("@bob:example.org")
        );
        assert_eq!(room.private(), ["robert"]);
        let me = room.on_renamed("anna".to_owned(), "ann".to_owned());
        assert!(me.own);
        assert_eq!(room.nick, "ann");
    }

    #[test]
    fn the_subject_shows_once_joined() {
        let mut room = Room::new(jid("a@x/one"), "anna".to_owned());
        assert!(!room.on_subject("early".to_owned()));
        room.on_joined(None, "anna".to_owned(), vec![], None);
        assert_eq!(
            room.burst(None).subject,
            "early",
            "told before the join, kept"
        );
        assert!(room.on_subject("later".to_owned()));
        assert_eq!(room.burst(None).subject, "later");
    }
}
