//! The per-message compressor and inflater (raw DEFLATE via flate2/zlib-rs, sync-flush framing).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::DeflateParams;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message exceeds the limit (close with 1009).
    TooBig,
    /// The data is not a valid DEFLATE stream (close with 1007).
    Corrupt,
}

/// Inflates client messages, keeping the LZ77 context unless the client resets its own.
pub struct Inflater {
    inner: Decompress,
    reset_each_message: bool,
}

impl Inflater {
    /// An inflater for the negotiated parameters.
    pub fn new(params: &DeflateParams) -> Self {
        // A 15-bit window accepts any client window size.
        Self {
            inner: Decompress::new_with_window_bits(false, 15),
            reset_each_message: params.client_no_context_takeover,
        }
    }

    /// Inflates one frame's payload, appending to `out`; `fin` ends the message.
    pub fn inflate(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.feed(input, out, limit)?;
        if fin {
            self.feed(&TAIL, out, limit)?;
            if self.reset_each_message {
                self.inner.reset(false);
            }
        }
        Ok(())
    }

    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        loop {
            let room = (limit + 1).saturating_sub(out.len());
            if room == 0 {
                return Err(InflateError::TooBig);
            }
            // Inflate into an exactly sized window: `decompress_vec` would fill whatever spare
            // capacity the Vec happens to have, overshooting the limit by up to 2x.
            let want = (input.len() * 4).clamp(256, 64 * 1024).min(room);
            let out_before = out.len();
            out.resize(out_before + want, 0);
            let (in_before, total_before) = (self.inner.total_in(), self.inner.total_out());
            let result = self.inner.decompress(input, &mut out[out_before..], FlushDecompress::Sync);
            let produced = (self.inner.total_out() - total_before) as usize;
            out.truncate(out_before + produced);
            if out.len() > limit {
                out.truncate(limit);
                return Err(InflateError::TooBig);
            }
            let status = result.map_err(|_| InflateError::Corrupt)?;
            input = &input[(self.inner.total_in() - in_before) as usize..];
            if status == Status::StreamEnd {
                // A final block ends this stream; the next message starts a fresh one.
                self.inner.reset(false);
                if !input.is_empty() {
                    continue;
                }
                return Ok(());
            }
            let progressed = produced > 0 || self.inner.total_in() > in_before;
            if input.is_empty() && produced < want {
                return Ok(());
            }
            if !progressed && produced < want {
                return Err(InflateError::Corrupt);
            }
        }
    }
}

/// Compresses our messages, keeping the LZ77 context unless negotiated otherwise.
pub struct Deflater {
    inner: Compress,
    reset_each_message: bool,
    threshold: usize,
}

impl Deflater {
    /// A compressor for the negotiated parameters.
    pub fn new(params: &DeflateParams) -> Self {
        // zlib's smallest raw window is 9 bits. With 8 negotiated, level 0 (stored blocks, no
        // back-references) keeps every message decodable within 256 bytes of history.
        let stored_only = params.server_max_window_bits < 9;
        let level = if stored_only { Compression::none() } else { Compression::new(params.level) };
        let bits = params.server_max_window_bits.clamp(9, 15);
        Self {
            inner: Compress::new_with_window_bits(level, false, bits),
            reset_each_message: params.server_no_context_takeover,
            threshold: if stored_only { usize::MAX } else { params.threshold },
        }
    }

    /// Whether a message of `len` bytes should be compressed by default (never with an 8-bit window).
    pub fn wants(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses a whole message (or one fragment, `fin` ending the message) into `out`.
    pub fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let start = out.len();
        let mut rest = input;
        loop {
            out.reserve(rest.len() / 2 + 64);
            let before = self.inner.total_in();
            self.inner.compress_vec(rest, out, FlushCompress::Sync).expect("deflate into memory cannot fail");
            rest = &rest[(self.inner.total_in() - before) as usize..];
            if rest.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            if out.len() >= start + 4 && out[out.len() - 4..] == TAIL {
                out.truncate(out.len() - 4);
            }
            if out.len() == start {
                // An empty message still needs one empty block.
                out.push(0x00);
            }
            if self.reset_each_message {
                self.inner.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{DeflateConfig, negotiate};

    fn params(offer: &str) -> DeflateParams {
        negotiate([offer], &DeflateConfig::enabled()).unwrap()
    }

    #[test]
    fn roundtrip_keeps_context_across_messages() {
        let p = params("permessage-deflate");
        let (mut d, mut i) = (Deflater::new(&p), Inflater::new(&p));
        let msg = b"Hello, hello, hello, permessage-deflate!".repeat(20);
        let mut sizes = vec![];
        for _ in 0..3 {
            let mut wire = vec![];
            d.compress(&msg, true, &mut wire);
            assert_ne!(&wire[wire.len() - 4..], &TAIL);
            sizes.push(wire.len());
            let mut out = vec![];
            i.inflate(&wire, true, &mut out, 1 << 20).unwrap();
            assert_eq!(out, msg);
        }
        assert!(sizes[1] < sizes[0], "context takeover makes repeats smaller: {sizes:?}");
    }

    #[test]
    fn inflate_bomb_stops_at_the_limit() {
        let p = params("permessage-deflate");
        let mut wire = vec![];
        Deflater::new(&p).compress(&vec![0u8; 10 << 20], true, &mut wire);
        assert!(wire.len() < 20_000);
        let mut out = vec![];
        assert_eq!(Inflater::new(&p).inflate(&wire, true, &mut out, 1 << 20), Err(InflateError::TooBig));
        assert!(out.len() <= 1 << 20, "output stays within the limit");
        assert!(out.capacity() <= 3 << 20);
    }

    #[test]
    fn corrupt_stream_is_reported() {
        let p = params("permessage-deflate");
        let mut out = vec![];
        assert_eq!(Inflater::new(&p).inflate(&[0xff; 16], true, &mut out, 1 << 20), Err(InflateError::Corrupt));
    }

    #[test]
    fn an_8_bit_server_window_sends_uncompressed_or_stored_blocks_only() {
        let p = params("permessage-deflate; server_max_window_bits=8");
        let mut d = Deflater::new(&p);
        assert!(!d.wants(1 << 20), "messages go uncompressed by default");
        let msg = b"abcdefgh".repeat(4096);
        // flate2 cannot open a 256-byte inflate window; 9 bits is the smallest it allows.
        let mut inflater = Decompress::new_with_window_bits(false, 9);
        for _ in 0..2 {
            let mut wire = vec![];
            d.compress(&msg, true, &mut wire);
            // Highly repetitive input that does not shrink: stored blocks, so no back-references at all.
            assert!(wire.len() >= msg.len(), "stored blocks expected, got {} bytes", wire.len());
            wire.extend_from_slice(&TAIL);
            // Inflate in small output steps so only the window holds history.
            let (mut out, mut input) = (Vec::new(), &wire[..]);
            while !input.is_empty() {
                let mut chunk = Vec::with_capacity(100);
                let before = inflater.total_in();
                inflater.decompress_vec(input, &mut chunk, FlushDecompress::Sync).unwrap();
                input = &input[(inflater.total_in() - before) as usize..];
                out.extend_from_slice(&chunk);
            }
            assert_eq!(out, msg);
        }
    }

    #[test]
    fn empty_message_roundtrips() {
        let p = params("permessage-deflate; server_no_context_takeover");
        let mut wire = vec![];
        Deflater::new(&p).compress(b"", true, &mut wire);
        let mut out = vec![];
        Inflater::new(&p).inflate(&wire, true, &mut out, 100).unwrap();
        assert!(out.is_empty());
    }
}
