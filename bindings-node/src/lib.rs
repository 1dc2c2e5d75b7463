//! wssession for Node.js: a thin napi-rs adapter over `wssession-core`.
//!
//! All sockets live on the core's one runtime (`wssession_core::runtime`); events reach JS through
//! one batching `ThreadsafeFunction` per server (see [`hub`]). The `ws`-compatible surface and the
//! Ktor members are built in `lib/*.js` on top of the classes exported here.

mod error;
mod hub;
mod request;
mod server;
mod session;

pub use request::RequestInfo;
pub use server::{DecisionOptions, DeflateOptions, NativeServer, ServerAddress, ServerOptions};
pub use session::NativeSession;

/// Before the runtime exists: its threads run under `SCHED_BATCH` unless `WSSESSION_SCHED_BATCH=0`.
#[napi_derive::module_init]
fn init() {
    let _ = wssession_core::runtime::set_batch_scheduling(std::env::var("WSSESSION_SCHED_BATCH").as_deref() != Ok("0"));
}
