//! The admission's tests: evictions, waits for a slot, drains.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::*;

/// A connection that ends once told to drain.
struct Idle {
    told: Arc<AtomicUsize>,
    drained: bool,
}

impl Future for Idle {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.drained {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn drain_idle(idle: Pin<&mut Idle>) {
    let idle = idle.get_mut();
    idle.told.fetch_add(1, Ordering::SeqCst);
    idle.drained = true;
}

#[tokio::test]
async fn a_drain_tells_every_connection_once_and_closed_waits_for_the_last() {
    let admission = Admission::new(4);
    let told = Arc::new(AtomicUsize::new(0));
    let serve = |ticket: Ticket| {
        let idle = Idle {
            told: told.clone(),
            drained: false,
        };
        tokio::spawn(Arc::new(ticket).serving(idle).on_drain(drain_idle))
    };
    let before = serve(admission.admit().await);
    // A connection still open that is not told (its ticket held).
    let held = admission.admit().await;
    let closed = {
        let admission = admission.clone();
        tokio::spawn(async move { admission.closed().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!before.is_finished(), "ended before the drain");
    assert_eq!(told.load(Ordering::SeqCst), 0);
    admission.drain();
    let ended = tokio::time::timeout(Duration::from_secs(2), before)
        .await
        .expect("the drain should wake the connection")
        .unwrap();
    assert_eq!(ended, Some(()), "it ended on its own, not evicted");
    assert_eq!(told.load(Ordering::SeqCst), 1);
    // One admitted after the drain is told at its first poll.
    let after = serve(admission.admit().await);
    assert_eq!(after.await.unwrap(), Some(()));
    assert_eq!(told.load(Ordering::SeqCst), 2, "each told once");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!closed.is_finished(), "closed while a connection is open");
    drop(held);
    tokio::time::timeout(Duration::from_secs(2), closed)
        .await
        .expect("the last close should complete closed()")
        .unwrap();
    assert_eq!(admission.open(), 0);
}

#[tokio::test]
async fn the_oldest_idle_connection_gives_way_when_full() {
    let admission = Admission::new(3);
    let oldest = admission.admit().await;
    let serving = admission.admit().await;
    let _busy = serving.busy();
    let young = admission.admit().await;
    // Full, and no idle connection is old enough to give way yet.
    assert!(admission.try_admit().is_none());
    std::thread::sleep(MIN_IDLE);
    // The fourth evicts the oldest connection not serving.
    let _fourth = admission.admit().await;
    assert!(oldest.activity.is_evicted());
    assert!(!serving.activity.is_evicted());
    assert!(!young.activity.is_evicted());
    assert_eq!(admission.open(), 3);
    assert_eq!(admission.evicted(), 1);
}

#[tokio::test]
async fn when_every_connection_serves_the_next_waits_for_a_slot() {
    let admission = Admission::new(2);
    let first = admission.admit().await;
    let busy = first.busy();
    let second = admission.admit().await;
    let _busy_too = second.busy();
    let waiting = {
        let admission = admission.clone();
        tokio::spawn(async move { admission.admit().await })
    };
    tokio::time::sleep(MIN_IDLE * 2).await;
    assert!(!waiting.is_finished(), "admitted although all were serving");
    // The first request ends: its connection is idle, and gives way once
    // it has been for MIN_IDLE.
    let ended = Instant::now();
    drop(busy);
    let third = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("an idle connection should make room")
        .expect("the admitting task");
    assert!(
        ended.elapsed() >= MIN_IDLE,
        "evicted a connection idle for {:?}",
        ended.elapsed()
    );
    assert!(first.activity.is_evicted());
    assert!(!second.activity.is_evicted());
    drop(third);
    assert_eq!(admission.open(), 1);
}

#[tokio::test]
async fn a_client_waiting_for_a_slot_takes_one_as_soon_as_a_connection_closes() {
    let admission = Admission::new(1);
    let only = admission.admit().await;
    let busy = only.busy();
    let waiting = {
        let admission = admission.clone();
        tokio::spawn(async move { admission.admit().await })
    };
    // Until it waits (counted, registered) for a wake-up.
    while admission.inner.waiting.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "admitted although full");
    // The connection closes mid-request: its slot is free at once, not
    // after MIN_IDLE (nothing is evicted), and the waiter is woken.
    let closed = Instant::now();
    drop(only);
    let next = tokio::time::timeout(MIN_IDLE / 2, waiting)
        .await
        .expect("a freed slot should wake the waiting client")
        .expect("the admitting task");
    assert!(closed.elapsed() < MIN_IDLE);
    assert_eq!(admission.evicted(), 0);
    assert_eq!(admission.inner.waiting.load(Ordering::SeqCst), 0);
    drop((busy, next));
}

#[tokio::test]
async fn a_closed_connection_frees_its_slot() {
    let admission = Admission::new(1);
    let only = admission.admit().await;
    let busy = only.busy();
    std::thread::sleep(MIN_IDLE);
    assert!(
        admission.try_admit().is_none(),
        "a serving connection gave way"
    );
    drop(busy);
    drop(only);
    assert!(admission.try_admit().is_some());
    assert_eq!(admission.evicted(), 0);
}
