//! The one internal multi-threaded tokio runtime, created on first use; every binding reuses it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use once_cell::sync::OnceCell;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

static WORKERS: AtomicUsize = AtomicUsize::new(0);
static RUNTIME: OnceCell<Runtime> = OnceCell::new();

/// Sets the worker thread count (0 = one per core). Only before first use.
pub fn set_worker_threads(n: usize) -> Result<()> {
    if RUNTIME.get().is_some() {
        return Err(Error::RuntimeStarted);
    }
    WORKERS.store(n, Ordering::SeqCst);
    Ok(())
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
