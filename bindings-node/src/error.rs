//! Core errors as JS errors. napi-derive only throws `Status`-coded errors, so the stable
//! `WSSESSION_ERR_*` code leads the message ("WSSESSION_ERR_CLOSED: session closed"), followed by a
//! detail taken from the core's error (never from its text): " RangeError" for an argument out of
//! its range (else a TypeError, as ws throws), or Node's code for an I/O error Node names
//! (" EADDRINUSE", " EACCES"). The JS layer (`lib/errors.js`) moves them into `err.code` and the
//! error's class.

use wssession_core::Error;

/// A JS error whose message starts with `code: `.
pub fn coded(code: &str, msg: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{code}: {msg}"))
}

/// Converts a core error: code `WSSESSION_ERR_<KIND>`, message from the core; the core's
/// out-of-range errors become RangeErrors, and a recovery failure carries its reason as the detail.
pub fn to_js(e: Error) -> napi::Error {
    match &e {
        Error::OutOfRange(_) => invalid_range(e),
        Error::Io(io) if io.kind() == std::io::ErrorKind::AddrInUse => coded("WSSESSION_ERR_IO EADDRINUSE", e),
        Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => coded("WSSESSION_ERR_IO EACCES", e),
        Error::Recovery(failure) => coded(&format!("WSSESSION_ERR_{} {}", e.kind(), failure.as_str()), e),
        _ => coded(&format!("WSSESSION_ERR_{}", e.kind()), e),
    }
}

/// An argument error raised by the adapter itself (a TypeError in JS).
pub fn invalid(msg: impl std::fmt::Display) -> napi::Error {
    coded("WSSESSION_ERR_INVALID_ARGUMENT", msg)
}

/// A value out of its range, found by the adapter itself (a RangeError in JS).
pub fn invalid_range(msg: impl std::fmt::Display) -> napi::Error {
    coded("WSSESSION_ERR_INVALID_ARGUMENT RangeError", msg)
}
