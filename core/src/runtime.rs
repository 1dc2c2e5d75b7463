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

/// Runtimes with more threads than this keep their policy during an embedder's batches: the switch
/// costs one system call per thread, and with many cores a woken runtime thread rarely lands on the
/// embedder loop's core anyway.
const BATCH_POLICY_MAX_THREADS: usize = 2;

/// Default least batch for [`batch_worthwhile`]: a smaller batch is over before a packet is likely
/// to arrive, and the switch there and back costs two system calls per thread.
const BATCH_POLICY_MIN_EVENTS: usize = 4;

/// Whether an embedder's event loop (libuv, asyncio) about to handle `events` events in one go should
/// run that batch with the runtime's threads under `SCHED_BATCH` ([`set_threads_batch`] on, then off
/// at its end), so packets arriving meanwhile do not preempt it on a shared core.
///
/// `WSSESSION_SCHED_BATCH=N` sets the least batch (0 = never; default 4). Never off Linux, nor with
/// more than 2 runtime threads. Switching per batch instead of for good keeps an idle loop's wake-ups
/// prompt on a loaded machine (a thread left under `SCHED_BATCH` waits up to a scheduler tick).
pub fn batch_worthwhile(events: usize) -> bool {
    static MIN: OnceCell<usize> = OnceCell::new();
    let min = *MIN.get_or_init(|| match std::env::var("WSSESSION_SCHED_BATCH") {
        _ if !cfg!(target_os = "linux") => 0,
        Ok(v) => v.trim().parse().unwrap_or(BATCH_POLICY_MIN_EVENTS),
        Err(_) => BATCH_POLICY_MIN_EVENTS,
    });
    min > 0 && events >= min && thread_count() <= BATCH_POLICY_MAX_THREADS
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
