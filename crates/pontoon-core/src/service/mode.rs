//! What component mode and server mode do differently in one transport's service, said in
//! one place instead of as branches through it.
//!
//! - **Component mode** (XEP-0114): users register; their presence logs them in from the
//!   stored registration, and the service probes registered users to log them in (at
//!   link-up, when the transport is enabled, after a changed registration).
//! - **Server mode** (`crate::server`): the XMPP login is the legacy login. Sessions start
//!   only there, with the password the user gave; when one ends, the router closes the
//!   user's streams and they log in again. Nothing is probed, nothing logs in by itself.

use jid::BareJid;
use tracing::warn;
use xmpp_parsers::disco::DiscoInfoResult;

use crate::server::ServerState;

/// The mode a service runs in.
pub(crate) enum Mode {
    /// An XEP-0114 component of the user's own server.
    Component,
    /// Pontoon is the user's server; its state of the logins.
    Server(ServerState),
}

impl Mode {
    /// Whether stored registrations log users in (a presence, a probe's answer, a
    /// message): component mode. In server mode only a login starts a session.
    pub(crate) fn registrations_log_in(&self) -> bool {
        matches!(self, Mode::Component)
    }

    /// The server-mode state, in server mode.
    pub(crate) fn server(&self) -> Option<&ServerState> {
        match self {
            Mode::Server(state) => Some(state),
            Mode::Component => None,
        }
    }

    /// The server-mode state, in server mode.
    pub(crate) fn server_mut(&mut self) -> Option<&mut ServerState> {
        match self {
            Mode::Server(state) => Some(state),
            Mode::Component => None,
        }
    }

    /// What the domain's own disco#info adds: in server mode the domain is the user's
    /// server too.
    pub(crate) fn extend_domain_info(&self, info: &mut DiscoInfoResult) {
        if let Mode::Server(server) = self {
            crate::disco::add_server_identity(info);
            if let Some(uploads) = &server.options.uploads {
                uploads.extend_disco(info);
            }
        }
    }

    /// The upload service the domain offers: in server mode, where configured.
    pub(crate) fn uploads(&self) -> Option<std::sync::Arc<crate::upload::UploadPolicy>> {
        self.server().and_then(|s| s.options.uploads.clone())
    }

    /// The help text's lines on logging in and out of the transport `name` at `domain`.
    pub(crate) fn account_help(&self, name: &str, domain: &str) -> String {
        match self {
            Mode::Server(_) => format!(
                "- You are logged in to {name} while you are logged in to this server.\n\
                 - Add contacts as address@{domain}; your client can turn an address into a JID for you.\n\
                 - Log out of this server to log out of {name}.\n"
            ),
            Mode::Component => format!(
                "- Register: open {domain} in your client's service discovery and choose Register\n\
                 \x20 (in-band registration), then accept the transport's presence subscription.\n\
                 - Add contacts as address@{domain}; your client can turn an address into a JID for you.\n\
                 - You are logged in while you are online and the transport is in your roster.\n\
                 - Remove the transport from your roster, or unregister, to stop.\n"
            ),
        }
    }

    /// `user`'s current session ended. Server mode forgets the login (the next one checks
    /// the password with the network again) and tells the router, which closes the user's
    /// streams.
    pub(crate) fn session_ended(&mut self, user: &BareJid) {
        let Mode::Server(server) = self else {
            return;
        };
        server.accounts.remove(user);
        // Never wait on the router (it may be waiting on this service): if it is that far
        // behind, the user's streams stay open and their next stanza is answered "log in
        // again".
        if server.options.ended.try_send(user.clone()).is_err() {
            warn!(user = %user, "could not tell the client router that the session ended");
        }
    }
}
