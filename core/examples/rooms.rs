//! Chat rooms as topics, shared across processes through a backplane.
//!
//! Every session joins a room (`/room/<name>`; the demo page's `/chat` is the room "lobby") and
//! what it sends is published to the room, on every process that shares the backplane. With a
//! Redis history (`?history=N&positions=1` in the URL), each message starts with its position
//! (`<offset>:<epoch>:`), and a client that reconnects with `?since=<offset>:<epoch>` first gets
//! what it missed (or is closed with 1008 if the history no longer has it: reload the room).
//!
//! Two processes on one port sharing rooms through Redis (`apt-get install redis-server`):
//! ```text
//! redis-server --port 6379 &
//! cargo run --example rooms -- --port 9002 --reuse-port --backplane redis://127.0.0.1:6379 &
//! cargo run --example rooms -- --port 9002 --reuse-port --backplane redis://127.0.0.1:6379 &
//! ```
//! then open http://127.0.0.1:9002/ in several tabs: the kernel spreads them over both processes
//! (each greets with its pid), and every tab sees every message.

use std::time::Duration;

use clap::Parser;
use wssession_core::{Accept, Decision, Handler, HttpResponse, Position, Server, ServerConfig, Session};

#[derive(Parser)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 9002)]
    port: u16,
    /// Share the port with other processes (SO_REUSEPORT).
    #[arg(long)]
    reuse_port: bool,
    /// Share rooms through this broker: redis://host:port[?history=N&positions=1] or nats://host:port.
    #[arg(long)]
    backplane: Option<String>,
}

const PAGE: &str = include_str!("chat.html");

/// The room a request joins: `/room/<name>`, else "lobby".
fn room_of(path: &str) -> String {
    path.strip_prefix("/room/").filter(|r| !r.is_empty()).unwrap_or("lobby").to_owned()
}

/// The position a reconnecting client resumes from (`?since=<offset>:<epoch>`).
fn since_of(query: Option<&str>) -> Option<Position> {
    query?.split('&').find_map(|kv| kv.strip_prefix("since="))?.parse().ok()
}

async fn room(session: Session) -> Result<(), wssession_core::HandlerError> {
    let request = session.request();
    let room = room_of(&request.path);
    match since_of(request.query.as_deref()) {
        Some(since) => {
            if let Err(e) = session.subscribe_from(&room, since).await {
                // The client's view of the room cannot be completed: it should reload it.
                session.close(1008, &format!("{e}; reload the room"))?;
                return Ok(());
            }
        }
        None => {
            session.subscribe(&room)?;
        }
    }
    session.send(wssession_core::Frame::text(format!("joined {room} on process {}", std::process::id()))).await?;
    let server = session.server().expect("accepted by the server");
    while let Some(frame) = session.recv().await? {
        if let Some(text) = frame.as_text() {
            // A slow member misses messages rather than stalling the room (the server's policy).
            server.publish(&room, text.as_bytes(), true, None)?;
        }
    }
    Ok(())
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        reuse_port: args.reuse_port,
        backplane: args.backplane,
        ..ServerConfig::default()
    };
    let server = Server::builder_with(config)
        .fallback(Handler::task(room))
        .accept_hook(|req| async move {
            if req.path == "/" && !req.is_upgrade() {
                Decision::Respond(HttpResponse::new(200, PAGE).with_header("Content-Type", "text/html; charset=utf-8"))
            } else {
                Decision::Accept(Accept::default())
            }
        })
        .start_blocking()?;
    let addr = server.local_addr();
    println!("wssession rooms running on process {}.", std::process::id());
    println!("  Browser:   open http://{addr}/ (room \"lobby\")");
    println!("  WebSocket: ws://{addr}/room/<name> (add ?since=<offset>:<epoch> to resume with a Redis history)");
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        server.shutdown(Duration::from_secs(5)).await;
    })
}
