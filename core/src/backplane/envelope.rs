//! The bytes a node puts on the broker around a publish: who sent it (to skip its own echo and
//! count gaps), whether it is text, which local session to leave out, and the payload.

use bytes::{BufMut, Bytes, BytesMut};

const TEXT: u8 = 1;
const EXCLUDE: u8 = 2;
const COMPRESS_SET: u8 = 4;
const COMPRESS_ON: u8 = 8;
const VERSION: u8 = 0x10;

/// One publish as it crosses the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The publishing node's random id.
    pub(crate) origin: u64,
    /// The origin's count of publishes on this topic (1, 2, ...): a jump shows messages lost.
    pub(crate) seq: u64,
    /// A text message (else binary).
    pub(crate) text: bool,
    /// The publishing session, left out on its own node (`Session::publish`).
    pub(crate) exclude: Option<u64>,
    /// The publisher's compression override.
    pub(crate) compress: Option<bool>,
    /// The message.
    pub(crate) payload: Bytes,
}

impl Envelope {
    /// The wire form: flags, origin, seq, [exclude], payload.
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(25 + self.payload.len());
        let compress = match self.compress {
            None => 0,
            Some(false) => COMPRESS_SET,
            Some(true) => COMPRESS_SET | COMPRESS_ON,
        };
        let flags =
            VERSION | compress | if self.text { TEXT } else { 0 } | if self.exclude.is_some() { EXCLUDE } else { 0 };
        b.put_u8(flags);
        b.put_u64_le(self.origin);
        b.put_u64_le(self.seq);
        if let Some(id) = self.exclude {
            b.put_u64_le(id);
        }
        b.put_slice(&self.payload);
        b.freeze()
    }

    /// Reads the wire form; `None` for anything else (another program's message on our channel).
    pub(crate) fn decode(mut b: Bytes) -> Option<Envelope> {
        let read_u64 = |b: &mut Bytes| -> Option<u64> {
            let head = b.get(..8)?;
            let v = u64::from_le_bytes(head.try_into().ok()?);
            let _ = b.split_to(8);
            Some(v)
        };
        let flags = *b.first()?;
        if flags & 0xF0 != VERSION {
            return None;
        }
        let _ = b.split_to(1);
        let origin = read_u64(&mut b)?;
        let seq = read_u64(&mut b)?;
        let exclude = if flags & EXCLUDE != 0 { Some(read_u64(&mut b)?) } else { None };
        let compress = (flags & COMPRESS_SET != 0).then_some(flags & COMPRESS_ON != 0);
        Some(Envelope { origin, seq, text: flags & TEXT != 0, exclude, compress, payload: b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_foreign_bytes_are_refused() {
        for (exclude, compress) in [(None, None), (Some(7), Some(false)), (None, Some(true))] {
            let payload = Bytes::from_static(b"hi");
            let e = Envelope { origin: 1 << 60, seq: 3, text: true, exclude, compress, payload };
            assert_eq!(Envelope::decode(e.encode()), Some(e));
        }
        assert_eq!(Envelope::decode(Bytes::from_static(b"hello world, plain text")), None);
        assert_eq!(Envelope::decode(Bytes::from_static(&[VERSION, 1, 2])), None);
    }
}
