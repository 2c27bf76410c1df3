//! The queue's behaviour: bounds, the end, the close, back-pressure, cancel safety.

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
    // Drained and closed: the end, as for tokio's queues, though senders are alive.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv().await, None);
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

/// Two threads, a queue of one: every message arrives once and in order, whether the
/// receiver or the sender waits (a lost wake-up would hang, and the timeout fails it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wake_up_is_lost_between_threads() {
    let (tx, mut rx) = bounded::<u32>(1);
    let sender = tokio::spawn(async move {
        for i in 0..20_000 {
            tx.send(i).await.unwrap();
        }
    });
    let received = tokio::time::timeout(Duration::from_secs(30), async {
        let mut next = 0;
        while let Some(v) = rx.recv().await {
            assert_eq!(v, next);
            next += 1;
        }
        next
    })
    .await;
    assert_eq!(received, Ok(20_000));
    sender.await.unwrap();
}

/// A weak sender does not keep the queue open: the waiting receiver sees the end when the
/// last strong one goes, and the weak one cannot come back after.
#[tokio::test]
async fn weak_senders_do_not_keep_the_queue_open() {
    let (tx, mut rx) = bounded::<u32>(2);
    let weak = tx.downgrade();
    let again = weak.upgrade().expect("a strong sender is alive");
    again.try_send(1).unwrap();
    drop(again);
    let receiver = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
    tokio::task::yield_now().await;
    drop(tx);
    let got = tokio::time::timeout(Duration::from_secs(5), receiver).await;
    assert!(matches!(got, Ok(Ok((Some(1), None)))));
    assert!(weak.upgrade().is_none());
}

/// What was queued is freed with the receiver, not kept until the last sender goes.
#[test]
fn a_dropped_receiver_frees_what_was_queued() {
    let (tx, rx) = bounded::<Arc<()>>(4);
    let counted = Arc::new(());
    tx.try_send(counted.clone()).unwrap();
    assert_eq!(Arc::strong_count(&counted), 2);
    drop(rx);
    assert_eq!(Arc::strong_count(&counted), 1);
    assert!(tx.is_closed());
}

/// One allocation per queue, small: it lives in every session several times over.
#[test]
fn a_queue_is_one_small_allocation() {
    let size = std::mem::size_of::<Chan<u64>>();
    assert!(size <= 72, "{size} bytes: the `Arc` in a 96-byte block");
}

/// Several senders waiting for room in a queue of one, on two threads: each is woken in
/// turn, every message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_waiting_for_room_are_all_woken() {
    let (tx, mut rx) = bounded::<u32>(1);
    let senders: Vec<_> = (0..4u32)
        .map(|s| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..5_000 {
                    tx.send(s * 5_000 + i).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = vec![false; 20_000];
        while let Some(v) = rx.recv().await {
            assert!(!std::mem::replace(&mut seen[v as usize], true), "{v} twice");
        }
        seen.iter().all(|s| *s)
    })
    .await;
    assert_eq!(got, Ok(true));
    for s in senders {
        s.await.unwrap();
    }
}
