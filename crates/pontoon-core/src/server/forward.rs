//! The router's way into the services, which never waits on one.
//!
//! The router feeds every service (stanzas for its domain) and drains every service (the
//! stanzas it sends to clients). If it waited for room in a service's queue while that
//! service waited for room in the router's, both would wait forever, and every user with
//! them: a burst of a few thousand IQs from one client did exactly that (issue 20). So the
//! router only ever offers: a stanza goes straight into the service's queue when there is
//! room and nothing is waiting before it, else into a bounded backlog per service that
//! [`Router::run`](super::Router::run) drains as the service takes it, in order, while the
//! router goes on reading clients and delivering the services' stanzas. A client's stanza
//! that finds the backlog full is refused (`resource-constraint`, type wait), never
//! dropped in silence; what the router says itself (probes of a roster, the unavailable
//! presence of a client gone) has a larger allowance, since losing it would leave a
//! session wrong. A client's availability is coalesced instead of refused: only its latest
//! status matters, so a newer one replaces the one of the same resource still waiting (a
//! client flooding status changes on a slow machine must still end with its last status
//! on the network).

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Instant;

use minidom::Element;
use pontoon_xmpp::component::LinkEvent;
use pontoon_xmpp::handled::Handled;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use tracing::warn;

use super::RoutedService;

/// Stanzas from clients waiting for one service beyond its queue; more are refused.
pub(crate) const BACKLOG: usize = 1024;
/// The allowance for the router's own stanzas (roster probes at login, unavailable
/// presences), beyond which even those are dropped with a warning.
const BACKLOG_OWN: usize = 4 * BACKLOG;

/// Who a forwarded stanza comes from, which decides what happens when the backlog is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client's own stanza: refused when the backlog is full.
    Client,
    /// A client's availability (its broadcast presence, addressed to the service): when
    /// the backlog is full, it replaces the one of the same resource that waits there.
    Availability,
    /// The router speaks for a client (probes, unavailable presence).
    Router,
}

impl Origin {
    /// The name log lines give it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Client => "client",
            Origin::Availability => "availability",
            Origin::Router => "router",
        }
    }
}

/// What became of a stanza offered to a service.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// In the service's queue or the backlog.
    Queued,
    /// The backlog is full: the stanza comes back for the caller to refuse.
    Full(Element),
    /// The service has stopped.
    Stopped,
}

/// One service as the router feeds it.
pub(crate) struct ServiceLink {
    /// The service's operator handle and queue.
    pub(crate) routed: RoutedService,
    /// The same queue, for waiting for room without holding a future across calls.
    poll: PollSender<LinkEvent>,
    /// Stanzas with the time they were read from the client and their receipt.
    backlog: VecDeque<(Element, Instant, Option<Handled>)>,
}

impl ServiceLink {
    pub(crate) fn new(routed: RoutedService) -> Self {
        ServiceLink {
            poll: PollSender::new(routed.inbound.clone()),
            routed,
            backlog: VecDeque::new(),
        }
    }

    /// Offers `stanza`, read from the client at `read_at`, to the service without waiting;
    /// `handled` (its XEP-0198 receipt) goes with it.
    pub(crate) fn forward(
        &mut self,
        stanza: Element,
        read_at: Instant,
        handled: Option<Handled>,
        origin: Origin,
    ) -> Forwarded {
        if !self.backlog.is_empty() {
            return self.hold(stanza, (read_at, handled), origin);
        }
        let full = match self.routed.inbound.try_reserve() {
            Ok(permit) => {
                permit.send(LinkEvent::Stanza(stanza, read_at, handled));
                return Forwarded::Queued;
            }
            Err(mpsc::error::TrySendError::Full(())) => stanza,
            Err(mpsc::error::TrySendError::Closed(())) => return Forwarded::Stopped,
        };
        self.hold(full, (read_at, handled), origin)
    }

    fn hold(
        &mut self,
        stanza: Element,
        (read_at, handled): (Instant, Option<Handled>),
        origin: Origin,
    ) -> Forwarded {
        let cap = match origin {
            Origin::Client => BACKLOG,
            Origin::Availability => {
                if self.backlog.len() >= BACKLOG {
                    self.replace_availability(&stanza);
                }
                BACKLOG_OWN
            }
            Origin::Router => BACKLOG_OWN,
        };
        if self.backlog.len() >= cap {
            return Forwarded::Full(stanza);
        }
        self.backlog.push_back((stanza, read_at, handled));
        Forwarded::Queued
    }

    /// Removes the availability presence of `newer`'s resource that waits in the backlog,
    /// if any: `newer` says what it said, later. Scans the backlog, which happens only
    /// while it is full.
    fn replace_availability(&mut self, newer: &Element) {
        let from = newer.attr("from");
        let older = self.backlog.iter().position(|(s, _, _)| {
            s.name() == "presence"
                && matches!(s.attr("type"), None | Some("unavailable"))
                && s.attr("from") == from
                && s.attr("to") == newer.attr("to")
        });
        if let Some(i) = older {
            self.backlog.remove(i);
        }
    }

    /// Whether stanzas wait in the backlog.
    pub(crate) fn backlogged(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Moves what the service's queue has room for from the backlog into it. Ready when
    /// at least one stanza moved (or the service stopped and the backlog was dropped).
    pub(crate) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut moved = false;
        while !self.backlog.is_empty() {
            match self.poll.poll_reserve(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some((stanza, read_at, handled)) = self.backlog.pop_front()
                        && self
                            .poll
                            .send_item(LinkEvent::Stanza(stanza, read_at, handled))
                            .is_err()
                    {
                        break;
                    }
                    moved = true;
                }
                Poll::Ready(Err(_)) => {
                    warn!(
                        domain = self.routed.control.domain(),
                        dropped = self.backlog.len(),
                        "the service has stopped; stanzas waiting for it are dropped"
                    );
                    self.backlog.clear();
                    return Poll::Ready(());
                }
                Poll::Pending => break,
            }
        }
        if moved {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stanza(i: usize) -> Element {
        let mut el = Element::bare("message", pontoon_xmpp::ns::CLIENT);
        crate::server::set_attr(&mut el, "id", i.to_string());
        el
    }

    fn id(ev: LinkEvent) -> String {
        match ev {
            LinkEvent::Stanza(el, _, _) => el.attr("id").unwrap().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    /// Drains the link as the service reads, until `n` stanzas came (their ids).
    async fn drain(
        link: &mut ServiceLink,
        rx: &mut mpsc::Receiver<LinkEvent>,
        n: usize,
    ) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..4 * n {
            if got.len() >= n {
                break;
            }
            std::future::poll_fn(|cx| {
                let _ = link.poll_drain(cx);
                Poll::Ready(())
            })
            .await;
            while let Ok(ev) = rx.try_recv() {
                got.push(id(ev));
            }
            // As the router's select does when it waits: tokio's cooperative budget, spent
            // by the channel operations, comes back when the task yields.
            tokio::task::yield_now().await;
        }
        got
    }

    #[tokio::test]
    async fn never_waits_keeps_order_and_refuses_past_the_backlog() {
        let (tx, mut rx) = mpsc::channel(2);
        let control = crate::control::ServiceControl::detached("test", "test.localhost");
        let mut link = ServiceLink::new(RoutedService {
            control,
            inbound: tx,
        });
        for i in 0..BACKLOG + 2 {
            assert!(matches!(
                link.forward(stanza(i), Instant::now(), None, Origin::Client),
                Forwarded::Queued
            ));
        }
        assert!(matches!(
            link.forward(stanza(9999), Instant::now(), None, Origin::Client),
            Forwarded::Full(_)
        ));
        assert!(matches!(
            link.forward(stanza(BACKLOG + 2), Instant::now(), None, Origin::Router),
            Forwarded::Queued
        ));
        // The service reads: the backlog follows, in order.
        let got = drain(&mut link, &mut rx, BACKLOG + 3).await;
        let want: Vec<String> = (0..BACKLOG + 3).map(|i| i.to_string()).collect();
        assert_eq!(got, want);
        assert!(!link.backlogged());
    }

    fn status(from: &str, text: &str) -> Element {
        let mut el = crate::server::elem(
            "presence",
            pontoon_xmpp::ns::CLIENT,
            &[("from", from), ("to", "test.localhost"), ("id", text)],
        );
        let mut status = Element::bare("status", pontoon_xmpp::ns::CLIENT);
        status.append_text_node(text);
        el.append_child(status);
        el
    }

    #[tokio::test]
    async fn a_full_backlog_keeps_the_latest_status_of_each_resource() {
        let (tx, mut rx) = mpsc::channel(1);
        let control = crate::control::ServiceControl::detached("test", "test.localhost");
        let mut link = ServiceLink::new(RoutedService {
            control,
            inbound: tx,
        });
        assert!(matches!(
            link.forward(
                status("u@test.localhost/a", "a0"),
                Instant::now(),
                None,
                Origin::Availability
            ),
            Forwarded::Queued
        ));
        assert!(matches!(
            link.forward(
                status("u@test.localhost/a", "a1"),
                Instant::now(),
                None,
                Origin::Availability
            ),
            Forwarded::Queued
        ));
        for i in 0..BACKLOG {
            let _ = link.forward(stanza(i), Instant::now(), None, Origin::Client);
        }
        assert!(matches!(
            link.forward(stanza(9999), Instant::now(), None, Origin::Client),
            Forwarded::Full(_)
        ));
        // Full: a status replaces the waiting one of its resource, another resource's goes
        // behind, and nothing is refused.
        for i in 2..3000 {
            let text = format!("a{i}");
            assert!(matches!(
                link.forward(
                    status("u@test.localhost/a", &text),
                    Instant::now(),
                    None,
                    Origin::Availability
                ),
                Forwarded::Queued
            ));
        }
        assert!(matches!(
            link.forward(
                status("u@test.localhost/b", "b0"),
                Instant::now(),
                None,
                Origin::Availability
            ),
            Forwarded::Queued
        ));
        let got = drain(&mut link, &mut rx, BACKLOG + 2).await;
        let statuses: Vec<&String> = got
            .iter()
            .filter(|i| !i.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert_eq!(statuses, ["a0", "a2999", "b0"]);
        assert_eq!(got.len(), BACKLOG + 2);
    }
}
