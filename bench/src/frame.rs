//! RFC 6455 framing, just what a benchmark client needs: masked frame encoding and
//! header parsing of the (unmasked) frames a server sends.

/// Continuation frame opcode.
pub const OP_CONT: u8 = 0x0;
/// Text frame opcode.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const OP_BINARY: u8 = 0x2;
/// Close frame opcode.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame opcode.
pub const OP_PING: u8 = 0x9;

/// Appends one final, masked client frame to `out`.
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, rsv1: bool, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | if rsv1 { 0x40 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// The masked close frame (code 1000) a client sends to end a session.
pub fn close_frame() -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    encode_masked(&mut out, OP_CLOSE, false, &1000u16.to_be_bytes(), random_mask());
    out
}

/// A random masking key.
pub fn random_mask() -> [u8; 4] {
    fastrand::u32(..).to_be_bytes()
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// FIN bit: last frame of a message.
    pub fin: bool,
    /// RSV1 bit: compressed message (permessage-deflate).
    pub rsv1: bool,
    /// Opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// Header length in bytes, mask key included.
    pub header_len: usize,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Masking key, if the frame is masked (servers must not mask).
    pub mask: Option<[u8; 4]>,
}

impl Header {
    /// Total frame length: header plus payload.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Parses a frame header at the start of `buf`; `None` until enough bytes are present.
pub fn parse_header(buf: &[u8]) -> Option<Header> {
    if buf.len() < 2 {
        return None;
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut header_len) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(header_len..header_len + 4)?.try_into().ok()?;
        header_len += 4;
        Some(m)
    } else {
        None
    };
    Some(Header { fin: b0 & 0x80 != 0, rsv1: b0 & 0x40 != 0, opcode: b0 & 0x0f, header_len, payload_len, mask })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_frame_parses_back_with_every_length_form() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            encode_masked(&mut out, OP_BINARY, true, &payload, [1, 2, 3, 4]);
            let h = parse_header(&out).unwrap();
            assert!(h.fin && h.rsv1);
            assert_eq!(h.opcode, OP_BINARY);
            assert_eq!(h.payload_len, len);
            assert_eq!(h.frame_len(), out.len());
            assert_eq!(h.mask, Some([1, 2, 3, 4]));
            let unmasked: Vec<u8> =
                out[h.header_len..].iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i & 3]).collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn incomplete_header_is_none() {
        assert_eq!(parse_header(&[0x82]), None);
        assert_eq!(parse_header(&[0x82, 126, 0]), None);
    }
}
