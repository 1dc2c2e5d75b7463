//! Benchmark harness for wssession: a minimal pre-masked WebSocket load generator
//! (`loadgen`) and the peer echo servers it is compared against.

pub mod client;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod modes;
pub mod payload;
pub mod procfs;
pub mod report;
pub mod rlimit;
pub mod server;
pub mod stream;
pub mod target;
pub mod tls;
