//! The server: listener, TLS, bounded handshake, routing, accept hook, sessions, shutdown.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::backplane::{Backplane, LocalDelivery, Position};
use crate::config::{ServerConfig, TlsConfig};
use crate::error::{Error, Result};
use crate::handler::{Accept, AcceptHook, Decision, Handler};
use crate::handshake::{Handshake, HttpResponse, LazyRequest, ParsedHead, parse_located};
use crate::metrics::{Counters, PROMETHEUS_CONTENT_TYPE, ServerStats};
use crate::protocol::close::{GOING_AWAY, INTERNAL_ERROR, NORMAL};
use crate::request::Request;
use crate::session::{Registry, Session};
use crate::topics::{Hub, Published};
use crate::transport::{NoSigPipeTcp, Transport};

/// Configures and starts a [`Server`].
pub struct ServerBuilder {
    config: ServerConfig,
    routes: Vec<(String, Handler)>,
    fallback: Option<Handler>,
    accept: Option<AcceptHook>,
    log: Option<crate::log::Route>,
}

pub(crate) struct ServerInner {
    pub(crate) config: ServerConfig,
    routes: Vec<(String, Handler)>,
    fallback: Option<Handler>,
    accept: Option<AcceptHook>,
    tls: Option<TlsAcceptor>,
    local_addr: SocketAddr,
    /// No listener: the server serves only connections adopted from its host.
    detached: bool,
    sessions: Mutex<HashMap<u64, Session>>,
    connections: AtomicUsize,
    /// Server-wide figures (see [`Server::stats`]).
    pub(crate) counters: Counters,
    /// Topics: subscriptions and publishes (see [`crate::topics`]).
    pub(crate) topics: Hub,
    /// The server's span (`addr`): the parent of its sessions' spans and of its own events.
    pub(crate) span: tracing::Span,
    /// Set by `shutdown`: handshakes still in progress must not open sessions that escape it.
    shutting_down: AtomicBool,
    stop: watch::Sender<bool>,
    stopped: watch::Sender<bool>,
    self_ref: Weak<ServerInner>,
}

/// A running WebSocket server; cheap to clone.
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<ServerInner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("local_addr", &self.inner.local_addr).finish()
    }
}

impl ServerBuilder {
    /// A builder with `config`.
    pub fn new(config: ServerConfig) -> Self {
        Self { config, routes: vec![], fallback: None, accept: None, log: None }
    }

    /// Serves `handler` at exactly `path` ("/chat"); other paths get 404 unless a fallback is set.
    pub fn route(mut self, path: &str, handler: Handler) -> Self {
        self.routes.push((path.to_owned(), handler));
        self
    }

    /// Serves `handler` on every path without its own route.
    pub fn fallback(mut self, handler: Handler) -> Self {
        self.fallback = Some(handler);
        self
    }

    /// Sets the hook that sees every request first and may reject it, answer it, or choose
    /// the subprotocol, settings and handler of the session.
    pub fn accept_hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Decision> + Send + 'static,
    {
        self.accept = Some(Arc::new(move |r| Box::pin(hook(r))));
        self
    }

    /// Sends this server's log records (its handshakes and sessions) at `level` and more severe to
    /// `sink`, through the log bridge ([`crate::log`]; for bindings: Rust hosts use `tracing`).
    pub fn log_sink(mut self, level: crate::log::Level, sink: crate::log::LogSink) -> Self {
        self.log = Some(crate::log::Route::new(level, sink));
        self
    }

    /// Sets an already boxed accept hook (what bindings use).
    pub fn accept_hook_boxed(mut self, hook: AcceptHook) -> Self {
        self.accept = Some(hook);
        self
    }

    /// Binds the listener on the internal runtime and starts accepting.
    pub async fn start(self) -> Result<Server> {
        crate::runtime::spawn(self.bind()).await.map_err(join_error)?
    }

    /// As [`ServerBuilder::start`], for callers outside any async runtime.
    pub fn start_blocking(self) -> Result<Server> {
        crate::runtime::block_on(self.bind())?
    }

    /// Starts accepting on `listener`, a listening socket the host bound (Python's `sock=`, a socket
    /// inherited from a supervisor); `host`, `port`, `backlog` and `reuse_port` are then the socket's.
    pub async fn start_on(self, listener: std::net::TcpListener) -> Result<Server> {
        crate::runtime::spawn(self.listen_on(listener)).await.map_err(join_error)?
    }

    /// As [`ServerBuilder::start_on`], for callers outside any async runtime.
    pub fn start_on_blocking(self, listener: std::net::TcpListener) -> Result<Server> {
        crate::runtime::block_on(self.listen_on(listener))?
    }

    /// A server with no listener: it serves only the connections its host hands over
    /// ([`Server::adopt_tcp`], [`Server::adopt_pump`], [`Server::upgraded_tcp`], ...), with the same
    /// routes, accept hook, limits and sessions as a listening one. `host`, `port`, `backlog` and
    /// `reuse_port` are unused; `local_addr` reads `0.0.0.0:0`. Needs no async context.
    pub fn start_detached(self) -> Result<Server> {
        self.config.validate()?;
        let tls = self.config.tls.as_ref().map(tls_acceptor).transpose()?;
        let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
        Ok(Server { inner: self.into_inner(tls, unbound, true) })
    }

    async fn bind(self) -> Result<Server> {
        self.config.validate()?;
        let tls = self.config.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = listen(&self.config).await?;
        self.serve(tls, listener)
    }

    /// Binds the listener as [`ServerBuilder::start_blocking`] does, but accepts nothing itself: the host's
    /// loop accepts on the returned (non-blocking) listener and hands each connection to
    /// [`Server::host_handshake`] (Node's `hostLoop`). The server counts as detached: `close` takes
    /// effect at once, and the host stops accepting when [`Server::is_closed`]. Plain TCP only.
    pub fn start_host_accept(self) -> Result<(Server, std::net::TcpListener)> {
        self.config.validate()?;
        if self.config.tls.is_some() {
            return Err(Error::invalid(
                "the host's loop accepts plain TCP connections only: tls is not supported here",
            ));
        }
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(self.config.host.as_str(), self.config.port))?;
        let listener = bind_first(addrs, &self.config)?;
        let inner = self.into_inner(None, listener.local_addr()?, true);
        tracing::info!(parent: &inner.span, tls = false, "server listening (the host accepts)");
        Ok((Server { inner }, listener))
    }

    async fn listen_on(self, listener: std::net::TcpListener) -> Result<Server> {
        self.config.validate()?;
        let tls = self.config.tls.as_ref().map(tls_acceptor).transpose()?;
        listener.set_nonblocking(true)?;
        self.serve(tls, TcpListener::from_std(listener)?)
    }

    /// Starts the accept loop on `listener` (inside the runtime).
    fn serve(self, tls: Option<TlsAcceptor>, listener: TcpListener) -> Result<Server> {
        let inner = self.into_inner(tls, listener.local_addr()?, false);
        tracing::info!(parent: &inner.span, tls = inner.tls.is_some(), "server listening");
        tokio::spawn(accept_loop(inner.clone(), listener));
        Ok(Server { inner })
    }

    fn into_inner(self, tls: Option<TlsAcceptor>, local_addr: SocketAddr, detached: bool) -> Arc<ServerInner> {
        if self.log.is_some() {
            crate::log::install();
        }
        if let Some(route) = &self.log {
            crate::log::raise(route.level());
        }
        let span = tracing::info_span!("server", addr = %local_addr);
        let slow_subscriber = self.config.slow_subscriber;
        // Checked by `validate` before any server is built.
        let backplane = self.config.backplane.as_deref().map(|u| crate::BackplaneUrl::parse(u).expect("validated"));
        if let Some(route) = self.log {
            crate::log::attach(&span, route);
        }
        Arc::new_cyclic(|me: &Weak<ServerInner>| ServerInner {
            config: self.config,
            routes: self.routes,
            fallback: self.fallback,
            accept: self.accept,
            tls,
            local_addr,
            detached,
            sessions: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
            counters: Counters::default(),
            topics: Hub::new(slow_subscriber).with_backplane(match &backplane {
                Some(url) => Backplane::connect(url, me.clone() as Weak<dyn LocalDelivery>),
                None => Backplane::in_process(),
            }),
            span,
            shutting_down: AtomicBool::new(false),
            stop: watch::channel(false).0,
            stopped: watch::channel(false).0,
            self_ref: me.clone(),
        })
    }
}

/// A listening socket bound as `config` says (address, `SO_REUSEADDR`, `reuse_port`, `backlog`).
async fn listen(config: &ServerConfig) -> Result<TcpListener> {
    let addrs = tokio::net::lookup_host((config.host.as_str(), config.port)).await?;
    Ok(TcpListener::from_std(bind_first(addrs, config)?)?)
}

/// The listening socket (non-blocking) on the first of `addrs`, set up as `config` says.
fn bind_first(mut addrs: impl Iterator<Item = SocketAddr>, config: &ServerConfig) -> Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = addrs.next().ok_or_else(|| Error::invalid(format!("host {:?} resolves to no address", config.host)))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if config.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(config.backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Io(Arc::new(std::io::Error::other(e)))
}

fn tls_acceptor(tls: &TlsConfig) -> Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |what: &str, path: &str, e: &dyn std::fmt::Display| {
        Error::invalid(format!("cannot load TLS {what} from {path}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad("certificate", &tls.cert_path, &e))?;
    if certs.is_empty() {
        return Err(bad("certificate", &tls.cert_path, &"no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_path).map_err(|e| bad("key", &tls.key_path, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid(format!("TLS certificate and key do not match: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new(ServerConfig::default())
    }

    /// A builder with `config`.
    pub fn builder_with(config: ServerConfig) -> ServerBuilder {
        ServerBuilder::new(config)
    }

    pub(crate) fn from_inner(inner: Arc<ServerInner>) -> Self {
        Self { inner }
    }

    /// The bound address (with the real port when 0 was asked); `0.0.0.0:0` for a detached server.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.inner.local_addr.port()
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The open sessions.
    pub fn sessions(&self) -> Vec<Session> {
        self.inner.sessions.lock().unwrap().values().cloned().collect()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().unwrap().len()
    }

    /// Connections handshaking or open.
    pub fn connection_count(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    /// Whether the server has no listener (see [`ServerBuilder::start_detached`]).
    pub fn is_detached(&self) -> bool {
        self.inner.detached
    }

    /// Stops accepting new connections (adopted ones too: they get 503); open sessions continue
    /// (the `ws` semantics).
    pub fn close(&self) {
        self.inner.stop.send_replace(true);
        if self.inner.detached {
            self.inner.stopped.send_replace(true);
        }
    }

    /// Whether the listener has closed.
    pub fn is_closed(&self) -> bool {
        *self.inner.stopped.borrow()
    }

    /// Stops accepting, sends Close 1001 to every session, waits up to `grace` for them to
    /// finish, then shuts the rest (their close reason stays 1001).
    pub async fn shutdown(&self, grace: Duration) {
        // Before the snapshot: a handshake registering its session after it sees the flag.
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.close();
        let sessions = self.sessions();
        tracing::info!(parent: &self.inner.span, sessions = sessions.len(), grace_ms = grace.as_millis() as u64, "server shutting down");
        for s in &sessions {
            let _ = s.close(GOING_AWAY, "server shutdown");
        }
        let all = async {
            for s in &sessions {
                s.close_reason().await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            for s in &sessions {
                s.abort();
            }
            for s in &sessions {
                s.close_reason().await;
            }
        }
        self.wait().await;
        tracing::info!(parent: &self.inner.span, "server shut down");
    }

    /// Server-wide figures since the server started: one consistent snapshot.
    pub fn stats(&self) -> ServerStats {
        let sessions = self.inner.sessions.lock().unwrap();
        let ended = self.inner.counters.ended.lock().unwrap().clone();
        let open: Vec<_> = sessions.values().map(Session::stats).collect();
        drop(sessions);
        let mut stats = self.inner.counters.snapshot(ended, &open);
        stats.backplane = self.inner.topics.backplane.stats();
        self.inner.topics.metrics.fill(&mut stats);
        stats
    }

    /// [`Server::stats`] in the Prometheus (OpenMetrics) text format.
    pub fn metrics(&self) -> String {
        self.stats().to_prometheus()
    }

    /// Completes when the listener has closed (after `close` or `shutdown`).
    pub async fn wait(&self) {
        let mut rx = self.inner.stopped.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl ServerInner {
    /// Whether `close` or `shutdown` stopped the server from taking connections.
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stop.borrow() || self.shutting_down.load(Ordering::SeqCst)
    }

    /// Takes a connection slot; false when the server is at `max_connections`.
    pub(crate) fn admit(&self) -> bool {
        if self.connections.fetch_add(1, Ordering::AcqRel) >= self.config.max_connections {
            self.release();
            return false;
        }
        true
    }

    /// Gives back a slot taken by `admit` that no session took over.
    pub(crate) fn release(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Registers a session that took over its connection slot.
    pub(crate) fn register(&self, session: &Session) {
        self.sessions.lock().unwrap().insert(session.id(), session.clone());
        crate::metrics::inc(&self.counters.connections_total);
    }

    /// Logs and counts a request answered with `response` instead of an upgrade.
    pub(crate) fn refused(&self, response: &HttpResponse, peer: SocketAddr, path: Option<&str>) {
        let status = response.status;
        if status < 400 {
            tracing::debug!(parent: &self.span, %peer, path, status, "request answered without an upgrade");
            return;
        }
        self.counters.refused(status);
        let body = String::from_utf8_lossy(&response.body);
        let reason = short_reason(body.trim_end());
        tracing::info!(parent: &self.span, %peer, path, status, reason, "handshake refused");
    }

    /// The handler for `path`: its route, else the fallback.
    pub(crate) fn route(&self, path: &str) -> Option<Handler> {
        self.routes.iter().find(|(p, _)| p == path).map(|(_, h)| h.clone()).or_else(|| self.fallback.clone())
    }
}

impl Registry for ServerInner {
    fn span(&self) -> &tracing::Span {
        &self.span
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn session_closing(&self, s: &Session) {
        self.topics.session_closed(s.id());
    }

    /// Drops a finished session from the registry, frees its connection slot and counts how it ended.
    fn session_ended(&self, s: &Session, reason: &crate::CloseReason) {
        let mut sessions = self.sessions.lock().unwrap();
        if sessions.remove(&s.id()).is_some() {
            self.counters.ended.lock().unwrap().record(reason.code, reason.initiator, &s.stats());
            self.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn topics(&self) -> &(dyn std::any::Any + Send + Sync) {
        &self.topics
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// The backplane hands messages from the broker to the topic hub's local fan-out, and listens to
/// the hub's topics.
impl LocalDelivery for ServerInner {
    fn deliver(&self, topic: &str, payload: Bytes, text: bool, compress: Option<bool>, exclude: Option<u64>) {
        self.topics.fanout_local(topic, &payload, text, compress, exclude);
    }

    fn topics(&self) -> HashSet<String> {
        self.topics.topic_names()
    }
}

impl Session {
    /// The server that accepted this session (Ktor's `application`), while it exists.
    pub fn server(&self) -> Option<Server> {
        let inner = self.registry()?.into_any().downcast::<ServerInner>().ok()?;
        Some(Server::from_inner(inner))
    }
}

/// Topics (see [`crate::topics`]).
impl Server {
    /// Publishes to every subscriber of `topic`. `compress` overrides the deflate threshold
    /// (`None`: each subscriber's threshold decides). Fails on a bad topic name or a text payload
    /// that is not UTF-8. Never waits: see [`SlowSubscriber`](crate::topics::SlowSubscriber).
    pub fn publish(&self, topic: &str, payload: &[u8], text: bool, compress: Option<bool>) -> Result<Published> {
        self.inner.topics.publish(topic, payload, text, compress, None)
    }

    /// How many sessions are subscribed to `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.inner.topics.subscriber_count(topic)
    }

    /// Every topic with at least one subscriber, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.inner.topics.topics()
    }

    /// Publishes to every subscriber of `topic` on every node and returns the message's position in
    /// the topic's history, once the broker placed it. Subscribers (this node's too) receive it from
    /// the broker in position order. Fails with [`Error::Recovery`]`(NoHistory)` without a Redis
    /// history, `(Unavailable)` when the broker is unreachable (the message then reaches this node's
    /// subscribers only).
    pub async fn publish_positioned(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
    ) -> Result<Position> {
        self.inner.topics.publish_positioned(topic, payload, text, compress, None).await
    }

    /// Whether topics are shared through a broker with a history (positions, recovery).
    pub fn has_history(&self) -> bool {
        self.inner.topics.has_history()
    }
}

async fn accept_loop(inner: Arc<ServerInner>, listener: TcpListener) {
    let mut stop = inner.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                if !inner.admit() {
                    inner.refused(&at_limit(), peer, None);
                    tokio::spawn(respond_and_close(tcp, at_limit()));
                    continue;
                }
                tokio::spawn(handle_connection(inner.clone(), tcp, peer, BytesMut::new()));
            }
            // Out of file descriptors or similar: back off instead of spinning.
            Err(e) => {
                tracing::warn!(parent: &inner.span, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await
            }
        }
    }
    drop(listener);
    tracing::info!(parent: &inner.span, "server closed");
    inner.stopped.send_replace(true);
}

/// The answer to a connection over `max_connections`.
pub(crate) fn at_limit() -> HttpResponse {
    HttpResponse::text(503, "server is at its connection limit")
}

/// Gives a connection slot back unless the session took it over.
pub(crate) struct Slot<'a>(pub(crate) &'a ServerInner, pub(crate) bool);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.release();
        }
    }
}

pub(crate) async fn respond_and_close<S: AsyncWrite + Unpin>(mut stream: S, response: HttpResponse) {
    let write = async {
        stream.write_all(&response.to_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

/// Answers with `response` and closes (logged and counted); the handshake produced no session.
async fn reject<S: AsyncWrite + Unpin>(
    inner: &ServerInner,
    peer: SocketAddr,
    path: Option<&str>,
    stream: S,
    response: HttpResponse,
) -> Option<Session> {
    inner.refused(&response, peer, path);
    respond_and_close(stream, response).await;
    None
}

/// Serves one TCP connection that holds a slot: TLS if configured, then the handshake. `initial`
/// holds bytes the host already read from it (plain TCP only).
pub(crate) async fn handle_connection(
    inner: Arc<ServerInner>,
    tcp: TcpStream,
    peer: SocketAddr,
    initial: BytesMut,
) -> Option<Session> {
    let mut slot = Slot(&inner, true);
    let local = tcp.local_addr().unwrap_or(inner.local_addr);
    let deadline = tokio::time::Instant::now() + inner.config.handshake_timeout;
    let session = match &inner.tls {
        None => handshake_on(&inner, tcp, peer, local, false, deadline, initial).await,
        Some(acceptor) => {
            let tls = match tokio::time::timeout_at(deadline, acceptor.accept(NoSigPipeTcp(tcp))).await {
                Ok(Ok(tls)) => tls,
                failed => {
                    crate::metrics::inc(&inner.counters.tls_failures);
                    let error = failed.map_or_else(
                        |_| "timed out".to_owned(),
                        |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                    );
                    tracing::info!(parent: &inner.span, %peer, error, "TLS handshake failed");
                    return None;
                }
            };
            handshake_on(&inner, tls, peer, local, true, deadline, initial).await
        }
    };
    slot.1 = session.is_none();
    session
}

/// Reads and answers the upgrade request (after the bytes already in `buf`); returns the started
/// session on success.
pub(crate) async fn handshake_on<S>(
    inner: &Arc<ServerInner>,
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    deadline: tokio::time::Instant,
    mut buf: BytesMut,
) -> Option<Session>
where
    S: Transport + AsyncRead + AsyncWrite + Unpin,
{
    let cfg = &inner.config;
    let read_head = async {
        loop {
            match parse_located(&buf, cfg.max_head_bytes, cfg.max_headers, peer, local) {
                Ok(Some(done)) => return Ok(done),
                Ok(None) => {}
                Err(e) => return Err(Some(HttpResponse::text(e.status(), &format!("bad request head: {e:?}")))),
            }
            buf.reserve(1024.min(cfg.max_head_bytes + 1 - buf.len().min(cfg.max_head_bytes)).max(1));
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Err(None),
                Ok(_) => {}
            }
        }
    };
    let mut head = match tokio::time::timeout_at(deadline, read_head).await {
        Ok(Ok(done)) => done,
        Ok(Err(Some(response))) => return reject(inner, peer, None, stream, response).await,
        Ok(Err(None)) => return None,
        Err(_) => {
            let response = HttpResponse::text(408, "the request head did not arrive in time");
            return reject(inner, peer, None, stream, response).await;
        }
    };
    let leftover = buf.split_off(head.len);
    let request = &mut head.request;
    request.tls = tls;
    if let Some(response) = inner.metrics_answer(request) {
        respond_and_close(stream, response).await;
        return None;
    }
    let path = Some(request.path.as_str());

    let accept = match &inner.accept {
        Some(hook) => match tokio::time::timeout_at(deadline, hook(request.clone())).await {
            // A hook's invalid choice (bindings check before deciding; a Rust hook may not) is refused.
            Ok(d) if d.validate().is_err() => {
                let response = HttpResponse::text(500, "the accept hook's decision is invalid");
                return reject(inner, peer, path, stream, response).await;
            }
            Ok(Decision::Accept(a)) => a,
            Ok(Decision::Respond(response)) => return reject(inner, peer, path, stream, response).await,
            Err(_) => {
                let response = HttpResponse::text(503, "the server did not decide on the request in time");
                return reject(inner, peer, path, stream, response).await;
            }
        },
        None => Accept::default(),
    };
    let (agreed, handler) = match inner.agree(request, &accept) {
        Ok(agreed) => agreed,
        Err(response) => return reject(inner, peer, Some(&head.request.path), stream, response).await,
    };
    match tokio::time::timeout_at(deadline, stream.write_all(&agreed.to_bytes())).await {
        Ok(Ok(())) => {}
        _ => return None,
    }
    Some(inner.open_upgraded(stream, &buf, head, &accept, agreed, handler, leftover))
}

impl ServerInner {
    /// The answer to a plain GET of the metrics path, if `request` is one.
    pub(crate) fn metrics_answer(self: &Arc<Self>, request: &Request) -> Option<HttpResponse> {
        let wanted = self.config.metrics_path.as_deref() == Some(request.path.as_str());
        if !wanted || request.method != "GET" || request.is_upgrade() {
            return None;
        }
        let text = Server::from_inner(self.clone()).metrics();
        Some(HttpResponse::new(200, text).with_header("Content-Type", PROMETHEUS_CONTENT_TYPE))
    }

    /// What `accept` makes of `request`: the 101 to write (applied to `request`) and the handler of the
    /// session, or the refusal (no endpoint for the path, an invalid upgrade, the server shutting down).
    pub(crate) fn agree(
        &self,
        request: &mut Request,
        accept: &Accept,
    ) -> std::result::Result<(Handshake, Handler), HttpResponse> {
        let cfg = &self.config;
        let Some(handler) = accept.handler.clone().or_else(|| self.route(&request.path)) else {
            return Err(HttpResponse::text(404, &format!("no WebSocket endpoint at {}", request.path)));
        };
        let deflate_cfg = accept.deflate.as_ref().unwrap_or(&cfg.deflate);
        let mut agreed = Handshake::negotiate(request, accept.subprotocol.as_deref(), &cfg.subprotocols, deflate_cfg)?;
        agreed.headers = accept.headers.clone();
        agreed.apply(request);
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(HttpResponse::text(503, "the server is shutting down"));
        }
        Ok((agreed, handler))
    }

    /// Starts the session of a connection whose 101 was written: `head` parsed from the start of
    /// `bytes`, `leftover` what was read after it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open_upgraded<T: Transport>(
        &self,
        stream: T,
        bytes: &[u8],
        head: ParsedHead,
        accept: &Accept,
        agreed: Handshake,
        handler: Handler,
        leftover: BytesMut,
    ) -> Session {
        crate::metrics::inc(&self.counters.handshakes_accepted);
        let config = accept.config.clone().unwrap_or_else(|| self.config.session.clone());
        // The session keeps the head's bytes; the parsed request is dropped here and made again if asked for.
        let session = self.new_session(stream, LazyRequest::from_head(bytes, head), config, leftover, Some(handler));
        session.set_attachment(accept.attachment.clone());
        session.start(agreed.deflate).expect("a new session starts once");
        session
    }
}

impl ServerInner {
    /// A registered, unstarted session of this server; `handler` (if any) runs once it starts.
    pub(crate) fn new_session<T: Transport>(
        &self,
        transport: T,
        request: LazyRequest,
        config: crate::SessionConfig,
        leftover: BytesMut,
        handler: Option<Handler>,
    ) -> Session {
        let events = match &handler {
            Some(Handler::Events(h)) => Some(h.clone()),
            _ => None,
        };
        let registry: Weak<dyn Registry> = self.self_ref.clone();
        let session = Session::with_registry(transport, request, config, leftover, events, Some(registry));
        self.register(&session);
        let task = match handler {
            Some(Handler::Task(task)) => Some(task),
            _ => None,
        };
        let server = self.self_ref.clone();
        session.after_start(move |s| {
            if server.upgrade().is_some_and(|inner| inner.shutting_down.load(Ordering::SeqCst)) {
                // Started while `shutdown` took its snapshot of the sessions: close it like the others.
                let _ = s.close(GOING_AWAY, "server shutdown");
            }
            if let Some(task) = task {
                let s = s.clone();
                crate::runtime::spawn(async move {
                    match task(s.clone()).await {
                        Ok(()) => {
                            let _ = s.close(NORMAL, "");
                        }
                        Err(e) => {
                            tracing::error!(parent: s.span(), error = %e, "session handler failed");
                            let _ = s.close(INTERNAL_ERROR, &short_reason(&e.to_string()));
                        }
                    }
                });
            }
        });
        session
    }
}

/// Cuts a message to the 123 bytes a Close reason may hold, on a character boundary.
pub(crate) fn short_reason(msg: &str) -> String {
    let mut end = msg.len().min(123);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    msg[..end].to_owned()
}
