//! Frame masking (RFC 6455 §5.3): XOR with a 4-byte key, applied eight bytes at a time.

/// XORs `buf` in place with `key`, as if the payload started at key offset 0.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let key64 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let masked = u64::from_ne_bytes(word) ^ key64;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::apply_mask;

    fn reference(buf: &mut [u8], key: [u8; 4]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }

    #[test]
    fn word_masking_matches_bytewise_masking_for_every_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..70 {
            let data: Vec<u8> = (0..len as u8).collect();
            let mut a = data.clone();
            let mut b = data.clone();
            apply_mask(&mut a, key);
            reference(&mut b, key);
            assert_eq!(a, b, "length {len}");
            apply_mask(&mut a, key);
            assert_eq!(a, data, "masking twice restores length {len}");
        }
    }
}
