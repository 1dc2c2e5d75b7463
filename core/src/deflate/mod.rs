//! permessage-deflate (RFC 7692): configuration, negotiation and the per-message codec.

mod codec;
mod params;

pub use crate::protocol::extension::InflateError;
pub use codec::{Deflater, Inflater, SharedSetting};
pub use params::{DeflateParams, negotiate};

/// Server-side permessage-deflate settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer/accept permessage-deflate at all. Default false (compression costs CPU; opt in).
    pub enabled: bool,
    /// zlib compression level 0–9. Default 5: with zlib-rs (zlib-ng's match finder) level 6 walks
    /// 4× longer hash chains than 5, which on chat-like text costs ~3× the CPU for ~9 % smaller
    /// output, and on JSON ~1.3× the CPU for ~1 % smaller output; level 5 still compresses as well
    /// as `websockets`' defaults (zlib level 6 with a 4 KiB window).
    pub level: u32,
    /// zlib memory level 1–9: sizes the literal buffer (7 × 2^(mem_level+6) bytes per compressor).
    /// Default 5 (as `websockets`): 14 KiB instead of zlib's 112 KiB at memory level 8, for ~0.5 %
    /// larger output. zlib-rs's 128 KiB hash table does not depend on it.
    pub mem_level: u8,
    /// Messages smaller than this many bytes are sent uncompressed (RSV1 clear). Default 0.
    pub threshold: usize,
    /// Limit on an inflated message; `None` uses the session's `max_frame_size`.
    pub max_inflated_size: Option<usize>,
    /// Reset our compressor after every message (less memory, worse ratio). Default false.
    pub server_no_context_takeover: bool,
    /// Ask clients to reset theirs after every message. Default false.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (8–15) our compressor uses; 15 = 32 KiB. Default 15: smaller windows
    /// compress worse and, at levels 1–5 with zlib-rs, no faster (the window slides more often).
    /// zlib cannot compress within 8 bits (256 bytes): with 8 messages go uncompressed, as stored
    /// blocks when compression is forced (the same as when a client asks for 8).
    pub server_max_window_bits: u8,
    /// Largest window (8–15) we ask clients to use when they allow us to choose. Default 15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            level: 5,
            mem_level: 5,
            threshold: 0,
            max_inflated_size: None,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateConfig {
    /// Enabled with every other setting at its default.
    pub fn enabled() -> Self {
        Self { enabled: true, ..Self::default() }
    }

    /// Checks each setting against the range its field documents (level 0–9, mem_level 1–9, window
    /// bits 8–15); the error names the first one out of range.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::error::within;
        within("deflate level", self.level.into(), 0..=9)?;
        within("deflate mem_level", self.mem_level.into(), 1..=9)?;
        within("deflate server_max_window_bits", self.server_max_window_bits.into(), 8..=15)?;
        within("deflate client_max_window_bits", self.client_max_window_bits.into(), 8..=15)
    }
}
