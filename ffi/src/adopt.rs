//! Connections the application owns: sockets it accepted (`wss_server_adopt_fd`), the 101 it writes
//! itself (`wss_handshake`), and connections it already upgraded (`wss_server_upgraded_fd`).

use std::ffi::{CString, c_char, c_int};
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wssession_core::handshake::{is_token, parse_head};
use wssession_core::{DeflateParams, HttpResponse, Request, Server};

use crate::error::{FfiError, wss_status};
use crate::handle::{arg, arg_bytes, arg_str, out_ptr, write};
use crate::server::wss_server;
use crate::session::{attach, wss_session};

/// Serves a connection the application accepted (TCP, or a Unix stream socket), as if the server's
/// listener had: the library
/// reads the rest of the request head (after the `len` bytes of `initial_bytes` already read from it,
/// which may be none, part of the head, or the head and more), routes it, runs the accept callback,
/// answers (101, or the HTTP error) and runs the session. Returns at once.
///
/// Ownership of `fd`: on WSS_STATUS_OK the library owns it and closes it when the connection ends
/// (do not read, write or close it any more); on any error it is untouched and still yours. Errors:
/// WSS_STATUS_INVALID_ARGUMENT when `fd` is not a connected TCP or Unix stream socket, or for initial
/// bytes on a TLS server; WSS_STATUS_NOT_STARTED before `wss_server_start` / `wss_server_start_detached`. A closed
/// or full server answers the connection with 503 (and returns WSS_STATUS_OK).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_adopt_fd(
    server: *const wss_server,
    fd: c_int,
    initial_bytes: *const u8,
    len: usize,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let initial = arg_bytes(initial_bytes, len, "initial_bytes")?;
        // SAFETY: the caller hands over `fd` (the contract above); the core validates it first and
        // leaves it untouched on error.
        let _adoption = unsafe { srv.adopt_fd(fd, initial) }?;
        Ok(())
    }
}

/// The response to an upgrade request, for an application that writes it itself. Free with
/// `wss_handshake_free`.
pub struct wss_handshake {
    status: u16,
    bytes: Vec<u8>,
    accept_key: CString,
    subprotocol: Option<CString>,
    extensions: CString,
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

impl wss_handshake {
    fn refusal(response: HttpResponse) -> Self {
        let empty = CString::default;
        Self {
            status: response.status,
            bytes: response.to_bytes(),
            accept_key: empty(),
            subprotocol: None,
            extensions: empty(),
        }
    }
}

fn unknown_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// Parses the request head at the start of `head` with the server's limits: the request and where
/// the head ends.
fn request_from(
    server: &Server,
    head: &[u8],
    remote: SocketAddr,
    local: SocketAddr,
) -> Result<(Request, usize), FfiError> {
    let cfg = server.config();
    match parse_head(head, cfg.max_head_bytes, cfg.max_headers, remote, local) {
        Ok(Some(done)) => Ok(done),
        Ok(None) => Err(FfiError::invalid("the request head is incomplete (no empty line yet): read more first")),
        Err(e) => Err(FfiError::new(wss_status::Handshake, format!("bad request head: {e:?} (answer {})", e.status()))),
    }
}

/// Computes the response to the upgrade request whose head (as read, `len` bytes; bytes after the
/// head are ignored) is at `request_head`, with this server's subprotocols and permessage-deflate
/// settings. `*out` always describes a response to write: 101 for a valid upgrade, else the HTTP
/// error (400, 426, 431). WSS_STATUS_INVALID_ARGUMENT when the head is incomplete.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_handshake_response(
    server: *const wss_server,
    request_head: *const u8,
    len: usize,
    out: *mut *mut wss_handshake,
) -> wss_status {
    ffi_status! {
        let srv = arg(server, "server")?.running()?;
        let head = arg_bytes(request_head, len, "request_head")?;
        let out = out_ptr(out, "out")?;
        let cfg = srv.config();
        let handshake = match parse_head(head, cfg.max_head_bytes, cfg.max_headers, unknown_addr(), unknown_addr()) {
            Ok(None) => return Err(FfiError::invalid("the request head is incomplete (no empty line yet): read more first")),
            Err(e) => wss_handshake::refusal(HttpResponse::text(e.status(), &format!("bad request head: {e:?}"))),
            Ok(Some((request, _))) => match srv.handshake_response(&request) {
                Err(response) => wss_handshake::refusal(response),
                Ok(agreed) => wss_handshake {
                    status: 101,
                    bytes: agreed.to_bytes(),
                    accept_key: cstring(&agreed.accept_key),
                    subprotocol: agreed.subprotocol.as_deref().map(cstring),
                    extensions: cstring(&agreed.extensions()),
                },
            },
        };
        write(out, Box::into_raw(Box::new(handshake)));
        Ok(())
    }
}

/// Writes the string `pick` chooses from the handshake (borrowed from the handle) to `out`.
fn string_out(
    handshake: *const wss_handshake,
    out: *mut *const c_char,
    pick: impl FnOnce(&wss_handshake) -> Result<&CString, FfiError>,
) -> Result<(), FfiError> {
    let h = arg(handshake, "handshake")?;
    let out = out_ptr(out, "out")?;
    write(out, pick(h)?.as_ptr());
    Ok(())
}

/// The response's status: 101 (write it, then `wss_server_upgraded_fd`) or an HTTP error (write it
/// and close the connection).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_status(handshake: *const wss_handshake, out: *mut u16) -> wss_status {
    ffi_status! {
        let h = arg(handshake, "handshake")?;
        let out = out_ptr(out, "out")?;
        write(out, h.status);
        Ok(())
    }
}

/// The whole response to write (status line, headers, body); borrowed from the handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_bytes(
    handshake: *const wss_handshake,
    data: *mut *const u8,
    len: *mut usize,
) -> wss_status {
    ffi_status! {
        let h = arg(handshake, "handshake")?;
        let (data, len) = (out_ptr(data, "data")?, out_ptr(len, "len")?);
        write(data, h.bytes.as_ptr());
        write(len, h.bytes.len());
        Ok(())
    }
}

/// The Sec-WebSocket-Accept value ("" unless the status is 101); borrowed from the handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_accept_key(
    handshake: *const wss_handshake,
    out: *mut *const c_char,
) -> wss_status {
    ffi_status! { string_out(handshake, out, |h| Ok(&h.accept_key)) }
}

/// The chosen subprotocol; WSS_STATUS_NOT_FOUND when none was chosen. Borrowed from the handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_subprotocol(
    handshake: *const wss_handshake,
    out: *mut *const c_char,
) -> wss_status {
    ffi_status! { string_out(handshake, out, |h| h.subprotocol.as_ref().ok_or_else(|| FfiError::new(wss_status::NotFound, "no subprotocol was chosen"))) }
}

/// The negotiated Sec-WebSocket-Extensions value ("" when none); pass it to `wss_server_upgraded_fd`.
/// Borrowed from the handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_extensions(
    handshake: *const wss_handshake,
    out: *mut *const c_char,
) -> wss_status {
    ffi_status! { string_out(handshake, out, |h| Ok(&h.extensions)) }
}

/// Frees a handshake; NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_handshake_free(handshake: *mut wss_handshake) {
    ffi_boundary! {
        if !handshake.is_null() {
            // SAFETY: non-NULL handshakes come from wss_server_handshake_response and are freed once.
            drop(unsafe { Box::from_raw(handshake) });
        }
    }
}

/// The addresses of socket `fd`, without taking it.
fn socket_addrs(fd: c_int) -> Result<(SocketAddr, SocketAddr), FfiError> {
    if fd < 0 {
        return Err(FfiError::invalid(format!("fd {fd} is not a file descriptor")));
    }
    // SAFETY: only borrowed for the two queries (ManuallyDrop: never closed here).
    let tcp = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    match (tcp.peer_addr(), tcp.local_addr()) {
        (Ok(remote), Ok(local)) => Ok((remote, local)),
        _ => Err(FfiError::invalid(format!("fd {fd} is not a connected TCP socket"))),
    }
}

/// A session on a connection the application already upgraded (it wrote the 101 itself, e.g. from
/// `wss_server_handshake_response`). `data` (`len` bytes) is everything read from `fd` so far: the
/// request head, and any bytes after it (they are the first frames). `subprotocol` (NULL: none) and
/// `extensions` (the Sec-WebSocket-Extensions value sent, NULL or "": none) are what the 101 said.
/// The session belongs to the route for its path (or the fallback), counts against
/// max_connections, and does nothing until `wss_session_start`. `*out` is a retained reference:
/// `wss_session_release` it when done.
///
/// Ownership of `fd` as in `wss_server_adopt_fd`: the library's on WSS_STATUS_OK, untouched on error.
/// Errors: WSS_STATUS_INVALID_ARGUMENT (not a connected TCP socket, incomplete head, extensions
/// other than one valid permessage-deflate, subprotocol not a token), WSS_STATUS_HANDSHAKE (bad
/// head; server closed or at max_connections).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_server_upgraded_fd(
    server: *const wss_server,
    fd: c_int,
    data: *const u8,
    len: usize,
    subprotocol: *const c_char,
    extensions: *const c_char,
    out: *mut *mut wss_session,
) -> wss_status {
    ffi_status! {
        let srv_handle = arg(server, "server")?;
        let srv = srv_handle.running()?;
        let data = arg_bytes(data, len, "data")?;
        let subprotocol = if subprotocol.is_null() { None } else { Some(arg_str(subprotocol, "subprotocol")?) };
        let extensions = if extensions.is_null() { "" } else { arg_str(extensions, "extensions")? };
        let out = out_ptr(out, "out")?;
        if let Some(p) = subprotocol.filter(|p| !is_token(p)) {
            return Err(FfiError::invalid(format!("subprotocol {p:?} is not an HTTP token")));
        }
        let (remote, local) = socket_addrs(fd)?;
        let (mut request, head_len) = request_from(&srv, data, remote, local)?;
        let negotiated = DeflateParams::from_response_header(extensions, &srv.config().deflate)?;
        request.subprotocol = subprotocol.map(str::to_owned);
        request.extensions = negotiated.as_ref().map(DeflateParams::response_header).unwrap_or_default();
        // SAFETY: the caller hands over `fd` (the contract above); untouched on error.
        let session = unsafe { srv.upgraded_fd(fd, request, &data[head_len..]) }?;
        let handle = attach(&session, &srv_handle.tracker, &srv_handle.ud);
        *handle.start_with.lock().unwrap_or_else(|e| e.into_inner()) = Some(negotiated);
        handle.tracker.retained.fetch_add(1, Ordering::AcqRel);
        write(out, Arc::into_raw(handle).cast_mut());
        Ok(())
    }
}
