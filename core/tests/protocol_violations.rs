//! SPEC 3.3 (and the "protocol violation" row of SPEC 6): each violation sends its RFC close code,
//! closes the TCP connection right after it (RFC 6455 §7.1.7: the connection is failed, no Close is
//! awaited), resolves closeReason with that code and `initiator = local`, and ends `incoming` with a
//! protocol error.
mod common;

use common::*;
use wssession_core::{Error, Initiator, ServerConfig, ViolationKind};

/// Writes `bytes` after the upgrade and checks everything a violation must produce.
async fn assert_violation(config: ServerConfig, bytes: Vec<u8>, code: u16, kind: ViolationKind) {
    let (server, mut sessions) = session_server(config).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.write(&bytes).await;
    let (got, _reason) = raw.read_close_frame().await.expect("server sends a Close");
    assert_eq!(got, Some(code), "close code on the wire");
    assert!(raw.eof().await, "server closes the socket right after its Close");
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator, reason.violation), (code, Initiator::Local, Some(kind)), "{reason:?}");
    match within(session.recv()).await {
        Err(Error::Protocol { code: c, kind: k, .. }) => assert_eq!((c, k), (code, kind)),
        other => panic!("incoming should end with a protocol error, got {other:?}"),
    }
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(_))));
}

fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    encode(opcode, fin, payload, Some(KEY))
}

fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

#[tokio::test]
async fn server_rejects_unmasked_frame_with_1002() {
    assert_violation(ServerConfig::default(), encode(0x1, true, b"hi", None), 1002, ViolationKind::Unmasked).await;
}

#[tokio::test]
async fn server_rejects_rsv1_without_a_negotiated_extension_with_1002() {
    let mut f = masked(0x1, true, b"hi");
    f[0] |= 0x40;
    assert_violation(ServerConfig::default(), f, 1002, ViolationKind::UnexpectedRsv1).await;
}

#[tokio::test]
async fn server_rejects_rsv2_and_rsv3_with_1002() {
    for bit in [0x20, 0x10] {
        let mut f = masked(0x2, true, b"hi");
        f[0] |= bit;
        assert_violation(ServerConfig::default(), f, 1002, ViolationKind::UnexpectedRsv23).await;
    }
}

#[tokio::test]
async fn server_rejects_unknown_data_and_control_opcodes_with_1002() {
    for opcode in [0x3, 0x7, 0xb, 0xf] {
        assert_violation(ServerConfig::default(), masked(opcode, true, b""), 1002, ViolationKind::ReservedOpcode).await;
    }
}

#[tokio::test]
async fn server_rejects_a_continuation_without_a_start_with_1002() {
    assert_violation(ServerConfig::default(), masked(0x0, true, b"x"), 1002, ViolationKind::UnexpectedContinuation)
        .await;
}

#[tokio::test]
async fn server_rejects_a_data_frame_inside_a_fragmented_message_with_1002() {
    let bytes = cat(&[masked(0x1, false, b"a"), masked(0x2, true, b"b")]);
    assert_violation(ServerConfig::default(), bytes, 1002, ViolationKind::InterruptedMessage).await;
}

#[tokio::test]
async fn server_rejects_a_fragmented_control_frame_with_1002() {
    assert_violation(ServerConfig::default(), masked(0x9, false, b"p"), 1002, ViolationKind::FragmentedControl).await;
}

#[tokio::test]
async fn server_rejects_a_control_frame_over_125_bytes_with_1002() {
    assert_violation(
        ServerConfig::default(),
        masked(0x9, true, &[0u8; 126]),
        1002,
        ViolationKind::ControlPayloadLength,
    )
    .await;
}

#[tokio::test]
async fn server_rejects_invalid_utf8_in_a_text_message_with_1007() {
    assert_violation(ServerConfig::default(), masked(0x1, true, b"ok \xff"), 1007, ViolationKind::InvalidUtf8).await;
}

#[tokio::test]
async fn server_rejects_invalid_utf8_across_fragments_before_the_message_ends_with_1007() {
    // The sequence is invalid once the second fragment arrives; no final fragment is ever sent.
    let bytes = cat(&[masked(0x1, false, b"\xce\xba\xe1"), masked(0x0, false, b"\xbd\xb9\xed\xa0\x80")]);
    assert_violation(ServerConfig::default(), bytes, 1007, ViolationKind::InvalidUtf8).await;
}

#[tokio::test]
async fn server_rejects_invalid_utf8_in_a_close_reason_with_1007() {
    assert_violation(ServerConfig::default(), masked(0x8, true, b"\x03\xe8\xff\xfe"), 1007, ViolationKind::InvalidUtf8)
        .await;
}

#[tokio::test]
async fn server_rejects_a_frame_over_max_frame_size_from_its_header_with_1009() {
    let config = config_with(|s| s.max_frame_size = 1024);
    // Only the header of a 1 MiB frame: the limit must trigger before the body is read.
    let mut header = masked(0x2, true, &[0u8; 1 << 20]);
    header.truncate(14);
    assert_violation(config, header, 1009, ViolationKind::TooBig).await;
}

#[tokio::test]
async fn server_rejects_a_reassembled_message_over_max_frame_size_with_1009() {
    let config = config_with(|s| s.max_frame_size = 100);
    let bytes = cat(&[masked(0x2, false, &[1u8; 60]), masked(0x0, true, &[2u8; 60])]);
    assert_violation(config, bytes, 1009, ViolationKind::TooBig).await;
}

#[tokio::test]
async fn server_rejects_an_invalid_close_code_with_1002() {
    for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_violation(
            ServerConfig::default(),
            masked(0x8, true, &code.to_be_bytes()),
            1002,
            ViolationKind::InvalidCloseCode,
        )
        .await;
    }
}

#[tokio::test]
async fn server_rejects_a_one_byte_close_payload_with_1002() {
    assert_violation(ServerConfig::default(), masked(0x8, true, &[0x03]), 1002, ViolationKind::ControlPayloadLength)
        .await;
}

#[tokio::test]
async fn messages_before_a_violation_are_still_delivered() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.write(&cat(&[masked(0x1, true, b"first"), encode(0x1, true, b"unmasked", None)])).await;
    assert_eq!(raw.read_close().await, Some(1002));
    let first = within(session.recv()).await.unwrap().unwrap();
    assert_eq!(first.as_text(), Some("first"));
    assert!(matches!(within(session.recv()).await, Err(Error::Protocol { code: 1002, .. })));
}

#[tokio::test]
async fn server_rejects_a_message_over_max_frame_size_after_inflation_with_1009() {
    use flate2::{Compress, Compression, FlushCompress};
    let config = wssession_core::ServerConfig {
        deflate: wssession_core::DeflateConfig { enabled: true, ..Default::default() },
        ..config_with(|s| s.max_frame_size = 64 * 1024)
    };
    let (server, mut sessions) = session_server(config).await;
    let mut raw = Raw::connect_with(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    let session = next_session(&mut sessions).await;
    // 1 MiB of zeros deflates to about a kilobyte: small on the wire, too big once inflated.
    let mut deflater = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(1 << 16);
    deflater.compress_vec(&vec![0u8; 1 << 20], &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]) && out.len() < 64 * 1024);
    out.truncate(out.len() - 4);
    let mut frame = masked(0x2, true, &out);
    frame[0] |= 0x40; // RSV1: compressed
    raw.write(&frame).await;
    assert_eq!(raw.read_close().await, Some(1009));
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.initiator, r.violation), (1009, Initiator::Local, Some(ViolationKind::TooBig)));
}

#[tokio::test]
async fn server_rejects_a_text_message_ending_inside_a_utf8_sequence_with_1007() {
    assert_violation(ServerConfig::default(), masked(0x1, true, b"euro \xe2\x82"), 1007, ViolationKind::InvalidUtf8)
        .await;
}

#[tokio::test]
async fn a_failed_connection_is_closed_at_once_without_waiting_for_the_close_timeout() {
    // A frame header declaring 2^40 bytes, then more bytes: the server can parse nothing after it,
    // so it sends 1009 and closes TCP instead of waiting (here a minute) for a Close.
    let config = config_with(|s| s.close_timeout_ms = 60_000);
    let (server, mut sessions) = session_server(config).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 40).to_be_bytes());
    bytes.extend_from_slice(&KEY);
    bytes.extend_from_slice(&[0x5a; 4096]);
    raw.write(&bytes).await;
    assert_eq!(raw.read_close().await, Some(1009));
    assert!(raw.eof().await, "the server closes TCP right after its Close");
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1009, Initiator::Local));
}
