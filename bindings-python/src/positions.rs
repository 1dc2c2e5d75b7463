//! Positions and recovery from Python (a Redis history): `Position`, the awaitable
//! `publish_positioned` of servers and connections, and `connection.subscribe_from`.

use std::future::Future;

use pyo3::prelude::*;
use pyo3::types::PyString;
use wssession_core::{Bytes, Position};

use crate::errors::{self, type_error};
use crate::frame::bytes_like;

/// A message's place in its topic's history: ``offset`` (one more per publish) in ``epoch`` (the
/// history it counts in). ``str(position)`` is ``"<offset>:<epoch>"``, the form clients see with
/// ``positions=1``; ``Position.parse`` reads it back.
#[pyclass(name = "Position", module = "wssession._wssession", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyPosition(pub Position);

#[pymethods]
impl PyPosition {
    #[new]
    fn new(offset: u64, epoch: String) -> Self {
        PyPosition(Position { offset, epoch })
    }

    /// Reads ``"<offset>:<epoch>"`` (InvalidArgumentError if it is not one).
    #[staticmethod]
    fn parse(py: Python<'_>, text: &str) -> PyResult<Self> {
        text.parse().map(PyPosition).map_err(|e| errors::to_py(py, e))
    }

    /// 1 for the first message of the epoch, one more for each publish after it.
    #[getter]
    fn offset(&self) -> u64 {
        self.0.offset
    }

    /// Names the history the offset counts in; changes when the history is lost.
    #[getter]
    fn epoch(&self) -> &str {
        &self.0.epoch
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Position(offset={}, epoch={:?})", self.0.offset, self.0.epoch)
    }
}

/// A position given as a `Position` or its text.
pub fn position_arg(since: &Bound<'_, PyAny>) -> PyResult<Position> {
    if let Ok(p) = since.cast::<PyPosition>() {
        return Ok(p.get().0.clone());
    }
    let text = since.cast::<PyString>().map_err(|_| type_error("since", "a Position or its str", since))?;
    text.to_str()?.parse().map_err(|e| errors::to_py(since.py(), e))
}

/// The awaitable ``publish_positioned`` of the server or a connection: `publish` gets the message's
/// payload, held for the task that waits for the broker, and its type (str → Text, bytes-like →
/// Binary; ``text`` overrides); the awaitable resolves with the message's `Position`.
pub fn publish_positioned<'py, F, Fut>(
    message: &Bound<'py, PyAny>,
    text: Option<bool>,
    publish: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: FnOnce(Bytes, bool) -> Fut,
    Fut: Future<Output = wssession_core::Result<Position>> + Send + 'static,
{
    let (data, is_text) = bytes_like(message)?.ok_or_else(|| type_error("message", "str or bytes-like", message))?;
    let placed = publish(data, text.unwrap_or(is_text));
    crate::bridge::future_into_py(message.py(), async move { errors::map(placed.await).map(PyPosition) })
}
