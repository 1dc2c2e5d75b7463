//! The fuzz targets of wssession-core as plain functions over arbitrary bytes.
//!
//! Each function panics on a broken invariant and returns normally otherwise. The libFuzzer
//! binaries in `fuzz_targets/` call them, and `core/tests/fuzz_corpus.rs` includes this file to
//! replay the committed corpora and regression inputs (plus a bounded random loop) under a
//! plain `cargo test`, so regressions are caught without the fuzzer.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wssession_core::deflate::{DeflateConfig, DeflateParams, Deflater, InflateError, Inflater, negotiate};
use wssession_core::handshake::{parse_head, switching_protocols, validate_upgrade};
use wssession_core::protocol::utf8::Utf8Validator;
use wssession_core::protocol::{Decoder, Event, FrameType, Violation};
use wssession_core::{EventHandler, Frame, Headers, Initiator, Request, Session, SessionConfig};

/// The names of every target, as used for `fuzz/corpus/<name>` and `fuzz/regressions/<name>`.
pub const TARGETS: &[&str] = &["decoder", "handshake", "negotiate", "inflate", "utf8", "session"];

/// Runs the target called `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "decoder" => decoder(data),
        "handshake" => handshake(data),
        "negotiate" => negotiate_offer(data),
        "inflate" => inflate(data),
        "utf8" => utf8(data),
        "session" => session(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

fn params(flags: u8) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 9 + (flags >> 2 & 7).min(6),
        client_max_window_bits: None,
        level: 6,
        mem_level: 1 + (flags >> 5),
        threshold: 0,
        max_inflated_size: None,
    }
}

/// Split points derived from a seed byte: chunk sizes 1..=n cycling.
fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut out = vec![];
    let mut rest = data;
    let mut step = 1 + (seed as usize % 7);
    while !rest.is_empty() {
        let n = if seed == 0 { rest.len() } else { step.min(rest.len()) };
        out.push(&rest[..n]);
        rest = &rest[n..];
        step = step * 3 % 17 + 1;
    }
    out
}

fn decode_all(data: &[u8], max: usize, deflate: Option<u8>, seed: u8) -> (Vec<Event>, Option<Violation>) {
    decode_with(data, max, deflate, seed, false)
}

fn decode_with(
    data: &[u8],
    max: usize,
    deflate: Option<u8>,
    seed: u8,
    fragments: bool,
) -> (Vec<Event>, Option<Violation>) {
    let inflater =
        deflate.map(|f| Box::new(Inflater::new(&params(f))) as Box<dyn wssession_core::protocol::Decompress>);
    let mut decoder = Decoder::new(max, inflater);
    decoder.set_deliver_fragments(fragments);
    let mut buf = BytesMut::new();
    let mut events = vec![];
    for piece in chunks(data, seed) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(v) => return (events, Some(v)),
            }
        }
    }
    (events, None)
}

/// Frame decoder fed arbitrary bytes, whole and in pieces: the same events either way, every
/// message complete, within the limit and (for Text) valid UTF-8; violations carry 1002/1007/1009.
pub fn decoder(data: &[u8]) {
    let Some((&cfg, data)) = data.split_first() else { return };
    let max = 1usize << (cfg & 0x0f).clamp(1, 16);
    let deflate = (cfg & 0x10 != 0).then_some(cfg >> 5);
    let whole = decode_all(data, max, deflate, 0);
    let pieces = decode_all(data, max, deflate, cfg | 1);
    assert_eq!(whole, pieces, "decoding must not depend on how the bytes are split");
    // Delivered frame by frame, the same messages once each message's parts are joined.
    let (parts, violation) = decode_with(data, max, deflate, cfg | 1, true);
    assert_eq!(violation, whole.1, "delivering fragments must not change what is a violation");
    assert_eq!(join_parts(parts), whole.0, "joined fragments must be the messages");
    for e in &whole.0 {
        match e {
            Event::Message(f) => {
                assert!(f.fin && f.kind.is_data());
                assert!(f.data.len() <= max, "message of {} bytes over the {max} limit", f.data.len());
                if f.kind == FrameType::Text {
                    assert!(std::str::from_utf8(&f.data).is_ok(), "invalid UTF-8 delivered as Text");
                }
            }
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
            Event::Close(Some((code, reason))) => {
                assert!(wssession_core::protocol::close::is_valid_wire_code(*code));
                assert!(reason.len() <= 123);
            }
            Event::Close(None) => {}
        }
    }
    if let Some(v) = whole.1 {
        assert!([1002, 1007, 1009].contains(&v.code()), "unexpected violation code {}", v.code());
        assert!(v.reason.len() <= 123);
    }
}

/// Joins runs of delivered fragments (`fin` on the last) into whole messages; other events pass.
fn join_parts(events: Vec<Event>) -> Vec<Event> {
    let mut out = vec![];
    let mut open: Option<(FrameType, Vec<u8>)> = None;
    for e in events {
        match e {
            Event::Message(f) => {
                let (kind, mut data) = open.take().unwrap_or((f.kind, vec![]));
                assert_eq!(kind, f.kind, "every part carries its message's type");
                data.extend_from_slice(&f.data);
                if f.fin {
                    out.push(Event::Message(Frame::new(kind, data)));
                } else {
                    open = Some((kind, data));
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Handshake request parser and upgrade validation: limits hold, accepted keys are 16 bytes,
/// rejections are 400/426/431, and the 101 response can be built for any accepted request.
pub fn handshake(data: &[u8]) {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let (max_bytes, max_headers) = (4096, 32);
    match parse_head(data, max_bytes, max_headers, addr, addr) {
        Ok(Some((req, len))) => {
            assert!(len <= data.len() && len <= max_bytes);
            assert!(req.headers.len() <= max_headers);
            let _ = req.offered_subprotocols();
            let _ = req.origin();
            let ext = negotiate(req.headers.get_all("sec-websocket-extensions"), &DeflateConfig::enabled());
            match validate_upgrade(&req) {
                Ok(key) => {
                    use base64::Engine;
                    let raw = base64::engine::general_purpose::STANDARD.decode(&key).expect("accepted key is base64");
                    assert_eq!(raw.len(), 16);
                    let ext = ext.map(|p| p.response_header()).unwrap_or_default();
                    let resp = switching_protocols(&key, None, &ext, &[]);
                    assert!(resp.starts_with(b"HTTP/1.1 101 ") && resp.ends_with(b"\r\n\r\n"));
                }
                Err(resp) => assert!([400, 426].contains(&resp.status), "status {}", resp.status),
            }
        }
        Ok(None) => assert!(data.len() <= max_bytes, "a partial head over the limit must be refused"),
        Err(e) => assert!([400, 431].contains(&e.status())),
    }
}

/// permessage-deflate negotiation: never panics; accepted parameters are in range and work.
pub fn negotiate_offer(data: &[u8]) {
    let Some((&flags, data)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(data);
    let config = DeflateConfig {
        enabled: true,
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 9 + (flags >> 2 & 7).min(6),
        client_max_window_bits: 9 + (flags >> 5).min(6),
        ..DeflateConfig::default()
    };
    let Some(p) = negotiate(text.split('\n'), &config) else { return };
    assert!((8..=15).contains(&p.server_max_window_bits), "{p:?}");
    assert!(p.client_max_window_bits.is_none_or(|b| (8..=15).contains(&b)), "{p:?}");
    let header = p.response_header();
    assert!(header.starts_with("permessage-deflate") && !header.contains(['\r', '\n']));
    // The client inflates our messages: it resets its context when we reset ours.
    let mirrored = DeflateParams { client_no_context_takeover: p.server_no_context_takeover, ..p.clone() };
    let (mut d, mut i) = (Deflater::new(&p), Inflater::new(&mirrored));
    for _ in 0..2 {
        let mut wire = vec![];
        d.compress(data, true, &mut wire);
        let mut out = vec![];
        i.inflate(&wire, true, &mut out, data.len()).expect("our own output inflates");
        assert_eq!(out, data);
    }
}

/// The inflater: output never exceeds the limit (error or not), and a compressed copy of the
/// input round-trips through it.
pub fn inflate(data: &[u8]) {
    let Some((&cfg, data)) = data.split_first() else { return };
    let limit = (cfg as usize & 0x3f) * 97;
    let p = params(cfg >> 6);
    let mut inflater = Inflater::new(&p);
    let pieces = chunks(data, cfg);
    let n = pieces.len();
    for (k, piece) in pieces.into_iter().enumerate() {
        let mut out = vec![];
        let fin = k + 1 == n || k % 3 == 2;
        let r = inflater.inflate(piece, fin, &mut out, limit);
        assert!(out.len() <= limit, "inflated {} bytes past the {limit} limit ({r:?})", out.len());
        if r.is_err() {
            break;
        }
    }
    let mut wire = vec![];
    Deflater::new(&p).compress(data, true, &mut wire);
    let mut out = vec![];
    match Inflater::new(&p).inflate(&wire, true, &mut out, limit) {
        Ok(()) => assert_eq!(out, data),
        Err(e) => assert!(e == InflateError::TooBig && data.len() > limit, "{e:?} for {} bytes", data.len()),
    }
}

/// The incremental UTF-8 validator agrees with `std::str::from_utf8` across arbitrary splits.
pub fn utf8(data: &[u8]) {
    let Some((&seed, data)) = data.split_first() else { return };
    let expected = std::str::from_utf8(data).is_ok();
    let mut v = Utf8Validator::new();
    let pieces = chunks(data, seed);
    let n = pieces.len();
    let mut ok = true;
    for (k, piece) in pieces.into_iter().enumerate() {
        if v.feed(piece, k + 1 == n).is_err() {
            ok = false;
            break;
        }
    }
    if n == 0 {
        ok = v.feed(&[], true).is_ok();
    }
    assert_eq!(ok, expected, "validator says {ok}, std says {expected} for {data:?}");
    if ok {
        assert!(v.is_complete());
    }
}

struct Echo;

impl EventHandler for Echo {
    fn on_message(&self, session: &Session, frame: Frame) {
        let _ = session.try_send(frame);
    }
}

fn request() -> Request {
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    Request {
        method: "GET".into(),
        target: "/".into(),
        path: "/".into(),
        query: None,
        version: 1,
        headers: Headers::from_pairs(vec![]),
        remote_addr: addr,
        local_addr: addr,
        tls: false,
        subprotocol: None,
        extensions: String::new(),
    }
}

/// A whole server session (over an in-memory duplex) replaying arbitrary client bytes, then EOF:
/// it must end, its close reason must resolve once with a sensible code, and it must not panic.
pub fn session(data: &[u8]) {
    let Some((&cfg, data)) = data.split_first() else { return };
    let data = data.to_vec();
    let outcome = wssession_core::runtime::block_on(async move {
        let (client, server) = tokio::io::duplex(16 << 10);
        let config = SessionConfig {
            max_frame_size: 1 << 12,
            close_timeout_ms: 300,
            incoming_queue: 2,
            write_high_water: 8 << 10,
            write_low_water: 2 << 10,
            write_hard_limit: 16 << 10,
            ..SessionConfig::default()
        };
        let pull = cfg & 1 != 0;
        let handler: Option<std::sync::Arc<dyn EventHandler>> =
            if pull { None } else { Some(std::sync::Arc::new(Echo)) };
        let session = Session::new(server, request(), config, BytesMut::new(), handler);
        session.start((cfg & 2 != 0).then(|| params(cfg >> 2))).expect("first start");
        if pull {
            let s = session.clone();
            tokio::spawn(async move {
                while let Ok(Some(f)) = s.recv().await {
                    let _ = s.try_send(f);
                }
            });
        }
        let (mut rd, mut wr) = tokio::io::split(client);
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; 16 << 10];
            while let Ok(n) = rd.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let _ = wr.write_all(&data).await;
        if cfg & 0x80 != 0 {
            // The server starts a closing handshake of its own while the peer's bytes are in flight.
            let _ = session.close(1001, "going away");
        }
        let _ = wr.shutdown().await;
        let reason = tokio::time::timeout(Duration::from_secs(10), session.close_reason()).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
        (reason, session)
    })
    .expect("not on a runtime thread");
    let (reason, session) = outcome;
    let reason = reason.expect("the session's close reason must resolve after the peer's EOF");
    assert_eq!(session.close_reason_now().as_ref(), Some(&reason), "close reason resolves once and stays");
    assert_eq!(session.state(), wssession_core::State::Closed);
    match reason.initiator {
        Initiator::Abnormal => assert_eq!(reason.code, 1006),
        Initiator::Local => assert!([1001, 1002, 1007, 1009, 1011].contains(&reason.code), "{reason:?}"),
        Initiator::Remote => assert!(reason.code == 1005 || (1000..5000).contains(&reason.code), "{reason:?}"),
    }
}
