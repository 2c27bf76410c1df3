//! `[http]`: the public file listener (`pontoon-http`): XEP-0363 uploads in server mode,
//! and links to the networks' files (Matrix media) in both modes. Off unless configured:
//! it is the one listener an operator exposes to the world.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// Where the file listener listens by default: loopback (a TLS proxy in front publishes
/// it as `public_url`).
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8781";

/// A size: a whole number of bytes, or text with a unit (`"20M"`, `"512K"`, `"1G"`;
/// binary units).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Size {
    /// Bytes.
    Bytes(u64),
    /// With a unit.
    Text(String),
}

impl Size {
    /// The size in bytes, or why it is not one.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => {
                let t = t.trim();
                let (num, shift) = match t.char_indices().last() {
                    Some((i, 'K' | 'k')) => (&t[..i], 10),
                    Some((i, 'M' | 'm')) => (&t[..i], 20),
                    Some((i, 'G' | 'g')) => (&t[..i], 30),
                    _ => (t, 0),
                };
                num.trim()
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| n.checked_mul(1 << shift))
                    .ok_or_else(|| format!("{t:?} is not a size (bytes, or like \"20M\")"))
            }
        }
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Run the listener.
    pub enabled: bool,
    /// `IP:port` to listen on.
    pub listen: String,
    /// The URL clients reach the listener at (through a proxy, usually https).
    pub public_url: String,
    /// Hours a link to a network's file stays valid.
    pub media_link_hours: u64,
    /// Largest network file passed on through a link.
    pub max_media_size: Size,
    /// `[http.upload]`.
    pub upload: UploadSection,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            enabled: false,
            listen: DEFAULT_HTTP_LISTEN.into(),
            public_url: String::new(),
            media_link_hours: 168,
            max_media_size: Size::Text("100M".into()),
            upload: UploadSection::default(),
        }
    }
}

/// Limits that can be set per transport and per user.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// Largest file.
    pub max_file_size: Option<Size>,
    /// Bytes of stored files per user.
    pub quota: Option<Size>,
}

/// `[http.upload]`: XEP-0363 (server mode).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadSection {
    /// Offer uploads (server mode, with `[http]` enabled).
    pub enabled: bool,
    /// Largest file.
    pub max_file_size: Size,
    /// Bytes of stored files (and open slots) per user.
    pub quota: Size,
    /// Days files are kept; 0 keeps them.
    pub retention_days: u64,
    /// Seconds a slot waits for its upload.
    pub slot_secs: u64,
    /// Media types accepted (`image/*` allowed); empty: any.
    pub allowed_types: Vec<String>,
    /// A command each upload is handed to before it is served (its path is the last
    /// argument; exit 0 passes it).
    pub scanner: Vec<String>,
    /// Seconds the scanner may take.
    pub scanner_timeout_secs: u64,
    /// Limits per transport, by name.
    pub transports: BTreeMap<String, LimitsOverride>,
    /// Limits per user, by bare JID.
    pub users: BTreeMap<String, LimitsOverride>,
}

impl Default for UploadSection {
    fn default() -> Self {
        UploadSection {
            enabled: true,
            max_file_size: Size::Text("20M".into()),
            quota: Size::Text("500M".into()),
            retention_days: 30,
            slot_secs: 300,
            allowed_types: Vec::new(),
            scanner: Vec::new(),
            scanner_timeout_secs: 60,
            transports: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }
}

impl HttpSection {
    /// The listen address (valid once validated; the default otherwise).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 8781)))
    }

    /// The public URL without its trailing slash.
    pub fn public_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// The host of the public URL, lower case, if it has one.
    pub fn public_host(&self) -> Option<String> {
        let rest = self.public_url.split_once("://")?.1;
        let authority = rest.split(['/', '?', '#']).next()?;
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    /// Link lifetime.
    pub fn media_link_lifetime(&self) -> Duration {
        Duration::from_secs(self.media_link_hours.saturating_mul(3600))
    }

    /// What is wrong with the section: (key path under `http`, message).
    pub fn problems(&self) -> Vec<(Vec<String>, String)> {
        let mut out = Vec::new();
        let mut at = |keys: &[&str], m: String| {
            out.push((keys.iter().map(|k| (*k).to_owned()).collect(), m));
        };
        if !self.enabled {
            return out;
        }
        if self.listen.parse::<SocketAddr>().is_err() {
            at(
                &["listen"],
                format!("{:?} is not an IP:port address", self.listen),
            );
        }
        let url = self.public_url.to_ascii_lowercase();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || self.public_host().is_none()
        {
            at(
                &["public_url"],
                "must be the http(s) URL clients reach the listener at, like https://files.example.org".into(),
            );
        }
        if self.media_link_hours == 0 {
            at(&["media_link_hours"], "must be at least 1".into());
        }
        if let Err(e) = self.max_media_size.bytes() {
            at(&["max_media_size"], e);
        }
        let u = &self.upload;
        for (key, size) in [("max_file_size", &u.max_file_size), ("quota", &u.quota)] {
            if let Err(e) = size.bytes() {
                at(&["upload", key], e);
            }
        }
        if u.slot_secs == 0 {
            at(&["upload", "slot_secs"], "must be at least 1".into());
        }
        for (kind, map) in [("transports", &u.transports), ("users", &u.users)] {
            for (name, o) in map {
                for (key, size) in [("max_file_size", &o.max_file_size), ("quota", &o.quota)] {
                    if let Some(Err(e)) = size.as_ref().map(Size::bytes) {
                        at(&["upload", kind, name, key], e);
                    }
                }
                if kind == "users" && jid::BareJid::new(name).is_err() {
                    at(
                        &["upload", kind, name],
                        format!("{name:?} is not a bare JID"),
                    );
                }
            }
        }
        for t in &u.allowed_types {
            if !t.contains('/') {
                at(
                    &["upload", "allowed_types"],
                    format!("{t:?} is not a media type like image/png or image/*"),
                );
            }
        }
        out
    }

    /// The upload policy of transport `name`'s users, when uploads are on.
    pub fn upload_policy(&self, name: &str) -> Option<pontoon_core::upload::UploadPolicy> {
        use pontoon_core::upload::{UploadLimits, UploadPolicy};
        if !(self.enabled && self.upload.enabled) {
            return None;
        }
        let u = &self.upload;
        let base = UploadLimits {
            max_file_size: u.max_file_size.bytes().unwrap_or(0),
            quota: u.quota.bytes().unwrap_or(0),
        };
        let apply = |l: &UploadLimits, o: &LimitsOverride| UploadLimits {
            max_file_size: o
                .max_file_size
                .as_ref()
                .and_then(|s| s.bytes().ok())
                .unwrap_or(l.max_file_size),
            quota: o
                .quota
                .as_ref()
                .and_then(|s| s.bytes().ok())
                .unwrap_or(l.quota),
        };
        let limits = match u.transports.get(name) {
            Some(o) => apply(&base, o),
            None => base,
        };
        let users = u
            .users
            .iter()
            .filter_map(|(jid, o)| Some((jid::BareJid::new(jid).ok()?, apply(&limits, o))))
            .collect();
        Some(UploadPolicy {
            public_url: self.public_url().to_owned(),
            limits,
            users,
            allowed_types: u.allowed_types.clone(),
            slot_lifetime: Duration::from_secs(u.slot_secs),
            retention: self.retention(),
        })
    }

    /// How long uploaded files are kept.
    pub fn retention(&self) -> Option<Duration> {
        (self.upload.retention_days > 0)
            .then(|| Duration::from_secs(self.upload.retention_days.saturating_mul(86_400)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(Size::Bytes(7).bytes().unwrap(), 7);
        assert_eq!(Size::Text("20M".into()).bytes().unwrap(), 20 << 20);
        assert_eq!(Size::Text(" 3 k".into()).bytes().unwrap(), 3072);
        assert!(Size::Text("lots".into()).bytes().is_err());
        assert!(Size::Text("99999999999999G".into()).bytes().is_err());
    }

    #[test]
    fn limits_per_transport_and_user() {
        let s: HttpSection = toml::from_str(
            r#"
            enabled = true
            public_url = "https://files.example.org/"
            [upload]
            max_file_size = 1000
            [upload.transports.irc]
            max_file_size = "2K"
            [upload.users."big@example.org"]
            quota = "1G"
            "#,
        )
        .unwrap();
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert_eq!(s.public_host().as_deref(), Some("files.example.org"));
        let irc = s.upload_policy("irc").unwrap();
        assert_eq!(irc.public_url, "https://files.example.org");
        assert_eq!(irc.limits.max_file_size, 2048);
        let big = jid::BareJid::new("big@example.org").unwrap();
        assert_eq!(irc.limits_of(&big).quota, 1 << 30);
        assert_eq!(irc.limits_of(&big).max_file_size, 2048);
        assert_eq!(
            s.upload_policy("matrix").unwrap().limits.max_file_size,
            1000
        );
        let bad: HttpSection = toml::from_str("enabled = true\npublic_url = \"ftp://x\"").unwrap();
        assert_eq!(bad.problems()[0].0, vec!["public_url".to_owned()]);
    }
}
