//! Topics from Python: what a publish did (`Published`), the message a publish or a broadcast sends,
//! and `broadcast` over any connections (the engine's shared framing, no topic).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use wssession_core::topics::Broadcast;
use wssession_core::{Published, Result};

use crate::errors::{self, type_error};
use crate::frame::bytes_like;
use crate::session::Connection;

/// What a publish did: subscribers it was queued to, skipped (over their write limit) or closed.
#[pyclass(name = "Published", module = "wssession._wssession", frozen, eq, get_all)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PyPublished {
    /// Subscribers the message was queued to.
    delivered: usize,
    /// Subscribers it was skipped for: over their write limit (``slow_subscriber="drop"``), or in
    /// the middle of sending a fragmented message.
    dropped: usize,
    /// Subscribers closed for being over their write limit (``slow_subscriber=CODE``).
    closed: usize,
}

impl From<Published> for PyPublished {
    fn from(p: Published) -> Self {
        PyPublished { delivered: p.delivered, dropped: p.dropped, closed: p.closed }
    }
}

#[pymethods]
impl PyPublished {
    fn __repr__(&self) -> String {
        format!("Published(delivered={}, dropped={}, closed={})", self.delivered, self.dropped, self.closed)
    }
}

/// Runs `send` with the message's payload and type (str → Text, bytes-like → Binary; ``text``
/// overrides) without the GIL: str and bytes are read in place, other bytes-likes copied once.
fn with_message<T: Send>(
    message: &Bound<'_, PyAny>,
    text: Option<bool>,
    send: impl FnOnce(&[u8], bool) -> Result<T> + Send,
) -> PyResult<T> {
    let py = message.py();
    let sent = if let Ok(s) = message.cast::<PyString>() {
        let data = s.to_str()?;
        py.detach(|| send(data.as_bytes(), text.unwrap_or(true)))
    } else if let Ok(b) = message.cast::<PyBytes>() {
        let data = b.as_bytes();
        py.detach(|| send(data, text.unwrap_or(false)))
    } else {
        let (data, is_text) =
            bytes_like(message)?.ok_or_else(|| type_error("message", "str or bytes-like", message))?;
        py.detach(|| send(&data, text.unwrap_or(is_text)))
    };
    sent.map_err(|e| errors::to_py(py, e))
}

/// Publishes `message` through `publish` (a session's or the server's).
pub fn publish(
    message: &Bound<'_, PyAny>,
    text: Option<bool>,
    publish: impl FnOnce(&[u8], bool) -> Result<Published> + Send,
) -> PyResult<PyPublished> {
    with_message(message, text, publish).map(PyPublished::from)
}

/// Sends ``message`` to each of ``connections`` without waiting, framed once (websockets'
/// ``broadcast``; ``wssession.broadcast`` wraps it). Returns the connections it could not be queued
/// to, each with why: ``"fragmented"`` (sending a fragmented message) or ``"full"`` (over the write
/// limit). Connections that are not open are skipped silently.
#[pyfunction]
#[pyo3(signature = (connections, message, text=None))]
pub fn broadcast<'py>(
    connections: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    text: Option<bool>,
) -> PyResult<Vec<(Bound<'py, Connection>, &'static str)>> {
    let mut conns = Vec::new();
    for c in connections.try_iter()? {
        let c = c?;
        let conn = c
            .cast_into::<Connection>()
            .map_err(|e| type_error("connections", "ServerConnection objects", e.into_inner().as_any()))?;
        conns.push(conn);
    }
    let sessions: Vec<_> = conns.iter().map(|c| c.get().session.clone()).collect();
    let outcomes =
        with_message(message, text, |data, text| wssession_core::topics::broadcast(&sessions, data, text, None))?;
    Ok(conns
        .into_iter()
        .zip(outcomes)
        .filter_map(|(conn, outcome)| match outcome {
            Broadcast::MidFragment => Some((conn, "fragmented")),
            Broadcast::OverLimit => Some((conn, "full")),
            _ => None,
        })
        .collect())
}
