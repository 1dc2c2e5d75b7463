//! The sans-I/O connection: one server-side WebSocket connection's protocol state, both directions
//! and the closing handshake. Bytes in → events out; frames in → bytes out; no tokio, no timers.
//!
//! Modelled on python-websockets' `protocol.py` (the protocol object owns the state, the close
//! handshake and both directions; the I/O layer pumps bytes and owns timers) and tungstenite's
//! `WebSocketContext` (one state enum, changed in one function).
//!
//! The connection comes in two halves so an I/O layer with a reader task and senders on other
//! threads can hold each where it is used: the [`Decoder`] (owned by whoever reads) and the
//! [`SendHalf`] (the state, the close handshake and the [`Encoder`], kept under the send lock).
//! What the reader learns that changes the state — a Close, a violation — it hands to the
//! `SendHalf`. [`Connection`] joins the two for a single owner and for tests.

use bytes::{Bytes, BytesMut};

use super::close::{self, CloseFrame, CloseReason, Initiator};
use super::decoder::{Decoder, Event};
use super::encoder::{Encoder, Output, SendError};
use super::extension::{Compress, Decompress};
use super::frame::{Frame, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG};
use super::violation::Violation;

type Result<T, E = SendError> = std::result::Result<T, E>;

/// Where a connection is in its life (after the opening handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// A Close was sent or received (or the connection failed): no more user frames go out.
    Closing,
    /// The transport is closed; the close reason is final.
    Closed,
}

/// The connection without its decoder: the state, the closing handshake (what was sent, what was
/// received, why it ends) and the send-side encoder.
pub struct SendHalf {
    state: State,
    encoder: Encoder,
    /// The closing handshake's records, boxed once closing begins: an open connection keeps one
    /// pointer for them.
    ending: Option<Box<Ending>>,
    /// Our Close frame has been taken from the output (handed to the transport).
    close_written: bool,
    /// The connection failed (a violation): nothing more is parsed.
    failed: bool,
}

/// What the closing handshake recorded so far.
#[derive(Default)]
struct Ending {
    /// Our Close frame, once queued, and its sequence number in the output.
    close_sent: Option<(CloseFrame, u64)>,
    /// The peer's Close frame, once a valid one arrived.
    close_rcvd: Option<CloseFrame>,
    /// Why the connection ends: the first cause recorded wins.
    cause: Option<CloseReason>,
}

impl SendHalf {
    /// An open connection's send half; `masking` masks outgoing frames (non-standard for a server).
    pub fn new(masking: bool) -> Self {
        Self { state: State::Open, encoder: Encoder::new(masking), ending: None, close_written: false, failed: false }
    }

    /// The closing handshake's records, made on first use.
    fn ending_mut(&mut self) -> &mut Ending {
        self.ending.get_or_insert_with(Box::default)
    }

    /// Whether our Close frame is queued.
    fn close_queued(&self) -> bool {
        self.ending.as_ref().is_some_and(|e| e.close_sent.is_some())
    }

    /// The only place the state changes: forward only (Open → Closing → Closed, or Open → Closed).
    fn set_state(&mut self, to: State) {
        let forward = matches!((self.state, to), (State::Open, _) | (State::Closing, State::Closing | State::Closed));
        debug_assert!(forward || self.state == to, "state cannot go from {:?} to {to:?}", self.state);
        if forward {
            self.state = to;
        }
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether user frames may still be sent (no Close queued and not closed).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Compresses data messages from now on (a compression extension was negotiated).
    pub fn set_compressor(&mut self, compressor: Box<dyn Compress>) {
        self.encoder.set_compressor(compressor);
    }

    /// Whether outgoing frames are masked.
    pub fn masking(&self) -> bool {
        self.encoder.masking()
    }

    /// Masks outgoing frames from the next one on.
    pub fn set_masking(&mut self, on: bool) {
        self.encoder.set_masking(on);
    }

    /// Encodes a user frame (data, Ping or Pong); returns the bytes it added. Fails with
    /// [`SendError::Closing`] once closing has begun.
    pub fn send(&mut self, frame: &Frame, compress: Option<bool>) -> Result<usize> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        self.encoder.frame(frame, compress)
    }

    /// Whether a fragmented message is in progress (only its continuations or control frames may follow).
    pub fn in_fragment(&self) -> bool {
        self.encoder.in_fragment()
    }

    /// Queues whole frames encoded elsewhere (see [`Encoder::encoded`]); fails with
    /// [`SendError::Closing`] once closing has begun.
    pub fn send_encoded(&mut self, frames: Bytes) -> Result<usize> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        self.encoder.encoded(frames)
    }

    /// Encodes a Ping with `payload` (at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<usize> {
        if !self.is_open() {
            return Err(SendError::Closing);
        }
        self.encoder.control(OPCODE_PING, payload)
    }

    /// Encodes the automatic Pong answering a Ping; nothing once our Close is queued (RFC 6455
    /// §5.5.1: nothing follows it). Returns the bytes it added.
    pub fn reply(&mut self, ping: &[u8]) -> Option<usize> {
        if self.close_queued() || self.state == State::Closed {
            return None;
        }
        Some(self.encoder.control(OPCODE_PONG, ping).expect("a ping payload is at most 125 bytes"))
    }

    /// Starts the closing handshake from this side: records the cause (first wins) and queues
    /// Close(code, reason), or an empty Close for [`close::NO_STATUS`]. The caller checked the code
    /// and reason with [`close::validate`]. Returns whether a Close was queued now.
    pub fn close(&mut self, code: u16, reason: &str) -> bool {
        self.record_cause(CloseReason::new(code, reason, Initiator::Local));
        self.queue_close(code, reason)
    }

    /// Fails the connection because the peer broke the protocol (or left a Ping unanswered):
    /// records the violation as the cause (first wins), queues its Close and stops parsing
    /// (RFC 6455 §7.1.7). Returns whether a Close was queued now.
    pub fn fail(&mut self, violation: Violation) -> bool {
        self.record_cause(CloseReason::failed(violation));
        self.failed = true;
        self.queue_close(violation.code(), violation.reason)
    }

    /// The peer's Close arrived (`None`: an empty body): records it, and echoes its code (or an
    /// empty Close) unless ours is already queued. Nothing more is parsed after it.
    pub fn receive_close(&mut self, frame: Option<(u16, String)>) {
        let (code, reason) = frame.unwrap_or((close::NO_STATUS, String::new()));
        let code_on_wire = (code != close::NO_STATUS).then_some(code);
        self.ending_mut().close_rcvd = Some(CloseFrame::new(code_on_wire, reason.clone()));
        self.record_cause(CloseReason::new(code, reason, Initiator::Remote));
        self.queue_close(code, "");
    }

    /// The transport is going away without a closing handshake (terminated, reset): records an
    /// abnormal end unless a cause is already recorded.
    pub fn abort(&mut self) {
        self.record_cause(CloseReason::abnormal());
    }

    /// This side drops the transport without a closing handshake (terminate): the end is
    /// abnormal, whatever cause was recorded before, since no handshake will complete.
    pub fn terminate(&mut self) {
        if self.state != State::Closed {
            self.ending_mut().cause = Some(CloseReason::abnormal());
        }
    }

    fn record_cause(&mut self, reason: CloseReason) {
        let ending = self.ending_mut();
        if ending.cause.is_none() {
            ending.cause = Some(reason);
        }
    }

    fn queue_close(&mut self, code: u16, reason: &str) -> bool {
        if self.close_queued() || self.state == State::Closed {
            return false;
        }
        let mut payload = Vec::with_capacity(2 + reason.len());
        if code != close::NO_STATUS {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        self.encoder.control(OPCODE_CLOSE, &payload).expect("close payload is at most 125 bytes");
        let frame = CloseFrame::new((code != close::NO_STATUS).then_some(code), reason);
        let seq = self.encoder.output().seq();
        self.ending_mut().close_sent = Some((frame, seq));
        self.set_state(State::Closing);
        true
    }

    /// Whether the peer's frames are still parsed: not after its Close, nor after a failure.
    pub fn receiving(&self) -> bool {
        self.close_rcvd().is_none() && !self.failed && self.state != State::Closed
    }

    /// The sequence number of our Close frame in the output, once queued.
    pub fn close_seq(&self) -> Option<u64> {
        self.ending.as_ref().and_then(|e| e.close_sent.as_ref()).map(|(_, seq)| *seq)
    }

    /// Our Close frame, once handed to the transport.
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.ending.as_ref().and_then(|e| e.close_sent.as_ref()).filter(|_| self.close_written).map(|(f, _)| f)
    }

    /// The peer's Close frame, once a valid one arrived.
    pub fn close_rcvd(&self) -> Option<&CloseFrame> {
        self.ending.as_ref().and_then(|e| e.close_rcvd.as_ref())
    }

    /// The first recorded cause of the end, if closing has begun.
    pub fn cause(&self) -> Option<&CloseReason> {
        self.ending.as_ref().and_then(|e| e.cause.as_ref())
    }

    /// The encoded bytes not yet handed to the transport.
    pub fn output(&mut self) -> &mut Output {
        self.encoder.output()
    }

    /// Records that everything encoded up to `seq` was handed to the transport; returns whether
    /// that handed over our Close frame (the first time only).
    pub fn handed_over(&mut self, seq: u64) -> bool {
        let newly = !self.close_written && self.close_seq().is_some_and(|c| c <= seq);
        self.close_written |= newly;
        newly
    }

    /// Whether the transport should be closed now: our Close is out and nothing more will be
    /// parsed (the peer's Close arrived, or the connection failed).
    pub fn should_close_transport(&self) -> bool {
        self.close_written && !self.receiving()
    }

    /// The transport is closed (by either side, or because the close timeout passed): the state
    /// becomes `Closed` and the close reason is final (abnormal when no cause was recorded).
    pub fn finish(&mut self) -> CloseReason {
        self.abort();
        self.set_state(State::Closed);
        let mut reason = self.cause().cloned().expect("recorded above");
        reason.sent = self.close_sent().cloned();
        reason.received = self.close_rcvd().cloned();
        reason
    }
}

/// One server-side WebSocket connection after the opening handshake, as a sans-I/O object.
pub struct Connection {
    decoder: Decoder,
    send: SendHalf,
    buf: BytesMut,
}

impl Connection {
    /// An open connection with the message size limit `max_size`, masking its outgoing frames
    /// when `masking` is set (non-standard for a server).
    pub fn new(max_size: usize, masking: bool) -> Self {
        Self { decoder: Decoder::new(max_size, None), send: SendHalf::new(masking), buf: BytesMut::new() }
    }

    /// The same connection with a negotiated compression extension (permessage-deflate's
    /// inflater and compressor) on both sides.
    pub fn with_compression(self, decompress: Box<dyn Decompress>, compress: Box<dyn Compress>) -> Self {
        let Self { decoder, mut send, buf } = self;
        let decoder = decoder.with_inflater(decompress);
        send.set_compressor(compress);
        Self { decoder, send, buf }
    }

    /// Splits into the decoder (for the reader) and the send half (for the send lock).
    pub fn into_parts(self) -> (Decoder, SendHalf, BytesMut) {
        (self.decoder, self.send, self.buf)
    }

    /// The decoder, to change its limits.
    pub fn decoder(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// The state, the closing handshake and the encoder.
    pub fn send_half(&mut self) -> &mut SendHalf {
        &mut self.send
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.send.state()
    }

    /// Bytes read from the transport.
    pub fn receive_data(&mut self, data: &[u8]) {
        if self.send.receiving() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next event parsed from the bytes received so far; `Ok(None)` when more bytes are needed
    /// or nothing more is parsed (after the peer's Close or a failure). A Ping is answered and a
    /// Close echoed here. A violation fails the connection (its Close is queued) and is returned.
    pub fn next_event(&mut self) -> Result<Option<Event>, Violation> {
        if !self.send.receiving() {
            self.buf.clear();
            return Ok(None);
        }
        match self.decoder.decode(&mut self.buf) {
            Ok(Some(event)) => {
                match &event {
                    Event::Ping(payload) => {
                        self.send.reply(payload);
                    }
                    Event::Close(frame) => self.send.receive_close(frame.clone()),
                    Event::Message(_) | Event::Pong(_) => {}
                }
                Ok(Some(event))
            }
            Ok(None) => Ok(None),
            Err(violation) => {
                self.send.fail(violation);
                self.buf.clear();
                Err(violation)
            }
        }
    }

    /// Encodes a user frame (see [`SendHalf::send`]).
    pub fn send(&mut self, frame: &Frame, compress: Option<bool>) -> Result<usize> {
        self.send.send(frame, compress)
    }

    /// Starts the closing handshake from this side after checking the code and reason.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<bool> {
        close::validate(code, reason)?;
        Ok(self.send.close(code, reason))
    }

    /// Fails the connection (see [`SendHalf::fail`]).
    pub fn fail(&mut self, violation: Violation) -> bool {
        self.send.fail(violation)
    }

    /// The bytes to write to the transport now, in order.
    pub fn data_to_send(&mut self) -> Vec<Bytes> {
        let seq = self.send.output().seq();
        let chunks = self.send.output().take();
        self.send.handed_over(seq);
        chunks
    }

    /// Whether the I/O layer should close the transport now (see [`SendHalf::should_close_transport`]).
    pub fn should_close_transport(&self) -> bool {
        self.send.should_close_transport()
    }

    /// The peer closed the transport (EOF): the connection is closed; the reason is final.
    pub fn receive_eof(&mut self) -> CloseReason {
        self.send.finish()
    }

    /// The I/O layer's close timer fired before the handshake completed: the connection is closed
    /// with the cause recorded so far; the reason is final.
    pub fn close_timed_out(&mut self) -> CloseReason {
        self.send.finish()
    }

    /// The I/O layer closed the transport after [`Connection::should_close_transport`].
    pub fn transport_closed(&mut self) -> CloseReason {
        self.send.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{DeflateParams, Deflater, Inflater};
    use crate::protocol::ViolationKind;
    use crate::protocol::frame::encode_frame;

    const KEY: Option<[u8; 4]> = Some([9, 8, 7, 6]);

    /// A client frame as it arrives on the wire (masked).
    fn client(opcode: u8, fin: bool, payload: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame(&mut out, opcode, fin, false, payload, KEY);
        out
    }

    fn close_body(code: u16, reason: &str) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(reason.as_bytes());
        body
    }

    /// A server frame as the client expects it (unmasked).
    fn server(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_frame(&mut out, opcode, true, false, payload, None);
        out.to_vec()
    }

    fn wire(conn: &mut Connection) -> Vec<u8> {
        conn.data_to_send().concat()
    }

    fn events(conn: &mut Connection) -> Result<Vec<Event>, Violation> {
        let mut out = vec![];
        while let Some(e) = conn.next_event()? {
            out.push(e);
        }
        Ok(out)
    }

    fn open() -> Connection {
        Connection::new(1 << 20, false)
    }

    #[test]
    fn data_flows_both_ways_and_pings_are_answered() {
        let mut conn = open();
        let mut input = client(1, true, b"hello");
        input.extend_from_slice(&client(9, true, b"p1"));
        conn.receive_data(&input);
        assert_eq!(
            events(&mut conn).unwrap(),
            vec![Event::Message(Frame::text("hello")), Event::Ping(Bytes::from_static(b"p1"))]
        );
        conn.send(&Frame::binary(&b"back"[..]), None).unwrap();
        let mut expected = server(10, b"p1");
        expected.extend(server(2, b"back"));
        assert_eq!(wire(&mut conn), expected);
        assert_eq!(conn.state(), State::Open);
    }

    #[test]
    fn the_peer_closes_first_and_its_code_is_echoed() {
        let mut conn = open();
        conn.receive_data(&client(8, true, &close_body(1001, "bye")));
        assert_eq!(events(&mut conn).unwrap(), vec![Event::Close(Some((1001, "bye".into())))]);
        assert_eq!(conn.state(), State::Closing);
        assert!(conn.send(&Frame::text("late"), None).is_err(), "nothing is sent after a Close");
        assert!(!conn.should_close_transport(), "the echo is not out yet");
        assert_eq!(wire(&mut conn), server(8, &1001u16.to_be_bytes()));
        assert!(conn.should_close_transport());
        conn.receive_data(&client(1, true, b"after close"));
        assert_eq!(events(&mut conn).unwrap(), vec![], "nothing is parsed after the peer's Close");
        let reason = conn.transport_closed();
        assert_eq!(conn.state(), State::Closed);
        assert_eq!((reason.code, reason.reason.as_str(), reason.initiator), (1001, "bye", Initiator::Remote));
        assert_eq!(reason.received, Some(CloseFrame::new(Some(1001), "bye")));
        assert_eq!(reason.sent, Some(CloseFrame::new(Some(1001), "")));
    }

    #[test]
    fn an_empty_close_from_the_peer_is_echoed_empty_and_reads_1005() {
        let mut conn = open();
        conn.receive_data(&client(8, true, b""));
        assert_eq!(events(&mut conn).unwrap(), vec![Event::Close(None)]);
        assert_eq!(wire(&mut conn), server(8, b""));
        let reason = conn.transport_closed();
        assert_eq!(reason.code, close::NO_STATUS);
        assert_eq!(reason.sent, Some(CloseFrame::new(None, "")));
        assert_eq!(reason.received, Some(CloseFrame::new(None, "")));
    }

    #[test]
    fn this_side_closes_first_and_waits_for_the_peers_close() {
        let mut conn = open();
        conn.send(&Frame::text("last"), None).unwrap();
        assert!(conn.close(1000, "done").unwrap());
        assert!(!conn.close(4000, "again").unwrap(), "one Close only");
        assert_eq!(conn.state(), State::Closing);
        let mut expected = server(1, b"last");
        expected.extend(server(8, &close_body(1000, "done")));
        assert_eq!(wire(&mut conn), expected);
        assert!(!conn.should_close_transport(), "the peer's Close is still expected");
        let mut input = client(2, true, b"in flight");
        input.extend_from_slice(&client(9, true, b"p"));
        input.extend_from_slice(&client(8, true, &close_body(1000, "")));
        conn.receive_data(&input);
        let got = events(&mut conn).unwrap();
        assert_eq!(got.len(), 3, "messages in flight still arrive: {got:?}");
        assert_eq!(wire(&mut conn), Vec::<u8>::new(), "no Pong and no second Close after ours");
        assert!(conn.should_close_transport());
        let reason = conn.receive_eof();
        assert_eq!((reason.code, reason.reason.as_str(), reason.initiator), (1000, "done", Initiator::Local));
        assert_eq!(reason.sent, Some(CloseFrame::new(Some(1000), "done")));
        assert_eq!(reason.received, Some(CloseFrame::new(Some(1000), "")));
    }

    #[test]
    fn close_refuses_codes_not_for_the_wire_and_long_reasons_without_closing() {
        let mut conn = open();
        assert!(matches!(conn.close(1006, ""), Err(SendError::Invalid(_))));
        assert!(matches!(conn.close(1000, &"x".repeat(124)), Err(SendError::OutOfRange(_))));
        assert_eq!(conn.state(), State::Open);
        assert!(conn.data_to_send().is_empty());
    }

    #[test]
    fn the_close_timeout_ends_the_connection_with_the_recorded_cause() {
        let mut conn = open();
        conn.close(1000, "").unwrap();
        wire(&mut conn);
        let reason = conn.close_timed_out();
        assert_eq!(conn.state(), State::Closed);
        assert_eq!((reason.code, reason.initiator), (1000, Initiator::Local));
        assert_eq!(reason.sent, Some(CloseFrame::new(Some(1000), "")));
        assert_eq!(reason.received, None, "the peer never answered");
        assert!(conn.send(&Frame::text("x"), None).is_err());
    }

    #[test]
    fn eof_without_a_close_is_abnormal() {
        let mut conn = open();
        conn.receive_data(&client(1, false, b"half"));
        assert_eq!(events(&mut conn).unwrap(), vec![]);
        let reason = conn.receive_eof();
        assert_eq!((reason.code, reason.initiator), (close::ABNORMAL, Initiator::Abnormal));
        assert_eq!((reason.sent, reason.received), (None, None));
    }

    #[test]
    fn a_close_queued_but_never_handed_over_is_not_reported_as_sent() {
        let mut conn = open();
        conn.close(1000, "").unwrap();
        let reason = conn.close_timed_out();
        assert_eq!(reason.sent, None);
    }

    /// The bytes that make the decoder report each kind (PingTimeout comes from the I/O layer's timer).
    fn offending_bytes(kind: ViolationKind) -> Option<BytesMut> {
        let mut b = BytesMut::new();
        match kind {
            ViolationKind::Unmasked => encode_frame(&mut b, 1, true, false, b"x", None),
            ViolationKind::UnexpectedRsv1 => encode_frame(&mut b, 9, true, true, b"x", KEY),
            ViolationKind::UnexpectedRsv23 => b.extend_from_slice(&[0xa1, 0x80, 0, 0, 0, 0]),
            ViolationKind::ReservedOpcode => encode_frame(&mut b, 3, true, false, b"", KEY),
            ViolationKind::UnexpectedContinuation => encode_frame(&mut b, 0, true, false, b"x", KEY),
            ViolationKind::InterruptedMessage => {
                encode_frame(&mut b, 1, false, false, b"a", KEY);
                encode_frame(&mut b, 1, true, false, b"b", KEY);
            }
            ViolationKind::FragmentedControl => encode_frame(&mut b, 9, false, false, b"", KEY),
            ViolationKind::ControlPayloadLength => encode_frame(&mut b, 9, true, false, &[0; 126], KEY),
            ViolationKind::InvalidCloseCode => encode_frame(&mut b, 8, true, false, &close_body(1005, ""), KEY),
            ViolationKind::InvalidUtf8 => encode_frame(&mut b, 1, true, false, b"\xff", KEY),
            ViolationKind::CorruptCompressedData => encode_frame(&mut b, 2, true, true, b"\xff\xff\xff", KEY),
            // A header declaring 2^40 bytes: refused from the header, before any body arrives.
            ViolationKind::TooBig => b.extend_from_slice(&[0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]),
            // Three frames of one message where `max_fragments` is 2 (set by the test below).
            ViolationKind::TooManyFragments => {
                encode_frame(&mut b, 1, false, false, b"a", KEY);
                encode_frame(&mut b, 0, false, false, b"b", KEY);
                encode_frame(&mut b, 0, true, false, b"c", KEY);
            }
            ViolationKind::PingTimeout => return None,
        }
        Some(b)
    }

    #[test]
    fn each_violation_fails_the_connection_with_its_close_and_stops_parsing() {
        let deflate = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: None,
            level: 6,
            mem_level: 8,
            threshold: 0,
            max_inflated_size: None,
        };
        for kind in ViolationKind::ALL {
            let mut conn = Connection::new(1 << 20, false)
                .with_compression(Box::new(Inflater::new(&deflate)), Box::new(Deflater::new(&deflate)));
            conn.decoder().set_max_fragments(2);
            let violation = match offending_bytes(kind) {
                Some(bytes) => {
                    conn.receive_data(&bytes);
                    conn.receive_data(&client(1, true, b"more bytes after it"));
                    events(&mut conn).expect_err("a violation")
                }
                None => {
                    let v = Violation::new(kind, "ping timeout");
                    assert!(conn.fail(v));
                    v
                }
            };
            assert_eq!(violation.kind, kind);
            assert_eq!(conn.state(), State::Closing, "{kind}");
            assert_eq!(events(&mut conn).unwrap(), vec![], "{kind}: nothing is parsed after failing");
            let expected = server(8, &close_body(kind.close_code(), violation.reason));
            assert_eq!(wire(&mut conn), expected, "{kind}");
            assert!(conn.should_close_transport(), "{kind}: no Close is awaited after failing");
            let reason = conn.transport_closed();
            assert_eq!(
                (reason.code, reason.initiator, reason.violation),
                (kind.close_code(), Initiator::Local, Some(kind))
            );
            assert_eq!(reason.received, None);
        }
    }

    #[test]
    fn failing_while_our_close_is_queued_sends_no_second_close() {
        let mut conn = open();
        conn.close(1000, "").unwrap();
        conn.receive_data(&client(1, true, b"\xff"));
        assert_eq!(events(&mut conn).unwrap_err().kind, ViolationKind::InvalidUtf8);
        assert_eq!(wire(&mut conn), server(8, &close_body(1000, "")));
        assert!(conn.should_close_transport());
        let reason = conn.transport_closed();
        assert_eq!((reason.code, reason.violation), (1000, None), "the first cause stands");
    }
}
