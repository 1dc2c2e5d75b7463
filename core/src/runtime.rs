//! The one internal multi-threaded tokio runtime, created on first use; every binding reuses it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use once_cell::sync::OnceCell;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

static WORKERS: AtomicUsize = AtomicUsize::new(0);
static BATCH: AtomicBool = AtomicBool::new(false);
static RUNTIME: OnceCell<Runtime> = OnceCell::new();

/// Sets the worker thread count (0 = one per core). Only before first use.
pub fn set_worker_threads(n: usize) -> Result<()> {
    if RUNTIME.get().is_some() {
        return Err(Error::RuntimeStarted);
    }
    WORKERS.store(n, Ordering::SeqCst);
    Ok(())
}

/// Runs the runtime's threads under the batch scheduling policy (Linux `SCHED_BATCH`; a no-op
/// elsewhere). Only before first use.
///
/// Such a thread does not preempt the thread running on its CPU when it wakes up (an incoming packet);
/// it runs when that thread blocks or its time slice ends. For an embedder whose own event loop
/// (asyncio, libuv) shares a core with the runtime, this replaces two context switches per message
/// with one batch of I/O per loop pass; on an otherwise idle multi-core machine it changes little.
pub fn set_batch_scheduling(on: bool) -> Result<()> {
    if RUNTIME.get().is_some() {
        return Err(Error::RuntimeStarted);
    }
    BATCH.store(on, Ordering::SeqCst);
    Ok(())
}

/// Applies `SCHED_BATCH` to the calling thread (best effort).
fn batch_this_thread() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread. A failure leaves the policy as is.
        unsafe {
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
    }
}

/// The runtime, created on first call.
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        match WORKERS.load(Ordering::SeqCst) {
            0 => &mut b,
            n => b.worker_threads(n),
        }
        .thread_name("wssession")
        .on_thread_start(|| {
            if BATCH.load(Ordering::Relaxed) {
                batch_this_thread();
            }
        })
        .enable_all()
        .build()
        .expect("cannot start the wssession runtime (out of threads or memory?)")
    })
}

/// Spawns a task on the internal runtime, wherever the caller runs.
pub fn spawn<F>(f: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(f)
}

/// Whether the calling thread is a runtime thread (blocking there would deadlock).
pub fn on_runtime_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `f` to completion on the runtime from a plain thread; fails on a runtime thread.
pub fn block_on<F>(f: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if on_runtime_thread() {
        return Err(Error::WouldDeadlock);
    }
    Ok(runtime().block_on(f))
}
