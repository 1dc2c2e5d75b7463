//! The sans-I/O protocol layer: frames, masking, UTF-8, close codes and the receive state machine.
//! No tokio and no timers here: bytes in, events out.

pub mod close;
pub mod decoder;
pub mod frame;
pub mod mask;
pub mod utf8;
pub mod violation;

pub use close::{CloseFrame, CloseReason, Initiator};
pub use decoder::{Decoder, Event};
pub use frame::{Frame, FrameType};
pub use violation::{Violation, ViolationKind};
