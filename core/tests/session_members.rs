//! SPEC 1: the session's members: `call` (the request), id, application (server), state,
//! counters, buffered amount, attachment.
mod common;

use std::sync::Arc;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wssession_core::{Frame, ServerConfig, State};

#[tokio::test]
async fn the_request_exposes_method_path_query_headers_and_addresses() {
    let config = ServerConfig { subprotocols: vec!["chat".into()], ..ServerConfig::default() };
    let (server, mut sessions) = session_server(config).await;
    let mut request = format!("ws://{}/room/7?user=ann&x=1", server.local_addr()).into_client_request().unwrap();
    let h = request.headers_mut();
    h.append("X-Tag", "one".parse().unwrap());
    h.append("x-tag", "two".parse().unwrap());
    h.insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
    let (client, _) = within(tokio_tungstenite::connect_async(request)).await.unwrap();
    let client_addr = match client.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap(),
        _ => unreachable!(),
    };
    let s = next_session(&mut sessions).await;
    let r = s.request();
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_deref()), ("GET", "/room/7", Some("user=ann&x=1")));
    assert_eq!(r.target, "/room/7?user=ann&x=1");
    assert_eq!(r.version, 1);
    assert_eq!(r.headers.get_all("X-TAG").collect::<Vec<_>>(), ["one", "two"], "repeated names kept");
    assert_eq!(r.headers.get("x-tag"), Some("one"), "lookup is case-insensitive");
    assert_eq!(r.remote_addr, client_addr);
    assert_eq!(r.local_addr, server.local_addr());
    assert!(!r.tls);
    assert_eq!(r.subprotocol.as_deref(), Some("chat"));
    assert_eq!(r.extensions, "");
}

#[tokio::test]
async fn sessions_have_unique_ids_and_know_their_server() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _a = Raw::connect(&server).await;
    let _b = Raw::connect(&server).await;
    let a = next_session(&mut sessions).await;
    let b = next_session(&mut sessions).await;
    assert_ne!(a.id(), b.id());
    assert!(!a.same_as(&b) && a.same_as(&a.clone()));
    assert_eq!(a.server().expect("the application").port(), server.port());
    assert_eq!(server.session_count(), 2);
    let mut ids: Vec<u64> = server.sessions().iter().map(|s| s.id()).collect();
    ids.sort();
    let mut expected = vec![a.id(), b.id()];
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn state_goes_from_open_to_closing_to_closed() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let s = next_session(&mut sessions).await;
    assert_eq!(s.state(), State::Open);
    s.close(1000, "").unwrap();
    assert_eq!(s.state(), State::Closing);
    assert_eq!(raw.read_close().await, Some(1000));
    raw.send_close(1000, "").await;
    within(s.close_reason()).await;
    assert_eq!(s.state(), State::Closed);
    eventually(|| server.session_count() == 0).await;
}

#[tokio::test]
async fn counters_count_messages_and_bytes_in_both_directions() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let s = next_session(&mut sessions).await;
    send(&mut client, Message::text("abc")).await;
    send(&mut client, Message::binary(vec![0u8; 10])).await;
    within(s.recv()).await.unwrap();
    within(s.recv()).await.unwrap();
    within(s.send(Frame::text("hello"))).await.unwrap();
    within(s.flush()).await.unwrap();
    let st = s.stats();
    assert_eq!((st.messages_in, st.bytes_in, st.messages_out, st.bytes_out), (2, 13, 1, 5));
    assert_eq!(s.buffered_amount(), 0);
    assert_eq!(next(&mut client).await, Some(Message::text("hello")));
}

#[tokio::test]
async fn an_attachment_can_be_set_and_read_back() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _raw = Raw::connect(&server).await;
    let s = next_session(&mut sessions).await;
    assert!(s.attachment().is_none());
    s.set_attachment(Some(Arc::new("state".to_owned())));
    assert_eq!(s.clone().attachment().unwrap().downcast_ref::<String>().map(String::as_str), Some("state"));
}
