mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn text_and_binary_messages_echo_unchanged() {
    let server = echo_server().await;
    let mut c = connect(&server).await;
    send(&mut c, Message::text("hello")).await;
    assert_eq!(next(&mut c).await, Some(Message::text("hello")));
    send(&mut c, Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(next(&mut c).await, Some(Message::binary(vec![1u8, 2, 3])));
    let big = vec![7u8; 200_000];
    send(&mut c, Message::binary(big.clone())).await;
    assert_eq!(next(&mut c).await, Some(Message::binary(big)));
}

#[tokio::test]
async fn a_frame_trickling_in_after_each_read_drained_the_socket_is_still_read() {
    let server = echo_server().await;
    let mut raw = Raw::connect(&server).await;
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let wire = encode(0x2, true, &payload, Some(KEY));
    for piece in wire.chunks(7) {
        raw.write(piece).await;
        tokio::task::yield_now().await;
    }
    let (b0, echoed) = raw.read_frame().await.expect("the echo arrives");
    assert_eq!((b0, echoed), (0x82, payload));
}

#[tokio::test]
async fn a_message_followed_by_the_peers_fin_is_echoed_and_the_end_seen() {
    let server = echo_server().await;
    let mut raw = Raw::connect(&server).await;
    raw.write(&encode(0x1, true, b"last words", Some(KEY))).await;
    within(tokio::io::AsyncWriteExt::shutdown(&mut raw.tcp)).await.unwrap();
    assert_eq!(raw.read_frame().await, Some((0x81, b"last words".to_vec())));
    assert_eq!(raw.read_frame().await, None, "the server ends the connection after the peer's FIN");
}
