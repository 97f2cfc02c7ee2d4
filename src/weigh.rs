//! What cached entries weigh: caches are bounded by bytes, not by entry
//! count, so one 100 MB prompt cannot hold as much memory as the whole cache
//! was meant to.

use serde::Serialize;

/// The unit caches count in: an entry weighs one page per started 4 KiB, so a
/// capacity of 10,000 holds 10,000 small entries or 40 MB of big ones.
pub const PAGE_BYTES: usize = 4096;

/// The weight of an entry of `bytes` bytes, in pages (at least one).
pub fn in_pages(bytes: usize) -> u32 {
    u32::try_from(bytes / PAGE_BYTES + 1).unwrap_or(u32::MAX)
}

/// How many bytes `value` takes as JSON, without building the text.
pub fn json_bytes(value: &impl Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; a value that cannot be serialized weighs what was written.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_grow_with_size() {
        assert_eq!(in_pages(0), 1);
        assert_eq!(in_pages(4095), 1);
        assert_eq!(in_pages(100 * 1024 * 1024), 25_601);
        assert_eq!(json_bytes(&serde_json::json!({"a": [1, 2]})), 11);
    }
}
