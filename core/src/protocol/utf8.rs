//! Incremental UTF-8 validation across fragment boundaries, so a bad Text message fails fast.

/// Validates a byte stream chunk by chunk; a code point may straddle chunks.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: usize,
}

/// The input is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; `is_final` says the message ends with it.
    pub fn feed(&mut self, mut data: &[u8], is_final: bool) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let need = sequence_len(self.pending[0]);
            let take = (need - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    // Still a valid prefix of a longer sequence: only the end of input is a problem.
                    return if is_final && data.is_empty() { Err(InvalidUtf8) } else { Ok(()) };
                }
            }
        }
        if data.is_ascii() {
            // Chat-like text is mostly ASCII: checked a word at a time, whatever the alignment.
            return Ok(());
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let rest = &data[e.valid_up_to()..];
                if is_final {
                    return Err(InvalidUtf8);
                }
                self.pending[..rest.len()].copy_from_slice(rest);
                self.pending_len = rest.len();
                Ok(())
            }
        }
    }

    /// Whether the bytes fed so far end on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_everywhere(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let mut v = Utf8Validator::new();
                let r = v
                    .feed(&bytes[..a], false)
                    .and_then(|_| v.feed(&bytes[a..b], false))
                    .and_then(|_| v.feed(&bytes[b..], true));
                assert_eq!(r.is_ok(), whole, "{bytes:x?} split at {a},{b}");
            }
        }
        whole
    }

    #[test]
    fn validator_agrees_with_std_for_every_split() {
        assert!(split_everywhere("κόσμε €𝄞 abc".as_bytes()));
        assert!(!split_everywhere(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"));
        assert!(!split_everywhere(b"\xf4\x90\x80\x80"));
        assert!(!split_everywhere(b"\xe0\x80\xaf"));
        assert!(!split_everywhere(b"abc\xe2\x82"));
        assert!(!split_everywhere(b"\xc0\xaf"));
    }

    #[test]
    fn invalid_prefix_fails_before_the_message_ends() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90", false), Err(InvalidUtf8));
    }
}
