//! Starting a server from Python: handler dispatch to the asyncio loop, the accept hook bridge,
//! the callback (push) handler, and the `ServerHandle` the Python `Server` wraps.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use tokio::sync::oneshot;
use wssession_core::{
    Accept, CloseReason, DeflateConfig, EventHandler, Frame, Handler, HandlerError, HttpResponse, PeerInfo, Request,
    Server, ServerBuilder, ServerConfig, Session, SessionConfig, SlowSubscriber, TlsConfig,
};
use wssession_core::{Decision, Decision::Respond};

use crate::bridge::{self, log_error};
use crate::errors;
use crate::frame::{PyCloseReason, PyFrame};
use crate::host::{PyBytePump, PyHandshake, Upgraded, socket_addr};
use crate::request::{PyRequest, addr_tuple};
use crate::session::{Connection, duration};
use crate::topics::PyPublished;
use crate::wake;

/// A running server (the Rust side of `wssession.Server`).
#[pyclass(name = "ServerHandle", module = "wssession._wssession", frozen)]
pub struct ServerHandle {
    server: Server,
}

#[pymethods]
impl ServerHandle {
    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.server.port()
    }

    /// The bound (host, port).
    #[getter]
    fn local_address(&self) -> (String, u16) {
        addr_tuple(&self.server.local_addr())
    }

    /// Whether the bound address is IPv6.
    #[getter]
    fn is_ipv6(&self) -> bool {
        self.server.local_addr().is_ipv6()
    }

    /// Stops accepting new connections (open sessions continue).
    fn close(&self) {
        self.server.close();
    }

    /// Stops accepting, sends Close ``code``/``reason`` to every session, waits up to ``grace``
    /// seconds, then shuts the rest.
    #[pyo3(signature = (grace, code=1001, reason=String::new()))]
    fn shutdown<'py>(&self, py: Python<'py>, grace: f64, code: u16, reason: String) -> PyResult<Bound<'py, PyAny>> {
        let s = self.server.clone();
        s.close();
        for session in s.sessions() {
            // The first close wins: the core's own shutdown below then finds them closing.
            errors::map(session.close(code, &reason))?;
        }
        crate::bridge::future_into_py(py, async move {
            s.shutdown(duration(grace)).await;
            Ok(())
        })
    }

    /// Completes when the listener has closed.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.server.clone();
        crate::bridge::future_into_py(py, async move {
            s.wait().await;
            Ok(())
        })
    }

    /// Whether the listener has closed.
    #[getter]
    fn is_closed(&self) -> bool {
        self.server.is_closed()
    }

    /// Number of open sessions.
    #[getter]
    fn session_count(&self) -> usize {
        self.server.session_count()
    }

    /// Number of connections handshaking or open.
    #[getter]
    fn connection_count(&self) -> usize {
        self.server.connection_count()
    }

    /// Serves a TCP or Unix stream socket the host accepted (the engine owns descriptor ``fd`` from
    /// here; on error it is still the caller's): the listener's path, handshake and session.
    fn adopt_fd(&self, py: Python<'_>, fd: i32) -> PyResult<()> {
        // SAFETY: the caller hands over an open descriptor nothing else uses (a duplicate of the socket
        // asyncio accepted, whose own descriptor is closed right after).
        let adoption = unsafe { self.server.adopt_fd(fd, &[]) }.map_err(|e| errors::to_py(py, e))?;
        drop(adoption); // the engine serves it; its outcome is the session's
        Ok(())
    }

    /// Serves a connection whose bytes the host carries (TLS by asyncio, a Unix socket): returns the
    /// pump the host feeds and drains.
    fn adopt_pump(&self, remote: (String, u16), local: (String, u16), tls: bool) -> PyBytePump {
        let peer = PeerInfo { remote_addr: socket_addr(&remote), local_addr: socket_addr(&local), tls };
        let (pump, adoption) = self.server.adopt_pump(&[], peer);
        drop(adoption);
        PyBytePump::from(pump)
    }

    /// The 101 this server answers ``request`` with (accept key, subprotocol, permessage-deflate), for
    /// a host that writes it itself; InvalidHandshake for a request that is not a valid upgrade.
    fn handshake_response(&self, py: Python<'_>, request: &PyRequest) -> PyResult<PyHandshake> {
        match self.server.handshake_response(&request.inner) {
            Ok(h) => Ok(PyHandshake::from(h)),
            Err(r) => {
                let body = String::from_utf8_lossy(&r.body).trim().to_owned();
                Err(errors::err(py, "InvalidHandshake", format!("HTTP {}: {body}", r.status)))
            }
        }
    }

    /// A connection the host already upgraded (it wrote ``handshake``'s 101 on socket ``fd``), with
    /// the bytes read after the head; nothing runs until ``start(negotiated)``. The engine owns ``fd``
    /// on success.
    #[pyo3(signature = (fd, request, handshake, leftover=Vec::new()))]
    fn upgraded(
        &self,
        py: Python<'_>,
        fd: i32,
        request: &PyRequest,
        handshake: &PyHandshake,
        leftover: Vec<u8>,
    ) -> PyResult<Upgraded> {
        let request = handshake.applied(request);
        // SAFETY: the caller hands over an open, connected descriptor nothing else uses.
        let session = unsafe { self.server.upgraded_fd(fd, request, &leftover) }.map_err(|e| errors::to_py(py, e))?;
        Ok(Upgraded::from(session))
    }

    /// Publishes ``message`` to every subscriber of ``topic``, without waiting.
    #[pyo3(signature = (topic, message, text=None))]
    fn publish(&self, topic: &str, message: &Bound<'_, PyAny>, text: Option<bool>) -> PyResult<PyPublished> {
        let server = &self.server;
        crate::topics::publish(message, text, |data, text| server.publish(topic, data, text, None))
    }

    /// Publishes through a Redis history; resolves with the message's `Position` once the broker
    /// placed it (RecoveryError without a history, BackplaneError when the broker cannot take it).
    #[pyo3(signature = (topic, message, text=None))]
    fn publish_positioned<'py>(
        &self,
        topic: String,
        message: &Bound<'py, PyAny>,
        text: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let server = self.server.clone();
        crate::positions::publish_positioned(message, text, |data, text| async move {
            server.publish_positioned(&topic, &data, text, None).await
        })
    }

    /// How many connections are subscribed to ``topic``.
    fn subscriber_count(&self, topic: &str) -> usize {
        self.server.subscriber_count(topic)
    }

    /// Every topic with at least one subscriber, sorted.
    fn topics(&self) -> Vec<String> {
        self.server.topics()
    }

    /// Server-wide figures since the server started, as one snapshot.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        crate::observe::stats_dict(py, &self.server.stats())
    }

    /// The figures in the Prometheus (OpenMetrics) text format.
    fn metrics(&self) -> String {
        self.server.metrics()
    }
}

/// The accept hook's answer channel, handed to Python with the request.
#[pyclass(module = "wssession._wssession", frozen)]
pub struct Resolver {
    tx: Mutex<Option<oneshot::Sender<Decision>>>,
}

impl Resolver {
    fn resolve(&self, d: Decision) {
        if let Some(tx) = self.tx.lock().unwrap().take() {
            let _ = tx.send(d);
        }
    }
}

#[pymethods]
impl Resolver {
    /// Accepts the upgrade with ``subprotocol`` (or none); ``state`` is handed to the connection
    /// (``ServerConnection._handshake_state``).
    /// ``headers`` are added to the 101 response.
    #[pyo3(signature = (subprotocol=None, state=None, headers=Vec::new()))]
    fn accept(&self, subprotocol: Option<String>, state: Option<Py<PyAny>>, headers: Vec<(String, String)>) {
        let attachment = state.map(|s| Arc::new(s) as Arc<dyn std::any::Any + Send + Sync>);
        self.resolve(Decision::Accept(Accept { subprotocol, attachment, headers, ..Accept::default() }));
    }

    /// Answers with an HTTP response instead of upgrading.
    /// The core checks the response (status 100-599 but not 101, header names tokens, no CR/LF).
    fn respond(&self, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> PyResult<()> {
        let r = errors::map(HttpResponse::checked(status, headers, body))?;
        self.resolve(Respond(r));
        Ok(())
    }
}

/// Push-style handler: Python callbacks run on runtime threads, holding the GIL.
struct PyEvents {
    obj: Py<PyAny>,
    /// `obj.on_message`, bound once (not looked up per message).
    on_message: Py<PyAny>,
    app: Option<Py<PyAny>>,
    has_open: bool,
    has_drain: bool,
    has_close: bool,
    /// With `host_loop`: the loop's `call_soon_threadsafe`, to start watching each connection's socket.
    watch_on: Option<Arc<Py<PyAny>>>,
}

fn conn_of(session: &Session) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
    session.attachment()
}

impl PyEvents {
    fn failed(&self, py: Python<'_>, session: &Session, what: &str, e: PyErr) {
        log_error(py, &format!("{what} callback failed"), e);
        let _ = session.close(1011, &format!("{what} callback failed"));
    }

    fn connection(&self, py: Python<'_>, session: &Session) -> Option<Py<Connection>> {
        conn_of(session)?.downcast_ref::<Py<Connection>>().map(|c| c.clone_ref(py))
    }
}

impl EventHandler for PyEvents {
    fn on_open(&self, session: &Session) {
        bridge::attach(|py| {
            let app = self.app.as_ref().map(|a| a.clone_ref(py));
            let conn = match Py::new(py, Connection::new(session.clone(), None, app, None)) {
                Ok(c) => c,
                Err(e) => return self.failed(py, session, "on_open", e),
            };
            session.set_attachment(Some(Arc::new(conn.clone_ref(py))));
            if let Some(call_soon) = &self.watch_on {
                let r = conn.getattr(py, pyo3::intern!(py, "_host_watch")).and_then(|w| call_soon.call1(py, (w,)));
                if let Err(e) = r {
                    return self.failed(py, session, "on_open", e);
                }
            }
            if self.has_open
                && let Err(e) = self.obj.call_method1(py, pyo3::intern!(py, "on_open"), (conn,))
            {
                self.failed(py, session, "on_open", e);
            }
        });
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        bridge::attach(|py| {
            let Some(conn) = self.connection(py, session) else { return };
            let r = Py::new(py, PyFrame::from(frame)).and_then(|f| self.on_message.call1(py, (conn, f)));
            if let Err(e) = r {
                self.failed(py, session, "on_message", e);
            }
        });
    }

    fn on_drain(&self, session: &Session) {
        if !self.has_drain {
            return;
        }
        bridge::attach(|py| {
            let Some(conn) = self.connection(py, session) else { return };
            if let Err(e) = self.obj.call_method1(py, pyo3::intern!(py, "on_drain"), (conn,)) {
                self.failed(py, session, "on_drain", e);
            }
        });
    }

    fn on_close(&self, session: &Session, reason: &CloseReason) {
        bridge::attach(|py| {
            let conn = self.connection(py, session);
            session.set_attachment(None);
            if let (true, Some(conn)) = (self.has_close, conn) {
                let r = Py::new(py, PyCloseReason::from(reason.clone()))
                    .and_then(|r| self.obj.call_method1(py, pyo3::intern!(py, "on_close"), (conn, r)));
                if let Err(e) = r {
                    log_error(py, "on_close callback failed", e);
                }
            }
        });
    }
}

/// Runs the Python handler on the asyncio loop for each session and reports its outcome.
fn task_handler(
    call_soon: Arc<Py<PyAny>>,
    on_session: Arc<Py<PyAny>>,
    app: Option<Arc<Py<PyAny>>>,
    waker: Option<Arc<wake::Shared>>,
) -> Handler {
    Handler::task(move |session: Session| {
        let call_soon = call_soon.clone();
        let on_session = on_session.clone();
        let app = app.clone();
        let waker = waker.clone();
        async move {
            let (tx, rx) = oneshot::channel();
            let started = bridge::attach(|py| -> PyResult<()> {
                let app = app.map(|a| a.clone_ref(py));
                let conn = Py::new(py, Connection::new(session, Some(tx), app, waker))?;
                call_soon.call1(py, (on_session.clone_ref(py), conn))?;
                Ok(())
            });
            match started {
                None => return Err(HandlerError::from("the Python interpreter is exiting")),
                Some(Err(e)) => {
                    let msg = bridge::attach(|py| e.value(py).to_string()).unwrap_or_default();
                    return Err(HandlerError::from(format!("cannot start the Python handler: {msg}")));
                }
                Some(Ok(())) => {}
            }
            match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(msg)) => Err(HandlerError::from(msg)),
                Err(_) => Err(HandlerError::from("the Python handler was dropped")),
            }
        }
    })
}

/// The core's server settings from `serve`'s translated options, checked by the core (the ranges
/// are the core's, the same on every surface).
#[allow(clippy::too_many_arguments)]
fn server_config(
    host: String,
    port: u16,
    max_frame_size: usize,
    ping_interval_ms: u64,
    timeout_ms: u64,
    close_timeout_ms: u64,
    incoming_queue: usize,
    write_high_water: usize,
    write_low_water: usize,
    deflate: bool,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    max_connections: usize,
    backlog: u32,
    handshake_timeout: f64,
    metrics_path: Option<String>,
    host_loop: bool,
) -> PyResult<ServerConfig> {
    let tls = match (tls_cert, tls_key) {
        (Some(cert_path), Some(key_path)) => Some(TlsConfig { cert_path, key_path }),
        (None, None) => None,
        _ => return Err(pyo3::exceptions::PyValueError::new_err("tls_cert and tls_key go together")),
    };
    let config = ServerConfig {
        host,
        port,
        tls,
        handshake_timeout: duration(handshake_timeout),
        max_connections,
        backlog,
        deflate: if deflate { DeflateConfig::enabled() } else { DeflateConfig::default() },
        session: SessionConfig {
            max_frame_size,
            ping_interval_ms,
            timeout_ms,
            close_timeout_ms,
            incoming_queue,
            write_high_water,
            write_low_water,
            write_hard_limit: write_high_water.saturating_mul(2).max(1 << 16),
            host_read: host_loop,
            ..SessionConfig::default()
        },
        metrics_path,
        ..ServerConfig::default()
    };
    errors::map(config.validate())?;
    Ok(config)
}

/// Checks `serve`'s settings with the core's rules without starting anything: `serve()` raises
/// the core's error (InvalidArgumentError, a ValueError) before it returns.
#[pyfunction]
#[pyo3(signature = (
    *, host, port, max_frame_size=1048576, ping_interval_ms=20000, timeout_ms=20000,
    close_timeout_ms=10000, incoming_queue=16, write_high_water=32768, write_low_water=8192,
    deflate=true, tls_cert=None, tls_key=None, max_connections=100000, backlog=1024,
    handshake_timeout=10.0, metrics_path=None, host_loop=false
))]
#[allow(clippy::too_many_arguments)]
pub fn check_server_config(
    host: String,
    port: u16,
    max_frame_size: usize,
    ping_interval_ms: u64,
    timeout_ms: u64,
    close_timeout_ms: u64,
    incoming_queue: usize,
    write_high_water: usize,
    write_low_water: usize,
    deflate: bool,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    max_connections: usize,
    backlog: u32,
    handshake_timeout: f64,
    metrics_path: Option<String>,
    host_loop: bool,
) -> PyResult<()> {
    server_config(
        host,
        port,
        max_frame_size,
        ping_interval_ms,
        timeout_ms,
        close_timeout_ms,
        incoming_queue,
        write_high_water,
        write_low_water,
        deflate,
        tls_cert,
        tls_key,
        max_connections,
        backlog,
        handshake_timeout,
        metrics_path,
        host_loop,
    )
    .map(|_| ())
}

/// Starts a server; resolves with a `ServerHandle`. Called by `wssession.serve`, which validates
/// the websockets-style arguments and translates them into these core settings.
#[pyfunction]
#[pyo3(signature = (
    *, host, port, call_soon, waker=None, on_session=None, on_accept=None, events=None, app=None,
    max_frame_size=1048576, ping_interval_ms=20000, timeout_ms=20000, close_timeout_ms=10000,
    incoming_queue=16, write_high_water=32768, write_low_water=8192, deflate=true,
    tls_cert=None, tls_key=None, max_connections=100000, backlog=1024, handshake_timeout=10.0,
    response_headers=Vec::new(), detached=false, listener_fd=None, reuse_port=false,
    logger=None, log_level=30, metrics_path=None, backplane=None, slow_subscriber_close=None,
    host_loop=false
))]
#[allow(clippy::too_many_arguments)]
pub fn start_server<'py>(
    py: Python<'py>,
    host: String,
    port: u16,
    call_soon: Py<PyAny>,
    waker: Option<Py<wake::LoopWaker>>,
    on_session: Option<Py<PyAny>>,
    on_accept: Option<Py<PyAny>>,
    events: Option<Py<PyAny>>,
    app: Option<Py<PyAny>>,
    max_frame_size: usize,
    ping_interval_ms: u64,
    timeout_ms: u64,
    close_timeout_ms: u64,
    incoming_queue: usize,
    write_high_water: usize,
    write_low_water: usize,
    deflate: bool,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    max_connections: usize,
    backlog: u32,
    handshake_timeout: f64,
    response_headers: Vec<(String, String)>,
    detached: bool,
    listener_fd: Option<i32>,
    reuse_port: bool,
    logger: Option<Py<PyAny>>,
    log_level: u32,
    metrics_path: Option<String>,
    backplane: Option<String>,
    slow_subscriber_close: Option<i64>,
    host_loop: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut config = server_config(
        host,
        port,
        max_frame_size,
        ping_interval_ms,
        timeout_ms,
        close_timeout_ms,
        incoming_queue,
        write_high_water,
        write_low_water,
        deflate,
        tls_cert,
        tls_key,
        max_connections,
        backlog,
        handshake_timeout,
        metrics_path,
        host_loop,
    )?;
    config.reuse_port = reuse_port;
    // Frame by frame for recv_streaming (recv joins them); callback handlers get whole messages.
    config.session.deliver_fragments = events.is_none();
    config.backplane = backplane;
    // Codes out of range become 0, which the core's check refuses by name.
    config.slow_subscriber = slow_subscriber_close
        .map_or(SlowSubscriber::Drop, |code| SlowSubscriber::Close(u16::try_from(code).unwrap_or(0)));
    errors::map(config.validate())?;
    let call_soon = Arc::new(call_soon);
    let handler = match (events, on_session) {
        (Some(obj), _) => {
            let b = obj.bind(py);
            if !b.hasattr("on_message")? {
                return Err(errors::type_error("a callback handler", "an object with on_message(session, frame)", b));
            }
            let (has_open, has_drain, has_close) =
                (b.hasattr("on_open")?, b.hasattr("on_drain")?, b.hasattr("on_close")?);
            let app = app.as_ref().map(|a| a.clone_ref(py));
            let on_message = b.getattr("on_message")?.unbind();
            let watch_on = host_loop.then(|| call_soon.clone());
            Handler::events(PyEvents { obj, on_message, app, has_open, has_drain, has_close, watch_on })
        }
        (None, Some(f)) => {
            task_handler(call_soon.clone(), Arc::new(f), app.map(Arc::new), waker.map(|w| w.get().shared.clone()))
        }
        (None, None) => return Err(pyo3::exceptions::PyTypeError::new_err("on_session or events is required")),
    };
    let mut builder = ServerBuilder::new(config).fallback(handler);
    if let (Some(logger), Some(level)) = (logger, crate::observe::core_level(log_level)) {
        builder = builder.log_sink(level, crate::observe::logger_sink(logger));
    }
    if let Some(hook) = on_accept {
        let hook = Arc::new(hook);
        builder = builder.accept_hook_boxed(Arc::new(move |req: Request| {
            let hook = hook.clone();
            let call_soon = call_soon.clone();
            Box::pin(async move {
                let (tx, rx) = oneshot::channel();
                let sent = bridge::attach(|py| -> PyResult<()> {
                    let r = Py::new(py, PyRequest::new(req))?;
                    let resolver = Py::new(py, Resolver { tx: Mutex::new(Some(tx)) })?;
                    call_soon.call1(py, (hook.clone_ref(py), r, resolver))?;
                    Ok(())
                });
                match sent {
                    None => return Respond(HttpResponse::text(503, "the server is shutting down")),
                    Some(Err(_)) => return Respond(HttpResponse::text(500, "the server's request hook could not run")),
                    Some(Ok(())) => {}
                }
                rx.await.unwrap_or_else(|_| Respond(HttpResponse::text(500, "the server's request hook failed")))
            })
        }));
    } else if !response_headers.is_empty() {
        // Headers on every 101 without a round trip through Python (e.g. `Server:`).
        let headers = Arc::new(response_headers);
        builder = builder.accept_hook_boxed(Arc::new(move |_req: Request| {
            let headers = headers.to_vec();
            Box::pin(async move { Decision::Accept(Accept { headers, ..Accept::default() }) })
        }));
    }
    // SAFETY: `serve(sock=...)` detached the socket object: the descriptor is handed over.
    let listener = listener_fd.map(|fd| unsafe { <std::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    crate::bridge::future_into_py(py, async move {
        let started = match (detached, listener) {
            (true, _) => builder.start_detached(),
            (false, Some(listener)) => builder.start_on(listener).await,
            (false, None) => builder.start().await,
        };
        let server = errors::map(started)?;
        Ok(ServerHandle { server })
    })
}

/// The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (as the core answers it).
#[pyfunction]
pub fn accept_key(key: &str) -> String {
    let head = wssession_core::handshake::switching_protocols(key, None, "", &[]);
    let head = String::from_utf8_lossy(&head);
    head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Accept: ")).map(|v| v.trim().to_owned()).unwrap_or_default()
}
