//! How many feasible nodes a cycle looks for before it stops filtering
//! (kube-scheduler's `percentageOfNodesToScore`). In a large cluster,
//! scoring every node costs much and gains little: the scheduler filters
//! nodes in turn (starting where the previous cycle stopped, so all nodes
//! get their turn) until it has found this many that fit, and scores only
//! those.
//!
//! With the percentage left at 0 (the default), it adapts to the cluster:
//! 50% of the nodes, minus one point per 125 nodes, but no less than 5%;
//! and never fewer than 100 nodes. 5,000 nodes: 10%, 500 nodes. Below 100
//! nodes, every node is filtered and scored.

/// Below this many nodes, all are considered.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// `numFeasibleNodesToFind`.
pub fn feasible_nodes_to_find(percentage_of_nodes_to_score: u32, all_nodes: usize) -> usize {
    if all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return all_nodes;
    }
    let percentage = match percentage_of_nodes_to_score as usize {
        0 => 50usize.saturating_sub(all_nodes / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
        p => p.min(100),
    };
    (all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [(0, 3, 3), (0, 99, 99), (0, 100, 100), (0, 500, 230), (0, 1000, 420), (0, 5000, 500), (0, 6000, 300), (0, 20000, 1000), (30, 1000, 300), (100, 5000, 5000), (1, 5000, 100)];
        for (percentage, nodes, want) in cases {
            assert_eq!(feasible_nodes_to_find(percentage, nodes), want, "{percentage}% of {nodes}");
        }
    }
}
