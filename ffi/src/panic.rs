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

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use crate::error::{wss_last_error, wss_status, wss_status_message};

    fn panicking_entry_point() -> wss_status {
        ffi_status! {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        }
    }

    #[test]
    fn a_panic_becomes_the_panic_status_with_its_message_as_last_error() {
        assert_eq!(panicking_entry_point(), wss_status::Panic);
        // SAFETY: wss_last_error returns a NUL-terminated thread-local string.
        let detail = unsafe { CStr::from_ptr(wss_last_error()) }.to_str().unwrap();
        assert!(detail.contains("boom"), "{detail}");
    }

    #[test]
    fn status_numbers_are_stable() {
        let expected = [
            (wss_status::Ok, 0),
            (wss_status::NullPointer, 1),
            (wss_status::InvalidArgument, 2),
            (wss_status::InvalidUtf8, 3),
            (wss_status::Closed, 4),
            (wss_status::Timeout, 5),
            (wss_status::WouldDeadlock, 12),
            (wss_status::Cancelled, 16),
            (wss_status::NotFound, 17),
            (wss_status::Panic, 20),
        ];
        for (status, number) in expected {
            assert_eq!(status as u32, number);
            // SAFETY: wss_status_message returns a static NUL-terminated string.
            let msg = unsafe { CStr::from_ptr(wss_status_message(number)) };
            assert!(!msg.to_bytes().is_empty());
        }
    }
}
