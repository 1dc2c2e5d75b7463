//! The compression hook: what the decoder and the encoder need from a per-message compression
//! extension. permessage-deflate implements it (`crate::deflate`); the protocol layer depends on none.

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message exceeds the limit (close with 1009).
    TooBig,
    /// The data is not a valid compressed stream (close with 1007).
    Corrupt,
}

/// Inflates the compressed messages a connection receives.
pub trait Decompress: Send {
    /// Inflates one frame of a compressed message (`fin` on its last) onto `out`, failing with
    /// [`InflateError::TooBig`] once `out` would pass `limit` bytes.
    fn inflate(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError>;
}

/// Compresses the messages a connection sends.
pub trait Compress: Send {
    /// Whether a message of `len` bytes is worth compressing when the sender does not say.
    fn wants(&self, len: usize) -> bool;
    /// Compresses one frame of a message (`fin` on its last) onto `out`.
    fn compress(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>);
}
