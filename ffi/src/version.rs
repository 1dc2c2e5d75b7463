//! The library's version, from the workspace's one version number (Cargo.toml).
//!
//! The header's `WSS_VERSION_MAJOR` / `_MINOR` / `_PATCH` / `WSS_VERSION_STRING` macros are written
//! by `ffi/build.rs` from the same number: a program compares them with [`wss_version`] to check that
//! the library it runs against is the one it was compiled for.

use std::ffi::c_char;

/// The version of the wssession library, "MAJOR.MINOR.PATCH" (NUL-terminated, static storage);
/// equal to WSS_VERSION_STRING when the header and the library come from the same release.
#[unsafe(no_mangle)]
pub extern "C" fn wss_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn wss_version_is_the_crate_version() {
        let version = unsafe { CStr::from_ptr(wss_version()) };
        assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
