//! Bounded queues between the tasks of one user's session (the legacy events and commands of
//! [`Transport::start_session`](crate::Transport::start_session), and a transport's own
//! per-session queues).
//!
//! Every session owns several such queues for as long as it lives, and most of the time they
//! are empty. A tokio `mpsc` channel allocates its first block of 32 slots when it is created,
//! whatever its capacity: 2.5 to 4 KiB per queue, about a third of a session's memory
//! (bench/README.md, performance pass 3). `flume`, used until performance pass 4, cost
//! about 350 bytes per queue in four allocations (its shared state, ours beside it, its list
//! of waiting receivers and a waiter allocated by each receive that had to wait). This
//! queue is ours because no crate of the field keeps a queue in one small allocation: a
//! mutex over a `VecDeque`, the receiver's waker, the wakers of senders waiting for room
//! and the count of senders, 88 bytes, allocating nothing to receive. One task
//! receives, so one waker slot is enough. The interface is tokio's (`send`, `try_send`,
//! `recv`, `close` and tokio's error types), so a task reads the same whichever queue it
//! waits on. [`Receiver::close`] lets a session that ends refuse new inputs and hand back
//! what was queued, knowing nothing lands in the queue after it.
//!
//! `recv` is cancel-safe (a message is never lost when a `select!` picks another branch): a
//! waiting receiver is only woken, the message stays queued until a `recv` takes it.
//!
//! Messages are queued boxed: a queue's storage grows to the most it ever held and never
//! gives memory back (a `VecDeque` keeps its capacity), and a session's join burst fills its event
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
use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

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
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            receiver: None,
            room: None,
            senders: 1,
            // Below the closed bit.
            limit: u32::try_from(capacity.clamp(1, (CLOSED - 1) as usize)).unwrap_or(1),
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// What both halves share: one allocation per queue.
///
/// (72 bytes, so the `Arc` is 88 and malloc's block 96: the capacity and the closed flag
/// share a `u32` inside the lock, and the rare waiting senders are boxed apart; it was a
/// 128-byte block, five per session.)
struct Chan<T> {
    state: Mutex<State<T>>,
}

/// The bit of [`State::limit`] that says the queue is closed.
const CLOSED: u32 = 1 << 31;

/// What the lock guards.
struct State<T> {
    queue: VecDeque<Box<(T, Stamp)>>,
    /// The receiving task, while it waits for a message.
    receiver: Option<Waker>,
    /// Senders waiting for room ([`Sender::ready`]): woken when a message is taken from the
    /// full queue, and when it closes. Not a `tokio::sync::Notify`: its waiter took about
    /// 90 bytes of every future that waits for room, in tasks that live as long as the
    /// session. A sender that stopped waiting leaves its waker until the next wake-up (one
    /// per task: a task waiting again replaces nothing, it is found by `will_wake`).
    /// Boxed: rare, and 16 bytes less of every queue.
    #[allow(clippy::box_collection)]
    room: Option<Box<Vec<Waker>>>,
    /// Senders alive (weak ones not counted): at none, the receiver sees the end.
    senders: u32,
    /// Messages queued at most, and [`CLOSED`]: the receiver closed the queue or is gone,
    /// no message is accepted any more.
    limit: u32,
}

impl<T> State<T> {
    /// Messages queued at most.
    fn capacity(&self) -> usize {
        (self.limit & !CLOSED) as usize
    }

    /// Whether no message is accepted any more.
    fn closed(&self) -> bool {
        self.limit & CLOSED != 0
    }

    /// Accepts no message any more.
    fn close(&mut self) {
        self.limit |= CLOSED;
    }

    /// Takes the wakers of the senders waiting for room.
    fn take_room(&mut self) -> Vec<Waker> {
        self.room.take().map(|r| *r).unwrap_or_default()
    }
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every change under the lock is a single push, pop or count: a panic elsewhere
        // leaves nothing half made, so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
    chan: Arc<Chan<T>>,
}

/// The receiving half; the queue closes for senders when it is dropped.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for room; gives it back if the receiver is gone or closed
    /// the queue.
    ///
    /// Not an `async fn`: the message is boxed here, before the future exists, so the
    /// future (inlined in every task that sends, and in every handler future a task boxes
    /// per message) keeps the box, never the message (a legacy command is 176 bytes, an
    /// event 256); an `async fn` would keep the argument in its unresumed state.
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        let queued = Box::new((value, Stamp::now()));
        async move {
            let mut queued = queued;
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
        let mut state = self.chan.lock();
        if state.closed() {
            return Err(TrySendError::Closed(queued));
        }
        if state.queue.len() >= state.capacity() {
            return Err(TrySendError::Full(queued));
        }
        state.queue.push_back(queued);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(waker) = receiver {
            waker.wake();
        }
        Ok(())
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
        poll_fn(|cx| {
            let mut state = self.chan.lock();
            if state.closed() {
                return Poll::Ready(Err(SendError(())));
            }
            if state.queue.len() < state.capacity() {
                return Poll::Ready(Ok(()));
            }
            // Under the lock that the receiver takes a message under: no wake-up is missed.
            let room = state.room.get_or_insert_default();
            if !room.iter().any(|w| w.will_wake(cx.waker())) {
                room.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// [`Sender::ready`] on a clone of this sender, for a `select!` branch that must not
    /// borrow the task's state.
    pub async fn ready_owned(self) -> Result<(), SendError<()>> {
        self.ready().await
    }

    /// Whether the receiver is gone or closed the queue.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().closed()
    }

    /// Whether both senders feed the same queue.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// A sender that does not keep the queue open ([`Sender::downgrade`]).
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// A sender that does not keep the queue open: the receiver sees the end once every
    /// (strong) sender is gone.
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> WeakSender<T> {
    /// A sender again, while another one keeps the queue open.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        let mut state = self.chan.lock();
        if state.senders == 0 {
            return None;
        }
        state.senders += 1;
        Some(Sender {
            chan: self.chan.clone(),
        })
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            chan: self.chan.clone(),
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
    /// those already queued for [`Receiver::try_recv`] and [`Receiver::recv`], which sees
    /// the end once they are taken: what a task that is ending hands back, knowing nothing
    /// lands in the queue after it looked (tokio's `close`).
    pub fn close(&mut self) {
        let waiting = {
            let mut state = self.chan.lock();
            state.close();
            state.take_room()
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    /// The next message, waiting for one; `None` once every sender is gone (or the queue
    /// is closed) and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_take(cx)).await.map(|b| b.0)
    }

    /// [`Receiver::recv`], with the time the message was sent, in the box it was queued in:
    /// a task that waits on large messages (a legacy event is a few hundred bytes) does not
    /// keep room for one in its future.
    pub async fn recv_stamped(&mut self) -> Option<Box<(T, Stamp)>> {
        poll_fn(|cx| self.poll_take(cx)).await
    }

    /// Takes the next message, or leaves the task's waker for the next sender. Nothing is
    /// taken unless it is returned: a `recv` dropped by `select!` loses nothing.
    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Box<(T, Stamp)>>> {
        let mut state = self.chan.lock();
        if let Some((value, room)) = self.take(&mut state) {
            drop(state);
            room.into_iter().for_each(Waker::wake);
            return Poll::Ready(Some(value));
        }
        if state.senders == 0 || state.closed() {
            return Poll::Ready(None);
        }
        match &state.receiver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.receiver = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Pops the next message, with the senders waiting for room to wake (once the lock is
    /// let go) when the queue was full.
    #[allow(clippy::type_complexity)]
    fn take(&self, state: &mut MutexGuard<'_, State<T>>) -> Option<(Box<(T, Stamp)>, Vec<Waker>)> {
        let was_full = state.queue.len() >= state.capacity();
        let value = state.queue.pop_front()?;
        let room = if was_full {
            state.take_room()
        } else {
            Vec::new()
        };
        Some((value, room))
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.chan.lock();
        match self.take(&mut state) {
            Some((value, room)) => {
                drop(state);
                room.into_iter().for_each(Waker::wake);
                Ok(value.0)
            }
            None if state.senders == 0 || state.closed() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders waiting in `ready` learn that the queue is gone; what was queued is
        // dropped here, outside the lock (a message may hold a sender of its own).
        let (queued, room) = {
            let mut state = self.chan.lock();
            state.close();
            state.receiver = None;
            (std::mem::take(&mut state.queue), state.take_room())
        };
        room.into_iter().for_each(Waker::wake);
        drop(queued);
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let receiver = {
            let mut state = self.chan.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.receiver.take()
            } else {
                None
            }
        };
        // The last sender: a waiting receiver sees the end.
        if let Some(waker) = receiver {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("queued", &self.chan.lock().queue.len())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.chan.lock().queue.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
