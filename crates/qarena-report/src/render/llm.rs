//! The report of a database's language-model evaluations (`qarena report
//! --llm`): multiple-choice accuracy and next-token KL of every stored
//! subject against its bits per weight, as tables and plots, and the
//! key/value-cache sections ([`super::kv`]).

use qarena_store::{LlmEvalRecord, Store};

use super::plots::Plotter;
use super::Rendered;
use crate::doc::Doc;
use crate::plot::{Chart, Legend, Pt, Series};
use crate::{ReportError, ReportOptions};

fn num(r: &LlmEvalRecord, key: &str) -> Option<f64> {
    r.summary.get(key).and_then(|v| v.as_f64())
}

/// The cache bytes a context costs to send, against f16, where the
/// evaluation quantized or pruned the cache.
fn sent(r: &LlmEvalRecord) -> String {
    match (num(r, "context_bytes"), num(r, "context_bytes_f16")) {
        (Some(s), Some(full)) if full > 0.0 => {
            format!("{s:.0} ({:.1}% of f16)", 100.0 * s / full)
        }
        _ => "—".into(),
    }
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// 95% Wilson interval of a proportion of `n`.
fn wilson(p: f64, n: f64) -> (f64, f64) {
    qarena_stats::wilson(p, n, qarena_stats::Z95)
}

pub(crate) fn render(store: &Store, o: &ReportOptions) -> Result<Rendered, ReportError> {
    let evals = store.llm_evals()?;
    if evals.is_empty() {
        return Err(ReportError::Input(format!(
            "no language-model evaluation in {} — `qarena llm eval` or `qarena llm kl` makes one",
            o.db.display()
        )));
    }
    let mut pl = Plotter::new(&o.out_dir, o.font.as_deref());
    let mut body = Doc::default();
    let by = |kind: &str| -> Vec<&LlmEvalRecord> {
        let mut v: Vec<&LlmEvalRecord> = evals
            .iter()
            .filter(|e| e.key.kind == kind && !super::kv::is_kv_section(e))
            .collect();
        v.sort_by(|a, b| {
            b.bits_per_weight
                .unwrap_or(0.0)
                .total_cmp(&a.bits_per_weight.unwrap_or(0.0))
        });
        v
    };
    let mc = by("mc");
    let kl = by("kl");

    body.h(2, "Multiple choice");
    if mc.is_empty() {
        body.p("No multiple-choice evaluation: `qarena llm eval MODEL --items FILE`.");
    } else {
        body.p("Accuracy by the summed log-likelihood of each option and per byte of the option (acc_norm), with 95% Wilson intervals. Evaluations of different item sets or limits are different rows.");
        body.table(
            &[
                "subject",
                "bits/w",
                "items",
                "data",
                "accuracy",
                "95% interval",
                "acc_norm",
                "cache bytes sent",
            ],
            mc.iter()
                .map(|e| {
                    let n = num(e, "items").unwrap_or(0.0);
                    let acc = num(e, "acc");
                    let (lo, hi) = acc.map_or((0.0, 1.0), |p| wilson(p, n));
                    vec![
                        e.subject.clone(),
                        f(e.bits_per_weight, 3),
                        format!("{n:.0}"),
                        e.data_name.clone(),
                        f(acc.map(|a| 100.0 * a), 1),
                        format!("{:.1}–{:.1}", 100.0 * lo, 100.0 * hi),
                        f(num(e, "acc_norm").map(|a| 100.0 * a), 1),
                        sent(e),
                    ]
                })
                .collect(),
        );
        let mut series: Vec<Series> = Vec::new();
        for e in &mc {
            let (Some(x), Some(p)) = (e.bits_per_weight, num(e, "acc")) else {
                continue;
            };
            let (lo, hi) = wilson(p, num(e, "items").unwrap_or(0.0));
            let name = format!(
                "{} ({:.0} items)",
                e.data_name,
                num(e, "items").unwrap_or(0.0)
            );
            let pt = Pt {
                x,
                y: 100.0 * p,
                lo: Some(100.0 * lo),
                hi: Some(100.0 * hi),
            };
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(pt),
                None => series.push(Series {
                    scatter: false,
                    name,
                    points: vec![pt],
                }),
            }
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
        }
        pl.add(
            &mut body,
            "llm_accuracy_vs_bits.png",
            Chart {
                title: "Multiple-choice accuracy against bits per weight".into(),
                x_label: "effective bits per weight".into(),
                y_label: "accuracy (%)".into(),
                series,
                refs: Vec::new(),
                legend: Legend::LowerRight,
            },
            "Each point a stored evaluation, with its 95% Wilson interval; a line per item set.",
        )?;
    }

    body.h(2, "Next-token agreement with the reference");
    if kl.is_empty() {
        body.p("No KL evaluation: `qarena llm kl MODEL --strategy FILE --text FILE`.");
    } else {
        body.p("KL(reference ‖ subject) of the next-token distributions over the text's scored tokens, the share of tokens where both rank the same token first, and both perplexities.");
        body.table(
            &[
                "subject",
                "bits/w",
                "tokens",
                "text",
                "mean KL",
                "p99 KL",
                "same top-1 %",
                "perplexity",
                "reference ppl",
                "cache bytes sent",
            ],
            kl.iter()
                .map(|e| {
                    vec![
                        e.subject.clone(),
                        f(e.bits_per_weight, 3),
                        f(num(e, "tokens"), 0),
                        e.data_name.clone(),
                        f(num(e, "mean_kl"), 5),
                        f(num(e, "p99_kl"), 4),
                        f(num(e, "same_top1").map(|v| 100.0 * v), 1),
                        f(num(e, "ppl_subject"), 3),
                        f(num(e, "ppl_reference"), 3),
                        sent(e),
                    ]
                })
                .collect(),
        );
        let mut points: Vec<Pt> = kl
            .iter()
            .filter_map(|e| {
                Some(Pt {
                    x: e.bits_per_weight?,
                    y: num(e, "mean_kl")?,
                    lo: None,
                    hi: None,
                })
            })
            .collect();
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
        pl.add(
            &mut body,
            "llm_kl_vs_bits.png",
            Chart {
                title: "Mean next-token KL against bits per weight".into(),
                x_label: "effective bits per weight".into(),
                y_label: "mean KL (nats)".into(),
                series: vec![Series {
                    scatter: false,
                    name: "KL evaluations".into(),
                    points,
                }],
                refs: Vec::new(),
                legend: Legend::UpperRight,
            },
            "Each point a stored KL evaluation (any text); lower is closer to the reference.",
        )?;
    }
    super::kv::sections(store, &evals, &mut pl, &mut body)?;
    body.h(2, "Limitations");
    body.list(vec![
        "Variants are fake-quantized: they run in f32, so the report says nothing about speed (see `qarena llm bench`).".into(),
        "Accuracy differences between rows are unpaired here; `qarena llm compare` pairs two variants item by item (McNemar, paired bootstrap).".into(),
        "The items and texts shipped in `data/llm/` were written for the project; results on them are not comparable to published benchmarks.".into(),
    ]);

    let title = "qarena report: language models".to_string();
    let mut doc = Doc::default();
    doc.h(1, &title);
    doc.p(format!(
        "Database `{}`: {} evaluation(s).",
        o.db.display(),
        evals.len()
    ));
    super::contents(&mut doc, body);
    Ok(Rendered {
        title,
        doc,
        plots: pl.plots,
        warnings: pl.warnings,
    })
}
