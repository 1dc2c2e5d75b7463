//! The push-style callbacks a session delivers its events to.

use bytes::Bytes;

use super::Session;
use crate::protocol::{CloseReason, Frame};

/// Push-style callbacks. They run on runtime threads; one session's callbacks never run
/// concurrently. A slow callback slows that session's reading (natural backpressure).
pub trait EventHandler: Send + Sync + 'static {
    /// The session started.
    fn on_open(&self, _session: &Session) {}
    /// A complete Text/Binary message arrived (one frame of it with `SessionConfig::deliver_fragments`).
    fn on_message(&self, session: &Session, frame: Frame);
    /// A Ping arrived (the Pong is sent automatically unless `SessionConfig::auto_pong` is off).
    fn on_ping(&self, _session: &Session, _payload: &Bytes) {}
    /// A Pong arrived.
    fn on_pong(&self, _session: &Session, _payload: &Bytes) {}
    /// The outgoing queue fell below its low-water mark after having been over its high-water mark.
    fn on_drain(&self, _session: &Session) {}
    /// The session ended; called exactly once.
    fn on_close(&self, _session: &Session, _reason: &CloseReason) {}
}
