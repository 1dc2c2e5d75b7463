//! Glue to the Python side: the pure-Python helpers, logging, and the asyncio bridge.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `wssession._types` module (State, the default JSON converter, helpers).
pub fn types(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    TYPES.get_or_try_init(py, || Ok::<_, PyErr>(py.import("wssession._types")?.unbind())).map(|m| m.bind(py))
}

/// Logs `err` with its traceback on the `wssession.server` logger.
pub fn log_error(py: Python<'_>, message: &str, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("wssession.server",))?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.clone_ref(py).into_value(py))?;
        logger.call_method("error", (message,), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        err.print(py);
    }
}
