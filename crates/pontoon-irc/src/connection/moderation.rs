//! A channel operator's kicks, bans and role changes from XEP-0045 admin requests (the core
//! checked that the user is a moderator there and the occupant is in the room). Roles are
//! IRC's channel modes: moderator is op (`+o`), participant is voice (`+v`), visitor is
//! neither. The server has the last
//! word: its KICK comes back and the room shows the occupant leaving (status 307), and its
//! refusal (`482` not a channel operator) comes back as a notice in the room.

use pontoon_core::legacy::{LeaveKind, Role};

use super::Conn;
use crate::line;

/// Most bans waiting for the server's KICK.
const MAX_BANNING: usize = 16;

impl Conn {
    /// Sends `nick` out of `chan` with `reason`; with `ban`, first bans them by nick
    /// (`nick!*@*`: the occupant's host is not known to the gateway, and a mask by nick can
    /// never match everyone).
    pub(super) fn kick(&mut self, chan: &str, nick: &str, reason: Option<&str>, ban: bool) {
        let fold = self.isupport.fold(chan);
        if !self.channels.contains_key(&*fold) {
            return;
        }
        // Nicks never hold wildcards; a name with one would make a mask wider than a nick.
        if nick.is_empty() || nick.contains(['*', '?', '!', '@', ' ']) {
            self.room_notice(&fold, format!("{nick:?} is not a nick to send out."));
            return;
        }
        let mut lines = Vec::new();
        if ban {
            let mask = format!("{nick}!*@*");
            lines.push(line::build("MODE", &[chan, "+b", &mask], None));
            let folded = self.isupport.fold(nick);
            let banning = &mut self.occasional().banning;
            if banning.len() >= MAX_BANNING {
                banning.remove(0);
            }
            banning.push((fold.clone(), folded));
        }
        lines.push(line::build(
            "KICK",
            &[chan, nick],
            reason.filter(|r| !r.is_empty()),
        ));
        for l in lines {
            if !self.queue_control(l) {
                self.room_notice(
                    &fold,
                    "Too many lines are waiting to be sent; nobody was sent out.".to_owned(),
                );
                return;
            }
        }
    }

    /// How `victim`'s kick from channel `fold` by `by` shows: a ban where the user banned
    /// them just before (XEP-0045 status 301), else a kick (307).
    pub(super) fn kick_kind(&mut self, fold: &str, victim: &str, by: Option<String>) -> LeaveKind {
        // Most kicks follow no ban of the user's: no fold of the nick for them.
        let Some(banning) = self
            .occasional
            .as_mut()
            .map(|o| &mut o.banning)
            .filter(|b| !b.is_empty())
        else {
            return LeaveKind::Kick { by };
        };
        let victim = self.isupport.fold(victim);
        match banning.iter().position(|(c, n)| c == fold && *n == victim) {
            Some(i) => {
                banning.remove(i);
                LeaveKind::Ban { by }
            }
            None => LeaveKind::Kick { by },
        }
    }

    /// Gives `nick` in `chan` the modes of `role`: only the changes it needs, in one MODE
    /// line (nothing when they already have it). The server's MODE comes back and the room
    /// shows the new role.
    pub(super) fn set_role(&mut self, chan: &str, nick: &str, role: Role) {
        let fold = self.isupport.fold(chan);
        let Some(member) = self
            .channels
            .get(&*fold)
            .and_then(|c| c.members.get(&self.isupport, nick))
        else {
            return;
        };
        let (op, voice) = (member.modes.contains('o'), member.modes.contains('v'));
        let changes = role_changes(role, op, voice);
        if changes.is_empty() {
            return;
        }
        let letters = changes.concat();
        let mut params = vec![chan, letters.as_str()];
        params.extend(changes.iter().map(|_| nick));
        if !self.queue_control(line::build("MODE", &params, None)) {
            self.room_notice(
                &fold,
                "Too many lines are waiting to be sent; the role was not changed.".to_owned(),
            );
        }
    }
}

/// The mode changes that give `role` to someone with (`op`, `voice`), as `+o`, `-v`...
fn role_changes(role: Role, op: bool, voice: bool) -> Vec<String> {
    let mut out = Vec::new();
    match role {
        Role::Moderator if !op => out.push("+o".to_owned()),
        Role::Moderator => {}
        Role::Participant => {
            if op {
                out.push("-o".to_owned());
            }
            if !voice {
                out.push("+v".to_owned());
            }
        }
        Role::Visitor => {
            if op {
                out.push("-o".to_owned());
            }
            if voice {
                out.push("-v".to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_become_the_mode_changes_they_need() {
        assert_eq!(role_changes(Role::Moderator, false, false), ["+o"]);
        assert!(role_changes(Role::Moderator, true, false).is_empty());
        assert_eq!(role_changes(Role::Participant, true, false), ["-o", "+v"]);
        assert!(role_changes(Role::Participant, false, true).is_empty());
        assert_eq!(role_changes(Role::Visitor, true, true), ["-o", "-v"]);
        assert!(role_changes(Role::Visitor, false, false).is_empty());
    }
}
