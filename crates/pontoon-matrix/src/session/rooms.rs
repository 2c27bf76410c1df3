//! What a session knows of the user's rooms: which are direct chats with whom (the
//! account's `m.direct`), and, for the rooms the user has open as MUC rooms, the members
//! by display name.
//!
//! Members are kept only for rooms open on the XMPP side, since that is what the user sees:
//! an idle session with many Matrix rooms holds little more than their ids.

use std::collections::HashMap;

use pontoon_core::legacy::{Affiliation, ClientIds, LegacyId, Role};

/// A room the user has open as a MUC room.
#[derive(Debug, Default)]
pub struct OpenRoom {
    /// The legacy id the user joined it by (its alias or its id).
    pub shown_as: Option<LegacyId>,
    /// Members in the room now: user id to the nick shown for them.
    pub members: HashMap<String, String>,
    /// Messages the user sent that the homeserver has not echoed yet: transaction id to
    /// the ids the client gave them, handed back with the echo.
    pub pending: HashMap<String, ClientIds>,
    /// Power levels: who is above the room's default, and the default.
    pub levels: PowerLevels,
}

/// A room's power levels, as far as roles and affiliations need them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PowerLevels {
    /// Users with a level of their own.
    pub users: HashMap<String, i64>,
    /// Everyone else's level.
    pub default: i64,
    /// The room's creators where the room version gives them unlimited power (version 12
    /// and later list them in `m.room.create`, not in `users`).
    pub creators: Vec<String>,
}

impl PowerLevels {
    /// Reads `m.room.power_levels` content (JSON); what is missing or malformed counts as
    /// the spec's defaults.
    pub fn from_content(content: &serde_json::Value) -> PowerLevels {
        let users = content
            .get("users")
            .and_then(|u| u.as_object())
            .map(|m| {
                m.iter()
                    .take(10_000)
                    .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let default = content
            .get("users_default")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        PowerLevels {
            users,
            default,
            creators: Vec::new(),
        }
    }

    /// Adds the creators named by the `m.room.create` event (JSON, the whole event) when
    /// the room's version makes them all-powerful (12 and later).
    pub fn with_creators(mut self, create: &serde_json::Value) -> PowerLevels {
        let content = create.get("content");
        let version = content
            .and_then(|c| c.get("room_version"))
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1);
        if version < 12 {
            return self;
        }
        let sender = create.get("sender").and_then(|s| s.as_str());
        let more = content
            .and_then(|c| c.get("additional_creators"))
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str())
            .take(100);
        self.creators = sender.into_iter().chain(more).map(str::to_owned).collect();
        self
    }

    /// `user`'s level.
    pub fn of(&self, user: &str) -> i64 {
        if self.creators.iter().any(|c| c == user) {
            return i64::MAX;
        }
        self.users.get(user).copied().unwrap_or(self.default)
    }
}

/// The XEP-0045 role and affiliation of a Matrix power level: 100 and up owns the room,
/// 50 and up administers it (both moderate), anyone else is a member who may speak.
pub fn standing(level: i64) -> (Role, Affiliation) {
    match level {
        l if l >= 100 => (Role::Moderator, Affiliation::Owner),
        l if l >= 50 => (Role::Moderator, Affiliation::Admin),
        _ => (Role::Participant, Affiliation::Member),
    }
}

/// The session's rooms.
#[derive(Debug)]
pub struct Rooms {
    me: String,
    /// Direct chats: contact user id to room id, and back.
    dm_by_user: HashMap<String, String>,
    dm_by_room: HashMap<String, String>,
    /// Open MUC rooms by room id, and room id by the legacy id shown.
    open: HashMap<String, OpenRoom>,
    by_shown: HashMap<LegacyId, String>,
}

impl Rooms {
    /// No rooms yet, for the user `me`.
    pub fn new(me: &str) -> Rooms {
        Rooms {
            me: me.to_owned(),
            dm_by_user: HashMap::new(),
            dm_by_room: HashMap::new(),
            open: HashMap::new(),
            by_shown: HashMap::new(),
        }
    }

    /// The user's own Matrix id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Replaces the direct chats with the account's `m.direct` (user to rooms; the last
    /// room listed for a user is the one used).
    pub fn set_direct(&mut self, direct: impl IntoIterator<Item = (String, Vec<String>)>) {
        self.dm_by_user.clear();
        self.dm_by_room.clear();
        for (user, rooms) in direct {
            for room in &rooms {
                self.dm_by_room.insert(room.clone(), user.clone());
            }
            if let Some(last) = rooms.last() {
                self.dm_by_user.insert(user, last.clone());
            }
        }
    }

    /// Records a direct chat the session made or accepted.
    pub fn add_direct(&mut self, user: &str, room: &str) {
        self.dm_by_room.insert(room.to_owned(), user.to_owned());
        self.dm_by_user.insert(user.to_owned(), room.to_owned());
    }

    /// The account's `m.direct` as it should be now.
    pub fn direct_map(&self) -> HashMap<&str, Vec<&str>> {
        let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
        for (room, user) in &self.dm_by_room {
            map.entry(user.as_str()).or_default().push(room.as_str());
        }
        map
    }

    /// The contacts with a direct chat.
    pub fn direct_users(&self) -> impl Iterator<Item = &str> {
        self.dm_by_user.keys().map(String::as_str)
    }

    /// The direct chat with `user`, if any.
    pub fn dm_room(&self, user: &str) -> Option<&str> {
        self.dm_by_user.get(user).map(String::as_str)
    }

    /// Who a room is a direct chat with, if it is one.
    pub fn dm_user(&self, room: &str) -> Option<&str> {
        self.dm_by_room.get(room).map(String::as_str)
    }

    /// Opens `room_id` as the MUC room `shown_as`.
    pub fn open(
        &mut self,
        room_id: &str,
        shown_as: LegacyId,
        members: HashMap<String, String>,
        levels: PowerLevels,
    ) {
        if let Some(old) = self.open.get(room_id).and_then(|r| r.shown_as.clone()) {
            self.by_shown.remove(&old);
        }
        self.by_shown.insert(shown_as.clone(), room_id.to_owned());
        self.open.insert(
            room_id.to_owned(),
            OpenRoom {
                shown_as: Some(shown_as),
                members,
                pending: HashMap::new(),
                levels,
            },
        );
    }

    /// Closes the MUC room `shown_as`.
    pub fn close(&mut self, shown_as: &LegacyId) -> Option<String> {
        let id = self.by_shown.remove(shown_as)?;
        self.open.remove(&id);
        Some(id)
    }

    /// The room id of the open MUC room `shown_as`.
    pub fn room_id(&self, shown_as: &LegacyId) -> Option<&str> {
        self.by_shown.get(shown_as).map(String::as_str)
    }

    /// The open MUC room `room_id`.
    pub fn open_room(&mut self, room_id: &str) -> Option<&mut OpenRoom> {
        self.open.get_mut(room_id)
    }

    /// The open MUC room `room_id`, to read.
    pub fn open_room_ref(&self, room_id: &str) -> Option<&OpenRoom> {
        self.open.get(room_id)
    }

    /// The open MUC rooms' ids.
    pub fn open_ids(&self) -> impl Iterator<Item = (&str, &LegacyId)> {
        self.open
            .iter()
            .filter_map(|(id, r)| r.shown_as.as_ref().map(|s| (id.as_str(), s)))
    }
}

/// The nick shown for `user` among `members`: their display name, made unique with their
/// id when someone else in the room shows the same name.
pub fn nick_for(user: &str, display: Option<&str>, members: &HashMap<String, String>) -> String {
    let name = display
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.len() <= 256 && !d.chars().any(char::is_control))
        .unwrap_or(user);
    let taken = members
        .iter()
        .any(|(other, nick)| other != user && nick == name);
    if taken || name.starts_with('@') && name != user {
        format!("{name} ({user})")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_are_unique() {
        let mut m = HashMap::new();
        m.insert("@a:x".to_owned(), "Ann".to_owned());
        assert_eq!(nick_for("@b:x", Some("Ann"), &m), "Ann (@b:x)");
        assert_eq!(nick_for("@a:x", Some("Ann"), &m), "Ann");
        assert_eq!(nick_for("@c:x", None, &m), "@c:x");
        assert_eq!(nick_for("@c:x", Some(" \u{7} "), &m), "@c:x");
    }

    #[test]
    fn power_levels() {
        let pl = PowerLevels::from_content(&serde_json::json!({
            "users": {"@a:x": 100, "@b:x": 50, "@c:x": "bad"},
            "users_default": 10
        }));
        assert_eq!(
            standing(pl.of("@a:x")),
            (Role::Moderator, Affiliation::Owner)
        );
        assert_eq!(
            standing(pl.of("@b:x")),
            (Role::Moderator, Affiliation::Admin)
        );
        assert_eq!(pl.of("@c:x"), 10);
        assert_eq!(
            standing(pl.of("@z:x")),
            (Role::Participant, Affiliation::Member)
        );
        assert_eq!(
            PowerLevels::from_content(&serde_json::json!(null)).default,
            0
        );
        let v12 = PowerLevels::default().with_creators(&serde_json::json!({
            "sender": "@c:x", "content": {"room_version": "12", "additional_creators": ["@d:x"]}
        }));
        assert_eq!(
            standing(v12.of("@d:x")),
            (Role::Moderator, Affiliation::Owner)
        );
        let v11 = PowerLevels::default().with_creators(
            &serde_json::json!({"sender": "@c:x", "content": {"room_version": "11"}}),
        );
        assert_eq!(v11.of("@c:x"), 0);
    }

    #[test]
    fn direct_chats() {
        let mut r = Rooms::new("@me:x");
        r.set_direct([(
            "@bob:x".to_owned(),
            vec!["!1:x".to_owned(), "!2:x".to_owned()],
        )]);
        assert_eq!(r.dm_room("@bob:x"), Some("!2:x"));
        assert_eq!(r.dm_user("!1:x"), Some("@bob:x"));
        r.add_direct("@eve:x", "!3:x");
        assert_eq!(r.direct_map().len(), 2);
    }
}
