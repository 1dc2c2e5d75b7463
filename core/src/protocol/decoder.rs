//! Sans-I/O receive side: bytes in, validated events out (reassembly, control frames, limits, UTF-8, inflate).

use std::io::Cursor;

use bytes::{Buf, Bytes, BytesMut};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::close;
use super::extension::{Decompress, InflateError};
use super::frame::{Frame, FrameType, MAX_CONTROL_PAYLOAD};
use super::mask::{apply_mask, apply_mask_ascii};
use super::utf8::Utf8Validator;
use super::violation::{Violation, ViolationKind as Kind};

/// Something the peer sent that the session must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete Text or Binary message (`fin = true`, inflated, UTF-8 checked); when delivering
    /// fragments, one frame's part of a message (`fin` marks the last, every part has the
    /// message's type).
    Message(Frame),
    /// A Ping; the session answers with a Pong carrying the same payload.
    Ping(Bytes),
    /// A Pong.
    Pong(Bytes),
    /// A valid Close: `None` when it carried no status code.
    Close(Option<(u16, String)>),
}

fn violation(kind: Kind, reason: &'static str) -> Violation {
    Violation::new(kind, reason)
}

struct Partial {
    kind: FrameType,
    data: Vec<u8>,
    compressed: bool,
    utf8: Option<Utf8Validator>,
    /// Bytes of this message already delivered as fragments (counted against the size limit).
    delivered: usize,
    /// Frames of this message so far.
    frames: usize,
}

/// Early UTF-8 check of an uncompressed Text frame whose payload is still arriving.
struct Peek {
    /// Payload bytes of the current frame already validated.
    checked: usize,
    utf8: Utf8Validator,
}

/// Parses client frames for a server session.
pub struct Decoder {
    max_size: usize,
    max_inflated: Option<usize>,
    /// A fragmented message in progress (boxed: an idle connection keeps one pointer for it).
    partial: Option<Box<Partial>>,
    inflater: Option<Box<dyn Decompress>>,
    /// The early UTF-8 check of a Text frame still arriving (boxed, as `partial`).
    peek: Option<Box<Peek>>,
    skip_utf8: bool,
    deliver_fragments: bool,
    max_fragments: usize,
    /// Header and payload bytes of the accepted frame at the front of the buffer, still arriving.
    frame_len: Option<usize>,
    /// Header and payload bytes of the last complete data frame.
    last_data_len: usize,
}

impl Decoder {
    /// A decoder with the given message size limit and, if an extension was negotiated, its inflater.
    pub fn new(max_size: usize, inflater: Option<Box<dyn Decompress>>) -> Self {
        Self {
            max_size,
            max_inflated: None,
            partial: None,
            inflater,
            peek: None,
            skip_utf8: false,
            deliver_fragments: false,
            max_fragments: 0,
            frame_len: None,
            last_data_len: 0,
        }
    }

    /// Limits the frames of one message (0: no limit; SessionConfig::max_fragments).
    pub fn set_max_fragments(&mut self, max: usize) {
        self.max_fragments = max;
    }

    /// Stops checking UTF-8 in Text messages and Close reasons (SessionConfig::skip_utf8_validation).
    pub fn set_skip_utf8_validation(&mut self, skip: bool) {
        self.skip_utf8 = skip;
    }

    /// Emits each data frame as it arrives instead of whole messages (SessionConfig::deliver_fragments).
    pub fn set_deliver_fragments(&mut self, on: bool) {
        self.deliver_fragments = on;
    }

    /// The same decoder inflating compressed messages with `inflater` (an extension was negotiated).
    pub fn with_inflater(mut self, inflater: Box<dyn Decompress>) -> Self {
        self.inflater = Some(inflater);
        self
    }

    /// Changes the frame/message size limit (applies to frames not yet started).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
    }

    /// Sets a separate limit for inflated messages (defaults to the message size limit).
    pub fn set_max_inflated_size(&mut self, limit: Option<usize>) {
        self.max_inflated = limit;
    }

    /// Whether a fragmented message is in progress.
    pub fn in_message(&self) -> bool {
        self.partial.is_some()
    }

    /// Bytes (header and payload) of the frame at the front of the buffer, once its header is
    /// complete and within the limits; `None` before that. A reader makes room for the whole frame
    /// at once with it: never more than the frame size limit allows, whatever a peer announces.
    pub fn wanted(&self) -> Option<usize> {
        self.frame_len
    }

    /// Bytes (header and payload) of the last complete data frame (0 before the first): the likely
    /// size of the next one, as a hint for a reader's first read of it.
    pub fn last_data_len(&self) -> usize {
        self.last_data_len
    }

    /// Decodes at most one event from the front of `buf`, consuming the bytes it used.
    /// `Ok(None)` means more bytes are needed ([`Decoder::wanted`] then says how many the frame
    /// takes once its header is complete).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, Violation> {
        loop {
            let mut cursor = Cursor::new(&buf[..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok(None),
                Err(_) => return Err(violation(Kind::ReservedOpcode, "reserved opcode")),
            };
            let head_len = cursor.position() as usize;
            self.check_header(&header, len)?;
            let len = len as usize;
            if buf.len() < head_len + len {
                self.peek_text(&header, &buf[head_len..])?;
                self.frame_len = Some(head_len + len);
                return Ok(None);
            }
            self.peek = None;
            self.frame_len = None;
            if matches!(header.opcode, OpCode::Data(_)) {
                self.last_data_len = head_len + len;
            }
            buf.advance(head_len);
            let mut payload = buf.split_to(len);
            // Unmasked and checked for ASCII in one pass (a masked frame: check_header).
            let ascii = header.mask.is_some_and(|key| apply_mask_ascii(&mut payload, key));
            if let Some(event) = self.on_frame(header, payload, ascii)? {
                return Ok(Some(event));
            }
        }
    }

    /// Fails an uncompressed Text frame at its first invalid UTF-8 byte, before the frame is complete
    /// (the complete frame is validated again as usual; this only fails earlier).
    fn peek_text(&mut self, h: &FrameHeader, masked: &[u8]) -> Result<(), Violation> {
        if self.skip_utf8 {
            return Ok(());
        }
        if self.peek.is_none() {
            let utf8 = match (h.opcode, self.partial.as_deref()) {
                (OpCode::Data(Data::Text), None) if !h.rsv1 => Utf8Validator::new(),
                (OpCode::Data(Data::Continue), Some(Partial { compressed: false, utf8: Some(v), .. })) => v.clone(),
                _ => return Ok(()),
            };
            self.peek = Some(Box::new(Peek { checked: 0, utf8 }));
        }
        let peek = self.peek.as_mut().expect("set above");
        if masked.len() <= peek.checked {
            return Ok(());
        }
        let mut chunk = masked[peek.checked..].to_vec();
        if let Some(key) = h.mask {
            let o = peek.checked;
            apply_mask(&mut chunk, [key[o % 4], key[(o + 1) % 4], key[(o + 2) % 4], key[(o + 3) % 4]]);
        }
        peek.utf8.feed(&chunk, false).map_err(|_| invalid_utf8())?;
        peek.checked = masked.len();
        Ok(())
    }

    fn check_header(&self, h: &FrameHeader, len: u64) -> Result<(), Violation> {
        if h.mask.is_none() {
            return Err(violation(Kind::Unmasked, "client frames must be masked"));
        }
        if h.rsv2 || h.rsv3 {
            return Err(violation(Kind::UnexpectedRsv23, "RSV2/RSV3 set without a negotiated extension"));
        }
        match h.opcode {
            OpCode::Control(_) => {
                if !h.is_final {
                    return Err(violation(Kind::FragmentedControl, "fragmented control frame"));
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(violation(Kind::ControlPayloadLength, "control frame payload over 125 bytes"));
                }
                if h.rsv1 {
                    return Err(violation(Kind::UnexpectedRsv1, "RSV1 set on a control frame"));
                }
            }
            OpCode::Data(Data::Continue) => {
                let Some(p) = &self.partial else {
                    return Err(violation(
                        Kind::UnexpectedContinuation,
                        "continuation frame without a message to continue",
                    ));
                };
                if h.rsv1 {
                    return Err(violation(Kind::UnexpectedRsv1, "RSV1 set on a continuation frame"));
                }
                if self.max_fragments > 0 && p.frames >= self.max_fragments {
                    return Err(violation(Kind::TooManyFragments, "too many message fragments"));
                }
                if !p.compressed && (p.delivered + p.data.len()) as u64 + len > self.max_size as u64 {
                    return Err(violation(Kind::TooBig, "message too big"));
                }
            }
            OpCode::Data(_) => {
                if self.partial.is_some() {
                    return Err(violation(Kind::InterruptedMessage, "new data frame inside a fragmented message"));
                }
                if h.rsv1 && self.inflater.is_none() {
                    return Err(violation(Kind::UnexpectedRsv1, "RSV1 set without permessage-deflate"));
                }
            }
        }
        if len > self.max_size as u64 {
            return Err(violation(Kind::TooBig, "frame too big"));
        }
        Ok(())
    }

    /// Acts on a complete frame (`ascii`: its payload has no byte over 0x7F).
    fn on_frame(&mut self, h: FrameHeader, payload: BytesMut, ascii: bool) -> Result<Option<Event>, Violation> {
        match h.opcode {
            OpCode::Control(Control::Ping) => Ok(Some(Event::Ping(payload.freeze()))),
            OpCode::Control(Control::Pong) => Ok(Some(Event::Pong(payload.freeze()))),
            OpCode::Control(Control::Close) => parse_close(&payload, self.skip_utf8).map(|c| Some(Event::Close(c))),
            OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                Err(violation(Kind::ReservedOpcode, "reserved opcode"))
            }
            OpCode::Data(Data::Continue) => {
                let mut partial = self.partial.take().expect("checked in check_header");
                self.append(&mut partial, &payload, h.is_final)?;
                Ok(self.frame_done(partial, h.is_final))
            }
            OpCode::Data(data) => {
                let kind = if data == Data::Text { FrameType::Text } else { FrameType::Binary };
                let utf8 = (kind == FrameType::Text && !self.skip_utf8).then(Utf8Validator::new);
                if h.is_final && !h.rsv1 {
                    // The common case: one frame, zero copies (and an ASCII one is valid UTF-8).
                    if let Some(mut v) = utf8.filter(|_| !ascii) {
                        v.feed(&payload, true).map_err(|_| invalid_utf8())?;
                    }
                    return Ok(Some(Event::Message(Frame::new(kind, payload.freeze()))));
                }
                let mut partial = Partial { kind, data: Vec::new(), compressed: h.rsv1, utf8, delivered: 0, frames: 0 };
                self.append(&mut partial, &payload, h.is_final)?;
                if h.is_final {
                    return Ok(Some(Event::Message(Frame::new(partial.kind, partial.data))));
                }
                Ok(self.frame_done(Box::new(partial), false))
            }
        }
    }

    /// After a data frame of a message in progress: the message once `fin` (only the last part when
    /// delivering fragments); before that, this frame's part when delivering fragments, else nothing.
    fn frame_done(&mut self, mut p: Box<Partial>, fin: bool) -> Option<Event> {
        if fin {
            return Some(Event::Message(Frame::new(p.kind, p.data)));
        }
        let part = self.deliver_fragments.then(|| {
            let data = std::mem::take(&mut p.data);
            p.delivered += data.len();
            Event::Message(Frame::new(p.kind, data).with_fin(false))
        });
        self.partial = Some(p);
        part
    }

    fn append(&mut self, p: &mut Partial, payload: &[u8], fin: bool) -> Result<(), Violation> {
        p.frames += 1;
        let start = p.data.len();
        if p.compressed {
            let limit = self.max_inflated.unwrap_or(self.max_size).saturating_sub(p.delivered);
            let inflater = self.inflater.as_mut().expect("compressed only when negotiated");
            inflater.inflate(payload, fin, &mut p.data, limit).map_err(|e| match e {
                InflateError::TooBig => violation(Kind::TooBig, "inflated message too big"),
                InflateError::Corrupt => violation(Kind::CorruptCompressedData, "corrupt compressed data"),
            })?;
        } else {
            p.data.extend_from_slice(payload);
        }
        if let Some(v) = &mut p.utf8 {
            v.feed(&p.data[start..], fin).map_err(|_| invalid_utf8())?;
        }
        Ok(())
    }
}

fn invalid_utf8() -> Violation {
    violation(Kind::InvalidUtf8, "invalid UTF-8 in text message")
}

fn parse_close(payload: &[u8], skip_utf8: bool) -> Result<Option<(u16, String)>, Violation> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(violation(Kind::ControlPayloadLength, "close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !close::is_valid_wire_code(code) {
                return Err(violation(Kind::InvalidCloseCode, "invalid close code"));
            }
            let reason = match std::str::from_utf8(&payload[2..]) {
                Ok(reason) => reason.to_owned(),
                Err(_) if skip_utf8 => String::from_utf8_lossy(&payload[2..]).into_owned(),
                Err(_) => return Err(violation(Kind::InvalidUtf8, "invalid UTF-8 in close reason")),
            };
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_frame;

    const KEY: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    fn wire(frames: &[(u8, bool, bool, &[u8])]) -> BytesMut {
        let mut out = BytesMut::new();
        for &(op, fin, rsv1, payload) in frames {
            encode_frame(&mut out, op, fin, rsv1, payload, KEY);
        }
        out
    }

    fn decode_all(d: &mut Decoder, buf: &mut BytesMut) -> Result<Vec<Event>, Violation> {
        let mut events = vec![];
        while let Some(e) = d.decode(buf)? {
            events.push(e);
        }
        Ok(events)
    }

    #[test]
    fn reassembles_fragments_with_interleaved_ping() {
        let mut buf =
            wire(&[(1, false, false, b"He"), (9, true, false, b"p"), (0, false, false, b"ll"), (0, true, false, b"o")]);
        let mut d = Decoder::new(1 << 20, None);
        let events = decode_all(&mut d, &mut buf).unwrap();
        assert_eq!(events, vec![Event::Ping(Bytes::from_static(b"p")), Event::Message(Frame::text("Hello"))]);
    }

    #[test]
    fn waits_for_more_bytes_without_consuming_a_partial_frame() {
        let full = wire(&[(2, true, false, &[9u8; 300])]);
        let mut d = Decoder::new(1 << 20, None);
        let mut buf = BytesMut::from(&full[..100]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 100);
        buf.extend_from_slice(&full[100..]);
        assert_eq!(d.decode(&mut buf).unwrap(), Some(Event::Message(Frame::binary(vec![9u8; 300]))));
    }

    #[test]
    fn rejects_unmasked_frames_with_1002() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, 1, true, false, b"hi", None);
        assert_eq!(Decoder::new(100, None).decode(&mut buf).unwrap_err().code(), 1002);
    }

    #[test]
    fn rejects_oversize_frame_from_its_header_with_1009() {
        let mut buf = wire(&[(2, true, false, &[0u8; 200])]);
        buf.truncate(8); // header only: the limit triggers before the body arrives
        assert_eq!(Decoder::new(100, None).decode(&mut buf).unwrap_err().code(), 1009);
    }

    #[test]
    fn rejects_oversize_reassembled_message_with_1009() {
        let mut buf = wire(&[(2, false, false, &[0u8; 60]), (0, true, false, &[0u8; 60])]);
        assert_eq!(decode_all(&mut Decoder::new(100, None), &mut buf).unwrap_err().code(), 1009);
    }

    #[test]
    fn rejects_invalid_utf8_across_fragments_with_1007_before_the_end() {
        let mut buf = wire(&[(1, false, false, b"\xce\xba\xe1"), (0, false, false, b"\xbd\xb9\xed\xa0\x80")]);
        assert_eq!(decode_all(&mut Decoder::new(100, None), &mut buf).unwrap_err().code(), 1007);
    }

    #[test]
    fn invalid_utf8_fails_before_the_rest_of_its_frame_arrives() {
        // Autobahn 6.4.3/6.4.4: one Text frame delivered in chops; fail at the invalid byte.
        let full = wire(&[(1, true, false, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited")]);
        let mut d = Decoder::new(100, None);
        let mut buf = BytesMut::from(&full[..6 + 11]);
        assert_eq!(d.decode(&mut buf).unwrap(), None, "a valid prefix waits for more");
        buf.extend_from_slice(&full[6 + 11..6 + 13]);
        assert_eq!(d.decode(&mut buf).unwrap_err().code(), 1007);
    }

    #[test]
    fn a_text_frame_arriving_in_pieces_is_still_delivered_whole() {
        let text = "κόσμε €uro 😀 ".repeat(20);
        let full = wire(&[(1, false, false, &text.as_bytes()[..7]), (0, true, false, &text.as_bytes()[7..])]);
        let mut d = Decoder::new(1 << 20, None);
        let mut buf = BytesMut::new();
        let mut events = vec![];
        for byte in full.iter() {
            buf.extend_from_slice(&[*byte]);
            events.extend(decode_all(&mut d, &mut buf).unwrap());
        }
        assert_eq!(events, vec![Event::Message(Frame::text(text))]);
    }

    #[test]
    fn accepts_utf8_code_point_split_across_fragments() {
        let mut buf = wire(&[(1, false, false, b"\xe2\x82"), (0, true, false, b"\xac")]);
        let events = decode_all(&mut Decoder::new(100, None), &mut buf).unwrap();
        assert_eq!(events, vec![Event::Message(Frame::text("€"))]);
    }

    #[test]
    fn protocol_violations_get_1002() {
        let cases: Vec<BytesMut> = vec![
            wire(&[(0, true, false, b"x")]),                          // continuation without start
            wire(&[(1, false, false, b"a"), (2, true, false, b"b")]), // data inside fragmented message
            wire(&[(9, false, false, b"")]),                          // fragmented control
            wire(&[(9, true, false, &[0u8; 126])]),                   // oversize control
            wire(&[(3, true, false, b"")]),                           // reserved data opcode
            wire(&[(11, true, false, b"")]),                          // reserved control opcode
            wire(&[(1, true, true, b"x")]),                           // RSV1 without deflate
            wire(&[(8, true, false, &[0x03])]),                       // 1-byte close
            wire(&[(8, true, false, &[0x03, 0xed])]),                 // close code 1005
        ];
        let kinds = [
            Kind::UnexpectedContinuation,
            Kind::InterruptedMessage,
            Kind::FragmentedControl,
            Kind::ControlPayloadLength,
            Kind::ReservedOpcode,
            Kind::ReservedOpcode,
            Kind::UnexpectedRsv1,
            Kind::ControlPayloadLength,
            Kind::InvalidCloseCode,
        ];
        for (i, (mut buf, kind)) in cases.into_iter().zip(kinds).enumerate() {
            let v = decode_all(&mut Decoder::new(100, None), &mut buf).unwrap_err();
            assert_eq!((v.kind, v.code()), (kind, 1002), "case {i}");
        }
        let mut rsv2 = wire(&[(1, true, false, b"x")]);
        rsv2[0] |= 0x20;
        assert_eq!(Decoder::new(100, None).decode(&mut rsv2).unwrap_err().code(), 1002);
    }

    #[test]
    fn delivering_fragments_emits_each_frame_with_the_message_type_and_fin_on_the_last() {
        let mut buf = wire(&[
            (1, false, false, b"Hel"),
            (9, true, false, b"p"),
            (0, false, false, b"lo \xe2\x82"),
            (0, false, false, b""),
            (0, true, false, b"\xac"),
        ]);
        let mut d = Decoder::new(1 << 20, None);
        d.set_deliver_fragments(true);
        let events = decode_all(&mut d, &mut buf).unwrap();
        let part = |data: &'static [u8], fin| Event::Message(Frame::new(FrameType::Text, data).with_fin(fin));
        assert_eq!(
            events,
            vec![
                part(b"Hel", false),
                Event::Ping(Bytes::from_static(b"p")),
                part(b"lo \xe2\x82", false),
                part(b"", false),
                part(b"\xac", true),
            ]
        );
        let mut single = wire(&[(2, true, false, b"one")]);
        assert_eq!(d.decode(&mut single).unwrap(), Some(Event::Message(Frame::binary(&b"one"[..]))));
    }

    #[test]
    fn delivered_fragments_still_count_against_the_message_limit_and_utf8_spans_them() {
        let mut d = Decoder::new(10, None);
        d.set_deliver_fragments(true);
        let mut buf = wire(&[(2, false, false, &[0u8; 6]), (0, true, false, &[0u8; 6])]);
        assert!(matches!(d.decode(&mut buf), Ok(Some(Event::Message(f))) if !f.fin));
        assert_eq!(d.decode(&mut buf).unwrap_err().code(), 1009);
        let mut d = Decoder::new(100, None);
        d.set_deliver_fragments(true);
        let mut bad = wire(&[(1, false, false, b"\xe2\x82"), (0, true, false, b"x")]);
        assert!(matches!(d.decode(&mut bad), Ok(Some(Event::Message(f))) if !f.fin));
        assert_eq!(d.decode(&mut bad).unwrap_err().code(), 1007);
    }

    #[test]
    fn compressed_fragments_are_delivered_inflated_frame_by_frame() {
        let p = crate::deflate::DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: None,
            level: 6,
            mem_level: 8,
            threshold: 0,
            max_inflated_size: None,
        };
        let mut deflater = crate::deflate::Deflater::new(&p);
        let (mut first, mut last) = (vec![], vec![]);
        deflater.compress(&b"a".repeat(40), false, &mut first);
        deflater.compress(&b"b".repeat(40), true, &mut last);
        let mut buf = wire(&[(2, false, true, &first), (0, true, false, &last)]);
        let mut d = Decoder::new(1 << 20, Some(Box::new(crate::deflate::Inflater::new(&p))));
        d.set_deliver_fragments(true);
        let events = decode_all(&mut d, &mut buf).unwrap();
        let parts: Vec<(Vec<u8>, bool)> = events
            .into_iter()
            .map(|e| match e {
                Event::Message(f) => (f.data.to_vec(), f.fin),
                other => panic!("{other:?}"),
            })
            .collect();
        let joined: Vec<u8> = parts.iter().flat_map(|(d, _)| d.clone()).collect();
        assert_eq!(joined, [b"a".repeat(40), b"b".repeat(40)].concat());
        assert_eq!(parts.iter().map(|(_, fin)| *fin).collect::<Vec<_>>(), [false, true]);
        let mut small = wire(&[(2, false, true, &first), (0, true, false, &last)]);
        let mut d = Decoder::new(60, Some(Box::new(crate::deflate::Inflater::new(&p))));
        d.set_deliver_fragments(true);
        assert_eq!(decode_all(&mut d, &mut small).unwrap_err().code(), 1009, "the limit spans delivered parts");
    }

    #[test]
    fn a_message_in_more_frames_than_max_fragments_closes_with_1008() {
        let mut d = Decoder::new(100, None);
        d.set_max_fragments(2);
        let mut ok = wire(&[(2, false, false, b"a"), (0, true, false, b"b")]);
        assert_eq!(decode_all(&mut d, &mut ok).unwrap(), vec![Event::Message(Frame::binary(&b"ab"[..]))]);
        let mut over = wire(&[(2, false, false, b"a"), (0, false, false, b""), (0, true, false, b"b")]);
        let v = decode_all(&mut d, &mut over).unwrap_err();
        assert_eq!((v.kind, v.code()), (Kind::TooManyFragments, 1008));
    }

    #[test]
    fn skipping_utf8_validation_passes_invalid_text_and_close_reasons_through() {
        let mut d = Decoder::new(100, None);
        d.set_skip_utf8_validation(true);
        let mut buf = wire(&[
            (1, true, false, b"\xff\xfe"),
            (1, false, false, b"\xce"),
            (0, true, false, b"\xed\xa0\x80"),
            (8, true, false, b"\x03\xe8\xff"),
        ]);
        assert_eq!(
            decode_all(&mut d, &mut buf).unwrap(),
            vec![
                Event::Message(Frame::new(FrameType::Text, &b"\xff\xfe"[..])),
                Event::Message(Frame::new(FrameType::Text, &b"\xce\xed\xa0\x80"[..])),
                Event::Close(Some((1000, "\u{fffd}".into()))),
            ]
        );
        let full = wire(&[(1, true, false, b"\xffpartial frame")]);
        let mut d = Decoder::new(100, None);
        d.set_skip_utf8_validation(true);
        let mut buf = BytesMut::from(&full[..8]);
        assert_eq!(d.decode(&mut buf).unwrap(), None, "no early check of a frame still arriving");
    }

    #[test]
    fn close_frames_are_parsed_and_validated() {
        let mut ok = wire(&[(8, true, false, b"\x03\xe8bye")]);
        assert_eq!(Decoder::new(100, None).decode(&mut ok).unwrap(), Some(Event::Close(Some((1000, "bye".into())))));
        let mut empty = wire(&[(8, true, false, b"")]);
        assert_eq!(Decoder::new(100, None).decode(&mut empty).unwrap(), Some(Event::Close(None)));
        let mut bad = wire(&[(8, true, false, b"\x03\xe8\xff")]);
        assert_eq!(Decoder::new(100, None).decode(&mut bad).unwrap_err().code(), 1007);
    }
}
