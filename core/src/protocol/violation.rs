//! What the peer did wrong: one kind per rule of RFC 6455 the receive side enforces, created where
//! the rule is checked and carried, unchanged, through `Error` and `CloseReason` to every surface.

use std::fmt;

use super::close::{INTERNAL_ERROR, INVALID_PAYLOAD, MESSAGE_TOO_BIG, POLICY_VIOLATION, PROTOCOL_ERROR};

/// The kind of a protocol violation (or of the peer's failure to answer a Ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A client frame without a mask (RFC 6455 §5.1). Close 1002.
    Unmasked,
    /// RSV1 set where no negotiated extension allows it (no permessage-deflate, a control frame or a
    /// continuation). Close 1002.
    UnexpectedRsv1,
    /// RSV2 or RSV3 set (no extension uses them). Close 1002.
    UnexpectedRsv23,
    /// A reserved opcode (3–7, 11–15). Close 1002.
    ReservedOpcode,
    /// A continuation frame with no fragmented message to continue. Close 1002.
    UnexpectedContinuation,
    /// A new Text/Binary frame while a fragmented message is in progress. Close 1002.
    InterruptedMessage,
    /// A control frame with FIN clear. Close 1002.
    FragmentedControl,
    /// A control frame payload over 125 bytes, or a Close payload of 1 byte. Close 1002.
    ControlPayloadLength,
    /// A close code that may not appear on the wire. Close 1002.
    InvalidCloseCode,
    /// Invalid UTF-8 in a Text message or a Close reason. Close 1007.
    InvalidUtf8,
    /// A compressed message that does not inflate. Close 1007.
    CorruptCompressedData,
    /// A frame, a reassembled message or an inflated message over `max_frame_size`. Close 1009.
    TooBig,
    /// The peer did not answer the pinger's Ping within `timeout_ms`. Close 1011.
    PingTimeout,
    /// A message in more frames than `SessionConfig::max_fragments` allows (ws's `maxFragments`). Close 1008.
    TooManyFragments,
}

impl ViolationKind {
    /// The close code the session sends for it.
    pub fn close_code(self) -> u16 {
        match self {
            ViolationKind::InvalidUtf8 | ViolationKind::CorruptCompressedData => INVALID_PAYLOAD,
            ViolationKind::TooBig => MESSAGE_TOO_BIG,
            ViolationKind::PingTimeout => INTERNAL_ERROR,
            ViolationKind::TooManyFragments => POLICY_VIOLATION,
            _ => PROTOCOL_ERROR,
        }
    }

    /// A stable snake_case name, as the bindings expose it.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Unmasked => "unmasked",
            ViolationKind::UnexpectedRsv1 => "unexpected_rsv1",
            ViolationKind::UnexpectedRsv23 => "unexpected_rsv2_3",
            ViolationKind::ReservedOpcode => "reserved_opcode",
            ViolationKind::UnexpectedContinuation => "unexpected_continuation",
            ViolationKind::InterruptedMessage => "interrupted_message",
            ViolationKind::FragmentedControl => "fragmented_control",
            ViolationKind::ControlPayloadLength => "control_payload_length",
            ViolationKind::InvalidCloseCode => "invalid_close_code",
            ViolationKind::InvalidUtf8 => "invalid_utf8",
            ViolationKind::CorruptCompressedData => "corrupt_compressed_data",
            ViolationKind::TooBig => "too_big",
            ViolationKind::PingTimeout => "ping_timeout",
            ViolationKind::TooManyFragments => "too_many_fragments",
        }
    }

    /// Every kind, in declaration order (for tests and tables).
    pub const ALL: [ViolationKind; 14] = [
        ViolationKind::Unmasked,
        ViolationKind::UnexpectedRsv1,
        ViolationKind::UnexpectedRsv23,
        ViolationKind::ReservedOpcode,
        ViolationKind::UnexpectedContinuation,
        ViolationKind::InterruptedMessage,
        ViolationKind::FragmentedControl,
        ViolationKind::ControlPayloadLength,
        ViolationKind::InvalidCloseCode,
        ViolationKind::InvalidUtf8,
        ViolationKind::CorruptCompressedData,
        ViolationKind::TooBig,
        ViolationKind::PingTimeout,
        ViolationKind::TooManyFragments,
    ];
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The peer broke the protocol: the kind, and the reason sent in our Close frame (≤ 123 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// What the peer did wrong.
    pub kind: ViolationKind,
    /// A short human-readable reason (sent in the Close frame).
    pub reason: &'static str,
}

impl Violation {
    /// A violation of `kind` explained by `reason`.
    pub fn new(kind: ViolationKind, reason: &'static str) -> Self {
        Self { kind, reason }
    }

    /// The close code to send (1002, 1007, 1008, 1009 or 1011).
    pub fn code(&self) -> u16 {
        self.kind.close_code()
    }
}
