//! The key/value-cache sections of the language-model report: cache to
//! cache (`qarena llm kv-sweep`: accuracy and KL against the bytes sent,
//! with their Pareto fronts), per-layer sensitivity (`qarena llm
//! kv-layers`) and the statistics a `collect_stats` configuration stored.

use std::collections::BTreeMap;

use qarena_store::{LlmEvalRecord, Store};

use super::plots::Plotter;
use crate::doc::Doc;
use crate::plot::{Chart, Legend, Pt, RefLine, Series};
use crate::ReportError;

fn num(r: &LlmEvalRecord, key: &str) -> Option<f64> {
    r.summary.get(key).and_then(|v| v.as_f64())
}

/// A name as part of a file name: letters, digits, `-` and `_` only.
fn file_part(name: &str) -> String {
    name.chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_transfer(e: &LlmEvalRecord) -> bool {
    e.key.settings.get("transfer").is_some()
}

fn layer_of(e: &LlmEvalRecord) -> Option<u64> {
    e.key.settings.get("kv_layer").and_then(|v| v.as_u64())
}

/// Evaluations these sections show instead of the general tables.
pub(crate) fn is_kv_section(e: &LlmEvalRecord) -> bool {
    is_transfer(e) || layer_of(e).is_some()
}

/// Indices of the points no other point beats: none with fewer or equal
/// bytes and better or equal quality (one of them strictly). `better`
/// says whether higher quality is better.
pub(crate) fn pareto_front(points: &[(f64, f64)], higher_is_better: bool) -> Vec<usize> {
    let q = |i: usize| {
        if higher_is_better {
            points[i].1
        } else {
            -points[i].1
        }
    };
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(q(b).total_cmp(&q(a)))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if q(i) > best {
            best = q(i);
            front.push(i);
        }
    }
    front
}

/// One experiment of a sweep: its multiple-choice and KL evaluations.
struct Row<'a> {
    mc: Option<&'a LlmEvalRecord>,
    kl: Option<&'a LlmEvalRecord>,
}

impl Row<'_> {
    fn first(&self) -> Option<&LlmEvalRecord> {
        self.mc.or(self.kl)
    }
    fn id(&self) -> String {
        self.first()
            .and_then(|e| e.summary.get("experiment"))
            .and_then(|v| v.as_str())
            .unwrap_or("—")
            .to_string()
    }
    /// Bytes per context as sent and as the full f16 cache.
    fn bytes(&self) -> Option<(f64, f64)> {
        let e = self.first()?;
        Some((num(e, "context_bytes")?, num(e, "context_bytes_f16")?))
    }
    fn share(&self) -> Option<f64> {
        share_of(self.first()?)
    }
}

/// Bytes sent per context in % of the full f16 cache.
fn share_of(e: &LlmEvalRecord) -> Option<f64> {
    let (s, f) = (num(e, "context_bytes")?, num(e, "context_bytes_f16")?);
    (f > 0.0).then(|| 100.0 * s / f)
}

pub(crate) fn sections(
    store: &Store,
    evals: &[LlmEvalRecord],
    pl: &mut Plotter,
    body: &mut Doc,
) -> Result<(), ReportError> {
    transfer_section(evals, pl, body)?;
    layers_section(evals, pl, body)?;
    stats_section(store, evals, body)
}

fn transfer_section(
    evals: &[LlmEvalRecord],
    pl: &mut Plotter,
    body: &mut Doc,
) -> Result<(), ReportError> {
    // Experiments by matrix, then by what was transferred (one subject
    // key); the largest evaluation of each kind wins (a smoke run is
    // smaller).
    let mut matrices: BTreeMap<String, BTreeMap<String, Row<'_>>> = BTreeMap::new();
    for e in evals.iter().filter(|e| is_transfer(e)) {
        let matrix = e
            .summary
            .get("matrix")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        let row = matrices
            .entry(matrix)
            .or_default()
            .entry(e.key.subject_sha256.clone())
            .or_insert(Row { mc: None, kl: None });
        let size = |r: &LlmEvalRecord| num(r, "items").or(num(r, "tokens")).unwrap_or(0.0);
        let slot = if e.key.kind == "mc" {
            &mut row.mc
        } else {
            &mut row.kl
        };
        if slot.is_none_or(|old| size(e) > size(old)) {
            *slot = Some(e);
        }
    }
    if matrices.is_empty() {
        return Ok(());
    }
    body.h(2, "Cache to cache");
    body.p("A sharer prefills each context; its key/value cache is pruned and quantized and sent as bytes; a receiver answers the items and continues the text from what it received (`qarena llm kv-sweep`). Bytes are the message per context (header, codes, scales, zero points, held-position map) against the full cache in f16. KL is against the receiver's own full cache. A ✓ marks the Pareto front: no other experiment sends fewer bytes with a better (or equal) result.");
    for (matrix, rows) in &matrices {
        let mut rows: Vec<&Row<'_>> = rows.values().collect();
        rows.sort_by(|a, b| {
            b.share()
                .unwrap_or(0.0)
                .total_cmp(&a.share().unwrap_or(0.0))
                .then(a.id().cmp(&b.id()))
        });
        let acc_points: Vec<(usize, (f64, f64))> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, (r.share()?, num(r.mc?, "acc")?))))
            .collect();
        let kl_points: Vec<(usize, (f64, f64))> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, (share_of(r.kl?)?, num(r.kl?, "mean_kl")?))))
            .collect();
        let front = |pts: &[(usize, (f64, f64))], higher: bool| -> Vec<usize> {
            let xy: Vec<(f64, f64)> = pts.iter().map(|p| p.1).collect();
            pareto_front(&xy, higher)
                .into_iter()
                .map(|k| pts[k].0)
                .collect()
        };
        let acc_front = front(&acc_points, true);
        let kl_front = front(&kl_points, false);
        body.h(3, format!("Matrix {matrix}"));
        body.table(
            &[
                "id",
                "experiment",
                "bytes/context",
                "% of f16",
                "items",
                "accuracy %",
                "95% interval",
                "mean KL",
                "same top-1 %",
                "front",
            ],
            rows.iter()
                .enumerate()
                .map(|(i, r)| {
                    let acc = r.mc.and_then(|m| num(m, "acc"));
                    let n = r.mc.and_then(|m| num(m, "items")).unwrap_or(0.0);
                    let (lo, hi) = acc.map_or((0.0, 1.0), |p| {
                        qarena_stats::wilson(p, n, qarena_stats::Z95)
                    });
                    let mark = match (acc_front.contains(&i), kl_front.contains(&i)) {
                        (true, true) => "✓ acc, KL",
                        (true, false) => "✓ acc",
                        (false, true) => "✓ KL",
                        _ => "",
                    };
                    vec![
                        r.id(),
                        r.first().map(|e| e.subject.clone()).unwrap_or_default(),
                        r.bytes().map_or("—".into(), |(s, _)| format!("{s:.0}")),
                        r.share().map_or("—".into(), |s| format!("{s:.1}")),
                        format!("{n:.0}"),
                        acc.map_or("—".into(), |a| format!("{:.1}", 100.0 * a)),
                        acc.map_or("—".into(), |_| {
                            format!("{:.1}–{:.1}", 100.0 * lo, 100.0 * hi)
                        }),
                        r.kl.and_then(|k| num(k, "mean_kl"))
                            .map_or("—".into(), |k| format!("{k:.4}")),
                        r.kl.and_then(|k| num(k, "same_top1"))
                            .map_or("—".into(), |k| format!("{:.1}", 100.0 * k)),
                        mark.into(),
                    ]
                })
                .collect(),
        );
        // The budget question: the fewest bytes within one point of the
        // full cache.
        let full = rows
            .iter()
            .filter(|r| r.share().is_some_and(|s| s >= 99.99))
            .find_map(|r| r.mc.and_then(|m| num(m, "acc")));
        if let Some(full) = full {
            let best = acc_points
                .iter()
                .filter(|(_, (_, acc))| *acc >= full - 0.01)
                .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
            if let Some((i, (share, acc))) = best {
                body.p(format!(
                    "Within 1 point of the full cache ({:.1}%): at the fewest bytes, {} at {share:.1}% of the full cache's bytes ({:.1}%).",
                    100.0 * full,
                    rows[*i].id(),
                    100.0 * acc
                ));
            }
        }
        let pts = |v: &[(usize, (f64, f64))], scale: f64, ci: bool| -> Vec<Pt> {
            v.iter()
                .map(|(i, (x, y))| {
                    let n = rows[*i].mc.and_then(|m| num(m, "items")).unwrap_or(0.0);
                    let (lo, hi) = if ci {
                        let (l, h) = qarena_stats::wilson(*y, n, qarena_stats::Z95);
                        (Some(scale * l), Some(scale * h))
                    } else {
                        (None, None)
                    };
                    Pt {
                        x: *x,
                        y: scale * y,
                        lo,
                        hi,
                    }
                })
                .collect()
        };
        let on_front = |v: &[(usize, (f64, f64))], f: &[usize]| -> Vec<(usize, (f64, f64))> {
            v.iter().filter(|p| f.contains(&p.0)).copied().collect()
        };
        if !acc_points.is_empty() {
            let mut refs = Vec::new();
            if let Some(full) = full {
                refs.push(RefLine {
                    label: "full cache".into(),
                    y: 100.0 * full,
                });
                refs.push(RefLine {
                    label: "full cache − 1 point".into(),
                    y: 100.0 * full - 1.0,
                });
            }
            pl.add(
                body,
                &format!("kv_{}_accuracy_vs_bytes.png", file_part(matrix)),
                Chart {
                    title: format!("Cache to cache ({matrix}): accuracy against bytes sent"),
                    x_label: "bytes per context, % of the f16 cache".into(),
                    y_label: "accuracy (%)".into(),
                    series: vec![
                        Series {
                            name: "experiments (95% Wilson)".into(),
                            points: pts(&acc_points, 100.0, true),
                            scatter: true,
                        },
                        Series {
                            name: "Pareto front".into(),
                            points: pts(&on_front(&acc_points, &acc_front), 100.0, false),
                            scatter: false,
                        },
                    ],
                    refs,
                    legend: Legend::LowerRight,
                },
                "Each point an experiment of the matrix; the line joins the Pareto front.",
            )?;
        }
        if !kl_points.is_empty() {
            pl.add(
                body,
                &format!("kv_{}_kl_vs_bytes.png", file_part(matrix)),
                Chart {
                    title: format!("Cache to cache ({matrix}): KL against bytes sent"),
                    x_label: "bytes per context, % of the f16 cache".into(),
                    y_label: "mean KL (nats)".into(),
                    series: vec![
                        Series {
                            name: "experiments".into(),
                            points: pts(&kl_points, 1.0, false),
                            scatter: true,
                        },
                        Series {
                            name: "Pareto front".into(),
                            points: pts(&on_front(&kl_points, &kl_front), 1.0, false),
                            scatter: false,
                        },
                    ],
                    refs: Vec::new(),
                    legend: Legend::UpperRight,
                },
                "Next-token KL of the receiver against its own full cache over the text's windows.",
            )?;
        }
    }
    Ok(())
}

fn layers_section(
    evals: &[LlmEvalRecord],
    pl: &mut Plotter,
    body: &mut Doc,
) -> Result<(), ReportError> {
    // Scans by configuration and text: layer → mean KL.
    let mut scans: BTreeMap<(String, String), BTreeMap<u64, f64>> = BTreeMap::new();
    for e in evals {
        let (Some(layer), Some(kl)) = (layer_of(e), num(e, "mean_kl")) else {
            continue;
        };
        let config = e
            .key
            .settings
            .get("kv_config")
            .and_then(|v| v.as_str())
            .unwrap_or("kv")
            .to_string();
        scans
            .entry((config, e.data_name.clone()))
            .or_default()
            .insert(layer, kl);
    }
    if scans.is_empty() {
        return Ok(());
    }
    body.h(2, "Key/value cache: per-layer sensitivity");
    body.p("Mean next-token KL against the unquantized cache with the configuration applied to one layer at a time (`qarena llm kv-layers`). Layers high on the curve are the ones to keep at more bits.");
    let mut series = Vec::new();
    let mut rows = Vec::new();
    for ((config, text), layers) in &scans {
        let mut top: Vec<(&u64, &f64)> = layers.iter().collect();
        top.sort_by(|a, b| b.1.total_cmp(a.1));
        rows.push(vec![
            config.clone(),
            text.clone(),
            layers.len().to_string(),
            top.iter()
                .take(5)
                .map(|(l, k)| format!("{l} ({k:.4})"))
                .collect::<Vec<_>>()
                .join(", "),
            format!("{:.5}", layers.values().sum::<f64>()),
        ]);
        series.push(Series {
            name: config.clone(),
            points: layers
                .iter()
                .map(|(l, k)| Pt {
                    x: *l as f64,
                    y: *k,
                    lo: None,
                    hi: None,
                })
                .collect(),
            scatter: false,
        });
    }
    body.table(
        &[
            "configuration",
            "text",
            "layers",
            "most sensitive (mean KL)",
            "sum of KL",
        ],
        rows,
    );
    pl.add(
        body,
        "kv_layers.png",
        Chart {
            title: "KV quantization: KL with one layer quantized".into(),
            x_label: "layer".into(),
            y_label: "mean KL (nats)".into(),
            series,
            refs: Vec::new(),
            legend: Legend::UpperRight,
        },
        "One line per KV configuration.",
    )?;
    Ok(())
}

fn stats_section(
    store: &Store,
    evals: &[LlmEvalRecord],
    body: &mut Doc,
) -> Result<(), ReportError> {
    let mut first = true;
    for e in evals {
        let rows = store.kv_stats(e.id)?;
        if rows.is_empty() {
            continue;
        }
        if first {
            body.h(2, "Key/value cache statistics");
            body.p("What entered the quantized cache (a KV configuration with `collect_stats = true`), per layer over heads: the largest magnitude of keys and values, the share of values outside their group's grid (clipped), and the range of the scales.");
            first = false;
        }
        body.h(3, &e.subject);
        // Per layer, K and V: absmax, values, clipped, smallest and
        // largest scale.
        type Part = (f64, i64, i64, f64, f64);
        let mut layers: BTreeMap<i64, [Part; 2]> = BTreeMap::new();
        for r in &rows {
            let slot = &mut layers
                .entry(r.layer)
                .or_insert([(0.0, 0, 0, f64::INFINITY, 0.0); 2])[usize::from(r.part == "v")];
            slot.0 = slot.0.max(r.absmax);
            slot.1 += r.values;
            slot.2 += r.clipped;
            if r.scale_min > 0.0 {
                slot.3 = slot.3.min(r.scale_min);
            }
            slot.4 = slot.4.max(r.scale_max);
        }
        let cell = |s: &Part| -> [String; 3] {
            [
                format!("{:.2}", s.0),
                format!("{:.3}", 100.0 * s.2 as f64 / s.1.max(1) as f64),
                if s.4 > 0.0 {
                    format!("{:.2e}–{:.2e}", s.3, s.4)
                } else {
                    "—".into()
                },
            ]
        };
        body.table(
            &[
                "layer",
                "K absmax",
                "K clipped %",
                "K scales",
                "V absmax",
                "V clipped %",
                "V scales",
            ],
            layers
                .iter()
                .map(|(l, [k, v])| {
                    let mut row = vec![l.to_string()];
                    row.extend(cell(k));
                    row.extend(cell(v));
                    row
                })
                .collect(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pareto_front;

    #[test]
    fn the_front_keeps_what_nothing_cheaper_beats() {
        // (bytes, accuracy)
        let pts = [
            (100.0, 0.53),
            (50.0, 0.53),
            (27.0, 0.52),
            (30.0, 0.50),
            (17.0, 0.3),
        ];
        assert_eq!(pareto_front(&pts, true), [4, 2, 1]);
        // For KL lower is better.
        let kl = [
            (100.0, 0.0),
            (50.0, 0.001),
            (27.0, 0.05),
            (30.0, 0.02),
            (17.0, 0.8),
        ];
        assert_eq!(pareto_front(&kl, false), [4, 2, 3, 1, 0]);
        assert!(pareto_front(&[], true).is_empty());
    }
}
