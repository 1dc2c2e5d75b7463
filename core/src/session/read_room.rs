//! How much room a session's read buffer gets before each read (the engine's reader and
//! `HostReader::read_ready`): a large frame is read in one `recv` into the allocation its payload
//! is split off from, and a read that does not fill the room shows the socket drained.

use bytes::BytesMut;

use crate::protocol::Decoder;

/// Room for small frames, made when less than a quarter of it is left.
const READ_CHUNK: usize = 8 * 1024;

/// Room beyond the rest of a large frame: the frame's read then leaves some unfilled, which tells
/// the reader the socket is drained (no read that would only say "would block"); the start of a
/// next frame already sent lands there.
const SLACK: usize = READ_CHUNK / 4;

/// The largest frame a read is sized for before its header arrives: a guess that turns out wrong
/// (a small message after a large one) holds at most this much in the allocation its payload keeps
/// (in Node or Python, until the language frees the payload).
const GUESS_MAX: usize = 128 * 1024;

/// Makes room in `buf` for the next read: the rest of the frame in progress once the decoder has
/// its header, or of a frame as large as the last data frame (up to [`GUESS_MAX`]) when the buffer
/// is empty (a peer sending large messages goes on doing so), with [`SLACK`] beyond; otherwise
/// [`READ_CHUNK`]. Both sizes come from frame headers the decoder accepted, so within the frame size
/// limit.
pub(super) fn make_room(buf: &mut BytesMut, decoder: &Decoder) {
    let frame = match decoder.wanted() {
        Some(frame) => frame,
        None if buf.is_empty() => decoder.last_data_len().min(GUESS_MAX),
        None => 0,
    };
    let spare = buf.capacity() - buf.len();
    if frame > READ_CHUNK {
        let room = frame.saturating_sub(buf.len()) + SLACK;
        if spare < room {
            buf.reserve(room);
        }
    } else if spare < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_frame;
    use crate::protocol::{Event, Frame};

    const KEY: Option<[u8; 4]> = Some([7, 1, 9, 3]);

    fn frame(payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame(&mut out, 2, true, false, payload, KEY);
        out
    }

    /// Feeds `wire` through `make_room` and reads of at most `step` bytes, as a read loop does;
    /// returns the messages and the largest spare room a read was offered.
    fn read_loop(decoder: &mut Decoder, wire: &[u8], step: usize) -> (Vec<Frame>, usize) {
        let mut buf = BytesMut::new();
        let (mut at, mut most, mut messages) = (0, 0, vec![]);
        loop {
            while let Some(event) = decoder.decode(&mut buf).expect("valid frames") {
                let Event::Message(m) = event else { panic!("only messages sent") };
                messages.push(m);
            }
            if at == wire.len() {
                return (messages, most);
            }
            make_room(&mut buf, decoder);
            let room = buf.capacity() - buf.len();
            most = most.max(room);
            let n = room.min(step).min(wire.len() - at);
            buf.extend_from_slice(&wire[at..at + n]);
            at += n;
        }
    }

    #[test]
    fn a_large_frame_is_read_in_one_read_into_the_allocation_its_payload_keeps() {
        let mut d = Decoder::new(1 << 20, None);
        let wire = frame(&[5u8; 65536]);
        let mut buf = BytesMut::from(&wire[..20]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(d.wanted(), Some(65536 + 14));
        make_room(&mut buf, &d);
        assert!(buf.capacity() - buf.len() > wire.len() - 20, "the rest of the frame fits, with room to spare");
        let start = buf.as_ptr();
        buf.extend_from_slice(&wire[20..]);
        assert_eq!(buf.as_ptr(), start, "no reallocation while the frame arrives");
        let Some(Event::Message(m)) = d.decode(&mut buf).unwrap() else { panic!("a message") };
        assert_eq!(m.data.as_ptr(), start.wrapping_add(14), "the payload is split off, not copied");
        assert_eq!(m.data, vec![5u8; 65536]);
    }

    #[test]
    fn the_next_large_frame_gets_its_room_before_its_header_arrives() {
        let mut d = Decoder::new(1 << 20, None);
        let mut first = frame(&[1u8; 40000]);
        assert!(matches!(d.decode(&mut first).unwrap(), Some(Event::Message(_))));
        let mut buf = BytesMut::new();
        make_room(&mut buf, &d);
        assert!(buf.capacity() > 40000 + 8, "room for a frame like the last one");
        let mut huge = frame(&vec![2u8; 1 << 20]);
        assert!(matches!(d.decode(&mut huge).unwrap(), Some(Event::Message(_))));
        let mut buf = BytesMut::new();
        make_room(&mut buf, &d);
        assert!(buf.capacity() <= GUESS_MAX + SLACK, "a guess never holds more than GUESS_MAX");
        assert!(buf.capacity() >= GUESS_MAX, "but still a large read");
    }

    #[test]
    fn a_hostile_announced_length_never_reserves_beyond_the_limit() {
        let limit = 64 * 1024;
        let mut d = Decoder::new(limit, None);
        // A header announcing 2^40 bytes: refused, and nothing was reserved for it.
        let mut buf = BytesMut::from(&[0x82u8, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4][..]);
        assert_eq!(d.decode(&mut buf).unwrap_err().code(), 1009);
        assert_eq!(d.wanted(), None);
        make_room(&mut buf, &d);
        assert!(buf.capacity() <= READ_CHUNK + buf.len(), "only the small-frame room");
        // A frame at the limit, read a byte at a time: the room offered never exceeds the frame.
        let mut d = Decoder::new(limit, None);
        let wire = frame(&vec![3u8; limit]);
        let (messages, most) = read_loop(&mut d, &wire, 1);
        assert_eq!(messages.len(), 1);
        assert!(most <= limit + 14 + SLACK, "room {most} beyond the limit");
    }

    #[test]
    fn a_stream_of_mixed_frames_read_in_pieces_decodes_to_the_same_messages() {
        let sizes = [3usize, 70000, 126, 9000, 0, 65536, 65536, 17, 200000];
        let mut wire = BytesMut::new();
        for (i, &n) in sizes.iter().enumerate() {
            wire.extend_from_slice(&frame(&vec![i as u8; n]));
        }
        for step in [1, 7, 1500, 8192, 65550, usize::MAX] {
            let mut d = Decoder::new(1 << 20, None);
            let (messages, most) = read_loop(&mut d, &wire, step);
            let got: Vec<usize> = messages.iter().map(|m| m.data.len()).collect();
            assert_eq!(got, sizes, "read in steps of {step}");
            for (i, m) in messages.iter().enumerate() {
                assert!(m.data.iter().all(|&b| b == i as u8), "message {i} intact (steps of {step})");
            }
            assert!(most <= 200000 + 10 + SLACK, "room {most} beyond the largest frame");
        }
    }
}
