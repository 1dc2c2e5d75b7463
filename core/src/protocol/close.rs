//! Close codes and the close reason a session resolves with.

use std::fmt;

use super::encoder::SendError;
use super::violation::ViolationKind;

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown).
pub const GOING_AWAY: u16 = 1001;
/// Protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// No status code was present in the Close frame (never sent on the wire).
pub const NO_STATUS: u16 = 1005;
/// The connection ended without a Close frame (never sent on the wire).
pub const ABNORMAL: u16 = 1006;
/// Invalid payload data (bad UTF-8, corrupt compressed stream).
pub const INVALID_PAYLOAD: u16 = 1007;
/// Message too big.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1008: the endpoint received a message that violates its policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// Internal error: the handler failed or the ping timed out.
pub const INTERNAL_ERROR: u16 = 1011;

/// Whether `code` may appear in a Close frame on the wire (RFC 6455 §7.4, IANA registry).
pub fn is_valid_wire_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The longest close reason in bytes (a Close payload is at most 125 bytes, 2 of them the code).
pub const MAX_REASON: usize = 123;

/// Checks a Close a user asks to send: a code allowed on the wire and a reason of at most
/// [`MAX_REASON`] bytes. Every surface refuses the same inputs with this one check.
pub fn validate(code: u16, reason: &str) -> Result<(), SendError> {
    if !is_valid_wire_code(code) {
        return Err(SendError::Invalid(format!(
            "close code {code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)"
        )));
    }
    if reason.len() > MAX_REASON {
        return Err(SendError::OutOfRange(format!(
            "close reason is {} bytes; the limit is {MAX_REASON}",
            reason.len()
        )));
    }
    Ok(())
}

/// Who ended the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This server sent the first Close (or failed the connection).
    Local,
    /// The peer sent the first Close.
    Remote,
    /// No closing handshake: terminate, reset, EOF without Close.
    Abnormal,
}

impl Initiator {
    /// Lower-case name, as the bindings expose it.
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::Local => "local",
            Initiator::Remote => "remote",
            Initiator::Abnormal => "abnormal",
        }
    }
}

/// A Close frame as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Its status code; `None` when its body was empty.
    pub code: Option<u16>,
    /// Its reason text (empty when it had none).
    pub reason: String,
}

impl CloseFrame {
    /// A Close frame with `code` (`None`: an empty body) and `reason`.
    pub fn new(code: Option<u16>, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into() }
    }
}

/// How a session ended: resolved exactly once per session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The close code (1005 when the peer's Close had none, 1006 when there was no Close).
    pub code: u16,
    /// The reason text (may be empty).
    pub reason: String,
    /// Which side started the close.
    pub initiator: Initiator,
    /// What the peer did wrong, when the session failed because of it (a protocol violation or an
    /// unanswered Ping); `None` for every other ending.
    pub violation: Option<ViolationKind>,
    /// The Close frame this server sent (handed to the socket), if any.
    pub sent: Option<CloseFrame>,
    /// The peer's Close frame, if a valid one arrived.
    pub received: Option<CloseFrame>,
}

impl CloseReason {
    /// A close reason from its parts.
    pub fn new(code: u16, reason: impl Into<String>, initiator: Initiator) -> Self {
        Self { code, reason: reason.into(), initiator, violation: None, sent: None, received: None }
    }

    /// The reason recorded when this server failed the connection because of `violation`.
    pub fn failed(violation: super::Violation) -> Self {
        Self { violation: Some(violation.kind), ..Self::new(violation.code(), violation.reason, Initiator::Local) }
    }

    /// The reason recorded when the connection died without a closing handshake.
    pub fn abnormal() -> Self {
        Self::new(ABNORMAL, "", Initiator::Abnormal)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{} ({})", self.code, self.initiator.as_str())
        } else {
            write!(f, "{} {:?} ({})", self.code, self.reason, self.initiator.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_and_private_codes_are_valid_on_the_wire() {
        for ok in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999] {
            assert!(is_valid_wire_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!is_valid_wire_code(bad), "{bad}");
        }
    }

    #[test]
    fn validate_refuses_codes_not_for_the_wire_and_reasons_over_123_bytes() {
        assert!(validate(1000, &"x".repeat(MAX_REASON)).is_ok());
        assert!(validate(4999, "").is_ok());
        assert!(matches!(validate(1005, ""), Err(SendError::Invalid(_))));
        assert!(matches!(validate(1000, &"x".repeat(MAX_REASON + 1)), Err(SendError::OutOfRange(_))));
        assert!(validate(1000, &"é".repeat(62)).is_err(), "the limit is in bytes, not characters");
    }
}
