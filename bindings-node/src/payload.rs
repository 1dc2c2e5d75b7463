//! A received payload handed to JS as a Buffer over the engine's own memory (no copy), and the way
//! back: a Buffer JS sends that lies in such a payload (an echo) is sent from the engine's `Bytes`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValidateNapiValue};
use napi::{ValueType, check_status, sys};
use wssession_core::Bytes;

/// The payload of a message, ping or pong: becomes a Node `Buffer` whose memory is the `Bytes`
/// itself; the `Bytes` (and the engine allocation under it) lives until V8 collects the Buffer.
pub struct Payload(pub(crate) Bytes);

thread_local! {
    /// The payloads handed to JS on this (JS) thread and not yet collected: the address of their first
    /// byte and the `Bytes` boxed as their finalize hint (valid until `release` removes it).
    static LIVE: RefCell<BTreeMap<usize, *const Bytes>> = const { RefCell::new(BTreeMap::new()) };
}

/// Drops the `Bytes` boxed as a finalize hint when V8 collects its Buffer.
unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, hint: *mut c_void) {
    let _ = LIVE.try_with(|live| {
        let mut live = live.borrow_mut();
        if live.get(&(data as usize)) == Some(&hint.cast_const().cast()) {
            live.remove(&(data as usize));
        }
    });
    // SAFETY: `hint` is the `Box<Bytes>` leaked in `to_napi_value`, finalized exactly once.
    drop(unsafe { Box::from_raw(hint.cast::<Bytes>()) });
}

/// The engine's own bytes under `data` when it lies within a payload handed to JS on this thread that
/// V8 has not collected: a reference to them (no copy, and no JS reference for the engine to hold).
pub(crate) fn engine_bytes(data: &[u8]) -> Option<Bytes> {
    let addr = data.as_ptr() as usize;
    LIVE.with(|live| {
        let live = live.borrow();
        let (&start, &owner) = live.range(..=addr).next_back()?;
        // SAFETY: an entry's `Bytes` lives until `release` removes the entry (on this thread).
        let owner = unsafe { &*owner };
        let from = addr - start;
        (from + data.len() <= owner.len()).then(|| owner.slice(from..from + data.len()))
    })
}

impl ToNapiValue for Payload {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let len = val.0.len();
        if len == 0 {
            // V8 only lets buffers share a data pointer when it is null: an empty one owns nothing.
            // SAFETY: `env` is the live env of this call; `out` is a valid out-pointer.
            check_status!(unsafe { sys::napi_create_buffer(env, 0, ptr::null_mut(), &mut out) })?;
            return Ok(out);
        }
        let data = val.0.as_ptr().cast_mut().cast::<c_void>();
        let hint = Box::into_raw(Box::new(val.0));
        // SAFETY: `data..data + len` stays valid and unmoved while `hint` (its owner) lives, and
        // `release` frees `hint` once V8 no longer references the Buffer. JS may write to the
        // Buffer: the engine never reads a payload again after handing it over.
        let status = unsafe { sys::napi_create_external_buffer(env, len, data, Some(release), hint.cast(), &mut out) };
        if status == sys::Status::napi_no_external_buffers_allowed {
            // SAFETY: napi did not take `hint`; copy the bytes instead and free it here.
            let owned = unsafe { Box::from_raw(hint) };
            check_status!(unsafe {
                sys::napi_create_buffer_copy(env, len, owned.as_ptr().cast(), ptr::null_mut(), &mut out)
            })?;
            return Ok(out);
        }
        check_status!(status)?;
        LIVE.with(|live| live.borrow_mut().insert(data as usize, hint.cast_const()));
        Ok(out)
    }
}

impl TypeName for Payload {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Payload {}
