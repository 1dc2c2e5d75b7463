//! What sessions and servers gain from a history: publishes that report their position, and
//! subscriptions that resume from one.

use bytes::Bytes;

use super::{Hub, check_publish, hub_of, topic_name};
use crate::backplane::{Position, Recovered, RecoveryFailure, Resume};
use crate::error::{Error, Result};
use crate::protocol::{Frame, FrameType};
use crate::session::{Session, State, TrySend};

fn no_server() -> Error {
    Error::invalid("topics need a server")
}

impl Hub {
    /// Publishes into the history (every subscriber on every node but session `exclude`) and
    /// returns the message's position once the broker placed it.
    pub(crate) async fn publish_positioned(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Result<Position> {
        check_publish(topic, payload, text)?;
        let payload = Bytes::copy_from_slice(payload);
        self.backplane.publish_positioned(topic, payload, text, compress, exclude).await
    }

    /// Whether topics are shared through a broker with a history (positions, recovery).
    pub(crate) fn has_history(&self) -> bool {
        self.backplane.has_history()
    }
}

impl Session {
    /// As [`Session::publish`] (every subscriber but this session, on every node), returning the
    /// message's position once the broker placed it; see [`crate::Server::publish_positioned`].
    pub async fn publish_positioned(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
    ) -> Result<Position> {
        check_publish(topic, payload, text)?;
        let registry = self.registry().ok_or_else(no_server)?;
        let hub = hub_of(&*registry).ok_or_else(no_server)?;
        hub.publish_positioned(topic, payload, text, compress, Some(self.id())).await
    }

    /// Subscribes to `topic` after first sending this session every message published after
    /// `since` (the position of the last message its client received), in order, with nothing
    /// missing or repeated before the live ones. Returns the position of the last message sent
    /// (none when the topic has no history yet). Fails with [`Error::Recovery`] when that is
    /// impossible: `Trimmed` (the history no longer reaches back to `since`), `EpochChanged` (the
    /// history was lost), `NoHistory` (no Redis history configured), `Unavailable` (broker down);
    /// the session is then not subscribed, and its client should reload its state. A session already
    /// subscribed to `topic` is refused (`InvalidArgument`): it would get messages twice.
    pub async fn subscribe_from(&self, topic: &str, since: Position) -> Result<Option<Position>> {
        topic_name(topic.as_bytes())?;
        if matches!(self.state(), State::Closing | State::Closed) {
            return Err(Error::Closed(self.close_reason_now()));
        }
        let registry = self.registry().ok_or_else(no_server)?;
        let hub = hub_of(&*registry).ok_or_else(no_server)?;
        if !hub.has_history() {
            return Err(Error::Recovery(RecoveryFailure::NoHistory));
        }
        if self.is_subscribed(topic) {
            return Err(Error::invalid(format!("already subscribed to {topic:?}: resume before subscribing")));
        }
        let session = self.clone();
        let name = topic.to_owned();
        let resume: Resume = Box::new(move |missed: Vec<Recovered>| {
            for m in missed {
                let kind = if m.text { FrameType::Text } else { FrameType::Binary };
                if session.try_send(Frame::new(kind, m.payload))? == TrySend::Dropped {
                    return Err(Error::Dropped);
                }
            }
            session.subscribe(&name).map(|_| ())
        });
        hub.backplane.recover(topic, since, resume).await
    }
}
