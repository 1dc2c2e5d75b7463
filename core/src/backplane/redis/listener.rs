//! Listening on Redis: one pub/sub connection that follows the node's interest and, with a history,
//! delivers in position order, fills gaps from the stream and serves recoveries.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{Client, RedisResult, Value};
use tokio::sync::mpsc;

use super::{DEADLINE, channel, command_connection};
use crate::backplane::envelope::Envelope;
use crate::backplane::gaps::Gaps;
use crate::backplane::history::{self, Since};
use crate::backplane::position::{Position, RecoveryFailure};
use crate::backplane::{LISTENING, RecoverRequest, Recovered, Shared, add, backoff};
use crate::error::Error;

/// What the listener remembers across reconnects.
#[derive(Default)]
struct Listening {
    /// Pub/sub: the last sequence number per topic and origin.
    gaps: Gaps,
    /// History: the position of the last message delivered here, per topic.
    last: HashMap<String, Position>,
}

/// Why a listening connection ended.
enum Ended {
    Stop,
    Lost(String),
}

/// Listens (and serves recoveries) until the server is gone.
pub(super) async fn run(shared: Arc<Shared>, client: Client, mut recover: mpsc::Receiver<RecoverRequest>) {
    let mut stop = shared.stopped();
    let mut state = Listening::default();
    let mut failures = 0u32;
    let mut connected_once = false;
    loop {
        let wait = (failures > 0).then(|| backoff(failures));
        let connecting = async {
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            let timed_out = || redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"));
            let pubsub = tokio::time::timeout(DEADLINE, client.get_async_pubsub()).await.map_err(|_| timed_out())??;
            RedisResult::Ok((pubsub, command_connection(&client).await?))
        };
        tokio::pin!(connecting);
        let connected = loop {
            tokio::select! {
                _ = crate::backplane::until_stopped(&mut stop) => return,
                r = &mut connecting => break r,
                Some(req) = recover.recv() => {
                    let _ = req.reply.send(Err(Error::Recovery(RecoveryFailure::Unavailable)));
                }
            }
        };
        let (pubsub, conn) = match connected {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "backplane: redis unreachable for listening");
                failures += 1;
                continue;
            }
        };
        if connected_once {
            add(&shared.counters.reconnects, 1);
        }
        connected_once = true;
        shared.set_connected(LISTENING, true);
        tracing::info!(url = %shared.url.connect, "backplane: connected to redis");
        let (sink, stream) = pubsub.split();
        let mut link = Link { shared: &shared, sink, conn, subscribed: HashSet::new(), state: &mut state };
        let ended = link.run(stream, &mut recover).await;
        shared.set_connected(LISTENING, false);
        match ended {
            Ended::Stop => return,
            Ended::Lost(why) => {
                shared.links_lost.send_modify(|n| *n += 1);
                tracing::warn!(reason = why, "backplane: lost the redis connection; reconnecting");
                failures = 1;
            }
        }
    }
}

/// One live pub/sub connection and the command connection beside it.
struct Link<'a> {
    shared: &'a Shared,
    sink: PubSubSink,
    conn: MultiplexedConnection,
    /// Channels subscribed on this connection.
    subscribed: HashSet<String>,
    state: &'a mut Listening,
}

impl Link<'_> {
    async fn run(
        &mut self,
        mut stream: redis::aio::PubSubStream,
        recover: &mut mpsc::Receiver<RecoverRequest>,
    ) -> Ended {
        let mut stop = self.shared.stopped();
        let prefix = format!("{}:c:", self.shared.url.prefix);
        // Interest is read when it changed (and once per connection), not per message.
        let mut interest_changed = true;
        loop {
            if std::mem::take(&mut interest_changed)
                && let Err(e) = self.follow_interest().await
            {
                return Ended::Lost(e.to_string());
            }
            tokio::select! {
                _ = crate::backplane::until_stopped(&mut stop) => return Ended::Stop,
                _ = self.shared.interest_changed.notified() => interest_changed = true,
                msg = stream.next() => match msg {
                    None => return Ended::Lost("connection closed".into()),
                    Some(msg) => {
                        let topic = msg.get_channel_name().strip_prefix(&prefix).map(str::to_owned);
                        if let Some(topic) = topic
                            && let Err(e) = self.on_message(&topic, msg.get_payload_bytes()).await
                        {
                            return Ended::Lost(e.to_string());
                        }
                    }
                },
                Some(req) = recover.recv() => {
                    if let Err(e) = self.recover(req).await {
                        return Ended::Lost(e.to_string());
                    }
                }
            }
        }
    }

    /// Subscribes to topics that gained local subscribers (catching up on their history after a
    /// reconnect) and unsubscribes from those that lost their last.
    async fn follow_interest(&mut self) -> RedisResult<()> {
        let wanted = self.shared.wanted();
        let gone: Vec<String> = self.subscribed.difference(&wanted).cloned().collect();
        for topic in gone {
            self.sink.unsubscribe(channel(self.shared, &topic)).await?;
            self.subscribed.remove(&topic);
            self.state.gaps.forget(&topic);
            self.state.last.remove(&topic);
        }
        let new: Vec<String> = wanted.difference(&self.subscribed).cloned().collect();
        for topic in new {
            self.subscribe(&topic).await?;
        }
        Ok(())
    }

    async fn subscribe(&mut self, topic: &str) -> RedisResult<()> {
        if self.shared.url.history > 0 && !self.state.last.contains_key(topic) {
            // Listening for the first time: note where the topic stands *before* subscribing, then
            // fill in from the stream what was published in between (live copies are then skipped).
            let since = self.since(topic, i64::MAX as u64).await?;
            let last = match since.epoch {
                Some(epoch) => Position { offset: since.top, epoch },
                // No history yet: whichever epoch begins is followed from its first message.
                None => Position { offset: 0, epoch: String::new() },
            };
            self.state.last.insert(topic.to_owned(), last);
        }
        self.sink.subscribe(channel(self.shared, topic)).await?;
        self.subscribed.insert(topic.to_owned());
        if let Some(last) = self.state.last.get(topic).cloned() {
            // What was published since `last` (a reconnect's gap too) comes from the stream.
            self.catch_up(topic, &last, u64::MAX).await?;
        }
        Ok(())
    }

    async fn since(&mut self, topic: &str, offset: u64) -> RedisResult<Since> {
        let url = &self.shared.url;
        let reply: Value = redis::Script::new(history::SINCE)
            .key(history::stream_key(url, topic))
            .key(history::meta_key(url, topic))
            .arg(offset)
            .arg(url.history)
            .invoke_async(&mut self.conn)
            .await?;
        history::parse_since(&reply).ok_or_else(|| {
            redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected SINCE reply"))
        })
    }

    /// Delivers what followed `last` on `topic` up to offset `before` (exclusive) from the stream;
    /// what the stream no longer holds is counted as lost. After a new epoch (the history was lost)
    /// the new epoch's messages are delivered from its first.
    async fn catch_up(&mut self, topic: &str, last: &Position, before: u64) -> RedisResult<()> {
        let mut last = last.clone();
        let mut since = self.since(topic, last.offset).await?;
        let Some(mut epoch) = since.epoch.clone() else { return Ok(()) };
        if epoch != last.epoch {
            if !last.epoch.is_empty() {
                tracing::warn!(topic, "backplane: the topic's history was lost (new epoch)");
            }
            last = Position { offset: 0, epoch: epoch.clone() };
            since = self.since(topic, 0).await?;
            epoch = since.epoch.unwrap_or(epoch);
        }
        let entries = since.entries.unwrap_or_default();
        let end = since.top.min(before.saturating_sub(1));
        let first = entries.first().map_or(end + 1, |(o, _)| *o);
        add(&self.shared.counters.lost, first.saturating_sub(last.offset + 1).min(end.saturating_sub(last.offset)));
        for (offset, envelope) in entries.into_iter().filter(|(o, _)| *o <= end) {
            let position = Position { offset, epoch: epoch.clone() };
            if let Some(e) = Envelope::decode(envelope) {
                add(&self.shared.counters.recovered, 1);
                let exclude = e.exclude.filter(|_| e.origin == self.shared.node);
                self.shared.deliver(topic, self.shared.shown(&position, e.payload), e.text, e.compress, exclude);
            }
        }
        if end >= last.offset {
            self.state.last.insert(topic.to_owned(), Position { offset: end, epoch });
        }
        Ok(())
    }

    async fn on_message(&mut self, topic: &str, message: &[u8]) -> RedisResult<()> {
        if !self.subscribed.contains(topic) {
            return Ok(());
        }
        if self.shared.url.history == 0 {
            let Some(e) = Envelope::decode(Bytes::copy_from_slice(message)) else { return Ok(()) };
            if e.origin == self.shared.node {
                return Ok(());
            }
            add(&self.shared.counters.lost, self.state.gaps.observe(topic, e.origin, e.seq));
            add(&self.shared.counters.received, 1);
            self.shared.deliver(topic, e.payload, e.text, e.compress, None);
            return Ok(());
        }
        let Some((position, envelope)) = history::split_announced(message) else { return Ok(()) };
        let Some(e) = Envelope::decode(envelope) else { return Ok(()) };
        match self.state.last.get(topic).cloned() {
            Some(last) if last.epoch == position.epoch && position.offset <= last.offset => return Ok(()),
            Some(last) if last.epoch != position.epoch || position.offset > last.offset + 1 => {
                self.catch_up(topic, &last, position.offset).await?;
            }
            _ => {}
        }
        add(&self.shared.counters.received, 1);
        let exclude = e.exclude.filter(|_| e.origin == self.shared.node);
        self.shared.deliver(topic, self.shared.shown(&position, e.payload), e.text, e.compress, exclude);
        self.state.last.insert(topic.to_owned(), position);
        Ok(())
    }

    /// Serves a session resuming a topic: listens on it first, then hands the session the messages
    /// after its position up to the last one delivered here; later ones reach it live.
    async fn recover(&mut self, req: RecoverRequest) -> RedisResult<()> {
        if !self.subscribed.contains(&req.topic) {
            self.subscribe(&req.topic).await?;
        }
        let since = self.since(&req.topic, req.since.offset).await?;
        let answer = self.resume_from(&req, since);
        match answer {
            Ok((entries, position)) => {
                let _ = req.reply.send((req.resume)(entries).map(|()| position));
            }
            Err(failure) => {
                let _ = req.reply.send(Err(Error::Recovery(failure)));
            }
        }
        Ok(())
    }

    fn resume_from(
        &mut self,
        req: &RecoverRequest,
        since: Since,
    ) -> std::result::Result<(Vec<Recovered>, Option<Position>), RecoveryFailure> {
        let Some(epoch) = since.epoch else { return Err(RecoveryFailure::EpochChanged) };
        if epoch != req.since.epoch || req.since.offset > since.top {
            return Err(RecoveryFailure::EpochChanged);
        }
        let upto = match self.state.last.get(&req.topic) {
            Some(last) if last.epoch == epoch => last.offset,
            _ => {
                self.state.last.insert(req.topic.clone(), Position { offset: since.top, epoch: epoch.clone() });
                since.top
            }
        };
        let entries = since.entries.ok_or(RecoveryFailure::Trimmed)?;
        let wanted = upto.saturating_sub(req.since.offset);
        let missed: Vec<Recovered> = entries
            .into_iter()
            .filter(|(o, _)| *o > req.since.offset && *o <= upto)
            .filter_map(|(offset, envelope)| {
                let e = Envelope::decode(envelope)?;
                let position = Position { offset, epoch: epoch.clone() };
                Some(Recovered { payload: self.shared.shown(&position, e.payload), text: e.text, position })
            })
            .collect();
        if missed.len() as u64 != wanted {
            return Err(RecoveryFailure::Trimmed);
        }
        add(&self.shared.counters.recovered, wanted);
        Ok((missed, Some(Position { offset: upto, epoch })))
    }
}
