//! What a publish does with a subscriber whose outgoing queue is over its limit.

use crate::error::{Error, Result};

/// Close code 1008: the peer broke a policy (here: it does not read fast enough).
pub const POLICY_VIOLATION: u16 = 1008;
/// Close code 1013: try again later (the server cannot keep up with this peer now).
pub const TRY_AGAIN_LATER: u16 = 1013;

/// The slow-subscriber policy: applied, per subscriber and per publish, when the subscriber's
/// outgoing queue is over its high-water mark (`SessionConfig::write_high_water`, what
/// `Session::buffered_amount` is compared with). Either way the publish goes on to the others at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowSubscriber {
    /// Skip this message for that subscriber and count it (`Published::dropped`, `publish_drops`).
    /// The default: one slow reader loses messages, the rest of the service is unaffected.
    #[default]
    Drop,
    /// Close that subscriber with this code: 1008 (policy violation) or 1013 (try again later).
    /// Its queued messages are still written before the Close.
    Close(u16),
}

impl SlowSubscriber {
    /// Checks the close code: 1008 or 1013 only (the two codes RFC 6455 has for "you are too slow").
    pub fn validate(&self) -> Result<()> {
        match *self {
            SlowSubscriber::Drop => Ok(()),
            SlowSubscriber::Close(POLICY_VIOLATION | TRY_AGAIN_LATER) => Ok(()),
            SlowSubscriber::Close(code) => Err(Error::invalid(format!(
                "slow_subscriber close code must be 1008 (policy violation) or 1013 (try again later), got {code}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_1008_and_1013_close_a_slow_subscriber() {
        SlowSubscriber::Drop.validate().unwrap();
        SlowSubscriber::Close(1008).validate().unwrap();
        SlowSubscriber::Close(1013).validate().unwrap();
        for code in [1000, 1011, 4000] {
            let err = SlowSubscriber::Close(code).validate().unwrap_err().to_string();
            assert!(err.contains("slow_subscriber"), "{err}");
        }
    }
}
