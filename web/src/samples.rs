//! Manifests offered in the editor, one per kind of node.

pub struct Sample {
    pub label: &'static str,
    pub yaml: &'static str,
}

pub const SAMPLES: &[Sample] = &[
    Sample { label: "hello on the in-page node", yaml: include_str!("../../static/manifests/hello-in-page.yaml") },
    Sample { label: "hello on node-host", yaml: include_str!("../../static/manifests/hello-node-host.yaml") },
];
