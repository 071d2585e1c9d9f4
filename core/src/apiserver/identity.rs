//! Server-assigned identities: `metadata.uid` and `generateName` suffixes.
//! Core has no random source, so they come from a seed the driver supplies
//! and a counter: unique per cluster, and reproducible in tests.

use sha2::{Digest, Sha256};

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no
/// look-alike characters, so no accidental words).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

#[derive(Clone, Debug)]
pub struct Identity {
    seed: u64,
    counter: u64,
}

impl Identity {
    pub fn new(seed: u64) -> Self {
        Identity { seed, counter: 0 }
    }

    fn next_digest(&mut self) -> [u8; 32] {
        self.counter += 1;
        let mut hasher = Sha256::new();
        hasher.update(self.seed.to_le_bytes());
        hasher.update(self.counter.to_le_bytes());
        hasher.finalize().into()
    }

    /// A version-4-shaped UUID.
    pub fn uid(&mut self) -> String {
        let mut b = self.next_digest();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(&b[..16]);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// Five characters appended to a `generateName` prefix.
    pub fn name_suffix(&mut self) -> String {
        self.next_digest()[..5]
            .iter()
            .map(|b| SUFFIX_ALPHABET[*b as usize % SUFFIX_ALPHABET.len()] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_no_repeats() {
        let (mut a, mut b) = (Identity::new(7), Identity::new(7));
        let uids: Vec<String> = (0..100).map(|_| a.uid()).collect();
        assert_eq!(uids, (0..100).map(|_| b.uid()).collect::<Vec<_>>());
        let unique: std::collections::BTreeSet<_> = uids.iter().collect();
        assert_eq!(unique.len(), 100);
        assert_eq!(uids[0].len(), 36);
        assert_eq!(&uids[0][14..15], "4");
        assert_ne!(Identity::new(8).uid(), uids[0]);
    }

    #[test]
    fn suffixes_use_the_kubernetes_alphabet() {
        let suffix = Identity::new(1).name_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|c| SUFFIX_ALPHABET.contains(&c)));
    }
}
