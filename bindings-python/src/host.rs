//! Connections the host owns: the byte pump an asyncio protocol drives (TLS by an `SSLContext`, Unix
//! sockets), the handshake response for a host that writes the 101 itself, and the connection it then
//! hands over, started with the negotiated extensions (Ktor's `start(negotiated)`).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wssession_core::{BytePump, DeflateParams, Handshake, Session};

use crate::errors;
use crate::request::PyRequest;

/// A socket address from Python's `(host, port)`; the unspecified address for what is not one (a
/// Unix socket's name).
pub fn socket_addr(addr: &(String, u16)) -> SocketAddr {
    addr.0.parse().map(|ip| SocketAddr::new(ip, addr.1)).unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The host's end of a connection whose bytes asyncio carries: push what the transport received,
/// pull what to write.
#[pyclass(name = "BytePump", module = "wssession._wssession", frozen)]
pub struct PyBytePump {
    pump: Arc<BytePump>,
}

impl From<BytePump> for PyBytePump {
    fn from(pump: BytePump) -> Self {
        Self { pump: Arc::new(pump) }
    }
}

#[pymethods]
impl PyBytePump {
    /// Hands over what fits of ``data`` now; returns how many bytes that was (0: the buffer is full).
    fn try_push(&self, py: Python<'_>, data: &[u8]) -> PyResult<usize> {
        self.pump.try_push(data).map_err(|e| errors::to_py(py, e))
    }

    /// Hands over ``data``, waiting while the engine's buffer is full.
    fn push<'py>(&self, py: Python<'py>, data: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let pump = self.pump.clone();
        crate::bridge::future_into_py(py, async move { errors::map(pump.push(&data).await) })
    }

    /// The next bytes to write (at most ``max``); None once the session has finished writing.
    fn pull<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let pump = self.pump.clone();
        crate::bridge::future_into_py(py, async move {
            Ok(pump.pull(max.max(1)).await.map(|b| Cow::<'static, [u8]>::Owned(b.to_vec())))
        })
    }

    /// The stream ended (the peer's EOF): the session reads end of stream after what was pushed.
    fn end(&self) {
        let pump = self.pump.clone();
        wssession_core::runtime::spawn(async move { pump.end().await });
    }

    /// The stream failed or was lost: the session ends as on a TCP reset.
    fn fail(&self) {
        self.pump.fail();
    }
}

/// permessage-deflate parameters negotiated in a handshake (what ``start`` takes).
#[pyclass(name = "DeflateParams", module = "wssession._wssession", frozen)]
#[derive(Clone)]
pub struct PyDeflateParams {
    inner: DeflateParams,
}

#[pymethods]
impl PyDeflateParams {
    /// The ``Sec-WebSocket-Extensions`` value of the response.
    #[getter]
    fn extension(&self) -> String {
        self.inner.response_header()
    }

    fn __repr__(&self) -> String {
        format!("DeflateParams({:?})", self.inner.response_header())
    }
}

/// The 101 a server answers an upgrade request with, for a host that writes it itself.
#[pyclass(name = "Handshake", module = "wssession._wssession", frozen)]
pub struct PyHandshake {
    inner: Handshake,
}

impl From<Handshake> for PyHandshake {
    fn from(inner: Handshake) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyHandshake {
    /// The ``Sec-WebSocket-Accept`` value.
    #[getter]
    fn accept_key(&self) -> &str {
        &self.inner.accept_key
    }

    /// The chosen subprotocol, or None.
    #[getter]
    fn subprotocol(&self) -> Option<&str> {
        self.inner.subprotocol.as_deref()
    }

    /// The negotiated permessage-deflate parameters (give them to ``start``), or None.
    #[getter]
    fn negotiated(&self) -> Option<PyDeflateParams> {
        self.inner.deflate.clone().map(|inner| PyDeflateParams { inner })
    }

    /// Every header of the 101, in order.
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.inner.response_headers()
    }

    /// The whole 101 response as bytes, to write on the connection.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }
}

impl PyHandshake {
    /// The request as the session reports it: with the agreed subprotocol and extensions.
    pub fn applied(&self, request: &PyRequest) -> wssession_core::Request {
        let mut r = request.inner.clone();
        self.inner.apply(&mut r);
        r
    }
}

/// A connection the host upgraded and handed over: nothing runs until ``start(negotiated)``.
#[pyclass(name = "UpgradedConnection", module = "wssession._wssession", frozen)]
pub struct Upgraded {
    session: Mutex<Option<Session>>,
}

impl From<Session> for Upgraded {
    fn from(session: Session) -> Self {
        Self { session: Mutex::new(Some(session)) }
    }
}

#[pymethods]
impl Upgraded {
    /// Starts the session with the extensions negotiated in the handshake (Ktor's
    /// ``start(negotiatedExtensions)``); the server's handler then runs. Exactly once.
    #[pyo3(signature = (negotiated=None))]
    fn start(&self, py: Python<'_>, negotiated: Option<Bound<'_, PyDeflateParams>>) -> PyResult<()> {
        let session = self.session.lock().unwrap().clone();
        let Some(session) = session else {
            return Err(errors::err(py, "InvalidState", "the connection was terminated"));
        };
        session.start(negotiated.map(|p| p.get().inner.clone())).map_err(|e| errors::to_py(py, e))
    }

    /// Aborts the connection without starting it.
    fn terminate(&self) {
        if let Some(s) = self.session.lock().unwrap().take() {
            s.terminate();
        }
    }
}
