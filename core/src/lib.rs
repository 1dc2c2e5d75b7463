//! wssession-core: a WebSocket server-session engine with Ktor's session model, written once
//! and embedded by the C, Python and Node adapters.
//!
//! Layers, each depending only on the ones above it:
//! - [`protocol`]: sans-I/O frames, masking, UTF-8, close codes, the decoder and encoder and the
//!   [`protocol::Connection`] that owns both and the closing handshake (bytes in, events out);
//! - [`error`]: the one error type (and the plain values it carries, such as [`RecoveryFailure`]);
//! - [`handshake`], [`deflate`] and [`config`]: the opening handshake, permessage-deflate, and the
//!   settings (with the backplane URL and the slow-subscriber policy they validate);
//! - [`session`]: the tokio pump around the connection (reader, writer, pinger, outbox, timers)
//!   behind [`Session`]; it reports its end to a registry (the server) it does not depend on;
//! - [`backplane`]: topics across processes through Redis or NATS, with Redis Streams recovery; it
//!   hands what it receives to the topic hub through a trait it defines;
//! - [`topics`]: publish/subscribe across a server's sessions, reached from a session through its
//!   registry;
//! - [`server`]: listener, TLS, routing, accept hook, shutdown; [`transport`]: the byte streams it
//!   and adopted connections run on;
//! - [`adopt`]: connections the host accepted, pumps, or upgraded itself;
//! - [`runtime`]: the one internal runtime;
//! - [`metrics`] and [`log`]: server-wide figures, and the bridge of `tracing` events to the bindings.

pub mod adopt;
pub mod backplane;
pub mod config;
pub mod convert;
pub mod deflate;
pub mod error;
pub mod handler;
pub mod handshake;
pub mod host_accept;
pub mod log;
pub mod metrics;
pub mod protocol;
pub mod request;
pub mod runtime;
pub mod server;
pub mod session;
pub mod topics;
pub mod transport;

pub use adopt::{Adoption, PeerInfo};
pub use backplane::{BackplaneUrl, Position, Recovered, RecoveryFailure};
pub use bytes::Bytes;
pub use config::{ServerConfig, SessionConfig, TlsConfig};
pub use convert::{Converter, JsonConverter};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, Result};
pub use handler::{Accept, AcceptHook, BoxFuture, Decision, EventHandler, Handler, HandlerError};
pub use handshake::{Handshake, HttpResponse};
pub use metrics::{BackplaneStats, ServerStats, TopicStats};
pub use protocol::{CloseFrame, CloseReason, Frame, FrameType, Initiator, ViolationKind};
pub use request::{Headers, Request};
pub use server::{Server, ServerBuilder};
pub use session::{BytePump, Session, State, Stats, TrySend};
pub use topics::{Published, SlowSubscriber};
