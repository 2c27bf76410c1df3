//! Logging in to a homeserver, and what is kept of a login.
//!
//! The user's password is used once, for a password login; what Pontoon keeps is the
//! device's access token and id ([`Credentials`], in the transport's encrypted state), so
//! the device, and with it the history the user can read, survives sessions and
//! restarts. The password itself is then forgotten (`LegacyEvent::SecretConsumed`).

use std::time::Duration;

use ruma::api::client::discovery::discover_homeserver;
use ruma::api::client::session::{login, logout};
use ruma::api::client::uiaa::{MatrixUserIdentifier, UserIdentifier};
use serde::{Deserialize, Serialize};

use crate::config::MatrixConfig;
use crate::http::{Http, HttpError};

/// The transport-state key of a user's [`Credentials`].
pub const STATE_KEY: &str = "login";

/// How long a login, a discovery or a logout may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Pontoon's device on the user's account: enough to act as it again.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    /// The client-server API base URL of the user's homeserver.
    pub homeserver: String,
    /// The user's Matrix id.
    pub user_id: String,
    /// Pontoon's device.
    pub device_id: String,
    /// The device's access token. Never logged.
    pub access_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// The API base URL of the homeserver for `user_id`: the fixed one, or the one its server
/// name's `.well-known/matrix/client` names (else `https://<server name>`).
pub async fn homeserver_for(
    cfg: &MatrixConfig,
    http: &Http,
    user_id: &str,
) -> Result<String, String> {
    if let Some(fixed) = &cfg.homeserver {
        return Ok(fixed.as_str().trim_end_matches('/').to_owned());
    }
    let server = user_id
        .split_once(':')
        .map(|(_, s)| s.to_ascii_lowercase())
        .ok_or_else(|| format!("{user_id} has no server name"))?;
    let host = server.rsplit_once(':').map_or(server.as_str(), |(h, _)| h);
    if !cfg.allowed_homeservers.is_empty() && !cfg.allowed_homeservers.iter().any(|a| *a == host) {
        return Err(format!(
            "logging in to {host} is not allowed on this gateway"
        ));
    }
    if cfg.allowed_homeservers.is_empty() && pontoon_core::net::internal_host(host) {
        return Err(format!(
            "logging in to {host} is not allowed on this gateway"
        ));
    }
    let base = format!("https://{server}");
    match http
        .send(
            &base,
            None,
            discover_homeserver::Request::new(),
            LOGIN_TIMEOUT,
        )
        .await
    {
        Ok(found) => {
            let url = crate::config::homeserver_url(&found.homeserver.base_url)
                .map_err(|e| format!("{server}'s .well-known names an unusable homeserver: {e}"))?;
            let named = url.host_str().unwrap_or_default();
            if cfg.allowed_homeservers.is_empty() && pontoon_core::net::internal_host(named) {
                return Err(format!(
                    "{server}'s homeserver is not reachable from this gateway"
                ));
            }
            Ok(url.as_str().trim_end_matches('/').to_owned())
        }
        Err(_) => Ok(base),
    }
}

/// Logs `user` in with `password`, as Pontoon's device `device_id` if it has one already
/// (so its keys and history stay), else as a new device called `device_name`.
pub async fn password_login(
    http: &Http,
    homeserver: &str,
    user: &str,
    password: &str,
    device_id: Option<&str>,
    device_name: &str,
) -> Result<Credentials, HttpError> {
    let info = login::v3::LoginInfo::Password(login::v3::Password::new(
        UserIdentifier::Matrix(MatrixUserIdentifier::new(user.to_owned())),
        password.to_owned(),
    ));
    let mut request = login::v3::Request::new(info);
    request.device_id = device_id.map(Into::into);
    request.initial_device_display_name = Some(device_name.to_owned());
    let answer = http.send(homeserver, None, request, LOGIN_TIMEOUT).await?;
    Ok(Credentials {
        homeserver: homeserver.to_owned(),
        user_id: answer.user_id.to_string(),
        device_id: answer.device_id.to_string(),
        access_token: answer.access_token,
    })
}

/// Logs Pontoon's device out (at unregistration): the homeserver forgets the token and
/// the device.
pub async fn logout(http: &Http, creds: &Credentials) -> Result<(), HttpError> {
    http.send(
        &creds.homeserver,
        Some(&creds.access_token),
        logout::v3::Request::new(),
        LOGIN_TIMEOUT,
    )
    .await
    .map(|_| ())
}
