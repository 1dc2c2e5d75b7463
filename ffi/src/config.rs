//! `wss_server_config`: every ServerConfig, SessionConfig and DeflateConfig field, with validation.

use std::ffi::c_char;
use std::time::Duration;

use wssession_core::{ServerConfig, TlsConfig};

use crate::error::{FfiError, wss_status};
use crate::handle::{arg, arg_str};

/// Server settings; create with `wss_server_config_new`, free with `wss_server_config_free`.
/// `wss_server_new` copies it, so it may be freed (or reused) right after.
pub struct wss_server_config {
    pub(crate) config: std::sync::Mutex<ServerConfig>,
    /// Where callbacks run (`wss_server_config_set_callback_mode`).
    pub(crate) callback_mode: std::sync::atomic::AtomicU32,
}

/// Where a server's callbacks run.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wss_callback_mode {
    /// On the library's runtime threads, as events happen (the default).
    RuntimeThreads = 0,
    /// Queued until the application calls `wss_server_dispatch` on its own (event-loop) thread;
    /// `wss_server_event_fd` becomes readable while callbacks are queued.
    Dispatch = 1,
}

pub(crate) fn callback_mode_in(mode: u32) -> Result<wss_callback_mode, FfiError> {
    match mode {
        0 => Ok(wss_callback_mode::RuntimeThreads),
        1 => Ok(wss_callback_mode::Dispatch),
        other => Err(FfiError::invalid(format!(
            "unknown callback mode {other}; use WSS_CALLBACK_MODE_RUNTIME_THREADS (0) or WSS_CALLBACK_MODE_DISPATCH (1)"
        ))),
    }
}

/// A config with every default (127.0.0.1, port 0 = ephemeral, no TLS, no deflate, 16 MiB
/// frames, no pinger). NULL only if memory ran out.
#[unsafe(no_mangle)]
pub extern "C" fn wss_server_config_new() -> *mut wss_server_config {
    ffi_boundary! {
        Box::into_raw(Box::new(wss_server_config {
            config: std::sync::Mutex::new(ServerConfig::default()),
            callback_mode: std::sync::atomic::AtomicU32::new(wss_callback_mode::RuntimeThreads as u32),
        }))
    }
}

/// Frees a config; NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_free(config: *mut wss_server_config) {
    ffi_boundary! {
        if !config.is_null() {
            // SAFETY: non-NULL configs come from wss_server_config_new and are freed once (header contract).
            drop(unsafe { Box::from_raw(config) });
        }
    }
}

fn edit(
    config: *const wss_server_config,
    f: impl FnOnce(&mut ServerConfig) -> Result<(), FfiError>,
) -> Result<(), FfiError> {
    let cfg = arg(config, "config")?;
    let mut guard = cfg.config.lock().unwrap_or_else(|e| e.into_inner());
    // The core decides what is in range (ServerConfig::validate); a refused value changes nothing.
    let mut edited = guard.clone();
    f(&mut edited)?;
    edited.validate()?;
    *guard = edited;
    Ok(())
}

/// Host or address to bind ("127.0.0.1", "::1", "0.0.0.0", "localhost"). Default "127.0.0.1".
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_host(config: *mut wss_server_config, host: *const c_char) -> wss_status {
    ffi_status! {
        let host = arg_str(host, "host")?;
        edit(config, |c| {
            c.host = host.to_owned();
            Ok(())
        })
    }
}

/// Port to listen on; 0 (the default) picks an ephemeral one, see `wss_server_port`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_port(config: *mut wss_server_config, port: u16) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.port = port;
            Ok(())
        })
    }
}

/// Serve wss:// with these PEM files (certificate chain; PKCS#8, PKCS#1 or SEC1 key). The files
/// are read by `wss_server_start`, which fails with WSS_STATUS_INVALID_ARGUMENT if they are unusable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_tls(
    config: *mut wss_server_config,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> wss_status {
    ffi_status! {
        let cert_path = arg_str(cert_path, "cert_path")?.to_owned();
        let key_path = arg_str(key_path, "key_path")?.to_owned();
        edit(config, |c| {
            c.tls = Some(TlsConfig { cert_path, key_path });
            Ok(())
        })
    }
}

/// Adds a subprotocol this server speaks, in preference order (the first one the client also
/// offers is chosen unless the accept callback decides).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_add_subprotocol(
    config: *mut wss_server_config,
    subprotocol: *const c_char,
) -> wss_status {
    ffi_status! {
        let p = arg_str(subprotocol, "subprotocol")?;
        edit(config, |c| {
            c.subprotocols.push(p.to_owned());
            Ok(())
        })
    }
}

/// Limit on the request head in bytes (431 beyond). Default 16384. At least 256.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_max_head_bytes(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.max_head_bytes = value;
            Ok(())
        })
    }
}

/// Limit on the number of request headers (431 beyond). Default 100. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_max_headers(config: *mut wss_server_config, value: usize) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.max_headers = value;
            Ok(())
        })
    }
}

/// The request head (and TLS handshake) must arrive within this (408 beyond), and the accept callback
/// must decide within it (503 beyond). Default 10000 ms.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_handshake_timeout_ms(
    config: *mut wss_server_config,
    value: u64,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.handshake_timeout = Duration::from_millis(value);
            Ok(())
        })
    }
}

/// Connections (handshaking or open) beyond this get 503. Default 100000. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_max_connections(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.max_connections = value;
            Ok(())
        })
    }
}

/// Listen backlog. Default 1024. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_backlog(config: *mut wss_server_config, value: u32) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.backlog = value;
            Ok(())
        })
    }
}

/// Limit on a frame, a reassembled message and an inflated message. Default 16 MiB. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_max_frame_size(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.session.max_frame_size = value;
            Ok(())
        })
    }
}

/// Pinger period in ms; 0 (the default) disables the pinger.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_ping_interval_ms(
    config: *mut wss_server_config,
    value: u64,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.ping_interval_ms = value;
            Ok(())
        })
    }
}

/// How long the pinger waits for the matching Pong before closing with 1011. Default 15000 ms. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_timeout_ms(config: *mut wss_server_config, value: u64) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.session.timeout_ms = value;
            Ok(())
        })
    }
}

/// Bound on the closing handshake. Default 10000 ms.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_close_timeout_ms(
    config: *mut wss_server_config,
    value: u64,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.close_timeout_ms = value;
            Ok(())
        })
    }
}

/// Mask outgoing frames (non-standard for servers; browsers reject it). Default false.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_masking(config: *mut wss_server_config, value: bool) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.masking = value;
            Ok(())
        })
    }
}

/// Complete messages buffered for `wss_session_recv` before reading stops. Default 16. At least 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_incoming_queue(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.session.incoming_queue = value;
            Ok(())
        })
    }
}

/// Queued bytes above which `wss_session_send` waits and try_send reports BUFFERED. Default 1 MiB.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_write_high_water(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.write_high_water = value;
            Ok(())
        })
    }
}

/// `on_drain` fires when the queue falls below this. Default 256 KiB.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_write_low_water(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.write_low_water = value;
            Ok(())
        })
    }
}

/// Queued bytes above which `wss_session_try_send` drops. Default 2 MiB.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_write_hard_limit(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.session.write_hard_limit = value;
            Ok(())
        })
    }
}

/// Offer/accept permessage-deflate. Default false.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate(config: *mut wss_server_config, value: bool) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.deflate.enabled = value;
            Ok(())
        })
    }
}

/// zlib compression level 0-9. Default 5 (the core's `DeflateConfig` default).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_level(config: *mut wss_server_config, value: u32) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.deflate.level = value;
            Ok(())
        })
    }
}

/// zlib memory level 1-9 (sizes the compressor's literal buffer). Default 5 (the core's default).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_mem_level(
    config: *mut wss_server_config,
    value: u8,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.deflate.mem_level = value;
            Ok(())
        })
    }
}

/// Messages smaller than this many bytes are sent uncompressed. Default 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_threshold(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.deflate.threshold = value;
            Ok(())
        })
    }
}

/// Limit on an inflated message; 0 (the default) uses max_frame_size.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_max_inflated_size(
    config: *mut wss_server_config,
    value: usize,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.deflate.max_inflated_size = (value != 0).then_some(value);
            Ok(())
        })
    }
}

/// Reset our compressor after every message (less memory, worse ratio). Default false.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_server_no_context_takeover(
    config: *mut wss_server_config,
    value: bool,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.deflate.server_no_context_takeover = value;
            Ok(())
        })
    }
}

/// Ask clients to reset their compressor after every message. Default false.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_client_no_context_takeover(
    config: *mut wss_server_config,
    value: bool,
) -> wss_status {
    ffi_status! {

        edit(config, |c| {
            c.deflate.client_no_context_takeover = value;
            Ok(())
        })
    }
}

/// Largest LZ77 window (8-15) our compressor uses (8: messages go uncompressed). Default 15.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_server_max_window_bits(
    config: *mut wss_server_config,
    value: u8,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.deflate.server_max_window_bits = value;
            Ok(())
        })
    }
}

/// Largest window (8-15) we ask clients to use when they let us choose. Default 15.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_deflate_client_max_window_bits(
    config: *mut wss_server_config,
    value: u8,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.deflate.client_max_window_bits = value;
            Ok(())
        })
    }
}

/// What a topic publish does with a subscriber whose write queue is over its high-water mark:
/// WSS_SLOW_SUBSCRIBER_DROP (the default: that subscriber misses the message, counted) or
/// WSS_SLOW_SUBSCRIBER_CLOSE with `close_code` 1008 or 1013 (ignored for DROP).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_slow_subscriber(
    config: *mut wss_server_config,
    policy: u32,
    close_code: u16,
) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.slow_subscriber = crate::topics::slow_subscriber_in(policy, close_code)?;
            Ok(())
        })
    }
}

/// Bind the listener with SO_REUSEPORT, so several processes (or servers) share the port and the
/// kernel spreads connections over them. Default false.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_reuse_port(config: *mut wss_server_config, value: bool) -> wss_status {
    ffi_status! {
        edit(config, |c| {
            c.reuse_port = value;
            Ok(())
        })
    }
}

/// Answer a plain HTTP GET of `path` (e.g. "/metrics") with the server's Prometheus text
/// (`wss_server_metrics`) on the same listener; NULL (the default) turns it off. Anyone who can reach
/// the listener can then read the figures.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_metrics_path(
    config: *mut wss_server_config,
    path: *const c_char,
) -> wss_status {
    ffi_status! {
        let path = if path.is_null() { None } else { Some(arg_str(path, "path")?.to_owned()) };
        if path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(FfiError::invalid("metrics path must start with '/'"));
        }
        edit(config, |c| {
            c.metrics_path = path;
            Ok(())
        })
    }
}

/// Where callbacks run: WSS_CALLBACK_MODE_RUNTIME_THREADS (default) or WSS_CALLBACK_MODE_DISPATCH
/// (queued for `wss_server_dispatch`, for programs with their own event loop; see ffi/README.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_config_set_callback_mode(config: *mut wss_server_config, mode: u32) -> wss_status {
    ffi_status! {
        let cfg = arg(config, "config")?;
        let mode = callback_mode_in(mode)?;
        cfg.callback_mode.store(mode as u32, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
