//! Sending publishes to Redis: batched into pipelines on one command connection (a script call each
//! with a history), reconnecting with backoff, failing (and counting) what arrives while unreachable.

use std::sync::Arc;

use redis::{Client, RedisResult, Value};
use tokio::sync::mpsc;

use super::{BATCH, channel, command_connection};
use crate::backplane::history;
use crate::backplane::position::RecoveryFailure;
use crate::backplane::{Outbound, PUBLISHING, Shared, add, backoff};
use crate::error::Error;

/// A publish the broker did not take: counted, and with a history delivered here without a
/// position (local delivery never waits for the broker).
fn failed(shared: &Shared, out: Outbound) {
    add(&shared.counters.failed, 1);
    if shared.url.history > 0 {
        let e = out.envelope;
        shared.deliver(&out.topic, e.payload, e.text, e.compress, e.exclude);
    }
    if let Some(reply) = out.reply {
        let _ = reply.send(Err(Error::Recovery(RecoveryFailure::Unavailable)));
    }
}

/// Sends what arrives on `rx` until the server is gone.
pub(super) async fn run(shared: Arc<Shared>, client: Client, mut rx: mpsc::Receiver<Outbound>) {
    let mut stop = shared.stopped();
    let mut failures = 0u32;
    let mut batch = Vec::with_capacity(BATCH);
    'connect: loop {
        // Connect while failing what arrives meanwhile, so local delivery goes on.
        let wait = (failures > 0).then(|| backoff(failures));
        let connecting = async {
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            let mut conn = command_connection(&client).await?;
            if shared.url.history > 0 {
                redis::cmd("SCRIPT").arg("LOAD").arg(history::PUBLISH).exec_async(&mut conn).await?;
            }
            RedisResult::Ok(conn)
        };
        tokio::pin!(connecting);
        let mut conn = loop {
            tokio::select! {
                _ = crate::backplane::until_stopped(&mut stop) => return,
                r = &mut connecting => match r {
                    Ok(conn) => break conn,
                    Err(e) => {
                        tracing::debug!(error = %e, "backplane: redis unreachable for publishing");
                        failures += 1;
                        continue 'connect;
                    }
                },
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 { return; }
                    batch.drain(..).for_each(|out| failed(&shared, out));
                }
            }
        };
        let sha = redis::Script::new(history::PUBLISH).get_hash().to_owned();
        let mut links_lost = shared.links_lost.subscribe();
        links_lost.mark_unchanged();
        shared.set_connected(PUBLISHING, true);
        loop {
            let n = tokio::select! {
                _ = crate::backplane::until_stopped(&mut stop) => return,
                _ = links_lost.changed() => {
                    shared.set_connected(PUBLISHING, false);
                    failures = 1;
                    continue 'connect;
                }
                n = rx.recv_many(&mut batch, BATCH) => n,
            };
            if n == 0 {
                return;
            }
            let mut pipe = redis::pipe();
            for out in &batch {
                let envelope = out.envelope.encode();
                if shared.url.history > 0 {
                    let url = &shared.url;
                    pipe.cmd("EVALSHA")
                        .arg(&sha)
                        .arg(2)
                        .arg(history::stream_key(url, &out.topic))
                        .arg(history::meta_key(url, &out.topic))
                        .arg(envelope.as_ref())
                        .arg(channel(&shared, &out.topic))
                        .arg(url.history)
                        .arg(url.history_ttl.as_millis() as u64)
                        .arg(url.history_meta_ttl.as_millis() as u64)
                        .arg(history::new_epoch());
                } else {
                    pipe.cmd("PUBLISH").arg(channel(&shared, &out.topic)).arg(envelope.as_ref());
                }
            }
            match pipe.query_async::<Vec<Value>>(&mut conn).await {
                Ok(replies) => {
                    add(&shared.counters.published, batch.len() as u64);
                    for (out, reply) in batch.drain(..).zip(replies) {
                        if let Some(tx) = out.reply {
                            let position = history::parse_published(&reply)
                                .ok_or_else(|| Error::Backplane("unexpected reply from redis".into()));
                            let _ = tx.send(position);
                        }
                    }
                }
                Err(e) => {
                    shared.set_connected(PUBLISHING, false);
                    tracing::warn!(error = %e, lost = batch.len(), "backplane: publishing to redis failed");
                    batch.drain(..).for_each(|out| failed(&shared, out));
                    failures = 1;
                    continue 'connect;
                }
            }
        }
    }
}
