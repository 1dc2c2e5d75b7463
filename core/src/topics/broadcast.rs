//! One message to a given list of sessions, framed once (what Python's `broadcast` is built on): a
//! publish without a topic and without the slow-subscriber policy.

use bytes::Bytes;

use super::fanout::{Prepared, SharedDeflaters};
use super::hub_of;
use crate::error::{Error, Result};
use crate::protocol::{Frame, FrameType};
use crate::session::{Delivery, Session, State};

/// What a broadcast did for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Broadcast {
    /// Queued.
    Queued,
    /// Skipped: the session is not open (not started yet, closing or closed).
    NotOpen,
    /// Skipped: its outgoing queue is over its high-water mark.
    OverLimit,
    /// Skipped: it is in the middle of sending a fragmented message.
    MidFragment,
}

/// Queues one message to each of `sessions` without waiting, framed once and compressed once per
/// shareable deflate setting, as a publish is; returns what happened for each, in order. Fails
/// only on a text payload that is not UTF-8.
pub fn broadcast(sessions: &[Session], payload: &[u8], text: bool, compress: Option<bool>) -> Result<Vec<Broadcast>> {
    if text && std::str::from_utf8(payload).is_err() {
        return Err(Error::invalid("a text message must be valid UTF-8"));
    }
    // The kept compressors and the flusher of the first session's server (any server's serve
    // every setting and every session).
    let registry = sessions.iter().find_map(|s| s.registry().filter(|r| hub_of(&**r).is_some()));
    let hub = registry.as_deref().and_then(hub_of);
    let own = SharedDeflaters::default();
    let deflaters = hub.map_or(&own, |h| &h.deflaters);
    let kind = if text { FrameType::Text } else { FrameType::Binary };
    let mut msg = Prepared::new(deflaters, Frame::new(kind, Bytes::copy_from_slice(payload)), compress);
    let mut deferred = Vec::new();
    let outcomes = sessions
        .iter()
        .map(|s| {
            if s.state() != State::Open {
                return Broadcast::NotOpen;
            }
            match s.send_shared(&mut msg) {
                Delivery::Queued => Broadcast::Queued,
                Delivery::Deferred => {
                    deferred.push(s.clone());
                    Broadcast::Queued
                }
                Delivery::OverLimit => Broadcast::OverLimit,
                Delivery::MidFragment => Broadcast::MidFragment,
                Delivery::Closing => Broadcast::NotOpen,
            }
        })
        .collect();
    // As a publish: the idle sessions are written once per burst, by the flusher.
    match hub {
        Some(hub) => hub.flusher.defer(deferred),
        None => deferred.iter().for_each(Session::flush_shared),
    }
    Ok(outcomes)
}
