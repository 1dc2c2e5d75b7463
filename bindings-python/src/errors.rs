//! Maps core errors to the `wssession.exceptions` hierarchy (one base class: `WebSocketException`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use wssession_core::{CloseFrame, CloseReason, Error, Initiator};

use crate::frame::PyFrame;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `wssession.exceptions` module (pure Python, imported once).
fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    MODULE.get_or_try_init(py, || Ok::<_, PyErr>(py.import("wssession.exceptions")?.unbind())).map(|m| m.bind(py))
}

/// The exception class `name` from `wssession.exceptions`.
pub fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(module(py)?.getattr(name)?.cast_into::<PyType>()?)
}

/// Builds an exception instance of `name` with `args`.
fn make<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match class(py, name).and_then(|c| c.call1(args)) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// An exception of class `name` with one message argument.
pub fn err(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    make(py, name, (message.into(),))
}

/// `ConnectionClosedOK` or `ConnectionClosedError` with `rcvd`/`sent` the Close frames that crossed
/// the wire (an empty one reads 1005, as websockets parses it). websockets' rule: OK only when both
/// were exchanged and each code is 1000, 1001 or 1005.
pub fn connection_closed(py: Python<'_>, reason: Option<&CloseReason>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let close = class(py, "Close")?;
        let to_py = |f: Option<&CloseFrame>| -> PyResult<Py<PyAny>> {
            match f {
                None => Ok(py.None()),
                Some(f) => Ok(close.call1((f.code.unwrap_or(1005), f.reason.as_str()))?.unbind()),
            }
        };
        let (rcvd, sent) = reason.map_or((None, None), |r| (r.received.as_ref(), r.sent.as_ref()));
        let rcvd_then_sent = match (reason, rcvd, sent) {
            (Some(r), Some(_), Some(_)) => Some(r.initiator == Initiator::Remote),
            _ => None,
        };
        let ok_code = |f: &CloseFrame| matches!(f.code.unwrap_or(1005), 1000 | 1001 | 1005);
        let ok = rcvd.is_some_and(ok_code) && sent.is_some_and(ok_code);
        let name = if ok { "ConnectionClosedOK" } else { "ConnectionClosedError" };
        let args = (to_py(rcvd)?, to_py(sent)?, rcvd_then_sent);
        Ok(PyErr::from_value(class(py, name)?.call1(args)?))
    };
    build().unwrap_or_else(|e| e)
}

/// The Python exception for a core error.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Closed(reason) => connection_closed(py, reason.as_ref()),
        Error::Timeout(_) => err(py, "SessionTimeoutError", msg),
        Error::InvalidArgument(_) | Error::OutOfRange(_) => err(py, "InvalidArgumentError", msg),
        Error::Protocol { .. } => err(py, "ProtocolError", msg),
        Error::TooBig { .. } => err(py, "PayloadTooBig", msg),
        Error::NoConverter => err(py, "NoConverterError", msg),
        Error::Deserialize { frame, message } => match Py::new(py, PyFrame::from(*frame)) {
            Ok(f) => make(py, "DeserializeError", (f, message)),
            Err(e) => e,
        },
        Error::Io(_) => err(py, "SessionIOError", msg),
        Error::Handshake(_) => err(py, "InvalidHandshake", msg),
        Error::WouldBlock => err(py, "WouldBlockError", msg),
        Error::Dropped => err(py, "DroppedError", msg),
        Error::WouldDeadlock => err(py, "WouldDeadlockError", msg),
        Error::AlreadyStarted | Error::RuntimeStarted => err(py, "InvalidState", msg),
        Error::Recovery(failure) => make(py, "RecoveryError", (msg, failure.as_str())),
        Error::Backplane(_) => err(py, "BackplaneError", msg),
    }
}

/// Converts a core result, attaching to the interpreter for the error case.
pub fn map<T>(r: Result<T, Error>) -> PyResult<T> {
    r.map_err(|e| {
        let msg = e.to_string();
        crate::bridge::attach(|py| to_py(py, e))
            .unwrap_or_else(|| pyo3::exceptions::PyRuntimeError::new_err(format!("interpreter exiting: {msg}")))
    })
}

/// A `TypeError` naming what was expected and what was given.
pub fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = got.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("{what} must be {expected}, not {got}"))
}
