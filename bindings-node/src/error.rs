//! Core errors as JS errors. napi-derive only throws `Status`-coded errors, so the stable
//! `WSSESSION_ERR_*` code leads the message ("WSSESSION_ERR_CLOSED: session closed") and the JS
//! layer (`lib/errors.js`) moves it into `err.code`.

/// A JS error whose message starts with `code: `.
pub fn coded(code: &str, msg: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{code}: {msg}"))
}

/// Converts a core error: code `WSSESSION_ERR_<KIND>`, message from the core; a recovery failure's
/// message starts with its reason in brackets ("[trimmed] ..."), which lib/errors.js moves to `err.reason`.
pub fn to_js(e: wssession_core::Error) -> napi::Error {
    let code = format!("WSSESSION_ERR_{}", e.kind());
    match &e {
        wssession_core::Error::Recovery(failure) => coded(&code, format!("[{}] {e}", failure.as_str())),
        _ => coded(&code, e),
    }
}

/// An argument error raised by the adapter itself.
pub fn invalid(msg: impl std::fmt::Display) -> napi::Error {
    coded("WSSESSION_ERR_INVALID_ARGUMENT", msg)
}
