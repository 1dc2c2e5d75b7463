//! Where a message sits in a topic's history: an offset and the epoch it counts in (Centrifugo's
//! stream position). Offsets grow by one per publish; a new epoch means the history was lost and
//! positions from the old one can no longer be resumed.

use std::fmt;
use std::str::FromStr;

pub use crate::error::RecoveryFailure;
use crate::error::{Error, Result};

/// A message's place in its topic's history.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// 1 for the first message of the epoch, one more for each publish after it.
    pub offset: u64,
    /// Names the history the offset counts in; changes when the history is lost.
    pub epoch: String,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.offset, self.epoch)
    }
}

impl FromStr for Position {
    type Err = Error;

    /// Reads `"<offset>:<epoch>"`, the form `Display` writes and the position prefix carries.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("position {s:?} is not <offset>:<epoch>"));
        let (offset, epoch) = s.split_once(':').ok_or_else(bad)?;
        let offset = offset.parse().map_err(|_| bad())?;
        if epoch.is_empty() || epoch.contains(':') {
            return Err(bad());
        }
        Ok(Position { offset, epoch: epoch.to_owned() })
    }
}

impl Position {
    /// The prefix a client sees before the payload when positions are on: `"<offset>:<epoch>:"`.
    pub fn prefix(&self) -> String {
        format!("{self}:")
    }

    /// Splits a received message into its position and payload (the client side of the prefix).
    pub fn split_prefixed(message: &[u8]) -> Option<(Position, &[u8])> {
        let first = message.iter().position(|&b| b == b':')?;
        let second = first + 1 + message[first + 1..].iter().position(|&b| b == b':')?;
        let head = std::str::from_utf8(&message[..second]).ok()?;
        Some((head.parse().ok()?, &message[second + 1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_round_trips_through_its_text_and_prefix() {
        let p = Position { offset: 42, epoch: "k3j".into() };
        assert_eq!(p.to_string().parse::<Position>().unwrap(), p);
        let message = [p.prefix().as_bytes(), b"a:b"].concat();
        assert_eq!(Position::split_prefixed(&message), Some((p, &b"a:b"[..])));
        for bad in ["", "1", "x:e", "1:", "1:a:b"] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }
}
