//! Server-assigned identities: `metadata.uid` and `generateName` suffixes.
//! Core has no random source, so they come from a seed the driver supplies
//! and a counter: unique per cluster, and reproducible in tests.
//!
//! The bits are SplitMix64's: each is a bijection of the seed and counter
//! mixed into 64 bits. That is what identities need (well spread, never
//! repeating within a run); they are not secrets, and a cryptographic
//! hash, which this was, cost more than the rest of creating an Event.

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

    /// The next 64 bits: SplitMix64 from the seed, which gives each
    /// counter value its own output.
    fn next_bits(&mut self) -> u64 {
        const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        self.counter += 1;
        let mut z = self.seed.wrapping_add(self.counter.wrapping_mul(GOLDEN_GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A version-4-shaped UUID.
    pub fn uid(&mut self) -> String {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.next_bits().to_le_bytes());
        b[8..].copy_from_slice(&self.next_bits().to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// Five characters appended to a `generateName` prefix.
    pub fn name_suffix(&mut self) -> String {
        self.next_bits().to_le_bytes()[..5]
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
        let uids: Vec<String> = (0..10_000).map(|_| a.uid()).collect();
        assert_eq!(uids, (0..10_000).map(|_| b.uid()).collect::<Vec<_>>());
        let unique: std::collections::BTreeSet<_> = uids.iter().collect();
        assert_eq!(unique.len(), 10_000);
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
