//! Completion indexes of an Indexed Job: each pod carries its index in an
//! annotation (and a label), and the Job's `status.completedIndexes`
//! lists the succeeded ones as ranges, `"0-2,5"`.

use crate::json_path::JsonPath;
use serde_json::Value;
use std::collections::BTreeSet;

pub const ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// The pod's completion index, if it has a valid one below `completions`.
pub fn of(pod: &Value, completions: i32) -> Option<i32> {
    let index = pod.at(&["metadata", "annotations"])?.get(ANNOTATION)?.as_str()?.parse::<i32>().ok()?;
    (0..completions).contains(&index).then_some(index)
}

/// Parses `"0-2,5"`, keeping the indexes below `completions`.
pub fn parse(text: &str, completions: i32) -> BTreeSet<i32> {
    let mut indexes = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(first), Ok(last)) = (first, last) {
            indexes.extend((first.max(0)..=last.min(completions - 1)).filter(|i| *i < completions));
        }
    }
    indexes
}

/// Formats indexes as ranges: consecutive runs of three or more are
/// written `a-b`, as upstream does, and shorter runs one by one.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last = iter.next().expect("peeked");
        }
        match last - first {
            0 => parts.push(first.to_string()),
            1 => parts.extend([first.to_string(), last.to_string()]),
            _ => parts.push(format!("{first}-{last}")),
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_round_trip_through_their_ranges() {
        let cases = [("", vec![]), ("3", vec![3]), ("1,2", vec![1, 2]), ("0-2,5", vec![0, 1, 2, 5]), ("0-3,5-7", vec![0, 1, 2, 3, 5, 6, 7])];
        for (text, indexes) in cases {
            let set: BTreeSet<i32> = indexes.into_iter().collect();
            assert_eq!(parse(text, 10), set, "{text}");
            assert_eq!(format(&set), text);
        }
        assert_eq!(parse("0-9", 4), (0..4).collect(), "indexes past completions are dropped");
    }
}
