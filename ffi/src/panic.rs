//! The panic boundary every entry point goes through: no panic ever unwinds into C.

use crate::error::wss_status;

/// What an entry point returns when its body panicked.
pub(crate) trait PanicValue {
    /// The value reported to C after a panic.
    fn panic_value() -> Self;
}

impl PanicValue for wss_status {
    fn panic_value() -> Self {
        wss_status::Panic
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

/// Runs the body under `catch_unwind`; a panic records its message as the last error and
/// returns the type's [`PanicValue`] (WSS_STATUS_PANIC, NULL, or nothing).
macro_rules! ffi_boundary {
    ($($body:tt)*) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => {
                $crate::error::record_panic(payload);
                $crate::panic::PanicValue::panic_value()
            }
        }
    }};
}

/// An entry point returning `wss_status`: the body is a block evaluating to
/// `Result<(), FfiError>`; an error is recorded as the thread's last error.
macro_rules! ffi_status {
    ($($body:tt)*) => {
        ffi_boundary! {
            let body = || -> ::std::result::Result<(), $crate::error::FfiError> { $($body)* };
            $crate::error::finish(body())
        }
    };
}
