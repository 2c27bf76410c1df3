//! Per-network settings the user changes from their client: a transport declares them
//! ([`Descriptor::network_settings`](crate::transport::Descriptor::network_settings): the
//! IRC transport's nick, server password, NickServ password, commands after connecting,
//! pacing), the user sets them by chat command at a network's JID, or at the transport's
//! for a transport with one network ([`commands`]), and the core keeps them in the user's
//! transport state ([`crate::state`], one value, encrypted at rest) through one operation
//! ([`crate::ops::settings`]). A running session is told of each change
//! ([`LegacyCommand::SettingsChanged`](crate::legacy::LegacyCommand::SettingsChanged)); a new one reads
//! them with [`Settings::load`]. Which change applies when is the transport's to say.
//!
//! A transport may also offer settings per room ([`Descriptor::room_settings`](crate::transport::Descriptor::room_settings): IRC's
//! channel key and encodings), kept the same way under their own key, per room id, and
//! changed at the room's JID: by the ad-hoc command there, or typed in the room as
//! `/settings`, `/set <name> <value>`, `/unset <name>` ([`Scope::Room`]).

pub mod adhoc;
pub mod commands;
pub mod form;

use std::collections::BTreeMap;

use pontoon_store::StoreError;
use serde::{Deserialize, Serialize};

use crate::state::TransportState;
use crate::transport::Invalid;

/// The transport state key holding every network's settings of a user.
pub const STATE_KEY: &str = "pontoon.settings";
/// The transport state key holding every room's settings of a user.
pub const ROOM_STATE_KEY: &str = "pontoon.room-settings";
/// Most networks with settings, per user and transport.
pub const MAX_NETWORKS: usize = 16;
/// Most rooms with settings, per user and transport.
pub const MAX_ROOMS: usize = 64;
/// Longest value, in bytes (a few IRC lines).
pub const MAX_VALUE: usize = 2048;
/// The network name of a transport's only network (a fixed server).
pub const ONLY_NETWORK: &str = "";

/// How a setting is entered and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SettingKind {
    /// One line of text.
    Text,
    /// One line, never shown back (a password).
    Secret,
    /// `on` or `off`.
    Bool,
    /// A whole number from `min` to `max`.
    Number {
        /// Smallest accepted.
        min: u32,
        /// Largest accepted.
        max: u32,
    },
    /// Up to `max` lines of text (commands to send, one per line).
    Lines {
        /// Most lines.
        max: u8,
    },
}

/// One setting a transport offers per network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettingSpec {
    /// The word the user types (`nick`, `server-password`).
    pub name: String,
    /// How it is entered.
    pub kind: SettingKind,
    /// One line of help: what it does and when it applies.
    pub help: String,
    /// What applies while it is not set, where that is a value (a switch's default).
    #[serde(default)]
    pub default: Option<String>,
}

impl SettingSpec {
    /// A setting `name` of `kind`, with one line of `help`.
    pub fn new(name: &str, kind: SettingKind, help: &str) -> Self {
        SettingSpec {
            name: name.to_owned(),
            kind,
            help: help.to_owned(),
            default: None,
        }
    }

    /// The same, with `default` applying while it is not set.
    pub fn with_default(mut self, default: &str) -> Self {
        self.default = Some(default.to_owned());
        self
    }

    /// Checks and normalises `value` for this setting's kind (the transport checks the
    /// meaning afterwards, [`crate::Transport::check_setting`]).
    pub fn check(&self, value: &str) -> Result<String, Invalid> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Invalid(format!(
                "give {} a value, or send \"unset {}\"",
                self.name, self.name
            )));
        }
        if value.len() > MAX_VALUE {
            return Err(Invalid(format!(
                "{} is longer than {MAX_VALUE} bytes",
                self.name
            )));
        }
        let one_line = |v: &str| {
            if v.chars().any(char::is_control) {
                Err(Invalid(format!(
                    "{} must be one line, without control characters",
                    self.name
                )))
            } else {
                Ok(v.to_owned())
            }
        };
        match self.kind {
            SettingKind::Text | SettingKind::Secret => one_line(value),
            SettingKind::Bool => match value.to_ascii_lowercase().as_str() {
                "on" | "yes" | "true" | "1" => Ok("on".to_owned()),
                "off" | "no" | "false" | "0" => Ok("off".to_owned()),
                _ => Err(Invalid(format!("{} is on or off", self.name))),
            },
            SettingKind::Number { min, max } => match value.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                _ => Err(Invalid(format!(
                    "{} is a whole number from {min} to {max}",
                    self.name
                ))),
            },
            SettingKind::Lines { max } => {
                let lines: Vec<&str> = value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                if lines.len() > usize::from(max) {
                    return Err(Invalid(format!("{} takes at most {max} lines", self.name)));
                }
                for l in &lines {
                    one_line(l)?;
                }
                Ok(lines.join("\n"))
            }
        }
    }

    /// How `value` is shown to the user: a secret only as set.
    pub fn shown(&self, value: &str) -> String {
        match self.kind {
            SettingKind::Secret => "(set, not shown)".to_owned(),
            SettingKind::Lines { .. } => value.replace('\n', " | "),
            _ => value.to_owned(),
        }
    }
}

/// One network's values, by setting name.
pub type Values = BTreeMap<String, String>;

/// What settings are about: a network, or a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A network ([`ONLY_NETWORK`] at the transport's JID of a transport with one).
    Network(String),
    /// A room, by its legacy id.
    Room(crate::legacy::LegacyId),
}

impl Scope {
    /// The settings the transport offers here.
    pub fn specs<'a>(&self, descriptor: &'a crate::transport::Descriptor) -> &'a [SettingSpec] {
        match self {
            Scope::Network(_) => &descriptor.network_settings,
            Scope::Room(_) => &descriptor.room_settings,
        }
    }

    /// The name the values are kept under: the network, or the room's id.
    pub fn key(&self) -> String {
        match self {
            Scope::Network(n) => n.clone(),
            Scope::Room(r) => r.to_string(),
        }
    }

    /// The transport state key of this kind of settings.
    pub fn state_key(&self) -> &'static str {
        match self {
            Scope::Network(_) => STATE_KEY,
            Scope::Room(_) => ROOM_STATE_KEY,
        }
    }

    /// What the user's settings here are called (the listing's heading, the form's title).
    pub fn title(&self) -> String {
        match self {
            Scope::Network(n) if n == ONLY_NETWORK => "Your settings here".to_owned(),
            Scope::Network(n) => format!("Your settings for {n}"),
            Scope::Room(r) => format!("Your settings for the room {}", r.name()),
        }
    }

    /// Most networks or rooms with settings.
    pub fn limit(&self) -> usize {
        match self {
            Scope::Network(_) => MAX_NETWORKS,
            Scope::Room(_) => MAX_ROOMS,
        }
    }
}

/// A user's settings on one transport: network ([`ONLY_NETWORK`] for a transport with one)
/// to values. Only networks with something set take room.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Settings(BTreeMap<String, Values>);

impl Settings {
    /// Reads the user's settings from their transport state; a value that does not parse
    /// (written by a newer version, or damaged) counts as none, and says so in the log.
    pub async fn load(state: &TransportState) -> Result<Settings, StoreError> {
        Settings::load_from(state, STATE_KEY).await
    }

    /// The same for the settings kept under `key` ([`STATE_KEY`], [`ROOM_STATE_KEY`]).
    pub async fn load_from(state: &TransportState, key: &str) -> Result<Settings, StoreError> {
        let Some(bytes) = state.get(key).await? else {
            return Ok(Settings::default());
        };
        Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the user's network settings do not parse; ignored");
            Settings::default()
        }))
    }

    /// Writes them back under `key` (deleting the value when nothing is set).
    pub async fn save_to(&self, state: &TransportState, key: &str) -> Result<(), StoreError> {
        if self.0.is_empty() {
            return state.delete(key).await;
        }
        let bytes = serde_json::to_vec(self).map_err(|_| StoreError::Crypto("settings"))?;
        state.put(key, &bytes).await
    }

    /// The values of `network`, if any are set.
    pub fn network(&self, network: &str) -> Option<&Values> {
        self.0.get(network)
    }

    /// Every network (or room) with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Values)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Sets `name` of `network` to `value` (checked already); refused when it would make
    /// more than [`MAX_NETWORKS`] networks.
    pub fn set(&mut self, network: &str, name: &str, value: String) -> Result<(), Invalid> {
        self.set_within(network, name, value, MAX_NETWORKS)
    }

    /// The same with `limit` networks or rooms.
    pub fn set_within(
        &mut self,
        network: &str,
        name: &str,
        value: String,
        limit: usize,
    ) -> Result<(), Invalid> {
        if !self.0.contains_key(network) && self.0.len() >= limit {
            return Err(Invalid(format!(
                "settings are kept for at most {limit} networks or rooms: unset some elsewhere first"
            )));
        }
        self.0
            .entry(network.to_owned())
            .or_default()
            .insert(name.to_owned(), value);
        Ok(())
    }

    /// Puts `values` for `network` as they now are (a session told of a change).
    pub fn replace(&mut self, network: &str, values: Values) {
        if values.is_empty() {
            self.0.remove(network);
        } else {
            self.0.insert(network.to_owned(), values);
        }
    }

    /// Removes `name` of `network`; whether it was set.
    pub fn unset(&mut self, network: &str, name: &str) -> bool {
        let Some(values) = self.0.get_mut(network) else {
            return false;
        };
        let was = values.remove(name).is_some();
        if values.is_empty() {
            self.0.remove(network);
        }
        was
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_are_checked_by_kind() {
        let text = SettingSpec::new("nick", SettingKind::Text, "");
        assert_eq!(text.check("  bob ").unwrap(), "bob");
        assert!(text.check("a\rb").is_err());
        assert!(text.check("").is_err());
        assert!(text.check(&"x".repeat(MAX_VALUE + 1)).is_err());
        let b = SettingSpec::new("sasl", SettingKind::Bool, "");
        assert_eq!(b.check("Yes").unwrap(), "on");
        assert_eq!(b.check("off").unwrap(), "off");
        assert!(b.check("maybe").is_err());
        let n = SettingSpec::new("burst", SettingKind::Number { min: 1, max: 20 }, "");
        assert_eq!(n.check("05").unwrap(), "5");
        assert!(n.check("0").is_err() && n.check("21").is_err() && n.check("-1").is_err());
        let l = SettingSpec::new("commands", SettingKind::Lines { max: 2 }, "");
        assert_eq!(
            l.check("MODE me +i\n\n  AWAY :x ").unwrap(),
            "MODE me +i\nAWAY :x"
        );
        assert!(l.check("a\nb\nc").is_err());
        assert!(l.check("a\u{0}b").is_err());
        assert_eq!(l.shown("a\nb"), "a | b");
        let s = SettingSpec::new("pw", SettingKind::Secret, "");
        assert_eq!(s.shown("hunter2"), "(set, not shown)");
    }

    #[test]
    fn networks_are_bounded_and_emptied() {
        let mut s = Settings::default();
        for i in 0..MAX_NETWORKS {
            s.set(&format!("n{i}"), "nick", "a".into()).unwrap();
        }
        assert!(s.set("one-more", "nick", "a".into()).is_err());
        // A network already there takes more.
        s.set("n0", "other", "b".into()).unwrap();
        assert!(s.unset("n1", "nick"));
        assert!(!s.unset("n1", "nick"));
        assert_eq!(s.network("n1"), None);
        s.set("one-more", "nick", "a".into()).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Settings>(&json).unwrap(), s);
    }

    #[test]
    fn the_spec_is_json_for_backends() {
        let spec = SettingSpec::new("burst", SettingKind::Number { min: 1, max: 9 }, "h");
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains(r#""type":"number""#), "{json}");
        assert_eq!(serde_json::from_str::<SettingSpec>(&json).unwrap(), spec);
    }
}
