//! Room listings for service discovery: the rooms the user has joined (the transport's own
//! directory) and a homeserver's public room directory (`server@matrix.example.org`).

use std::time::Duration;

use pontoon_core::legacy::{LegacyEvent, RoomInfo};
use ruma::api::client::directory::get_public_rooms_filtered;
use ruma::api::client::membership::joined_rooms;
use ruma::api::client::sync::sync_events::v3::{JoinedRoom, State};
use ruma::events::room::member::MembershipState;
use ruma::events::{AnySyncStateEvent, AnySyncTimelineEvent, SyncStateEvent};
use ruma::{OwnedRoomId, OwnedServerName};

use super::Session;
use crate::ids::{self, MatrixId};

/// The most rooms one listing shows (each joined room costs two requests).
const MAX_LISTED: usize = 100;
pub(super) const LIST_TIMEOUT: Duration = Duration::from_secs(20);

/// Text from a homeserver for a list: bounded, without control characters.
pub(super) fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| {
        t.chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect::<String>()
    })
    .filter(|t| !t.is_empty())
}

/// Whether the user's own `join` is in `room`'s timeline, after another membership (not
/// a change of name or picture).
fn just_joined(room: &JoinedRoom, me: &str) -> bool {
    room.timeline.events.iter().any(|raw| {
        matches!(
            raw.deserialize(),
            Ok(AnySyncTimelineEvent::State(AnySyncStateEvent::RoomMember(
                SyncStateEvent::Original(ev)
            ))) if ev.state_key.as_str() == me
                && ev.content.membership == MembershipState::Join
                && ev.unsigned.prev_content.as_ref().is_none_or(|p| p.membership != MembershipState::Join)
        )
    })
}

impl Session {
    /// Answers a room listing: the joined rooms (`network` `None`), or the public rooms of
    /// the server `network`; a search looks in the public rooms (of the user's own
    /// homeserver on the transport's domain), which the homeserver filters by the term.
    pub(super) async fn list_rooms(
        &mut self,
        request: u64,
        network: Option<String>,
        search: Option<String>,
    ) {
        let listed = match (network, search) {
            (None, None) => self.joined_rooms().await,
            (server, search) => self.public_rooms(server.as_deref(), search).await,
        };
        let event = match listed {
            Ok(rooms) => LegacyEvent::RoomList { request, rooms },
            Err(e) => LegacyEvent::RoomListFailed {
                request,
                text: format!("Matrix: {e}"),
            },
        };
        self.emit(event).await;
    }

    /// The rooms of a sync answer's `join` the user is in, as the directory shows them (not
    /// direct chats): every one on a new login (`initial`), else those the user just
    /// joined (their own membership event, `join` after something else). Named from the
    /// state the answer carries.
    pub(super) fn member_of(
        &self,
        joined: &std::collections::BTreeMap<OwnedRoomId, JoinedRoom>,
        initial: bool,
    ) -> Vec<RoomInfo> {
        let me = self.rooms.me();
        joined
            .iter()
            .filter(|(id, _)| self.rooms.dm_user(id.as_str()).is_none())
            .filter(|(_, room)| initial || just_joined(room, me))
            .take(MAX_LISTED)
            .map(|(id, room)| {
                let (mut alias, mut name) = (None, None);
                let state: &[_] = match &room.state {
                    State::Before(s) | State::After(s) => &s.events,
                    _ => &[],
                };
                let state = state.iter().map(|r| r.deserialize().ok());
                let timeline = room.timeline.events.iter().map(|r| match r.deserialize() {
                    Ok(AnySyncTimelineEvent::State(s)) => Some(s),
                    _ => None,
                });
                for ev in state.chain(timeline).flatten() {
                    match ev {
                        AnySyncStateEvent::RoomCanonicalAlias(SyncStateEvent::Original(e)) => {
                            alias = e.content.alias.map(|a| a.to_string());
                        }
                        AnySyncStateEvent::RoomName(SyncStateEvent::Original(e)) => {
                            name = Some(e.content.name);
                        }
                        _ => {}
                    }
                }
                let shown = match alias.filter(|a| a.starts_with('#')) {
                    Some(a) => MatrixId::Alias(a),
                    None => MatrixId::Room(id.to_string()),
                };
                RoomInfo {
                    room: ids::room(&shown),
                    name: clean(name),
                    occupants: None,
                    topic: None,
                }
            })
            .collect()
    }

    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, crate::http::HttpError> {
        let joined = self
            .call(joined_rooms::v3::Request::new(), LIST_TIMEOUT)
            .await?
            .joined_rooms;
        let mut rooms = Vec::new();
        for room_id in joined
            .into_iter()
            .filter(|r| self.rooms.dm_user(r.as_str()).is_none())
            .take(MAX_LISTED)
        {
            let alias = self
                .state_field(&room_id, "m.room.canonical_alias", "alias")
                .await;
            let name = self.state_field(&room_id, "m.room.name", "name").await;
            let shown = match alias.filter(|a| a.starts_with('#')) {
                Some(a) => MatrixId::Alias(a),
                None => MatrixId::Room(room_id.to_string()),
            };
            rooms.push(RoomInfo {
                room: ids::room(&shown),
                name: clean(name),
                occupants: None,
                topic: None,
            });
        }
        Ok(rooms)
    }

    async fn public_rooms(
        &self,
        server: Option<&str>,
        search: Option<String>,
    ) -> Result<Vec<RoomInfo>, crate::http::HttpError> {
        let mut request = get_public_rooms_filtered::v3::Request::new();
        request.limit = Some((MAX_LISTED as u32).into());
        request.server = server.and_then(|s| OwnedServerName::try_from(s).ok());
        if let Some(term) = search {
            let mut filter = ruma::directory::Filter::new();
            filter.generic_search_term = Some(term);
            request.filter = filter;
        }
        let answer = self.call(request, LIST_TIMEOUT).await?;
        Ok(answer
            .chunk
            .into_iter()
            .take(MAX_LISTED)
            .map(|r| {
                let shown = match r.canonical_alias {
                    Some(a) => MatrixId::Alias(a.to_string()),
                    None => MatrixId::Room(r.room_id.to_string()),
                };
                RoomInfo {
                    room: ids::room(&shown),
                    name: clean(r.name),
                    occupants: u32::try_from(u64::from(r.num_joined_members)).ok(),
                    topic: clean(r.topic),
                }
            })
            .collect())
    }

    /// One field of a room's state event (`""` state key), if set.
    pub(super) async fn state_field(
        &self,
        room: &OwnedRoomId,
        kind: &str,
        field: &str,
    ) -> Option<String> {
        let request = ruma::api::client::state::get_state_event_for_key::v3::Request::new(
            room.clone(),
            kind.into(),
            String::new(),
        );
        let answer = self.call(request, LIST_TIMEOUT).await.ok()?;
        let v: serde_json::Value = serde_json::from_str(answer.event_or_content.get()).ok()?;
        let text = v.get(field)?.as_str()?;
        (!text.is_empty()).then(|| text.chars().take(1024).collect())
    }
}
