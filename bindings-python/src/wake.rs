//! Waking the asyncio loop from runtime threads without touching Python there.
//!
//! A receive that finds no message parks a [`Waiter`] in its connection's inbox, whose wait for
//! the core's next messages is polled on the loop thread with a waker of ours; when the core wakes
//! it (on a runtime thread), the inbox is queued here and, when the queue was empty, one byte is
//! written to a socket pair the loop watches (`loop.add_reader`). The loop then resumes every parked
//! receive in one go: one wake-up per batch of connections, and the GIL is only ever taken on the
//! loop thread (no `call_soon_threadsafe`, no thread handoff per message).
//!
//! The waiter is a minimal asyncio-compatible future (the protocol `asyncio.Task` accepts from any
//! awaitable: `_asyncio_future_blocking`, `get_loop`, `add_done_callback`, `result`, `cancel`). Its
//! completion runs the task's wake-up callback right away, in the callback's context, instead of
//! scheduling it with `call_soon`: no asyncio Future, Handle or extra loop pass per message.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

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
        if let Some(inbox) = self.inbox.upgrade()
            && !crate::hostloop::delivering(&inbox)
        {
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
        // The publishes of the tasks resumed here leave in one flush, when this wake-up is done.
        let publishes = wssession_core::topics::HostBatch::open();
        // The woken tasks run right here: while they do, packets arriving for the engine must not
        // preempt the loop's thread (see `runtime::batch_worthwhile`).
        let batch = wssession_core::runtime::batch_worthwhile(ready.len());
        if batch {
            wssession_core::runtime::set_threads_batch(true);
        }
        for inbox in ready {
            if let Some(waiter) = inbox.wake_up() {
                // A cancelled receive's waiter is done already (and its task woken by `cancel`).
                Waiter::complete(waiter.bind(py));
            }
        }
        drop(publishes);
        if batch {
            wssession_core::runtime::set_threads_batch(false);
        }
    }
}

/// Where a waiter is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitState {
    Pending,
    Done,
    Cancelled,
}

/// A parked receive, as the asyncio-compatible future its task waits on (resumed by the loop's waker).
#[pyclass(module = "wssession._wssession")]
pub struct Waiter {
    event_loop: Py<PyAny>,
    state: WaitState,
    blocking: bool,
    /// (callback, context) pairs to run once done.
    callbacks: Vec<(Py<PyAny>, Option<Py<PyAny>>)>,
    /// An empty list with room, swapped in for `callbacks` on completion (no allocation per message).
    spare: Vec<(Py<PyAny>, Option<Py<PyAny>>)>,
    cancel_msg: Option<Py<PyAny>>,
}

static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn asyncio_attr<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    ASYNCIO.get_or_try_init(py, || Ok::<_, PyErr>(py.import("asyncio")?.unbind()))?.bind(py).getattr(name)
}

impl Waiter {
    /// A pending waiter of `event_loop`, already marked as blocking (what `Future.__await__` does
    /// before yielding the future to its task).
    pub fn new(event_loop: Py<PyAny>) -> Self {
        Self {
            event_loop,
            state: WaitState::Pending,
            blocking: true,
            callbacks: Vec::new(),
            spare: Vec::new(),
            cancel_msg: None,
        }
    }

    /// Makes a resumed waiter pending again, for its connection's next park; false if it cannot be
    /// (cancelled, or still pending).
    pub fn rearm(&mut self) -> bool {
        if self.state != WaitState::Done || !self.callbacks.is_empty() {
            return false;
        }
        self.state = WaitState::Pending;
        self.blocking = true;
        true
    }

    /// Completes a pending waiter and runs its callbacks now (each in its context); no-op once done.
    pub fn complete(slf: &Bound<'_, Self>) {
        let mut callbacks = {
            let mut w = slf.borrow_mut();
            if w.state != WaitState::Pending {
                return;
            }
            w.state = WaitState::Done;
            let spare = std::mem::take(&mut w.spare);
            std::mem::replace(&mut w.callbacks, spare)
        };
        let py = slf.py();
        for (cb, ctx) in callbacks.drain(..) {
            let r = match ctx {
                Some(ctx) => ctx.bind(py).call_method1(pyo3::intern!(py, "run"), (cb, slf)),
                None => cb.bind(py).call1((slf,)),
            };
            if let Err(e) = r {
                crate::bridge::log_error(py, "a receive's wake-up callback failed", e);
            }
        }
        // The emptied list is the next completion's spare (a callback may have used this waiter
        // again meanwhile: its own list is left alone).
        if let Ok(mut w) = slf.try_borrow_mut() {
            w.spare = callbacks;
        }
    }

    fn schedule(slf: &Bound<'_, Self>, cb: Py<PyAny>, ctx: Option<Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let kwargs = PyDict::new(py);
        kwargs.set_item("context", ctx)?;
        let event_loop = slf.borrow().event_loop.clone_ref(py);
        event_loop.bind(py).call_method("call_soon", (cb, slf), Some(&kwargs))?;
        Ok(())
    }
}

#[pymethods]
impl Waiter {
    /// Set by a task that waits on this waiter (asyncio's future protocol).
    #[getter(_asyncio_future_blocking)]
    fn future_blocking(&self) -> bool {
        self.blocking
    }

    #[setter(_asyncio_future_blocking)]
    fn set_future_blocking(&mut self, value: bool) {
        self.blocking = value;
    }

    /// The event loop the waiter belongs to.
    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    /// Runs ``callback(waiter)`` once done (scheduled with ``call_soon`` when already done).
    #[pyo3(signature = (callback, *, context=None))]
    fn add_done_callback(slf: &Bound<'_, Self>, callback: Py<PyAny>, context: Option<Py<PyAny>>) -> PyResult<()> {
        if slf.borrow().state == WaitState::Pending {
            slf.borrow_mut().callbacks.push((callback, context));
            return Ok(());
        }
        Self::schedule(slf, callback, context)
    }

    /// Removes every registration of ``callback``; returns how many there were.
    fn remove_done_callback(&mut self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<usize> {
        let before = self.callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for (cb, ctx) in std::mem::take(&mut self.callbacks) {
            if !cb.bind(py).eq(callback)? {
                kept.push((cb, ctx));
            }
        }
        self.callbacks = kept;
        Ok(before - self.callbacks.len())
    }

    /// Whether the waiter is done (resumed or cancelled).
    fn done(&self) -> bool {
        self.state != WaitState::Pending
    }

    /// Whether the waiter was cancelled.
    fn cancelled(&self) -> bool {
        self.state == WaitState::Cancelled
    }

    /// None once resumed; CancelledError if cancelled; InvalidStateError while pending.
    fn result(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.exception(py)
    }

    /// None once resumed (a waiter never fails); CancelledError if cancelled.
    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.state {
            WaitState::Done => Ok(None),
            WaitState::Pending => {
                Err(PyErr::from_value(asyncio_attr(py, "InvalidStateError")?.call1(("Result is not ready.",))?))
            }
            WaitState::Cancelled => {
                let msg = self.cancel_msg.as_ref().map(|m| m.clone_ref(py)).unwrap_or_else(|| py.None());
                let exc = asyncio_attr(py, "CancelledError")?;
                Err(PyErr::from_value(if msg.is_none(py) { exc.call0()? } else { exc.call1((msg,))? }))
            }
        }
    }

    /// Cancels a pending waiter (its callbacks are scheduled); False once done.
    #[pyo3(signature = (msg=None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let callbacks = {
            let mut w = slf.borrow_mut();
            if w.state != WaitState::Pending {
                return Ok(false);
            }
            w.state = WaitState::Cancelled;
            w.cancel_msg = msg;
            std::mem::take(&mut w.callbacks)
        };
        for (cb, ctx) in callbacks {
            Self::schedule(slf, cb, ctx)?;
        }
        Ok(true)
    }
}
