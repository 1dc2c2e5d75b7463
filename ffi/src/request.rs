//! `wss_request`: read-only view of the upgrade request, with NUL-terminated copies of its strings.

use std::ffi::{CString, c_char};

use wssession_core::Request;

use crate::error::{FfiError, wss_status};
use crate::handle::{arg, arg_str, out_ptr, write};

/// The HTTP request that opened (or asks to open) a session. Borrowed: from the accept callback
/// (valid during the call) or from `wss_session_request` (valid while the session handle lives).
pub struct wss_request {
    method: CString,
    target: CString,
    path: CString,
    query: Option<CString>,
    subprotocol: Option<CString>,
    extensions: CString,
    remote_addr: CString,
    local_addr: CString,
    tls: bool,
    headers: Vec<(CString, CString)>,
}

fn c(s: &str) -> CString {
    // Parsed HTTP heads cannot hold NUL; escape rather than fail if one ever does.
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

impl wss_request {
    /// Copies the strings of `req` into C form.
    pub(crate) fn new(req: &Request) -> Self {
        Self {
            method: c(&req.method),
            target: c(&req.target),
            path: c(&req.path),
            query: req.query.as_deref().map(c),
            subprotocol: req.subprotocol.as_deref().map(c),
            extensions: c(&req.extensions),
            remote_addr: c(&req.remote_addr.to_string()),
            local_addr: c(&req.local_addr.to_string()),
            tls: req.tls,
            headers: req.headers.iter().map(|(n, v)| (c(n), c(v))).collect(),
        }
    }
}

fn string_out(
    req: *const wss_request,
    out: *mut *const c_char,
    pick: impl FnOnce(&wss_request) -> Result<&CString, FfiError>,
) -> Result<(), FfiError> {
    let req = arg(req, "request")?;
    let out = out_ptr(out, "out")?;
    write(out, pick(req)?.as_ptr());
    Ok(())
}

/// The HTTP method ("GET").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_method(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.method)) }
}

/// The request target as sent ("/chat?room=1").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_target(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.target)) }
}

/// The path part of the target ("/chat").
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_path(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.path)) }
}

/// The query string without '?' ("room=1"); WSS_STATUS_NOT_FOUND when the target has none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_query(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! {
        string_out(request, out, |r| {
            r.query.as_ref().ok_or_else(|| FfiError::new(wss_status::NotFound, "the request has no query string"))
        })
    }
}

/// The chosen subprotocol; WSS_STATUS_NOT_FOUND when none was chosen (or, in the accept
/// callback, not yet chosen).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_subprotocol(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! {
        string_out(request, out, |r| {
            r.subprotocol.as_ref().ok_or_else(|| FfiError::new(wss_status::NotFound, "no subprotocol was chosen"))
        })
    }
}

/// The negotiated Sec-WebSocket-Extensions response value ("" when none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_extensions(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.extensions)) }
}

/// The peer's address as "ip:port" ("[::1]:5000" for IPv6).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_remote_addr(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.remote_addr)) }
}

/// Our address the peer connected to, as "ip:port".
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_local_addr(request: *const wss_request, out: *mut *const c_char) -> wss_status {
    ffi_status! { string_out(request, out, |r| Ok(&r.local_addr)) }
}

/// Whether the connection is TLS (wss://).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_is_tls(request: *const wss_request, out: *mut bool) -> wss_status {
    ffi_status! {
        let r = arg(request, "request")?;
        write(out_ptr(out, "out")?, r.tls);
        Ok(())
    }
}

/// The first value of header `name` (case-insensitive); WSS_STATUS_NOT_FOUND when absent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_header(
    request: *const wss_request,
    name: *const c_char,
    out: *mut *const c_char,
) -> wss_status {
    ffi_status! {
        let name = arg_str(name, "name")?;
        string_out(request, out, |r| {
            r.headers
                .iter()
                .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v)
                .ok_or_else(|| FfiError::new(wss_status::NotFound, format!("no header named {name:?}")))
        })
    }
}

/// The number of header lines (repeated names counted separately).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_header_count(request: *const wss_request, out: *mut usize) -> wss_status {
    ffi_status! {
        let r = arg(request, "request")?;
        write(out_ptr(out, "out")?, r.headers.len());
        Ok(())
    }
}

/// The name and value of header line `index` (0-based, arrival order);
/// WSS_STATUS_INVALID_ARGUMENT when `index` >= the header count.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_request_header_at(
    request: *const wss_request,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> wss_status {
    ffi_status! {
        let r = arg(request, "request")?;
        let name_out = out_ptr(name_out, "name_out")?;
        let value_out = out_ptr(value_out, "value_out")?;
        let (n, v) = r.headers.get(index).ok_or_else(|| {
            FfiError::invalid(format!("header index {index} is out of range (the request has {})", r.headers.len()))
        })?;
        write(name_out, n.as_ptr());
        write(value_out, v.as_ptr());
        Ok(())
    }
}
