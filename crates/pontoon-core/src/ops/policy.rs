//! Changing a transport's policy (enabled, registration rules, allowed servers, the allow
//! list, debug logging, how much history the archive keeps, who stays online while away,
//! options): one set of checks
//! and one store update, for the console, the REST API and the command line alike
//! (`pontoon policy set` used to store its lists unchecked).

use std::collections::BTreeMap;

use jid::BareJid;
use pontoon_store::{Store, TransportPolicy};

use super::OpsError;

/// A change to a policy: each `Some` field replaces the stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// The transport takes users.
    pub enabled: Option<bool>,
    /// Its debug logging is on.
    pub debug_logging: Option<bool>,
    /// Anyone may register in band.
    pub public_registration: Option<bool>,
    /// Only operators register users.
    pub manual_registration_only: Option<bool>,
    /// The legacy servers users may reach (empty: any).
    pub allowed_servers: Option<Vec<String>>,
    /// Who may use the transport (bare JIDs or domains; empty: everyone).
    pub allow_list: Option<Vec<String>>,
    /// The transport's options.
    pub options: Option<BTreeMap<String, String>>,
    /// Days the message archive keeps (0: nothing is archived).
    pub history_days: Option<u32>,
    /// Messages the archive keeps per room, at most (0: no count limit).
    pub history_per_room: Option<u32>,
    /// Users stay online while away unless they say otherwise.
    pub always_online_default: Option<bool>,
    /// At most this many users are kept online while away at once (0: nobody is).
    pub always_online_limit: Option<u32>,
}

/// The keys [`PolicyChange::from_pairs`] knows.
pub const KEYS: &str = "enabled, public_registration, manual_registration_only, debug_logging, allowed_servers, allow_list, history_days, history_per_room, always_online_default, always_online_limit, options.NAME for a transport option (empty to remove it)";

/// The most days of history a policy may keep (100 years).
pub const MAX_HISTORY_DAYS: u32 = 36_500;
/// The most messages per room a policy may keep.
pub const MAX_HISTORY_PER_ROOM: u32 = 10_000_000;
/// The most users a policy may keep online while away at once, per transport.
pub const MAX_ALWAYS_ONLINE_LIMIT: u32 = 1_000_000;

/// Checks a `history_days` value: at most [`MAX_HISTORY_DAYS`]. The text says why not (the
/// key is the caller's to name).
pub fn check_history_days(days: u32) -> Result<(), String> {
    if days > MAX_HISTORY_DAYS {
        return Err(format!(
            "{days} is more than {MAX_HISTORY_DAYS} (0 turns archiving off)"
        ));
    }
    Ok(())
}

/// Checks a `history_per_room` value: at most [`MAX_HISTORY_PER_ROOM`]. The text says why
/// not (the key is the caller's to name).
pub fn check_history_per_room(per_room: u32) -> Result<(), String> {
    if per_room > MAX_HISTORY_PER_ROOM {
        return Err(format!(
            "{per_room} is more than {MAX_HISTORY_PER_ROOM} (0 means no count limit)"
        ));
    }
    Ok(())
}

/// Checks an `always_online_limit` value: at most [`MAX_ALWAYS_ONLINE_LIMIT`]. The text
/// says why not (the key is the caller's to name).
pub fn check_always_online_limit(limit: u32) -> Result<(), String> {
    if limit > MAX_ALWAYS_ONLINE_LIMIT {
        return Err(format!(
            "{limit} is more than {MAX_ALWAYS_ONLINE_LIMIT} (0: nobody is kept online while away)"
        ));
    }
    Ok(())
}

/// The prefix of option keys in [`PolicyChange::from_pairs`], as in the configuration file's
/// `[transports.NAME.options]`.
pub const OPTION_PREFIX: &str = "options.";

impl PolicyChange {
    /// A change from `key=value` settings (the command line's form): booleans as
    /// true/false/yes/no/on/off/1/0, numbers in decimal, lists comma-separated,
    /// `options.NAME=VALUE` sets one of the transport's options over `current_options` (an
    /// empty value removes it).
    pub fn from_pairs(
        settings: &BTreeMap<String, String>,
        current_options: &BTreeMap<String, String>,
    ) -> Result<Self, OpsError> {
        let mut c = PolicyChange::default();
        for (key, value) in settings {
            if let Some(option) = key.strip_prefix(OPTION_PREFIX) {
                if option.is_empty() {
                    return Err(OpsError::Invalid(format!(
                        "{key:?}: name the option ({OPTION_PREFIX}connect_port=6697)"
                    )));
                }
                let options = c.options.get_or_insert_with(|| current_options.clone());
                match value.trim() {
                    "" => options.remove(option),
                    v => options.insert(option.to_owned(), v.to_owned()),
                };
                continue;
            }
            match key.as_str() {
                "enabled" => c.enabled = Some(boolean(key, value)?),
                "public_registration" => c.public_registration = Some(boolean(key, value)?),
                "manual_registration_only" => {
                    c.manual_registration_only = Some(boolean(key, value)?)
                }
                "debug_logging" => c.debug_logging = Some(boolean(key, value)?),
                "allowed_servers" => c.allowed_servers = Some(comma_list(value)),
                "allow_list" => c.allow_list = Some(comma_list(value)),
                "history_days" => c.history_days = Some(number(key, value)?),
                "history_per_room" => c.history_per_room = Some(number(key, value)?),
                "always_online_default" => c.always_online_default = Some(boolean(key, value)?),
                "always_online_limit" => c.always_online_limit = Some(number(key, value)?),
                other => {
                    return Err(OpsError::Invalid(format!(
                        "unknown policy key {other:?}: the keys are {KEYS}; is it a transport option? then {OPTION_PREFIX}{other}"
                    )));
                }
            }
        }
        Ok(c)
    }

    /// What changes, for the audit log line (option values can be secrets: keys only).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let mut flag = |name: &str, v: Option<bool>| {
            if let Some(v) = v {
                parts.push(format!("{name}={v}"));
            }
        };
        flag("enabled", self.enabled);
        flag("debug_logging", self.debug_logging);
        flag("public_registration", self.public_registration);
        flag("manual_registration_only", self.manual_registration_only);
        // Lists as `pontoon policy set` takes them (comma-separated), not Rust's debug form.
        if let Some(l) = &self.allowed_servers {
            parts.push(format!("allowed_servers={}", l.join(",")));
        }
        if let Some(l) = &self.allow_list {
            parts.push(format!("allow_list={}", l.join(",")));
        }
        if let Some(n) = self.history_days {
            parts.push(format!("history_days={n}"));
        }
        if let Some(n) = self.history_per_room {
            parts.push(format!("history_per_room={n}"));
        }
        if let Some(v) = self.always_online_default {
            parts.push(format!("always_online_default={v}"));
        }
        if let Some(n) = self.always_online_limit {
            parts.push(format!("always_online_limit={n}"));
        }
        if let Some(o) = &self.options {
            let keys: Vec<&str> = o.keys().map(String::as_str).collect();
            parts.push(format!("option_keys={}", keys.join(",")));
        }
        parts.join(" ")
    }

    /// The change with its lists checked and normalised (blanks and repeats dropped), its
    /// history limits checked ([`MAX_HISTORY_DAYS`], [`MAX_HISTORY_PER_ROOM`]), its
    /// always-online limit checked ([`MAX_ALWAYS_ONLINE_LIMIT`]), and its options checked by
    /// `validate_options`.
    pub fn checked(
        mut self,
        validate_options: impl FnOnce(&BTreeMap<String, String>) -> Result<(), String>,
    ) -> Result<Self, OpsError> {
        if let Some(l) = &self.allowed_servers {
            self.allowed_servers = Some(check_list(l, server_domain)?);
        }
        if let Some(l) = &self.allow_list {
            self.allow_list = Some(check_list(l, jid_or_domain)?);
        }
        if let Some(n) = self.history_days {
            check_history_days(n).map_err(|e| OpsError::Invalid(format!("history_days: {e}")))?;
        }
        if let Some(n) = self.history_per_room {
            check_history_per_room(n)
                .map_err(|e| OpsError::Invalid(format!("history_per_room: {e}")))?;
        }
        if let Some(n) = self.always_online_limit {
            check_always_online_limit(n)
                .map_err(|e| OpsError::Invalid(format!("always_online_limit: {e}")))?;
        }
        if let Some(o) = &self.options {
            validate_options(o).map_err(|e| OpsError::Invalid(format!("options: {e}")))?;
        }
        Ok(self)
    }

    fn apply_to(self, p: &mut TransportPolicy) {
        if let Some(v) = self.enabled {
            p.enabled = v;
        }
        if let Some(v) = self.debug_logging {
            p.debug_logging = v;
        }
        if let Some(v) = self.public_registration {
            p.public_registration = v;
        }
        if let Some(v) = self.manual_registration_only {
            p.manual_registration_only = v;
        }
        if let Some(l) = self.allowed_servers {
            p.allowed_servers = l;
        }
        if let Some(l) = self.allow_list {
            p.allow_list = l;
        }
        if let Some(o) = self.options {
            p.options = o;
        }
        if let Some(n) = self.history_days {
            p.history_days = n;
        }
        if let Some(n) = self.history_per_room {
            p.history_per_room = n;
        }
        if let Some(v) = self.always_online_default {
            p.always_online_default = v;
        }
        if let Some(n) = self.always_online_limit {
            p.always_online_limit = n;
        }
    }
}

/// Stores a [`PolicyChange::checked`] change to `transport`'s policy in one store
/// transaction (a concurrent change of other fields is kept); returns the policy before and
/// after.
pub async fn change(
    store: &Store,
    transport: &str,
    change: PolicyChange,
) -> Result<(TransportPolicy, TransportPolicy), OpsError> {
    Ok(store
        .update_transport_policy(transport, |p| change.apply_to(p))
        .await?)
}

fn boolean(key: &str, value: &str) -> Result<bool, OpsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(OpsError::Invalid(format!(
            "{key}: {value:?} is not true or false"
        ))),
    }
}

fn number(key: &str, value: &str) -> Result<u32, OpsError> {
    let v = value.trim();
    v.parse().map_err(|_| {
        OpsError::Invalid(if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            format!("{key}: {v} is too large")
        } else {
            format!("{key}: {value:?} is not a whole number (0 or more)")
        })
    })
}

fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks one `allowed_servers` entry: a server domain.
fn server_domain(entry: &str) -> Result<String, OpsError> {
    BareJid::new(entry.trim())
        .ok()
        .filter(|j| j.node().is_none())
        .map(|j| j.to_string())
        .ok_or_else(|| {
            OpsError::Invalid(format!(
                "allowed servers: {entry:?} is not a server domain (example.org)"
            ))
        })
}

/// Checks one `allow_list` entry: a bare JID or a domain.
fn jid_or_domain(entry: &str) -> Result<String, OpsError> {
    BareJid::new(entry.trim())
        .map(|j| j.to_string())
        .map_err(|_| {
            OpsError::Invalid(format!(
                "allow list: {entry:?} is neither a bare JID (user@example.org) nor a domain"
            ))
        })
}

/// Checks and normalises a list, dropping blanks and repeats (order kept).
fn check_list(
    list: &[String],
    check: fn(&str) -> Result<String, OpsError>,
) -> Result<Vec<String>, OpsError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for entry in list.iter().filter(|e| !e.trim().is_empty()) {
        let e = check(entry)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pairs(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn summary_is_plain_text_without_option_values() {
        let c = PolicyChange {
            enabled: Some(false),
            allowed_servers: Some(vec!["a.org".into(), "b.org".into()]),
            allow_list: Some(Vec::new()),
            options: Some(BTreeMap::from([(
                "nickserv_password".into(),
                "s3cret".into(),
            )])),
            ..PolicyChange::default()
        };
        assert_eq!(
            c.summary(),
            "enabled=false allowed_servers=a.org,b.org allow_list= option_keys=nickserv_password"
        );
    }

    #[test]
    fn lists_are_checked_and_normalised() {
        let l = check_list(
            &["Example.ORG".into(), " ".into(), "example.org".into()],
            server_domain,
        )
        .unwrap();
        assert_eq!(l, ["example.org"]);
        assert!(check_list(&["a@example.org".into()], server_domain).is_err());
        let l = check_list(
            &["a@example.org".into(), "example.net".into()],
            jid_or_domain,
        )
        .unwrap();
        assert_eq!(l, ["a@example.org", "example.net"]);
        assert!(check_list(&["a@b/c d".into(), "@@".into()], jid_or_domain).is_err());
    }

    #[test]
    fn pairs_are_parsed_and_lists_checked() {
        let none = BTreeMap::new();
        let c = PolicyChange::from_pairs(
            &pairs(&[
                ("enabled", "yes"),
                (
                    "allowed_servers",
                    "irc.libera.chat, ,irc.libera.chat,irc.oftc.net",
                ),
            ]),
            &none,
        )
        .unwrap()
        .checked(|_| Ok(()))
        .unwrap();
        assert_eq!(c.enabled, Some(true));
        assert_eq!(
            c.allowed_servers.as_deref(),
            Some(&["irc.libera.chat".to_owned(), "irc.oftc.net".to_owned()][..])
        );
        let bad =
            PolicyChange::from_pairs(&pairs(&[("allowed_servers", "user@irc.example")]), &none)
                .unwrap()
                .checked(|_| Ok(()));
        assert!(matches!(bad, Err(OpsError::Invalid(t)) if t.contains("not a server domain")));
        assert!(PolicyChange::from_pairs(&pairs(&[("enabled", "maybe")]), &none).is_err());
        assert!(PolicyChange::from_pairs(&pairs(&[("colour", "red")]), &none).is_err());
    }

    #[test]
    fn history_limits_are_numbers_within_bounds() {
        let none = BTreeMap::new();
        let c = PolicyChange::from_pairs(
            &pairs(&[("history_days", " 7 "), ("history_per_room", "0")]),
            &none,
        )
        .unwrap()
        .checked(|_| Ok(()))
        .unwrap();
        assert_eq!((c.history_days, c.history_per_room), (Some(7), Some(0)));
        assert_eq!(c.summary(), "history_days=7 history_per_room=0");
        let mut p = TransportPolicy::default();
        c.apply_to(&mut p);
        assert_eq!((p.history_days, p.history_per_room), (7, 0));
        // Not numbers: refused by name.
        for bad in ["thirty", "-1", "1.5", ""] {
            let e = PolicyChange::from_pairs(&pairs(&[("history_days", bad)]), &none).unwrap_err();
            assert!(
                matches!(&e, OpsError::Invalid(t) if t.starts_with("history_days:") && t.contains("not a whole number")),
                "{e}"
            );
        }
        let e = PolicyChange::from_pairs(&pairs(&[("history_per_room", "99999999999")]), &none)
            .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        // The limits: at them is fine, beyond is refused.
        let at = PolicyChange {
            history_days: Some(MAX_HISTORY_DAYS),
            history_per_room: Some(MAX_HISTORY_PER_ROOM),
            ..PolicyChange::default()
        };
        assert!(at.checked(|_| Ok(())).is_ok());
        let days = PolicyChange {
            history_days: Some(MAX_HISTORY_DAYS + 1),
            ..PolicyChange::default()
        }
        .checked(|_| Ok(()));
        assert!(
            matches!(&days, Err(OpsError::Invalid(t)) if t == "history_days: 36501 is more than 36500 (0 turns archiving off)"),
            "{days:?}"
        );
        let per_room = PolicyChange {
            history_per_room: Some(MAX_HISTORY_PER_ROOM + 1),
            ..PolicyChange::default()
        }
        .checked(|_| Ok(()));
        assert!(
            matches!(&per_room, Err(OpsError::Invalid(t)) if t.starts_with("history_per_room: 10000001 is more than 10000000")),
            "{per_room:?}"
        );
    }

    #[test]
    fn always_online_is_a_boolean_and_a_number_within_bounds() {
        let none = BTreeMap::new();
        let c = PolicyChange::from_pairs(
            &pairs(&[
                ("always_online_default", "yes"),
                ("always_online_limit", " 0 "),
            ]),
            &none,
        )
        .unwrap()
        .checked(|_| Ok(()))
        .unwrap();
        assert_eq!(
            (c.always_online_default, c.always_online_limit),
            (Some(true), Some(0))
        );
        assert_eq!(
            c.summary(),
            "always_online_default=true always_online_limit=0"
        );
        let mut p = TransportPolicy::default();
        assert_eq!(
            (p.always_online_default, p.always_online_limit),
            (false, pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT)
        );
        c.apply_to(&mut p);
        assert_eq!((p.always_online_default, p.always_online_limit), (true, 0));
        // Not a boolean, not a number: refused by name.
        let e = PolicyChange::from_pairs(&pairs(&[("always_online_default", "maybe")]), &none)
            .unwrap_err();
        assert!(
            matches!(&e, OpsError::Invalid(t) if t.starts_with("always_online_default:")),
            "{e}"
        );
        let e =
            PolicyChange::from_pairs(&pairs(&[("always_online_limit", "-1")]), &none).unwrap_err();
        assert!(
            matches!(&e, OpsError::Invalid(t) if t.starts_with("always_online_limit:") && t.contains("not a whole number")),
            "{e}"
        );
        // The limit: at it is fine, beyond is refused.
        let at = PolicyChange {
            always_online_limit: Some(MAX_ALWAYS_ONLINE_LIMIT),
            ..PolicyChange::default()
        };
        assert!(at.checked(|_| Ok(())).is_ok());
        let beyond = PolicyChange {
            always_online_limit: Some(MAX_ALWAYS_ONLINE_LIMIT + 1),
            ..PolicyChange::default()
        }
        .checked(|_| Ok(()));
        assert!(
            matches!(&beyond, Err(OpsError::Invalid(t)) if t.starts_with("always_online_limit: 1000001 is more than 1000000")),
            "{beyond:?}"
        );
    }

    #[test]
    fn options_are_set_over_the_current_ones() {
        let current = pairs(&[("connect_host", "irc.example.org"), ("tls", "true")]);
        let c = PolicyChange::from_pairs(
            &pairs(&[
                ("options.connect_port", "6697"),
                ("options.tls", ""),
                ("enabled", "true"),
            ]),
            &current,
        )
        .unwrap();
        assert_eq!(
            c.options,
            Some(pairs(&[
                ("connect_host", "irc.example.org"),
                ("connect_port", "6697")
            ]))
        );
        // No option key: the options are left alone.
        let c = PolicyChange::from_pairs(&pairs(&[("enabled", "true")]), &current).unwrap();
        assert_eq!(c.options, None);
        let e =
            PolicyChange::from_pairs(&pairs(&[("connect_port", "6697")]), &current).unwrap_err();
        assert!(e.to_string().contains("options.connect_port"), "{e}");
        assert!(PolicyChange::from_pairs(&pairs(&[("options.", "1")]), &current).is_err());
    }
}
