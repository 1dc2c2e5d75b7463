//! Host batches: a host thread's publishes leave in one flush at the end of the host's batch.
//!
//! A publish queues its frame to every subscriber and defers the writes to the flusher, which
//! normally spawns one flush task per burst. Publishes made by a host thread (Node's JS thread
//! handling one batch of events, a Python asyncio loop resuming the tasks one wake-up made ready)
//! would each schedule a flush of their own: on a shared core the runtime thread preempts the host
//! per publish and writes one publish at a time. While a host batch is open on a thread, a deferred
//! flush is only collected; closing the outermost batch flushes what was collected, on this thread,
//! so each subscriber gets one write for all of the batch's publishes. Outside a batch nothing changes.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use super::fanout::Flusher;

/// The open host batches of one thread and the flushers their publishes scheduled.
struct Batch {
    depth: usize,
    flushers: Vec<Arc<Flusher>>,
}

thread_local! {
    static BATCH: RefCell<Batch> = const { RefCell::new(Batch { depth: 0, flushers: Vec::new() }) };
}

/// Opens a host batch on the calling thread (batches nest): deferred flushes scheduled on this
/// thread wait for the outermost [`end_host_batch`]. Every call must be followed by one
/// [`end_host_batch`] on the same thread; in Rust prefer the [`HostBatch`] guard.
pub fn begin_host_batch() {
    BATCH.with_borrow_mut(|b| b.depth += 1);
}

/// Closes the innermost host batch of the calling thread; closing the outermost one flushes every
/// publish deferred during it, on this thread. Without an open batch it does nothing.
pub fn end_host_batch() {
    let flushers = BATCH.with_borrow_mut(|b| match b.depth {
        0 => Vec::new(),
        1 => {
            b.depth = 0;
            std::mem::take(&mut b.flushers)
        }
        _ => {
            b.depth -= 1;
            Vec::new()
        }
    });
    for f in flushers {
        f.flush_pending();
    }
}

/// Whether a host batch is open on this thread: its publishes wait for its end rather than write at once.
pub(super) fn is_open() -> bool {
    BATCH.with_borrow(|b| b.depth > 0)
}

/// Leaves `flusher`'s deferred writes to the end of the host batch open on this thread, if any:
/// false (schedule a flush as usual) otherwise.
pub(super) fn collect(flusher: &Arc<Flusher>) -> bool {
    BATCH.with_borrow_mut(|b| {
        if b.depth == 0 {
            return false;
        }
        if !b.flushers.iter().any(|f| Arc::ptr_eq(f, flusher)) {
            b.flushers.push(Arc::clone(flusher));
        }
        true
    })
}

/// A host batch open on this thread until the guard drops (see [`begin_host_batch`]).
#[must_use = "the batch ends when the guard drops"]
pub struct HostBatch {
    /// Bound to the thread that opened it.
    _thread: PhantomData<*const ()>,
}

impl HostBatch {
    /// Opens a host batch on the calling thread.
    pub fn open() -> HostBatch {
        begin_host_batch();
        HostBatch { _thread: PhantomData }
    }
}

impl Drop for HostBatch {
    fn drop(&mut self) {
        end_host_batch();
    }
}
