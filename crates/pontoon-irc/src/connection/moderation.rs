//! A channel operator's kicks and bans from XEP-0045 admin requests (the core checked that
//! the user is a moderator there and the occupant is in the room). The server has the last
//! word: its KICK comes back and the room shows the occupant leaving (status 307), and its
//! refusal (`482` not a channel operator) comes back as a notice in the room.

use pontoon_core::legacy::LeaveKind;

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
        if !self.channels.contains_key(&fold) {
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
            if self.banning.len() >= MAX_BANNING {
                self.banning.remove(0);
            }
            self.banning.push((fold.clone(), self.isupport.fold(nick)));
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
        let victim = self.isupport.fold(victim);
        match self
            .banning
            .iter()
            .position(|(c, n)| c == fold && *n == victim)
        {
            Some(i) => {
                self.banning.remove(i);
                LeaveKind::Ban { by }
            }
            None => LeaveKind::Kick { by },
        }
    }
}
