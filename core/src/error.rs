//! The one error type every surface maps to its own (C status codes, Python exceptions, JS error codes).

use std::fmt;
use std::sync::Arc;

use crate::protocol::{CloseReason, Frame, ViolationKind};

/// What went wrong, with a message a user can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The session is closing or closed; carries the close reason once known.
    #[error("session closed{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<CloseReason>),
    /// A deadline passed (ping timeout, receive timeout, handshake timeout).
    #[error("timed out: {0}")]
    Timeout(String),
    /// An argument was out of range or not allowed; nothing was sent or changed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An argument was outside its range or over its size limit (a setting under its minimum, a
    /// close reason over 123 bytes, a control payload over 125); nothing was sent or changed. The same
    /// stable kind as `InvalidArgument` (`INVALID_ARGUMENT`); Node throws it as a `RangeError`.
    #[error("invalid argument: {0}")]
    OutOfRange(String),
    /// The peer violated RFC 6455; the session was closed with `code`.
    #[error("protocol error (close code {code}): {message}")]
    Protocol {
        /// What the peer did wrong.
        kind: ViolationKind,
        /// The close code sent (1002, 1007 or 1009).
        code: u16,
        /// What the peer did wrong.
        message: String,
    },
    /// A frame or message exceeded `max_frame_size`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooBig {
        /// The size seen.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// `send_serialized`/`receive_deserialized` without a converter.
    #[error("no converter is configured for this session")]
    NoConverter,
    /// The converter could not decode a frame; the session stays open.
    #[error("cannot deserialize frame: {message}")]
    Deserialize {
        /// The frame that failed to decode.
        frame: Box<Frame>,
        /// The converter's explanation.
        message: String,
    },
    /// A socket or file operation failed.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// The opening handshake failed (server side: bad request or TLS failure).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// `try_send` would have to wait (queue over its high-water mark) and nothing was queued.
    #[error("the send queue is full")]
    WouldBlock,
    /// `try_send` dropped the frame: the queue is over its hard limit.
    #[error("the send queue is over its hard limit; the frame was dropped")]
    Dropped,
    /// A blocking call was made from a runtime thread (a callback); use the async form.
    #[error("blocking call from a runtime thread (inside a callback) would deadlock; use the async or callback form")]
    WouldDeadlock,
    /// `start` was called on a session that had already started.
    #[error("session already started")]
    AlreadyStarted,
    /// The runtime was already running when its configuration was changed.
    #[error("the runtime is already running; configure it before first use")]
    RuntimeStarted,
    /// A topic cannot be resumed from the position given: the client should reload its state.
    #[error("cannot recover: {0}")]
    Recovery(RecoveryFailure),
    /// The backplane could not take a publish (its queue toward the broker is full, or it stopped).
    #[error("backplane: {0}")]
    Backplane(String),
}

impl Error {
    /// A stable short name for the error kind (the suffix of `WSSESSION_ERR_*` codes).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Closed(_) => "CLOSED",
            Error::Timeout(_) => "TIMEOUT",
            Error::InvalidArgument(_) | Error::OutOfRange(_) => "INVALID_ARGUMENT",
            Error::Protocol { .. } => "PROTOCOL",
            Error::TooBig { .. } => "TOO_BIG",
            Error::NoConverter => "NO_CONVERTER",
            Error::Deserialize { .. } => "DESERIALIZE",
            Error::Io(_) => "IO",
            Error::Handshake(_) => "HANDSHAKE",
            Error::WouldBlock => "WOULD_BLOCK",
            Error::Dropped => "DROPPED",
            Error::WouldDeadlock => "WOULD_DEADLOCK",
            Error::AlreadyStarted => "ALREADY_STARTED",
            Error::RuntimeStarted => "RUNTIME_STARTED",
            Error::Recovery(_) => "RECOVERY",
            Error::Backplane(_) => "BACKPLANE",
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn out_of_range(msg: impl Into<String>) -> Self {
        Error::OutOfRange(msg.into())
    }
}

impl From<crate::protocol::SendError> for Error {
    fn from(e: crate::protocol::SendError) -> Self {
        match e {
            crate::protocol::SendError::Invalid(message) => Error::InvalidArgument(message),
            crate::protocol::SendError::OutOfRange(message) => Error::OutOfRange(message),
            crate::protocol::SendError::Closing => Error::Closed(None),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

/// Fails with an `InvalidArgument` naming `name` unless `value` is within `range`.
pub(crate) fn within(name: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::out_of_range(format!("{name} must be {}-{} (got {value})", range.start(), range.end())))
    }
}

/// Fails with an `InvalidArgument` naming `name` unless `value >= min`.
pub(crate) fn at_least(name: &str, value: u64, min: u64) -> Result<()> {
    if value < min { Err(Error::out_of_range(format!("{name} must be at least {min} (got {value})"))) } else { Ok(()) }
}

/// Why a session cannot resume a topic from the position it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryFailure {
    /// Messages after the position are no longer in the history (trimmed by length or age).
    Trimmed,
    /// The topic's epoch changed (history lost, e.g. the broker restarted without persistence).
    EpochChanged,
    /// The backplane keeps no history (no Redis Streams configured).
    NoHistory,
    /// The broker could not be reached to read the history.
    Unavailable,
}

impl RecoveryFailure {
    /// A stable short name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryFailure::Trimmed => "trimmed",
            RecoveryFailure::EpochChanged => "epoch_changed",
            RecoveryFailure::NoHistory => "no_history",
            RecoveryFailure::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for RecoveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecoveryFailure::Trimmed => "the history no longer holds the messages after this position",
            RecoveryFailure::EpochChanged => "the topic's history was lost since this position (new epoch)",
            RecoveryFailure::NoHistory => "the backplane keeps no history",
            RecoveryFailure::Unavailable => "the broker holding the history is unreachable",
        })
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
