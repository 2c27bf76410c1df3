//! Lookups (`LegacyCommand::LookUp`): a WHOIS whose answer becomes the person's details
//! for their vCard. The numerics of a nick being looked up are read here until its end
//! (318) or "no such nick" (401); a server that says nothing in time gets what was read so
//! far. The user's own raw `WHOIS` of a nick nobody looks up is left to `raw.rs`.

use std::time::Duration;

use pontoon_core::legacy::{ContactDetails, LegacyEvent};
use tokio::time::Instant;

use super::Conn;
use crate::format;
use crate::line::{self, IrcLine};

/// Lookups waiting at once per connection.
const MAX_LOOKUPS: usize = 8;
/// How long a lookup waits for the server.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One WHOIS under way.
#[derive(Debug)]
pub(super) struct Lookup {
    request: u64,
    /// The nick, folded as the server compares.
    nick: String,
    details: ContactDetails,
    /// The server said something of them (311 at least).
    found: bool,
    until: Instant,
}

impl Conn {
    /// Looks `nick` up for the session's `request`.
    pub(super) fn look_up(&mut self, request: u64, nick: String) {
        if !self.registered || self.lookups.len() >= MAX_LOOKUPS {
            self.emit(LegacyEvent::LookedUp {
                request,
                details: None,
            });
            return;
        }
        if !self.queue_control(line::build("WHOIS", &[&nick], None)) {
            self.emit(LegacyEvent::LookedUp {
                request,
                details: None,
            });
            return;
        }
        self.lookups.push(Lookup {
            request,
            nick: self.isupport.fold(&nick),
            details: ContactDetails::default(),
            found: false,
            until: Instant::now() + ANSWER_WITHIN,
        });
    }

    /// Reads `l` if it answers a lookup under way; whether it did.
    pub(super) fn on_whois_numeric(&mut self, l: &IrcLine) -> bool {
        let code = l.verb.as_str();
        if !matches!(code, "301" | "311" | "312" | "317" | "318" | "330" | "401") {
            return false;
        }
        let nick = self.isupport.fold(l.param(1));
        let Some(pos) = self.lookups.iter().position(|x| x.nick == nick) else {
            return false;
        };
        let clean = |s: &str| Some(format::strip(s)).filter(|s| !s.trim().is_empty());
        let Some(lookup) = self.lookups.get_mut(pos) else {
            return false;
        };
        let d = &mut lookup.details;
        match code {
            // nick user host * :real name
            "311" => {
                lookup.found = true;
                d.address = Some(format!("{}@{}", l.param(2), l.param(3)));
                d.name = clean(l.last());
            }
            // nick server :server info
            "312" => d.server = clean(l.param(2)),
            // nick seconds-idle signon :...
            "317" => d.idle_secs = l.param(2).parse().ok(),
            // nick account :is logged in as
            "330" => d.account = clean(l.param(2)),
            // nick :away message
            "301" => d.away = clean(l.last()),
            // 318 end of WHOIS; 401 no such nick (318 follows on some servers).
            _ => {
                let lookup = self.lookups.swap_remove(pos);
                self.answer(lookup);
            }
        }
        true
    }

    /// Answers the lookups the server left unanswered in time.
    pub(super) fn expire_lookups(&mut self, now: Instant) {
        let (late, waiting) = std::mem::take(&mut self.lookups)
            .into_iter()
            .partition(|x| x.until <= now);
        self.lookups = waiting;
        let late: Vec<Lookup> = late;
        for lookup in late {
            self.answer(lookup);
        }
    }

    /// The earliest lookup deadline.
    pub(super) fn lookup_deadline(&self) -> Option<Instant> {
        self.lookups.iter().map(|x| x.until).min()
    }

    fn answer(&mut self, lookup: Lookup) {
        let details = lookup.found.then_some(lookup.details);
        self.emit(LegacyEvent::LookedUp {
            request: lookup.request,
            details,
        });
    }
}
