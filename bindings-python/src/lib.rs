//! `wssession._wssession`: the native half of the `wssession` Python package (module registration only).

mod awaitable;
mod bridge;
mod errors;
mod frame;
mod host;
mod hostloop;
mod observe;
mod positions;
mod request;
mod server;
mod session;
mod topics;
mod wake;

use pyo3::prelude::*;

/// The native module; the public API is re-exported by `wssession/__init__.py`.
#[pymodule]
fn _wssession(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The engine's threads start with the module (one runtime per process: the core's).
    let _ = wssession_core::runtime::runtime();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<frame::PyFrame>()?;
    m.add_class::<frame::PyCloseReason>()?;
    m.add("Ready", awaitable::ready_type_object(m.py())?)?;
    m.add_class::<request::PyHeaders>()?;
    m.add_class::<request::PyRequest>()?;
    m.add_class::<session::Connection>()?;
    m.add("RecvAwait", awaitable::type_object(m.py())?)?;
    m.add_class::<session::Incoming>()?;
    m.add_class::<session::Outgoing>()?;
    m.add_class::<topics::PyPublished>()?;
    m.add_class::<positions::PyPosition>()?;
    m.add_class::<server::ServerHandle>()?;
    m.add_class::<server::Resolver>()?;
    m.add_class::<host::PyBytePump>()?;
    m.add_class::<host::PyHandshake>()?;
    m.add_class::<host::PyDeflateParams>()?;
    m.add_class::<host::Upgraded>()?;
    m.add_class::<wake::LoopWaker>()?;
    m.add_class::<wake::Waiter>()?;
    m.add_function(wrap_pyfunction!(server::start_server, m)?)?;
    m.add_function(wrap_pyfunction!(server::check_server_config, m)?)?;
    m.add_function(wrap_pyfunction!(server::accept_key, m)?)?;
    m.add_function(wrap_pyfunction!(topics::broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_finalize, m)?)?;
    Ok(())
}
