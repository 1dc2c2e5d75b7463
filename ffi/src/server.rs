//! `wss_server`: routes, callbacks, the accept callback, start, shutdown and free.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wssession_core::handshake::{check_header, check_status, is_token};
use wssession_core::{
    Accept, AcceptHook, Bytes, CloseReason, Decision, EventHandler, Frame, Handler, HttpResponse, Request, Server,
    ServerBuilder, ServerConfig, Session, runtime,
};

use crate::config::{callback_mode_in, wss_callback_mode, wss_server_config};
use crate::dispatch::Dispatcher;
use crate::error::{FfiError, wss_status};
use crate::handle::{
    UserData, arg, arg_bytes, arg_str, frame_type_out, initiator_out, mode_in, out_ptr, write, wss_finalizer,
    wss_frame_type, wss_initiator, wss_mode,
};
use crate::request::wss_request;
use crate::session::{Seed, as_ptr, attach, detach, wss_session};

/// A session event without payload (`on_open`, `on_drain`). `session` is borrowed for the call.
pub type wss_session_cb = Option<unsafe extern "C" fn(user_data: *mut c_void, session: *mut wss_session)>;

/// A complete message: `data` (not NUL-terminated; valid UTF-8 for TEXT unless skip_utf8_validation) is borrowed for the call.
pub type wss_message_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        session: *mut wss_session,
        kind: wss_frame_type,
        data: *const u8,
        len: usize,
    ),
>;

/// A Ping or Pong payload (the Pong answering a Ping is sent automatically unless auto_pong is off);
/// borrowed for the call.
pub type wss_payload_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, session: *mut wss_session, data: *const u8, len: usize)>;

/// The session ended; called exactly once per session, last. `reason` is NUL-terminated UTF-8.
pub type wss_close_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        session: *mut wss_session,
        code: u16,
        reason: *const c_char,
        initiator: wss_initiator,
    ),
>;

/// Sees every request before the upgrade (valid or not). Decide with the `wss_accept_*`
/// functions on `accept`; doing nothing accepts. Both pointers are borrowed for the call.
pub type wss_accept_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, request: *const wss_request, accept: *mut wss_accept)>;

/// The callbacks of a route; any may be NULL. Each receives the server's user_data first. They run
/// on runtime threads, never concurrently for one session. In WSS_MODE_PULL only `on_open` and
/// `on_close` are called (messages wait for `wss_session_recv`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wss_callbacks {
    /// The session is open.
    pub on_open: wss_session_cb,
    /// A complete Text or Binary message arrived.
    pub on_message: wss_message_cb,
    /// A Ping arrived.
    pub on_ping: wss_payload_cb,
    /// A Pong arrived.
    pub on_pong: wss_payload_cb,
    /// The send queue fell below its low-water mark after being over its high-water mark.
    pub on_drain: wss_session_cb,
    /// The session ended (exactly once).
    pub on_close: wss_close_cb,
}

/// The accept callback's decision for one request (borrowed for the call).
#[derive(Default)]
pub struct wss_accept {
    response: Option<(u16, Vec<u8>)>,
    subprotocol: Option<String>,
    headers: Vec<(String, String)>,
    user_data: Option<UserData>,
}

/// Callbacks for incoming data one session may have queued for `wss_server_dispatch` before it stops
/// reading (as the core's incoming queue bounds a pull-style session).
const DISPATCH_BACKLOG: usize = 16;

/// Counts sessions whose on_close has not returned yet, so shutdown and free can wait for them,
/// and delivers the server's callbacks (on the calling runtime thread, or through its dispatcher).
#[derive(Default)]
pub(crate) struct Tracker {
    live: Mutex<usize>,
    idle: Condvar,
    /// Session references C holds through `wss_session_retain` (not yet released).
    pub(crate) retained: AtomicUsize,
    /// Set in WSS_CALLBACK_MODE_DISPATCH: callbacks wait there for `wss_server_dispatch`.
    pub(crate) dispatcher: Option<Arc<Dispatcher>>,
}

impl Tracker {
    /// As `deliver`, for what the peer sent (messages, pings, pongs): in dispatch mode a session with
    /// `DISPATCH_BACKLOG` such callbacks queued stops reading its socket until the loop catches up, so
    /// a loop that does not dispatch holds bounded memory and TCP backpressure reaches the peer.
    fn deliver_incoming(&self, h: Arc<wss_session>, callback: impl FnOnce(&Arc<wss_session>) + Send + 'static) {
        let Some(d) = &self.dispatcher else { return callback(&h) };
        if h.queued.fetch_add(1, Ordering::AcqRel) + 1 == DISPATCH_BACKLOG {
            h.session.pause();
        }
        d.post(Box::new(move || {
            callback(&h);
            if h.queued.fetch_sub(1, Ordering::AcqRel) == DISPATCH_BACKLOG {
                h.session.resume();
            }
        }));
    }

    /// Runs a callback now, or queues it for `wss_server_dispatch` in dispatch mode.
    pub(crate) fn deliver(&self, callback: impl FnOnce() + Send + 'static) {
        match &self.dispatcher {
            Some(d) => d.post(Box::new(callback)),
            None => callback(),
        }
    }

    fn opened(&self) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn closed(&self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        *live = live.saturating_sub(1);
        self.idle.notify_all();
    }

    /// Waits until no session is live or `deadline`; `nudge` runs between waits, and so do queued
    /// callbacks in dispatch mode (the caller is the application's dispatching thread).
    fn wait_idle(&self, deadline: Instant, nudge: impl Fn()) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        while *live > 0 && Instant::now() < deadline {
            drop(live);
            nudge();
            if let Some(d) = &self.dispatcher {
                d.run(0);
            }
            live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            if *live == 0 {
                break;
            }
            live = self.idle.wait_timeout(live, Duration::from_millis(20)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

struct CEvents {
    cbs: wss_callbacks,
    ud: Arc<UserData>,
    tracker: Arc<Tracker>,
}

fn call_close(cb: wss_close_cb, ud: &UserData, h: &Arc<wss_session>, reason: &CloseReason) {
    if let Some(f) = cb {
        let text = h.reason_cstr(reason);
        // SAFETY: a C callback with the server's user_data; the handle and string outlive the call.
        unsafe { f(ud.get(), as_ptr(h), reason.code, text, initiator_out(reason.initiator)) }
    }
}

/// Delivers on_open (the session counts as live from here until its on_close returns).
fn deliver_open(cb: wss_session_cb, ud: &Arc<UserData>, tracker: &Arc<Tracker>, s: &Session) {
    let h = attach(s, tracker, ud);
    h.live.store(true, Ordering::Release);
    tracker.opened();
    if let Some(f) = cb {
        let ud = ud.clone();
        // SAFETY: a C callback with the server's user_data; the handle outlives the call.
        tracker.deliver(move || unsafe { f(ud.get(), as_ptr(&h)) });
    }
}

/// Delivers on_close, then lets the session's handle go and marks it finished.
fn deliver_close(cb: wss_close_cb, ud: &Arc<UserData>, tracker: &Arc<Tracker>, s: &Session, reason: &CloseReason) {
    let h = attach(s, tracker, ud);
    let (ud, t, s, reason) = (ud.clone(), tracker.clone(), s.clone(), reason.clone());
    tracker.deliver(move || {
        call_close(cb, &ud, &h, &reason);
        detach(&s);
        // A session the application made but never started had no on_open: it was never counted.
        let counted = h.live.swap(false, Ordering::AcqRel);
        drop(h);
        if counted {
            t.closed();
        }
    });
}

/// Delivers a payload callback (on_ping, on_pong) with its own copy of the bytes.
fn deliver_payload(cb: wss_payload_cb, ud: &Arc<UserData>, tracker: &Arc<Tracker>, s: &Session, payload: &Bytes) {
    if let Some(f) = cb {
        let (ud, payload) = (ud.clone(), payload.clone());
        // SAFETY: as on_open; the payload outlives the call.
        tracker.deliver_incoming(attach(s, tracker, &ud), move |h| unsafe {
            f(ud.get(), as_ptr(h), payload.as_ptr(), payload.len())
        });
    }
}

impl EventHandler for CEvents {
    fn on_open(&self, s: &Session) {
        deliver_open(self.cbs.on_open, &self.ud, &self.tracker, s);
    }

    fn on_message(&self, s: &Session, frame: Frame) {
        if let Some(f) = self.cbs.on_message {
            let ud = self.ud.clone();
            // SAFETY: as on_open; `frame` (and so the payload) outlives the call.
            self.tracker.deliver_incoming(attach(s, &self.tracker, &ud), move |h| unsafe {
                f(ud.get(), as_ptr(h), frame_type_out(frame.kind), frame.data.as_ptr(), frame.data.len())
            });
        }
    }

    fn on_ping(&self, s: &Session, payload: &Bytes) {
        deliver_payload(self.cbs.on_ping, &self.ud, &self.tracker, s, payload);
    }

    fn on_pong(&self, s: &Session, payload: &Bytes) {
        deliver_payload(self.cbs.on_pong, &self.ud, &self.tracker, s, payload);
    }

    fn on_drain(&self, s: &Session) {
        if let Some(f) = self.cbs.on_drain {
            let (h, ud) = (attach(s, &self.tracker, &self.ud), self.ud.clone());
            // SAFETY: as on_open.
            self.tracker.deliver(move || unsafe { f(ud.get(), as_ptr(&h)) });
        }
    }

    fn on_close(&self, s: &Session, reason: &CloseReason) {
        deliver_close(self.cbs.on_close, &self.ud, &self.tracker, s, reason);
    }
}

fn make_handler(mode: wss_mode, cbs: wss_callbacks, ud: Arc<UserData>, tracker: Arc<Tracker>) -> Handler {
    match mode {
        wss_mode::Push => Handler::events(CEvents { cbs, ud, tracker }),
        wss_mode::Pull => Handler::task(move |s: Session| {
            let (ud, tracker) = (ud.clone(), tracker.clone());
            async move {
                deliver_open(cbs.on_open, &ud, &tracker, &s);
                let reason = s.close_reason().await;
                deliver_close(cbs.on_close, &ud, &tracker, &s, &reason);
                Ok(())
            }
        }),
    }
}

#[derive(Default)]
struct State {
    config: ServerConfig,
    routes: Vec<(String, Handler)>,
    fallback: Option<Handler>,
    accept: Option<AcceptHook>,
    running: Option<Server>,
}

/// A WebSocket server: create with `wss_server_new`, add routes, `wss_server_start`, and
/// finally `wss_server_shutdown` and `wss_server_free`.
pub struct wss_server {
    state: Mutex<State>,
    pub(crate) ud: Arc<UserData>,
    pub(crate) tracker: Arc<Tracker>,
}

impl wss_server {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dispatcher(&self) -> Result<&Arc<Dispatcher>, FfiError> {
        self.tracker.dispatcher.as_ref().ok_or_else(|| {
            FfiError::invalid("the server's callback mode is not WSS_CALLBACK_MODE_DISPATCH (set it in the config)")
        })
    }

    pub(crate) fn running(&self) -> Result<Server, FfiError> {
        self.state()
            .running
            .clone()
            .ok_or_else(|| FfiError::new(wss_status::NotStarted, "the server is not started (call wss_server_start)"))
    }

    fn building(&self) -> Result<std::sync::MutexGuard<'_, State>, FfiError> {
        let st = self.state();
        if st.running.is_some() {
            return Err(FfiError::new(
                wss_status::AlreadyStarted,
                "the server is already started; configure it before",
            ));
        }
        Ok(st)
    }

    /// Shuts down (blocking) and waits for every on_close to return, at most `grace` + 5 s.
    fn shutdown_blocking(&self, server: Server, grace: Duration) -> Result<(), FfiError> {
        let s = server.clone();
        runtime::block_on(async move { s.shutdown(grace).await })?;
        self.tracker.wait_idle(Instant::now() + Duration::from_secs(5), || {
            // Sessions whose handshake was in flight when shutdown began.
            for s in server.sessions() {
                s.terminate();
            }
        });
        Ok(())
    }
}

/// Creates a server from a copy of `config`. `user_data` is passed first to every callback of
/// this server; `finalizer` (may be NULL) runs once when the server and all its sessions are gone.
/// On failure nothing is taken: the finalizer is not called.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_new(
    config: *const wss_server_config,
    user_data: *mut c_void,
    finalizer: wss_finalizer,
    out: *mut *mut wss_server,
) -> wss_status {
    ffi_status! {
        let cfg = arg(config, "config")?;
        let config = cfg.config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mode = callback_mode_in(cfg.callback_mode.load(Ordering::Relaxed))?;
        let out = out_ptr(out, "out")?;
        let dispatcher = match mode {
            wss_callback_mode::RuntimeThreads => None,
            wss_callback_mode::Dispatch => Some(Arc::new(Dispatcher::new().map_err(wssession_core::Error::from)?)),
        };
        let server = wss_server {
            state: Mutex::new(State { config, ..State::default() }),
            ud: Arc::new(UserData::new(user_data, finalizer)),
            tracker: Arc::new(Tracker { dispatcher, ..Tracker::default() }),
        };
        write(out, Box::into_raw(Box::new(server)));
        Ok(())
    }
}

fn callbacks_in(mode: u32, callbacks: *const wss_callbacks) -> Result<(wss_mode, wss_callbacks), FfiError> {
    let mode = mode_in(mode)?;
    Ok((mode, *arg(callbacks, "callbacks")?))
}

/// Serves sessions at exactly `path` (starting with '/') with `callbacks` (copied) in `mode`
/// (WSS_MODE_PUSH or WSS_MODE_PULL). Before `wss_server_start` only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_route(
    server: *mut wss_server,
    path: *const c_char,
    mode: u32,
    callbacks: *const wss_callbacks,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let path = arg_str(path, "path")?;
        if !path.starts_with('/') {
            return Err(FfiError::invalid(format!("route path {path:?} must start with '/'")));
        }
        let (mode, cbs) = callbacks_in(mode, callbacks)?;
        let handler = make_handler(mode, cbs, srv.ud.clone(), srv.tracker.clone());
        srv.building()?.routes.push((path.to_owned(), handler));
        Ok(())
    }
}

/// Serves every path without its own route with `callbacks` in `mode` (otherwise such paths get
/// 404). Before `wss_server_start` only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_set_fallback(
    server: *mut wss_server,
    mode: u32,
    callbacks: *const wss_callbacks,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let (mode, cbs) = callbacks_in(mode, callbacks)?;
        let handler = make_handler(mode, cbs, srv.ud.clone(), srv.tracker.clone());
        srv.building()?.fallback = Some(handler);
        Ok(())
    }
}

/// Sets the accept callback, which sees every request first (runs on a runtime thread).
/// Before `wss_server_start` only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_set_accept_callback(
    server: *mut wss_server,
    callback: wss_accept_cb,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let callback = callback.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`callback` is NULL"))?;
        let ud = srv.ud.clone();
        let dispatcher = srv.tracker.dispatcher.clone();
        let hook: AcceptHook = Arc::new(move |req: Request| {
            let ud = ud.clone();
            let decide = move || {
                let view = wss_request::new(&req);
                let mut accept = wss_accept::default();
                // SAFETY: a C callback with the server's user_data; both pointers outlive the call.
                unsafe { callback(ud.get(), &view, &mut accept) };
                accept.into_decision()
            };
            let Some(d) = &dispatcher else {
                let decision = decide();
                return Box::pin(async move { decision });
            };
            // Dispatch mode: the handshake waits until the application's loop runs the callback.
            let (tx, rx) = tokio::sync::oneshot::channel();
            d.post(Box::new(move || {
                let _ = tx.send(decide());
            }));
            Box::pin(async move {
                rx.await.unwrap_or_else(|_| Decision::Respond(HttpResponse::text(503, "the server is shutting down")))
            })
        });
        srv.building()?.accept = Some(hook);
        Ok(())
    }
}

impl wss_accept {
    fn into_decision(self) -> Decision {
        if let Some((status, body)) = self.response {
            let mut response = HttpResponse::new(status, body);
            response.headers = self.headers;
            // Rejected: no session will hold the user_data; its finalizer runs on drop here.
            return Decision::Respond(response);
        }
        let attachment = self.user_data.map(|u| {
            let seed: Arc<dyn std::any::Any + Send + Sync> = Arc::new(Seed(Mutex::new(Some(u))));
            seed
        });
        Decision::Accept(Accept {
            subprotocol: self.subprotocol,
            headers: self.headers,
            attachment,
            ..Accept::default()
        })
    }
}

/// Binds and starts accepting (blocking until bound). WSS_STATUS_IO if the address is taken,
/// WSS_STATUS_INVALID_ARGUMENT for unusable TLS files, WSS_STATUS_ALREADY_STARTED the second time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_start(server: *mut wss_server) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let mut st = srv.building()?;
        st.running = Some(st.builder().start_blocking()?);
        Ok(())
    }
}

impl State {
    /// A builder with this server's routes, fallback and accept callback.
    fn builder(&self) -> ServerBuilder {
        let mut builder = ServerBuilder::new(self.config.clone());
        for (path, handler) in &self.routes {
            builder = builder.route(path, handler.clone());
        }
        if let Some(f) = &self.fallback {
            builder = builder.fallback(f.clone());
        }
        if let Some(hook) = &self.accept {
            builder = builder.accept_hook_boxed(hook.clone());
        }
        builder
    }
}

/// Starts the server without a listener: it serves only connections handed to it with
/// `wss_server_adopt_fd` or `wss_server_upgraded_fd` (host, port and reuse_port are unused;
/// `wss_server_port` reports 0). WSS_STATUS_ALREADY_STARTED the second time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_start_detached(server: *mut wss_server) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let mut st = srv.building()?;
        st.running = Some(st.builder().start_detached()?);
        Ok(())
    }
}

/// The descriptor to poll (for readability) in WSS_CALLBACK_MODE_DISPATCH: readable while callbacks
/// wait for `wss_server_dispatch`. Owned by the server (do not close or read it); valid until
/// `wss_server_free`. WSS_STATUS_INVALID_ARGUMENT in the default mode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_event_fd(server: *const wss_server, out: *mut std::ffi::c_int) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let out = out_ptr(out, "out")?;
        write(out, srv.dispatcher()?.fd());
        Ok(())
    }
}

/// Runs queued callbacks on the calling thread (WSS_CALLBACK_MODE_DISPATCH): at most `max` of them,
/// or with 0 every one queued when the call began; `ran` receives how many ran. Callbacks never run
/// on two threads at once: WSS_STATUS_WOULD_DEADLOCK if callbacks are already running (from a
/// callback, or on another thread). WSS_STATUS_INVALID_ARGUMENT in the default mode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_dispatch(server: *const wss_server, max: usize, ran: *mut usize) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let ran = out_ptr(ran, "ran")?;
        let n = srv.dispatcher()?.run(max).ok_or_else(|| {
            FfiError::new(wss_status::WouldDeadlock, "callbacks are already being dispatched (inside a callback, or on another thread)")
        })?;
        write(ran, n);
        Ok(())
    }
}

/// The bound port (the real one when port 0 was configured).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_port(server: *const wss_server, out: *mut u16) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let out = out_ptr(out, "out")?;
        write(out, srv.running()?.port());
        Ok(())
    }
}

/// How many sessions are open.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_session_count(server: *const wss_server, out: *mut usize) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let out = out_ptr(out, "out")?;
        write(out, srv.running()?.session_count());
        Ok(())
    }
}

/// Connections handshaking or open.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_connection_count(server: *const wss_server, out: *mut usize) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let out = out_ptr(out, "out")?;
        write(out, srv.running()?.connection_count());
        Ok(())
    }
}

/// Stops accepting new connections; open sessions continue. Returns at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_close(server: *mut wss_server) -> wss_status {
    ffi_status! {
        arg(server, "server")?.running()?.close();
        Ok(())
    }
}

/// Whether the listener has closed (after close or shutdown).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_is_closed(server: *const wss_server, out: *mut bool) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let out = out_ptr(out, "out")?;
        write(out, srv.running()?.is_closed());
        Ok(())
    }
}

/// Stops accepting, sends Close 1001 to every session, waits up to `grace_ms` for them to finish,
/// aborts the rest, and returns once every on_close has returned. Blocking:
/// WSS_STATUS_WOULD_DEADLOCK inside a callback. Calling it again is harmless.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_shutdown(server: *mut wss_server, grace_ms: u32) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?;
        let running = srv.running()?;
        srv.shutdown_blocking(running, Duration::from_millis(grace_ms.into()))
    }
}

/// Frees the server; NULL is a no-op. A running server is shut down first without grace (from a
/// plain thread this waits for every on_close; inside a callback it only aborts the sessions).
/// The server's user_data finalizer runs before this returns, unless session handles are still
/// retained: then it runs after the last of them is released (possibly on another thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_free(server: *mut wss_server) {
    ffi_boundary! {
        if server.is_null() {
            return;
        }
        // SAFETY: non-NULL servers come from wss_server_new and are freed once (header contract).
        let srv = unsafe { Box::from_raw(server) };
        let running = srv.state().running.clone();
        if let Some(running) = running {
            if runtime::on_runtime_thread() {
                running.close();
                for s in running.sessions() {
                    s.terminate();
                }
            } else {
                let _ = srv.shutdown_blocking(running, Duration::ZERO);
            }
        }
        // Tasks still finishing (readers, writers, the accept loop) hold the handlers and so the
        // user_data for a moment: wait for them so the finalizer runs here, not after we return.
        // Session handles C still retains keep it alive longer; it is then finalized on release.
        let wss_server { state, ud, tracker } = *srv;
        drop(state);
        if let Some(d) = &tracker.dispatcher {
            // Callbacks still queued run here, on the freeing thread; later ones where they happen.
            d.close();
        }
        if !runtime::on_runtime_thread() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Arc::strong_count(&ud) > 1
                && tracker.retained.load(Ordering::Acquire) == 0
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        drop(ud);
    }
}

fn accept_arg<'a>(accept: *mut wss_accept) -> Result<&'a mut wss_accept, FfiError> {
    // SAFETY: a non-NULL `accept` is the live decision passed to the running accept callback.
    unsafe { accept.as_mut() }.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`accept` is NULL"))
}

/// Answers the request with this HTTP response instead of upgrading (reject with 4xx/5xx, or serve
/// content with 200). `status` must be 100-599 and not 101; `body` (`len` bytes) is copied and may be NULL when
/// `len` is 0. Headers added with `wss_accept_add_header` go on this response.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_accept_respond(
    accept: *mut wss_accept,
    status: u16,
    body: *const u8,
    len: usize,
) -> wss_status {
    ffi_status! {
        let a = accept_arg(accept)?;
        check_status(status)?;
        let body = arg_bytes(body, len, "body")?.to_vec();
        a.response = Some((status, body));
        Ok(())
    }
}

/// Chooses the subprotocol to answer with (it should be one the client offered in
/// Sec-WebSocket-Protocol); overrides the server's preference list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_accept_set_subprotocol(accept: *mut wss_accept, subprotocol: *const c_char) -> wss_status {
    ffi_status! {
        let a = accept_arg(accept)?;
        let p = arg_str(subprotocol, "subprotocol")?;
        if !is_token(p) {
            return Err(FfiError::invalid(format!("subprotocol {p:?} is not an HTTP token")));
        }
        a.subprotocol = Some(p.to_owned());
        Ok(())
    }
}

/// Adds a header to the 101 response (or to the response set with `wss_accept_respond`).
/// `name` must be an HTTP token; `value` must not contain CR, LF or other control characters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_accept_add_header(
    accept: *mut wss_accept,
    name: *const c_char,
    value: *const c_char,
) -> wss_status {
    ffi_status! {
        let a = accept_arg(accept)?;
        let name = arg_str(name, "name")?;
        let value = arg_str(value, "value")?;
        check_header(name, value)?;
        a.headers.push((name.to_owned(), value.to_owned()));
        Ok(())
    }
}

/// Sets the user_data of the session this request opens (read it with `wss_session_user_data`).
/// `finalizer` (may be NULL) runs when the session handle is destroyed, or right after the
/// callback if the request does not become a session (rejected, 404, bad upgrade).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_accept_set_user_data(
    accept: *mut wss_accept,
    user_data: *mut c_void,
    finalizer: wss_finalizer,
) -> wss_status {
    ffi_status! {
        let a = accept_arg(accept)?;
        a.user_data = Some(UserData::new(user_data, finalizer));
        Ok(())
    }
}
