//! IRCv3 capability negotiation (`CAP LS 302` ... `CAP END`), with SASL inside it:
//! EXTERNAL with the user's client certificate first where they have one, else (or when
//! services do not know the certificate) PLAIN with the password.
//!
//! A pure state machine: it is fed CAP, AUTHENTICATE and SASL numerics and answers with
//! lines to send and an outcome, so it is tested without a socket. It asks only for what
//! the gateway uses and the server offers, handles multi-line `LS` replies in both the
//! `CAP * LS * :...` and `CAP * LS :...` forms, and never blocks registration: a NAK, a
//! missing `sasl`, or silence all end in `CAP END`. It knows whether there is a password,
//! not the password: the connection keeps the account and password and hands them to the
//! two steps that write them ([`Negotiator::on_authenticate`],
//! [`Negotiator::identify_line`]), rather than every connection keeping copies of both
//! (performance pass 4).

use std::collections::BTreeMap;

use crate::sasl;
use crate::settings::Identify;

/// Capabilities the gateway uses when offered (`sasl` only with a password).
pub const WANTED: &[&str] = &[
    "multi-prefix",
    "away-notify",
    "server-time",
    "message-tags",
    "echo-message",
];

/// The capabilities the gateway may have enabled: `sasl`, then [`WANTED`].
const KNOWN: [&str; 6] = [
    "sasl",
    "multi-prefix",
    "away-notify",
    "server-time",
    "message-tags",
    "echo-message",
];

/// Enabled capabilities, one bit per [`KNOWN`] name: a set of strings took a B-tree node
/// (about 300 bytes) in every connection for a name or two (performance pass 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Enabled(u8);

impl Enabled {
    fn bit(cap: &str) -> Option<u8> {
        KNOWN.iter().position(|k| *k == cap).map(|i| 1 << i)
    }

    fn contains(self, cap: &str) -> bool {
        Self::bit(cap).is_some_and(|b| self.0 & b != 0)
    }

    /// Enables `cap` if the gateway knows it (a server's ACK of anything else is ignored).
    fn insert(&mut self, cap: &str) {
        if let Some(b) = Self::bit(cap) {
            self.0 |= b;
        }
    }

    fn remove(&mut self, cap: &str) {
        if let Some(b) = Self::bit(cap) {
            self.0 &= !b;
        }
    }

    fn iter(self) -> impl Iterator<Item = &'static str> {
        KNOWN
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, k)| *k)
    }
}

/// Where the negotiation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `CAP LS` sent, collecting the list.
    Listing,
    /// `CAP REQ` sent.
    Requested,
    /// SASL in progress.
    Authenticating,
    /// `CAP END` sent (or the server has no CAP).
    Done,
}

/// What the connection should do after feeding the negotiator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Lines to send, in order.
    pub send: Vec<String>,
    /// SASL failed for this reason: login failed.
    pub failed: Option<String>,
    /// Something the user should know (password unused, services silent).
    pub notice: Option<String>,
}

impl Step {
    fn send(lines: Vec<String>) -> Step {
        Step {
            send: lines,
            ..Step::default()
        }
    }
}

/// Parses a capability list (`a b=c d`) into names and values.
pub fn parse_list(list: &str) -> Vec<(String, Option<String>)> {
    list.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_owned())),
            None => (w.to_ascii_lowercase(), None),
        })
        .collect()
}

/// Splits the parameters of a `CAP <target> <sub> ...` line into the sub-command, whether
/// more lines follow (`*`), and the list.
pub fn parse_cap(params: &[String]) -> Option<(String, bool, &str)> {
    let sub = params.get(1)?.to_ascii_uppercase();
    match params.len() {
        0..=2 => Some((sub, false, "")),
        3 => Some((sub, false, params.get(2).map_or("", String::as_str))),
        _ => {
            let more = params.get(2).is_some_and(|p| p == "*");
            let list = params.last().map_or("", String::as_str);
            Some((sub, more, list))
        }
    }
}

/// The negotiation state of one connection attempt.
#[derive(Debug)]
pub struct Negotiator {
    phase: Phase,
    offered: BTreeMap<String, Option<String>>,
    enabled: Enabled,
    /// There is a password to log in with (SASL PLAIN, NickServ).
    password: bool,
    /// How the password is used (SASL, NickServ, or SASL then NickServ).
    identify: Identify,
    /// The server accepted the SASL login (903 or 907).
    authenticated: bool,
    /// A client certificate was presented: try SASL EXTERNAL first.
    external: bool,
    /// The mechanism under way.
    mechanism: Mechanism,
    /// The account the server says we are logged in as (900).
    logged_in_as: Option<Box<str>>,
}

/// A SASL mechanism the gateway speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mechanism {
    /// The client certificate.
    External,
    /// Account and password.
    Plain,
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::External => "EXTERNAL",
            Mechanism::Plain => "PLAIN",
        }
    }
}

impl Negotiator {
    /// A negotiator doing SASL PLAIN when there is a `password` (the caller's, non-empty).
    pub fn new(password: bool) -> Negotiator {
        Negotiator {
            phase: Phase::Listing,
            offered: BTreeMap::new(),
            enabled: Enabled::default(),
            password,
            identify: Identify::SaslOnly,
            authenticated: false,
            external: false,
            mechanism: Mechanism::Plain,
            logged_in_as: None,
        }
    }

    /// The same, logging in with SASL EXTERNAL first (a client certificate was presented).
    pub fn with_external(mut self, external: bool) -> Negotiator {
        self.external = external;
        self
    }

    /// The same, using the password as `identify` says.
    pub fn with_identify(mut self, identify: Identify) -> Negotiator {
        self.identify = identify;
        self
    }

    /// Whether SASL is to be tried with the password.
    fn plain(&self) -> bool {
        self.password && self.identify != Identify::NickServOnly
    }

    /// Whether SASL is to be tried at all.
    fn sasl(&self) -> bool {
        self.external || self.plain()
    }

    /// What the user is told when SASL is not there: the password goes to NickServ
    /// instead, or is not used.
    fn no_sasl(&self, why: &str) -> String {
        match (self.password, self.identify) {
            (false, _) => format!(
                "{why}; your client certificate was presented, and services that know it may still log you in."
            ),
            (true, Identify::SaslOnly) => format!("{why}; your password was not used."),
            (true, _) => {
                format!("{why}; identifying to NickServ with your password once connected.")
            }
        }
    }

    /// Whether the password goes to NickServ once connected: it is for that, and SASL did
    /// not log in.
    pub fn identifies(&self) -> bool {
        self.password && !self.authenticated && self.identify != Identify::SaslOnly
    }

    /// The line identifying `account` to NickServ with `password` once connected, where
    /// [`Self::identifies`].
    pub fn identify_line(&self, account: &str, password: &str) -> Option<String> {
        if !self.identifies() {
            return None;
        }
        let text = format!("IDENTIFY {account} {password}");
        Some(crate::line::build("PRIVMSG", &["NickServ"], Some(&text)))
    }

    /// The capabilities in use, for the user's connection info.
    pub fn enabled_list(&self) -> impl Iterator<Item = &'static str> {
        self.enabled.iter()
    }

    /// Whether the server accepted the SASL login.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// How the SASL login was made, and the account the server named, once accepted.
    pub fn login(&self) -> Option<(&'static str, Option<&str>)> {
        self.authenticated
            .then(|| (self.mechanism.name(), self.logged_in_as.as_deref()))
    }

    /// The first line to send.
    pub fn start(&self) -> String {
        "CAP LS 302".to_owned()
    }

    /// Where the negotiation stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether `cap` was acknowledged.
    pub fn enabled(&self, cap: &str) -> bool {
        self.enabled.contains(cap)
    }

    fn end(&mut self) -> Vec<String> {
        if self.phase == Phase::Done {
            return Vec::new();
        }
        self.phase = Phase::Done;
        // What the server offered served the negotiation only; it would stay for the
        // connection's life (a network's list is a kilobyte or more with its values).
        self.offered = BTreeMap::new();
        vec!["CAP END".to_owned()]
    }

    /// Whether the server offers `mechanism` (a bare `sasl` lists none: try it).
    fn offers(&self, mechanism: Mechanism) -> bool {
        match self.offered.get("sasl") {
            None => false,
            Some(None) => true,
            Some(Some(mechs)) => mechs
                .split(',')
                .any(|m| m.eq_ignore_ascii_case(mechanism.name())),
        }
    }

    /// The first mechanism to try: the certificate, else the password.
    fn first_mechanism(&self) -> Option<Mechanism> {
        if self.external && self.offers(Mechanism::External) {
            Some(Mechanism::External)
        } else if self.plain() && self.offers(Mechanism::Plain) {
            Some(Mechanism::Plain)
        } else {
            None
        }
    }

    /// Feeds a `CAP` line's parameters.
    pub fn on_cap(&mut self, params: &[String]) -> Step {
        let Some((sub, more, list)) = parse_cap(params) else {
            return Step::default();
        };
        match sub.as_str() {
            "LS" if self.phase == Phase::Listing => {
                // Bounded: a hostile server could send endless continuation lines.
                if self.offered.len() < 512 {
                    self.offered.extend(parse_list(list).into_iter().take(512));
                }
                if more {
                    return Step::default();
                }
                let mut want: Vec<&str> = WANTED
                    .iter()
                    .copied()
                    .filter(|c| self.offered.contains_key(*c))
                    .collect();
                let mut notice = None;
                if self.first_mechanism().is_some() {
                    want.insert(0, "sasl");
                } else if self.plain() {
                    notice = Some(self.no_sasl("This server does not offer SASL PLAIN"));
                } else if self.external {
                    notice = Some(
                        "This server does not offer SASL EXTERNAL; your client certificate was presented, and services that know it may still log you in.".to_owned(),
                    );
                }
                let mut step = if want.is_empty() {
                    Step::send(self.end())
                } else {
                    self.phase = Phase::Requested;
                    Step::send(vec![format!("CAP REQ :{}", want.join(" "))])
                };
                step.notice = notice;
                step
            }
            "ACK" => {
                for (name, _) in parse_list(list) {
                    match name.strip_prefix('-') {
                        Some(off) => {
                            self.enabled.remove(off);
                        }
                        // Only what we know (`Enabled::insert`): a server's ACK of
                        // anything else is ignored.
                        None => self.enabled.insert(&name),
                    }
                }
                if self.phase != Phase::Requested {
                    return Step::default();
                }
                match self.first_mechanism() {
                    Some(m) if self.enabled.contains("sasl") => {
                        self.phase = Phase::Authenticating;
                        self.mechanism = m;
                        Step::send(vec![format!("AUTHENTICATE {}", m.name())])
                    }
                    _ => Step::send(self.end()),
                }
            }
            "NAK" if self.phase == Phase::Requested => {
                let mut step = Step::send(self.end());
                if self.sasl() && list.split(' ').any(|c| c.eq_ignore_ascii_case("sasl")) {
                    step.notice = Some(self.no_sasl("The server refused SASL"));
                }
                step
            }
            "DEL" => {
                for (name, _) in parse_list(list) {
                    self.enabled.remove(&name);
                }
                Step::default()
            }
            _ => Step::default(),
        }
    }

    /// Feeds an `AUTHENTICATE` line's parameter; `account` and `password` are what SASL
    /// PLAIN sends.
    pub fn on_authenticate(&mut self, param: &str, account: &str, password: &str) -> Step {
        match (self.mechanism, self.password, self.phase) {
            // An empty response: the identity is the one the certificate is registered to.
            (Mechanism::External, _, Phase::Authenticating) if param == "+" => {
                Step::send(vec!["AUTHENTICATE +".to_owned()])
            }
            (Mechanism::Plain, true, Phase::Authenticating) if param == "+" => {
                Step::send(sasl::plain_lines(account, password))
            }
            _ => Step::default(),
        }
    }

    /// Feeds a numeric; returns `None` when it is not about CAP or SASL.
    pub fn on_numeric(&mut self, code: &str, params: &[String]) -> Option<Step> {
        match code {
            // 421 ERR_UNKNOWNCOMMAND for CAP: a server without capabilities.
            "421" if params.get(1).is_some_and(|c| c.eq_ignore_ascii_case("CAP")) => {
                self.phase = Phase::Done;
                let mut step = Step::default();
                if self.sasl() {
                    step.notice = Some(self.no_sasl("This server does not support SASL"));
                }
                Some(step)
            }
            // RPL_LOGGEDIN: <nick> <nick!user@host> <account> :text
            "900" => {
                self.logged_in_as = params
                    .get(2)
                    .filter(|a| a.len() <= 64)
                    .map(|a| a.as_str().into());
                Some(Step::default())
            }
            // RPL_SASLMECHS, the mechanisms the server has: it comes with the 904 that
            // follows it, whose fallback then tries only those.
            "908" => {
                if let Some(mechs) = params.get(1).filter(|m| m.len() <= 200) {
                    self.offered.insert("sasl".to_owned(), Some(mechs.clone()));
                }
                Some(Step::default())
            }
            "904" | "905"
                if self.phase == Phase::Authenticating && self.mechanism == Mechanism::External =>
            {
                // Services do not know the certificate: the password, where there is one.
                if self.plain() && self.offers(Mechanism::Plain) {
                    self.mechanism = Mechanism::Plain;
                    let mut step = Step::send(vec!["AUTHENTICATE PLAIN".to_owned()]);
                    step.notice = Some(
                        "SASL EXTERNAL failed (is your client certificate's fingerprint registered with NickServ?); logging in with your password.".to_owned(),
                    );
                    return Some(step);
                }
                let why = "SASL EXTERNAL failed: services do not know your client certificate (register its fingerprint with NickServ: CERT ADD)";
                let mut step = Step::send(self.end());
                step.notice = Some(match (self.password, self.identify) {
                    (true, Identify::SaslThenNickServ | Identify::NickServOnly) => {
                        self.no_sasl(why)
                    }
                    _ => format!("{why}; connected without logging in."),
                });
                Some(step)
            }
            "903" | "907" if self.phase == Phase::Authenticating => {
                self.authenticated = true;
                Some(Step::send(self.end()))
            }
            "904" | "905" if self.phase == Phase::Authenticating => {
                let mut step = Step::send(self.end());
                step.failed = Some("SASL authentication failed: wrong password?".to_owned());
                Some(step)
            }
            "902" | "906" if self.phase == Phase::Authenticating => {
                let mut step = Step::send(self.end());
                let text = params.last().map_or("", String::as_str);
                step.failed = Some(format!("SASL authentication failed: {text}"));
                Some(step)
            }
            _ => None,
        }
    }

    /// Called when the server has been silent too long during negotiation: end it so
    /// registration goes on (services may be down; the password is then unused).
    pub fn on_timeout(&mut self) -> Step {
        match self.phase {
            Phase::Done => Step::default(),
            Phase::Authenticating => {
                let mut step = Step::send(vec!["AUTHENTICATE *".to_owned()]);
                step.send.extend(self.end());
                step.notice = Some(match self.identify {
                    Identify::SaslOnly => {
                        "The server's login service did not answer; connected without logging in."
                            .to_owned()
                    }
                    _ => self.no_sasl("The server's login service did not answer"),
                });
                step
            }
            _ => Step::send(self.end()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn ls_forms() {
        assert_eq!(
            parse_cap(&p(&["*", "LS", "multi-prefix sasl"])),
            Some(("LS".into(), false, "multi-prefix sasl"))
        );
        assert_eq!(
            parse_cap(&p(&["*", "LS", "*", "a b"])),
            Some(("LS".into(), true, "a b"))
        );
        assert_eq!(
            parse_cap(&p(&["nick", "ack", "a"])),
            Some(("ACK".into(), false, "a"))
        );
        assert_eq!(parse_cap(&p(&["*"])), None);
        assert_eq!(
            parse_list("sasl=PLAIN,EXTERNAL multi-prefix"),
            vec![
                ("sasl".into(), Some("PLAIN,EXTERNAL".into())),
                ("multi-prefix".into(), None)
            ]
        );
    }

    #[test]
    fn the_known_capabilities_are_sasl_and_the_wanted_ones() {
        assert_eq!(KNOWN[0], "sasl");
        assert_eq!(&KNOWN[1..], WANTED);
        let mut e = Enabled::default();
        e.insert("echo-message");
        e.insert("sasl");
        e.insert("unknown");
        assert_eq!(e.iter().collect::<Vec<_>>(), ["sasl", "echo-message"]);
        e.remove("sasl");
        assert!(!e.contains("sasl") && e.contains("echo-message"));
    }

    #[test]
    fn multi_line_ls_then_req_and_end() {
        let mut n = Negotiator::new(false);
        assert_eq!(n.start(), "CAP LS 302");
        assert_eq!(
            n.on_cap(&p(&["*", "LS", "*", "away-notify foo"])),
            Step::default()
        );
        let s = n.on_cap(&p(&["*", "LS", "multi-prefix sasl=PLAIN echo-message"]));
        assert_eq!(
            s.send,
            vec!["CAP REQ :multi-prefix away-notify echo-message"]
        );
        let s = n.on_cap(&p(&[
            "me",
            "ACK",
            "multi-prefix away-notify echo-message foo",
        ]));
        assert_eq!(s.send, vec!["CAP END"]);
        assert!(n.enabled("echo-message"));
        assert!(!n.enabled("sasl"));
        assert!(!n.enabled("foo"), "acknowledged without being asked for");
        assert_eq!(n.phase(), Phase::Done);
        assert!(
            n.offered.is_empty(),
            "the offer is not kept past the negotiation"
        );
    }

    #[test]
    fn nothing_wanted_ends_at_once() {
        let mut n = Negotiator::new(false);
        assert_eq!(n.on_cap(&p(&["*", "LS", "foo bar"])).send, vec!["CAP END"]);
    }

    #[test]
    fn sasl_success() {
        let mut n = Negotiator::new(true);
        let s = n.on_cap(&p(&["*", "LS", "sasl=PLAIN,EXTERNAL multi-prefix"]));
        assert_eq!(s.send, vec!["CAP REQ :sasl multi-prefix"]);
        assert_eq!(
            n.on_cap(&p(&["*", "ACK", "sasl multi-prefix"])).send,
            vec!["AUTHENTICATE PLAIN"]
        );
        assert_eq!(
            n.on_authenticate("+", "me", "pw").send,
            sasl::plain_lines("me", "pw")
        );
        assert_eq!(
            n.on_numeric("900", &p(&["me", "me!u@h", "me", "logged in"])),
            Some(Step::default())
        );
        assert_eq!(
            n.on_numeric("903", &p(&["me", "ok"])).unwrap().send,
            vec!["CAP END"]
        );
    }

    #[test]
    fn sasl_failure() {
        let mut n = Negotiator::new(true);
        n.on_cap(&p(&["*", "LS", "sasl"]));
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        let s = n
            .on_numeric("904", &p(&["me", "SASL authentication failed"]))
            .unwrap();
        assert_eq!(
            s.failed.as_deref(),
            Some("SASL authentication failed: wrong password?")
        );
        assert_eq!(s.send, vec!["CAP END"]);
    }

    #[test]
    fn sasl_without_plain_or_cap() {
        let mut n = Negotiator::new(true);
        let s = n.on_cap(&p(&["*", "LS", "sasl=EXTERNAL"]));
        assert_eq!(s.send, vec!["CAP END"]);
        assert!(s.notice.is_some());
        let mut n = Negotiator::new(true);
        let s = n
            .on_numeric("421", &p(&["*", "CAP", "Unknown command"]))
            .unwrap();
        assert!(s.send.is_empty() && s.notice.is_some());
        assert_eq!(n.phase(), Phase::Done);
    }

    /// A NickServ password: SASL where offered; else, or with SASL off, IDENTIFY once
    /// connected; never after a SASL login, never for the registration's password alone.
    #[test]
    fn nickserv_identification() {
        let ls = |n: &mut Negotiator, caps: &str| n.on_cap(&p(&["*", "LS", caps]));
        let mut n = Negotiator::new(true).with_identify(Identify::SaslThenNickServ);
        let step = ls(&mut n, "multi-prefix");
        assert!(step.notice.unwrap().contains("identifying to NickServ"));
        assert_eq!(
            n.identify_line("acct", "pw").as_deref(),
            Some("PRIVMSG NickServ :IDENTIFY acct pw")
        );
        let mut n = Negotiator::new(true).with_identify(Identify::SaslThenNickServ);
        assert_eq!(ls(&mut n, "sasl").send, vec!["CAP REQ :sasl"]);
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        n.on_numeric("903", &p(&["acct", "ok"]));
        assert_eq!(n.identify_line("acct", "pw"), None);
        let mut n = Negotiator::new(true).with_identify(Identify::NickServOnly);
        let step = ls(&mut n, "sasl multi-prefix");
        assert_eq!(step.send, vec!["CAP REQ :multi-prefix"]);
        assert_eq!(step.notice, None);
        assert!(n.identify_line("acct", "pw").is_some());
        let mut n = Negotiator::new(true);
        assert!(
            ls(&mut n, "multi-prefix")
                .notice
                .unwrap()
                .contains("not used")
        );
        assert_eq!(n.identify_line("acct", "pw"), None);
    }

    /// A client certificate: SASL EXTERNAL first; when services do not know it, the
    /// password if there is one, else on without logging in (never a failed login).
    #[test]
    fn sasl_external() {
        let mut n = Negotiator::new(false).with_external(true);
        let s = n.on_cap(&p(&["*", "LS", "sasl=PLAIN,EXTERNAL"]));
        assert_eq!(s.send, vec!["CAP REQ :sasl"]);
        let s = n.on_cap(&p(&["*", "ACK", "sasl"]));
        assert_eq!(s.send, vec!["AUTHENTICATE EXTERNAL"]);
        assert_eq!(
            n.on_authenticate("+", "me", "pw").send,
            vec!["AUTHENTICATE +"]
        );
        n.on_numeric(
            "900",
            &p(&["me", "me!u@h", "acct", "You are now logged in as acct"]),
        );
        n.on_numeric("903", &p(&["me", "ok"]));
        assert_eq!(n.login(), Some(("EXTERNAL", Some("acct"))));

        let mut n = Negotiator::new(true)
            .with_identify(Identify::SaslThenNickServ)
            .with_external(true);
        n.on_cap(&p(&["*", "LS", "sasl"]));
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        assert_eq!(
            n.on_numeric("908", &p(&["me", "PLAIN,EXTERNAL", "are available"])),
            Some(Step::default())
        );
        let s = n.on_numeric("904", &p(&["me", "failed"])).unwrap();
        assert_eq!(
            (s.send, s.failed),
            (vec!["AUTHENTICATE PLAIN".to_owned()], None)
        );
        assert_eq!(
            n.on_authenticate("+", "me", "pw").send,
            sasl::plain_lines("me", "pw")
        );

        let mut n = Negotiator::new(false).with_external(true);
        n.on_cap(&p(&["*", "LS", "sasl=EXTERNAL"]));
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        let s = n.on_numeric("904", &p(&["me", "failed"])).unwrap();
        assert_eq!((s.send, s.failed), (vec!["CAP END".to_owned()], None));
        assert!(s.notice.unwrap().contains("CERT ADD"));
        assert_eq!(n.login(), None);

        // 908 says PLAIN is not there after all: no second try, IDENTIFY instead.
        let mut n = Negotiator::new(true)
            .with_identify(Identify::SaslThenNickServ)
            .with_external(true);
        n.on_cap(&p(&["*", "LS", "sasl"]));
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        n.on_numeric("908", &p(&["me", "EXTERNAL", "are available"]));
        let s = n.on_numeric("904", &p(&["me", "failed"])).unwrap();
        assert_eq!((s.send, s.failed), (vec!["CAP END".to_owned()], None));
        assert!(s.notice.unwrap().contains("identifying to NickServ"));
        assert!(n.identify_line("acct", "pw").is_some());

        let mut n = Negotiator::new(false).with_external(true);
        let s = n.on_cap(&p(&["*", "LS", "sasl=PLAIN multi-prefix"]));
        assert_eq!(s.send, vec!["CAP REQ :multi-prefix"]);
        assert!(s.notice.unwrap().contains("does not offer SASL EXTERNAL"));
    }

    #[test]
    fn keeps_no_password() {
        let shown = format!("{:?}", Negotiator::new(true));
        assert!(shown.contains("password: true"), "{shown}");
    }

    #[test]
    fn nak_and_timeout_end() {
        let mut n = Negotiator::new(false);
        n.on_cap(&p(&["*", "LS", "multi-prefix"]));
        assert_eq!(
            n.on_cap(&p(&["*", "NAK", "multi-prefix"])).send,
            vec!["CAP END"]
        );
        let mut n = Negotiator::new(true);
        n.on_cap(&p(&["*", "LS", "sasl"]));
        n.on_cap(&p(&["*", "ACK", "sasl"]));
        let s = n.on_timeout();
        assert_eq!(s.send, vec!["AUTHENTICATE *", "CAP END"]);
        assert!(n.on_timeout().send.is_empty());
    }
}
