//! What every peer echo server shares: its command line, its runtime and its listener.
//!
//! Runtime choice: the harness pins each server to one core (`taskset -c 0`), so all
//! Rust peers use a **current-thread** tokio runtime by default; `--workers N` switches
//! to a multi-thread runtime with N workers for experiments. The same default holds for
//! every peer so none pays for cross-thread wakeups the others avoid.

use crate::rlimit;
use clap::Parser;
use std::future::Future;
use std::io;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::{Builder, Runtime};

/// Command line of a peer echo server.
#[derive(Parser, Debug)]
pub struct ServerArgs {
    /// TCP port on 127.0.0.1.
    #[arg(long)]
    pub port: u16,
    /// 0: current-thread runtime (default); N: multi-thread runtime with N workers.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Offer permessage-deflate (ignored, with a note, by peers that cannot).
    #[arg(long)]
    pub deflate: bool,
}

impl ServerArgs {
    /// The runtime selected by `--workers`.
    pub fn runtime(&self) -> io::Result<Runtime> {
        if self.workers == 0 {
            Builder::new_current_thread().enable_all().build()
        } else {
            Builder::new_multi_thread().worker_threads(self.workers).enable_all().build()
        }
    }
}

/// Runs the server `args` asks for: accepts forever on its port and spawns `handle` for each
/// connection (TCP_NODELAY set, as every server in the matrix does).
pub fn run<F, Fut>(args: &ServerArgs, handle: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    args.runtime()?.block_on(async {
        let listener = listen(args.port)?;
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(handle(s));
                }
                Err(e) => accept_failed(e).await,
            }
        }
    })
}

/// Binds 127.0.0.1:`port` with a deep backlog (for churn and 10,000-connection runs).
fn listen(port: u16) -> io::Result<TcpListener> {
    let _ = rlimit::raise_nofile(65_536);
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    socket.listen(4096)
}

/// Logs an accept error and backs off briefly (EMFILE would otherwise spin).
async fn accept_failed(e: io::Error) {
    eprintln!("accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}
