//! Logs and figures for Python: core log records to a `logging.Logger`, `Server.stats()` as a dict.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wssession_core::log::{Level, LogRecord, LogSink};
use wssession_core::{BackplaneStats, ServerStats};

/// The core level for a `logging` level: the most verbose one the logger lets through, or `None` when
/// it takes nothing the core emits (above ERROR), so no record ever crosses into Python.
pub fn core_level(py_level: u32) -> Option<Level> {
    Some(match py_level {
        0..=5 => Level::TRACE,
        6..=10 => Level::DEBUG,
        11..=20 => Level::INFO,
        21..=30 => Level::WARN,
        31..=40 => Level::ERROR,
        _ => return None,
    })
}

fn py_level(level: Level) -> u32 {
    match level {
        Level::TRACE => 5,
        Level::DEBUG => 10,
        Level::INFO => 20,
        Level::WARN => 30,
        Level::ERROR => 40,
    }
}

/// How an engine record reaches the logger: the server's lifecycle is written once, in websockets'
/// words. `wssession.server` writes "server listening on …", "connection open" (with the connection as
/// `websocket`), "connection handler failed" (with the traceback), "server closing" and "server closed"
/// itself, so the engine's records of those events are dropped; its "session closed" carries what
/// websockets' "connection closed" lacks (code, initiator, duration) and is written under that name.
enum Written {
    /// As "message (k=v, ...)".
    Own,
    /// Under websockets' message, the fields only in `extra`.
    As(&'static str),
    /// Not at all: the Python layer writes the event.
    ByPython,
}

fn written(message: &str) -> Written {
    match message {
        "session closed" => Written::As("connection closed"),
        "server listening"
        | "session open"
        | "session handler failed"
        | "server shutting down"
        | "server shut down"
        | "server closed" => Written::ByPython,
        _ => Written::Own,
    }
}

/// A sink calling `logger.log(level, "message (k=v, ...)", extra={"wssession": {k: v}})`.
pub fn logger_sink(logger: Py<PyAny>) -> LogSink {
    Arc::new(move |r: &LogRecord| {
        let name = match written(&r.message) {
            Written::ByPython => return,
            Written::As(name) => Some(name),
            Written::Own => None,
        };
        crate::bridge::attach(|py| {
            let sent = (|| -> PyResult<()> {
                let fields = PyDict::new(py);
                for (k, v) in &r.fields {
                    fields.set_item(*k, v)?;
                }
                let text: Vec<String> = r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let msg = match name {
                    Some(name) => name.to_owned(),
                    None if text.is_empty() => r.message.clone(),
                    None => format!("{} ({})", r.message, text.join(", ")),
                };
                let extra = PyDict::new(py);
                extra.set_item("wssession", fields)?;
                let kwargs = PyDict::new(py);
                kwargs.set_item("extra", extra)?;
                logger.call_method(py, "log", (py_level(r.level), msg), Some(&kwargs))?;
                Ok(())
            })();
            if let Err(e) = sent {
                e.write_unraisable(py, None);
            }
        });
    })
}

/// `BackplaneStats` as a dict (``kind`` None in-process).
fn backplane_dict<'py>(py: Python<'py>, b: &BackplaneStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("kind", b.kind)?;
    d.set_item("connected", b.connected)?;
    for (key, value) in [
        ("topics", b.topics),
        ("published", b.published),
        ("received", b.received),
        ("dropped", b.dropped),
        ("failed", b.failed),
        ("lost", b.lost),
        ("recovered", b.recovered),
        ("reconnects", b.reconnects),
    ] {
        d.set_item(key, value)?;
    }
    Ok(d)
}

/// `ServerStats` as a dict: counts by key become dicts (`closes` keyed by `(code, initiator)`).
pub fn stats_dict<'py>(py: Python<'py>, s: &ServerStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("connections_open", s.connections_open)?;
    d.set_item("connections_total", s.connections_total)?;
    d.set_item("handshakes_accepted", s.handshakes_accepted)?;
    d.set_item("handshakes_refused", s.handshakes_refused.clone())?;
    d.set_item("tls_failures", s.tls_failures)?;
    d.set_item("closes", s.closes.clone())?;
    d.set_item("violations", s.violations.clone())?;
    d.set_item("messages_in", s.traffic.messages_in)?;
    d.set_item("bytes_in", s.traffic.bytes_in)?;
    d.set_item("messages_out", s.traffic.messages_out)?;
    d.set_item("bytes_out", s.traffic.bytes_out)?;
    d.set_item("backpressure_drops", s.backpressure_drops)?;
    d.set_item("backpressure_waits", s.backpressure_waits)?;
    d.set_item("pings_sent", s.pings_sent)?;
    d.set_item("ping_timeouts", s.ping_timeouts)?;
    d.set_item("publishes", s.publishes)?;
    d.set_item("publish_deliveries", s.publish_deliveries)?;
    d.set_item("publish_drops", s.publish_drops)?;
    d.set_item("slow_subscriber_closes", s.slow_subscriber_closes)?;
    d.set_item("publish_compressions", s.publish_compressions)?;
    let topics = PyDict::new(py);
    for (name, t) in &s.topics {
        let counts = PyDict::new(py);
        counts.set_item("publishes", t.publishes)?;
        counts.set_item("deliveries", t.deliveries)?;
        counts.set_item("drops", t.drops)?;
        counts.set_item("closes", t.closes)?;
        topics.set_item(name, counts)?;
    }
    d.set_item("topics", topics)?;
    d.set_item("backplane", backplane_dict(py, &s.backplane)?)?;
    Ok(d)
}
