//! wssession for Node.js: a thin napi-rs adapter over `wssession-core`.
//!
//! All sockets live on the core's one runtime (`wssession_core::runtime`); events reach JS through
//! one batching `ThreadsafeFunction` per server (see [`hub`]). The `ws`-compatible surface and the
//! Ktor members are built in `lib/*.js` on top of the classes exported here.

mod adopt;
mod error;
mod hostloop;
mod hub;
mod lane;
mod observe;
pub mod payload;
mod positions;
mod request;
mod server;
mod session;
mod topics;

pub use adopt::{Agreed, HandshakeInfo, NativePump, PeerAddress, RawRequest, UpgradedPump};
pub use positions::NativePosition;
pub use request::RequestInfo;
pub use server::{DecisionOptions, DeflateOptions, NativeServer, ServerAddress, ServerOptions};
pub use session::NativeSession;
pub use topics::PublishResult;
