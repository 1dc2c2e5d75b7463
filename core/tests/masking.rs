//! SPEC 4.6: servers do not mask by default; `masking = true` masks every frame with a fresh key.
mod common;

use common::*;
use wssession_core::{Bytes, Frame, ServerConfig};

#[tokio::test]
async fn server_frames_are_unmasked_by_default() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    assert!(!session.masking());
    within(session.send(Frame::binary(Bytes::from_static(b"abc")))).await.unwrap();
    let f = raw.read_wire_frame().await.unwrap();
    assert_eq!((f.b0, f.mask, f.payload.as_slice()), (0x82, None, &b"abc"[..]));
}

#[tokio::test]
async fn masking_masks_data_and_control_frames_with_a_fresh_key_each() {
    let (server, mut sessions) = session_server(config_with(|s| s.masking = true)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let big = vec![9u8; 70_000];
    within(session.send(Frame::text("one"))).await.unwrap();
    within(session.send(Frame::binary(big.clone()))).await.unwrap();
    raw.frame(0x9, true, b"ping me").await;
    let mut keys = vec![];
    for (opcode, payload) in [(0x1, &b"one"[..]), (0x2, &big[..]), (0xA, &b"ping me"[..])] {
        let f = raw.read_wire_frame().await.unwrap();
        assert_eq!(f.opcode(), opcode);
        assert_eq!(f.payload, payload, "payload unmasks to the original");
        keys.push(f.mask.expect("frame is masked"));
    }
    assert!(keys[0] != keys[1] || keys[1] != keys[2], "keys are random per frame");
    session.close(1000, "").unwrap();
    let f = raw.read_wire_frame().await.unwrap();
    assert_eq!(f.opcode(), 0x8);
    assert!(f.mask.is_some(), "the Close is masked too");
}
