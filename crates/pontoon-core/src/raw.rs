//! A network's own commands, typed to its JID (`irc.libera.chat@irc.example.org`): the
//! transport checks each line ([`Transport::check_raw`](crate::transport::Transport::check_raw))
//! before it goes, so a refusal bounces the user's very message with its condition, and
//! the network's answers come back from the same JID
//! ([`LegacyEvent::NetworkNotice`](crate::legacy::LegacyEvent::NetworkNotice)).

use minidom::Element;

use crate::service::{Offer, Service, busy};
use crate::session::{Session, SessionInput};
use crate::stanza::{self, Refusal};
use crate::transport::RawRefused;

impl Service {
    /// A message from `user` to the JID of `network`: its body is a raw command.
    pub(crate) async fn on_raw(&mut self, el: &Element, user: &jid::BareJid, network: String) {
        let Some(line) = stanza::body_of(el) else {
            self.refuse(
                el,
                Refusal::modify("bad-request", "Type a command to the network as text."),
            )
            .await;
            return;
        };
        let line = line.trim().to_owned();
        // `help` in lower case is Pontoon's; the network's own (IRC's HELP) is typed as the
        // network spells it.
        if line == "help" {
            self.network_help(el, &network).await;
            return;
        }
        if let Some(request) = crate::settings::commands::Request::parse(&line) {
            let reply = crate::settings::commands::Reply::Chat;
            let scope = crate::settings::Scope::Network(network);
            self.on_settings(el, user, scope, request, reply).await;
            return;
        }
        if let Err(refused) = self.transport.check_raw(&network, &line) {
            let refusal = match &refused {
                RawRefused::Unsupported => {
                    Refusal::cancel("feature-not-implemented", refused.to_string())
                }
                RawRefused::Malformed(_) => Refusal::modify("bad-request", refused.to_string()),
                RawRefused::Forbidden(_) => Refusal::cancel("not-allowed", refused.to_string()),
            };
            self.refuse(el, refusal).await;
            return;
        }
        let input = SessionInput::Raw {
            network,
            line,
            stanza: el.clone(),
        };
        let refusal = match self.offer(user, input) {
            Offer::Taken => return,
            Offer::Busy(_) => busy(),
            Offer::NoSession(_) => Refusal::wait(
                "recipient-unavailable",
                "You are not connected: send your presence to the transport first.",
            ),
        };
        self.refuse(el, refusal).await;
    }
}

impl Service {
    /// Answers `help` at the JID of `network`, from there.
    async fn network_help(&mut self, el: &Element, network: &str) {
        let (Ok(from), Some(to)) = (
            crate::escape::legacy_jid(network, self.domain_jid.domain().as_str(), None),
            el.attr("from").and_then(|f| jid::Jid::new(f).ok()),
        ) else {
            return;
        };
        let text = self.transport.network_help(network).unwrap_or_else(|| {
            format!(
                "This is {network}, a network of the {} transport: write to its contacts and rooms at their own addresses on {}.",
                self.cfg.display_name, self.cfg.domain
            )
        });
        self.send(stanza::chat(from, to, &text)).await;
    }
}

impl Session {
    /// Sends the user's raw command, once the session is logged in.
    pub(crate) async fn send_raw(&mut self, network: String, line: String, stanza: Element) {
        if !self.is_online() {
            let refusal = Refusal::wait(
                "recipient-unavailable",
                "Still connecting to the network: send the command again in a moment.",
            );
            self.bounce(&stanza, refusal).await;
            return;
        }
        let command = crate::legacy::LegacyCommand::Raw { network, line };
        if self.legacy.send(command).await.is_err() {
            self.bounce(
                &stanza,
                Refusal::wait(
                    "recipient-unavailable",
                    "The connection to the network ended.",
                ),
            )
            .await;
        }
    }

    /// Text from `network`, from its JID.
    pub(crate) async fn network_notice(&self, network: &str, text: &str) {
        if let Some(from) = self.contact_jid(network) {
            self.notice_from(&from, text).await;
        }
    }
}
