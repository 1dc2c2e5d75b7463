//! Raw TCP echo: the loopback ceiling every WebSocket server is compared with.

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wssession_bench::server::{self, ServerArgs};

fn main() -> std::io::Result<()> {
    server::run(&ServerArgs::parse(), echo)
}

/// Writes back every byte read until the peer closes.
async fn echo(mut s: TcpStream) {
    // The first read lands in a small array and the 64 KiB buffer comes after it, so
    // an idle connection costs about what the socket and task cost.
    let mut first = [0u8; 512];
    let n = match s.read(&mut first).await {
        Ok(n) if n > 0 => n,
        _ => return,
    };
    if s.write_all(&first[..n]).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}
