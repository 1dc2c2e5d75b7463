//! The one internal multi-threaded tokio runtime, created on first use; every binding reuses it.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use once_cell::sync::OnceCell;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

static WORKERS: AtomicUsize = AtomicUsize::new(0);
static BATCH: AtomicBool = AtomicBool::new(false);
static RUNTIME: OnceCell<Runtime> = OnceCell::new();
/// Kernel ids of the runtime's live threads (Linux), for [`set_threads_batch`].
static THREADS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

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

/// Applies `SCHED_BATCH` (or back `SCHED_OTHER`) to thread `tid`, 0 = the calling thread (best effort).
#[cfg(target_os = "linux")]
fn set_policy(tid: i32, batch: bool) {
    let param = libc::sched_param { sched_priority: 0 };
    let policy = if batch { libc::SCHED_BATCH } else { libc::SCHED_OTHER };
    // SAFETY: `param` is a valid sched_param; `tid` is 0 or one of our runtime threads. A failure
    // leaves the policy as is.
    unsafe {
        libc::sched_setscheduler(tid, policy, &param);
    }
}

/// Switches every runtime thread to `SCHED_BATCH` (`on`) or back to `SCHED_OTHER`, now (Linux; a
/// no-op elsewhere). One system call per runtime thread: meant for an embedder whose event loop
/// shares a core with the runtime, around a burst of work during which an incoming packet should
/// not preempt it (see [`set_batch_scheduling`]); left on, wake-ups wait for the running thread.
pub fn set_threads_batch(on: bool) {
    #[cfg(target_os = "linux")]
    for &tid in THREADS.lock().unwrap().iter() {
        set_policy(tid, on);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = on;
}

/// How many threads the runtime has now (workers and blocking-pool threads).
pub fn thread_count() -> usize {
    THREADS.lock().unwrap().len()
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
            #[cfg(target_os = "linux")]
            {
                // SAFETY: gettid has no preconditions.
                THREADS.lock().unwrap().push(unsafe { libc::gettid() });
                if BATCH.load(Ordering::Relaxed) {
                    set_policy(0, true);
                }
            }
        })
        .on_thread_stop(|| {
            #[cfg(target_os = "linux")]
            {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                THREADS.lock().unwrap().retain(|&t| t != tid);
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
