//! Executor stall: how long ready work waited before its executor could run
//! it. A canary task lives on the mode's executor; a ticker thread wakes it
//! at a fixed period and notes when; the canary notes when it is actually
//! polled. The difference is time during which the executor had ready work
//! and could not run it — a blocking call holding the only thread, or a CPU
//! too busy to go round. It measures the executor, not the requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loadlab_proto::histogram::{LatencyHistogram, new_latency_histogram, record_latency};

/// How often the canary is woken. A stall shorter than this may go unseen;
/// a longer one is measured to within it.
pub const PERIOD: Duration = Duration::from_millis(5);

pub use loadlab_proto::stall::Stall;

struct State {
    /// Set by the ticker when it wakes the canary; taken by the canary.
    woken_at: Option<Instant>,
    waker: Option<Waker>,
    delays: LatencyHistogram,
    total_us: u64,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

/// The probe: owns the ticker thread. [`StallProbe::finish`] stops it.
pub struct StallProbe {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
}

/// The task to spawn on the executor under test. It completes when the
/// probe finishes.
pub struct Canary {
    shared: Arc<Shared>,
}

impl StallProbe {
    /// A probe and its canary; `None` when the ticker thread cannot start
    /// (the run goes on unmeasured).
    pub fn start() -> Option<(StallProbe, Canary)> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                // The canary is ready from the start: a first poll that comes
                // late is a stall too.
                woken_at: Some(Instant::now()),
                waker: None,
                delays: new_latency_histogram(),
                total_us: 0,
            }),
            stop: AtomicBool::new(false),
        });
        let ticking = shared.clone();
        let ticker = std::thread::Builder::new()
            .name("loadlab-stall-probe".into())
            .spawn(move || tick(&ticking))
            .ok()?;
        Some((
            StallProbe {
                shared: shared.clone(),
                ticker: Some(ticker),
            },
            Canary { shared },
        ))
    }

    /// Stops the ticker and the canary, and says what was measured.
    pub fn finish(mut self) -> Stall {
        self.stop();
        let state = lock(&self.shared);
        Stall {
            total_us: state.total_us,
            max_us: state.delays.max(),
            p99_us: state.delays.value_at_quantile(0.99),
            samples: state.delays.len(),
        }
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(waker) = lock(&self.shared).waker.take() {
            waker.wake();
        }
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

impl Drop for StallProbe {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn tick(shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(PERIOD);
        let mut state = lock(shared);
        // A canary already woken and not yet polled is in a stall that is
        // still being measured from its first wake-up.
        if state.woken_at.is_none()
            && let Some(waker) = state.waker.take()
        {
            state.woken_at = Some(Instant::now());
            waker.wake();
        }
    }
}

impl Future for Canary {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.shared);
        if let Some(woken_at) = state.woken_at.take() {
            let late = woken_at.elapsed().as_micros() as u64;
            record_latency(&mut state.delays, late);
            state.total_us += late;
        }
        if self.shared.stop.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On an executor whose only thread is blocked, the canary waits as long
    /// as the blocking call lasts; on a free one, it hardly waits.
    #[test]
    fn a_blocked_executor_stalls_a_free_one_does_not() {
        let mut pool = futures::executor::LocalPool::new();
        let (probe, canary) = StallProbe::start().unwrap();
        use futures::task::LocalSpawnExt;
        pool.spawner().spawn_local(canary).unwrap();
        pool.run_until(async {
            // A blocking call inside async code: the executor cannot run
            // the canary meanwhile.
            std::thread::sleep(Duration::from_millis(200));
            futures_timer_free_yield().await;
        });
        let blocked = probe.finish();
        assert!(
            blocked.max_us >= 150_000,
            "the canary should have waited ~200 ms: {blocked:?}"
        );

        let (probe, canary) = StallProbe::start().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let canary = tokio::spawn(canary);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let stall = probe.finish();
            canary.await.unwrap();
            assert!(stall.samples >= 10, "{stall:?}");
            assert!(
                stall.max_us < 50_000,
                "a free executor should poll the canary at once: {stall:?}"
            );
        });
    }

    /// Yields once, so the executor gets to poll other tasks.
    async fn futures_timer_free_yield() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }
}
