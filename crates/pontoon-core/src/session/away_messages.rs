//! Direct messages while the user is away (always online, component mode): the user chooses
//! (ad-hoc command *Stay online while away*, `crate::ops::always_online`) whether they go to
//! their server at once, which keeps them for their clients as any offline message (the
//! default), or wait here and are sent when a client of theirs is back, with the time they
//! came (XEP-0203). Kept in the store's offline messages (`pontoon_store::OfflineMessage`,
//! 1,000 at most, 30 days), under the user and transport; a message that cannot be kept
//! goes to the server at once: none is lost. Server mode keeps them in any case (its router,
//! `crate::server::offline`).

use minidom::Element;
use tracing::{debug, info, warn};

use super::Session;

/// The transport-state key of the choice: `keep`, or `send` (the default).
pub const AWAY_MESSAGES_KEY: &str = "pontoon.away-messages";

/// How many kept messages are read at once when they are handed over.
const PAGE: i64 = 100;

impl Session {
    /// The choice, read when the session goes away.
    pub(super) async fn read_away_choice(&mut self) {
        self.away.keep_messages = !self.ctx.ends_with_login
            && matches!(
                self.transport_state.get(AWAY_MESSAGES_KEY).await,
                Ok(Some(v)) if v == b"keep"
            );
    }

    /// Whether a direct message for the user waits here rather than going out now.
    pub(crate) fn keeps_while_away(&self) -> bool {
        self.away.keep_messages && self.away.since.is_some()
    }

    /// The offline queue of this user on this transport.
    fn away_queue(&self) -> String {
        pontoon_store::away_queue(self.user.as_str(), &self.ctx.transport_name)
    }

    /// Keeps `message` (to the user) until a client is back, stamped with now; sends it at
    /// once when it cannot be kept.
    pub(crate) async fn keep_while_away(&self, mut message: Element) {
        let now = crate::archive::now_micros();
        if let Some(delay) = crate::archive::mam::delay(now, Some(self.ctx.domain.clone()), None) {
            message.append_child(delay.into());
        }
        // Our serializer, not minidom's (which panics on U+FFFE, valid in an IRC line):
        // see `crate::stanza::to_xml`.
        let Some(xml) = crate::stanza::to_xml(&message) else {
            self.send(message).await;
            return;
        };
        let kept = self
            .ctx
            .store
            .put_offline(&self.away_queue(), now, &xml)
            .await;
        match kept {
            Ok(true) => debug!("a message kept while away"),
            Ok(false) => {
                warn!("too many messages kept while away: this one goes to the user's server");
                self.send(message).await;
            }
            Err(e) => {
                warn!(error = %e, "could not keep a message while away: it goes to the user's server");
                self.send(message).await;
            }
        }
    }

    /// A client is back: what was kept for it goes out, oldest first, then is forgotten.
    pub(super) async fn hand_over_kept(&self) {
        let queue = self.away_queue();
        let mut handed = 0usize;
        loop {
            let page = match self.ctx.store.offline_messages(&queue, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    warn!(error = %e, "could not read the messages kept while away; they wait for the next return");
                    return;
                }
            };
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            for kept in &page {
                match kept.stanza.parse::<Element>() {
                    Ok(m) => self.send(m).await,
                    Err(_) => warn!(seq = kept.seq, "a kept message no longer reads; forgotten"),
                }
            }
            handed += page.len();
            if let Err(e) = self.ctx.store.delete_offline(&queue, last).await {
                // Sent again at the next return: twice rather than never.
                warn!(error = %e, "could not forget the messages handed over");
                return;
            }
        }
        if handed > 0 {
            info!(messages = handed, "messages kept while away handed over");
        }
    }
}
