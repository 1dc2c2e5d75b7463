//! The sans-I/O protocol layer: frames, masking, UTF-8, close codes, the receive and send sides and
//! the connection that owns both and the closing handshake.
//! No tokio and no timers here: bytes in, events out.

pub mod close;
pub mod connection;
pub mod decoder;
pub mod encoder;
pub mod extension;
pub mod frame;
pub mod mask;
pub mod utf8;
pub mod violation;

pub use close::{CloseFrame, CloseReason, Initiator};
pub use connection::{Connection, SendHalf};
pub use decoder::{Decoder, Event};
pub use encoder::{Encoder, Output, SendError};
pub use extension::{Compress, Decompress, InflateError};
pub use frame::{Frame, FrameType};
pub use violation::{Violation, ViolationKind};
