//! The per-message compressor and inflater: raw DEFLATE via zlib-rs, sync-flush framing.
//!
//! zlib-rs is used directly (not through flate2) for `mem_level`, and with its `std` feature so
//! that it picks its AVX2 paths at run time. Both codecs allocate their zlib state on first use:
//! a session that never sends (or never receives) a compressed message costs no zlib memory.

use std::mem::MaybeUninit;

use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use super::DeflateParams;
use crate::protocol::extension::{Compress, Decompress, InflateError};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflates client messages, keeping the LZ77 context unless the client resets its own.
pub struct Inflater {
    /// Created on the first compressed frame.
    inner: Option<Inflate>,
    reset_each_message: bool,
}

impl Inflater {
    /// An inflater for the negotiated parameters.
    pub fn new(params: &DeflateParams) -> Self {
        Self { inner: None, reset_each_message: params.client_no_context_takeover }
    }

    /// Inflates one frame's payload, appending to `out`; `fin` ends the message.
    pub fn inflate(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        // A 15-bit window accepts any client window size.
        let inner = self.inner.get_or_insert_with(|| Inflate::new(false, 15));
        feed(inner, input, out, limit)?;
        if fin {
            feed(inner, &TAIL, out, limit)?;
            if self.reset_each_message {
                inner.reset(false);
            }
        }
        Ok(())
    }
}

/// Spare capacity to inflate `input` into: a guess from the input size, never past `room`.
fn inflate_step(input_len: usize, room: usize) -> usize {
    (input_len * 4).clamp(256, 64 * 1024).min(room)
}

fn feed(inner: &mut Inflate, mut input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
    loop {
        let room = (limit + 1).saturating_sub(out.len());
        if room == 0 {
            return Err(InflateError::TooBig);
        }
        // Inflate into an exactly sized window of spare capacity (not zero-filled): writing into
        // whatever capacity the Vec happens to have could overshoot the limit by up to 2x.
        let want = inflate_step(input.len(), room);
        out.reserve(want);
        let spare: &mut [MaybeUninit<u8>] = &mut out.spare_capacity_mut()[..want];
        let (in_before, out_before) = (inner.total_in(), inner.total_out());
        let result = inner.decompress_uninit(input, spare, InflateFlush::SyncFlush);
        let produced = (inner.total_out() - out_before) as usize;
        // SAFETY: zlib-rs initialised exactly `produced` bytes at the start of the spare capacity.
        unsafe { out.set_len(out.len() + produced) };
        if out.len() > limit {
            out.truncate(limit);
            return Err(InflateError::TooBig);
        }
        let status = result.map_err(|_| InflateError::Corrupt)?;
        input = &input[(inner.total_in() - in_before) as usize..];
        if status == Status::StreamEnd {
            // A final block ends this stream; the next message starts a fresh one.
            inner.reset(false);
            if !input.is_empty() {
                continue;
            }
            return Ok(());
        }
        let progressed = produced > 0 || inner.total_in() > in_before;
        if input.is_empty() && produced < want {
            return Ok(());
        }
        if !progressed && produced < want {
            return Err(InflateError::Corrupt);
        }
    }
}

/// What decides a no-context-takeover compressor's output (see [`Deflater::shared_setting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedSetting {
    level: i32,
    window_bits: i32,
    mem_level: i32,
}

/// Compresses our messages, keeping the LZ77 context unless negotiated otherwise.
pub struct Deflater {
    /// Created on the first compressed message.
    inner: Option<Deflate>,
    config: zlib_rs::DeflateConfig,
    reset_each_message: bool,
    threshold: usize,
    /// Compressed size ÷ input size of the last message, in 1/256ths: sizes the next output buffer.
    last_ratio: usize,
}

impl Deflater {
    /// A compressor for the negotiated parameters.
    pub fn new(params: &DeflateParams) -> Self {
        // zlib's smallest raw window is 9 bits. With 8 negotiated, level 0 (stored blocks, no
        // back-references) keeps every message decodable within 256 bytes of history.
        let stored_only = params.server_max_window_bits < 9;
        let level = if stored_only { 0 } else { params.level.min(9) as i32 };
        let config = zlib_rs::DeflateConfig {
            level,
            window_bits: -i32::from(params.server_max_window_bits.clamp(9, 15)),
            mem_level: i32::from(params.mem_level.clamp(1, 9)),
            ..zlib_rs::DeflateConfig::default()
        };
        Self {
            inner: None,
            config,
            reset_each_message: params.server_no_context_takeover,
            threshold: if stored_only { usize::MAX } else { params.threshold },
            last_ratio: 128,
        }
    }

    /// Whether a message of `len` bytes should be compressed by default (never with an 8-bit window).
    pub fn wants(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// The size from which messages are compressed unless the sender says (`usize::MAX`: never).
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The setting this compressor's messages depend on, when they depend on nothing else: with
    /// `server_no_context_takeover` each message is compressed from an empty history, so every
    /// compressor with the same setting turns it into the same bytes and one compression can serve
    /// them all (a topic publish). `None` with context takeover: the output depends on this session's
    /// earlier messages.
    pub fn shared_setting(&self) -> Option<SharedSetting> {
        self.reset_each_message.then_some(SharedSetting {
            level: self.config.level,
            window_bits: self.config.window_bits,
            mem_level: self.config.mem_level,
        })
    }

    /// A compressor (no context takeover) producing what every compressor with `setting` produces.
    pub fn for_setting(setting: SharedSetting) -> Self {
        let config = zlib_rs::DeflateConfig {
            level: setting.level,
            window_bits: setting.window_bits,
            mem_level: setting.mem_level,
            ..zlib_rs::DeflateConfig::default()
        };
        Self { inner: None, config, reset_each_message: true, threshold: 0, last_ratio: 128 }
    }

    /// Compresses a whole message (or one fragment, `fin` ending the message) into `out`.
    pub fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let config = self.config;
        let inner = self.inner.get_or_insert_with(|| Deflate::new_with_config(config));
        let start = out.len();
        // Room for what the last message compressed to, plus slack: one allocation in the common case.
        out.reserve(input.len() * self.last_ratio / 256 + input.len() / 16 + 64);
        let mut rest = input;
        loop {
            let (in_before, out_before) = (inner.total_in(), inner.total_out());
            inner
                .compress_uninit(rest, out.spare_capacity_mut(), DeflateFlush::SyncFlush)
                .expect("deflate into memory cannot fail");
            let produced = (inner.total_out() - out_before) as usize;
            // SAFETY: zlib-rs initialised exactly `produced` bytes at the start of the spare capacity.
            unsafe { out.set_len(out.len() + produced) };
            rest = &rest[(inner.total_in() - in_before) as usize..];
            // Done once the input is consumed and the flush left room to spare.
            if rest.is_empty() && out.len() < out.capacity() {
                break;
            }
            out.reserve(rest.len() / 2 + 1024);
        }
        if !input.is_empty() {
            self.last_ratio = ((out.len() - start) * 256 / input.len()).clamp(16, 288);
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
                inner.reset();
            }
        }
    }
}

impl Decompress for Inflater {
    fn inflate(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        Inflater::inflate(self, input, fin, out, limit)
    }
}

impl Compress for Deflater {
    fn wants(&self, len: usize) -> bool {
        Deflater::wants(self, len)
    }

    fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>) {
        Deflater::compress(self, input, fin, out)
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
    fn zlib_state_is_allocated_only_when_a_compressed_message_passes() {
        let p = params("permessage-deflate");
        let (mut d, mut i) = (Deflater::new(&p), Inflater::new(&p));
        assert!(d.inner.is_none() && i.inner.is_none(), "nothing allocated at session start");
        let mut wire = vec![];
        d.compress(b"hello", true, &mut wire);
        assert!(d.inner.is_some());
        i.inflate(&wire, true, &mut vec![], 100).unwrap();
        assert!(i.inner.is_some());
    }

    #[test]
    fn every_level_memory_level_and_window_roundtrips_compressible_and_random_data() {
        let mut rng = fastrand::Rng::with_seed(7);
        let random: Vec<u8> = (0..100_000).map(|_| rng.u8(..)).collect();
        let text = b"session frame socket echo deflate window ".repeat(2_000);
        for (level, mem_level, bits) in [(0, 1, 9), (1, 9, 15), (5, 5, 15), (6, 8, 12), (9, 1, 10)] {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let p = DeflateParams { level, mem_level, ..params(&offer) };
            let (mut d, mut i) = (Deflater::new(&p), Inflater::new(&p));
            // Random after text: the output buffer sized from a small ratio has to grow.
            for msg in [&text[..], &random[..], &text[..], b""] {
                let mut wire = vec![];
                d.compress(msg, true, &mut wire);
                let mut out = vec![];
                i.inflate(&wire, true, &mut out, 1 << 20).unwrap();
                assert!(out == msg, "level {level}, mem_level {mem_level}, {bits} bits, {} bytes", msg.len());
            }
        }
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
        // zlib cannot open a 256-byte inflate window; 9 bits is the smallest it allows.
        let mut inflater = Inflate::new(false, 9);
        for _ in 0..2 {
            let mut wire = vec![];
            d.compress(&msg, true, &mut wire);
            // Highly repetitive input that does not shrink: stored blocks, so no back-references at all.
            assert!(wire.len() >= msg.len(), "stored blocks expected, got {} bytes", wire.len());
            wire.extend_from_slice(&TAIL);
            // Inflate in small output steps so only the window holds history.
            let (mut out, mut input) = (Vec::new(), &wire[..]);
            while !input.is_empty() {
                let mut chunk = [0u8; 100];
                let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
                inflater.decompress(input, &mut chunk, InflateFlush::SyncFlush).unwrap();
                input = &input[(inflater.total_in() - in_before) as usize..];
                out.extend_from_slice(&chunk[..(inflater.total_out() - out_before) as usize]);
            }
            assert_eq!(out, msg);
        }
    }

    #[test]
    fn compressors_with_one_shared_setting_produce_the_same_bytes() {
        let p = params("permessage-deflate; server_no_context_takeover");
        let mut session = Deflater::new(&p);
        let setting = session.shared_setting().expect("no context takeover: shareable");
        let mut shared = Deflater::for_setting(setting);
        let msg = b"topic message, topic message, topic message".repeat(10);
        for _ in 0..2 {
            let (mut a, mut b) = (vec![], vec![]);
            session.compress(&msg, true, &mut a);
            shared.compress(&msg, true, &mut b);
            assert_eq!(a, b);
        }
        assert!(Deflater::new(&params("permessage-deflate")).shared_setting().is_none(), "context takeover");
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
