//! `NativeServer`: the core server with a JS event callback and an accept hook answered from JS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use napi::bindgen_prelude::{Either, Float64ArraySlice, Function, Object, Uint8Array, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;
use wssession_core::{
    Accept, Decision, DeflateConfig, Handler, Handshake, HttpResponse, Request, Server, ServerBuilder, ServerConfig,
    SlowSubscriber, TlsConfig,
};

use crate::adopt::Adopting;
use crate::error::{invalid, invalid_range, to_js};
use crate::hub::{Events, EventsFn, Hub, NativeBatch, SessState};
use crate::observe::{LogEntry, NativeServerStats};
use crate::request::RequestInfo;
use crate::session::NativeSession;
use crate::topics::PublishResult;

/// permessage-deflate settings (RFC 7692).
#[napi(object)]
pub struct DeflateOptions {
    /// zlib level 0-9 (default: the core's, 5).
    pub level: Option<u32>,
    /// zlib memLevel 1-9: compressor memory against speed and ratio (default: the core's, 5).
    pub mem_level: Option<u32>,
    /// Messages smaller than this are sent uncompressed (default 1024, as `ws`).
    pub threshold: Option<u32>,
    /// Reset our compressor after every message.
    pub server_no_context_takeover: Option<bool>,
    /// Ask clients to reset theirs after every message.
    pub client_no_context_takeover: Option<bool>,
    /// Largest window (8-15) our compressor uses.
    pub server_max_window_bits: Option<u32>,
    /// Largest window (8-15) we ask clients to use.
    pub client_max_window_bits: Option<u32>,
}

/// PEM files for `wss://`.
#[napi(object)]
pub struct TlsOptions {
    /// Certificate chain file (PEM).
    pub cert_path: String,
    /// Private key file (PEM).
    pub key_path: String,
}

/// Options of the native server (the JS layer maps `ws` options onto these).
#[napi(object)]
pub struct ServerOptions {
    /// Host to bind (default "127.0.0.1"; "::" or "0.0.0.0" for all interfaces).
    pub host: Option<String>,
    /// Port; 0 picks an ephemeral one. Absent: no listener, the server takes only adopted connections.
    pub port: Option<u32>,
    /// Only this path is accepted (others get 400, as `ws`).
    pub path: Option<String>,
    /// Whether JS decides on each request (verifyClient / handleProtocols / 'headers'); see `setJsHook`.
    pub js_hook: bool,
    /// Listen backlog (default 1024).
    pub backlog: Option<u32>,
    /// Largest frame or message in bytes (ws `maxPayload`).
    pub max_payload: Option<f64>,
    /// permessage-deflate, off when absent.
    pub deflate: Option<DeflateOptions>,
    /// Pinger period in ms (0 = off).
    pub ping_interval_ms: Option<u32>,
    /// How long the pinger waits for the Pong, in ms.
    pub timeout_ms: Option<u32>,
    /// Bound on the closing handshake, in ms.
    pub close_timeout_ms: Option<u32>,
    /// Answer every Ping with a Pong (ws `autoPong`, default true); false leaves it to `ws.pong()`.
    pub auto_pong: Option<bool>,
    /// Skip the UTF-8 check of text messages and close reasons (ws `skipUTF8Validation`, default false).
    pub skip_utf8_validation: Option<bool>,
    /// Frames one message may arrive in, 0 = no limit (ws `maxFragments`); beyond it, close 1008.
    pub max_fragments: Option<u32>,
    /// Bytes queued above which awaiting `send` waits (default 1 MiB).
    pub max_buffered_amount: Option<f64>,
    /// Connections beyond this get 503.
    pub max_connections: Option<u32>,
    /// The request head must arrive within this many ms.
    pub handshake_timeout_ms: Option<u32>,
    /// Serve `wss://`.
    pub tls: Option<TlsOptions>,
    /// Hand the engine's log records at this level ("error" ... "trace") and more severe to `onLog`.
    pub log_level: Option<String>,
    /// Answer a plain HTTP GET of this path with the Prometheus text of `metrics()`.
    pub metrics_path: Option<String>,
    /// Share topics with other processes through a broker: "redis://host:port[?options]" or
    /// "nats://host:port[?options]" (see BACKPLANE.md); none keeps them in this process.
    pub backplane: Option<String>,
    /// Close a subscriber over its write limit with this code (1008 or 1013) when a publish reaches
    /// it; absent: the message is dropped for it (counted).
    pub slow_subscriber_close: Option<u32>,
    /// Read the sockets on the JS thread's libuv loop instead of the engine's threads (plain TCP
    /// only: refused with `tls`).
    pub host_loop: Option<bool>,
}

/// How JS answered an upgrade request.
#[napi(object)]
pub struct DecisionOptions {
    /// Upgrade (true) or answer with `status` (false).
    pub accept: bool,
    /// HTTP status of a rejection (default 401).
    pub status: Option<u32>,
    /// Body of a rejection (default empty; the JS layer passes the status text, as `ws`).
    pub message: Option<String>,
    /// Extra response headers (rejection or 101), names and values alternating; a name may repeat.
    pub headers: Option<Vec<String>>,
    /// The subprotocol to answer with.
    pub subprotocol: Option<String>,
}

/// The bound address, as `net.Server#address()`.
#[napi(object)]
pub struct ServerAddress {
    /// The IP address.
    pub address: String,
    /// "IPv4" or "IPv6".
    pub family: String,
    /// The port.
    pub port: u32,
}

/// A WebSocket server running on the core's runtime: listening on its own port, or detached (it then
/// serves the connections its host hands over; see `adoptFd` and friends).
#[napi]
pub struct NativeServer {
    pub(crate) server: Server,
    pub(crate) hub: Arc<Hub>,
    /// Decisions JS made for connections being handed over, taken by the accept hook.
    pub(crate) adopting: Arc<Adopting>,
    /// Whether the accept hook asks JS (flipped when a 'headers' listener comes or goes).
    js_hook: Arc<AtomicBool>,
}

fn config_from(o: &ServerOptions) -> napi::Result<ServerConfig> {
    let mut c = ServerConfig {
        host: o.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
        port: match o.port {
            Some(p) => u16::try_from(p).map_err(|_| invalid_range(format!("port {p} is out of range 0-65535")))?,
            None => 0,
        },
        ..ServerConfig::default()
    };
    if let Some(b) = o.backlog {
        c.backlog = b;
    }
    if let Some(m) = o.max_payload {
        c.session.max_frame_size = m as usize;
    }
    if let Some(v) = o.ping_interval_ms {
        c.session.ping_interval_ms = v as u64;
    }
    if let Some(v) = o.timeout_ms {
        c.session.timeout_ms = v as u64;
    }
    if let Some(v) = o.close_timeout_ms {
        c.session.close_timeout_ms = v as u64;
    }
    if let Some(v) = o.auto_pong {
        c.session.auto_pong = v;
    }
    if let Some(v) = o.skip_utf8_validation {
        c.session.skip_utf8_validation = v;
    }
    if let Some(v) = o.max_fragments {
        c.session.max_fragments = v as usize;
    }
    if let Some(v) = o.max_buffered_amount {
        let hw = v as usize;
        c.session.write_high_water = hw;
        c.session.write_low_water = hw / 4;
        c.session.write_hard_limit = hw.saturating_mul(2);
    }
    if let Some(v) = o.max_connections {
        c.max_connections = v as usize;
    }
    if let Some(v) = o.handshake_timeout_ms {
        c.handshake_timeout = Duration::from_millis(v as u64);
    }
    if let Some(code) = o.slow_subscriber_close {
        // Out-of-range codes become 0, which the core's check refuses by name.
        c.slow_subscriber = SlowSubscriber::Close(u16::try_from(code).unwrap_or(0));
    }
    if let Some(t) = &o.tls {
        c.tls = Some(TlsConfig { cert_path: t.cert_path.clone(), key_path: t.key_path.clone() });
    }
    if let Some(d) = &o.deflate {
        let mut dc = DeflateConfig { enabled: true, threshold: 1024, ..DeflateConfig::default() };
        if let Some(v) = d.level {
            dc.level = v;
        }
        if let Some(v) = d.mem_level {
            dc.mem_level = u8::try_from(v).unwrap_or(u8::MAX);
        }
        if let Some(v) = d.threshold {
            dc.threshold = v as usize;
        }
        dc.server_no_context_takeover = d.server_no_context_takeover.unwrap_or(false);
        dc.client_no_context_takeover = d.client_no_context_takeover.unwrap_or(false);
        if let Some(v) = d.server_max_window_bits {
            dc.server_max_window_bits = u8::try_from(v).unwrap_or(u8::MAX);
        }
        if let Some(v) = d.client_max_window_bits {
            dc.client_max_window_bits = u8::try_from(v).unwrap_or(u8::MAX);
        }
        c.deflate = dc;
    }
    c.backplane = o.backplane.clone();
    c.session.host_read = o.host_loop.unwrap_or(false);
    // The core decides the ranges; thrown as InvalidArg so that the JS constructor throws it
    // synchronously (as ws does for bad options) instead of reporting it as a listen error.
    c.validate().map_err(|e| napi::Error::new(napi::Status::InvalidArg, to_js(e).reason))?;
    Ok(c)
}

/// The decision made without JS: path check, plain HTTP gets 426, first offered subprotocol.
fn native_decision(path: Option<&str>, req: &Request) -> Option<Decision> {
    if let Some(p) = path
        && req.path != p
    {
        return Some(Decision::Respond(HttpResponse::text(400, "Bad Request")));
    }
    if !req.is_upgrade() {
        return Some(Decision::Respond(HttpResponse::text(426, "Upgrade Required")));
    }
    None
}

/// The decision made on the thread that read the request, without JS: [`native_decision`], else the
/// first offered subprotocol unless JS decides (`ask_js`: `None`).
pub(crate) fn sync_decision(path: Option<&str>, ask_js: bool, req: &Request) -> Option<Decision> {
    if let Some(d) = native_decision(path, req) {
        return Some(d);
    }
    (!ask_js).then(|| accept(req.offered_subprotocols().into_iter().next(), vec![], SessState::default()))
}

/// Accepts with `state` attached to the session (adopted connections carry their adoption id in it).
pub(crate) fn accept(subprotocol: Option<String>, headers: Vec<(String, String)>, state: SessState) -> Decision {
    Decision::Accept(Accept { subprotocol, headers, attachment: Some(Arc::new(state)), ..Accept::default() })
}

/// The core decision for what JS answered; `state` goes on the session if accepted.
pub(crate) fn decision_from(decision: DecisionOptions, state: SessState) -> napi::Result<Decision> {
    let headers = header_pairs(decision.headers.unwrap_or_default())?;
    let d = if decision.accept {
        accept(decision.subprotocol, headers, state)
    } else {
        // Out-of-range statuses become 0, which the core's check refuses.
        let status = u16::try_from(decision.status.unwrap_or(401)).unwrap_or(0);
        // As ws: the message is the whole body, sent as text/html unless the application gave its own
        // Content-Type.
        let mut r = HttpResponse::new(status, decision.message.unwrap_or_default());
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            r = r.with_header("Content-Type", "text/html");
        }
        for (k, v) in &headers {
            r = r.with_header(k, v);
        }
        Decision::Respond(r)
    };
    // The core checks the decision (status 100-599 but not 101, header tokens, no CR/LF).
    d.validate().map_err(to_js)?;
    Ok(d)
}

#[napi]
impl NativeServer {
    /// Binds and starts serving; `onEvents` receives batches of events on the JS thread.
    #[napi(
        constructor,
        ts_args_type = "options: ServerOptions, onEvents: (batch: NativeBatch) => void, onLog?: (entry: LogEntry) => void"
    )]
    pub fn new(
        options: ServerOptions,
        on_events: Function<'_, NativeBatch, Unknown<'static>>,
        on_log: Option<Function<'_, LogEntry, Unknown<'static>>>,
    ) -> napi::Result<Self> {
        let mut config = config_from(&options)?;
        config.metrics_path = options.metrics_path.clone();
        let log = match (&options.log_level, on_log) {
            (Some(level), Some(f)) => Some((crate::observe::level_in(level)?, crate::observe::js_sink(f)?)),
            (Some(_), None) => return Err(invalid("logLevel needs an onLog callback")),
            _ => None,
        };
        let hub = Hub::new();
        if config.session.host_read {
            let f = on_events.value();
            hub.set_host(crate::hostloop::HostLoop::new(f.env, f.value, Arc::downgrade(&hub))?);
        }
        let drain_hub = Arc::clone(&hub);
        let tsfn: EventsFn = on_events
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<false>()
            .build_callback(move |ctx| Ok(drain_hub.drain(&ctx.env)))
            .map_err(|e| invalid(format!("cannot create the event callback: {e}")))?;
        *hub.tsfn.lock().unwrap() = Some(tsfn);

        let path = options.path.clone();
        let js_hook = Arc::new(AtomicBool::new(options.js_hook));
        let (decide_path, decide_js) = (path.clone(), Arc::clone(&js_hook));
        let decide: crate::hostloop::Decide =
            Arc::new(move |req| sync_decision(decide_path.as_deref(), decide_js.load(Ordering::Acquire), req));
        let adopting = Arc::new(Adopting::default());
        let deflate = config.deflate.clone();
        let (hook_hub, hook_js, hook_adopting) = (Arc::clone(&hub), Arc::clone(&js_hook), Arc::clone(&adopting));
        let builder = ServerBuilder::new(config).fallback(Handler::events(Events(Arc::clone(&hub)))).accept_hook(
            move |req: Request| {
                // A connection JS handed over was decided in handleUpgrade, before the handover.
                let adopted = hook_adopting.take(&req);
                let hub = Arc::clone(&hook_hub);
                let path = path.clone();
                let ask_js = hook_js.load(Ordering::Acquire);
                let deflate = deflate.clone();
                async move {
                    if let Some(d) = adopted {
                        return d;
                    }
                    if let Some(d) = sync_decision(path.as_deref(), ask_js, &req) {
                        return d;
                    }
                    let response = Handshake::negotiate(&req, None, &[], &deflate).ok().map(|h| flat_headers(&h));
                    let rx = hub.ask(RequestInfo::from(&req), response);
                    rx.await.unwrap_or_else(|_| Decision::Respond(HttpResponse::text(503, "Service Unavailable")))
                }
            },
        );
        let builder = match log {
            Some((level, sink)) => builder.log_sink(level, sink),
            None => builder,
        };
        let started = if let Some(host) = hub.host().filter(|_| options.port.is_some()) {
            // hostLoop: the JS thread accepts and reads the request heads too.
            match builder.start_host_accept() {
                Ok((server, listener)) => {
                    host.listen(listener, server.clone(), decide)?;
                    Ok(server)
                }
                Err(e) => Err(e),
            }
        } else if options.port.is_some() {
            wssession_core::runtime::block_on(builder.start()).unwrap_or_else(Err)
        } else {
            builder.start_detached()
        };
        let server = started.map_err(|e| {
            hub.tsfn.lock().unwrap().take();
            to_js(e)
        })?;
        Ok(NativeServer { server, hub, adopting, js_hook })
    }

    /// Whether upgrade requests on the server's own listener are decided in JS (kind-0 events).
    #[napi]
    pub fn set_js_hook(&self, on: bool) {
        self.js_hook.store(on, Ordering::Release);
    }

    /// The bound address.
    #[napi]
    pub fn address(&self) -> ServerAddress {
        let a = self.server.local_addr();
        ServerAddress {
            address: a.ip().to_string(),
            family: if a.is_ipv4() { "IPv4" } else { "IPv6" }.into(),
            port: a.port() as u32,
        }
    }

    /// Stops accepting; open sessions continue (`ws` semantics). Returns once the listener is closed
    /// (bounded wait), so a connection attempted afterwards is refused, as with `net.Server#close`.
    #[napi]
    pub fn close(&self) {
        self.server.close();
        if let Some(host) = self.hub.host() {
            host.close_listener();
        }
        let server = self.server.clone();
        let _ = wssession_core::runtime::block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), server.wait()).await;
        });
        let pending: Vec<_> = self.hub.requests.lock().unwrap().drain().collect();
        drop(pending);
    }

    /// Whether the listener is closed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.server.is_closed()
    }

    /// Open sessions.
    #[napi(getter)]
    pub fn session_count(&self) -> u32 {
        self.server.session_count() as u32
    }

    /// Publishes bytes to every subscriber of `topic`, without waiting. `flags`: bit 0 binary,
    /// bits 2-3 compress (0 default, 1 off, 2 on), as `trySend`.
    #[napi]
    pub fn publish(&self, topic: String, data: &[u8], flags: u32) -> napi::Result<PublishResult> {
        crate::topics::publish(flags, |text, compress| self.server.publish(&topic, data, text, compress))
    }

    /// `publish` for a string payload.
    #[napi]
    pub fn publish_text(&self, topic: String, data: String, flags: u32) -> napi::Result<PublishResult> {
        self.publish(topic, data.as_bytes(), flags)
    }

    /// Publishes through a Redis history (`flags` as `publish`); resolves with the message's position
    /// once the broker placed it (WSSESSION_ERR_RECOVERY without a history).
    #[napi(ts_return_type = "Promise<NativePosition>")]
    pub fn publish_positioned<'env>(
        &self,
        env: &'env Env,
        topic: String,
        data: Either<String, Uint8Array>,
        flags: u32,
    ) -> napi::Result<Object<'env>> {
        let server = self.server.clone();
        crate::positions::publish_positioned(env, data, flags, |data, text, compress| async move {
            server.publish_positioned(&topic, &data, text, compress).await
        })
    }

    /// How many sessions are subscribed to `topic`.
    #[napi]
    pub fn num_subscribers(&self, topic: String) -> u32 {
        self.server.subscriber_count(&topic) as u32
    }

    /// Every topic with at least one subscriber, sorted.
    #[napi]
    pub fn topics(&self) -> Vec<String> {
        self.server.topics()
    }

    /// Server-wide figures since the server started, as one snapshot.
    #[napi]
    pub fn stats(&self) -> NativeServerStats {
        self.server.stats().into()
    }

    /// The figures in the Prometheus (OpenMetrics) text format.
    #[napi]
    pub fn metrics(&self) -> String {
        self.server.metrics()
    }

    /// Closes every session with 1001, waits up to `graceMs`, then shuts the rest; resolves when done.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn shutdown<'env>(&self, env: &'env Env, grace_ms: u32) -> napi::Result<Object<'env>> {
        let (deferred, promise) =
            env.create_deferred::<(), _>().map_err(|e| invalid(format!("cannot create a promise: {e}")))?;
        let server = self.server.clone();
        wssession_core::runtime::spawn(async move {
            server.shutdown(Duration::from_millis(grace_ms as u64)).await;
            deferred.resolve(|_| Ok(()));
        });
        Ok(promise)
    }

    /// Queues the data frames collected during one batch callback (`_flushSends` in lib/server.js):
    /// four numbers per frame in `meta` (session id, offset, length, `trySend` flags), payloads in `data`.
    /// `end` marks the end of the batch callback.
    #[napi]
    pub fn send_batch(&self, meta: Float64ArraySlice<'_>, data: &[u8], end: bool) {
        self.hub.send_batch(&meta, data);
        if end {
            self.hub.end_batch();
        }
    }

    /// The session of open socket `id` (JS fetches it on a socket's first native call); null once
    /// the batch that delivered its close has ended.
    #[napi]
    pub fn session(&self, id: i64) -> Option<NativeSession> {
        self.hub.session(id as u64)
    }

    /// The `readyState` of open socket `id` without making its `NativeSession` (3 for any other id).
    #[napi]
    pub fn ready_state_of(&self, id: i64) -> u32 {
        self.hub.ready_state(id as u64)
    }

    /// Answers the pending upgrade request `id` (from a kind-0 event).
    #[napi]
    pub fn decide(&self, id: u32, decision: DecisionOptions) -> napi::Result<()> {
        let Some(tx) = self.hub.requests.lock().unwrap().remove(&id) else {
            return Ok(());
        };
        match decision_from(decision, SessState::default()) {
            Ok(d) => {
                let _ = tx.send(d);
            }
            // An invalid decision is answered with 500, as on every surface, and reported to the caller.
            Err(e) => {
                let _ = tx.send(Decision::Respond(HttpResponse::text(500, "Internal Server Error")));
                return Err(e);
            }
        }
        Ok(())
    }

    /// Lets Node exit even though this server exists (after `close`, once sessions are gone).
    #[napi]
    #[allow(deprecated)]
    pub fn unref(&self, env: Env) -> napi::Result<()> {
        if let Some(f) = self.hub.tsfn.lock().unwrap().as_mut() {
            f.unref(&env).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// Keeps Node alive while the server is listening (the default).
    #[napi(js_name = "ref")]
    #[allow(deprecated)]
    pub fn refer(&self, env: Env) -> napi::Result<()> {
        if let Some(f) = self.hub.tsfn.lock().unwrap().as_mut() {
            f.refer(&env).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }
}

/// The headers of a 101 as `[name, value, name, value, ...]`.
pub(crate) fn flat_headers(h: &Handshake) -> Vec<String> {
    h.response_headers().into_iter().flat_map(|(n, v)| [n, v]).collect()
}

/// `[name, value, name, value, ...]` as pairs.
fn header_pairs(flat: Vec<String>) -> napi::Result<Vec<(String, String)>> {
    if !flat.len().is_multiple_of(2) {
        return Err(invalid("headers must alternate names and values"));
    }
    let mut it = flat.into_iter();
    Ok(std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect())
}
