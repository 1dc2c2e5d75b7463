//! fastwebsockets echo server. The upgrade is answered by our few lines of HTTP (as
//! fastwebsockets' own hyper-free users do); frames are fastwebsockets' from then on.

use clap::Parser;
use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wssession_bench::handshake;
use wssession_bench::server::{self, ServerArgs};

fn main() -> io::Result<()> {
    let args = ServerArgs::parse();
    if args.deflate {
        eprintln!("note: fastwebsockets has no permessage-deflate; serving uncompressed");
    }
    server::run(&args, |s| async move {
        let _ = serve(s).await;
    })
}

/// Handshake, then echo data frames until close.
async fn serve(mut s: TcpStream) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    upgrade(&mut s).await?;
    let mut ws = WebSocket::after_handshake(s, Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

/// Reads the request head and writes the 101. Clients here wait for the 101 before
/// sending frames, so nothing is read past the head.
async fn upgrade(s: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while handshake::head_end(&head).is_none() {
        let n = s.read(&mut chunk).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(io::ErrorKind::InvalidData.into());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let resp = handshake::server_response(&head).ok_or(io::ErrorKind::InvalidData)?;
    s.write_all(resp.as_bytes()).await
}
