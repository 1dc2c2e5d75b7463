//! The chat demo: every message is broadcast unchanged to every session (the sender too),
//! and `GET /` serves a page that chats through it. `make demo` runs it on 127.0.0.1:9001.

use std::time::Duration;

use clap::Parser;
use wssession_core::{Accept, Decision, DeflateConfig, Handler, HttpResponse, Server, ServerConfig, Session};

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
}

const PAGE: &str = include_str!("chat.html");

async fn chat(session: Session) -> Result<(), wssession_core::HandlerError> {
    while let Some(frame) = session.recv().await? {
        let Some(server) = session.server() else { break };
        for peer in server.sessions() {
            // A peer that cannot keep up loses messages rather than stalling the room.
            let _ = peer.try_send(frame.clone());
        }
    }
    Ok(())
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    let mut config = ServerConfig { host: args.host, port: args.port, ..ServerConfig::default() };
    if !args.no_deflate {
        config.deflate = DeflateConfig::enabled();
    }
    let server = Server::builder_with(config)
        .fallback(Handler::task(chat))
        .accept_hook(|req| async move {
            if req.path == "/" && !req.is_upgrade() {
                Decision::Respond(HttpResponse::new(200, PAGE).with_header("Content-Type", "text/html; charset=utf-8"))
            } else {
                Decision::Accept(Accept::default())
            }
        })
        .start_blocking()?;
    let addr = server.local_addr();
    println!("wssession chat demo running.");
    println!("  Browser:   open http://{addr}/ (in two tabs to chat)");
    println!("  WebSocket: connect any client to ws://{addr}/ (e.g. `python3 -m websockets ws://{addr}/`)");
    println!("  Ctrl-C stops it (every session gets Close 1001).");
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        println!("shutting down: sending 1001 to {} session(s)", server.session_count());
        server.shutdown(Duration::from_secs(5)).await;
    })
}
