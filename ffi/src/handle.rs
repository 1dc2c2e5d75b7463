//! Argument checking, user data with finalizers, the shared enums, and blocking with a timeout.

use std::ffi::{CStr, c_char, c_void};
use std::future::Future;
use std::time::Duration;

use wssession_core::{FrameType, Initiator, State, TrySend, ViolationKind, runtime};

use crate::error::{FfiError, wss_status};

/// Pass as `timeout_ms` to wait without limit.
pub const WSS_TIMEOUT_INFINITE: u32 = 0xFFFF_FFFF;

/// Called once with a `user_data` pointer when the library no longer needs it (may run on any thread).
pub type wss_finalizer = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Kind of a message or frame; the numbers are the RFC 6455 opcodes.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_frame_type {
    /// UTF-8 text.
    Text = 1,
    /// Binary data.
    Binary = 2,
    /// Ping control frame (payload at most 125 bytes).
    Ping = 9,
    /// Pong control frame (payload at most 125 bytes).
    Pong = 10,
}

/// What `wss_session_try_send` did with the frame.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_try_send_result {
    /// Queued; the queue is under its high-water mark.
    Sent = 0,
    /// Queued, but the queue is over its high-water mark: slow down until on_drain.
    Buffered = 1,
    /// Not queued: the queue is over its hard limit.
    Dropped = 2,
}

/// Which side started the close.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_initiator {
    /// This server sent the first Close (or failed the connection).
    Local = 0,
    /// The peer sent the first Close.
    Remote = 1,
    /// No closing handshake happened (terminate, reset, EOF).
    Abnormal = 2,
}

/// What the peer did wrong when the session failed because of it (`wss_close_info.violation`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_violation {
    /// The session did not fail because of the peer.
    None = 0,
    /// A client frame without a mask (1002).
    Unmasked = 1,
    /// RSV1 set where no negotiated extension allows it (1002).
    UnexpectedRsv1 = 2,
    /// RSV2 or RSV3 set (1002).
    UnexpectedRsv23 = 3,
    /// A reserved opcode (1002).
    ReservedOpcode = 4,
    /// A continuation frame with no message to continue (1002).
    UnexpectedContinuation = 5,
    /// A new data frame inside a fragmented message (1002).
    InterruptedMessage = 6,
    /// A fragmented control frame (1002).
    FragmentedControl = 7,
    /// A control payload over 125 bytes or a 1-byte Close payload (1002).
    ControlPayloadLength = 8,
    /// A close code that may not be sent (1002).
    InvalidCloseCode = 9,
    /// Invalid UTF-8 in a Text message or Close reason (1007).
    InvalidUtf8 = 10,
    /// A compressed message that does not inflate (1007).
    CorruptCompressedData = 11,
    /// A frame or message over max_frame_size (1009).
    TooBig = 12,
    /// The pinger's Ping was not answered within timeout_ms (1011).
    PingTimeout = 13,
    /// A message in more frames than max_fragments allows (1008).
    TooManyFragments = 14,
}

/// Where a session is in its life.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_state {
    /// Not yet started.
    Connecting = 0,
    /// Messages flow both ways.
    Open = 1,
    /// A Close was sent or received.
    Closing = 2,
    /// Finished; the close reason is known.
    Closed = 3,
}

/// How a route delivers messages.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_mode {
    /// Messages are pushed to `on_message`.
    Push = 0,
    /// Messages queue for `wss_session_recv`; only `on_open` and `on_close` are called.
    Pull = 1,
}

pub(crate) fn frame_type_in(kind: u32) -> Result<FrameType, FfiError> {
    match kind {
        1 => Ok(FrameType::Text),
        2 => Ok(FrameType::Binary),
        9 => Ok(FrameType::Ping),
        10 => Ok(FrameType::Pong),
        8 => Err(FfiError::invalid("frame type 8 (close): send a Close with wss_session_close")),
        other => Err(FfiError::invalid(format!(
            "unknown frame type {other}; use WSS_FRAME_TYPE_TEXT (1), _BINARY (2), _PING (9) or _PONG (10)"
        ))),
    }
}

pub(crate) fn frame_type_out(kind: FrameType) -> wss_frame_type {
    match kind {
        FrameType::Text => wss_frame_type::Text,
        FrameType::Binary => wss_frame_type::Binary,
        FrameType::Ping => wss_frame_type::Ping,
        // Close frames never reach users; Pong is the remaining kind.
        FrameType::Pong | FrameType::Close => wss_frame_type::Pong,
    }
}

pub(crate) fn mode_in(mode: u32) -> Result<wss_mode, FfiError> {
    match mode {
        0 => Ok(wss_mode::Push),
        1 => Ok(wss_mode::Pull),
        other => Err(FfiError::invalid(format!("unknown mode {other}; use WSS_MODE_PUSH (0) or WSS_MODE_PULL (1)"))),
    }
}

pub(crate) fn initiator_out(i: Initiator) -> wss_initiator {
    match i {
        Initiator::Local => wss_initiator::Local,
        Initiator::Remote => wss_initiator::Remote,
        Initiator::Abnormal => wss_initiator::Abnormal,
    }
}

pub(crate) fn violation_out(v: Option<ViolationKind>) -> wss_violation {
    match v {
        None => wss_violation::None,
        Some(ViolationKind::Unmasked) => wss_violation::Unmasked,
        Some(ViolationKind::UnexpectedRsv1) => wss_violation::UnexpectedRsv1,
        Some(ViolationKind::UnexpectedRsv23) => wss_violation::UnexpectedRsv23,
        Some(ViolationKind::ReservedOpcode) => wss_violation::ReservedOpcode,
        Some(ViolationKind::UnexpectedContinuation) => wss_violation::UnexpectedContinuation,
        Some(ViolationKind::InterruptedMessage) => wss_violation::InterruptedMessage,
        Some(ViolationKind::FragmentedControl) => wss_violation::FragmentedControl,
        Some(ViolationKind::ControlPayloadLength) => wss_violation::ControlPayloadLength,
        Some(ViolationKind::InvalidCloseCode) => wss_violation::InvalidCloseCode,
        Some(ViolationKind::InvalidUtf8) => wss_violation::InvalidUtf8,
        Some(ViolationKind::CorruptCompressedData) => wss_violation::CorruptCompressedData,
        Some(ViolationKind::TooBig) => wss_violation::TooBig,
        Some(ViolationKind::PingTimeout) => wss_violation::PingTimeout,
        Some(ViolationKind::TooManyFragments) => wss_violation::TooManyFragments,
    }
}

pub(crate) fn state_out(s: State) -> wss_state {
    match s {
        State::Connecting => wss_state::Connecting,
        State::Open => wss_state::Open,
        State::Closing => wss_state::Closing,
        State::Closed => wss_state::Closed,
    }
}

pub(crate) fn try_send_out(t: TrySend) -> wss_try_send_result {
    match t {
        TrySend::Sent => wss_try_send_result::Sent,
        TrySend::Buffered => wss_try_send_result::Buffered,
        TrySend::Dropped => wss_try_send_result::Dropped,
    }
}

/// Borrows `*ptr`, failing with NULL_POINTER naming the argument.
///
/// The C caller promises a non-NULL `ptr` points to a live `T` for the duration of the call
/// (the ownership rule in the header); that is the contract of every entry point.
pub(crate) fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: non-NULL pointers from C point to live objects of this type (header contract).
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::new(wss_status::NullPointer, format!("`{name}` is NULL")))
}

/// Borrows a NUL-terminated UTF-8 C string.
pub(crate) fn arg_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::new(wss_status::NullPointer, format!("`{name}` is NULL")));
    }
    // SAFETY: non-NULL string arguments are NUL-terminated and live for the call (header contract).
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| FfiError::new(wss_status::InvalidUtf8, format!("`{name}` is not valid UTF-8: {e}")))
}

/// Borrows `len` bytes at `ptr`; NULL is allowed only with `len == 0`.
pub(crate) fn arg_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::new(wss_status::NullPointer, format!("`{name}` is NULL but its length is {len}")));
    }
    // SAFETY: the caller passes a buffer of at least `len` readable bytes (header contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an output pointer before any work is done.
pub(crate) fn out_ptr<T>(ptr: *mut T, name: &str) -> Result<*mut T, FfiError> {
    if ptr.is_null() {
        Err(FfiError::new(wss_status::NullPointer, format!("output `{name}` is NULL")))
    } else {
        Ok(ptr)
    }
}

/// Writes an output (checked non-NULL with [`out_ptr`]).
pub(crate) fn write<T>(ptr: *mut T, value: T) {
    // SAFETY: `ptr` was checked non-NULL and points to writable storage for a `T` (header contract).
    unsafe { ptr.write(value) }
}

/// A C `user_data` pointer with its optional finalizer, run once on drop.
pub(crate) struct UserData {
    pub(crate) ptr: *mut c_void,
    finalizer: wss_finalizer,
}

// SAFETY: the library only hands the pointer back to C callbacks; the header tells C that those run
// on runtime threads, so the pointee must be usable from any thread (the C program's responsibility).
unsafe impl Send for UserData {}
// SAFETY: as for Send; the library itself never dereferences the pointer.
unsafe impl Sync for UserData {}

impl UserData {
    /// Wraps `ptr` and its finalizer.
    pub(crate) fn new(ptr: *mut c_void, finalizer: wss_finalizer) -> Self {
        Self { ptr, finalizer }
    }

    /// The pointer (a method, so closures capture the whole Send wrapper, not the raw field).
    pub(crate) fn get(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(f) = self.finalizer {
            // SAFETY: the finalizer was supplied by C for exactly this pointer; it runs once.
            unsafe { f(self.ptr) }
        }
    }
}

/// Runs `fut` on the runtime from a plain thread, bounded by `timeout_ms`
/// (WSS_TIMEOUT_INFINITE: no bound); WOULD_DEADLOCK on a runtime thread.
pub(crate) fn block_with_timeout<F>(timeout_ms: u32, what: &str, fut: F) -> Result<F::Output, FfiError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let bounded = async move {
        if timeout_ms == WSS_TIMEOUT_INFINITE {
            Some(fut.await)
        } else {
            tokio::time::timeout(Duration::from_millis(timeout_ms.into()), fut).await.ok()
        }
    };
    runtime::block_on(bounded)?
        .ok_or_else(|| FfiError::new(wss_status::Timeout, format!("{what} did not complete within {timeout_ms} ms")))
}

/// Sets the number of runtime worker threads (0 = one per core). Only before the first server
/// starts: afterwards WSS_STATUS_RUNTIME_STARTED.
#[unsafe(no_mangle)]
pub extern "C" fn wss_set_worker_threads(threads: u32) -> wss_status {
    ffi_status! { Ok(runtime::set_worker_threads(threads as usize)?) }
}
