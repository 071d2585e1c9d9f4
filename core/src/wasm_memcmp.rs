//! `memcmp` for wasm32, eight bytes at a time.
//!
//! Every ordered or equal comparison of strings and byte slices in Rust
//! ends in `memcmp`. On wasm32 it comes from wasi-libc (musl's) or
//! compiler-builtins, both a byte-at-a-time loop, built without SIMD. The
//! control plane's maps are keyed by names that share long prefixes (a
//! store key `pods/default/web-7d4b9c-x2x9q`, node names like
//! `scheduler-perf-01234`), so that loop was the largest single cost of a
//! scheduling cycle as wasm (11% of the scheduler benchmark, against 4%
//! natively with glibc's vectorised one). Defining the symbol here makes
//! the linker take this one instead: an archive's member (libc's
//! `memcmp.o`, compiler-builtins' intrinsic) is only linked for a symbol
//! nothing else defines.
//!
//! Native builds keep the platform's own; there the module is compiled
//! only for its tests, and the function is not exported.

/// Compares `n` bytes as unsigned values: negative, zero or positive as
/// the first differing byte of `left` is below, equal to or above
/// `right`'s (the C contract).
///
/// # Safety
/// `left` and `right` must be valid for reads of `n` bytes.
#[cfg_attr(target_arch = "wasm32", unsafe(no_mangle))]
pub unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, n: usize) -> i32 {
    const WORD: usize = size_of::<u64>();
    let mut at = 0;
    // Whole words while they are equal. Unaligned loads are allowed (and
    // cheap) in wasm.
    while at + WORD <= n {
        let (l, r) = unsafe { (left.add(at).cast::<u64>().read_unaligned(), right.add(at).cast::<u64>().read_unaligned()) };
        if l != r {
            // wasm is little-endian: the lowest set bit of the difference
            // is in the first differing byte.
            at += ((l ^ r).trailing_zeros() / 8) as usize;
            break;
        }
        at += WORD;
    }
    while at < n {
        let (l, r) = unsafe { (*left.add(at), *right.add(at)) };
        if l != r {
            return i32::from(l) - i32::from(r);
        }
        at += 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::memcmp;

    fn sign(n: i32) -> i32 {
        n.signum()
    }

    #[test]
    fn agrees_with_slice_ordering_at_every_length_and_offset() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..base.len() {
            for differ_at in 0..=len {
                for delta in [1u8, 0x80, 0xff] {
                    let mut other = base.clone();
                    if differ_at < len {
                        other[differ_at] = other[differ_at].wrapping_add(delta);
                    }
                    let expected = base[..len].cmp(&other[..len]) as i32;
                    let got = unsafe { memcmp(base.as_ptr(), other.as_ptr(), len) };
                    assert_eq!(sign(got), expected, "len {len}, differing at {differ_at} by {delta}");
                }
            }
        }
    }

    #[test]
    fn reads_unaligned_starts() {
        let a = b"xxscheduler-perf-01234";
        let b = b"yscheduler-perf-01235";
        assert!(unsafe { memcmp(a.as_ptr().add(2), b.as_ptr().add(1), 20) } < 0);
        assert_eq!(unsafe { memcmp(a.as_ptr().add(2), b.as_ptr().add(1), 19) }, 0);
    }
}
