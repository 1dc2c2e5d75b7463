//! What sessions and servers gain from a history: publishes that report their position, and
//! subscriptions that resume from one.

use bytes::Bytes;

use super::{Position, Recovered, RecoveryFailure, Resume};
use crate::error::{Error, Result};
use crate::protocol::{Frame, FrameType};
use crate::server::Server;
use crate::session::{Session, State, TrySend};
use crate::topics::topic_name;

impl Server {
    /// Publishes to every subscriber of `topic` on every node and returns the message's position in
    /// the topic's history, once the broker placed it. Subscribers (this node's too) receive it from
    /// the broker in position order. Fails with [`Error::Recovery`]`(NoHistory)` without a Redis
    /// history, `(Unavailable)` when the broker is unreachable (the message then reaches this node's
    /// subscribers only).
    pub async fn publish_positioned(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
    ) -> Result<Position> {
        check(topic, payload, text)?;
        let payload = Bytes::copy_from_slice(payload);
        self.inner.topics.backplane.publish_positioned(topic, payload, text, compress, None).await
    }

    /// Whether topics are shared through a broker with a history (positions, recovery).
    pub fn has_history(&self) -> bool {
        self.inner.topics.backplane.has_history()
    }
}

fn check(topic: &str, payload: &[u8], text: bool) -> Result<()> {
    topic_name(topic.as_bytes())?;
    if text && std::str::from_utf8(payload).is_err() {
        return Err(Error::invalid("a text message must be valid UTF-8"));
    }
    Ok(())
}

impl Session {
    /// As [`Session::publish`] (every subscriber but this session, on every node), returning the
    /// message's position once the broker placed it; see [`Server::publish_positioned`].
    pub async fn publish_positioned(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
    ) -> Result<Position> {
        check(topic, payload, text)?;
        let server = self.server().ok_or_else(|| Error::invalid("topics need a server"))?;
        let payload = Bytes::copy_from_slice(payload);
        server.inner.topics.backplane.publish_positioned(topic, payload, text, compress, Some(self.id())).await
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
        let server = self.server().ok_or_else(|| Error::invalid("topics need a server"))?;
        if !server.has_history() {
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
        server.inner.topics.backplane.recover(topic, since, resume).await
    }
}
