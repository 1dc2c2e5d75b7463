//! Issue 12 (Python's `sock=`): a server accepts on a listening socket the host bound itself.
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Handler, ServerBuilder, ServerConfig};

#[tokio::test]
async fn a_server_accepts_on_a_listener_the_host_bound() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // host/port in the config are the listener's now, whatever they say.
    let config = ServerConfig { port: 1, ..ServerConfig::default() };
    let server = ServerBuilder::new(config).fallback(Handler::events(Echo)).start_on(listener).await.unwrap();
    assert_eq!(server.local_addr(), addr);
    assert!(!server.is_detached());
    let mut client = connect(&server).await;
    send(&mut client, Message::text("on your socket")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("on your socket")));
    server.close();
    within(server.wait()).await;
    assert!(refuses_connections(addr).await, "closing the server closed the listener");
}

#[test]
fn start_on_blocking_works_outside_any_runtime() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        ServerBuilder::new(ServerConfig::default()).fallback(Handler::events(Echo)).start_on_blocking(listener);
    assert_eq!(server.unwrap().local_addr(), addr);
}
