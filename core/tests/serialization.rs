//! SPEC 8: typed messages through a converter (JSON by default).
mod common;

use std::sync::Arc;

use common::*;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Converter, Error, Frame, FrameType, ServerConfig, State};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[tokio::test]
async fn the_default_json_converter_sends_text_and_reads_values() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send_serialized(&Point { x: 1, y: -2 })).await.unwrap();
    match next(&mut client).await {
        Some(Message::Text(t)) => {
            assert_eq!(serde_json::from_str::<serde_json::Value>(&t).unwrap(), serde_json::json!({"x": 1, "y": -2}))
        }
        other => panic!("expected a JSON text message, got {other:?}"),
    }
    send(&mut client, Message::text(r#"{"x":3,"y":4}"#)).await;
    assert_eq!(within(session.receive_deserialized::<Point>()).await.unwrap(), Point { x: 3, y: 4 });
}

#[tokio::test]
async fn without_a_converter_both_directions_fail_with_no_converter() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.set_converter(None);
    assert!(session.converter().is_none());
    assert!(matches!(within(session.send_serialized(&1)).await, Err(Error::NoConverter)));
    send(&mut client, Message::text("1")).await;
    assert!(matches!(within(session.receive_deserialized::<i32>()).await, Err(Error::NoConverter)));
    // The message was not consumed.
    assert_eq!(within(session.recv()).await.unwrap().unwrap().as_text(), Some("1"));
}

#[tokio::test]
async fn an_undecodable_message_fails_with_deserialize_carrying_the_frame_and_the_session_stays_open() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    send(&mut client, Message::text("{not json")).await;
    match within(session.receive_deserialized::<Point>()).await {
        Err(Error::Deserialize { frame, message }) => {
            assert_eq!((frame.kind, &frame.data[..]), (FrameType::Text, &b"{not json"[..]));
            assert!(!message.is_empty());
        }
        other => panic!("expected Deserialize, got {other:?}"),
    }
    // Valid JSON of the wrong shape is a Deserialize error too.
    send(&mut client, Message::text(r#"{"x":"a"}"#)).await;
    assert!(matches!(within(session.receive_deserialized::<Point>()).await, Err(Error::Deserialize { .. })));
    assert_eq!(session.state(), State::Open);
    send(&mut client, Message::text(r#"{"x":5,"y":6}"#)).await;
    assert_eq!(within(session.receive_deserialized::<Point>()).await.unwrap(), Point { x: 5, y: 6 });
}

/// A custom converter producing Binary frames (length-prefixed JSON).
struct Prefixed;

impl Converter for Prefixed {
    fn serialize(&self, value: &serde_json::Value) -> wssession_core::Result<Frame> {
        let body = value.to_string().into_bytes();
        let mut out = vec![body.len() as u8];
        out.extend(body);
        Ok(Frame::binary(out))
    }
    fn deserialize(&self, frame: &Frame) -> wssession_core::Result<serde_json::Value> {
        serde_json::from_slice(&frame.data[1..])
            .map_err(|e| Error::Deserialize { frame: Box::new(frame.clone()), message: e.to_string() })
    }
}

#[tokio::test]
async fn a_custom_converter_may_produce_binary_frames() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.set_converter(Some(Arc::new(Prefixed)));
    within(session.send_serialized(&[1, 2])).await.unwrap();
    assert_eq!(next(&mut client).await, Some(Message::binary(b"\x05[1,2]".to_vec())));
    send(&mut client, Message::binary(b"\x01[7]".to_vec())).await;
    assert_eq!(within(session.receive_deserialized::<Vec<i32>>()).await.unwrap(), vec![7]);
}

#[tokio::test]
async fn on_a_closed_session_both_directions_fail_with_closed() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.send_close(1000, "").await;
    within(session.close_reason()).await;
    assert!(matches!(within(session.send_serialized(&1)).await, Err(Error::Closed(_))));
    // The clean end is reported once as end-of-stream, then Closed.
    let first = within(session.receive_deserialized::<i32>()).await;
    assert!(matches!(first, Err(Error::Closed(_))), "{first:?}");
    assert!(matches!(within(session.receive_deserialized::<i32>()).await, Err(Error::Closed(_))));
}
