//! Logs and figures: `wss_set_log_callback`, `wss_server_get_stats`, `wss_server_metrics`.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use wssession_core::log::{Level, LogRecord, set_global_sink};

use crate::error::{FfiError, wss_status};
use crate::handle::{UserData, arg, out_ptr, write};
use crate::server::wss_server;

/// Log levels, most severe first; a callback gets its level and every more severe one.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_log_level {
    /// No records.
    Off = 0,
    /// Handler failures.
    Error = 1,
    /// Protocol violations, accept errors.
    Warn = 2,
    /// Listening, refused handshakes, TLS failures, sessions opened and closed, ping timeouts.
    Info = 3,
    /// Backpressure drops and waits, requests answered without an upgrade.
    Debug = 4,
    /// Every message in and out.
    Trace = 5,
}

/// A log record: `message` ("handshake refused") and `fields` ("addr=127.0.0.1:8080 status=404 ..."),
/// both NUL-terminated and borrowed for the call. Runs on runtime threads; must not block for long.
pub type wss_log_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: u32, message: *const c_char, fields: *const c_char)>;

fn level_in(level: u32) -> Result<Option<Level>, FfiError> {
    Ok(Some(match level {
        0 => return Ok(None),
        1 => Level::ERROR,
        2 => Level::WARN,
        3 => Level::INFO,
        4 => Level::DEBUG,
        5 => Level::TRACE,
        other => {
            return Err(FfiError::invalid(format!(
                "unknown log level {other}; use WSS_LOG_LEVEL_OFF (0) to WSS_LOG_LEVEL_TRACE (5)"
            )));
        }
    }))
}

fn level_out(level: Level) -> u32 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// NUL-free text for C (a NUL inside a value, which the engine never writes, becomes a space).
fn c_text(s: String) -> CString {
    CString::new(s.replace('\0', " ")).expect("NULs replaced")
}

/// Sends the library's log records at `level` (a `wss_log_level`) and more severe to `callback`, for
/// every server in the process, replacing any previous callback; `WSS_LOG_LEVEL_OFF` or a NULL callback
/// removes it. Records of levels no callback takes cost no formatting and no call.
/// WSS_STATUS_ALREADY_STARTED when the host process already installed its own Rust `tracing` subscriber.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_set_log_callback(level: u32, callback: wss_log_cb, user_data: *mut c_void) -> wss_status {
    ffi_status! {
        let route = match (level_in(level)?, callback) {
            (Some(level), Some(f)) => {
                let ud = Arc::new(UserData::new(user_data, None));
                let sink = Arc::new(move |r: &LogRecord| {
                    let fields: Vec<String> = r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let (message, fields) = (c_text(r.message.clone()), c_text(fields.join(" ")));
                    // SAFETY: the C callback registered with its user_data; both strings outlive the call.
                    unsafe { f(ud.get(), level_out(r.level), message.as_ptr(), fields.as_ptr()) }
                });
                Some((level, sink as wssession_core::log::LogSink))
            }
            _ => None,
        };
        if set_global_sink(route) {
            Ok(())
        } else {
            Err(FfiError::new(wss_status::AlreadyStarted, "the process already has its own tracing subscriber"))
        }
    }
}

/// Server-wide figures since the server started (`wss_server_get_stats`); the Prometheus text of
/// `wss_server_metrics` also has them broken down by status, close code and violation kind.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wss_server_stats {
    /// Sessions open now.
    pub connections_open: u64,
    /// Sessions opened since the start.
    pub connections_total: u64,
    /// Upgrades answered with 101.
    pub handshakes_accepted: u64,
    /// Requests refused instead of upgraded (any status ≥ 400).
    pub handshakes_refused: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// Sessions ended (any code).
    pub closes: u64,
    /// Sessions failed for breaking the protocol (any kind).
    pub violations: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages (and control frames) sent.
    pub messages_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Frames `try_send` dropped over the hard limit.
    pub backpressure_drops: u64,
    /// Sends that waited for the queue to drain.
    pub backpressure_waits: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Sessions closed because a Pong was late.
    pub ping_timeouts: u64,
    /// Topic publishes.
    pub publishes: u64,
    /// Messages publishes queued to subscribers.
    pub publish_deliveries: u64,
    /// Publish deliveries skipped (slow subscriber under the DROP policy, or mid-fragment).
    pub publish_drops: u64,
    /// Subscribers closed by the CLOSE policy.
    pub slow_subscriber_closes: u64,
    /// Compressions publishes made (one per shared deflate setting, plus one per subscriber that
    /// keeps its compression context).
    pub publish_compressions: u64,
}

/// Fills `out` with the server's figures (one consistent snapshot).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_get_stats(server: *const wss_server, out: *mut wss_server_stats) -> wss_status {
    ffi_status! {
        let s = arg(server, "server")?.running()?.stats();
        let out = out_ptr(out, "out")?;
        let t = s.traffic;
        write(out, wss_server_stats {
            connections_open: s.connections_open,
            connections_total: s.connections_total,
            handshakes_accepted: s.handshakes_accepted,
            handshakes_refused: s.handshakes_refused.values().sum(),
            tls_failures: s.tls_failures,
            closes: s.closes.values().sum(),
            violations: s.violations.values().sum(),
            messages_in: t.messages_in,
            bytes_in: t.bytes_in,
            messages_out: t.messages_out,
            bytes_out: t.bytes_out,
            backpressure_drops: s.backpressure_drops,
            backpressure_waits: s.backpressure_waits,
            pings_sent: s.pings_sent,
            ping_timeouts: s.ping_timeouts,
            publishes: s.publishes,
            publish_deliveries: s.publish_deliveries,
            publish_drops: s.publish_drops,
            slow_subscriber_closes: s.slow_subscriber_closes,
            publish_compressions: s.publish_compressions,
        });
        Ok(())
    }
}

/// Writes the figures in the Prometheus (OpenMetrics) text format into `buf` (`cap` bytes, NUL-terminated
/// when it fits, like snprintf) and the full length without the NUL into `*len`: call with a larger
/// buffer when `*len >= cap`. `buf` may be NULL when `cap` is 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_metrics(
    server: *const wss_server,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> wss_status {
    ffi_status! {
        let text = arg(server, "server")?.running()?.metrics();
        let len = out_ptr(len, "len")?;
        if cap > 0 {
            let buf = out_ptr(buf, "buf")?;
            let n = text.len().min(cap - 1);
            // SAFETY: the caller provides `cap` writable bytes at `buf` (header contract); n + 1 <= cap.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
                *buf.add(n) = 0;
            }
        }
        write(len, text.len());
        Ok(())
    }
}

/// What the backplane did since the server started (all zero for the in-process default).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wss_backplane_stats {
    /// Whether the broker connection is up now.
    pub connected: bool,
    /// Topics this server listens to on the broker (those with local subscribers).
    pub topics: u64,
    /// Publishes the broker took.
    pub published: u64,
    /// Messages from the broker delivered to this server's subscribers.
    pub received: u64,
    /// Publishes not sent on because the queue toward the broker was full (delivered locally only).
    pub dropped: u64,
    /// Publishes the broker did not take (unreachable): other servers never see them.
    pub failed: u64,
    /// Messages from other servers this one never received (pub/sub gaps, trimmed history).
    pub lost: u64,
    /// Messages filled in from the history (after a gap or a reconnect, or for a resuming session).
    pub recovered: u64,
    /// Broker connections re-established after a loss.
    pub reconnects: u64,
}

/// Fills `out` with the backplane's figures (BACKPLANE.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_get_backplane_stats(
    server: *const wss_server,
    out: *mut wss_backplane_stats,
) -> wss_status {
    ffi_status! {
        let b = arg(server, "server")?.running()?.stats().backplane;
        write(out_ptr(out, "out")?, wss_backplane_stats {
            connected: b.connected,
            topics: b.topics,
            published: b.published,
            received: b.received,
            dropped: b.dropped,
            failed: b.failed,
            lost: b.lost,
            recovered: b.recovered,
            reconnects: b.reconnects,
        });
        Ok(())
    }
}
