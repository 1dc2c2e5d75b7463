//! Ktor's `converter`, `sendSerialized`, `receiveDeserialized` and `application` for C: a converter
//! is a pair of C callbacks with user data; the values are the C program's own (`void *`).

use std::ffi::c_void;
use std::sync::Arc;

use wssession_core::{Bytes, Frame};

use crate::error::{FfiError, wss_status};
use crate::handle::{
    UserData, WSS_TIMEOUT_INFINITE, arg, arg_bytes, block_with_timeout, frame_type_in, frame_type_out, out_ptr,
    try_send_out, write, wss_finalizer, wss_frame_type, wss_try_send_result,
};
use crate::session::{wss_message, wss_session, wss_session_recv};

/// Where a serializer puts the frame it made; valid only during the `serialize` call.
pub struct wss_frame_out {
    frame: Option<Frame>,
}

/// Turns `value` into one frame by calling `wss_frame_out_set` on `out`. Return WSS_STATUS_OK, or any
/// other status to fail the send with it.
pub type wss_serialize_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, value: *const c_void, out: *mut wss_frame_out) -> u32>;

/// Turns a received message into a value written to `*value` (the caller owns it afterwards).
/// Return WSS_STATUS_OK, or any other status when the message cannot be decoded.
pub type wss_deserialize_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: wss_frame_type,
        data: *const u8,
        len: usize,
        value: *mut *mut c_void,
    ) -> u32,
>;

/// A converter: both callbacks are required; they run on the thread that sends or receives.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wss_converter {
    /// Value -> frame.
    pub serialize: wss_serialize_cb,
    /// Frame -> value.
    pub deserialize: wss_deserialize_cb,
}

/// A session's converter with its user data (finalized when replaced or when the handle goes).
pub(crate) struct Converter {
    callbacks: wss_converter,
    user_data: UserData,
}

impl Converter {
    fn serialize(&self, value: *const c_void) -> Result<Frame, FfiError> {
        let serialize = self.callbacks.serialize.expect("checked by wss_session_set_converter");
        let mut out = wss_frame_out { frame: None };
        // SAFETY: a C callback with the user_data C gave for it; `out` lives for the call.
        let status = unsafe { serialize(self.user_data.get(), value, &mut out) };
        if status != wss_status::Ok as u32 {
            return Err(FfiError::new(
                status_in(status, wss_status::InvalidArgument),
                format!("the converter's serialize callback failed with status {status}"),
            ));
        }
        out.frame.ok_or_else(|| FfiError::invalid("the serialize callback returned OK without wss_frame_out_set"))
    }

    /// The decoded value, or the frame back when the callback refused it.
    fn deserialize(&self, frame: &Frame) -> Result<*mut c_void, u32> {
        let deserialize = self.callbacks.deserialize.expect("checked by wss_session_set_converter");
        let mut value = std::ptr::null_mut();
        // SAFETY: a C callback with the user_data C gave for it; the data and `value` live for the call.
        let status = unsafe {
            deserialize(
                self.user_data.get(),
                frame_type_out(frame.kind),
                frame.data.as_ptr(),
                frame.data.len(),
                &mut value,
            )
        };
        if status == wss_status::Ok as u32 { Ok(value) } else { Err(status) }
    }
}

/// A status C returned, when it is one; `fallback` otherwise.
fn status_in(status: u32, fallback: wss_status) -> wss_status {
    wss_status::from_u32(status).unwrap_or(fallback)
}

fn converter_of(s: &wss_session) -> Result<Arc<Converter>, FfiError> {
    s.converter.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| {
        FfiError::new(wss_status::NoConverter, "this session has no converter; set one with wss_session_set_converter")
    })
}

/// Sets the session's converter (copied), or removes it with `converter` NULL: then the serialized
/// calls fail with WSS_STATUS_NO_CONVERTER. A session starts without one. `finalizer` (may be NULL)
/// runs on `user_data` when the converter is replaced or the session handle is destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_set_converter(
    session: *const wss_session,
    converter: *const wss_converter,
    user_data: *mut c_void,
    finalizer: wss_finalizer,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let user_data = UserData::new(user_data, finalizer);
        let new = if converter.is_null() {
            None
        } else {
            let callbacks = *arg(converter, "converter")?;
            if callbacks.serialize.is_none() || callbacks.deserialize.is_none() {
                return Err(FfiError::new(wss_status::NullPointer, "a converter needs both serialize and deserialize"));
            }
            Some(Arc::new(Converter { callbacks, user_data }))
        };
        let old = std::mem::replace(&mut *s.converter.lock().unwrap_or_else(|e| e.into_inner()), new);
        drop(old);
        Ok(())
    }
}

/// Inside a serialize callback: the frame it produced (`data` copied). Text must be valid UTF-8
/// (checked when it is sent); Ping/Pong are refused (a serialized value is a message).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_frame_out_set(
    out: *mut wss_frame_out,
    kind: u32,
    data: *const u8,
    len: usize,
) -> wss_status {
    ffi_status! {
        let out = out_ptr(out, "out")?;
        let kind = frame_type_in(kind)?;
        if !kind.is_data() {
            return Err(FfiError::invalid("a serialized value is a Text or Binary message"));
        }
        let frame = Frame::new(kind, Bytes::copy_from_slice(arg_bytes(data, len, "data")?));
        // SAFETY: `out` is the live wss_frame_out the library passed to the callback (checked non-NULL).
        unsafe { (*out).frame = Some(frame) };
        Ok(())
    }
}

/// Serializes `value` with the session's converter and sends the frame, waiting while the send
/// queue is over its high-water mark (as `wss_session_send`; WSS_STATUS_WOULD_DEADLOCK inside a
/// callback). WSS_STATUS_NO_CONVERTER without a converter, WSS_STATUS_CLOSED once closing began.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_send_serialized(session: *const wss_session, value: *const c_void) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let frame = converter_of(s)?.serialize(value)?;
        let core = s.session.clone();
        block_with_timeout(WSS_TIMEOUT_INFINITE, "send_serialized", async move { core.send(frame).await })??;
        Ok(())
    }
}

/// As `wss_session_send_serialized` without waiting (callable anywhere): `out` is SENT, BUFFERED
/// or DROPPED as for `wss_session_try_send`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_try_send_serialized(
    session: *const wss_session,
    value: *const c_void,
    out: *mut wss_try_send_result,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let out = out_ptr(out, "out")?;
        let frame = converter_of(s)?.serialize(value)?;
        write(out, try_send_out(s.session.try_send(frame)?));
        Ok(())
    }
}

/// Receives the next message of a pull-mode session (as `wss_session_recv`, same `timeout_ms`)
/// and decodes it with the converter into `*value`. When the converter refuses it: the session stays
/// open, WSS_STATUS_DESERIALIZE is returned and, if `undecodable` is not NULL, `*undecodable` gets
/// the message (free it with `wss_message_free`). WSS_STATUS_NO_CONVERTER (nothing is received)
/// without a converter; WSS_STATUS_CLOSED at the end of the session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_receive_deserialized(
    session: *const wss_session,
    timeout_ms: u32,
    value: *mut *mut c_void,
    undecodable: *mut *mut wss_message,
) -> wss_status {
    ffi_status! {
        let s = arg(session, "session")?;
        let value = out_ptr(value, "value")?;
        let converter = converter_of(s)?;
        let mut message: *mut wss_message = std::ptr::null_mut();
        // SAFETY: `session` was checked above and `message` is a local output.
        let status = unsafe { wss_session_recv(session, timeout_ms, &mut message) };
        if status != wss_status::Ok {
            // SAFETY: wss_last_error returns this thread's NUL-terminated last-error string.
            let detail = unsafe { std::ffi::CStr::from_ptr(crate::error::wss_last_error()) };
            return Err(FfiError::new(status, detail.to_string_lossy().into_owned()));
        }
        // SAFETY: wss_session_recv returned OK, so `message` is a Box it handed over.
        let message = unsafe { Box::from_raw(message) };
        match converter.deserialize(&message.frame) {
            Ok(decoded) => {
                write(value, decoded);
                Ok(())
            }
            Err(status) => {
                let detail = format!("the converter could not decode the {} message (status {status})", message.frame.kind.as_str());
                if !undecodable.is_null() {
                    write(undecodable, Box::into_raw(message));
                }
                Err(FfiError::new(wss_status::Deserialize, detail))
            }
        }
    }
}

/// The user_data of the server that accepted this session (Ktor's `application`: the C program's
/// application object, as given to `wss_server_new`); NULL for a NULL session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wss_session_application(session: *const wss_session) -> *mut c_void {
    ffi_boundary! {
        arg(session, "session").map_or(std::ptr::null_mut(), |s| s.server_user_data.get())
    }
}
