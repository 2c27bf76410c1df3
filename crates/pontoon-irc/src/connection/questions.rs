//! Questions the core asks the server for an IQ's answer: lookups (`LegacyCommand::LookUp`),
//! a WHOIS whose answer becomes the person's details for their vCard, and ban lists
//! (`LegacyCommand::ListBans`), `MODE #chan b`, shown as the outcast list. The numerics of
//! a nick being looked up are read here until its end (318) or "no such nick" (401), those
//! of a channel's ban list until its end (368) or a refusal; a server that says nothing in
//! time gets what was read so far (a lookup) or an error (a ban list). The user's own raw
//! `WHOIS` or `MODE` of something nobody asks about is left to `raw.rs`. The same
//! questions typed in a room (`/whois`, `/mode`, `crate::slash`) are answered there, in
//! words.

use std::time::Duration;

use pontoon_core::legacy::{ContactDetails, LegacyEvent, RoomConfig};
use tokio::time::Instant;

use super::Conn;
use crate::format;
use crate::line::{self, IrcLine};

/// Questions waiting at once per connection.
const MAX_QUESTIONS: usize = 8;
/// How long a question waits for the server.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Most masks read from one ban list.
const MAX_MASKS: usize = 500;

/// Who reads a question's answer.
#[derive(Clone, Debug)]
pub(crate) enum AnswerTo {
    /// The core, for the IQ of its request.
    Core(u64),
    /// The user, in the room of this channel (a `/whois` or `/mode` typed there).
    Room(String),
}

/// One question under way.
#[derive(Debug)]
pub(super) struct Question {
    to: AnswerTo,
    /// The nick or channel asked about, folded as the server compares.
    about: String,
    asked: Asked,
    until: Instant,
}

/// What is being read.
#[derive(Debug)]
enum Asked {
    /// A WHOIS: what it said so far, and whether it found them (311 at least).
    Whois(ContactDetails, bool),
    /// A ban list: the masks so far.
    Bans(Vec<String>),
    /// A channel's modes (`MODE #chan`, answered by 324).
    Modes,
}

impl Conn {
    /// Looks `nick` up for `to`.
    pub(super) fn look_up(&mut self, to: AnswerTo, nick: String) {
        let line = line::build("WHOIS", &[&nick], None);
        let asked = Asked::Whois(ContactDetails::default(), false);
        self.ask(to, &nick, line, asked);
    }

    /// Lists the bans of `chan` for `to`.
    pub(super) fn list_bans(&mut self, to: AnswerTo, chan: String) {
        let line = line::build("MODE", &[&chan, "b"], None);
        self.ask(to, &chan, line, Asked::Bans(Vec::new()));
    }

    /// Reads the modes of `chan` for `to`.
    pub(super) fn get_modes(&mut self, to: AnswerTo, chan: String) {
        let line = line::build("MODE", &[&chan], None);
        self.ask(to, &chan, line, Asked::Modes);
    }

    /// Changes the modes of `chan` as the user typed them in its room (`crate::slash`
    /// checked the words; the server's MODE or refusal comes back to the room).
    pub(super) fn change_modes(&mut self, chan: &str, words: &[String]) {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.queue_mode(chan, &words, "the modes did not change");
    }

    /// Queues `MODE chan words...`; a full queue is said in the room, with what did not
    /// happen (`undone`).
    fn queue_mode(&mut self, chan: &str, words: &[&str], undone: &str) {
        let mut middles: Vec<&str> = vec![chan];
        middles.extend_from_slice(words);
        if !self.queue_control(line::build("MODE", &middles, None)) {
            let text = format!("Too many lines are waiting to be sent; {undone}.");
            self.room_notice(&self.isupport.fold(chan), text);
        }
    }

    /// Changes the modes of `chan` as `config` says (the server's refusal comes as a
    /// notice in the room, its MODE as the change).
    pub(super) fn set_modes(&mut self, chan: &str, config: &RoomConfig) {
        let fold = self.isupport.fold(chan);
        let mut modes = String::new();
        let mut params: Vec<String> = Vec::new();
        for (on, letter) in [
            (config.moderated, 'm'),
            (config.members_only, 'i'),
            (config.subject_locked, 't'),
        ] {
            if let Some(on) = on {
                modes.push(if on { '+' } else { '-' });
                modes.push(letter);
            }
        }
        match (config.password_protected, &config.password) {
            (Some(true) | None, Some(key)) => {
                modes.push_str("+k");
                params.push(key.clone());
            }
            (Some(false), _) => {
                // Servers want a parameter with -k; the key itself where it is known.
                let known = self.channels.get(&*fold).and_then(|c| c.key.clone());
                modes.push_str("-k");
                params.push(known.unwrap_or_else(|| "*".to_owned()));
            }
            (Some(true), None) => {
                let text = "Give the room a password to protect it with one.";
                self.room_notice(&fold, text.to_owned());
            }
            (None, None) => {}
        }
        if modes.is_empty() {
            return;
        }
        let mut words: Vec<&str> = vec![&modes];
        words.extend(params.iter().map(String::as_str));
        self.queue_mode(chan, &words, "the room settings did not change");
    }

    /// Lifts the ban `mask` in `chan` (the server's refusal comes as a notice in the room).
    pub(super) fn unban(&mut self, chan: &str, mask: &str) {
        // A middle parameter: no spaces, no leading ':' (it would be read as the trailing).
        if mask.is_empty() || mask.contains(' ') || mask.starts_with(':') {
            return;
        }
        self.queue_mode(chan, &["-b", mask], "the ban was not lifted");
    }

    fn ask(&mut self, to: AnswerTo, about: &str, line: String, asked: Asked) {
        let q = Question {
            to,
            about: self.isupport.fold(about),
            asked,
            until: Instant::now() + ANSWER_WITHIN,
        };
        let asked = self.occasional.as_ref().map_or(0, |o| o.questions.len());
        if !self.registered || asked >= MAX_QUESTIONS || !self.queue_control(line) {
            return self.answer(q, "the server cannot be asked now");
        }
        self.occasional().questions.push(q);
    }

    /// Reads `l` if it answers a question under way; whether it did.
    pub(super) fn on_question_numeric(&mut self, l: &IrcLine) -> bool {
        let code = l.verb.as_str();
        let takes = |asked: &Asked| match asked {
            Asked::Whois(..) => {
                matches!(code, "301" | "311" | "312" | "317" | "318" | "330" | "401")
            }
            Asked::Bans(_) => matches!(code, "367" | "368" | "403" | "442" | "482"),
            Asked::Modes => matches!(code, "324" | "403" | "442" | "482"),
        };
        // The oldest question of its kind about that nick or channel: answers come in the
        // order the questions went.
        let Some(questions) = self.occasional.as_ref().map(|o| &o.questions) else {
            return false;
        };
        let about = self.isupport.fold(l.param(1));
        let Some(pos) = questions
            .iter()
            .position(|x| x.about == about && takes(&x.asked))
        else {
            return false;
        };
        let clean = |s: &str| Some(format::strip(s)).filter(|s| !s.trim().is_empty());
        let Some(q) = self.occasional().questions.get_mut(pos) else {
            return false;
        };
        let done = match (&mut q.asked, code) {
            // nick user host * :real name
            (Asked::Whois(d, found), "311") => {
                *found = true;
                d.address = Some(format!("{}@{}", l.param(2), l.param(3)));
                d.name = clean(l.last());
                None
            }
            // nick server :server info
            (Asked::Whois(d, _), "312") => {
                d.server = clean(l.param(2));
                None
            }
            // nick seconds-idle signon :...
            (Asked::Whois(d, _), "317") => {
                d.idle_secs = l.param(2).parse().ok();
                None
            }
            // nick account :is logged in as
            (Asked::Whois(d, _), "330") => {
                d.account = clean(l.param(2));
                None
            }
            // nick :away message
            (Asked::Whois(d, _), "301") => {
                d.away = clean(l.last());
                None
            }
            // 318 end of WHOIS; 401 no such nick (318 follows on some servers).
            (Asked::Whois(..), "318" | "401") => Some(String::new()),
            // channel mask [setter [time]]
            (Asked::Bans(masks), "367") => {
                if masks.len() < MAX_MASKS && !l.param(2).is_empty() {
                    masks.push(l.param(2).to_owned());
                }
                None
            }
            (Asked::Bans(_), "368") => Some(String::new()),
            // channel modes params...
            (Asked::Modes, "324") => {
                let modes = l.params.get(2..).unwrap_or(&[]);
                let q = self.occasional().questions.remove(pos);
                match q.to {
                    AnswerTo::Core(request) => {
                        let config = Ok(self.modes_of(modes));
                        self.emit(LegacyEvent::RoomConfig { request, config });
                    }
                    AnswerTo::Room(chan) => {
                        let text = format!("Modes of {chan}: {}", modes.join(" "));
                        self.room_notice(&self.isupport.fold(&chan), text);
                    }
                }
                return true;
            }
            // No such channel, not on it, not an operator: the server's words.
            (Asked::Bans(_) | Asked::Modes, "403" | "442" | "482") => Some(format::strip(l.last())),
            // Not this question's numeric: someone else's (a raw command's).
            _ => return false,
        };
        if let Some(why) = done {
            let q = self.occasional().questions.remove(pos);
            self.answer(q, &why);
        }
        // "No such nick" may also answer a private message to them: that one is bounced
        // too, by the numerics' usual reading.
        !(code == "401" && self.last_private_to(l.param(1)).is_some())
    }

    /// Answers the questions the server left unanswered in time.
    pub(super) fn expire_questions(&mut self, now: Instant) {
        let Some(o) = self.occasional.as_mut().filter(|o| !o.questions.is_empty()) else {
            return;
        };
        let (late, waiting): (Vec<Question>, Vec<Question>) = std::mem::take(&mut o.questions)
            .into_iter()
            .partition(|x| x.until <= now);
        o.questions = waiting;
        for q in late {
            self.answer(q, "the server did not answer in time");
        }
    }

    /// The room configuration a 324's mode string and parameters say: the modes taking a
    /// parameter when set (ISUPPORT CHANMODES types B and C) take the next one.
    fn modes_of(&self, params: &[String]) -> RoomConfig {
        let mut config = RoomConfig {
            moderated: Some(false),
            members_only: Some(false),
            subject_locked: Some(false),
            password_protected: Some(false),
            password: None,
        };
        let Some((modes, rest)) = params.split_first() else {
            return config;
        };
        let mut args = rest.iter();
        let [_, always, when_set, _] = &self.isupport.chanmodes;
        for c in modes.chars().filter(|c| *c != '+') {
            let arg = if always.contains(c) || when_set.contains(c) {
                args.next()
            } else {
                None
            };
            match c {
                'm' => config.moderated = Some(true),
                'i' => config.members_only = Some(true),
                't' => config.subject_locked = Some(true),
                'k' => {
                    config.password_protected = Some(true);
                    config.password = arg.filter(|k| *k != "*").cloned();
                }
                _ => {}
            }
        }
        config
    }

    /// The earliest question deadline.
    pub(super) fn question_deadline(&self) -> Option<Instant> {
        let questions = &self.occasional.as_ref()?.questions;
        questions.iter().map(|x| x.until).min()
    }

    /// Answers `q` with what was read; `why` (when not empty) says why a list is not there.
    fn answer(&mut self, q: Question, why: &str) {
        let request = match q.to {
            AnswerTo::Core(request) => request,
            AnswerTo::Room(chan) => {
                let text = in_words(&q.asked, &chan, &q.about, why);
                return self.room_notice(&self.isupport.fold(&chan), text);
            }
        };
        let event = match q.asked {
            Asked::Whois(details, found) => LegacyEvent::LookedUp {
                request,
                details: found.then_some(details),
            },
            Asked::Bans(masks) if why.is_empty() => LegacyEvent::BanList {
                request,
                masks: Ok(masks),
            },
            Asked::Bans(_) => LegacyEvent::BanList {
                request,
                masks: Err(format!("{}: {why}", self.host_name())),
            },
            Asked::Modes => LegacyEvent::RoomConfig {
                request,
                config: Err(format!(
                    "{}: {}",
                    self.host_name(),
                    if why.is_empty() {
                        "no modes given"
                    } else {
                        why
                    }
                )),
            },
        };
        self.emit(event);
    }
}

/// An answer in words, for a question typed in the room of `chan` about `about`.
fn in_words(asked: &Asked, chan: &str, about: &str, why: &str) -> String {
    match asked {
        Asked::Whois(_, false) if why.is_empty() => format!("No such nick: {about}."),
        Asked::Whois(d, true) => {
            let mut parts = vec![format!(
                "{about} is {}",
                d.address.as_deref().unwrap_or("on the network")
            )];
            if let Some(name) = &d.name {
                parts.push(format!("real name {name}"));
            }
            if let Some(server) = &d.server {
                parts.push(format!("on {server}"));
            }
            if let Some(account) = &d.account {
                parts.push(format!("logged in as {account}"));
            }
            if let Some(idle) = d.idle_secs {
                parts.push(format!("idle {} min", idle / 60));
            }
            if let Some(away) = &d.away {
                parts.push(format!("away: {away}"));
            }
            format!("{}.", parts.join(", "))
        }
        Asked::Bans(masks) if why.is_empty() && masks.is_empty() => format!("No bans in {chan}."),
        Asked::Bans(masks) if why.is_empty() => format!("Bans in {chan}: {}", masks.join(" ")),
        _ => format!("{about}: {why}"),
    }
}
