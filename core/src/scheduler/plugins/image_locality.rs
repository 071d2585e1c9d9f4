//! ImageLocality: prefers nodes that already hold the pod's images (a node's
//! `status.images`), so the pod starts without a pull. An image found on
//! only a few nodes counts for less, so that pods do not all pile onto the
//! one node that happens to have it.

use crate::scheduler::framework::{CycleState, NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::scheduler::snapshot::Snapshot;

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this, a cached image saves too little to matter.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this every image counts the same.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

/// For each of the pod's images, the share of nodes that hold it.
#[derive(Clone)]
struct Spread(Vec<(String, f64)>);

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], snapshot: &Snapshot) -> Result<(), Status> {
        let total = snapshot.len().max(1) as f64;
        state.write(Spread(pod.images.iter().map(|i| (i.clone(), snapshot.nodes_with_image(i) as f64 / total)).collect()));
        Ok(())
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        if node.images.is_empty() {
            return 0;
        }
        let Some(Spread(spread)) = state.read::<Spread>() else { return 0 };
        let sum: i64 = spread.iter().filter_map(|(image, share)| node.images.get(image).map(|size| (*size as f64 * share) as i64)).sum();
        let max = MAX_CONTAINER_THRESHOLD * pod.images.len().max(1) as i64;
        let clamped = sum.clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{pod, score_in, snapshot};
    use serde_json::json;

    #[test]
    fn nodes_holding_the_image_score_by_its_size_and_spread() {
        let with = |name: &str, images: serde_json::Value| (json!({"metadata": {"name": name}, "status": {"images": images}}), vec![]);
        let snapshot = snapshot(&[
            with("big", json!([{"names": ["app:1.0"], "sizeBytes": 800 * MB}])),
            with("small", json!([{"names": ["app:1.0"], "sizeBytes": 800 * MB}, {"names": ["tool:latest"], "sizeBytes": 10 * MB}])),
            with("none", json!([])),
            with("other", json!([{"names": ["tool"], "sizeBytes": 500 * MB}])),
        ]);
        let p = pod(json!({"containers": [{"name": "c", "image": "app:1.0"}]}));
        let nodes: Vec<_> = ["big", "small", "none", "other"].iter().map(|n| snapshot.get(n).unwrap()).collect();
        // app:1.0 is on 2 of 4 nodes: 800 MB × 1/2 = 400 MB → (400-23)/(1000-23) × 100 = 38.
        assert_eq!(score_in(&ImageLocality, Some(&ImageLocality), &p, &nodes, &snapshot), [38, 38, 0, 0]);
        let untagged = pod(json!({"containers": [{"name": "c", "image": "tool"}]}));
        assert_eq!(score_in(&ImageLocality, Some(&ImageLocality), &untagged, &nodes, &snapshot), [0, 0, 0, 0], "tool means tool:latest, which is too small");
    }
}
