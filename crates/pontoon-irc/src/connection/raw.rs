//! The user's raw commands on this connection (checked by `crate::raw`), and the server's
//! answers shown back from the network's JID for a while after each.

use std::time::Duration;

use tokio::time::Instant;

use pontoon_core::legacy::LegacyEvent;

use super::Conn;
use crate::format;
use crate::line::IrcLine;

/// How long after a raw command the server's otherwise unread lines are its answer.
const ANSWER_WINDOW: Duration = Duration::from_secs(10);

impl Conn {
    /// Sends a raw line the user typed (after registration, as every user line), and shows
    /// what the server answers for a while.
    pub(super) fn send_raw(&mut self, line: String) {
        if !self.queue_control(line) {
            self.network_notice(
                "Too many lines are waiting to be sent; the command was not sent.".to_owned(),
            );
            return;
        }
        self.occasional().raw_until = Some(Instant::now() + ANSWER_WINDOW);
    }

    /// Whether the server's lines now answer a raw command the user sent lately.
    pub(super) fn answering_raw(&self) -> bool {
        self.occasional
            .as_ref()
            .and_then(|o| o.raw_until)
            .is_some_and(|t| Instant::now() < t)
    }

    /// A numeric nothing else reads, as the answer to the user's raw command: its
    /// parameters after the user's own nick, readable.
    pub(super) fn raw_answer(&mut self, l: &IrcLine) {
        let text = l
            .params
            .iter()
            .skip(1)
            .map(|p| format::strip(p))
            .collect::<Vec<_>>()
            .join(" ");
        if !text.trim().is_empty() {
            self.network_notice(text);
        }
    }

    /// Text from the network: from its JID, or from the transport's when the transport is
    /// fixed to this one server (it has no network JID).
    pub(super) fn network_notice(&mut self, text: String) {
        match &self.label {
            Some(network) => {
                let network = network.clone();
                self.emit(LegacyEvent::NetworkNotice { network, text });
            }
            None => self.notice(text),
        }
    }
}
