//! SPEC 2.3: path routing (404 otherwise) and an accept hook that may reject with status, headers and
//! body, serve content, choose the subprotocol, set per-session options and the handler.
mod common;

use std::sync::Arc;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wssession_core::{
    Accept, Decision, EventHandler, Frame, Handler, HttpResponse, ServerBuilder, ServerConfig, Session,
};

/// Answers every message with a fixed tag, to tell handlers apart.
struct Tag(&'static str);

impl EventHandler for Tag {
    fn on_message(&self, session: &Session, _: Frame) {
        let _ = session.try_send(Frame::text(self.0));
    }
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n";

async fn tag_at(server: &wssession_core::Server, path: &str) -> Option<Message> {
    let url = format!("ws://{}{path}", server.local_addr());
    let (mut c, _) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    send(&mut c, Message::text("who?")).await;
    next(&mut c).await
}

#[tokio::test]
async fn paths_route_to_their_handlers_and_unknown_paths_get_404() {
    let server = ServerBuilder::new(ServerConfig::default())
        .route("/chat", Handler::events(Tag("chat")))
        .route("/feed", Handler::events(Tag("feed")))
        .start()
        .await
        .unwrap();
    assert_eq!(tag_at(&server, "/chat").await, Some(Message::text("chat")));
    assert_eq!(tag_at(&server, "/feed?since=1").await, Some(Message::text("feed")));
    let (status, _) =
        http_exchange(&server, format!("GET /nope HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").as_bytes()).await;
    assert_eq!(status, 404);
    assert_eq!(tag_at(&server, "/chat").await, Some(Message::text("chat")), "still serving");
}

#[tokio::test]
async fn a_fallback_serves_every_path_without_its_own_route() {
    let server = ServerBuilder::new(ServerConfig::default())
        .route("/chat", Handler::events(Tag("chat")))
        .fallback(Handler::events(Tag("any")))
        .start()
        .await
        .unwrap();
    assert_eq!(tag_at(&server, "/elsewhere").await, Some(Message::text("any")));
    assert_eq!(tag_at(&server, "/chat").await, Some(Message::text("chat")));
}

#[tokio::test]
async fn the_accept_hook_rejects_with_its_status_headers_and_body() {
    let server = ServerBuilder::new(ServerConfig::default())
        .fallback(Handler::events(Echo))
        .accept_hook(|req| async move {
            if req.headers.get("authorization") == Some("Bearer ok") {
                Decision::Accept(Accept::default())
            } else {
                Decision::Respond(HttpResponse::new(401, "who are you?").with_header("WWW-Authenticate", "Bearer"))
            }
        })
        .start()
        .await
        .unwrap();
    let (status, text) = http_exchange(&server, format!("GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").as_bytes()).await;
    assert_eq!(status, 401);
    assert!(text.contains("WWW-Authenticate: Bearer\r\n"), "{text}");
    assert!(text.ends_with("who are you?"), "{text}");
    let mut ok = Raw::connect_with(&server, "Authorization: Bearer ok\r\n").await;
    ok.frame(0x1, true, b"in").await;
    assert_eq!(ok.read_frame().await.unwrap().1, b"in");
}

#[tokio::test]
async fn the_accept_hook_sees_plain_requests_and_may_serve_content() {
    let server = ServerBuilder::new(ServerConfig::default())
        .fallback(Handler::events(Echo))
        .accept_hook(|req| async move {
            if req.is_upgrade() {
                Decision::Accept(Accept::default())
            } else {
                Decision::Respond(HttpResponse::new(200, format!("page at {}", req.path)))
            }
        })
        .start()
        .await
        .unwrap();
    let (status, text) = http_exchange(&server, b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(text.ends_with("page at /index.html"), "{text}");
    assert!(still_serves(&server).await);
}

#[tokio::test]
async fn the_accept_hook_chooses_the_subprotocol_options_handler_and_attachment() {
    let server = ServerBuilder::new(ServerConfig::default())
        .route("/", Handler::events(Tag("route")))
        .accept_hook(|req| async move {
            let offered = req.offered_subprotocols();
            let config = wssession_core::SessionConfig { max_frame_size: 10, ..Default::default() };
            Decision::Accept(Accept {
                subprotocol: offered.iter().find(|p| *p == "v2").cloned(),
                config: Some(config),
                handler: Some(Handler::events(Tag("hook"))),
                headers: vec![("X-Chosen".into(), "yes".into())],
                attachment: Some(Arc::new(42u32)),
                ..Accept::default()
            })
        })
        .start()
        .await
        .unwrap();
    let mut request = url(&server).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "v1, v2".parse().unwrap());
    let (mut c, response) = within(tokio_tungstenite::connect_async(request)).await.unwrap();
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "v2");
    assert_eq!(response.headers().get("x-chosen").unwrap(), "yes");
    send(&mut c, Message::text("hi")).await;
    assert_eq!(next(&mut c).await, Some(Message::text("hook")), "the hook's handler overrides the route");
    let session = server.sessions().pop().unwrap();
    assert_eq!(session.request().subprotocol.as_deref(), Some("v2"));
    assert_eq!(session.max_frame_size(), 10, "per-session options apply");
    assert_eq!(session.attachment().unwrap().downcast_ref::<u32>(), Some(&42));
    // The per-session limit is live: 11 bytes are too many.
    send(&mut c, Message::text("0123456789a")).await;
    match next(&mut c).await {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1009),
        other => panic!("expected Close(1009), got {other:?}"),
    }
}

#[tokio::test]
async fn an_accept_hook_that_never_decides_gets_503_within_the_handshake_timeout() {
    let config = ServerConfig { handshake_timeout: std::time::Duration::from_millis(200), ..ServerConfig::default() };
    let server = ServerBuilder::new(config)
        .fallback(Handler::events(Echo))
        .accept_hook(|_| std::future::pending::<Decision>())
        .start()
        .await
        .unwrap();
    let (status, text) = http_exchange(&server, format!("GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").as_bytes()).await;
    assert_eq!(status, 503, "{text}");
    eventually(|| server.connection_count() == 0).await;
}
