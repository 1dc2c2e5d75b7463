//! The core's scenario server for the cross-surface suite (`tests/surfaces`): the behaviours every
//! surface exposes by the same control messages (see `tests/surfaces/README.md`).
//!
//! `cargo run --release -p wssession-core --example scenario_server -- --port PORT [--tls CERT KEY]`

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};
use wssession_core::{
    Accept, CloseReason, Converter, Decision, DeflateConfig, Error, EventHandler, Frame, Handler, HandlerError,
    HttpResponse, JsonConverter, Request, Server, ServerConfig, Session, SessionConfig, TlsConfig, TrySend,
};

#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve wss:// with this PEM certificate and key.
    #[arg(long, num_args = 2, value_names = ["CERT", "KEY"])]
    tls: Option<Vec<String>>,
}

/// Process-wide notes the driver reads back with `!note KEY` (close reasons, flush states, ...).
static NOTES: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Mutex::default);

fn note(key: String, value: impl Into<String>) {
    NOTES.lock().unwrap().insert(key, value.into());
}

fn reason_text(r: &CloseReason) -> String {
    format!("{} {} {}", r.code, r.initiator.as_str(), r.reason)
}

/// The custom converter of the suite: `custom:` + JSON in a Binary frame.
struct Custom;

impl Converter for Custom {
    fn serialize(&self, value: &Value) -> wssession_core::Result<Frame> {
        Ok(Frame::binary(format!("custom:{value}").into_bytes()))
    }

    fn deserialize(&self, frame: &Frame) -> wssession_core::Result<Value> {
        let body = frame.data.strip_prefix(b"custom:").unwrap_or(&frame.data);
        serde_json::from_slice(body)
            .map_err(|e| Error::Deserialize { frame: Box::new(frame.clone()), message: e.to_string() })
    }
}

fn outcome(r: &wssession_core::Result<()>) -> &'static str {
    match r {
        Ok(()) => "sent",
        Err(Error::Closed(_)) => "closed",
        Err(_) => "error",
    }
}

fn refused<T>(r: wssession_core::Result<T>) -> &'static str {
    if r.is_err() { "invalid" } else { "accepted" }
}

async fn reply(s: &Session, text: impl Into<String>) -> Result<(), HandlerError> {
    Ok(s.send(Frame::text(text.into())).await?)
}

/// Runs one control message; `Ok(false)` ends the handler normally.
async fn command(s: &Session, tag: &mut String, line: &str) -> Result<bool, HandlerError> {
    let mut words = line.split(' ');
    let name = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let arg = |i: usize| rest.get(i).copied().unwrap_or_default();
    let num = |i: usize| arg(i).parse::<u64>().unwrap_or_default();
    match name {
        "tag" => {
            *tag = arg(0).to_owned();
            let (s2, key) = (s.clone(), format!("close:{tag}"));
            wssession_core::runtime::spawn(async move { note(key, reason_text(&s2.close_reason().await)) });
            reply(s, "ok").await?;
        }
        "note" => {
            let value = NOTES.lock().unwrap().get(arg(0)).cloned().unwrap_or_else(|| "-".into());
            reply(s, value).await?;
        }
        "masking" => {
            s.set_masking(arg(0) == "1");
            reply(s, "ok").await?;
        }
        "max_frame_size" => {
            s.set_max_frame_size(num(0) as usize)?;
            reply(s, "ok").await?;
        }
        "ping_interval" => {
            s.set_ping_interval_ms(num(0));
            reply(s, "ok").await?;
        }
        "timeout" => {
            s.set_timeout_ms(num(0))?;
            reply(s, "ok").await?;
        }
        "close_timeout" => {
            s.set_close_timeout_ms(num(0));
            reply(s, "ok").await?;
        }
        "latency" => {
            let text = s.latency().map_or("none".into(), |d| format!("{:.3}", d.as_secs_f64() * 1000.0));
            reply(s, text).await?;
        }
        "fragments" => {
            for (i, word) in rest.iter().enumerate() {
                s.send(Frame::text(*word).with_fin(i + 1 == rest.len())).await?;
            }
        }
        "close" => s.close(num(0) as u16, &rest[1..].join(" "))?,
        "terminate" => s.terminate(),
        "return" => return Ok(false),
        "raise" => return Err("scenario handler failed on purpose".into()),
        "flush" => {
            let key = format!("flush:{tag}");
            note(key.clone(), "sending");
            s.send(Frame::binary(vec![7u8; num(0) as usize])).await?;
            note(key.clone(), "flushing");
            let r = s.flush().await;
            note(key, if r.is_ok() { "flushed" } else { "error" });
        }
        "send_wait" => {
            let key = format!("send:{tag}");
            note(key.clone(), "0");
            for i in 0..num(1) {
                let mut data = vec![0u8; num(0) as usize];
                data[0] = (i % 256) as u8;
                if s.send(Frame::binary(data)).await.is_err() {
                    note(key, "error");
                    return Ok(true);
                }
                note(key.clone(), (i + 1).to_string());
            }
        }
        "serialize" => match s.send_serialized(&json!({"n": 1, "s": "é"})).await {
            Err(Error::NoConverter) => reply(s, "error:no_converter").await?,
            r => r?,
        },
        "deserialize" => match s.receive_deserialized::<Value>().await {
            Ok(v) => s.send_serialized(&json!({ "got": v })).await?,
            Err(Error::Deserialize { frame, .. }) => {
                reply(s, format!("error:deserialize {}", String::from_utf8_lossy(&frame.data))).await?
            }
            Err(e) => return Err(e.into()),
        },
        "converter" => {
            s.set_converter(match arg(0) {
                "custom" => Some(Arc::new(Custom)),
                "none" => None,
                _ => Some(Arc::new(JsonConverter)),
            });
            reply(s, "ok").await?;
        }
        "after_close" => {
            s.close(1000, "after")?;
            note(format!("after_close_send:{tag}"), outcome(&s.send(Frame::text("x")).await));
            note(format!("after_close_ser:{tag}"), outcome(&s.send_serialized(&json!(1)).await));
        }
        "bad_args" => {
            let answers = [
                refused(s.close(1005, "")),
                refused(s.close(1000, &"r".repeat(124))),
                refused(s.send(Frame::ping(vec![0u8; 126])).await),
            ];
            reply(s, answers.join(" ")).await?;
        }
        "shutdown" => {
            if let Some(server) = s.server() {
                wssession_core::runtime::spawn(async move { server.shutdown(Duration::from_secs(2)).await });
            }
        }
        "events_port" => reply(s, s.request().local_addr.port().to_string()).await?,
        "application" => reply(s, s.server().map_or("none".into(), |a| a.port().to_string())).await?,
        "subprotocol" => reply(s, s.request().subprotocol.clone().unwrap_or_else(|| "none".into())).await?,
        "tls" => reply(s, s.request().tls.to_string()).await?,
        "subscribe" => reply(s, s.subscribe(arg(0))?.to_string()).await?,
        "unsubscribe" => reply(s, s.unsubscribe(arg(0)).to_string()).await?,
        "topics" => {
            let topics = s.subscriptions().join(",");
            reply(s, if topics.is_empty() { "-".into() } else { topics }).await?
        }
        "publish" => {
            s.publish(arg(0), rest.get(1..).unwrap_or_default().join(" ").as_bytes(), true, None)?;
            reply(s, "ok").await?
        }
        "server_publish" => {
            let server = s.server().ok_or("no server")?;
            let published =
                server.publish(arg(0), rest.get(1..).unwrap_or_default().join(" ").as_bytes(), true, None)?;
            reply(s, published.delivered.to_string()).await?
        }
        "subscribers" => reply(s, s.server().map_or(0, |a| a.subscriber_count(arg(0))).to_string()).await?,
        "call" => {
            let req = s.request();
            let tests: Vec<&str> = req.headers.get_all("X-TEST").collect();
            let query = req.query.clone().unwrap_or_default();
            reply(s, format!("{} {} {query} {}", req.method, req.path, tests.join(","))).await?
        }
        _ => reply(s, format!("unknown command {name}")).await?,
    }
    Ok(true)
}

/// The pull-style handler of every path but `/events`: echo, or a control message.
async fn scenarios(s: Session) -> Result<(), HandlerError> {
    let mut tag = String::new();
    while let Some(frame) = s.recv().await? {
        match frame.as_text().and_then(|t| t.strip_prefix('!')) {
            Some(line) => {
                if !command(&s, &mut tag, line).await? {
                    return Ok(());
                }
            }
            None => s.send(frame).await?,
        }
    }
    Ok(())
}

/// The push-style handler of `/events`: `!tag`, `!fill SIZE COUNT` (try_send), drain notes.
#[derive(Default)]
struct Events {
    tags: Mutex<HashMap<u64, String>>,
}

impl EventHandler for Events {
    fn on_message(&self, s: &Session, frame: Frame) {
        let Some(line) = frame.as_text().and_then(|t| t.strip_prefix('!')) else { return };
        let words: Vec<&str> = line.split(' ').collect();
        let tag = self.tags.lock().unwrap().get(&s.id()).cloned().unwrap_or_default();
        match words[..] {
            ["tag", name] => {
                self.tags.lock().unwrap().insert(s.id(), name.to_owned());
                let _ = s.try_send(Frame::text("ok"));
            }
            ["fill", size, count] => {
                let (size, count) = (size.parse().unwrap_or(0usize), count.parse().unwrap_or(0u32));
                let letters: String = (0..count)
                    .map(|_| match s.try_send(Frame::binary(vec![1u8; size])) {
                        Ok(TrySend::Sent) => 's',
                        Ok(TrySend::Buffered) => 'b',
                        Ok(TrySend::Dropped) => 'd',
                        Err(_) => 'e',
                    })
                    .collect();
                note(format!("try:{tag}"), letters);
            }
            _ => {}
        }
    }

    fn on_drain(&self, s: &Session) {
        if let Some(tag) = self.tags.lock().unwrap().get(&s.id()) {
            note(format!("drain:{tag}"), "1");
        }
    }

    fn on_close(&self, s: &Session, _reason: &CloseReason) {
        self.tags.lock().unwrap().remove(&s.id());
    }
}

async fn decide(req: Request) -> Decision {
    if req.path == "/reject" {
        return Decision::Respond(HttpResponse::new(403, "rejected by hook"));
    }
    Decision::Accept(Accept::default())
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        port: args.port,
        tls: args.tls.map(|p| TlsConfig { cert_path: p[0].clone(), key_path: p[1].clone() }),
        subprotocols: vec!["beta".into(), "alpha".into()],
        deflate: DeflateConfig::enabled(),
        session: SessionConfig { timeout_ms: 60_000, close_timeout_ms: 60_000, ..SessionConfig::default() },
        ..ServerConfig::default()
    };
    let server = Server::builder_with(config)
        .route("/events", Handler::events(Events::default()))
        .fallback(Handler::task(scenarios))
        .accept_hook(decide)
        .start_blocking()?;
    println!("scenario server listening on 127.0.0.1:{}", server.port());
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        server.shutdown(Duration::from_secs(2)).await;
    })
}
