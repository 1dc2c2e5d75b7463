//! Turning an [`Outcome`] into figures: a JSON object or a few human-readable lines.

use crate::modes::{Outcome, Settings};
use serde_json::{Value, json};

/// Microseconds at quantile `q` of the latency histogram.
fn quantile_us(o: &Outcome, q: f64) -> f64 {
    o.latency.value_at_quantile(q) as f64 / 1000.0
}

/// The figures as one JSON object (stable keys, read by `bench/run.py`).
pub fn to_json(mode: &str, s: &Settings, o: &Outcome) -> Value {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let per_msg = o.server_cpu_us.filter(|_| o.messages > 0).map(|c| c as f64 / o.messages as f64);
    let kib_per_conn = |after: u64| {
        o.rss.and_then(|r| {
            (o.connections_ok > 0).then(|| after.saturating_sub(r.before) as f64 / o.connections_ok as f64)
        })
    };
    json!({
        "mode": mode,
        "url": format!("{}://{}{}", s.target.scheme(), s.target.addr, s.target.path),
        "connections": s.connections,
        "connections_ok": o.connections_ok,
        "size": s.size,
        "binary": s.binary,
        "pipeline": s.pipeline,
        "deflate_offered": s.deflate,
        "deflate_negotiated": o.deflate_negotiated,
        "duration_s": secs,
        "messages": o.messages,
        "messages_per_sec": o.messages as f64 / secs,
        "mb_per_sec": o.bytes as f64 / secs / 1e6,
        "latency_us": {
            "p50": quantile_us(o, 0.5),
            "p99": quantile_us(o, 0.99),
            "p999": quantile_us(o, 0.999),
            "max": o.latency.max() as f64 / 1000.0,
        },
        "server_cpu_us": o.server_cpu_us,
        "server_cpu_util": o.server_cpu_us.map(|c| c as f64 / 1e6 / secs),
        "client_cpu_util": o.client_cpu_us.map(|c| c as f64 / 1e6 / secs),
        "server_cpu_us_per_msg": per_msg,
        "rss_kib": o.rss.map(|r| json!({"before": r.before, "after_open": r.after_open, "after_echo": r.after_echo})),
        "kib_per_conn": o.rss.and_then(|r| kib_per_conn(r.after_open)),
        "kib_per_conn_after_echo": o.rss.and_then(|r| kib_per_conn(r.after_echo)),
        "errors": o.errors,
        "first_error": o.first_error,
    })
}

/// The same figures as short human-readable lines.
pub fn to_text(v: &Value) -> String {
    let f = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let mut lines = vec![format!(
        "{} {}: {} conns ok of {}, {} B, pipeline {}, {:.2} s",
        f("mode"),
        f("url"),
        f("connections_ok"),
        f("connections"),
        f("size"),
        f("pipeline"),
        f("duration_s").as_f64().unwrap_or(0.0)
    )];
    lines.push(format!(
        "  messages {} ({:.0}/s, {:.2} MB/s), latency us p50 {} p99 {} p99.9 {}",
        f("messages"),
        f("messages_per_sec").as_f64().unwrap_or(0.0),
        f("mb_per_sec").as_f64().unwrap_or(0.0),
        v["latency_us"]["p50"],
        v["latency_us"]["p99"],
        v["latency_us"]["p999"]
    ));
    lines.push(format!(
        "  server cpu us {} ({} per message, util {}), client cpu util {}, KiB/conn {} (after echo {}), errors {} {}",
        f("server_cpu_us"),
        f("server_cpu_us_per_msg"),
        f("server_cpu_util"),
        f("client_cpu_util"),
        f("kib_per_conn"),
        f("kib_per_conn_after_echo"),
        f("errors"),
        f("first_error")
    ));
    lines.join("\n")
}
