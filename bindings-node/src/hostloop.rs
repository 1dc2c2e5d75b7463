//! `new WebSocketServer({ hostLoop: true })`: Node's libuv loop drives each connection's reads.
//!
//! The JS thread watches every session's socket with a libuv poll handle; when it is readable the
//! handle's callback runs the core's [`HostReader::read_ready`] on the JS thread (read, decode,
//! automatic replies, delivery); what every socket read in one loop iteration delivered goes to the
//! server's JS callback in one call in that same iteration (a check handle, run right after the I/O
//! callbacks), inside a callback scope (`napi_make_callback`) so that promise jobs and `nextTick`s
//! run after it as after any I/O callback. No protocol work here: only the watch (started when JS
//! learns of the open, stopped when the core says so, started again when its resume hook fires)
//! and the hand-over of the delivered events.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use wssession_core::Session;
use wssession_core::session::{HostRead, HostReader};

use crate::hub::Hub;

/// libuv's `uv_handle_type` values used here (uv.h: `UV_HANDLE_TYPE_MAP`).
const UV_CHECK: c_int = 2;
const UV_POLL: c_int = 8;
/// `uv_poll_event::UV_READABLE`.
const UV_READABLE: c_int = 1;

type UvPollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type UvCloseCb = unsafe extern "C" fn(handle: *mut c_void);
type UvCheckCb = unsafe extern "C" fn(handle: *mut c_void);

// Exported by the node binary that loads this addon (libuv is part of node).
unsafe extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: UvPollCb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: UvCloseCb);
    fn uv_check_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_check_start(handle: *mut c_void, cb: UvCheckCb) -> c_int;
    fn uv_check_stop(handle: *mut c_void) -> c_int;
}

thread_local! {
    /// Set while a host read runs on this thread: the events it delivers stay in the hub's queue
    /// for the caller to hand to JS (no threadsafe-function call).
    static READING: Cell<bool> = const { Cell::new(false) };
}

/// Whether events emitted now are collected by a host read on this thread.
pub(crate) fn reading_here() -> bool {
    READING.get()
}

/// Runs `f` with the current thread marked as reading for the host loop.
fn reading<R>(f: impl FnOnce() -> R) -> R {
    let previous = READING.replace(true);
    let r = f();
    READING.set(previous);
    r
}

/// What the host loop of one server needs on the JS thread.
pub(crate) struct HostLoop {
    env: sys::napi_env,
    event_loop: *mut sys::uv_loop_s,
    /// The server's JS batch callback.
    callback: sys::napi_ref,
    /// The async context the callback runs in (`napi_make_callback`).
    context: sys::napi_async_context,
    /// The watched sessions, by id (their `Watch` is freed by the handle's close callback).
    watches: Mutex<HashMap<u64, WatchPtr>>,
    /// The server's hub (which holds this).
    hub: Weak<Hub>,
    /// A check handle (run right after the loop's I/O callbacks): what every socket read in one
    /// loop iteration delivered goes to JS in one call from it. Its `data` holds a strong `Hub`
    /// while it is started. Never closed: the hub cannot close it from another thread when it goes
    /// (one small allocation per server).
    check: *mut c_void,
    /// The check handle is started.
    check_started: Cell<bool>,
}

/// A pointer to a live `Watch`, only dereferenced on the JS thread.
#[derive(Clone, Copy)]
struct WatchPtr(*mut Watch);

// SAFETY: the raw handles (and `check_started`) are only used on the JS thread that made them (every method that touches
// them is called from a napi callback or a libuv callback of that thread); other threads only move
// the struct inside the hub's `Arc`.
unsafe impl Send for HostLoop {}
unsafe impl Sync for HostLoop {}
unsafe impl Send for WatchPtr {}

/// One watched socket: the libuv handle's memory (its first field, `data`, points back here), the
/// reader, and the server's hub.
struct Watch {
    handle: Box<[u64]>,
    reader: HostReader,
    sid: u64,
    hub: Arc<Hub>,
    watching: bool,
}

impl HostLoop {
    /// On the JS thread: the host loop of a server whose batches go to `callback`.
    pub(crate) fn new(env: sys::napi_env, callback: sys::napi_value, hub: Weak<Hub>) -> napi::Result<HostLoop> {
        let mut event_loop = ptr::null_mut();
        let mut callback_ref = ptr::null_mut();
        let mut resource = ptr::null_mut();
        let mut name = ptr::null_mut();
        let mut context = ptr::null_mut();
        let label = "wssession.hostLoop";
        // SAFETY: plain napi calls on the JS thread with valid out-pointers.
        let ok = unsafe {
            sys::napi_get_uv_event_loop(env, &mut event_loop) == sys::Status::napi_ok
                && sys::napi_create_reference(env, callback, 1, &mut callback_ref) == sys::Status::napi_ok
                && sys::napi_create_object(env, &mut resource) == sys::Status::napi_ok
                && sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name)
                    == sys::Status::napi_ok
                && sys::napi_async_init(env, resource, name, &mut context) == sys::Status::napi_ok
        };
        // SAFETY: libuv's own size for its handle type; the memory is never freed (see `check`).
        let check = unsafe {
            let size = uv_handle_size(UV_CHECK);
            Box::leak(vec![0u64; size.div_ceil(8)].into_boxed_slice()).as_mut_ptr().cast::<c_void>()
        };
        if !ok || unsafe { uv_check_init(event_loop, check) } != 0 {
            return Err(crate::error::invalid("cannot reach the JS thread's libuv loop for hostLoop"));
        }
        Ok(HostLoop {
            env,
            event_loop,
            callback: callback_ref,
            context,
            watches: Mutex::new(HashMap::new()),
            hub,
            check,
            check_started: Cell::new(false),
        })
    }

    /// On the JS thread, once JS knows of `s`: starts watching its socket (false when the session is
    /// read by the engine, or its reader is gone).
    pub(crate) fn start(&self, s: &Session) -> bool {
        let Some(hub) = self.hub.upgrade() else { return false };
        let Some(reader) = s.take_host_reader() else { return false };
        let sid = s.id();
        let resume_hub = self.hub.clone();
        reader.set_resume_hook(Arc::new(move || {
            if let Some(hub) = resume_hub.upgrade() {
                hub.resume_host_read(sid);
            }
        }));
        // SAFETY: the size libuv reports for its own handle type.
        let size = unsafe { uv_handle_size(UV_POLL) };
        let handle = vec![0u64; size.div_ceil(8)].into_boxed_slice();
        let fd = reader.fd();
        let w = Box::into_raw(Box::new(Watch { handle, reader, sid, hub, watching: false }));
        // SAFETY: `w` is live until the close callback; the handle's memory is as large as libuv's
        // handle and lives in `w`. `data` is the first field of every libuv handle.
        unsafe {
            let h = (*w).handle.as_mut_ptr().cast::<c_void>();
            if uv_poll_init(self.event_loop, h, fd) != 0 {
                drop(Box::from_raw(w));
                return false;
            }
            *h.cast::<*mut c_void>() = w.cast();
        }
        self.watches.lock().unwrap().insert(sid, WatchPtr(w));
        self.resume(sid);
        true
    }

    /// On the JS thread: watches session `sid` again and reads what is already there (delivered by
    /// the hub's next batch: this runs while one is being made).
    pub(crate) fn resume(&self, sid: u64) {
        let Some(WatchPtr(w)) = self.watches.lock().unwrap().get(&sid).copied() else { return };
        // SAFETY: a watch in the map is live (removed before its handle closes).
        unsafe {
            if !(*w).watching {
                (*w).watching = uv_poll_start((*w).handle.as_mut_ptr().cast(), UV_READABLE, on_readable) == 0;
            }
            read(self, w, false);
        }
    }

    /// On the JS thread, from a socket's read: what it delivered goes to JS once this loop iteration's
    /// I/O callbacks are done (together with what the other sockets read meanwhile).
    fn deliver_soon(&self, hub: &Arc<Hub>) {
        if self.check_started.replace(true) {
            return;
        }
        // SAFETY: the check handle was initialised on this thread; `data` is its first field.
        unsafe {
            *self.check.cast::<*const Hub>() = Arc::into_raw(Arc::clone(hub));
            uv_check_start(self.check, on_check);
        }
    }

    /// On the JS thread: hands `batch` to the server's JS callback now, as an I/O callback would
    /// (handle scope, callback scope: microtasks run when it returns; an exception is uncaught).
    fn call_js(&self, hub: &Hub) {
        let Some(batch) = hub.collect_here() else { return };
        let env = self.env;
        // SAFETY: napi calls on the JS thread, inside a handle scope opened here.
        unsafe {
            let mut scope = ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
                return;
            }
            let mut func = ptr::null_mut();
            let mut recv = ptr::null_mut();
            if sys::napi_get_reference_value(env, self.callback, &mut func) == sys::Status::napi_ok
                && sys::napi_get_global(env, &mut recv) == sys::Status::napi_ok
                && let Ok(arg) = ToNapiValue::to_napi_value(env, batch)
            {
                let mut result = ptr::null_mut();
                let status = sys::napi_make_callback(env, self.context, recv, func, 1, &arg, &mut result);
                if status == sys::Status::napi_pending_exception {
                    let mut err = ptr::null_mut();
                    if sys::napi_get_and_clear_last_exception(env, &mut err) == sys::Status::napi_ok {
                        sys::napi_fatal_exception(env, err);
                    }
                }
            }
            sys::napi_close_handle_scope(env, scope);
        }
    }
}

/// libuv's check callback, after the iteration's I/O callbacks: hands what they read to JS.
unsafe extern "C" fn on_check(handle: *mut c_void) {
    // SAFETY: `deliver_soon` stored a strong hub in `data` before starting the handle.
    let hub = unsafe {
        uv_check_stop(handle);
        Arc::from_raw(*handle.cast::<*const Hub>())
    };
    if let Some(host) = hub.host() {
        host.check_started.set(false);
        host.call_js(&hub);
    }
}

/// libuv's callback: the socket is readable (or failed: the read reports it).
unsafe extern "C" fn on_readable(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` was set to the live `Watch` before the handle started.
    let w = unsafe { *handle.cast::<*mut Watch>() };
    let hub = unsafe { Arc::clone(&(*w).hub) };
    if let Some(host) = hub.host() {
        unsafe { read(host, w, true) };
    }
}

/// Reads on the JS thread, and hands what was delivered to JS in this loop iteration when `deliver`
/// (else the hub's next batch does); stops the watch, or ends it, as the core says.
///
/// # Safety
/// `w` is a live watch of `host`, on the JS thread.
unsafe fn read(host: &HostLoop, w: *mut Watch, deliver: bool) {
    let (status, hub) = unsafe {
        let status = reading(|| (*w).reader.read_ready());
        if status != HostRead::Watch && (*w).watching {
            uv_poll_stop((*w).handle.as_mut_ptr().cast());
            (*w).watching = false;
        }
        (status, Arc::clone(&(*w).hub))
    };
    if status == HostRead::Done {
        let sid = unsafe { (*w).sid };
        host.watches.lock().unwrap().remove(&sid);
        // SAFETY: stopped above; the close callback frees the watch (and drops the reader) once libuv
        // no longer uses the handle.
        unsafe { uv_close((*w).handle.as_mut_ptr().cast(), on_closed) };
    }
    if deliver {
        host.deliver_soon(&hub);
    } else {
        hub.schedule();
    }
}

/// libuv's close callback: the handle is unused, the watch goes.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: `data` is the watch made by `start`, freed only here.
    drop(unsafe { Box::from_raw(*handle.cast::<*mut Watch>()) });
}
