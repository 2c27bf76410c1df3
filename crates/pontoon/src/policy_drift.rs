//! The configuration file against the store: a transport's policy is seeded from the file
//! at the first start, then lives in the store (the console, the API and `pontoon policy
//! set` change it there). Later edits of the same keys in the file do nothing; `run` and
//! `check-config` say which keys differ and give the command that applies the file's values.

use pontoon_store::TransportPolicy;

/// Keys of the stored policy that the file does not set (run-time switches).
const NOT_IN_FILE: &[&str] = &["debug_logging"];

/// How transport `name`'s policy in the file (`seed`) differs from the stored one, or `None`.
pub struct Drift {
    /// The keys that differ, as `policy set` spells them.
    pub keys: Vec<String>,
    /// `pontoon policy set ...` with the file's values for those keys.
    pub command: String,
}

/// Compares the file's `seed` with the `stored` policy of transport `name`; `flag` is what
/// the command needs to find the store (` --embedded-defaults` or nothing).
pub fn drift(
    name: &str,
    seed: &TransportPolicy,
    stored: &TransportPolicy,
    flag: &str,
) -> Option<Drift> {
    let keys: Vec<String> = seed
        .differences(stored)
        .into_iter()
        .filter(|k| !NOT_IN_FILE.contains(&k.as_str()))
        .collect();
    if keys.is_empty() {
        return None;
    }
    let mut command = format!("pontoon{flag} policy set {}", quote(name));
    for key in &keys {
        let value = match key.as_str() {
            "enabled" => seed.enabled.to_string(),
            "public_registration" => seed.public_registration.to_string(),
            "manual_registration_only" => seed.manual_registration_only.to_string(),
            "allowed_servers" => seed.allowed_servers.join(","),
            "allow_list" => seed.allow_list.join(","),
            "history_days" => seed.history_days.to_string(),
            "history_per_room" => seed.history_per_room.to_string(),
            "always_online_default" => seed.always_online_default.to_string(),
            "always_online_limit" => seed.always_online_limit.to_string(),
            option => option
                .strip_prefix("options.")
                .and_then(|o| seed.options.get(o))
                .cloned()
                // Not in the file: `options.NAME=` removes it from the store.
                .unwrap_or_default(),
        };
        command.push(' ');
        command.push_str(&quote(&format!("{key}={value}")));
    }
    Some(Drift { keys, command })
}

/// `s` as one shell word: as it is when it is made of safe characters, else single-quoted.
fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:=@/+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_command_applies_the_files_values() {
        let mut seed = TransportPolicy {
            enabled: true,
            ..TransportPolicy::default()
        };
        seed.options.insert("connect_port".into(), "6697".into());
        seed.options
            .insert("realname".into(), "Pontoon user's".into());
        let mut stored = TransportPolicy {
            debug_logging: true,
            ..TransportPolicy::default()
        };
        stored.options.insert("tls".into(), "true".into());
        let d = drift("irc", &seed, &stored, "").unwrap();
        assert_eq!(
            d.keys,
            [
                "enabled",
                "options.connect_port",
                "options.realname",
                "options.tls"
            ]
        );
        assert_eq!(
            d.command,
            r"pontoon policy set irc enabled=true options.connect_port=6697 'options.realname=Pontoon user'\''s' options.tls="
        );
        // Debug logging is switched at run time, not in the file.
        let same = TransportPolicy {
            debug_logging: true,
            ..seed.clone()
        };
        assert!(drift("irc", &seed, &same, " --embedded-defaults").is_none());
        // The history limits are the file's, with their numbers.
        let file = TransportPolicy {
            history_days: 0,
            history_per_room: 500,
            ..TransportPolicy::default()
        };
        let d = drift("irc", &file, &TransportPolicy::default(), "").unwrap();
        assert_eq!(d.keys, ["history_days", "history_per_room"]);
        assert_eq!(
            d.command,
            "pontoon policy set irc history_days=0 history_per_room=500"
        );
        // So are the always-online keys, with their values.
        let file = TransportPolicy {
            always_online_default: true,
            always_online_limit: 0,
            ..TransportPolicy::default()
        };
        let d = drift("irc", &file, &TransportPolicy::default(), "").unwrap();
        assert_eq!(d.keys, ["always_online_default", "always_online_limit"]);
        assert_eq!(
            d.command,
            "pontoon policy set irc always_online_default=true always_online_limit=0"
        );
    }
}
