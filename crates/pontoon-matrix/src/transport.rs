//! The [`Transport`] implementation: what the core sees of Matrix.

use std::collections::BTreeMap;
use std::sync::Arc;

use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent, LegacyId};
use pontoon_core::state::TransportState;
use pontoon_core::transport::{
    Address, Descriptor, FieldKind, Invalid, RegistrationField, Transport,
};

use crate::config::MatrixConfig;
use crate::http::Http;
use crate::ids::{self, MatrixId};
use crate::session;

fn descriptor(cfg: &MatrixConfig) -> Descriptor {
    let user_label = match cfg.fixed_server_name() {
        Some(server) => format!("Matrix user name (like alice, or @alice:{server})"),
        None => "Matrix id (like @alice:matrix.org)".to_owned(),
    };
    Descriptor {
        gateway_type: "matrix".to_owned(),
        registration_instructions: "Log in with your Matrix account. Pontoon becomes one of its devices and keeps that device's token, not your password.".to_owned(),
        registration_fields: vec![
            RegistrationField::new("username", &user_label, FieldKind::Text, true),
            RegistrationField::new("password", "Password", FieldKind::Password, true),
        ],
        prompt: "Enter the Matrix id of the contact, like @bob:matrix.org.".to_owned(),
        commands: Vec::new(),
        network_settings: Vec::new(),
        room_settings: Vec::new(),
        one_network: false,
    }
}

/// The Matrix transport.
pub struct MatrixTransport {
    cfg: Arc<MatrixConfig>,
    descriptor: Descriptor,
    /// One connection pool for every session.
    http: Http,
    /// Turns among the sessions logging in ([`MatrixConfig::logins_at_once`]).
    logins: Arc<tokio::sync::Semaphore>,
}

impl MatrixTransport {
    /// A transport with this configuration, or why it cannot run.
    pub fn new(cfg: MatrixConfig) -> Result<Self, String> {
        // The operator's own homeserver and list may be on internal addresses.
        let mut trusted: Vec<String> = cfg.allowed_homeservers.clone();
        trusted.extend(cfg.own_hosts.iter().cloned());
        if let Some(host) = cfg.homeserver.as_ref().and_then(|u| u.host_str()) {
            trusted.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
        }
        let http = Http::new(trusted, cfg.max_response_bytes)?;
        Ok(MatrixTransport {
            descriptor: descriptor(&cfg),
            logins: Arc::new(tokio::sync::Semaphore::new(cfg.logins_at_once)),
            cfg: Arc::new(cfg),
            http,
        })
    }

    /// The user id a registration form's user name stands for.
    fn user_id(&self, input: &str) -> Result<String, Invalid> {
        let input = input.trim();
        // Server mode's `alice%matrix.org` login names the same id as `@alice:matrix.org`.
        let swapped;
        let input = match input.rsplit_once('%') {
            Some((local, server)) if !input.contains(':') => {
                swapped = format!("{local}:{server}");
                swapped.as_str()
            }
            _ => input,
        };
        let full = if input.contains(':') {
            input.to_owned()
        } else {
            match self.cfg.fixed_server_name() {
                Some(server) => format!("@{}:{server}", input.trim_start_matches('@')),
                None => {
                    return Err(Invalid(
                        "give your whole Matrix id, like @alice:matrix.org".to_owned(),
                    ));
                }
            }
        };
        let full = if full.starts_with('@') {
            full
        } else {
            format!("@{full}")
        };
        match ids::parse(&ids::local_text(&MatrixId::User(full)))? {
            MatrixId::User(u) => Ok(u),
            _ => Err(Invalid(format!("{input:?} is not a Matrix user id"))),
        }
    }
}

impl Transport for MatrixTransport {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn send_deadline(&self) -> Option<std::time::Duration> {
        Some(self.cfg.send_deadline)
    }

    fn account_from_form(
        &self,
        values: &BTreeMap<String, String>,
    ) -> Result<LegacyAccount, Invalid> {
        let user_id = self.user_id(values.get("username").map_or("", String::as_str))?;
        let server = user_id.split_once(':').map_or("", |(_, s)| s);
        let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
        match self.cfg.fixed_server_name() {
            Some(fixed) if fixed != server && fixed != host => {
                return Err(Invalid(format!(
                    "this gateway only logs in to {fixed}: give a user id ending in :{fixed}"
                )));
            }
            Some(_) => {}
            None if !self.cfg.allowed_homeservers.is_empty() => {
                if !self.cfg.allowed_homeservers.iter().any(|a| a == host) {
                    return Err(Invalid(format!(
                        "logging in to {host} is not allowed on this gateway"
                    )));
                }
            }
            None => {
                if pontoon_core::net::internal_host(host) {
                    return Err(Invalid(format!(
                        "logging in to {host} is not allowed on this gateway"
                    )));
                }
            }
        }
        let password = values.get("password").filter(|p| !p.is_empty()).cloned();
        let Some(password) = password else {
            return Err(Invalid("the password is required".to_owned()));
        };
        if password.contains('\0') || password.len() > 1024 {
            return Err(Invalid(
                "the password contains NUL or is too long".to_owned(),
            ));
        }
        Ok(LegacyAccount {
            legacy_id: user_id,
            secret: Some(password),
            options: BTreeMap::new(),
        })
    }

    fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid> {
        match ids::parse(input)? {
            MatrixId::User(u) => Ok(ids::contact(&u)),
            _ => Err(Invalid(
                "that is a room; join it as a group chat instead".to_owned(),
            )),
        }
    }

    /// A Matrix id, or a bare server name: the homeserver whose public rooms service
    /// discovery lists.
    fn parse_address(&self, local: &str) -> Result<Address, Invalid> {
        let bare = local.trim();
        if !bare.contains([':', '@', '#', '!', '^']) && pontoon_core::net::plausible_host(bare) {
            return Ok(Address::Network(bare.to_ascii_lowercase()));
        }
        Ok(match ids::parse(local)? {
            MatrixId::User(u) => Address::Contact(ids::contact(&u)),
            room => Address::Room(ids::room(&room)),
        })
    }

    fn contact_name(&self, id: &LegacyId) -> String {
        ids::of(id).map_or_else(|_| id.name().to_owned(), |m| m.as_str().to_owned())
    }

    /// Logs Pontoon's device out, so the homeserver forgets its token and the user's
    /// device list no longer shows it.
    fn forget(&self, state: TransportState) -> pontoon_core::transport::Forget {
        let http = self.http.clone();
        Box::pin(async move {
            let stored = state.get(crate::login::STATE_KEY).await.ok().flatten()?;
            let creds: crate::login::Credentials = serde_json::from_slice(&stored).ok()?;
            let goodbye: pontoon_core::transport::Goodbye = Box::pin(async move {
                match crate::login::logout(&http, &creds).await {
                    Ok(()) => {
                        tracing::info!(device_id = %creds.device_id, "logged Pontoon's Matrix device out")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "logging Pontoon's Matrix device out failed")
                    }
                }
            });
            Some(goodbye)
        })
    }

    /// A Matrix file for the user's XMPP client, downloaded with Pontoon's device token
    /// (authenticated media).
    fn fetch_media(
        &self,
        state: TransportState,
        reference: String,
        max_bytes: u64,
    ) -> pontoon_core::media::MediaFetch {
        let http = self.http.clone();
        Box::pin(async move {
            use pontoon_core::media::FetchError;
            let stored = state
                .get(crate::login::STATE_KEY)
                .await
                .map_err(|e| FetchError::Unavailable(format!("the gateway's store failed: {e}")))?
                .ok_or_else(|| {
                    FetchError::Unavailable("the user is no longer logged in to Matrix".to_owned())
                })?;
            let creds: crate::login::Credentials =
                serde_json::from_slice(&stored).map_err(|_| {
                    FetchError::Unavailable("the user's Matrix login could not be read".to_owned())
                })?;
            crate::media::fetch(&http, &creds, &reference, max_bytes).await
        })
    }

    fn start_session(
        &self,
        account: LegacyAccount,
        events: channel::Sender<LegacyEvent>,
        state: TransportState,
    ) -> channel::Sender<LegacyCommand> {
        let shared = session::Shared {
            cfg: self.cfg.clone(),
            http: self.http.clone(),
            logins: self.logins.clone(),
        };
        session::start(shared, account, events, state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn form(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fixed() -> MatrixTransport {
        let mut o = BTreeMap::new();
        o.insert("homeserver".to_owned(), "http://127.0.0.1:8008".to_owned());
        o.insert("server_name".to_owned(), "localhost".to_owned());
        MatrixTransport::new(MatrixConfig::from_options(&o).unwrap()).unwrap()
    }

    #[test]
    fn registration() {
        let t = fixed();
        let a = t
            .account_from_form(&form(&[("username", "alice"), ("password", "pw")]))
            .unwrap();
        assert_eq!(a.legacy_id, "@alice:localhost");
        assert_eq!(a.secret.as_deref(), Some("pw"));
        let a = t
            .account_from_form(&form(&[
                ("username", "@alice:localhost"),
                ("password", "pw"),
            ]))
            .unwrap();
        assert_eq!(a.legacy_id, "@alice:localhost");
        let a = t
            .account_from_form(&form(&[
                ("username", "alice%localhost"),
                ("password", "pw"),
            ]))
            .unwrap();
        assert_eq!(a.legacy_id, "@alice:localhost");
        let e = t
            .account_from_form(&form(&[
                ("username", "@alice:evil.org"),
                ("password", "pw"),
            ]))
            .unwrap_err();
        assert!(e.0.contains("only logs in to localhost"), "{e}");
        assert!(
            t.account_from_form(&form(&[("username", "alice")]))
                .is_err()
        );
        let open = MatrixTransport::new(MatrixConfig::default()).unwrap();
        let e = open
            .account_from_form(&form(&[("username", "@a:127.0.0.1"), ("password", "pw")]))
            .unwrap_err();
        assert!(e.0.contains("not allowed"), "{e}");
        assert!(
            open.account_from_form(&form(&[("username", "alice"), ("password", "p")]))
                .is_err()
        );
    }

    #[test]
    fn addresses() {
        let t = fixed();
        assert_eq!(
            t.parse_address("bob:localhost").unwrap(),
            Address::Contact(LegacyId::new("bob:localhost", None))
        );
        assert!(matches!(
            t.parse_address("#room:localhost").unwrap(),
            Address::Room(_)
        ));
        assert!(matches!(
            t.parse_address("!^ab:localhost").unwrap(),
            Address::Room(_)
        ));
        assert_eq!(
            t.contact_name(&LegacyId::new("bob:localhost", None)),
            "@bob:localhost"
        );
        assert!(t.normalize_contact("#room:x").is_err());
        assert_eq!(
            t.parse_address("Matrix.org").unwrap(),
            Address::Network("matrix.org".into())
        );
        assert_eq!(t.descriptor().gateway_type, "matrix");
    }
}
