//! SPEC 3.1 (reassembly) and 4.1 (fragmented sends, no automatic splitting).
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Error, Frame, FrameType, ServerConfig};

#[tokio::test]
async fn fragments_are_reassembled_into_one_message_with_fin_and_pings_between_are_answered() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, false, b"Hel").await;
    raw.frame(0x9, true, b"mid").await;
    raw.frame(0x0, false, "lo €".as_bytes()).await;
    raw.frame(0x0, true, b"!").await;
    let pong = raw.read_wire_frame().await.unwrap();
    assert_eq!((pong.opcode(), pong.payload.as_slice()), (0xA, &b"mid"[..]), "the ping is answered mid-message");
    let m = within(session.recv()).await.unwrap().unwrap();
    assert_eq!((m.kind, m.as_text(), m.fin), (FrameType::Text, Some("Hello €!"), true));
    assert_eq!(session.try_recv().unwrap(), None, "delivered once");
}

#[tokio::test]
async fn binary_fragments_are_reassembled() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x2, false, &[1, 2]).await;
    raw.frame(0x0, false, &[]).await;
    raw.frame(0x0, true, &[3]).await;
    let m = within(session.recv()).await.unwrap().unwrap();
    assert_eq!((m.kind, &m.data[..], m.fin), (FrameType::Binary, &[1u8, 2, 3][..], true));
}

#[tokio::test]
async fn sending_with_fin_false_produces_continuation_frames() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::text("Hel").with_fin(false))).await.unwrap();
    within(session.send(Frame::text("l").with_fin(false))).await.unwrap();
    within(session.send(Frame::text("o"))).await.unwrap();
    let wire: Vec<(u8, Vec<u8>)> = {
        let mut v = vec![];
        for _ in 0..3 {
            let f = raw.read_wire_frame().await.unwrap();
            v.push((f.b0, f.payload));
        }
        v
    };
    assert_eq!(wire, vec![(0x01, b"Hel".to_vec()), (0x00, b"l".to_vec()), (0x80, b"o".to_vec())]);
}

#[tokio::test]
async fn a_real_client_receives_a_fragmented_send_as_one_message() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::binary(vec![1u8]).with_fin(false))).await.unwrap();
    within(session.send(Frame::ping(vec![]))).await.unwrap();
    within(session.send(Frame::binary(vec![2u8]))).await.unwrap();
    assert_eq!(next(&mut client).await, Some(Message::binary(vec![1u8, 2])));
}

#[tokio::test]
async fn interleaving_another_data_type_in_a_fragmented_send_is_an_error() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::text("a").with_fin(false))).await.unwrap();
    let err = within(session.send(Frame::binary(vec![0u8]))).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    within(session.send(Frame::text("b"))).await.unwrap();
    assert_eq!(raw.read_wire_frame().await.unwrap().b0, 0x01);
    assert_eq!(raw.read_wire_frame().await.unwrap().b0, 0x80, "the rejected frame left no trace");
}

#[tokio::test]
async fn large_messages_are_never_split_automatically() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::binary(vec![3u8; 1 << 20]))).await.unwrap();
    let f = raw.read_wire_frame().await.unwrap();
    assert_eq!((f.b0, f.payload.len()), (0x82, 1 << 20));
}
