//! tokio-tungstenite fan-out server (the plain Rust loop the topics benchmark compares with): a
//! connection to `/sub/<topic>` joins `<topic>`; each message from `/pub` is sent to every member of
//! the topic named by its text up to the first space. One writer task per subscriber drains its
//! channel with `feed` and flushes once the channel is empty, so writes are batched per socket;
//! the message is shared (tungstenite's `Bytes`), framed once per subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use wssession_bench::server::{self, ServerArgs};

type Topics = Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Message>>>>>;

fn main() -> std::io::Result<()> {
    let args = ServerArgs::parse();
    let topics = Topics::default();
    server::run(&args, move |s| serve(s, topics.clone()))
}

// The handshake callback's error type is tungstenite's (an HTTP response), not ours to shrink.
#[allow(clippy::result_large_err)]
async fn serve(s: TcpStream, topics: Topics) {
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    if let Some(topic) = path.strip_prefix("/sub/") {
        let (tx, mut rx) = mpsc::unbounded_channel();
        topics.lock().unwrap().entry(topic.to_owned()).or_default().push(tx);
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.feed(m).await.is_err() {
                    return;
                }
                while let Ok(m) = rx.try_recv() {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        while let Some(Ok(m)) = stream.next().await {
            if m.is_close() {
                break;
            }
        }
        return;
    }
    while let Some(Ok(m)) = stream.next().await {
        let data = match &m {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => &b[..],
            Message::Close(_) => break,
            _ => continue,
        };
        let end = data.iter().position(|&b| b == b' ').unwrap_or(data.len());
        let Ok(topic) = std::str::from_utf8(&data[..end]) else { continue };
        let mut map = topics.lock().unwrap();
        if let Some(subs) = map.get_mut(topic) {
            subs.retain(|tx| tx.send(m.clone()).is_ok());
        }
    }
}
