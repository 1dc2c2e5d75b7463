//! Scenario server for the interop tests: one endpoint (path) per server-side behaviour of SPEC §6,
//! so real clients (Python `websockets`, Node `ws`, a browser) can observe each close path.
//!
//! `cargo run --release -p wssession-core --example scenarios -- --port 0`; it prints
//! `scenarios server listening on ws://127.0.0.1:PORT/` once bound. Every path offers permessage-deflate.
//!
//! | path | behaviour |
//! |---|---|
//! | `/echo` (and any unknown path) | echoes every message unchanged |
//! | `/close-1000-after-first` | echoes the first message, then the handler returns: Close 1000 |
//! | `/close-4000-after-first` | echoes the first message, then `close(4000, "custom reason")` |
//! | `/raise` | echoes the first message, then the handler fails: Close 1011 |
//! | `/terminate` | echoes the first message, then `terminate()`: no Close frame (client sees 1006) |
//! | `/max-1k` | echo with `max_frame_size = 1024`: a bigger message gets Close 1009 |
//! | `/ping-timeout` | pings every 200 ms, expects the Pong within 300 ms, else Close 1011 "ping timeout" |
//! | `GET /spawn-shutdown` (plain HTTP) | starts a fresh server on an ephemeral port and answers its port; that server echoes the first message of a session, then shuts down: Close 1001 |

use std::time::Duration;

use clap::Parser;
use wssession_core::{
    Accept, Decision, DeflateConfig, Handler, HandlerError, HttpResponse, Request, Server, ServerConfig, Session,
    SessionConfig,
};

#[derive(Parser)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

/// Echoes every message until the peer closes.
async fn echo(session: Session) -> Result<(), HandlerError> {
    while let Some(frame) = session.recv().await? {
        session.send(frame).await?;
    }
    Ok(())
}

/// Echoes the first message and reports whether there was one.
async fn echo_first(session: &Session) -> Result<bool, HandlerError> {
    match session.recv().await? {
        Some(frame) => {
            session.send(frame).await?;
            session.flush().await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Drains the session until it ends (after a close was queued).
async fn drain(session: &Session) {
    while let Ok(Some(_)) = session.recv().await {}
}

fn handler_for(path: &str) -> Handler {
    match path {
        "/close-1000-after-first" => Handler::task(|s| async move {
            echo_first(&s).await?;
            Ok(())
        }),
        "/close-4000-after-first" => Handler::task(|s| async move {
            if echo_first(&s).await? {
                s.close(4000, "custom reason")?;
                drain(&s).await;
            }
            Ok(())
        }),
        "/raise" => Handler::task(|s| async move {
            echo_first(&s).await?;
            Err("scenario handler failed on purpose".into())
        }),
        "/terminate" => Handler::task(|s| async move {
            if echo_first(&s).await? {
                s.terminate();
            }
            Ok(())
        }),
        _ => Handler::task(echo),
    }
}

fn session_config_for(path: &str) -> Option<SessionConfig> {
    match path {
        "/max-1k" => Some(SessionConfig { max_frame_size: 1024, ..SessionConfig::default() }),
        "/ping-timeout" => Some(SessionConfig { ping_interval_ms: 200, timeout_ms: 300, ..SessionConfig::default() }),
        _ => None,
    }
}

fn config(host: &str, port: u16) -> ServerConfig {
    ServerConfig { host: host.to_owned(), port, deflate: DeflateConfig::enabled(), ..ServerConfig::default() }
}

/// A one-off server whose sessions echo one message, then shut the whole server down (1001 to all).
async fn spawn_shutdown_server(host: String) -> wssession_core::Result<u16> {
    let server = Server::builder_with(config(&host, 0))
        .fallback(Handler::task(|s| async move {
            if echo_first(&s).await?
                && let Some(server) = s.server()
            {
                wssession_core::runtime::spawn(async move { server.shutdown(Duration::from_secs(2)).await });
            }
            drain(&s).await;
            Ok(())
        }))
        .start()
        .await?;
    Ok(server.port())
}

async fn decide(req: Request, host: String) -> Decision {
    if !req.is_upgrade() && req.path == "/spawn-shutdown" {
        return match spawn_shutdown_server(host).await {
            Ok(port) => Decision::Respond(HttpResponse::new(200, port.to_string())),
            Err(e) => Decision::Respond(HttpResponse::new(500, e.to_string())),
        };
    }
    Decision::Accept(Accept {
        handler: Some(handler_for(&req.path)),
        config: session_config_for(&req.path),
        ..Accept::default()
    })
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    let host = args.host.clone();
    let server = Server::builder_with(config(&args.host, args.port))
        .fallback(Handler::task(echo))
        .accept_hook(move |req| decide(req, host.clone()))
        .start_blocking()?;
    println!("scenarios server listening on ws://{}/", server.local_addr());
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        server.shutdown(Duration::from_secs(2)).await;
    })
}
