//! Status codes, their messages, and the thread-local last-error detail.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use wssession_core::Error;

/// The result of every fallible call. Numbers are stable and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_status {
    /// Success; outputs were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// An argument was out of range, not allowed, or an enum value is unknown; nothing changed.
    InvalidArgument = 2,
    /// A C string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// The session is closing or closed (also: `wss_session_recv` after the peer closed cleanly).
    Closed = 4,
    /// The wait ended before the operation completed (or, with timeout 0, nothing was ready).
    Timeout = 5,
    /// The peer violated the protocol; the session was closed with a 1002/1007/1009 code.
    Protocol = 6,
    /// A message exceeded max_frame_size.
    TooBig = 7,
    /// A socket or file operation failed (bind, TLS files...).
    Io = 8,
    /// The opening handshake failed.
    Handshake = 9,
    /// The send queue is full and nothing was queued.
    WouldBlock = 10,
    /// The frame was dropped: the send queue is over its hard limit.
    Dropped = 11,
    /// A blocking call was made from a runtime thread (inside a callback); use the async form.
    WouldDeadlock = 12,
    /// The object was already started (server started twice, route added after start).
    AlreadyStarted = 13,
    /// The runtime is already running (wss_set_worker_threads too late).
    RuntimeStarted = 14,
    /// The server has not been started yet.
    NotStarted = 15,
    /// The completion was cancelled: the session ended before the operation finished.
    Cancelled = 16,
    /// The requested value does not exist (header absent, no query, no latency measured yet).
    NotFound = 17,
    /// No converter is configured (reserved; the C ABI exposes no converters).
    NoConverter = 18,
    /// A message could not be deserialized (reserved; the C ABI exposes no converters).
    Deserialize = 19,
    /// An internal panic was caught at the C boundary; please report it.
    Panic = 20,
    /// A topic cannot be resumed from the given position (history trimmed, epoch changed, no history).
    Recovery = 21,
    /// The backplane could not take a publish (queue toward the broker full, or stopped).
    Backplane = 22,
}

impl wss_status {
    fn message(self) -> &'static CStr {
        match self {
            wss_status::Ok => c"ok",
            wss_status::NullPointer => c"a required pointer argument was NULL",
            wss_status::InvalidArgument => c"invalid argument",
            wss_status::InvalidUtf8 => c"string argument is not valid UTF-8",
            wss_status::Closed => c"the session is closed",
            wss_status::Timeout => c"timed out",
            wss_status::Protocol => c"protocol error",
            wss_status::TooBig => c"message too big",
            wss_status::Io => c"I/O error",
            wss_status::Handshake => c"handshake failed",
            wss_status::WouldBlock => c"the send queue is full",
            wss_status::Dropped => c"the frame was dropped: send queue over its hard limit",
            wss_status::WouldDeadlock => {
                c"blocking call from a runtime thread (inside a callback) would deadlock; use the async form"
            }
            wss_status::AlreadyStarted => c"already started",
            wss_status::RuntimeStarted => c"the runtime is already running",
            wss_status::NotStarted => c"the server is not started",
            wss_status::Cancelled => c"cancelled: the session ended first",
            wss_status::NotFound => c"not found",
            wss_status::NoConverter => c"no converter configured",
            wss_status::Deserialize => c"cannot deserialize message",
            wss_status::Panic => c"internal panic caught at the C boundary",
            wss_status::Recovery => c"cannot recover the topic from this position",
            wss_status::Backplane => c"the backplane could not take the publish",
        }
    }

    pub(crate) fn from_u32(n: u32) -> Option<Self> {
        use wss_status::*;
        const ALL: [wss_status; 23] = [
            Ok,
            NullPointer,
            InvalidArgument,
            InvalidUtf8,
            Closed,
            Timeout,
            Protocol,
            TooBig,
            Io,
            Handshake,
            WouldBlock,
            Dropped,
            WouldDeadlock,
            AlreadyStarted,
            RuntimeStarted,
            NotStarted,
            Cancelled,
            NotFound,
            NoConverter,
            Deserialize,
            Panic,
            Recovery,
            Backplane,
        ];
        ALL.iter().copied().find(|s| *s as u32 == n)
    }
}

/// A failed call: its status and the detail for `wss_last_error`.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: wss_status,
    pub(crate) message: String,
}

impl FfiError {
    /// An error with `status` and a message a user can act on.
    pub(crate) fn new(status: wss_status, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// An invalid-argument error.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(wss_status::InvalidArgument, message)
    }
}

/// The status of a core error.
pub(crate) fn status_of(e: &Error) -> wss_status {
    match e {
        Error::Closed(_) => wss_status::Closed,
        Error::Timeout(_) => wss_status::Timeout,
        Error::InvalidArgument(_) | Error::OutOfRange(_) => wss_status::InvalidArgument,
        Error::Protocol { .. } => wss_status::Protocol,
        Error::TooBig { .. } => wss_status::TooBig,
        Error::NoConverter => wss_status::NoConverter,
        Error::Deserialize { .. } => wss_status::Deserialize,
        Error::Io(_) => wss_status::Io,
        Error::Handshake(_) => wss_status::Handshake,
        Error::WouldBlock => wss_status::WouldBlock,
        Error::Dropped => wss_status::Dropped,
        Error::WouldDeadlock => wss_status::WouldDeadlock,
        Error::AlreadyStarted => wss_status::AlreadyStarted,
        Error::RuntimeStarted => wss_status::RuntimeStarted,
        Error::Recovery(_) => wss_status::Recovery,
        Error::Backplane(_) => wss_status::Backplane,
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::new(status_of(&e), e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|cell| *cell.borrow_mut() = c);
}

/// Converts an entry point's result to its status, recording the detail of an error.
pub(crate) fn finish(result: Result<(), FfiError>) -> wss_status {
    match result {
        Ok(()) => wss_status::Ok,
        Err(e) => {
            set_last_error(&e.message);
            e.status
        }
    }
}

/// Records a caught panic's message as the last error.
pub(crate) fn record_panic(payload: Box<dyn std::any::Any + Send>) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_last_error(&format!("internal panic caught at the C boundary: {what}"));
}

/// A static, NUL-terminated description of `status` (any value; unknown ones are named so).
/// The string is never freed.
#[unsafe(no_mangle)]
pub extern "C" fn wss_status_message(status: u32) -> *const c_char {
    ffi_boundary! {
        match wss_status::from_u32(status) {
            Some(s) => s.message().as_ptr().cast(),
            None => c"unknown status code".as_ptr().cast(),
        }
    }
}

/// The detail of the last call that failed on the calling thread (NUL-terminated, "" if none).
/// Valid until the next failing call on this thread; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn wss_last_error() -> *const c_char {
    ffi_boundary! { LAST_ERROR.with(|cell| cell.borrow().as_ptr()) }
}
