//! Placeholder; the control plane lands here.
