//! NATS: a core-NATS subject per topic (`<prefix>.<hex of the topic>`, so any topic name is a valid
//! subject), subscribed while the node has local subscribers. The client reconnects with our
//! backoff and resubscribes by itself; what it could not carry meanwhile shows as gaps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::envelope::Envelope;
use super::gaps::Gaps;
use super::{Outbound, RecoverRequest, Shared, add, backoff};

/// The subject carrying `topic`.
fn subject(shared: &Shared, topic: &str) -> String {
    let mut s = String::with_capacity(shared.url.prefix.len() + 1 + topic.len() * 2);
    s.push_str(&shared.url.prefix);
    s.push('.');
    for b in topic.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    if topic.is_empty() {
        s.push('_');
    }
    s
}

/// Starts the client (it retries the first connection too) and the publishing and listening tasks.
pub(crate) fn start(shared: Arc<Shared>, outbound: mpsc::Receiver<Outbound>, _recover: mpsc::Receiver<RecoverRequest>) {
    crate::runtime::spawn(async move {
        let events = shared.clone();
        let connected_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let options = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(std::time::Duration::from_secs(3))
            .reconnect_delay_callback(|attempts| backoff(attempts.min(u32::MAX as usize) as u32))
            .event_callback(move |event| {
                let shared = events.clone();
                let connected_once = connected_once.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            if connected_once.swap(true, std::sync::atomic::Ordering::Relaxed) {
                                add(&shared.counters.reconnects, 1);
                            }
                            shared.set_connected(super::LISTENING | super::PUBLISHING, true);
                            tracing::info!(url = %shared.url.connect, "backplane: connected to nats");
                        }
                        async_nats::Event::Disconnected => {
                            shared.set_connected(super::LISTENING | super::PUBLISHING, false);
                            tracing::warn!("backplane: lost the nats connection; reconnecting");
                        }
                        async_nats::Event::SlowConsumer(_) => add(&shared.counters.lost, 1),
                        other => tracing::debug!(event = %other, "backplane: nats event"),
                    }
                }
            });
        let client = match options.connect(shared.url.connect.as_str()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "backplane: bad nats URL");
                return;
            }
        };
        crate::runtime::spawn(publisher(shared.clone(), client.clone(), outbound));
        listener(shared, client).await;
    });
}

async fn publisher(shared: Arc<Shared>, client: async_nats::Client, mut rx: mpsc::Receiver<Outbound>) {
    let mut stop = shared.stopped();
    loop {
        let out = tokio::select! {
            _ = super::until_stopped(&mut stop) => return,
            out = rx.recv() => match out { Some(o) => o, None => return },
        };
        match client.publish(subject(&shared, &out.topic), out.envelope.encode()).await {
            Ok(()) => add(&shared.counters.published, 1),
            Err(e) => {
                tracing::debug!(error = %e, "backplane: publishing to nats failed");
                add(&shared.counters.failed, 1);
            }
        }
    }
}

/// Follows the node's interest: one subscription (and task) per topic with local subscribers.
async fn listener(shared: Arc<Shared>, client: async_nats::Client) {
    let mut stop = shared.stopped();
    let gaps = Arc::new(Mutex::new(Gaps::default()));
    let mut subscribed: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let wanted = shared.wanted();
        subscribed.retain(|topic, task| {
            let keep = wanted.contains(topic);
            if !keep {
                task.abort();
                gaps.lock().unwrap().forget(topic);
            }
            keep
        });
        for topic in wanted {
            if subscribed.contains_key(&topic) {
                continue;
            }
            match client.subscribe(subject(&shared, &topic)).await {
                Ok(sub) => {
                    let task = crate::runtime::spawn(receive(shared.clone(), gaps.clone(), topic.clone(), sub));
                    subscribed.insert(topic, task);
                }
                Err(e) => tracing::warn!(error = %e, topic, "backplane: nats subscribe failed"),
            }
        }
        tokio::select! {
            _ = super::until_stopped(&mut stop) => break,
            _ = shared.interest_changed.notified() => {}
        }
    }
    subscribed.values().for_each(JoinHandle::abort);
}

async fn receive(shared: Arc<Shared>, gaps: Arc<Mutex<Gaps>>, topic: String, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        let Some(e) = Envelope::decode(msg.payload) else { continue };
        if e.origin == shared.node {
            continue;
        }
        add(&shared.counters.lost, gaps.lock().unwrap().observe(&topic, e.origin, e.seq));
        add(&shared.counters.received, 1);
        shared.deliver(&topic, e.payload, e.text, e.compress, None);
    }
}
