//! Redis: one pub/sub connection that follows the node's interest (and, with a history, delivers in
//! position order, filling gaps from the stream and serving recoveries), and one command connection
//! that sends publishes in batches. Both reconnect with backoff; neither blocks local delivery.
mod listener;
mod publisher;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisResult};
use tokio::sync::mpsc;

use super::{Outbound, RecoverRequest, Shared};

/// Publishes sent to Redis in one pipeline at most.
const BATCH: usize = 256;
/// How long connecting, and any one reply, may take before the broker counts as unreachable.
const DEADLINE: Duration = Duration::from_secs(3);

/// Starts the two connection tasks on the runtime.
pub(crate) fn start(shared: Arc<Shared>, outbound: mpsc::Receiver<Outbound>, recover: mpsc::Receiver<RecoverRequest>) {
    let client = match Client::open(shared.url.connect.as_str()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "backplane: bad redis URL");
            return;
        }
    };
    crate::runtime::spawn(publisher::run(shared.clone(), client.clone(), outbound));
    crate::runtime::spawn(listener::run(shared, client, recover));
}

fn channel(shared: &Shared, topic: &str) -> String {
    format!("{}:c:{topic}", shared.url.prefix)
}

async fn command_connection(client: &Client) -> RedisResult<MultiplexedConnection> {
    let config =
        AsyncConnectionConfig::new().set_connection_timeout(Some(DEADLINE)).set_response_timeout(Some(DEADLINE));
    client.get_multiplexed_async_connection_with_config(&config).await
}
