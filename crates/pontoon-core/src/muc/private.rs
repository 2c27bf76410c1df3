//! Private messages through a room (XEP-0045 §7.5). A user who writes to `room@domain/nick`
//! gets the answers from that same JID, not from the occupant's contact JID, while both are
//! in the room: one conversation, one window (biboumi does the same). While the occupant is
//! out of the room their messages come from their contact JID; the conversation through the
//! room resumes if they come back (an IRC user reconnecting), and ends when the user leaves
//! the room.

use jid::Jid;

use crate::session::Session;

/// Most private conversations remembered per room; the oldest is forgotten beyond it.
const MAX_PER_ROOM: usize = 32;

impl Session {
    /// The user wrote to `nick` through `room_id`.
    pub(crate) fn note_private_conversation(&mut self, room_id: &str, nick: &str) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        if room.private().iter().any(|n| n == nick) {
            return;
        }
        let private = &mut room.rare_mut().private;
        if private.len() >= MAX_PER_ROOM {
            private.remove(0);
        }
        private.push(nick.to_owned());
    }

    /// The JID a private message from legacy contact `contact` comes from: the occupant
    /// JID the user wrote to, if the conversation started in a room, else the contact's.
    /// The flag says whether it is an occupant JID (the message then carries the muc#user
    /// marker).
    pub(crate) fn private_sender(&self, contact: &str) -> Option<(Jid, bool)> {
        let through_room = self.rooms.iter().find_map(|(room_id, room)| {
            room.private()
                .iter()
                .filter(|nick| room.occupants.contains(nick))
                .find(|nick| {
                    self.ctx
                        .transport
                        .occupant_contact(room_id, nick)
                        .as_deref()
                        == Some(contact)
                })
                .map(|nick| (room_id, nick))
        });
        match through_room {
            Some((room_id, nick)) => self.occupant_jid(room_id, nick).map(|j| (j, true)),
            None => self.contact_jid(contact).map(|j| (j, false)),
        }
    }
}
