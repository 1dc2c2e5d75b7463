//! The chat demo: every message is broadcast unchanged to every session (the sender too),
//! and `GET /` serves a page that chats through it, with a live panel of the server's figures read
//! from `GET /stats` (see `chat/panel.rs`). `make demo` runs it on 127.0.0.1:9001.

#[path = "chat/panel.rs"]
mod panel;

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
    /// Pinger period in ms (the panel's latency comes from its round trips); 0 turns it off.
    #[arg(long, default_value_t = 2000)]
    ping_interval_ms: u64,
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

/// Starts the chat server and the panel's sampler.
fn start(args: Args) -> wssession_core::Result<Server> {
    let mut config = ServerConfig { host: args.host, port: args.port, ..ServerConfig::default() };
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
                    "/" => Decision::Respond(
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
    println!("wssession chat demo running.");
    println!("  Browser:   open http://{addr}/ (in two tabs to chat)");
    println!("  WebSocket: connect any client to ws://{addr}/ (e.g. `python3 -m websockets ws://{addr}/`)");
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

    fn get(url: &str) -> (String, String) {
        let mut response = ureq::get(url).call().expect("the chat server answers");
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        (content_type, response.body_mut().read_to_string().unwrap())
    }

    #[test]
    fn the_stats_path_shows_the_sessions_messages_and_latency_of_the_chat() {
        let args = Args { host: "127.0.0.1".into(), port: 0, no_deflate: false, ping_interval_ms: 20 };
        let server = start(args).unwrap();
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
