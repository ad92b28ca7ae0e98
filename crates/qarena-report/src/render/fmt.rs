//! Formatting shared by the sections: numbers with intervals, point
//! labels and compact renderings of stored JSON settings.

use serde_json::Value;

use crate::data::PointInfo;
use crate::metrics::MeanCi;

pub(super) fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

pub(super) fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", compact(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(a) => a.iter().map(compact).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

pub(super) fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn fmt_ci(m: &Option<MeanCi>, digits: usize, scale: f64) -> String {
    m.map(|m| m.fmt(digits, scale))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn point_label(p: &PointInfo) -> String {
    let mut s = p.name.clone();
    if p.is_baseline {
        s.push_str(" (baseline)");
    }
    s
}
