//! Where a session reports: the server that accepted it, seen only through this trait so the
//! session does not depend on the server (the server depends on the session).

use std::any::Any;
use std::sync::Arc;

use super::Session;
use crate::metrics::Counters;
use crate::protocol::CloseReason;

/// What a session needs from whoever keeps track of it.
pub(crate) trait Registry: Send + Sync + 'static {
    /// The span the session's span hangs under.
    fn span(&self) -> &tracing::Span;
    /// The counters the session adds its rare events to (violations, timeouts, backpressure).
    fn counters(&self) -> &Counters;
    /// The session is ending: drop what it holds there (its topic subscriptions), before anyone can
    /// learn that it closed.
    fn session_closing(&self, session: &Session);
    /// The session ended with `reason`: called once, before its handler's `on_close`.
    fn session_ended(&self, session: &Session, reason: &CloseReason);
    /// The owner's topic hub, for the topics layer to recover its type (the session, below topics,
    /// does not know it).
    fn topics(&self) -> &(dyn Any + Send + Sync);
    /// The registry itself, for its owner to recover its own type.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}
