//! The chat demo: chat rooms as topics. A session joins one room (`?room=<name>`, or the path
//! `/room/<name>`; "lobby" otherwise) and every message it sends is published to the room, the
//! sender included; `GET /` serves a page that chats through it (`/?room=<name>` for another room),
//! with a live panel of the server's figures read from `GET /stats` (see `chat/panel.rs`).
//! `make demo` runs it on 127.0.0.1:9001.
//!
//! With `--backplane redis://host:port` (or `nats://`) several processes share the rooms, and with
//! `--reuse-port` they share one port (`make demo-rooms` starts one such process; run it twice). With a
//! Redis history (`redis://host:port?history=N&positions=1`) every message starts with its position
//! (`<offset>:<epoch>:`), and a client that reconnects with `?since=<offset>:<epoch>` first gets what it
//! missed, or is closed with 1008 when the history no longer has it (reload the room).

#[path = "chat/panel.rs"]
mod panel;

/// The real redis-server of the Rust suites, for the tests below.
#[cfg(test)]
#[allow(dead_code)] // the tests use the broker, not every helper of the suites
#[path = "../tests/common/brokers.rs"]
mod brokers;

use std::time::Duration;

use clap::Parser;
use wssession_core::{
    Accept, Decision, DeflateConfig, FrameType, Handler, HttpResponse, Position, Request, Server, ServerConfig, Session,
};

#[derive(Parser)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
    /// Pinger period in ms (the panel's latency comes from its round trips); 0 turns it off.
    #[arg(long, default_value_t = 2000)]
    ping_interval_ms: u64,
    /// Share rooms with other processes through this broker: redis://host:port[?history=N&positions=1]
    /// or nats://host:port (BACKPLANE.md).
    #[arg(long)]
    backplane: Option<String>,
    /// Share the port with other processes (SO_REUSEPORT): the kernel spreads connections over them.
    #[arg(long)]
    reuse_port: bool,
}

const PAGE: &str = include_str!("chat.html");

/// A query parameter's value (`name=value`, not percent-decoded: room names and positions need none).
fn query_param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query.as_deref()?.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The room a request joins: `?room=<name>`, else `/room/<name>`, else "lobby".
fn room_of(request: &Request) -> String {
    let from_path = request.path.strip_prefix("/room/");
    query_param(request, "room").or(from_path).filter(|r| !r.is_empty()).unwrap_or("lobby").to_owned()
}

async fn chat(session: Session) -> Result<(), wssession_core::HandlerError> {
    let request = session.request();
    let room = room_of(request);
    match query_param(request, "since") {
        Some(since) => {
            let resumed = match since.parse::<Position>() {
                Ok(since) => session.subscribe_from(&room, since).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = resumed {
                // The client's view of the room cannot be completed: it should reload it.
                session.close(1008, &format!("{e}; reload the room"))?;
                return Ok(());
            }
        }
        None => {
            session.subscribe(&room)?;
        }
    }
    let Some(server) = session.server() else { return Ok(()) };
    while let Some(frame) = session.recv().await? {
        // A member that cannot keep up loses messages rather than stalling the room (the server's
        // slow-subscriber policy); the sender gets its own message back, as everyone in the room.
        server.publish(&room, &frame.data, frame.kind == FrameType::Text, None)?;
    }
    Ok(())
}

/// Starts the chat server and the panel's sampler.
fn start(args: Args) -> wssession_core::Result<Server> {
    let mut config = ServerConfig {
        host: args.host,
        port: args.port,
        reuse_port: args.reuse_port,
        backplane: args.backplane,
        ..ServerConfig::default()
    };
    if !args.no_deflate {
        config.deflate = DeflateConfig::enabled();
    }
    config.session.ping_interval_ms = args.ping_interval_ms;
    let panel = panel::Panel::default();
    let figures = panel.clone();
    let server = Server::builder_with(config)
        .fallback(Handler::task(chat))
        .accept_hook(move |req| {
            let figures = figures.clone();
            async move {
                match req.path.as_str() {
                    _ if req.is_upgrade() => Decision::Accept(Accept::default()),
                    path if path == "/" || path.starts_with("/room/") => Decision::Respond(
                        HttpResponse::new(200, PAGE).with_header("Content-Type", "text/html; charset=utf-8"),
                    ),
                    "/stats" => Decision::Respond(
                        HttpResponse::new(200, figures.json())
                            .with_header("Content-Type", "application/json")
                            .with_header("Cache-Control", "no-store"),
                    ),
                    _ => Decision::Accept(Accept::default()),
                }
            }
        })
        .start_blocking()?;
    wssession_core::runtime::spawn(panel.sample(server.clone()));
    Ok(server)
}

fn main() -> wssession_core::Result<()> {
    let server = start(Args::parse())?;
    let addr = server.local_addr();
    println!("wssession chat demo running (process {}).", std::process::id());
    println!("  Browser:   open http://{addr}/ (in two tabs to chat; http://{addr}/?room=NAME for another room)");
    println!("  WebSocket: connect any client to ws://{addr}/?room=NAME (e.g. `python3 -m websockets ws://{addr}/`)");
    println!("  Figures:   the page's panel, or http://{addr}/stats (JSON, sampled once a second)");
    println!("  Ctrl-C stops it (every session gets Close 1001).");
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        println!("shutting down: sending 1001 to {} session(s)", server.session_count());
        server.shutdown(Duration::from_secs(5)).await;
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    use super::brokers;

    fn args(ping_interval_ms: u64, backplane: Option<String>) -> Args {
        Args { host: "127.0.0.1".into(), port: 0, no_deflate: false, ping_interval_ms, backplane, reuse_port: false }
    }

    type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn join(server: &Server, path: &str) -> Client {
        tokio_tungstenite::connect_async(format!("ws://{}{path}", server.local_addr())).await.unwrap().0
    }

    async fn next_text(ws: &mut Client) -> String {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a message in time");
        message.unwrap().unwrap().into_text().unwrap().to_string()
    }

    #[test]
    fn rooms_are_topics_shared_by_two_processes_through_one_redis() {
        let broker = brokers::Broker::start(brokers::Kind::Redis);
        let a = start(args(0, Some(broker.url("")))).unwrap();
        let b = start(args(0, Some(broker.url("")))).unwrap();
        let (a2, b2) = (a.clone(), b.clone());
        wssession_core::runtime::block_on(async move {
            let mut lobby_a = join(&a2, "/chat").await;
            let mut lobby_b = join(&b2, "/room/lobby").await;
            let mut other_b = join(&b2, "/chat?room=other").await;
            // Each process follows the room on Redis once it has a member there.
            let mut redis = broker.redis();
            assert!(brokers::wait_until(Duration::from_secs(5), || {
                let counts: Vec<(String, u64)> =
                    redis::cmd("PUBSUB").arg("NUMSUB").arg("wss:c:lobby").query(&mut redis).unwrap();
                counts[0].1 == 2
            }));
            lobby_a.send(Message::text("hello from a")).await.unwrap();
            assert_eq!(next_text(&mut lobby_a).await, "hello from a"); // the sender too
            assert_eq!(next_text(&mut lobby_b).await, "hello from a"); // the other process's member
            other_b.send(Message::text("elsewhere")).await.unwrap();
            assert_eq!(next_text(&mut other_b).await, "elsewhere");
            lobby_b.send(Message::text("hello from b")).await.unwrap();
            // The lobby never saw the other room's message: its next one is b's.
            assert_eq!(next_text(&mut lobby_a).await, "hello from b");
            assert_eq!(next_text(&mut lobby_b).await, "hello from b");
        })
        .unwrap();
        for server in [a, b] {
            wssession_core::runtime::block_on(async move { server.shutdown(Duration::from_secs(1)).await }).unwrap();
        }
    }

    #[test]
    fn a_reconnecting_member_resumes_its_room_from_its_last_position() {
        let broker = brokers::Broker::start(brokers::Kind::Redis);
        let server = start(args(0, Some(broker.url("history=100&positions=1")))).unwrap();
        let s = server.clone();
        wssession_core::runtime::block_on(async move {
            assert!(brokers::wait_until(Duration::from_secs(5), || s.stats().backplane.connected));
            let mut first = join(&s, "/?room=r").await;
            let mut other = join(&s, "/?room=r").await;
            assert!(brokers::wait_until(Duration::from_secs(5), || s.stats().backplane.topics == 1));
            first.send(Message::text("one")).await.unwrap();
            let seen = next_text(&mut first).await;
            let (last, text) = Position::split_prefixed(seen.as_bytes()).unwrap();
            assert_eq!(text, b"one");
            assert_eq!(next_text(&mut other).await, seen);
            first.close(None).await.unwrap();
            other.send(Message::text("two")).await.unwrap();
            assert!(next_text(&mut other).await.ends_with(":two"));
            let mut again = join(&s, &format!("/?room=r&since={last}")).await;
            let missed = next_text(&mut again).await;
            assert_eq!(Position::split_prefixed(missed.as_bytes()).unwrap().0.offset, last.offset + 1);
            assert!(missed.ends_with(":two"), "{missed}");
            let mut stale = join(&s, "/?room=r&since=1:not-this-epoch").await;
            let closed = tokio::time::timeout(Duration::from_secs(5), stale.next()).await.unwrap().unwrap().unwrap();
            assert!(matches!(closed, Message::Close(Some(ref f)) if u16::from(f.code) == 1008), "{closed:?}");
        })
        .unwrap();
        wssession_core::runtime::block_on(async move { server.shutdown(Duration::from_secs(1)).await }).unwrap();
    }

    fn get(url: &str) -> (String, String) {
        let mut response = ureq::get(url).call().expect("the chat server answers");
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        (content_type, response.body_mut().read_to_string().unwrap())
    }

    #[test]
    fn the_stats_path_shows_the_sessions_messages_and_latency_of_the_chat() {
        let server = start(args(20, None)).unwrap();
        let addr = server.local_addr();
        let (page_type, page) = get(&format!("http://{addr}/"));
        assert!(page_type.starts_with("text/html") && page.contains("id=\"panel\""), "{page_type}");
        let client = wssession_core::runtime::block_on(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/chat")).await.unwrap();
            ws.send(Message::text("hello")).await.unwrap();
            assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
            // Reading in the background answers the pinger's Pings.
            tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
        })
        .unwrap();
        // The sampler publishes once a second: wait (bounded) for a sample that has seen the message and a Pong.
        let deadline = Instant::now() + Duration::from_secs(15);
        let figures = loop {
            let (content_type, body) = get(&format!("http://{addr}/stats"));
            assert_eq!(content_type, "application/json");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["messages"] == 1 && v["latency_ms"].is_f64() {
                break v;
            }
            assert!(Instant::now() < deadline, "no sample with the message and a latency: {body}");
            std::thread::sleep(panel::PERIOD / 4);
        };
        assert_eq!(figures["sessions"], 1, "{figures}");
        assert!(figures["latency_ms"].as_f64().unwrap() >= 0.0, "{figures}");
        assert_eq!(figures["close_codes"], serde_json::json!({}), "{figures}");
        client.abort();
        wssession_core::runtime::block_on(async move { server.shutdown(Duration::from_secs(1)).await }).unwrap();
    }
}
