//! Bounded queues between the tasks of one user's session (the legacy events and commands of
//! [`Transport::start_session`](crate::Transport::start_session), and a transport's own
//! per-session queues).
//!
//! Every session owns several such queues for as long as it lives, and most of the time they
//! are empty. A tokio `mpsc` channel allocates its first block of 32 slots when it is created,
//! whatever its capacity: 2.5 to 4 KiB per queue, about a third of a session's memory
//! (bench/README.md, performance pass 3). These queues, on `flume`, allocate their storage on
//! first use and grow with what is queued, so an idle session costs a few hundred bytes per
//! queue. The interface is tokio's (`send`, `try_send`, `recv` and tokio's error types), so a
//! task reads the same whichever queue it waits on, and the implementation is this file alone.
//! [`Receiver::close`] is tokio's too (flume has none): a session that ends refuses new
//! inputs and hands back what was queued, knowing nothing lands in the queue after it.
//!
//! `recv` is cancel-safe (a message is never lost when a `select!` picks another branch): a
//! waiting receiver is only woken, the message stays queued until a `recv` takes it.
//!
//! Messages are queued boxed: a queue's storage grows to the most it ever held and never
//! gives memory back (flume keeps a `VecDeque`), and a session's join burst fills its event
//! queues once (a dozen events for a channel of ten); with 8-byte slots that costs 64 to
//! 128 bytes per queue for the session's life instead of about 1 KiB (performance pass 4,
//! bench/README.md). The price is one allocation and one free per message, about 40 ns.
//!
//! Every message is stamped with the time it was sent ([`Receiver::recv_stamped`]): the
//! core measures from it how long a legacy event takes to reach the XMPP side
//! ([`crate::latency`]), whatever the transport. A clock read per message, no allocation,
//! and 8 bytes beside it ([`Stamp`], not a 16-byte `Instant`: every task that waits to
//! send holds one for as long as it lives, per session).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// When a message was sent: nanoseconds since the first stamp of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp(u64);

/// What [`Stamp`]s count from.
static EPOCH: OnceLock<Instant> = OnceLock::new();

impl Stamp {
    /// Now.
    pub fn now() -> Stamp {
        let epoch = EPOCH.get_or_init(Instant::now);
        Stamp(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The same time as an [`Instant`].
    pub fn instant(self) -> Instant {
        let epoch = EPOCH.get_or_init(Instant::now);
        *epoch + Duration::from_nanos(self.0)
    }
}

/// Creates a queue that holds at most `capacity` messages (at least 1); senders wait, or get
/// [`TrySendError::Full`], beyond that.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = flume::bounded(capacity.max(1));
    let shared = Arc::new(Shared {
        room: Notify::new(),
        closed: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
    });
    (
        Sender {
            tx,
            shared: shared.clone(),
        },
        Receiver {
            rx: Some(rx),
            shared,
        },
    )
}

/// What both halves share besides the queue.
struct Shared {
    /// Signalled by the receiver after each message it takes, for [`Sender::ready`].
    room: Notify,
    /// The receiver closed the queue ([`Receiver::close`]): no message is taken any more.
    closed: AtomicBool,
    /// Senders between their look at `closed` and the end of their `try_send`: `close`
    /// waits for none to be, so a message is either refused or queued before the receiver
    /// drains (flume has no `close` of its own).
    in_flight: AtomicUsize,
}

/// Gives a task's own backlog queue its memory back once it has drained: a `VecDeque` keeps
/// the capacity of its longest burst (a join's dozen events, a reconnect's JOIN lines) for
/// as long as it lives, per session. Up to `keep` slots stay, so a queue that holds one item
/// at a time does not allocate for each.
pub fn shrink_drained<T>(queue: &mut VecDeque<T>, keep: usize) {
    if queue.is_empty() && queue.capacity() > keep {
        *queue = VecDeque::new();
    }
}

/// The sending half; cloned for every task that sends.
pub struct Sender<T> {
    tx: flume::Sender<Box<(T, Stamp)>>,
    shared: Arc<Shared>,
}

/// The receiving half; the queue closes for senders when it is dropped.
pub struct Receiver<T> {
    /// `None` only while it is dropped (see `Drop`).
    rx: Option<flume::Receiver<Box<(T, Stamp)>>>,
    shared: Arc<Shared>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room; gives it back if the receiver is gone or closed
    /// the queue.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        // Boxed once, before waiting: the waiting future (in every task that sends) keeps
        // the box, not the message (a legacy event is 256 bytes).
        let mut queued = Box::new((value, Stamp::now()));
        loop {
            match self.try_send_boxed(queued) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(b)) => queued = b,
                Err(TrySendError::Closed(b)) => return Err(SendError(b.0)),
            }
            if self.ready().await.is_err() {
                return Err(SendError(queued.0));
            }
        }
    }

    /// Sends `value` if there is room now; gives it back otherwise.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.try_send_boxed(Box::new((value, Stamp::now())))
            .map_err(|e| match e {
                TrySendError::Full(b) => TrySendError::Full(b.0),
                TrySendError::Closed(b) => TrySendError::Closed(b.0),
            })
    }

    /// [`Sender::try_send`] of a message already boxed and stamped.
    fn try_send_boxed(&self, queued: Box<(T, Stamp)>) -> Result<(), TrySendError<Box<(T, Stamp)>>> {
        // Counted before the look at `closed` (both sequentially consistent, as in
        // `Receiver::close`): either `close` sees this sender, or it sees `closed`.
        self.shared.in_flight.fetch_add(1, SeqCst);
        let sent = if self.shared.closed.load(SeqCst) {
            Err(TrySendError::Closed(queued))
        } else {
            self.tx.try_send(queued).map_err(|e| match e {
                flume::TrySendError::Full(b) => TrySendError::Full(b),
                flume::TrySendError::Disconnected(b) => TrySendError::Closed(b),
            })
        };
        self.shared.in_flight.fetch_sub(1, SeqCst);
        sent
    }

    /// Sends `value` now if nothing waits before it in `waiting` and the queue has room;
    /// otherwise (full, or the receiver gone) it waits at the back of `waiting`, for
    /// [`Sender::try_send_from`]. A task's backlog is then touched only under
    /// back-pressure: a message at a time allocates nothing there.
    pub fn send_or_keep(&self, value: T, waiting: &mut VecDeque<T>) {
        if !waiting.is_empty() {
            return waiting.push_back(value);
        }
        match self.try_send(value) {
            Ok(()) => {}
            Err(TrySendError::Full(value) | TrySendError::Closed(value)) => {
                waiting.push_back(value);
            }
        }
    }

    /// Sends the messages at the front of `waiting`, in order, while the queue has room;
    /// what does not fit stays in `waiting` (for a task that keeps its own backlog and
    /// waits for room with [`Sender::ready`]). A backlog that drains gives its memory back:
    /// with [`Sender::send_or_keep`] it is used only under back-pressure. Fails once the
    /// receiver is gone.
    pub fn try_send_from(&self, waiting: &mut VecDeque<T>) -> Result<(), SendError<()>> {
        while let Some(value) = waiting.pop_front() {
            match self.try_send(value) {
                Ok(()) => {}
                Err(TrySendError::Full(value)) => {
                    waiting.push_front(value);
                    return Ok(());
                }
                Err(TrySendError::Closed(value)) => {
                    waiting.push_front(value);
                    return Err(SendError(()));
                }
            }
        }
        shrink_drained(waiting, 0);
        Ok(())
    }

    /// Waits until the queue has room for a message, or fails once the receiver is gone.
    ///
    /// Reserves nothing (another sender may take the room first: [`Sender::try_send`] then
    /// gives the message back), so a task can wait for room in a `select!` while it keeps the
    /// message it wants to send.
    pub async fn ready(&self) -> Result<(), SendError<()>> {
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a message taken in between still wakes us.
            notified.as_mut().enable();
            if self.is_closed() {
                return Err(SendError(()));
            }
            if !self.tx.is_full() {
                return Ok(());
            }
            notified.await;
        }
    }

    /// [`Sender::ready`] on a clone of this sender, for a `select!` branch that must not
    /// borrow the task's state.
    pub async fn ready_owned(self) -> Result<(), SendError<()>> {
        self.ready().await
    }

    /// Whether the receiver is gone or closed the queue.
    pub fn is_closed(&self) -> bool {
        self.tx.is_disconnected() || self.shared.closed.load(SeqCst)
    }

    /// Whether both senders feed the same queue.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// A sender that does not keep the queue open ([`Sender::downgrade`]).
pub struct WeakSender<T> {
    tx: flume::WeakSender<Box<(T, Stamp)>>,
    shared: Arc<Shared>,
}

impl<T> Sender<T> {
    /// A sender that does not keep the queue open: the receiver sees the end once every
    /// (strong) sender is gone.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            tx: self.tx.downgrade(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> WeakSender<T> {
    /// A sender again, while another one keeps the queue open.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        Some(Sender {
            tx: self.tx.upgrade()?,
            shared: self.shared.clone(),
        })
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Refuses every message from now on (senders get [`TrySendError::Closed`]) and keeps
    /// those already queued for [`Receiver::try_recv`]: what a task that is ending hands
    /// back, knowing nothing lands in the queue after it looked (tokio's `close`).
    pub fn close(&mut self) {
        self.shared.closed.store(true, SeqCst);
        // A sender in the middle of `try_send` is there for a few instructions, never
        // across an await.
        while self.shared.in_flight.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        self.shared.room.notify_waiters();
    }

    /// The next message, waiting for one; `None` once every sender is gone and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<T> {
        // Not through `recv_stamped`: an async fn awaiting another keeps both states, and
        // this future lives in every session task that waits on a queue.
        let rx = self.rx.as_ref()?;
        let value = rx.recv_async().await.ok();
        self.shared.room.notify_waiters();
        value.map(|b| b.0)
    }

    /// [`Receiver::recv`], with the time the message was sent, in the box it was queued in:
    /// a task that waits on large messages (a legacy event is a few hundred bytes) does not
    /// keep room for one in its future.
    pub async fn recv_stamped(&mut self) -> Option<Box<(T, Stamp)>> {
        let rx = self.rx.as_ref()?;
        let value = rx.recv_async().await.ok();
        self.shared.room.notify_waiters();
        value
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(rx) = self.rx.as_ref() else {
            return Err(TryRecvError::Disconnected);
        };
        let value = rx.try_recv().map_err(|e| match e {
            flume::TryRecvError::Empty => TryRecvError::Empty,
            flume::TryRecvError::Disconnected => TryRecvError::Disconnected,
        });
        if value.is_ok() {
            self.shared.room.notify_waiters();
        }
        value.map(|b| b.0)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders waiting in `ready` learn that the queue is gone: the flume receiver is
        // dropped first, so that a sender woken on another thread sees it disconnected.
        drop(self.rx.take());
        self.shared.room.notify_waiters();
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.tx.len())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.rx.as_ref().map_or(0, |rx| rx.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_queue_refuses_beyond_capacity_and_reports_closed() {
        let (tx, mut rx) = bounded::<u32>(2);
        tx.try_send(1).unwrap();
        tx.send(2).await.unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.recv().await, Some(1));
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let tx2 = tx.clone();
        assert!(tx2.same_channel(&tx));
        drop(rx);
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(4), Err(TrySendError::Closed(4))));
        assert!(matches!(tx2.send(5).await, Err(SendError(5))));
    }

    #[tokio::test]
    async fn receiver_sees_the_end_after_the_queue_drains() {
        let (tx, mut rx) = bounded::<u32>(4);
        tx.send(7).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(7));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_new_messages_and_keeps_the_queued_ones() {
        let (tx, mut rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        // A sender waiting for room learns of the close.
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        tokio::task::yield_now().await;
        rx.close();
        assert!(matches!(waiting.await.unwrap(), Err(SendError(2))));
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
        assert!(matches!(tx.send(4).await, Err(SendError(4))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    /// Senders on other threads racing the close: every message is either refused or found
    /// by the drain after it, none is left in the queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nothing_sent_is_lost_across_a_close() {
        for _ in 0..50 {
            let (tx, mut rx) = bounded::<u32>(10_000);
            let senders: Vec<_> = (0..3)
                .map(|_| {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut accepted = 0u32;
                        for i in 0..2_000 {
                            if tx.try_send(i).is_ok() {
                                accepted += 1;
                            }
                            tokio::task::yield_now().await;
                        }
                        accepted
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            rx.close();
            let mut drained = 0u32;
            while rx.try_recv().is_ok() {
                drained += 1;
            }
            let mut accepted = 0;
            for s in senders {
                accepted += s.await.unwrap();
            }
            assert_eq!(drained, accepted);
        }
    }

    #[tokio::test]
    async fn a_backlog_is_used_only_under_back_pressure_and_keeps_the_order() {
        let (tx, mut rx) = bounded::<u32>(1);
        let mut waiting = VecDeque::new();
        tx.send_or_keep(1, &mut waiting);
        assert_eq!(waiting.capacity(), 0, "sent at once, no backlog");
        tx.send_or_keep(2, &mut waiting);
        tx.send_or_keep(3, &mut waiting);
        assert_eq!(waiting, [2, 3]);
        assert_eq!(rx.recv().await, Some(1));
        // Room again: still behind what waits.
        tx.send_or_keep(4, &mut waiting);
        assert_eq!(waiting, [2, 3, 4]);
        tx.try_send_from(&mut waiting).unwrap();
        assert_eq!(waiting, [3, 4]);
        assert_eq!(rx.try_recv(), Ok(2));
        // Drained, it gives its memory back.
        for n in [3, 4] {
            tx.try_send_from(&mut waiting).unwrap();
            assert_eq!(rx.try_recv(), Ok(n));
        }
        assert!(waiting.is_empty());
        assert_eq!(waiting.capacity(), 0);
    }

    #[test]
    fn a_drained_queue_gives_its_memory_back() {
        let mut q: VecDeque<u64> = (0..100).collect();
        shrink_drained(&mut q, 4);
        assert!(q.capacity() >= 100, "not drained: kept");
        q.clear();
        shrink_drained(&mut q, 4);
        assert_eq!(q.capacity(), 0);
        q.push_back(1);
        q.pop_front();
        let small = q.capacity();
        shrink_drained(&mut q, 4);
        assert_eq!(q.capacity(), small, "a small queue keeps its slots");
    }

    #[test]
    fn try_send_from_sends_in_order_what_fits() {
        let (tx, mut rx) = bounded::<u32>(2);
        let mut waiting: VecDeque<u32> = (1..=3).collect();
        assert_eq!(tx.try_send_from(&mut waiting), Ok(()));
        assert_eq!(waiting, [3]);
        assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(1), Ok(2)));
        assert_eq!(tx.try_send_from(&mut waiting), Ok(()));
        assert!(waiting.is_empty());
        waiting.push_back(4);
        drop(rx);
        assert_eq!(tx.try_send_from(&mut waiting), Err(SendError(())));
        assert_eq!(waiting, [4]);
    }

    #[tokio::test]
    async fn ready_waits_for_room_and_for_the_end() {
        let (tx, mut rx) = bounded::<u32>(1);
        tx.ready().await.unwrap();
        tx.try_send(1).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.ready().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "no room yet");
        assert_eq!(rx.recv().await, Some(1));
        let r = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(r, Ok(Ok(Ok(())))));
        tx.try_send(2).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.ready().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        let r = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(r, Ok(Ok(Err(SendError(()))))));
    }

    /// A sender waiting for room on another thread learns that the receiver is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ready_sees_a_receiver_dropped_on_another_thread() {
        for _ in 0..200 {
            let (tx, rx) = bounded::<u32>(1);
            tx.try_send(1).unwrap();
            let waiting = tokio::spawn(async move { tx.ready().await });
            tokio::task::yield_now().await;
            drop(rx);
            let r = tokio::time::timeout(Duration::from_secs(5), waiting).await;
            assert!(matches!(r, Ok(Ok(Err(SendError(()))))));
        }
    }

    #[tokio::test]
    async fn messages_carry_the_time_they_were_sent() {
        let (tx, mut rx) = bounded::<u32>(2);
        let before = Stamp::now().instant();
        tx.try_send(1).unwrap();
        let after = Instant::now();
        let (v, at) = *rx.recv_stamped().await.unwrap();
        assert_eq!(v, 1);
        let at = at.instant();
        assert!(before <= at && at <= after, "{before:?} {at:?} {after:?}");
    }

    /// A `recv` dropped by `select!` loses nothing: the message waits for the next `recv`.
    #[tokio::test]
    async fn recv_is_cancel_safe_in_select() {
        let (tx, mut rx) = bounded::<u32>(4);
        let (other_tx, mut other_rx) = bounded::<u32>(4);
        for i in 0..100u32 {
            let sender = tx.clone();
            let other = other_tx.clone();
            tokio::spawn(async move {
                other.send(i).await.unwrap();
                sender.send(i).await.unwrap();
            });
            // Whichever branch wins, the other one's future is dropped.
            tokio::select! {
                v = rx.recv() => assert_eq!(v, Some(i)),
                v = other_rx.recv() => {
                    assert_eq!(v, Some(i));
                    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
                    assert_eq!(got, Ok(Some(i)));
                }
            }
            if let Ok(v) = other_rx.try_recv() {
                assert_eq!(v, i);
            }
        }
    }
}
