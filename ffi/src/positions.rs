//! Positions and recovery (a Redis history): `wss_server_publish_positioned`,
//! `wss_session_publish_positioned`, `wss_session_subscribe_from`, and the async forms of the
//! session calls (callable inside callbacks). Positions travel as their text,
//! `"<offset>:<epoch>"`, the form clients see in the `positions=1` prefix; the core parses it.

use std::ffi::{CString, c_char, c_void};
use std::future::Future;
use std::sync::Arc;

use wssession_core::{Error, Position, RecoveryFailure, runtime};

use crate::error::{FfiError, status_of, wss_status};
use crate::handle::{UserData, arg, arg_str, block_with_timeout, write};
use crate::server::wss_server;
use crate::session::{as_ptr, clone_arc, wss_session};
use crate::topics::PublishArgs;

/// The size of a buffer that holds any position this library writes (text and NUL).
pub const WSS_POSITION_SIZE: usize = 64;

/// Why a topic could not be resumed from a position (with WSS_STATUS_RECOVERY).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_recovery {
    /// Recovered: the session got what it missed and is subscribed (or the call failed otherwise).
    Recovered = 0,
    /// The history no longer holds the messages after the position (trimmed by length or age).
    Trimmed = 1,
    /// The topic's history was lost since the position (a new epoch).
    EpochChanged = 2,
    /// The backplane keeps no history (no `history=N` in the Redis URL).
    NoHistory = 3,
    /// The broker holding the history is unreachable.
    Unavailable = 4,
}

fn recovery_of(e: &Error) -> wss_recovery {
    match e {
        Error::Recovery(RecoveryFailure::Trimmed) => wss_recovery::Trimmed,
        Error::Recovery(RecoveryFailure::EpochChanged) => wss_recovery::EpochChanged,
        Error::Recovery(RecoveryFailure::NoHistory) => wss_recovery::NoHistory,
        Error::Recovery(RecoveryFailure::Unavailable) => wss_recovery::Unavailable,
        _ => wss_recovery::Recovered,
    }
}

/// Called exactly once when `wss_session_subscribe_from_async` completes. WSS_STATUS_OK: the
/// session received every message after the position and is subscribed; `last_position` is the
/// last of them ("<offset>:<epoch>", borrowed for the call; NULL when the topic has no history
/// yet). WSS_STATUS_RECOVERY: not subscribed, `recovery` says why. Other statuses as
/// `wss_session_subscribe`. Runs on a runtime thread.
pub type wss_subscribe_from_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        session: *mut wss_session,
        status: wss_status,
        recovery: wss_recovery,
        last_position: *const c_char,
    ),
>;

/// Called exactly once when `wss_session_publish_positioned_async` completes. WSS_STATUS_OK:
/// `position` is the message's position ("<offset>:<epoch>", borrowed for the call); otherwise
/// `position` is NULL and `status` is as for `wss_server_publish_positioned` (`wss_last_error` on
/// the callback's thread says why). Runs on a runtime thread.
pub type wss_positioned_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        session: *mut wss_session,
        status: wss_status,
        position: *const c_char,
    ),
>;

/// How an async position call ended, in C's terms.
struct Outcome {
    status: wss_status,
    recovery: wss_recovery,
    /// The position to report (none on failure, or when the topic has no history yet).
    position: Option<CString>,
    /// The error's text, for `wss_last_error`.
    detail: Option<String>,
}

impl Outcome {
    fn of(result: Result<Option<Position>, Error>) -> Self {
        match result {
            // Positions hold no NUL (the epoch is the broker's text, digits and letters).
            Ok(p) => Self {
                status: wss_status::Ok,
                recovery: wss_recovery::Recovered,
                position: p.and_then(|p| CString::new(p.to_string()).ok()),
                detail: None,
            },
            Err(e) => {
                Self { status: status_of(&e), recovery: recovery_of(&e), position: None, detail: Some(e.to_string()) }
            }
        }
    }

    /// The position for C, borrowed from `self` (NULL for none).
    fn position_ptr(&self) -> *const c_char {
        self.position.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
    }
}

/// Runs `work` on the runtime, then `callback` once with its outcome the way the session's
/// callbacks run (at once, or queued for `wss_server_dispatch`), `wss_last_error` set on failure.
fn complete_async<F>(
    handle: Arc<wss_session>,
    work: F,
    callback: impl FnOnce(&Arc<wss_session>, &Outcome) + Send + 'static,
) where
    F: Future<Output = Result<Option<Position>, Error>> + Send + 'static,
{
    runtime::spawn(async move {
        let outcome = Outcome::of(work.await);
        let tracker = handle.tracker.clone();
        tracker.deliver(move || {
            // The detail for `wss_last_error` on the thread the callback runs on.
            if let Some(detail) = &outcome.detail {
                crate::error::set_last_error(detail);
            }
            callback(&handle, &outcome);
        });
    });
}

/// A caller's position buffer, checked before anything happens.
struct PositionOut {
    ptr: *mut c_char,
    size: usize,
}

impl PositionOut {
    fn new(ptr: *mut c_char, size: usize, required: bool) -> Result<Option<Self>, FfiError> {
        if ptr.is_null() {
            return if required { Err(FfiError::new(wss_status::NullPointer, "`position` is NULL")) } else { Ok(None) };
        }
        if size < WSS_POSITION_SIZE {
            return Err(FfiError::invalid(format!(
                "a position buffer holds WSS_POSITION_SIZE ({WSS_POSITION_SIZE}) bytes, not {size}"
            )));
        }
        Ok(Some(Self { ptr, size }))
    }

    /// Writes `"<offset>:<epoch>"` and its NUL ("" for none).
    fn put(&self, position: Option<&Position>) -> Result<(), FfiError> {
        let text = position.map(Position::to_string).unwrap_or_default();
        if text.len() >= self.size {
            return Err(FfiError::invalid(format!("position {text:?} is longer than the buffer")));
        }
        // SAFETY: the buffer holds `size` writable bytes (header contract); `text` and its NUL fit.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), self.ptr, text.len());
            self.ptr.add(text.len()).write(0);
        }
        Ok(())
    }
}

/// Runs a positioned publish of `m` (given owned copies of its parts), waiting at most
/// `timeout_ms`, and writes the position to the caller's buffer (checked first).
fn wait_position<F>(
    m: PublishArgs<'_>,
    timeout_ms: u32,
    position: *mut c_char,
    position_size: usize,
    publish: impl FnOnce(String, Vec<u8>, bool, Option<bool>) -> F,
) -> Result<(), FfiError>
where
    F: Future<Output = Result<Position, Error>> + Send + 'static,
{
    let out = PositionOut::new(position, position_size, true)?;
    let placed =
        block_with_timeout(timeout_ms, "publish", publish(m.topic.to_owned(), m.data.to_vec(), m.text, m.compress))??;
    if let Some(out) = out {
        out.put(Some(&placed))?;
    }
    Ok(())
}

/// Publishes as `wss_server_publish` through a backplane with a Redis history, waits (at most
/// `timeout_ms`, WSS_TIMEOUT_INFINITE: no limit) until the broker placed the message and writes its
/// position, "<offset>:<epoch>" and a NUL, to `position` (`position_size` >= WSS_POSITION_SIZE).
/// Every subscriber, this server's too, receives the message from the broker in position order.
/// WSS_STATUS_RECOVERY without a history (`wss_last_error` says so), WSS_STATUS_BACKPLANE when the
/// broker cannot take it (the message then reaches this server's subscribers only),
/// WSS_STATUS_WOULD_DEADLOCK inside a callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_publish_positioned(
    server: *const wss_server,
    topic: *const c_char,
    kind: u32,
    data: *const u8,
    len: usize,
    compress: u32,
    timeout_ms: u32,
    position: *mut c_char,
    position_size: usize,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let m = PublishArgs::new(topic, kind, data, len, compress)?;
        wait_position(m, timeout_ms, position, position_size, |topic, data, text, compress| async move {
            srv.publish_positioned(&topic, &data, text, compress).await
        })
    }
}

/// Publishes as `wss_session_publish` (every subscriber but this session, on every server sharing
/// the backplane) through a Redis history, waits (at most `timeout_ms`, WSS_TIMEOUT_INFINITE: no
/// limit) until the broker placed the message and writes its position, "<offset>:<epoch>" and a
/// NUL, to `position` (`position_size` >= WSS_POSITION_SIZE). Statuses as
/// `wss_server_publish_positioned`; WSS_STATUS_WOULD_DEADLOCK inside a callback (use
/// `wss_session_publish_positioned_async`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_publish_positioned(
    session: *const wss_session,
    topic: *const c_char,
    kind: u32,
    data: *const u8,
    len: usize,
    compress: u32,
    timeout_ms: u32,
    position: *mut c_char,
    position_size: usize,
) -> wss_status {
    ffi_status! {
        let core = arg(session, "session")?.session.clone();
        let m = PublishArgs::new(topic, kind, data, len, compress)?;
        wait_position(m, timeout_ms, position, position_size, |topic, data, text, compress| async move {
            core.publish_positioned(&topic, &data, text, compress).await
        })
    }
}

/// Starts `wss_session_publish_positioned` and returns at once (callable anywhere, callbacks
/// included); `data` is copied before it returns. When this returns WSS_STATUS_OK, `callback` is
/// called exactly once on a runtime thread with the position or the failure (see
/// `wss_positioned_cb`); on any other return it is never called.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_publish_positioned_async(
    session: *const wss_session,
    topic: *const c_char,
    kind: u32,
    data: *const u8,
    len: usize,
    compress: u32,
    callback: wss_positioned_cb,
    user_data: *mut c_void,
) -> wss_status {
    ffi_status! {
        arg(session, "session")?;
        let m = PublishArgs::new(topic, kind, data, len, compress)?;
        let callback = callback.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`callback` is NULL"))?;
        // Bad input is refused here, not in the callback.
        wssession_core::topics::check_publish(m.topic, m.data, m.text)?;
        let (topic, data, text, compress) = (m.topic.to_owned(), m.data.to_vec(), m.text, m.compress);
        let handle = clone_arc(session);
        let ud = UserData::new(user_data, None);
        let core = handle.session.clone();
        let work = async move { core.publish_positioned(&topic, &data, text, compress).await.map(Some) };
        complete_async(handle, work, move |h, out| {
            // SAFETY: a C callback with the user_data C gave for it; the position outlives the call.
            unsafe { callback(ud.get(), as_ptr(h), out.status, out.position_ptr()) };
        });
        Ok(())
    }
}

/// Subscribes the session to `topic` after first sending it every message published after `since`
/// (the "<offset>:<epoch>" of the last message its client received), in order, none missing or
/// repeated before the live ones. Waits at most `timeout_ms` for the broker. `last_position` (may be
/// NULL; else `last_position_size` >= WSS_POSITION_SIZE) receives the last message sent ("" when the
/// topic has no history yet). WSS_STATUS_RECOVERY when that is impossible: the session is not
/// subscribed, `recovery` (may be NULL) says why, and its client should reload its state.
/// WSS_STATUS_INVALID_ARGUMENT for a malformed `since` or a session already subscribed to `topic`;
/// WSS_STATUS_WOULD_DEADLOCK inside a callback (use `wss_session_subscribe_from_async`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_subscribe_from(
    session: *const wss_session,
    topic: *const c_char,
    since: *const c_char,
    timeout_ms: u32,
    recovery: *mut wss_recovery,
    last_position: *mut c_char,
    last_position_size: usize,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let topic = arg_str(topic, "topic")?.to_owned();
        let since: Position = arg_str(since, "since")?.parse()?;
        let out = PositionOut::new(last_position, last_position_size, false)?;
        let core = s.session.clone();
        let result = block_with_timeout(timeout_ms, "subscribe_from", async move {
            core.subscribe_from(&topic, since).await
        })?;
        if !recovery.is_null() {
            write(recovery, result.as_ref().err().map_or(wss_recovery::Recovered, recovery_of));
        }
        let last = result?;
        if let Some(out) = out {
            out.put(last.as_ref())?;
        }
        Ok(())
    }
}

/// Starts `wss_session_subscribe_from` and returns at once (callable anywhere, callbacks
/// included). When this returns WSS_STATUS_OK, `callback` is called exactly once on a runtime
/// thread with the outcome (see `wss_subscribe_from_cb`); on any other return it is never called.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_subscribe_from_async(
    session: *const wss_session,
    topic: *const c_char,
    since: *const c_char,
    callback: wss_subscribe_from_cb,
    user_data: *mut c_void,
) -> wss_status {
    ffi_status! {
        arg(session, "session")?;
        let topic = arg_str(topic, "topic")?.to_owned();
        let since: Position = arg_str(since, "since")?.parse()?;
        let callback = callback.ok_or_else(|| FfiError::new(wss_status::NullPointer, "`callback` is NULL"))?;
        let handle = clone_arc(session);
        let ud = UserData::new(user_data, None);
        let core = handle.session.clone();
        let work = async move { core.subscribe_from(&topic, since).await };
        complete_async(handle, work, move |h, out| {
            // SAFETY: a C callback with the user_data C gave for it; the position outlives the call.
            unsafe { callback(ud.get(), as_ptr(h), out.status, out.recovery, out.position_ptr()) };
        });
        Ok(())
    }
}
