//! One component per file. Each reads what it shows from the cluster handle
//! it is given; the handle's version changes whenever the cluster does.

pub mod activity;
pub mod app;
pub mod clock;
pub mod editor;
pub mod join;
pub mod nodes;
pub mod pod_detail;
pub mod pods;

use serde_json::Value;
use tabernetes_core::Timestamp;

/// `kubectl`'s age format: 45s, 3m, 2h.
pub fn age(created: Option<&str>, now: Timestamp) -> String {
    let Some(created) = created.and_then(|c| c.parse::<Timestamp>().ok()) else { return "-".into() };
    let secs = (now.as_second() - created.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
