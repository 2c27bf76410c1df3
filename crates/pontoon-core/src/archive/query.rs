//! Answers MAM queries on a room's JID in a task of their own ([`serve`]): the service's
//! loop hands the query over and goes on, so a slow archive read holds up nobody else.
//! [`super::Archive`] bounds how many run at once; one more is refused with
//! `resource-constraint` (wait) rather than queued without bound.

use std::sync::Arc;

use jid::{BareJid, Jid};
use minidom::Element;
use pontoon_store::ArchiveKey;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::{Archive, mam};
use crate::stanza::Refusal;

/// A query of the room `room` (whose JID is `room_jid`) by `user`.
pub(crate) struct RoomQuery {
    pub archive: Arc<Archive>,
    pub out: mpsc::Sender<Element>,
    pub user: BareJid,
    pub room: String,
    pub room_jid: Jid,
}

/// Answers the iq `iq` (with its `<query/>` `payload`) in a task; the answers go to `out`.
pub(crate) fn serve(q: RoomQuery, iq: Element, payload: &Element) {
    let asked = mam::parse(payload, |with| {
        (with.to_bare() == q.room_jid.to_bare())
            .then(|| with.resource().map(|r| r.to_string()))
            .flatten()
    });
    let Some(to) = iq.attr("from").and_then(|f| Jid::new(f).ok()) else {
        return;
    };
    let permit = q.archive.queries.clone().try_acquire_owned();
    tokio::spawn(
        async move {
            let answer = match (asked, permit) {
                (Err(refusal), _) => Err(refusal),
                (Ok(_), Err(_)) => Err(Refusal::wait(
                    "resource-constraint",
                    "The archive is busy; ask again in a moment.",
                )),
                (Ok(mut asked), Ok(_permit)) => {
                    asked.query.reader = Some(q.user.to_string());
                    q.archive.settled().await;
                    let key = ArchiveKey::room(q.archive.transport(), &q.room);
                    match q.archive.store().query_archive(&key, &asked.query).await {
                        Ok(page) => Ok(mam::answer(&iq, &q.room_jid, &to, &asked, page)),
                        Err(e) => {
                            if !matches!(e, pontoon_store::StoreError::NotFound) {
                                tracing::warn!(error = %e, "could not read a room's archive");
                            }
                            Err(mam::refusal(&e))
                        }
                    }
                }
            };
            let stanzas = match answer {
                Ok(stanzas) => stanzas,
                Err(refusal) => refusal.reply_to(&iq).into_iter().collect(),
            };
            for s in stanzas {
                if q.out.send(s).await.is_err() {
                    return;
                }
            }
        }
        .in_current_span(),
    );
}
