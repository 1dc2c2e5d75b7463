//! Waking the asyncio loop from runtime threads without touching Python there.
//!
//! A receive that finds no message parks an asyncio future in its connection's inbox, whose wait for
//! the core's next messages is polled on the loop thread with a waker of ours; when the core wakes
//! it (on a runtime thread), the inbox is queued here and, when the queue was empty, one byte is
//! written to a socket pair the loop watches (`loop.add_reader`). The loop then resolves every parked
//! future in one go: one wake-up per batch of connections, and the GIL is only ever taken on the
//! loop thread (no `call_soon_threadsafe`, no thread handoff per message).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;

use crate::session::Inbox;

/// The runtime side: inboxes whose parked future can be resolved, and the write end.
pub struct Shared {
    pending: Mutex<Vec<Arc<Inbox>>>,
    tx: UnixStream,
}

impl Shared {
    /// Queues `inbox` for the loop; wakes the loop when the queue was empty.
    pub fn wake(&self, inbox: Arc<Inbox>) {
        let first = {
            let mut p = self.pending.lock().unwrap();
            p.push(inbox);
            p.len() == 1
        };
        if first {
            // WouldBlock: the pipe is full of wake-ups the loop has yet to read, so it will run anyway.
            let _ = (&self.tx).write(&[1]);
        }
    }
}

/// A connection's waker, registered with the core by the inbox's pending wait.
pub struct InboxWaker {
    pub(crate) inbox: Weak<Inbox>,
    pub(crate) shared: Arc<Shared>,
}

impl std::task::Wake for InboxWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(inbox) = self.inbox.upgrade() {
            self.shared.wake(inbox);
        }
    }
}

/// One per event loop: its ``fileno()`` is watched with ``loop.add_reader(fd, waker.run)``.
#[pyclass(module = "wssession._wssession", frozen)]
pub struct LoopWaker {
    pub(crate) shared: Arc<Shared>,
    rx: UnixStream,
}

#[pymethods]
impl LoopWaker {
    /// A waker with a fresh non-blocking socket pair.
    #[new]
    fn new() -> PyResult<Self> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Self { shared: Arc::new(Shared { pending: Mutex::new(Vec::new()), tx }), rx })
    }

    /// The descriptor the loop watches for reading.
    fn fileno(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// Resolves the parked futures of every inbox queued since the last run (the loop's reader callback).
    fn run(&self, py: Python<'_>) {
        let mut sink = [0u8; 256];
        loop {
            match (&self.rx).read(&mut sink) {
                Ok(n) if n == sink.len() => continue,
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let ready = std::mem::take(&mut *self.shared.pending.lock().unwrap());
        for inbox in ready {
            if let Some(fut) = inbox.wake_up() {
                let fut = fut.bind(py);
                // A cancelled receive's future is done already: InvalidStateError, ignored.
                if let Err(e) = fut.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))
                    && !fut.call_method0(pyo3::intern!(py, "done")).and_then(|d| d.is_truthy()).unwrap_or(false)
                {
                    crate::bridge::log_error(py, "cannot resume a waiting receive", e);
                }
            }
        }
    }
}
