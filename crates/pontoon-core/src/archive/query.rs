//! Answers MAM queries in a task of their own ([`serve`]): the loop that read the query
//! (a service's, or server mode's router) hands it over and goes on, so a slow archive read
//! holds up nobody else. [`super::Archive`] bounds how many run at once; one more is refused
//! with `resource-constraint` (wait) rather than queued without bound.

use pontoon_xmpp::OutStanza;
use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use pontoon_store::ArchiveKey;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Archive, mam};
use crate::stanza::Refusal;

/// Messages of a page sent between two turns given to other tasks.
const YIELD_EVERY: usize = 16;

/// Whose archive a query reads.
pub(crate) enum Whose {
    /// A room's (its legacy id), read by `user` within the spans they were in it; `with`
    /// names an occupant.
    Room {
        /// The room's legacy id.
        room: String,
        /// Who asks.
        user: BareJid,
    },
    /// A user's own (server mode: their direct chats); `with` names a contact.
    User(BareJid),
}

/// Where a query's answers go.
pub(crate) enum Answers {
    /// The service's link (component mode).
    Link(mpsc::Sender<OutStanza>),
    /// The asking client's queue (server mode).
    Client(mpsc::Sender<pontoon_xmpp::c2s::Outgoing>),
}

impl Answers {
    /// Sends `el`; false when nobody takes answers any more.
    async fn send(&self, el: Element) -> bool {
        match self {
            Answers::Link(tx) => tx.send(el.into()).await.is_ok(),
            Answers::Client(tx) => tx.send(el.into()).await.is_ok(),
        }
    }
}

/// A query to answer.
pub(crate) struct Query {
    pub archive: Arc<Archive>,
    /// Where the answers go.
    pub out: Answers,
    pub whose: Whose,
    /// The archive's JID (the room's, the user's bare JID): the results come from it.
    pub jid: Jid,
}

/// Answers the iq `iq` (with its `<query/>` `payload`) in a task; the answers go to `out`.
pub(crate) fn serve(q: Query, iq: Element, payload: &Element) {
    let asked = mam::parse(payload);
    let Some(to) = iq.attr("from").and_then(|f| Jid::new(f).ok()) else {
        return;
    };
    let permit = q.archive.queries.clone().try_acquire_owned();
    tokio::spawn(
        async move {
            // The permit lives as long as this task: the bound is on rendering and sending
            // the page as well as reading it.
            let answer = match (asked, &permit) {
                (Err(refusal), _) => Err(refusal),
                (Ok(_), Err(_)) => Err(Refusal::wait(
                    "resource-constraint",
                    "The archive is busy; ask again in a moment.",
                )),
                (Ok(mut asked), Ok(_)) => {
                    let transport = q.archive.transport();
                    let with = asked.with.take();
                    // A user's archive `with` a contact: that chat only.
                    let contact = with
                        .as_ref()
                        .and_then(|w| w.node().map(|n| crate::escape::unescape(n.as_str())));
                    let key = match &q.whose {
                        Whose::Room { room, user } => {
                            asked.query.reader = Some(user.to_string());
                            if let Some(with) = &with {
                                // Nobody of that name: an empty answer, not an error.
                                let nick = (with.to_bare() == q.jid.to_bare())
                                    .then(|| with.resource().map(|r| r.to_string()))
                                    .flatten();
                                asked.query.author = Some(nick.unwrap_or_default());
                            }
                            ArchiveKey::room(transport, room)
                        }
                        Whose::User(user) => ArchiveKey {
                            transport,
                            owner: user.as_str(),
                            chat: contact.as_deref(),
                        },
                    };
                    q.archive.settled().await;
                    match q.archive.store().query_archive(&key, &asked.query).await {
                        Ok(page) => Ok(mam::answer(&iq, &q.jid, &to, &asked, page)),
                        Err(e) => {
                            if !matches!(e, pontoon_store::StoreError::NotFound) {
                                tracing::warn!(error = %e, "could not read an archive");
                            }
                            Err(mam::refusal(&e))
                        }
                    }
                }
            };
            let stanzas: Box<dyn Iterator<Item = Element> + Send> = match answer {
                Ok(stanzas) => Box::new(stanzas),
                Err(refusal) => Box::new(refusal.reply_to(&iq).into_iter()),
            };
            for (i, s) in stanzas.enumerate() {
                if !q.out.send(s).await {
                    return;
                }
                // A page is rendered as it is sent; every few messages, others get the
                // thread (with one worker thread, a whole page in one go held everyone
                // up for tens of milliseconds: bench/README.md, stall).
                if i % YIELD_EVERY == YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
            }
        }
        .in_current_span(),
    );
}
