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
use std::io;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use napi::bindgen_prelude::ToNapiValue;
use napi::sys;
use wssession_core::host_accept::{HeadStep, HostHandshake};
use wssession_core::session::{HostRead, HostReader};
use wssession_core::{Decision, Request, Server, Session};

use crate::hub::Hub;

/// libuv's `uv_handle_type` values used here (uv.h: `UV_HANDLE_TYPE_MAP`).
const UV_CHECK: c_int = 2;
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
/// Connections accepted per readiness of the listener at most (the loop's other work goes on).
const ACCEPT_BATCH: usize = 64;
/// How long accepting pauses after an error other than "nothing to accept" (out of descriptors).
const ACCEPT_BACKOFF_MS: u64 = 10;
/// `uv_poll_event::UV_READABLE`.
const UV_READABLE: c_int = 1;

type UvPollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type UvCloseCb = unsafe extern "C" fn(handle: *mut c_void);
type UvCheckCb = unsafe extern "C" fn(handle: *mut c_void);
type UvTimerCb = unsafe extern "C" fn(handle: *mut c_void);

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
    fn uv_timer_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_timer_start(handle: *mut c_void, cb: UvTimerCb, timeout: u64, repeat: u64) -> c_int;
    fn uv_unref(handle: *mut c_void);
}

/// The accept decision made on the JS thread without JS (`None`: JS decides, on the engine's path).
pub(crate) type Decide = Arc<dyn Fn(&Request) -> Option<Decision> + Send + Sync>;

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
    /// With a port: the listener this thread accepts on (null before `listen` and once closed).
    listening: Cell<*mut Listening>,
    /// The accept decision for requests read here.
    decide: OnceLock<Decide>,
    /// Connections whose request head is being read here, by key, with their deadline.
    heads: Mutex<HashMap<u64, (HeadPtr, Instant)>>,
    next_head: Cell<u64>,
    /// One timer for the heads' deadlines (and the accept back-off), unreferenced; `data` holds a
    /// leaked `Weak<Hub>`. Never closed, as `check`.
    timer: *mut c_void,
    /// When the timer fires next, if armed.
    timer_due: Cell<Option<Instant>>,
}

/// The listening socket the JS thread accepts on, with its poll handle.
struct Listening {
    handle: Box<[u64]>,
    /// Closed as soon as the server closes (the handle's close completes later).
    listener: Option<std::net::TcpListener>,
    server: Server,
    hub: Weak<Hub>,
    /// Accepting is paused after an error (the timer starts it again).
    paused: bool,
}

/// A connection whose request head is read on the JS thread: its poll handle, which becomes the
/// session's once the head is answered.
#[repr(C)]
struct Head {
    /// True (see `Watch::head`).
    head: bool,
    handle: Box<[u64]>,
    hs: Option<HostHandshake>,
    hub: Arc<Hub>,
    key: u64,
}

/// A pointer to a live `Head`, only dereferenced on the JS thread.
#[derive(Clone, Copy)]
struct HeadPtr(*mut Head);

// SAFETY: as `WatchPtr`.
unsafe impl Send for HeadPtr {}

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
#[repr(C)]
struct Watch {
    /// False: tells a watch from a `Head` behind the same poll callback (see `on_head_readable`).
    head: bool,
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
        // SAFETY: as `check`.
        let timer = unsafe {
            let size = uv_handle_size(UV_TIMER);
            Box::leak(vec![0u64; size.div_ceil(8)].into_boxed_slice()).as_mut_ptr().cast::<c_void>()
        };
        if !ok || unsafe { uv_check_init(event_loop, check) } != 0 || unsafe { uv_timer_init(event_loop, timer) } != 0 {
            return Err(crate::error::invalid("cannot reach the JS thread's libuv loop for hostLoop"));
        }
        // SAFETY: the timer was initialised above; `data` is its first field. It never keeps Node alive.
        unsafe {
            *timer.cast::<*const Hub>() = Weak::into_raw(hub.clone());
            uv_unref(timer);
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
            listening: Cell::new(ptr::null_mut()),
            decide: OnceLock::new(),
            heads: Mutex::new(HashMap::new()),
            next_head: Cell::new(0),
            timer,
            timer_due: Cell::new(None),
        })
    }

    /// On the JS thread: accepts `server`'s connections from `listener` on this loop; `decide` answers
    /// their requests (see [`Decide`]).
    pub(crate) fn listen(&self, listener: std::net::TcpListener, server: Server, decide: Decide) -> napi::Result<()> {
        let _ = self.decide.set(decide);
        // SAFETY: the size libuv reports for its own handle type.
        let size = unsafe { uv_handle_size(UV_POLL) };
        let handle = vec![0u64; size.div_ceil(8)].into_boxed_slice();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let l = Box::into_raw(Box::new(Listening {
            handle,
            listener: Some(listener),
            server,
            hub: self.hub.clone(),
            paused: false,
        }));
        // SAFETY: `l` lives until the handle's close callback; `data` is the handle's first field.
        unsafe {
            let h = (*l).handle.as_mut_ptr().cast::<c_void>();
            if uv_poll_init(self.event_loop, h, fd) != 0 || uv_poll_start(h, UV_READABLE, on_acceptable) != 0 {
                drop(Box::from_raw(l));
                return Err(crate::error::invalid("cannot watch the listener on the JS thread's libuv loop"));
            }
            *h.cast::<*mut c_void>() = l.cast();
        }
        self.listening.set(l);
        Ok(())
    }

    /// On the JS thread: stops accepting and closes the listener (connections already accepted go on).
    pub(crate) fn close_listener(&self) {
        let l = self.listening.get();
        if !l.is_null() {
            // SAFETY: a live listener, on the JS thread.
            self.close_listening(unsafe { &mut *l });
        }
    }

    /// Closes `l`, this loop's listener: closing the handle stops the watch at once, so the socket
    /// closes now (a connection attempted afterwards is refused); the close callback frees `l`.
    fn close_listening(&self, l: &mut Listening) {
        self.listening.set(ptr::null_mut());
        l.listener = None;
        // SAFETY: the live listener's handle, on the JS thread.
        unsafe { uv_close(l.handle.as_mut_ptr().cast(), on_listener_closed) };
    }

    /// On the JS thread: takes every connection waiting on the listener, reads what each sent, and
    /// answers the complete heads (their sessions start here).
    fn accept_all(&self, hub: &Arc<Hub>, l: &mut Listening) {
        for _ in 0..ACCEPT_BATCH {
            if l.server.is_closed() {
                self.close_listening(l);
                break;
            }
            let Some(listener) = &l.listener else { break };
            match listener.accept() {
                Ok((tcp, peer)) => {
                    if tcp.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if let Some(mut hs) = l.server.host_handshake(tcp, peer) {
                        match self.advance(&mut hs) {
                            HeadStep::More => self.watch_head(hub, hs),
                            HeadStep::Open(s) => self.start_on(&s, None),
                            HeadStep::Ended => {}
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                // Out of descriptors or similar: back off instead of spinning on a readable listener.
                Err(_) => {
                    // SAFETY: the live listener's handle, on the JS thread.
                    unsafe { uv_poll_stop(l.handle.as_mut_ptr().cast()) };
                    l.paused = true;
                    self.arm(Instant::now() + std::time::Duration::from_millis(ACCEPT_BACKOFF_MS));
                    break;
                }
            }
        }
        self.deliver_soon(hub);
    }

    /// Reads and answers a head on this thread (a session's open is delivered with the next hand-over).
    fn advance(&self, hs: &mut HostHandshake) -> HeadStep {
        let decide = self.decide.get().cloned();
        reading(|| hs.read_ready(|req| decide.and_then(|d| d(req))))
    }

    /// Watches a connection whose head is incomplete until it is, or its deadline passes.
    fn watch_head(&self, hub: &Arc<Hub>, hs: HostHandshake) {
        // SAFETY: the size libuv reports for its own handle type.
        let size = unsafe { uv_handle_size(UV_POLL) };
        let handle = vec![0u64; size.div_ceil(8)].into_boxed_slice();
        let key = self.next_head.get();
        self.next_head.set(key + 1);
        let (fd, deadline) = (hs.fd(), hs.deadline());
        let head = Box::into_raw(Box::new(Head { head: true, handle, hs: Some(hs), hub: Arc::clone(hub), key }));
        // SAFETY: `head` lives until its handle's close callback (or becomes a session's watch).
        unsafe {
            let h = (*head).handle.as_mut_ptr().cast::<c_void>();
            if uv_poll_init(self.event_loop, h, fd) != 0 {
                drop(Box::from_raw(head));
                return;
            }
            *h.cast::<*mut c_void>() = head.cast();
            uv_poll_start(h, UV_READABLE, on_head_readable);
        }
        self.heads.lock().unwrap().insert(key, (HeadPtr(head), deadline));
        self.arm(deadline);
    }

    /// Makes the timer fire by `at`.
    fn arm(&self, at: Instant) {
        if self.timer_due.get().is_some_and(|due| due <= at) {
            return;
        }
        self.timer_due.set(Some(at));
        let ms = at.saturating_duration_since(Instant::now()).as_millis() as u64 + 1;
        // SAFETY: the timer was initialised on this thread.
        unsafe { uv_timer_start(self.timer, on_timer, ms, 0) };
    }

    /// The timer fired: answers the heads past their deadline with 408, resumes accepting, re-arms.
    fn on_timer(&self) {
        self.timer_due.set(None);
        let now = Instant::now();
        let (expired, next): (Vec<_>, Option<Instant>) = {
            let mut heads = self.heads.lock().unwrap();
            let expired: Vec<u64> = heads.iter().filter(|(_, (_, d))| *d <= now).map(|(k, _)| *k).collect();
            let expired = expired.into_iter().filter_map(|k| heads.remove(&k)).map(|(p, _)| p).collect();
            (expired, heads.values().map(|(_, d)| *d).min())
        };
        for HeadPtr(head) in expired {
            // SAFETY: a head removed from the map is live until its close callback, on this thread.
            unsafe {
                if let Some(hs) = (*head).hs.take() {
                    hs.time_out();
                }
                uv_close((*head).handle.as_mut_ptr().cast(), on_head_closed);
            }
        }
        let l = self.listening.get();
        // SAFETY: a live listener, on this thread.
        if !l.is_null() && unsafe { (*l).paused } {
            unsafe {
                (*l).paused = false;
                uv_poll_start((*l).handle.as_mut_ptr().cast(), UV_READABLE, on_acceptable);
            }
        }
        if let Some(at) = next {
            self.arm(at);
        }
    }

    /// The head of `head` was answered (`Open`) or the connection ended: its watch goes, or becomes
    /// the session's.
    ///
    /// # Safety
    /// `head` is live, on the JS thread.
    unsafe fn head_done(&self, head: *mut Head, step: HeadStep) {
        unsafe {
            self.heads.lock().unwrap().remove(&(*head).key);
            match step {
                HeadStep::More => {}
                HeadStep::Open(s) => {
                    let handle = std::mem::take(&mut (*head).handle);
                    self.start_on(&s, Some(handle));
                    drop(Box::from_raw(head));
                }
                HeadStep::Ended => uv_close((*head).handle.as_mut_ptr().cast(), on_head_closed),
            }
        }
    }

    /// On the JS thread, once JS knows of `s`: starts watching its socket (false when the session is
    /// read by the engine, or its reader is gone).
    pub(crate) fn start(&self, s: &Session) -> bool {
        self.watch(s, None).is_some_and(|sid| {
            self.resume(sid);
            true
        })
    }

    /// On the JS thread, for a session opened by a head read here: watches its socket with `handle`
    /// (the head's poll handle, started on its descriptor: it goes on as it is, no `epoll_ctl`) or a
    /// new one, and reads what is there; the open and what follows go to JS in this loop iteration.
    fn start_on(&self, s: &Session, handle: Option<Box<[u64]>>) {
        let started = handle.is_some();
        let Some(sid) = self.watch(s, handle) else { return };
        let Some(WatchPtr(w)) = self.watches.lock().unwrap().get(&sid).copied() else { return };
        // SAFETY: a watch in the map is live.
        unsafe {
            (*w).watching = started || uv_poll_start((*w).handle.as_mut_ptr().cast(), UV_READABLE, on_readable) == 0;
            read(self, w, true);
        }
    }

    /// Takes `s`'s reader and makes its watch (not started); its id, or `None` when there is no reader.
    fn watch(&self, s: &Session, handle: Option<Box<[u64]>>) -> Option<u64> {
        let (Some(hub), Some(reader)) = (self.hub.upgrade(), s.take_host_reader()) else {
            if let Some(handle) = handle {
                // SAFETY: an initialised handle nothing else refers to, on the JS thread.
                unsafe { close_orphan(handle) };
            }
            return None;
        };
        let sid = s.id();
        let resume_hub = self.hub.clone();
        reader.set_resume_hook(Arc::new(move || {
            if let Some(hub) = resume_hub.upgrade() {
                hub.resume_host_read(sid);
            }
        }));
        let fd = reader.fd();
        let fresh = handle.is_none();
        let handle = handle.unwrap_or_else(|| {
            // SAFETY: the size libuv reports for its own handle type.
            let size = unsafe { uv_handle_size(UV_POLL) };
            vec![0u64; size.div_ceil(8)].into_boxed_slice()
        });
        let w = Box::into_raw(Box::new(Watch { head: false, handle, reader, sid, hub, watching: false }));
        // SAFETY: `w` is live until the close callback; the handle's memory is as large as libuv's
        // handle and lives in `w`. `data` is the first field of every libuv handle.
        unsafe {
            let h = (*w).handle.as_mut_ptr().cast::<c_void>();
            if fresh && uv_poll_init(self.event_loop, h, fd) != 0 {
                drop(Box::from_raw(w));
                return None;
            }
            *h.cast::<*mut c_void>() = w.cast();
        }
        self.watches.lock().unwrap().insert(sid, WatchPtr(w));
        Some(sid)
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

/// libuv's callback: the listener has connections to accept.
unsafe extern "C" fn on_acceptable(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` was set to the live `Listening` before the handle started.
    let l = unsafe { &mut *(*handle.cast::<*mut Listening>()) };
    if let Some(hub) = l.hub.upgrade()
        && let Some(host) = hub.host()
    {
        host.accept_all(&hub, l);
    }
}

/// libuv's close callback of the listener's handle: the listener closes.
unsafe extern "C" fn on_listener_closed(handle: *mut c_void) {
    // SAFETY: `data` is the `Listening` made by `listen`, freed only here.
    drop(unsafe { Box::from_raw(*handle.cast::<*mut Listening>()) });
}

/// libuv's callback: a connection whose head is incomplete is readable.
unsafe extern "C" fn on_head_readable(handle: *mut c_void, status: c_int, events: c_int) {
    // SAFETY: `data` points to a live `Head`, or to the `Watch` of the session the head opened (the
    // handle goes on with this callback); both start with their `head` flag (`repr(C)`).
    if !unsafe { *(*handle.cast::<*const bool>()) } {
        return unsafe { on_readable(handle, status, events) };
    }
    let head = unsafe { *handle.cast::<*mut Head>() };
    let hub = unsafe { Arc::clone(&(*head).hub) };
    let Some(host) = hub.host() else { return };
    let step = match unsafe { (*head).hs.as_mut() } {
        Some(hs) => host.advance(hs),
        None => HeadStep::Ended,
    };
    if !matches!(step, HeadStep::More) {
        // SAFETY: live, on the JS thread.
        unsafe { host.head_done(head, step) };
    }
    host.deliver_soon(&hub);
}

/// libuv's close callback of a head's handle: the head (and its connection, if still held) goes.
unsafe extern "C" fn on_head_closed(handle: *mut c_void) {
    // SAFETY: `data` is the head made by `watch_head`, freed only here.
    drop(unsafe { Box::from_raw(*handle.cast::<*mut Head>()) });
}

/// libuv's timer callback: heads past their deadline, the accept back-off.
unsafe extern "C" fn on_timer(handle: *mut c_void) {
    // SAFETY: `data` holds the leaked `Weak<Hub>` set at initialisation; it is not consumed here.
    let weak = std::mem::ManuallyDrop::new(unsafe { Weak::from_raw(*handle.cast::<*const Hub>()) });
    if let Some(hub) = weak.upgrade()
        && let Some(host) = hub.host()
    {
        host.on_timer();
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
        // `Done`: `uv_close` below stops the handle (one `epoll_ctl` less).
        if status == HostRead::Stop && (*w).watching {
            uv_poll_stop((*w).handle.as_mut_ptr().cast());
        }
        if status != HostRead::Watch {
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

/// Closes an initialised poll handle that belongs to nothing; the close callback frees its memory.
///
/// # Safety
/// `handle` was initialised on this (the JS) thread and nothing else refers to it.
unsafe fn close_orphan(handle: Box<[u64]>) {
    let holder = Box::into_raw(Box::new(handle));
    unsafe {
        let h = (*holder).as_mut_ptr().cast::<c_void>();
        *h.cast::<*mut c_void>() = holder.cast();
        uv_close(h, on_orphan_closed);
    }
}

/// libuv's close callback of a handle closed by `close_orphan`.
unsafe extern "C" fn on_orphan_closed(handle: *mut c_void) {
    // SAFETY: `data` is the holder made by `close_orphan`, freed only here.
    drop(unsafe { Box::from_raw(*handle.cast::<*mut Box<[u64]>>()) });
}

/// libuv's close callback: the handle is unused, the watch goes.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: `data` is the watch made by `start`, freed only here.
    drop(unsafe { Box::from_raw(*handle.cast::<*mut Watch>()) });
}
