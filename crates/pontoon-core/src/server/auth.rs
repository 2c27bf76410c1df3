//! Server-mode login: the legacy network checks the credentials. The password lives only
//! in the session's memory (and as a salted SHA-256 here, to refuse a second login with
//! another password); it is never written to the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jid::BareJid;
use pontoon_xmpp::c2s::{AuthFuture, AuthOutcome, AuthRequest, Authenticator, Password};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::{LoginOutcome, ServerAccount};
use crate::control::ServiceControl;
use crate::legacy::LegacyAccount;
use crate::policy::Action;
use crate::service::Service;
use crate::session::SessionInput;

/// How long a legacy login may take before the XMPP login fails with
/// `temporary-auth-failure` (below the c2s listener's own limit).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(45);

/// A salted SHA-256 of a password.
pub(crate) fn password_hash(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Compares two hashes in constant time.
pub(crate) fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The legacy username and network in a SASL username: `nick%network` when the transport
/// reaches several networks (its form has a `network` field), else the whole username.
pub(crate) fn split_username(username: &str, has_network: bool) -> (String, Option<String>) {
    match username.rsplit_once('%') {
        Some((nick, net)) if has_network => (nick.to_owned(), Some(net.to_owned())),
        _ => (username.to_owned(), None),
    }
}

impl Service {
    /// Handles a login request from the c2s authenticator.
    pub(crate) async fn on_login(
        &mut self,
        user: BareJid,
        username: String,
        password: Password,
        reply: oneshot::Sender<LoginOutcome>,
    ) {
        let outcome = self.try_login(user, username, password, reply).await;
        if let Some((reply, outcome)) = outcome {
            let _ = reply.send(outcome);
        }
    }

    /// Starts (or joins) the login; returns the reply with an immediate outcome, or `None`
    /// when the session answers it.
    async fn try_login(
        &mut self,
        user: BareJid,
        username: String,
        password: Password,
        reply: oneshot::Sender<LoginOutcome>,
    ) -> Option<(oneshot::Sender<LoginOutcome>, LoginOutcome)> {
        let Some(server) = self.mode.server() else {
            return Some((
                reply,
                LoginOutcome::TemporaryFailure("This gateway does not accept logins".to_owned()),
            ));
        };
        let allow_unauthenticated = server.options.allow_unauthenticated;
        self.reload_policy().await;
        if let Err(refusal) = self.check(&user, Action::Use) {
            return Some((reply, LoginOutcome::NotAuthorized(refusal.text)));
        }
        if let Some(handle) = self.sessions.get(&user) {
            if handle.ending {
                return Some((
                    reply,
                    LoginOutcome::TemporaryFailure(
                        "Your previous session is still ending; try again in a moment".to_owned(),
                    ),
                ));
            }
            let same = self
                .mode
                .server()
                .and_then(|s| s.accounts.get(&user))
                .is_some_and(|a| same_hash(&a.hash, &password_hash(&a.salt, password.expose())));
            if !same {
                info!(user = %user, "second login with another password refused");
                return Some((
                    reply,
                    LoginOutcome::NotAuthorized(
                        "This account is already connected through Pontoon with another password"
                            .to_owned(),
                    ),
                ));
            }
            let tx = handle.tx.clone();
            if let Err(e) = tx.try_send(SessionInput::AwaitLogin {
                reply,
                require_checked: !allow_unauthenticated,
            }) {
                let reply = match e.into_inner() {
                    SessionInput::AwaitLogin { reply, .. } => reply,
                    _ => return None,
                };
                return Some((
                    reply,
                    LoginOutcome::TemporaryFailure("Your session is busy; try again".to_owned()),
                ));
            }
            return None;
        }
        let has_network = self
            .transport
            .descriptor()
            .registration_fields
            .iter()
            .any(|f| f.var == "network");
        let (legacy_user, network) = split_username(&username, has_network);
        let mut values = BTreeMap::new();
        values.insert("username".to_owned(), legacy_user);
        values.insert("password".to_owned(), password.expose().to_owned());
        if let Some(net) = network {
            values.insert("network".to_owned(), net);
        }
        let account: LegacyAccount = match self.transport.account_from_form(&values) {
            Ok(a) => a,
            Err(e) => return Some((reply, LoginOutcome::NotAuthorized(e.0))),
        };
        if account.secret.is_none() && !allow_unauthenticated {
            return Some((
                reply,
                LoginOutcome::NotAuthorized(format!(
                    "{} cannot check this login and the operator does not allow unchecked logins",
                    self.cfg.display_name
                )),
            ));
        }
        let salt: [u8; 16] = rand::random();
        let hash = password_hash(&salt, password.expose());
        drop(password);
        info!(user = %user, "server-mode login to the legacy network");
        let handle = self.start_session(user.clone(), account, (None, None, false));
        if let Some(server) = self.mode.server_mut() {
            server.accounts.insert(user, ServerAccount { salt, hash });
        }
        // A fresh inbox has room for this first input.
        if let Err(e) = handle.tx.try_send(SessionInput::AwaitLogin {
            reply,
            require_checked: !allow_unauthenticated,
        }) && let SessionInput::AwaitLogin { reply, .. } = e.into_inner()
        {
            return Some((
                reply,
                LoginOutcome::TemporaryFailure("The session did not start".to_owned()),
            ));
        }
        None
    }
}

/// The token of a successful login (`AuthOutcome::Success`): the router marks it bound when
/// the connection binds a resource; dropped unbound (the client never bound), it tells the
/// router, which logs the user out unless another of their clients is bound.
#[derive(Debug)]
pub struct LoginGuard {
    user: BareJid,
    bound: bool,
    abandoned: mpsc::Sender<BareJid>,
}

impl LoginGuard {
    /// The connection bound a resource (or resumed a session).
    pub fn mark_bound(&mut self) {
        self.bound = true;
    }
}

impl Drop for LoginGuard {
    fn drop(&mut self) {
        if !self.bound {
            // Bounded: if the router is that far behind, the session ends at the
            // listener's own timeouts or the next logout instead.
            let _ = self.abandoned.try_send(self.user.clone());
        }
    }
}

/// The c2s authenticator of server mode: finds the transport by the domain the client
/// logs in to and asks its service to log in to the legacy network.
#[derive(Clone)]
pub struct LegacyAuthenticator {
    services: Arc<BTreeMap<String, ServiceControl>>,
    abandoned: mpsc::Sender<BareJid>,
}

impl LegacyAuthenticator {
    /// An authenticator over the services of server mode, by their (served) domains;
    /// logins whose connection never binds are reported on `abandoned` (the router's).
    pub fn new(
        services: impl IntoIterator<Item = ServiceControl>,
        abandoned: mpsc::Sender<BareJid>,
    ) -> Self {
        let services = services
            .into_iter()
            .map(|c| (c.domain().to_ascii_lowercase(), c))
            .collect();
        LegacyAuthenticator {
            services: Arc::new(services),
            abandoned,
        }
    }
}

impl Authenticator for LegacyAuthenticator {
    fn authenticate(&self, req: AuthRequest) -> AuthFuture {
        let service = self
            .services
            .get(&req.jid.domain().as_str().to_ascii_lowercase())
            .cloned();
        let abandoned = self.abandoned.clone();
        Box::pin(async move {
            let Some(service) = service else {
                return AuthOutcome::NotAuthorized(format!(
                    "{} is not served here",
                    req.jid.domain()
                ));
            };
            match service
                .login(req.jid.clone(), req.username, req.password, LOGIN_TIMEOUT)
                .await
            {
                LoginOutcome::Success => AuthOutcome::Success(Box::new(LoginGuard {
                    user: req.jid,
                    bound: false,
                    abandoned,
                })),
                LoginOutcome::NotAuthorized(t) => AuthOutcome::NotAuthorized(t),
                LoginOutcome::TemporaryFailure(t) => AuthOutcome::TemporaryFailure(t),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_split_on_the_last_percent() {
        assert_eq!(
            split_username("nick%irc.libera.chat", true),
            ("nick".to_owned(), Some("irc.libera.chat".to_owned()))
        );
        assert_eq!(split_username("nick%x", false), ("nick%x".to_owned(), None));
        assert_eq!(split_username("nick", true), ("nick".to_owned(), None));
    }

    #[test]
    fn hashes_compare() {
        let salt = [7u8; 16];
        let a = password_hash(&salt, "pw");
        assert!(same_hash(&a, &password_hash(&salt, "pw")));
        assert!(!same_hash(&a, &password_hash(&salt, "pw2")));
        assert!(!same_hash(&a, &password_hash(&[8u8; 16], "pw")));
    }
}
