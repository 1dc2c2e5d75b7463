//! The C ABI of wssession: a thin adapter over `wssession_core` (no protocol logic here).
//!
//! Conventions follow rustls-ffi: `wss_` prefix, opaque handles, `_new`/`_free` (NULL-safe),
//! one `#[repr(u32)]` status enum, a thread-local last-error string, every pointer NULL-checked,
//! every entry point wrapped in [`ffi_boundary!`] so no panic unwinds into C.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

#[macro_use]
mod panic;
mod adopt;
mod config;
mod converter;
mod dispatch;
mod error;
mod handle;
mod observe;
mod positions;
mod request;
mod server;
mod session;
mod topics;
mod version;

pub use adopt::*;
pub use config::*;
pub use converter::*;
pub use error::*;
pub use handle::*;
pub use observe::*;
pub use positions::*;
pub use request::*;
pub use server::*;
pub use session::*;
pub use topics::*;
pub use version::*;
