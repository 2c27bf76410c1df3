//! What the server announced about itself (RPL_ISUPPORT, 005) and what follows from it:
//! member prefixes, channel mode classes, case mapping, NAMES entries, roles and modes.
//!
//! Servers differ (`PREFIX=(qaohv)~&@%+` on ngircd, `(ov)@+` on others), so NAMES
//! prefixes and MODE arguments are read with the server's own tables rather than fixed
//! ones; the defaults are RFC 2812's.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use pontoon_core::legacy::{Affiliation, Role};

/// How the server folds case in nicks and channel names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseMapping {
    /// ASCII letters only.
    Ascii,
    /// ASCII plus `[]\~` as the uppercase of `{}|^` (the RFC 1459 default).
    Rfc1459,
}

/// Server features from 005.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ISupport {
    /// Member prefixes, highest first: (mode letter, prefix symbol).
    pub prefix: Vec<(char, char)>,
    /// Channel mode classes A (lists), B (always an argument), C (argument when set), D.
    pub chanmodes: [String; 4],
    /// Case mapping.
    pub casemapping: CaseMapping,
    /// Longest nick, if announced.
    pub nicklen: Option<usize>,
    /// Channel type characters.
    pub chantypes: String,
    /// `MONITOR` support and its list limit (`usize::MAX` when the server names none);
    /// `None` when the server does not offer MONITOR.
    pub monitor: Option<usize>,
}

impl Default for ISupport {
    fn default() -> Self {
        ISupport {
            prefix: vec![('o', '@'), ('v', '+')],
            chanmodes: ["beI".into(), "k".into(), "l".into(), "imnpst".into()],
            casemapping: CaseMapping::Rfc1459,
            nicklen: None,
            chantypes: "#&".into(),
            monitor: None,
        }
    }
}

/// One mode change on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeChange {
    /// `+` or `-`.
    pub set: bool,
    /// The mode letter.
    pub mode: char,
    /// Its argument, if it takes one.
    pub arg: Option<String>,
}

impl ISupport {
    /// Applies the tokens of one 005 line (its parameters without the nick and the
    /// trailing text).
    pub fn apply(&mut self, tokens: &[String]) {
        for token in tokens {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            match key.to_ascii_uppercase().as_str() {
                "PREFIX" => {
                    if let Some((modes, symbols)) =
                        value.strip_prefix('(').and_then(|v| v.split_once(')'))
                    {
                        let pairs: Vec<(char, char)> = modes.chars().zip(symbols.chars()).collect();
                        if !pairs.is_empty() && pairs.len() <= 16 {
                            self.prefix = pairs;
                        }
                    }
                }
                "CHANMODES" => {
                    let mut parts = value.split(',');
                    for slot in self.chanmodes.iter_mut() {
                        *slot = parts.next().unwrap_or("").chars().take(64).collect();
                    }
                }
                "CASEMAPPING" => {
                    self.casemapping = if value.eq_ignore_ascii_case("ascii") {
                        CaseMapping::Ascii
                    } else {
                        CaseMapping::Rfc1459
                    };
                }
                "NICKLEN" => self.nicklen = value.parse().ok().filter(|n| *n > 0),
                "CHANTYPES" => self.chantypes = value.chars().take(8).collect(),
                "MONITOR" => {
                    self.monitor = if value.is_empty() {
                        Some(usize::MAX)
                    } else {
                        value.parse().ok()
                    };
                }
                "-MONITOR" => self.monitor = None,
                _ => {}
            }
        }
    }

    /// Folds a nick or channel name for comparisons.
    pub fn fold(&self, s: &str) -> String {
        s.chars().map(|c| self.fold_char(c)).collect()
    }

    /// Folds one character of a nick or channel name: one character to one, of the same
    /// length in UTF-8 (only ASCII ones change).
    pub fn fold_char(&self, c: char) -> char {
        match (self.casemapping, c) {
            (CaseMapping::Rfc1459, '[') => '{',
            (CaseMapping::Rfc1459, ']') => '}',
            (CaseMapping::Rfc1459, '\\') => '|',
            (CaseMapping::Rfc1459, '~') => '^',
            _ => c.to_ascii_lowercase(),
        }
    }

    /// Whether two nicks or channel names are the same under the case mapping, compared
    /// without folding copies (`fold_char` keeps every character's length, so names of
    /// different lengths differ).
    pub fn same(&self, a: &str, b: &str) -> bool {
        a.len() == b.len()
            && a.chars()
                .zip(b.chars())
                .all(|(x, y)| self.fold_char(x) == self.fold_char(y))
    }

    /// Whether `s` names a channel.
    pub fn is_channel(&self, s: &str) -> bool {
        s.chars()
            .next()
            .is_some_and(|c| self.chantypes.contains(c) || c == '#' || c == '&')
    }

    /// The mode letter of prefix symbol `symbol`.
    pub fn mode_of_symbol(&self, symbol: char) -> Option<char> {
        self.prefix
            .iter()
            .find(|(_, s)| *s == symbol)
            .map(|(m, _)| *m)
    }

    /// Whether `mode` is a member prefix mode (like `o` or `v`).
    pub fn is_prefix_mode(&self, mode: char) -> bool {
        self.prefix.iter().any(|(m, _)| *m == mode)
    }

    /// Splits a NAMES entry into its prefix modes and nick (`@+nick`, or with
    /// userhost-in-names `@nick!user@host`).
    pub fn parse_names_entry(&self, entry: &str) -> (Vec<char>, String) {
        let mut modes = Vec::new();
        let mut rest = entry;
        while let Some(c) = rest.chars().next() {
            match self.mode_of_symbol(c) {
                Some(m) => {
                    modes.push(m);
                    rest = rest.get(c.len_utf8()..).unwrap_or("");
                }
                None => break,
            }
        }
        let nick = rest.split('!').next().unwrap_or(rest).to_owned();
        (modes, nick)
    }

    /// The XMPP role and affiliation of a member with prefix modes `modes`.
    pub fn role_of(&self, modes: &[char]) -> (Role, Affiliation) {
        // The highest prefix wins; PREFIX lists them highest first.
        let Some(rank) = self.prefix.iter().position(|(m, _)| modes.contains(m)) else {
            return (Role::Participant, Affiliation::None);
        };
        let (mode, symbol) = self.prefix.get(rank).copied().unwrap_or(('v', '+'));
        let op_rank = self.prefix.iter().position(|(m, _)| *m == 'o');
        match (mode, symbol) {
            ('q', _) | (_, '~') => (Role::Moderator, Affiliation::Owner),
            ('a', _) | (_, '&') => (Role::Moderator, Affiliation::Admin),
            ('o', _) | (_, '@') => (Role::Moderator, Affiliation::Admin),
            ('h', _) | (_, '%') => (Role::Moderator, Affiliation::Member),
            ('v', _) | (_, '+') => (Role::Participant, Affiliation::Member),
            _ => match op_rank {
                Some(o) if rank < o => (Role::Moderator, Affiliation::Admin),
                _ => (Role::Participant, Affiliation::Member),
            },
        }
    }

    /// Reads a channel MODE line's parameters after the channel (`+ov-k a b key`).
    pub fn parse_modes(&self, params: &[String]) -> Vec<ModeChange> {
        let mut out = Vec::new();
        let Some((letters, args)) = params.split_first() else {
            return out;
        };
        let mut args = args.iter();
        let mut set = true;
        for c in letters.chars().take(64) {
            match c {
                '+' => set = true,
                '-' => set = false,
                m => {
                    let [a, b, cc, _] = &self.chanmodes;
                    let takes = self.is_prefix_mode(m)
                        || a.contains(m)
                        || b.contains(m)
                        || (set && cc.contains(m));
                    let arg = if takes { args.next().cloned() } else { None };
                    out.push(ModeChange { set, mode: m, arg });
                }
            }
        }
        out
    }
}

/// Distinct 005 tables in use, for [`shared`]; a few per network at most.
static TABLES: OnceLock<Mutex<Vec<Weak<ISupport>>>> = OnceLock::new();

/// Most distinct tables kept for sharing: past it, a new one is simply not shared.
const MAX_TABLES: usize = 64;

/// `table`, or an equal one already in use by another connection: every connection to a
/// server announces the same 005, and each kept its own copy (about 400 bytes with its
/// strings, per connection; performance pass 4). Connections change their table only
/// through `Arc::make_mut`, so a shared one is never changed under another.
pub fn shared(table: Arc<ISupport>) -> Arc<ISupport> {
    let tables = TABLES.get_or_init(|| Mutex::new(Vec::new()));
    // A poisoned lock only means another thread panicked while holding it: the list of
    // weak references is still sound.
    let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
    tables.retain(|t| t.strong_count() > 0);
    if let Some(same) = tables
        .iter()
        .filter_map(Weak::upgrade)
        .find(|t| **t == *table)
    {
        return same;
    }
    if tables.len() < MAX_TABLES {
        tables.push(Arc::downgrade(&table));
    }
    table
}

/// The table before the server's 005 (RFC 2812's defaults), shared: built once, not at
/// every connection's start.
pub fn default_shared() -> Arc<ISupport> {
    static DEFAULT: OnceLock<Arc<ISupport>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| shared(Arc::new(ISupport::default())))
        .clone()
}

/// Changes a connection's `table` with `change` (on its own copy if it is shared), then
/// shares the result with the connections that have an equal one.
pub fn update(table: &mut Arc<ISupport>, change: impl FnOnce(&mut ISupport)) {
    change(Arc::make_mut(table));
    *table = shared(table.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ngircd() -> ISupport {
        let mut i = ISupport::default();
        i.apply(&[
            "PREFIX=(qaohv)~&@%+".into(),
            "CHANMODES=beI,k,l,imMnOPQRstVz".into(),
            "CASEMAPPING=ascii".into(),
            "NICKLEN=30".into(),
        ]);
        i
    }

    #[test]
    fn names_entries() {
        let i = ngircd();
        assert_eq!(i.parse_names_entry("@+bob"), (vec!['o', 'v'], "bob".into()));
        assert_eq!(i.parse_names_entry("~alice"), (vec!['q'], "alice".into()));
        assert_eq!(i.parse_names_entry("carol"), (vec![], "carol".into()));
        assert_eq!(
            i.parse_names_entry("%dave!d@host"),
            (vec!['h'], "dave".into())
        );
        let d = ISupport::default();
        assert_eq!(d.parse_names_entry("~x"), (vec![], "~x".into()));
    }

    #[test]
    fn roles() {
        let i = ngircd();
        assert_eq!(i.role_of(&['q']), (Role::Moderator, Affiliation::Owner));
        assert_eq!(i.role_of(&['a']), (Role::Moderator, Affiliation::Admin));
        assert_eq!(
            i.role_of(&['v', 'o']),
            (Role::Moderator, Affiliation::Admin)
        );
        assert_eq!(i.role_of(&['h']), (Role::Moderator, Affiliation::Member));
        assert_eq!(i.role_of(&['v']), (Role::Participant, Affiliation::Member));
        assert_eq!(i.role_of(&[]), (Role::Participant, Affiliation::None));
        let mut odd = ISupport::default();
        odd.apply(&["PREFIX=(Yov)!@+".into()]);
        assert_eq!(odd.role_of(&['Y']), (Role::Moderator, Affiliation::Admin));
    }

    #[test]
    fn modes() {
        let i = ngircd();
        let p: Vec<String> = ["+ov-k+l", "a", "b", "key", "10"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let m = i.parse_modes(&p);
        assert_eq!(
            m,
            vec![
                ModeChange {
                    set: true,
                    mode: 'o',
                    arg: Some("a".into())
                },
                ModeChange {
                    set: true,
                    mode: 'v',
                    arg: Some("b".into())
                },
                ModeChange {
                    set: false,
                    mode: 'k',
                    arg: Some("key".into())
                },
                ModeChange {
                    set: true,
                    mode: 'l',
                    arg: Some("10".into())
                },
            ]
        );
        let p: Vec<String> = ["-l+m"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(i.parse_modes(&p).len(), 2);
        assert!(i.parse_modes(&[]).is_empty());
        // Missing arguments do not panic.
        let p: Vec<String> = vec!["+oooo".into()];
        assert!(i.parse_modes(&p).iter().all(|c| c.arg.is_none()));
    }

    #[test]
    fn monitor_token() {
        let mut i = ISupport::default();
        assert_eq!(i.monitor, None);
        i.apply(&["MONITOR=100".into()]);
        assert_eq!(i.monitor, Some(100));
        i.apply(&["MONITOR".into()]);
        assert_eq!(i.monitor, Some(usize::MAX));
        i.apply(&["-MONITOR".into()]);
        assert_eq!(i.monitor, None);
        i.apply(&["MONITOR=lots".into()]);
        assert_eq!(i.monitor, None);
    }

    #[test]
    fn folding() {
        let i = ISupport::default();
        assert_eq!(i.fold("Nick[A]"), "nick{a}");
        assert_eq!(ngircd().fold("Nick[A]"), "nick[a]");
    }

    #[test]
    fn same_as_folded_equal() {
        let i = ISupport::default();
        for (a, b) in [
            ("Nick[A]", "nick{a}"),
            ("x", "X"),
            ("ab", "abc"),
            ("é", "É"),
            ("", ""),
        ] {
            assert_eq!(i.same(a, b), i.fold(a) == i.fold(b), "{a} / {b}");
            assert_eq!(ngircd().same(a, b), ngircd().fold(a) == ngircd().fold(b));
        }
    }

    #[test]
    fn equal_tables_are_shared_and_changes_copy() {
        let a = default_shared();
        let b = default_shared();
        assert!(Arc::ptr_eq(&a, &b), "one default table");
        let mut c = b.clone();
        Arc::make_mut(&mut c).apply(&["PREFIX=(qov)~@+".to_owned()]);
        assert!(!Arc::ptr_eq(&c, &a), "changed on a copy");
        assert_eq!(
            a.prefix,
            ISupport::default().prefix,
            "the shared one unchanged"
        );
        let c = shared(c);
        let mut d = default_shared();
        update(&mut d, |t| t.apply(&["PREFIX=(qov)~@+".to_owned()]));
        assert!(Arc::ptr_eq(&d, &c), "the same 005 twice: one table");
        assert!(Arc::ptr_eq(&default_shared(), &a), "the default unchanged");
    }
}
