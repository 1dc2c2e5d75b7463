//! The frames users send and receive, and their encoding on the wire (header via tungstenite).

use bytes::{BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::mask::apply_mask;

/// The kind of a frame, as Ktor's `FrameType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// UTF-8 text data.
    Text,
    /// Binary data.
    Binary,
    /// Ping control frame.
    Ping,
    /// Pong control frame.
    Pong,
    /// Close control frame (received ones never reach users; send with `close()`).
    Close,
}

impl FrameType {
    /// The wire opcode for this type.
    pub fn opcode(self) -> u8 {
        match self {
            FrameType::Text => OPCODE_TEXT,
            FrameType::Binary => OPCODE_BINARY,
            FrameType::Close => OPCODE_CLOSE,
            FrameType::Ping => OPCODE_PING,
            FrameType::Pong => OPCODE_PONG,
        }
    }

    /// Whether this is a Text or Binary frame.
    pub fn is_data(self) -> bool {
        matches!(self, FrameType::Text | FrameType::Binary)
    }

    /// Lower-case name, as the bindings expose it.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameType::Text => "text",
            FrameType::Binary => "binary",
            FrameType::Ping => "ping",
            FrameType::Pong => "pong",
            FrameType::Close => "close",
        }
    }
}

/// A frame as users see it: complete incoming messages, or outgoing frames/fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What kind of frame this is.
    pub kind: FrameType,
    /// The (unmasked, inflated) payload; valid UTF-8 for incoming Text (unless the session skips
    /// UTF-8 validation).
    pub data: Bytes,
    /// Last frame of its message; incoming messages always have `fin = true`.
    pub fin: bool,
    /// RSV1 as on the wire (outgoing: ask for compression when deflate is negotiated).
    pub rsv1: bool,
    /// RSV2 (no extension uses it; always false).
    pub rsv2: bool,
    /// RSV3 (no extension uses it; always false).
    pub rsv3: bool,
}

impl Frame {
    /// A frame of `kind` with `fin = true`.
    pub fn new(kind: FrameType, data: impl Into<Bytes>) -> Self {
        Self { kind, data: data.into(), fin: true, rsv1: false, rsv2: false, rsv3: false }
    }

    /// A complete Text message.
    pub fn text(data: impl Into<String>) -> Self {
        Self::new(FrameType::Text, Bytes::from(data.into()))
    }

    /// A complete Binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::new(FrameType::Binary, data)
    }

    /// A Ping with `data` as payload (at most 125 bytes).
    pub fn ping(data: impl Into<Bytes>) -> Self {
        Self::new(FrameType::Ping, data)
    }

    /// A Pong with `data` as payload (at most 125 bytes).
    pub fn pong(data: impl Into<Bytes>) -> Self {
        Self::new(FrameType::Pong, data)
    }

    /// The same frame with `fin` set as given (fin = false starts or continues a fragmented message).
    pub fn with_fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    /// The payload as text, when this is a Text frame holding valid UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        if self.kind == FrameType::Text { std::str::from_utf8(&self.data).ok() } else { None }
    }
}

/// Whether a control frame's payload fits (RFC 6455 §5.5: at most 125 bytes).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Opcode on the wire for a data frame continuing a fragmented message.
pub const OPCODE_CONTINUATION: u8 = 0;
/// Opcode of a Text frame.
pub const OPCODE_TEXT: u8 = 1;
/// Opcode of a Binary frame.
pub const OPCODE_BINARY: u8 = 2;
/// Opcode of a Close frame.
pub const OPCODE_CLOSE: u8 = 8;
/// Opcode of a Ping frame.
pub const OPCODE_PING: u8 = 9;
/// Opcode of a Pong frame.
pub const OPCODE_PONG: u8 = 10;

pub(crate) fn opcode_from_u8(code: u8) -> OpCode {
    match code {
        0 => OpCode::Data(Data::Continue),
        1 => OpCode::Data(Data::Text),
        2 => OpCode::Data(Data::Binary),
        8 => OpCode::Control(Control::Close),
        9 => OpCode::Control(Control::Ping),
        10 => OpCode::Control(Control::Pong),
        other => OpCode::from(other & 0x0f),
    }
}

/// Encodes one frame (header + payload, masked when `mask` is set) at the end of `out`.
pub fn encode_frame(out: &mut BytesMut, opcode: u8, fin: bool, rsv1: bool, payload: &[u8], mask: Option<[u8; 4]>) {
    encode_header(out, opcode, fin, rsv1, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

/// Encodes only the header of a frame whose payload (already masked if `mask` is set) follows.
pub fn encode_header(out: &mut BytesMut, opcode: u8, fin: bool, rsv1: bool, len: usize, mask: Option<[u8; 4]>) {
    let header = FrameHeader { is_final: fin, rsv1, rsv2: false, rsv3: false, opcode: opcode_from_u8(opcode), mask };
    out.reserve(header.len(len as u64) + len);
    header.format(len as u64, &mut out.writer()).expect("writing a frame header into memory cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_three_length_forms() {
        for (len, head) in [(5usize, 2usize), (126, 4), (70_000, 10)] {
            let mut out = BytesMut::new();
            encode_frame(&mut out, 2, true, false, &vec![7u8; len], None);
            assert_eq!(out.len(), head + len);
            assert_eq!(out[0], 0x82);
        }
    }

    #[test]
    fn masked_frame_carries_key_and_masked_payload() {
        let mut out = BytesMut::new();
        encode_frame(&mut out, 1, false, true, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(&out[..], &[0x41, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
