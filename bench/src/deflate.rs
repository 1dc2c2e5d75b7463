//! Client side of permessage-deflate (RFC 7692): compress one message with a fresh
//! context, inflate the server's messages with or without context takeover.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::io;

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses one message with a fresh raw-deflate context, tail stripped (RFC 7692 §7.2.1).
pub fn compress_message(payload: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut input = payload;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync).expect("deflate of an in-memory buffer cannot fail");
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.ends_with(&TAIL) {
            break;
        }
    }
    out.truncate(out.len() - TAIL.len());
    out
}

/// Inflates the server's compressed messages.
pub struct Inflater {
    d: Decompress,
    reset_each_message: bool,
}

impl Inflater {
    /// `server_no_context_takeover` decides whether the window resets per message.
    pub fn new(server_no_context_takeover: bool) -> Self {
        Self { d: Decompress::new(false), reset_each_message: server_no_context_takeover }
    }

    /// Feeds one frame's payload of a compressed message, appending output to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(out.capacity().max(4096));
            }
            let before = self.d.total_in();
            self.d
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            input = &input[(self.d.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }

    /// Ends a message: feeds the stripped tail and resets the context if negotiated.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.feed(&TAIL, out)?;
        if self.reset_each_message {
            self.d.reset(false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_message_inflates_back() {
        let msg = crate::payload::make_payload(70_000);
        let z = compress_message(&msg);
        assert!(z.len() < msg.len());
        let mut inf = Inflater::new(false);
        for _ in 0..3 {
            let mut out = Vec::new();
            inf.feed(&z, &mut out).unwrap();
            inf.finish(&mut out).unwrap();
            assert_eq!(out, msg);
        }
    }
}
