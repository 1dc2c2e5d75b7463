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
