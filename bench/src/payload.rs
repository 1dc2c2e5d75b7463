//! The message payload and its pre-built, pre-masked frames.

use crate::deflate;
use crate::frame::{self, OP_BINARY, OP_TEXT};

const WORDS: &[&str] = &[
    "session", "frame", "socket", "echo", "server", "client", "message", "ping", "pong", "close", "deflate", "window",
    "buffer", "latency", "tokio", "python", "node", "bench", "ratio", "core",
];

/// `size` bytes of word-like ASCII from a fixed seed: valid UTF-8 and about as
/// compressible as chat text, so deflate runs are neither trivial nor hopeless.
pub fn make_payload(size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        out.extend_from_slice(WORDS[rng.usize(..WORDS.len())].as_bytes());
        out.push(b' ');
    }
    out.truncate(size);
    out
}

/// `depth` identical masked frames laid end to end, so sending `k` of them is one slice.
pub struct FrameBatch {
    /// The concatenated frames.
    pub bytes: Vec<u8>,
    /// Length of one frame.
    pub frame_len: usize,
}

impl FrameBatch {
    /// Builds the batch for a payload; compressed with a fresh context per message when `deflate`.
    pub fn new(payload: &[u8], binary: bool, deflate: bool, depth: usize) -> Self {
        let opcode = if binary { OP_BINARY } else { OP_TEXT };
        let body = if deflate { deflate::compress_message(payload) } else { payload.to_vec() };
        let mut one = Vec::with_capacity(body.len() + 14);
        frame::encode_masked(&mut one, opcode, deflate, &body, frame::random_mask());
        Self { bytes: one.repeat(depth.max(1)), frame_len: one.len() }
    }

    /// The first `k` frames.
    pub fn frames(&self, k: usize) -> &[u8] {
        &self.bytes[..k * self.frame_len]
    }
}

/// The raw-TCP equivalent: `depth` copies of the bare payload.
pub fn raw_batch(payload: &[u8], depth: usize) -> FrameBatch {
    FrameBatch { bytes: payload.repeat(depth.max(1)), frame_len: payload.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_exact_size_and_is_utf8() {
        for size in [0, 1, 32, 65536] {
            let p = make_payload(size);
            assert_eq!(p.len(), size);
            assert!(std::str::from_utf8(&p).is_ok());
        }
    }

    #[test]
    fn batch_slices_whole_frames() {
        let b = FrameBatch::new(b"hello", false, false, 3);
        assert_eq!(b.frames(2).len(), 2 * b.frame_len);
        assert_eq!(b.frame_len, 2 + 4 + 5);
    }
}
