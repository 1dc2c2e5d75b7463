//! `wss_session` (a reference-counted handle to one connection) and `wss_message`.

use std::ffi::{CString, c_char, c_void};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wssession_core::{Bytes, CloseFrame, CloseReason, DeflateParams, Frame, Session, runtime};

use crate::error::{FfiError, wss_status};
use crate::handle::{
    UserData, WSS_TIMEOUT_INFINITE, arg, arg_bytes, arg_str, block_with_timeout, frame_type_in, frame_type_out,
    initiator_out, out_ptr, state_out, try_send_out, violation_out, write, wss_finalizer, wss_frame_type,
    wss_initiator, wss_state, wss_try_send_result, wss_violation,
};
use crate::request::wss_request;
use crate::server::Tracker;

/// One WebSocket session. Handles passed to callbacks are borrowed for the call; keep one with
/// `wss_session_retain` and give it back with `wss_session_release`. A retained handle stays
/// valid after the session closes (calls then report WSS_STATUS_CLOSED).
pub struct wss_session {
    pub(crate) session: Session,
    /// The request in C form, made on the first `wss_session_request` (most sessions never ask;
    /// boxed: they keep one pointer for it).
    request: OnceLock<Box<wss_request>>,
    user_data: Mutex<Option<UserData>>,
    close_reason: OnceLock<CString>,
    pub(crate) tracker: Arc<Tracker>,
    /// What `wss_session_start` starts an already-upgraded session with (the negotiated extensions).
    pub(crate) start_with: Mutex<Option<Option<DeflateParams>>>,
    /// Callbacks for this session's incoming data waiting for `wss_server_dispatch` (dispatch mode).
    pub(crate) queued: std::sync::atomic::AtomicUsize,
    /// Counted among the server's live sessions (from on_open until on_close has run).
    pub(crate) live: std::sync::atomic::AtomicBool,
    /// The server's user_data stays alive while C holds a handle to one of its sessions.
    pub(crate) server_user_data: Arc<UserData>,
    /// The converter of `wss_session_send_serialized` & co. (converter.rs); none at first.
    pub(crate) converter: Mutex<Option<Arc<crate::converter::Converter>>>,
}

/// How a session ended, as reported by `wss_session_close_reason`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wss_close_info {
    /// The close code (1005 when the peer's Close had none, 1006 when there was no Close).
    pub code: u16,
    /// Which side started the close.
    pub initiator: wss_initiator,
    /// The reason text, NUL-terminated UTF-8 (may be ""); borrowed from the session handle.
    pub reason: *const c_char,
    /// What the peer did wrong, when the session failed because of it; WSS_VIOLATION_NONE otherwise.
    pub violation: wss_violation,
    /// The code of the Close frame this server sent: 1005 when its body was empty, 0 when none was sent.
    pub sent_code: u16,
    /// The code of the Close frame the peer sent: 1005 when its body was empty, 0 when none arrived.
    pub received_code: u16,
}

/// Per-session traffic counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wss_stats {
    /// Complete messages received.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Frames sent (data and control).
    pub messages_out: u64,
    /// Payload bytes of those frames.
    pub bytes_out: u64,
}

/// A received message, owned by the caller of `wss_session_recv` (free with `wss_message_free`)
/// or borrowed for the duration of a `wss_recv_cb`.
pub struct wss_message {
    pub(crate) frame: Frame,
}

/// Called exactly once when `wss_session_flush_async` completes: WSS_STATUS_OK when every frame
/// queued before the call was handed to the socket, WSS_STATUS_CANCELLED if the session ended
/// first. Runs on a runtime thread; `session` is borrowed for the call.
pub type wss_flush_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, session: *mut wss_session, status: wss_status)>;

/// Called exactly once when `wss_session_recv_async` completes. With WSS_STATUS_OK, `message` is
/// the next message, borrowed for the call; otherwise `message` is NULL and the status says why
/// (WSS_STATUS_CLOSED at the end). Runs on a runtime thread.
pub type wss_recv_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        session: *mut wss_session,
        status: wss_status,
        message: *const wss_message,
    ),
>;

/// The session's per-session C value: set at accept time, before any callback sees the session.
pub(crate) struct Seed(pub(crate) Mutex<Option<UserData>>);

/// The C handle of `s`, created on first use and kept as the session's attachment until `detach`.
pub(crate) fn attach(s: &Session, tracker: &Arc<Tracker>, server_user_data: &Arc<UserData>) -> Arc<wss_session> {
    let current = s.attachment();
    if let Some(a) = current.clone()
        && let Ok(handle) = a.downcast::<wss_session>()
    {
        return handle;
    }
    let seeded = current
        .and_then(|a| a.downcast::<Seed>().ok())
        .and_then(|seed| seed.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    let handle = Arc::new(wss_session {
        session: s.clone(),
        request: OnceLock::new(),
        user_data: Mutex::new(seeded),
        close_reason: OnceLock::new(),
        tracker: tracker.clone(),
        start_with: Mutex::new(None),
        queued: Default::default(),
        live: Default::default(),
        server_user_data: server_user_data.clone(),
        converter: Mutex::new(None),
    });
    s.set_attachment(Some(handle.clone()));
    handle
}

/// Drops the session's reference to its C handle (after on_close), breaking the cycle.
pub(crate) fn detach(s: &Session) {
    s.set_attachment(None);
}

/// The pointer C sees for a handle.
pub(crate) fn as_ptr(h: &Arc<wss_session>) -> *mut wss_session {
    Arc::as_ptr(h).cast_mut()
}

impl wss_session {
    /// The close reason text as a C string (resolved once per session).
    pub(crate) fn reason_cstr(&self, reason: &CloseReason) -> *const c_char {
        self.close_reason.get_or_init(|| CString::new(reason.reason.replace('\0', "\\0")).unwrap_or_default()).as_ptr()
    }
}

/// A new strong reference from a borrowed, non-NULL handle pointer.
pub(crate) fn clone_arc(ptr: *const wss_session) -> Arc<wss_session> {
    // SAFETY: `ptr` is a live handle (checked non-NULL by the caller); every handle C holds came
    // from an `Arc<wss_session>`, so adding a reference and rebuilding an Arc is balanced.
    unsafe {
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    }
}

fn closed_clean(s: &wss_session) -> FfiError {
    match s.session.close_reason_now() {
        Some(r) => FfiError::new(wss_status::Closed, format!("the session ended: {r}")),
        None => FfiError::new(wss_status::Closed, "the session ended"),
    }
}

/// Adds a reference to `session` and returns it (NULL for NULL). Release it with
/// `wss_session_release`; the handle stays usable until then, whatever the session's state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_retain(session: *const wss_session) -> *mut wss_session {
    ffi_boundary! {
        if session.is_null() {
            return std::ptr::null_mut();
        }
        let handle = clone_arc(session);
        handle.tracker.retained.fetch_add(1, Ordering::AcqRel);
        Arc::into_raw(handle).cast_mut()
    }
}

/// Gives back a reference taken with `wss_session_retain`; NULL is a no-op. The per-session
/// user_data finalizer runs when the last reference (the library's included) is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_release(session: *const wss_session) {
    ffi_boundary! {
        if !session.is_null() {
            // SAFETY: C releases exactly the references it took with wss_session_retain (header
            // contract), so this reference is live until the decrement below.
            let handle = unsafe { Arc::from_raw(session) };
            handle.tracker.retained.fetch_sub(1, Ordering::AcqRel);
            drop(handle);
        }
    }
}

/// Starts a session made by `wss_server_upgraded_fd` (Ktor's `start(negotiatedExtensions)`): reading
/// and writing begin, with the extensions given there. Exactly once: WSS_STATUS_ALREADY_STARTED for
/// a second call, and for sessions the server started itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_start(session: *const wss_session) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let negotiated = s.start_with.lock().unwrap_or_else(|e| e.into_inner()).take().flatten();
        s.session.start(negotiated)?;
        Ok(())
    }
}

/// The session's id, unique within the process.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_id(session: *const wss_session, out: *mut u64) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.id());
        Ok(())
    }
}

/// Where the session is in its life.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_state(session: *const wss_session, out: *mut wss_state) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, state_out(s.session.state()));
        Ok(())
    }
}

/// The upgrade request, with the chosen subprotocol and extensions; borrowed from the session
/// handle (valid while it lives).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_request(session: *const wss_session, out: *mut *const wss_request) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        write(out, &**s.request.get_or_init(|| Box::new(wss_request::new(s.session.request()))) as *const wss_request);
        Ok(())
    }
}

/// The per-session user_data (NULL if none was set, or for a NULL session).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_user_data(session: *const wss_session) -> *mut c_void {
    ffi_boundary! {
        match arg(session, "session") {
            Ok(s) => s.user_data.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(std::ptr::null_mut(), |u| u.ptr),
            Err(_) => std::ptr::null_mut(),
        }
    }
}

/// Sets the per-session user_data; the previous one's finalizer runs now, this one's when the
/// handle is destroyed (after on_close and the last release). `finalizer` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_user_data(
    session: *const wss_session,
    user_data: *mut c_void,
    finalizer: wss_finalizer,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let old = s.user_data.lock().unwrap_or_else(|e| e.into_inner()).replace(UserData::new(user_data, finalizer));
        drop(old);
        Ok(())
    }
}

fn frame_from(kind: u32, data: *const u8, len: usize, fin: bool) -> Result<Frame, FfiError> {
    let kind = frame_type_in(kind)?;
    let data = arg_bytes(data, len, "data")?;
    Ok(Frame::new(kind, Bytes::copy_from_slice(data)).with_fin(fin))
}

/// Sends a frame of `kind` (WSS_FRAME_TYPE_TEXT/BINARY/PING/PONG): data is copied. `fin = false`
/// starts or continues a fragmented message (Text/Binary only). Blocks while the send queue is over
/// its high-water mark; WSS_STATUS_WOULD_DEADLOCK inside a callback (use `wss_session_try_send`).
/// Text must be valid UTF-8 and control payloads at most 125 bytes (WSS_STATUS_INVALID_ARGUMENT);
/// WSS_STATUS_CLOSED once closing has begun.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_send(
    session: *const wss_session,
    kind: u32,
    data: *const u8,
    len: usize,
    fin: bool,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let frame = frame_from(kind, data, len, fin)?;
        let core = s.session.clone();
        block_with_timeout(WSS_TIMEOUT_INFINITE, "send", async move { core.send(frame).await })??;
        Ok(())
    }
}

/// Queues a frame without waiting (callable anywhere, callbacks included): `out` says whether it
/// was SENT, BUFFERED (queue over its high-water mark: slow down until on_drain) or DROPPED (over
/// the hard limit; nothing queued). Same argument rules as `wss_session_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_try_send(
    session: *const wss_session,
    kind: u32,
    data: *const u8,
    len: usize,
    fin: bool,
    out: *mut wss_try_send_result,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        let frame = frame_from(kind, data, len, fin)?;
        write(out, try_send_out(s.session.try_send(frame)?));
        Ok(())
    }
}

/// Waits until every frame queued before the call has been handed to the socket, at most
/// `timeout_ms` (WSS_TIMEOUT_INFINITE: no limit). WSS_STATUS_CLOSED if the session ended first,
/// WSS_STATUS_TIMEOUT, or WSS_STATUS_WOULD_DEADLOCK inside a callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_flush(session: *const wss_session, timeout_ms: u32) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let core = s.session.clone();
        block_with_timeout(timeout_ms, "flush", async move { core.flush_checked().await })??;
        Ok(())
    }
}

/// Starts a flush and returns at once (callable anywhere). When this returns WSS_STATUS_OK,
/// `callback` is called exactly once on a runtime thread: WSS_STATUS_OK, or WSS_STATUS_CANCELLED
/// if the session ended first. On any other return it is never called.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_flush_async(
    session: *const wss_session,
    callback: wss_flush_cb,
    user_data: *mut c_void,
) -> wss_status {
    ffi_status! {
        arg(session, "session")?;
        let callback = callback.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`callback` is NULL"))?;
        let handle = clone_arc(session);
        let ud = UserData::new(user_data, None);
        runtime::spawn(async move {
            let status = match handle.session.flush_checked().await {
                Ok(()) => wss_status::Ok,
                Err(_) => wss_status::Cancelled,
            };
            let tracker = handle.tracker.clone();
            // SAFETY: a C callback with the user_data C gave for it; the handle outlives the call.
            tracker.deliver(move || unsafe { callback(ud.get(), as_ptr(&handle), status) });
        });
        Ok(())
    }
}

/// Receives the next message of a pull-mode session into `*out` (free it with
/// `wss_message_free`). Waits at most `timeout_ms`: 0 only takes a message already queued
/// (allowed inside callbacks), WSS_TIMEOUT_INFINITE waits without limit. WSS_STATUS_TIMEOUT when
/// none arrived, WSS_STATUS_CLOSED at the end of the session (the detail says how it ended), the
/// failure's status once if it failed, WSS_STATUS_INVALID_ARGUMENT for push-mode sessions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_recv(
    session: *const wss_session,
    timeout_ms: u32,
    out: *mut *mut wss_message,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        let received = if timeout_ms == 0 {
            match s.session.try_recv()? {
                Some(frame) => Some(frame),
                None if s.session.close_reason_now().is_some() => s.session.try_recv()?,
                None => return Err(FfiError::new(wss_status::Timeout, "no message is ready")),
            }
        } else {
            let core = s.session.clone();
            block_with_timeout(timeout_ms, "recv", async move { core.recv().await })??
        };
        let frame = received.ok_or_else(|| closed_clean(s))?;
        write(out, Box::into_raw(Box::new(wss_message { frame })));
        Ok(())
    }
}

/// Starts receiving the next message of a pull-mode session and returns at once (callable
/// anywhere). When this returns WSS_STATUS_OK, `callback` is called exactly once on a runtime
/// thread with the message or the reason there is none (see `wss_recv_cb`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_recv_async(
    session: *const wss_session,
    callback: wss_recv_cb,
    user_data: *mut c_void,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        if s.session.has_event_handler() {
            return Err(FfiError::invalid("this session delivers messages to on_message; recv is unavailable"));
        }
        let callback = callback.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`callback` is NULL"))?;
        let handle = clone_arc(session);
        let ud = UserData::new(user_data, None);
        runtime::spawn(async move {
            let (status, message) = match handle.session.recv().await {
                Ok(Some(frame)) => (wss_status::Ok, Some(wss_message { frame })),
                Ok(None) => (wss_status::Closed, None),
                Err(e) => (crate::error::status_of(&e), None),
            };
            let tracker = handle.tracker.clone();
            tracker.deliver(move || {
                let ptr = message.as_ref().map_or(std::ptr::null(), |m| m as *const wss_message);
                // SAFETY: a C callback with the user_data C gave for it; `message` outlives the call.
                unsafe { callback(ud.get(), as_ptr(&handle), status, ptr) };
            });
        });
        Ok(())
    }
}

/// Starts the closing handshake with `code` and `reason` (NUL-terminated UTF-8, at most 123
/// bytes; NULL means ""). Returns at once; frames queued before it are sent first. Codes that may
/// not be sent (below 1000, 1004-1006, 1015-2999, 5000+) give WSS_STATUS_INVALID_ARGUMENT.
/// Idempotent: once closing, further calls succeed and change nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_close(
    session: *const wss_session,
    code: u16,
    reason: *const c_char,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let reason = if reason.is_null() { "" } else { arg_str(reason, "reason")? };
        s.session.close(code, reason)?;
        Ok(())
    }
}

/// Aborts the connection now: no Close frame, the close reason becomes 1006 (abnormal).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_terminate(session: *const wss_session) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.terminate();
        Ok(())
    }
}

/// A Close frame's code for C: 1005 for an empty body, 0 for no frame.
fn frame_code(frame: Option<&CloseFrame>) -> u16 {
    match frame {
        None => 0,
        Some(CloseFrame { code: Some(code), .. }) => *code,
        Some(_) => 1005,
    }
}

/// How the session ended. Waits at most `timeout_ms` for it to end (0: only check, allowed in
/// callbacks; WSS_STATUS_TIMEOUT if it has not ended yet).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_close_reason(
    session: *const wss_session,
    timeout_ms: u32,
    out: *mut wss_close_info,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        let reason = if timeout_ms == 0 {
            s.session
                .close_reason_now()
                .ok_or_else(|| FfiError::new(wss_status::Timeout, "the session has not ended yet"))?
        } else {
            let core = s.session.clone();
            block_with_timeout(timeout_ms, "close_reason", async move { core.close_reason().await })?
        };
        write(
            out,
            wss_close_info {
                code: reason.code,
                initiator: initiator_out(reason.initiator),
                reason: s.reason_cstr(&reason),
                violation: violation_out(reason.violation),
                sent_code: frame_code(reason.sent.as_ref()),
                received_code: frame_code(reason.received.as_ref()),
            },
        );
        Ok(())
    }
}

/// Sends a Ping with `data` (at most 125 bytes) and waits at most `timeout_ms` for its Pong;
/// writes the round trip in microseconds. WSS_STATUS_WOULD_DEADLOCK inside a callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_ping(
    session: *const wss_session,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
    rtt_us: *mut u64,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let data = Bytes::copy_from_slice(arg_bytes(data, len, "data")?);
        let rtt_us = out_ptr(rtt_us, "rtt_us")?;
        let core = s.session.clone();
        let rtt = block_with_timeout(timeout_ms, "ping", async move { core.ping(data).await })??;
        write(rtt_us, rtt.as_micros() as u64);
        Ok(())
    }
}

/// Bytes queued for writing and not yet handed to the socket.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_buffered_amount(session: *const wss_session, out: *mut usize) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.buffered_amount());
        Ok(())
    }
}

/// Round trip of the last matched Ping/Pong in microseconds; WSS_STATUS_NOT_FOUND before any.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_latency_us(session: *const wss_session, out: *mut u64) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        let latency: Duration = s
            .session
            .latency()
            .ok_or_else(|| FfiError::new(wss_status::NotFound, "no Ping/Pong round trip has been measured yet"))?;
        write(out, latency.as_micros() as u64);
        Ok(())
    }
}

/// Traffic counters.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_stats(session: *const wss_session, out: *mut wss_stats) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let st = s.session.stats();
        write(
            out_ptr(out, "out")?,
            wss_stats { messages_in: st.messages_in, bytes_in: st.bytes_in, messages_out: st.messages_out, bytes_out: st.bytes_out },
        );
        Ok(())
    }
}

/// Stops reading the socket (TCP backpressure reaches the peer) until `wss_session_resume`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_pause(session: *const wss_session) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.pause();
        Ok(())
    }
}

/// Resumes reading after `wss_session_pause`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_resume(session: *const wss_session) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.resume();
        Ok(())
    }
}

/// Whether reading is paused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_is_paused(session: *const wss_session, out: *mut bool) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.is_paused());
        Ok(())
    }
}

/// Whether outgoing frames are masked.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_get_masking(session: *const wss_session, out: *mut bool) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.masking());
        Ok(())
    }
}

/// Masks outgoing frames from now on (non-standard for servers; browsers reject it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_masking(session: *const wss_session, value: bool) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.set_masking(value);
        Ok(())
    }
}

/// Limit on frames, messages and inflated messages, in bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_get_max_frame_size(session: *const wss_session, out: *mut usize) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.max_frame_size());
        Ok(())
    }
}

/// Changes the size limit (at least 1); applies from the next frame.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_max_frame_size(session: *const wss_session, value: usize) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.set_max_frame_size(value)?;
        Ok(())
    }
}

/// Pinger period in ms (0 = off).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_get_ping_interval_ms(session: *const wss_session, out: *mut u64) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.ping_interval_ms());
        Ok(())
    }
}

/// Changes the pinger period and restarts the pinger (0 stops it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_ping_interval_ms(session: *const wss_session, value: u64) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.set_ping_interval_ms(value);
        Ok(())
    }
}

/// How long the pinger waits for a Pong, in ms.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_get_timeout_ms(session: *const wss_session, out: *mut u64) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.timeout_ms());
        Ok(())
    }
}

/// Changes the Pong timeout (at least 1 ms) and restarts the pinger.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_timeout_ms(session: *const wss_session, value: u64) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.set_timeout_ms(value)?;
        Ok(())
    }
}

/// Bound on the closing handshake, in ms.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_get_close_timeout_ms(session: *const wss_session, out: *mut u64) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        write(out_ptr(out, "out")?, s.session.close_timeout_ms());
        Ok(())
    }
}

/// Changes the closing-handshake bound (also for a close already in progress).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_close_timeout_ms(session: *const wss_session, value: u64) -> wss_status {
    ffi_status! {
        arg(session, "session")?.session.set_close_timeout_ms(value);
        Ok(())
    }
}

/// The message's kind (TEXT or BINARY).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_message_type(message: *const wss_message, out: *mut wss_frame_type) -> wss_status {
    ffi_status! {
        let m = arg(message, "message")?;
        write(out_ptr(out, "out")?, frame_type_out(m.frame.kind));
        Ok(())
    }
}

/// The message's payload (not NUL-terminated; valid UTF-8 for TEXT unless skip_utf8_validation), borrowed from the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_message_data(
    message: *const wss_message,
    data: *mut *const u8,
    len: *mut usize,
) -> wss_status {
    ffi_status! {
        let m = arg(message, "message")?;
        let data = out_ptr(data, "data")?;
        let len = out_ptr(len, "len")?;
        write(data, m.frame.data.as_ptr());
        write(len, m.frame.data.len());
        Ok(())
    }
}

/// Frees a message from `wss_session_recv`; NULL is a no-op. Never free a borrowed one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_message_free(message: *mut wss_message) {
    ffi_boundary! {
        if !message.is_null() {
            // SAFETY: owned messages come from Box::into_raw in wss_session_recv, freed once (header contract).
            drop(unsafe { Box::from_raw(message) });
        }
    }
}
