//! The server's side of the seam: messages from the broker go to the topic hub's local fan-out, and
//! the hub's topics are what the node listens to.

use std::collections::HashSet;

use bytes::Bytes;

use super::LocalDelivery;
use crate::server::ServerInner;

impl LocalDelivery for ServerInner {
    fn deliver(&self, topic: &str, payload: Bytes, text: bool, compress: Option<bool>, exclude: Option<u64>) {
        self.topics.fanout_local(topic, &payload, text, compress, exclude);
    }

    fn topics(&self) -> HashSet<String> {
        self.topics.topic_names()
    }
}
