//! Presence badges: a user's choice to show their presence on a transport over HTTP
//! (`pontoon_http`'s `/presence/...` routes). Off by default, since presence is personal;
//! the user turns it on and off with the `badge` command to the transport, an operator
//! from the console or the REST API, both through [`set`].

use jid::BareJid;
use pontoon_store::Store;

use super::OpsError;
use crate::control::{ServiceControl, UserPresence};

/// Turns `user`'s presence badge on `transport` on or off; returns whether that changed
/// anything.
pub async fn set(
    store: &Store,
    transport: &str,
    user: &BareJid,
    on: bool,
) -> Result<bool, OpsError> {
    Ok(store
        .set_presence_badge(transport, user.as_str(), on)
        .await?)
}

/// Whether `user` shows their presence on `transport`.
pub async fn is_on(store: &Store, transport: &str, user: &BareJid) -> Result<bool, OpsError> {
    Ok(store.presence_badge(transport, user.as_str()).await?)
}

/// What `user`'s badge on `service`'s transport shows now; `None` when they did not turn
/// it on (the caller answers exactly as for a user it never heard of).
pub async fn shown(
    store: &Store,
    service: &ServiceControl,
    user: &BareJid,
) -> Result<Option<UserPresence>, OpsError> {
    Ok(is_on(store, service.transport(), user)
        .await?
        .then(|| service.presence_of(user)))
}

/// What a path segment keeps as it is: the unreserved characters and `@` (RFC 3986).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// The address of `user`'s badge on `transport` under the listener's `public_url`, without
/// its `.svg` or `.json` ending.
pub fn url(public_url: &str, transport: &str, user: &BareJid) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string();
    format!(
        "{}/presence/{}/{}",
        public_url.trim_end_matches('/'),
        enc(transport),
        enc(user.as_str())
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_are_escaped() {
        let user = BareJid::new("a.b+c@example.org").unwrap();
        assert_eq!(
            url("https://x.example/", "irc", &user),
            "https://x.example/presence/irc/a.b%2Bc@example.org"
        );
    }
}
