//! Sans-I/O send side: frames in, encoded bytes out (fragment rules, UTF-8 of outgoing text,
//! the compression hook, control-frame limits, masking; large payloads queued by reference).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::extension::Compress;
use super::frame::{Frame, FrameType, MAX_CONTROL_PAYLOAD, OPCODE_CONTINUATION, encode_frame, encode_header};
use super::utf8::Utf8Validator;

/// Why a frame was not sent; nothing was encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The frame breaks a sending rule (fragment order, UTF-8, control-frame limits, close code or
    /// reason): the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A payload or reason over its size limit (a control payload over 125 bytes, a close reason
    /// over 123).
    #[error("{0}")]
    OutOfRange(String),
    /// Closing has begun: no more user frames go out.
    #[error("the connection is closing")]
    Closing,
}

type Result<T> = std::result::Result<T, SendError>;

fn invalid(message: impl Into<String>) -> SendError {
    SendError::Invalid(message.into())
}

/// Payloads at least this large are queued by reference instead of copied into the coalescing buffer.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Encoded frames waiting to be handed to the transport: small frames coalesce in `tail`, large
/// payloads sit in `chunks` as they were given.
#[derive(Default)]
pub struct Output {
    /// Encoded bytes in order, before `tail`.
    pub(crate) chunks: VecDeque<Bytes>,
    /// The coalescing buffer (the newest bytes).
    pub(crate) tail: BytesMut,
    /// Frames encoded since the connection began.
    seq: u64,
}

impl Output {
    /// How many frames were encoded since the connection began (the sequence number of the last one).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether nothing waits to be handed over.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty()
    }

    /// Takes every encoded byte, in order.
    pub fn take(&mut self) -> Vec<Bytes> {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.drain(..).collect()
    }

    /// Queues bytes encoded elsewhere (whole frames), copied when small, by reference when large.
    fn encoded(&mut self, frames: Bytes) -> usize {
        self.seq += 1;
        let len = frames.len();
        if len < ZERO_COPY_MIN {
            self.tail.extend_from_slice(&frames);
        } else {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(frames);
        }
        len
    }

    fn control(&mut self, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> usize {
        let before = self.tail.len();
        encode_frame(&mut self.tail, opcode, true, false, payload, mask);
        self.seq += 1;
        self.tail.len() - before
    }

    fn data(&mut self, opcode: u8, fin: bool, rsv1: bool, payload: Bytes, mask: Option<[u8; 4]>) -> usize {
        self.seq += 1;
        let before = self.tail.len();
        if payload.len() < ZERO_COPY_MIN || mask.is_some() {
            encode_frame(&mut self.tail, opcode, fin, rsv1, &payload, mask);
            return self.tail.len() - before;
        }
        encode_header(&mut self.tail, opcode, fin, rsv1, payload.len(), None);
        let head = self.tail.len() - before;
        self.chunks.push_back(self.tail.split().freeze());
        let len = payload.len();
        self.chunks.push_back(payload);
        head + len
    }
}

/// Refuses a control frame payload over 125 bytes (RFC 6455 §5.5).
pub fn check_control_payload(payload: &[u8]) -> Result<()> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(SendError::OutOfRange(format!(
            "control frame payload is {} bytes; the limit is {MAX_CONTROL_PAYLOAD}",
            payload.len()
        )));
    }
    Ok(())
}

/// The send-side frame rules of one connection, and the bytes they produced.
#[derive(Default)]
pub struct Encoder {
    /// The fragmented message in progress: its type and whether it is compressed.
    fragment: Option<(FrameType, bool)>,
    utf8: Option<Utf8Validator>,
    compressor: Option<Box<dyn Compress>>,
    masking: bool,
    out: Output,
}

impl Encoder {
    /// An encoder that masks its frames when `masking` is set (non-standard for a server).
    pub fn new(masking: bool) -> Self {
        Self { masking, ..Self::default() }
    }

    /// Compresses data messages from now on (a compression extension was negotiated).
    pub fn set_compressor(&mut self, compressor: Box<dyn Compress>) {
        self.compressor = Some(compressor);
    }

    /// Whether outgoing frames are masked.
    pub fn masking(&self) -> bool {
        self.masking
    }

    /// Masks outgoing frames from the next one on.
    pub fn set_masking(&mut self, on: bool) {
        self.masking = on;
    }

    /// The encoded bytes not yet taken.
    pub fn output(&mut self) -> &mut Output {
        &mut self.out
    }

    /// Validates and encodes a user frame (data, Ping or Pong); returns the bytes it added.
    /// A Close frame is refused: the close handshake belongs to the connection.
    pub fn frame(&mut self, frame: &Frame, compress: Option<bool>) -> Result<usize> {
        if frame.rsv2 || frame.rsv3 {
            return Err(invalid("RSV2/RSV3 cannot be set: no extension uses them"));
        }
        match frame.kind {
            FrameType::Close => Err(invalid("send a Close frame with close(code, reason)")),
            FrameType::Ping | FrameType::Pong => {
                if !frame.fin {
                    return Err(invalid("control frames cannot be fragmented"));
                }
                self.control(frame.kind.opcode(), &frame.data)
            }
            FrameType::Text | FrameType::Binary => self.data(frame, compress),
        }
    }

    /// Whether a fragmented message is in progress (only its continuations or control frames may follow).
    pub fn in_fragment(&self) -> bool {
        self.fragment.is_some()
    }

    /// Queues whole frames encoded elsewhere (one frame shared by many connections), as they are;
    /// returns their length. Refused inside a fragmented message (they would land inside it) and
    /// on a connection that masks its frames (the shared bytes are unmasked).
    pub fn encoded(&mut self, frames: Bytes) -> Result<usize> {
        if let Some((kind, _)) = self.fragment {
            return Err(invalid(format!(
                "a fragmented {} message is in progress; finish it before sending an encoded frame",
                kind.as_str()
            )));
        }
        if self.masking {
            return Err(invalid("this connection masks its frames; an encoded (unmasked) frame cannot be sent on it"));
        }
        Ok(self.out.encoded(frames))
    }

    /// Encodes a control frame whose payload is already built (at most 125 bytes).
    pub fn control(&mut self, opcode: u8, payload: &[u8]) -> Result<usize> {
        check_control_payload(payload)?;
        let mask = self.mask_key();
        Ok(self.out.control(opcode, payload, mask))
    }

    fn data(&mut self, frame: &Frame, compress: Option<bool>) -> Result<usize> {
        let (opcode, compressed) = match self.fragment {
            Some((kind, _)) if kind != frame.kind => {
                return Err(invalid(format!(
                    "a fragmented {} message is in progress; finish it before sending {}",
                    kind.as_str(),
                    frame.kind.as_str()
                )));
            }
            Some((_, compressed)) => (OPCODE_CONTINUATION, compressed),
            None => {
                let compressed = match &self.compressor {
                    Some(d) => compress.unwrap_or_else(|| d.wants(frame.data.len())),
                    None => false,
                };
                (frame.kind.opcode(), compressed)
            }
        };
        if frame.kind == FrameType::Text {
            let mut v = self.utf8.take().unwrap_or_default();
            if v.feed(&frame.data, frame.fin).is_err() {
                return Err(invalid("text frame is not valid UTF-8"));
            }
            if !frame.fin {
                self.utf8 = Some(v);
            }
        }
        self.fragment = if frame.fin { None } else { Some((frame.kind, compressed)) };
        let rsv1 = compressed && opcode != OPCODE_CONTINUATION;
        let mask = self.mask_key();
        let payload = if compressed {
            let mut out = Vec::new();
            self.compressor.as_mut().expect("compressed only with a compressor").compress(
                &frame.data,
                frame.fin,
                &mut out,
            );
            Bytes::from(out)
        } else {
            frame.data.clone()
        };
        Ok(self.out.data(opcode, frame.fin, rsv1, payload, mask))
    }

    fn mask_key(&self) -> Option<[u8; 4]> {
        self.masking.then(|| fastrand::u32(..).to_ne_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_become_continuations_and_cannot_interleave_types() {
        let mut enc = Encoder::default();
        enc.frame(&Frame::text("a").with_fin(false), None).unwrap();
        let err = enc.frame(&Frame::binary(&b"b"[..]), None).unwrap_err();
        assert!(matches!(err, SendError::Invalid(_)));
        enc.frame(&Frame::ping(&b"p"[..]), None).unwrap();
        enc.frame(&Frame::text("b"), None).unwrap();
        assert_eq!(enc.output().seq(), 3);
        let wire: Vec<u8> = enc.output().take().concat();
        assert_eq!(wire, [0x01, 1, b'a', 0x89, 1, b'p', 0x80, 1, b'b']);
    }

    #[test]
    fn oversize_control_payload_and_invalid_text_are_rejected_without_encoding() {
        let mut enc = Encoder::default();
        assert!(enc.frame(&Frame::ping(vec![0u8; 126]), None).is_err());
        let bad = Frame::new(FrameType::Text, &b"\xff"[..]);
        assert!(enc.frame(&bad, None).is_err());
        assert!(enc.frame(&Frame::new(FrameType::Close, &b""[..]), None).is_err());
        assert!(enc.output().is_empty());
        assert_eq!(enc.output().seq(), 0);
    }

    #[test]
    fn large_payloads_are_queued_without_copying() {
        let mut enc = Encoder::default();
        let payload = Bytes::from(vec![5u8; 100_000]);
        enc.frame(&Frame::binary(payload.clone()), None).unwrap();
        let chunks = enc.output().take();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].as_ptr(), payload.as_ptr());
    }

    #[test]
    fn encoded_frames_go_out_as_they_are_between_frames_only() {
        let mut shared = BytesMut::new();
        encode_frame(&mut shared, 1, true, false, b"news", None);
        let shared = shared.freeze();
        let mut enc = Encoder::default();
        enc.frame(&Frame::text("a").with_fin(false), None).unwrap();
        assert!(matches!(enc.encoded(shared.clone()), Err(SendError::Invalid(_))), "not inside a message");
        enc.frame(&Frame::text("b"), None).unwrap();
        assert_eq!(enc.encoded(shared.clone()), Ok(6));
        let big = Bytes::from(vec![0u8; 40_000]);
        enc.encoded(big.clone()).unwrap();
        assert_eq!(enc.output().seq(), 4);
        let chunks = enc.output().take();
        assert_eq!(chunks.last().unwrap().as_ptr(), big.as_ptr(), "large ones by reference");
        assert_eq!(chunks.concat()[..9], [0x01, 1, b'a', 0x80, 1, b'b', 0x81, 4, b'n']);
        assert!(Encoder::new(true).encoded(shared).is_err(), "not on a masking connection");
    }

    #[test]
    fn masked_frames_carry_a_key_and_unmask_to_the_payload() {
        let mut enc = Encoder::new(true);
        enc.frame(&Frame::binary(vec![7u8; 20_000]), None).unwrap();
        let wire: Vec<u8> = enc.output().take().concat();
        assert_eq!(wire[1], 0x80 | 126, "mask bit set, 16-bit length");
        let key = [wire[4], wire[5], wire[6], wire[7]];
        let body: Vec<u8> = wire[8..].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
        assert_eq!(body, vec![7u8; 20_000]);
    }
}
