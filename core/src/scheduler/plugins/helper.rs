//! Helpers plugins share (upstream's `plugins/helper`).

use crate::scheduler::framework::{PreFilterResult, Status, MAX_NODE_SCORE};

/// The PreFilter of a plugin whose Filter can only reject nodes in some
/// cycles: every node stays in play when it is `needed`, otherwise the
/// Filter is skipped rather than asked for every node (not in upstream).
pub fn filter_needed(needed: bool) -> Result<PreFilterResult, Status> {
    if needed {
        Ok(PreFilterResult::AllNodes)
    } else {
        Err(Status::skip())
    }
}

/// `DefaultNormalizeScore`: scales scores so the highest becomes
/// MAX_NODE_SCORE; `reverse` turns it around (fewer is better).
pub fn default_normalize(reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - scaled } else { scaled };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: [(bool, Vec<i64>, Vec<i64>); 4] = [
            (false, vec![1, 2, 4], vec![25, 50, 100]),
            (true, vec![1, 2, 4], vec![75, 50, 0]),
            (false, vec![0, 0], vec![0, 0]),
            (true, vec![0, 0], vec![100, 100]),
        ];
        for (reverse, mut scores, want) in cases {
            default_normalize(reverse, &mut scores);
            assert_eq!(scores, want);
        }
    }
}
