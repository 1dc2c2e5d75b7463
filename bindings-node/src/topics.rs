//! Topics for JS: what a publish did, and the message type a publish's flags ask for.

use napi_derive::napi;
use wssession_core::{Published, Result};

use crate::error::to_js;

/// What a publish did with the subscribers of its topic.
#[napi(object)]
pub struct PublishResult {
    /// Subscribers the message was queued to.
    pub delivered: u32,
    /// Subscribers it was skipped for: over their write limit (`slowSubscriber: 'drop'`), or in the
    /// middle of sending a fragmented message.
    pub dropped: u32,
    /// Subscribers closed for being over their write limit (`slowSubscriber: 1008 | 1013`).
    pub closed: u32,
}

impl From<Published> for PublishResult {
    fn from(p: Published) -> Self {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        PublishResult { delivered: n(p.delivered), dropped: n(p.dropped), closed: n(p.closed) }
    }
}

/// Runs a publish with the message type and compress override of `trySend`-style `flags` (bit 0
/// binary, bits 2-3 compress: 0 default, 1 off, 2 on).
pub(crate) fn publish(
    flags: u32,
    publish: impl FnOnce(bool, Option<bool>) -> Result<Published>,
) -> napi::Result<PublishResult> {
    publish(!crate::hub::is_binary(flags), crate::hub::compress_of(flags)).map(PublishResult::from).map_err(to_js)
}
