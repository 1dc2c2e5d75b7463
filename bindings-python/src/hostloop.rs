//! `serve(host_loop=True)`: the asyncio loop drives a connection's reads.
//!
//! The loop watches the socket (`loop.add_reader(fd, conn._host_read)`); each call runs the core's
//! [`HostReader::read_ready`] on the loop thread (read, decode, automatic replies, delivery), then
//! resumes a receive parked on this connection right away. No protocol work here: only the watch
//! (added, removed when the core says to stop, added again when its resume hook fires) and the
//! hand-over of what arrived to the connection's inbox.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use wssession_core::session::{HostRead, HostReader};

use crate::bridge;
use crate::session::{Connection, Inbox};
use crate::wake::Waiter;

/// A connection's reader while the loop drives it.
pub struct HostWatch {
    reader: HostReader,
    event_loop: Py<PyAny>,
    /// The loop's reader callback is registered.
    watching: bool,
}

thread_local! {
    /// The connection whose reads are being delivered on this thread right now: the core's queue wakes
    /// its inbox then, which needs no loop wake-up (the delivery resumes its receive directly).
    static DELIVERING: Cell<*const Inbox> = const { Cell::new(std::ptr::null()) };
}

/// Whether `inbox` is the one being delivered to on this thread (its wake-up is handled inline).
pub fn delivering(inbox: &Inbox) -> bool {
    std::ptr::eq(DELIVERING.get(), inbox)
}

/// Holds `Connection::host`: one per connection.
#[derive(Default)]
pub struct HostSlot(Mutex<Option<HostWatch>>);

/// Starts (or resumes) the loop's watch of `conn`'s socket and reads what is already there; false
/// when the connection is not read by the host (the default mode) or its reader is done.
pub fn watch(conn: &Bound<'_, Connection>) -> PyResult<bool> {
    let py = conn.py();
    let this = conn.get();
    {
        let mut slot = this.host.0.lock().unwrap();
        if slot.is_none() {
            let Some(reader) = this.session.take_host_reader() else { return Ok(false) };
            let event_loop = bridge::running_loop(py)?.unbind();
            let (lp, me) = (event_loop.clone_ref(py), conn.clone().unbind());
            reader.set_resume_hook(Arc::new(move || {
                bridge::attach(|py| {
                    let r = me.bind(py).getattr(pyo3::intern!(py, "_host_watch")).and_then(|watch| {
                        lp.bind(py).call_method1(pyo3::intern!(py, "call_soon_threadsafe"), (watch,))
                    });
                    // A closed loop: the connection goes with it.
                    drop(r);
                });
            }));
            *slot = Some(HostWatch { reader, event_loop, watching: false });
        }
        let h = slot.as_mut().expect("set above");
        if !h.watching {
            let callback = conn.getattr(pyo3::intern!(py, "_host_read"))?;
            h.event_loop.bind(py).call_method1(pyo3::intern!(py, "add_reader"), (h.reader.fd(), callback))?;
            h.watching = true;
        }
    }
    read(conn)?;
    Ok(true)
}

/// The loop's reader callback: reads and delivers on this thread; stops the watch when the core says so.
pub fn read(conn: &Bound<'_, Connection>) -> PyResult<()> {
    let py = conn.py();
    let this = conn.get();
    // The publishes of what this read delivers leave in one flush, when it is done.
    let _publishes = wssession_core::topics::HostBatch::open();
    let mut slot = this.host.0.lock().unwrap();
    let Some(h) = slot.as_mut() else { return Ok(()) };
    let previous = DELIVERING.replace(Arc::as_ptr(&this.inbox));
    // Detached while the core reads and delivers: a callback running on an engine thread (on_open,
    // on_close) holds the session's callback lock and waits for the GIL; holding the GIL here while
    // the delivery waits for that lock would deadlock. The handler attaches again for each call.
    let reader = &mut h.reader;
    let status = py.detach(|| reader.read_ready());
    DELIVERING.set(previous);
    if status != HostRead::Watch && h.watching {
        h.watching = false;
        h.event_loop.bind(py).call_method1(pyo3::intern!(py, "remove_reader"), (h.reader.fd(),))?;
    }
    // Dropped only once the loop no longer watches its socket.
    let done = if status == HostRead::Done { slot.take() } else { None };
    drop(slot);
    drop(done);
    if !this.session.has_event_handler()
        && let Some(waiter) = this.inbox.wake_up()
    {
        Waiter::complete(waiter.bind(py));
    }
    Ok(())
}
