//! The report's content: sections, tables and plots from the loaded data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qarena_stats::Estimate;
use qarena_store::{EngineSlot, Slot, Termination};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::data::{Loaded, PointInfo};
use crate::doc::{anchor, Block, Doc};
use crate::metrics::{pearson, MeanCi, PointStats, SideMetrics};
use crate::plot::{self, Chart, Legend, Pt, RefLine, Series};
use crate::{ReportError, ReportOptions};

pub(crate) struct Rendered {
    pub title: String,
    pub doc: Doc,
    pub plots: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

fn compact(v: &Value) -> String {
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

/// "selector → scheme" lines of a strategy TOML.
fn strategy_summary(toml_text: &str) -> String {
    let Ok(v) = toml_text.parse::<toml::Table>() else {
        return "(unreadable strategy)".into();
    };
    const SPEC: &[&str] = &["scheme", "granularity", "clip", "clipping", "outliers"];
    let spec = |t: &toml::Table| {
        SPEC.iter()
            .filter_map(|k| {
                t.get(*k)
                    .map(|v| v.to_string().trim_matches('"').to_string())
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut parts = Vec::new();
    if let Some(rules) = v.get("rule").and_then(|r| r.as_array()) {
        for r in rules.iter().filter_map(|r| r.as_table()) {
            let sel: Vec<String> = r
                .iter()
                .filter(|(k, _)| !SPEC.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={}", v.to_string().replace('"', "")))
                .collect();
            parts.push(format!("{} → {}", sel.join(" "), spec(r)));
        }
    }
    if let Some(d) = v.get("default").and_then(|d| d.as_table()) {
        parts.push(format!("else → {}", spec(d)));
    }
    parts.join("; ")
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn fmt_ci(m: &Option<MeanCi>, digits: usize, scale: f64) -> String {
    m.map(|m| m.fmt(digits, scale))
        .unwrap_or_else(|| "-".into())
}

fn point_label(p: &PointInfo) -> String {
    let mut s = p.name.clone();
    if p.is_baseline {
        s.push_str(" (baseline)");
    }
    s
}

/// Series per module target, each anchored at the baseline point (the
/// mildest severity: every generator point is the baseline with one
/// target degraded further); the original model as a reference line.
fn ladder(
    d: &Loaded,
    stats: &[PointStats],
    f: &dyn Fn(&PointStats) -> Option<Pt>,
) -> (Vec<Series>, Vec<RefLine>) {
    let mut by_target: BTreeMap<String, Vec<Pt>> = BTreeMap::new();
    let mut other = Vec::new();
    let mut refs = Vec::new();
    let mut anchor_pt = None;
    for (p, s) in d.points.iter().zip(stats) {
        let Some(bits) = p.effective_bits else {
            continue;
        };
        let Some(mut pt) = f(s) else {
            continue;
        };
        pt.x = bits;
        if p.is_original {
            refs.push(RefLine {
                label: format!("original ({bits:.1} bits/w)"),
                y: pt.y,
            });
        } else if let Some(t) = &p.target {
            by_target.entry(t.clone()).or_default().push(pt);
        } else if p.is_baseline {
            anchor_pt = Some((p.name.clone(), pt));
        } else {
            other.push(pt);
        }
    }
    let mut series: Vec<Series> = by_target
        .into_iter()
        .map(|(name, mut points)| {
            if let Some((_, a)) = &anchor_pt {
                points.push(*a);
            }
            Series { name, points }
        })
        .collect();
    if !other.is_empty() {
        series.push(Series {
            name: "other points".into(),
            points: other,
        });
    }
    if series.is_empty() {
        if let Some((name, a)) = anchor_pt {
            series.push(Series {
                name,
                points: vec![a],
            });
        }
    }
    (series, refs)
}

fn ci_pt(m: Option<MeanCi>, scale: f64) -> Option<Pt> {
    m.map(|m| Pt {
        x: 0.0,
        y: m.mean * scale,
        lo: m.lower().map(|v| v * scale),
        hi: m.upper().map(|v| v * scale),
    })
}

struct Plotter<'a> {
    out_dir: &'a Path,
    font: Option<&'a Path>,
    plots: Vec<PathBuf>,
    warnings: Vec<String>,
    disabled: Option<String>,
}

impl Plotter<'_> {
    /// Draws a chart and adds it to the document; a missing font disables
    /// plotting with one warning, other failures are errors.
    fn add(
        &mut self,
        doc: &mut Doc,
        file: &str,
        chart: Chart,
        caption: &str,
    ) -> Result<(), ReportError> {
        if chart.series.iter().all(|s| s.points.is_empty()) {
            return Ok(());
        }
        if let Some(why) = &self.disabled {
            doc.p(format!("*(plot `{file}` skipped: {why})*"));
            return Ok(());
        }
        if let Err(e) = plot::ensure_font(self.font) {
            self.warnings.push(format!("plots skipped: {e}"));
            doc.p(format!("*(plot `{file}` skipped: {e})*"));
            self.disabled = Some(e);
            return Ok(());
        }
        let path = self.out_dir.join(file);
        plot::draw(&chart, &path, self.font).map_err(|message| ReportError::Plot {
            path: path.clone(),
            message,
        })?;
        doc.image(file, &chart.title);
        doc.p(caption.to_string());
        self.plots.push(path);
        Ok(())
    }
}

const X_BITS: &str = "effective bits per weight (lower = more severe)";

pub(crate) fn render(
    d: &Loaded,
    stats: &[PointStats],
    o: &ReportOptions,
) -> Result<Rendered, ReportError> {
    let mut pl = Plotter {
        out_dir: &o.out_dir,
        font: o.font.as_deref(),
        plots: Vec::new(),
        warnings: Vec::new(),
        disabled: None,
    };
    let def = d.sweep.as_ref().map(|s| &s.definition);
    let title = match &d.sweep {
        Some(s) => format!("qarena report: sweep {} (run {})", s.name, d.run.tag),
        None => format!("qarena report: run {}", d.run.tag),
    };
    let mut body = Doc::default();
    let finished: u64 = stats.iter().map(|s| s.games).sum();
    let has_self = stats.iter().any(|s| s.variant.self_evals > 0);
    let has_judge = d.judge.is_some();
    let non_ref: Vec<(&PointInfo, &PointStats)> = d
        .points
        .iter()
        .zip(stats)
        .filter(|(p, _)| !p.is_original && !p.is_baseline)
        .collect();

    // ---------------------------------------------------------- summary
    body.h(2, "1. Summary");
    let mut items = vec![format!(
        "{} points, {finished} finished games ({} aborted), run status **{}**.",
        d.points.len(),
        stats.iter().map(|s| s.aborted).sum::<u64>(),
        d.run.status.as_str()
    )];
    if let Some((p, s)) = non_ref
        .iter()
        .filter(|(p, s)| p.effective_bits.is_some() && s.games > 0)
        .min_by(|a, b| {
            a.0.effective_bits
                .unwrap_or(0.0)
                .total_cmp(&b.0.effective_bits.unwrap_or(0.0))
        })
    {
        items.push(format!(
            "Most severe point: **{}** at {} bits/w scores {:.3} against the baseline, Elo {}.",
            p.name,
            fmt_opt(p.effective_bits, 2),
            s.elo.as_ref().map(|e| e.score).unwrap_or(0.5),
            s.elo
                .as_ref()
                .map(|e| e.elo.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    items.push(match &d.judge {
        Some(j) => format!(
            "Judge run {}: {} of {finished} games judged ({:.0}%), {} moves.",
            j.run.id.0,
            j.games_judged,
            if finished > 0 {
                100.0 * j.games_judged as f64 / finished as f64
            } else {
                0.0
            },
            j.rows.len()
        ),
        None => format!(
            "No judge data: run `qarena judge --run {} ...` for per-move judge metrics.",
            d.run.tag
        ),
    });
    items.push(if has_self {
        format!(
            "{} self-evaluations (the engines' own winrate and candidates at every move).",
            d.self_rows.len()
        )
    } else {
        "No self-evaluations (the engine does not report them, e.g. not KataGo).".into()
    });
    body.list(items);

    // --------------------------------------------------------- protocol
    body.h(2, "2. Protocol");
    let mut items = Vec::new();
    if let Some(def) = def {
        let model = def.get("model").map(compact).unwrap_or_default();
        items.push(format!("Model: `{model}`"));
        for m in &d.models {
            items.push(format!(
                "Model file `{}`: {} format, {} bytes, sha256 `{}`",
                m.path, m.format, m.bytes, m.sha256
            ));
        }
        if let Some(desc) = def.get("description").and_then(Value::as_str) {
            items.push(format!("Description: {desc}"));
        }
        items.push(format!(
            "Baseline: **{}**. Every point plays the baseline; point 0 is the original model, the reference.",
            def.get("baseline").map(compact).unwrap_or_default()
        ));
        if let Some(e) = def.get("engine") {
            items.push(format!(
                "Engine ({}): `{}`",
                e.get("protocol")
                    .map(compact)
                    .unwrap_or_else(|| "gtp".into()),
                e.get("command").map(compact).unwrap_or_default()
            ));
            if let Some(c) = e.get("config") {
                items.push(format!("Engine config: `{}`", compact(c)));
            }
            if let Some(opts) = e
                .get("options")
                .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            {
                items.push(format!("Engine options: {}", compact(opts)));
            }
        }
        for key in ["go", "chess", "timeouts"] {
            if let Some(v) = def.get(key).filter(|v| !v.is_null()) {
                items.push(format!("Settings `{key}`: {}", compact(v)));
            }
        }
        items.push(format!(
            "Games per point: {}, concurrency {}, restarts {}.",
            def.get("games").map(compact).unwrap_or_default(),
            def.get("concurrency").map(compact).unwrap_or_default(),
            def.get("restarts").map(compact).unwrap_or_default()
        ));
        if let Some(g) = def.get("generator") {
            let targets: Vec<String> = g
                .get("targets")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            format!(
                                "{} ({})",
                                t.get("name").map(compact).unwrap_or_default(),
                                t.get("roles").map(compact).unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            items.push(format!(
                "Generator: targets {} × levels {} (±L grid, log2(2L+1) bits), granularity {}, rest {}.",
                targets.join(", "),
                g.get("levels").map(compact).unwrap_or_default(),
                g.get("granularity").map(compact).unwrap_or_else(|| "-".into()),
                g.get("rest").map(compact).unwrap_or_else(|| "-".into())
            ));
        }
    } else {
        items.push(format!("A plain match run: `{}`.", d.run.argv.join(" ")));
        if let Some(m) = d.run.settings.get("match") {
            items.push(format!("Settings: {}", compact(m)));
        }
    }
    for e in d.engines.iter().filter(|e| {
        matches!(
            e.slot,
            EngineSlot::Player(_) | EngineSlot::PointPlayer(_, 0)
        )
    }) {
        if let (Some(n), v) = (&e.name, &e.version) {
            items.push(format!(
                "Engine identity ({}): {n} {}",
                e.slot,
                v.as_deref().unwrap_or("")
            ));
        }
    }
    body.list(items);
    let pairs: usize = stats.iter().map(|s| s.pairs).sum();
    let mut openings: Vec<&str> = d
        .games
        .iter()
        .filter_map(|g| g.opening.as_deref())
        .collect();
    openings.sort_unstable();
    openings.dedup();
    let variant_black = d
        .games
        .iter()
        .filter(|g| {
            g.termination != Termination::Aborted && d.side_of(g.black_engine.0) == Some(Slot::A)
        })
        .count();
    body.p(format!(
        "**Paired games, colours swapped.** Games 2k and 2k+1 of a point form a pair: the same \
         opening and seed with colours reversed, so colour and opening advantages cancel within \
         a pair. This run has {pairs} complete pairs in {finished} finished games; the variant \
         played Black in {variant_black} of them. Openings: {}. Elo uses the pentanomial model \
         (pairs as samples) when every finished game of a point is in a complete pair, the \
         trinomial model otherwise.",
        if openings.is_empty() {
            "none (every game starts from the empty board or the initial position)".to_string()
        } else {
            format!("{} distinct", openings.len())
        }
    ));
    body.h(3, "Variants");
    let rows = d
        .points
        .iter()
        .map(|p| {
            vec![
                p.index.to_string(),
                point_label(p),
                p.target.clone().unwrap_or_else(|| "-".into()),
                p.levels
                    .map(|l| format!("±{l}"))
                    .unwrap_or_else(|| "-".into()),
                p.strategy_toml
                    .as_deref()
                    .map(strategy_summary)
                    .unwrap_or_else(|| "-".into()),
                p.variant_id
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    body.table(
        &["#", "point", "target", "levels", "strategy", "variant"],
        rows,
    );

    // ---------------------------------------------------------- results
    body.h(2, "3. Results");
    body.p(
        "Score and Elo of each point's variant against the baseline (positive: stronger than \
         the baseline), with 95% confidence intervals.",
    );
    let mut notes: Vec<String> = Vec::new();
    let rows = d
        .points
        .iter()
        .zip(stats)
        .map(|(p, s)| {
            let (score, elo, model) = match &s.elo {
                Some(e) => (
                    format!(
                        "{:.3} [{:.2}, {:.2}]",
                        e.score, e.score_lower, e.score_upper
                    ),
                    short_estimate(&e.elo, p.index, &mut notes),
                    e.model.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            vec![
                p.index.to_string(),
                point_label(p),
                p.target.clone().unwrap_or_else(|| "-".into()),
                fmt_opt(p.effective_bits, 3),
                p.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                s.games.to_string(),
                format!("{}/{}/{}", s.wdl.wins, s.wdl.draws, s.wdl.losses),
                score,
                elo,
                model,
            ]
        })
        .collect();
    body.table(
        &[
            "#",
            "point",
            "target",
            "bits/w",
            "bytes",
            "games",
            "W/D/L",
            "score [95% CI]",
            "Elo [95% CI]",
            "model",
        ],
        rows,
    );
    if !notes.is_empty() {
        body.list(notes);
    }
    let mut terms: BTreeMap<&str, u64> = BTreeMap::new();
    for s in stats {
        for (k, v) in &s.terminations {
            *terms.entry(k).or_default() += v;
        }
    }
    body.p(format!(
        "Terminations: {}.",
        terms
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (series, mut refs) = ladder(d, stats, &|s| {
        s.elo.as_ref().map(|e| Pt {
            x: 0.0,
            y: e.score,
            lo: Some(e.score_lower),
            hi: Some(e.score_upper),
        })
    });
    refs.push(RefLine {
        label: "equal to the baseline (0.5)".into(),
        y: 0.5,
    });
    pl.add(
        &mut body,
        "score_vs_bits.png",
        Chart {
            title: "Score against the baseline vs effective bits".into(),
            x_label: X_BITS.into(),
            y_label: "score of the variant (95% CI)".into(),
            series,
            refs,
            legend: Legend::LowerRight,
        },
        "One line per module target, from the baseline (right) to the most severe \
         quantization (left); bars are 95% intervals of the score.",
    )?;
    let (series, refs) = ladder(d, stats, &|s| {
        s.elo.as_ref().and_then(|e| match e.elo {
            Estimate::Value {
                value,
                lower,
                upper,
            } => Some(Pt {
                x: 0.0,
                y: value,
                lo: Some(lower),
                hi: Some(upper),
            }),
            _ => None,
        })
    });
    pl.add(
        &mut body,
        "elo_vs_bits.png",
        Chart {
            title: "Elo against the baseline vs effective bits".into(),
            x_label: X_BITS.into(),
            y_label: "Elo (95% CI)".into(),
            series,
            refs,
            legend: Legend::LowerRight,
        },
        "Points whose Elo is not estimable (all games won or lost, or too few games) are left out.",
    )?;

    // ------------------------------------------------------------ judge
    body.h(2, "4. Judge metrics");
    let mut corr = Vec::new();
    match &d.judge {
        None => {
            body.p(format!(
                "No judge data for this run. `qarena judge --run {} --katago-dir DIR` (Go) or \
                 `--uci-engine stockfish` (chess) replays every game with a stronger engine and \
                 stores per-move verdicts; run this report again afterwards.",
                d.run.tag
            ));
        }
        Some(j) => {
            let js = j.run.settings.get("judge").unwrap_or(&j.run.settings);
            body.list(vec![
                format!(
                    "Judge run {} (created {}): {}",
                    j.run.id.0,
                    j.run.created_at,
                    compact(js)
                ),
                format!(
                    "Coverage: {} of {finished} finished games judged, {} moves.",
                    j.games_judged,
                    j.rows.len()
                ),
                "Loss of a move: the judge's winrate (or score, or centipawns) for the mover \
                 before the move minus after it, clamped at 0; a blunder is a loss above the \
                 judge's threshold. Per game the loss is averaged over that side's moves."
                    .into(),
            ]);
            if d.judge_runs.len() > 1 {
                body.p(format!(
                    "Other judge runs of this run: {} (choose one with `--judge-run ID`).",
                    d.judge_runs
                        .iter()
                        .filter(|r| r.id != j.run.id)
                        .map(|r| r.id.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let chess = stats.iter().any(|s| s.variant.loss_cp.is_some());
            let rows = d
                .points
                .iter()
                .zip(stats)
                .map(|(p, s)| {
                    let v: &SideMetrics = &s.variant;
                    vec![
                        p.index.to_string(),
                        point_label(p),
                        fmt_opt(p.effective_bits, 2),
                        v.moves_judged.to_string(),
                        fmt_ci(&v.loss_winrate, 2, 100.0),
                        if chess {
                            fmt_ci(&v.loss_cp, 1, 1.0)
                        } else {
                            fmt_ci(&v.loss_score, 2, 1.0)
                        },
                        fmt_ci(&v.blunder_rate, 1, 100.0),
                        fmt_ci(&s.baseline.loss_winrate, 2, 100.0),
                    ]
                })
                .collect();
            body.table(
                &[
                    "#",
                    "point",
                    "bits/w",
                    "moves",
                    "winrate loss/move, % (95% CI)",
                    if chess {
                        "cp loss/move"
                    } else {
                        "score loss/move, points"
                    },
                    "blunder rate, %",
                    "baseline side: winrate loss, %",
                ],
                rows,
            );
            let pool: Vec<f64> = stats
                .iter()
                .filter_map(|s| s.baseline.loss_winrate.map(|m| m.mean * 100.0))
                .collect();
            let mut base_ref = Vec::new();
            if !pool.is_empty() {
                base_ref.push(RefLine {
                    label: "baseline side, mean over points".into(),
                    y: pool.iter().sum::<f64>() / pool.len() as f64,
                });
            }
            let (series, mut refs) = ladder(d, stats, &|s| ci_pt(s.variant.loss_winrate, 100.0));
            refs.extend(base_ref);
            pl.add(
                &mut body,
                "judge_loss_vs_bits.png",
                Chart {
                    title: "Judge: average winrate loss per move vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "winrate loss per move, % (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "The variant's moves as the judge sees them: higher is worse play.",
            )?;
            let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.blunder_rate, 100.0));
            pl.add(
                &mut body,
                "blunder_rate_vs_bits.png",
                Chart {
                    title: "Judge: blunder rate vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "blunders per move, % (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "Share of the variant's moves whose loss exceeds the judge's blunder threshold.",
            )?;
            corr.push((
                "judge winrate loss",
                metric_corr(&non_ref, |s| s.variant.loss_winrate),
            ));
            corr.push((
                "blunder rate",
                metric_corr(&non_ref, |s| s.variant.blunder_rate),
            ));
        }
    }

    // ------------------------------------------------------ self-eval
    body.h(2, "5. Self-evaluation and overconfidence");
    if !has_self {
        body.p("No self-evaluations in this run: nothing to compare with the judge.");
    } else {
        body.p(
            "What each engine believed while it played: its own winrate for the side to move, \
             and the entropy (nats) of its normalised policy priors over the top-K candidates \
             (higher: less decided). Overconfidence is the engine's own winrate minus the \
             judge's winrate for the same position (both for the mover); positive means the \
             variant thinks it stands better than it does.",
        );
        let rows = d
            .points
            .iter()
            .zip(stats)
            .map(|(p, s)| {
                vec![
                    p.index.to_string(),
                    point_label(p),
                    fmt_opt(p.effective_bits, 2),
                    s.variant.self_evals.to_string(),
                    fmt_ci(&s.variant.self_winrate, 3, 1.0),
                    fmt_ci(&s.variant.entropy, 3, 1.0),
                    fmt_ci(&s.variant.overconfidence, 3, 1.0),
                    fmt_ci(&s.baseline.self_winrate, 3, 1.0),
                ]
            })
            .collect();
        body.table(
            &[
                "#",
                "point",
                "bits/w",
                "self-evals",
                "self winrate",
                "policy entropy",
                "self − judge winrate",
                "baseline side: self winrate",
            ],
            rows,
        );
        let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.self_winrate, 1.0));
        pl.add(
            &mut body,
            "self_winrate_vs_bits.png",
            Chart {
                title: "Self-evaluation: average own winrate vs effective bits".into(),
                x_label: X_BITS.into(),
                y_label: "own winrate, side to move (95% CI)".into(),
                series,
                refs,
                legend: Legend::LowerRight,
            },
            "The variant's average belief in its own position.",
        )?;
        let (series, refs) = ladder(d, stats, &|s| ci_pt(s.variant.entropy, 1.0));
        pl.add(
            &mut body,
            "policy_entropy_vs_bits.png",
            Chart {
                title: "Self-evaluation: policy entropy vs effective bits".into(),
                x_label: X_BITS.into(),
                y_label: "entropy of top-K priors, nats (95% CI)".into(),
                series,
                refs,
                legend: Legend::UpperRight,
            },
            "A damaged policy head tends to spread (higher) or collapse (lower) its priors.",
        )?;
        corr.push((
            "self winrate",
            metric_corr(&non_ref, |s| s.variant.self_winrate),
        ));
        corr.push((
            "policy entropy",
            metric_corr(&non_ref, |s| s.variant.entropy),
        ));
        if has_judge && stats.iter().any(|s| s.variant.overconfidence.is_some()) {
            let (series, mut refs) = ladder(d, stats, &|s| ci_pt(s.variant.overconfidence, 1.0));
            refs.push(RefLine {
                label: "calibrated (0)".into(),
                y: 0.0,
            });
            pl.add(
                &mut body,
                "overconfidence_vs_bits.png",
                Chart {
                    title: "Overconfidence: self minus judge winrate vs effective bits".into(),
                    x_label: X_BITS.into(),
                    y_label: "self − judge winrate (95% CI)".into(),
                    series,
                    refs,
                    legend: Legend::UpperRight,
                },
                "Above 0 the variant overrates its position relative to the judge.",
            )?;
            corr.push((
                "overconfidence",
                metric_corr(&non_ref, |s| s.variant.overconfidence),
            ));
        } else if !has_judge {
            body.p("Overconfidence needs judge data (see section 4).");
        }
    }
    let corr: Vec<String> = corr
        .into_iter()
        .filter_map(|(name, c)| c.map(|(r, n)| format!("{name}: r = {r:+.2} over {n} points")))
        .collect();
    if !corr.is_empty() {
        body.h(3, "Correlation with severity");
        body.p(
            "Pearson correlation of each metric with the variants' effective bits per weight \
             (ladder points only; negative: the metric grows as bits shrink). With few points \
             this is descriptive, not a test.",
        );
        body.list(corr);
    }

    // ------------------------------------------------------ limitations
    body.h(2, "6. Limitations");
    let widest = stats
        .iter()
        .filter_map(|s| s.elo.as_ref().and_then(|e| e.elo.half_width()))
        .fold(0.0f64, f64::max);
    let min_games = stats.iter().map(|s| s.games).min().unwrap_or(0);
    let widest = if widest > 0.0 {
        format!("the widest two-sided Elo interval is ±{widest:.0}")
    } else {
        "no point has a two-sided Elo interval yet".to_string()
    };
    let mut items = vec![
        format!(
            "**Variance.** Each point has at least {min_games} finished games; {widest}. Differences between points smaller than their intervals \
             are not evidence of a difference; the intervals are per point and not corrected \
             for the number of points compared."
        ),
        "**Small samples.** With few games (or pairs) the normal approximation behind the \
         intervals is rough, Elo is not estimable when a point wins or loses every game, and \
         metric means over games inherit the same uncertainty."
            .into(),
        "**Paired design.** Pairs share an opening and a seed, so games within a pair are not \
         independent; the pentanomial model accounts for this, the trinomial one (used when \
         pairs are incomplete) does not."
            .into(),
        "**Severity axis.** Effective bits per weight count scales, zero points, palettes and \
         outliers over the whole model; two strategies with equal bits can damage the network \
         very differently, which is why points are grouped by module target."
            .into(),
    ];
    if has_judge {
        items.push(
            "**Judge assumptions.** The judge is only as strong as its network and visit \
             budget (see the settings in section 4); at low visits its winrates are noisy and \
             its losses include search noise that is not the player's. A judge sharing the \
             players' network family can share their blind spots. Values are for the mover \
             before and after its move, losses are clamped at 0, and a winrate loss means \
             little in positions already decided (near 0 or 1)."
                .into(),
        );
    } else {
        items.push(
            "**No judge.** Without judge data, play quality is known only through results.".into(),
        );
    }
    if has_self {
        items.push(
            "**Self-evaluation.** The engine's own winrate comes from the variant's damaged \
             network and its search at the match budget; it is a belief, not a measurement. \
             Entropy uses only the reported top-K candidates, not the full policy."
                .into(),
        );
    }
    body.list(items);

    // ------------------------------------------------------- provenance
    body.h(2, "7. Provenance");
    let mut items = vec![
        format!(
            "Run `{}` (id {}, kind {}, status {}), created {}, finished {}.",
            d.run.tag,
            d.run.id.0,
            d.run.kind,
            d.run.status.as_str(),
            d.run.created_at,
            d.run.finished_at.as_deref().unwrap_or("-")
        ),
        format!("Command: `{}`", d.run.argv.join(" ")),
        format!(
            "qarena version at the run: {}; report by qarena-report {}.",
            d.run.software_version,
            env!("CARGO_PKG_VERSION")
        ),
        format!(
            "Database `{}` (schema version {}).",
            o.db.display(),
            d.schema_version
        ),
    ];
    if let Some(s) = &d.sweep {
        let canon = serde_json::to_string(&s.definition).unwrap_or_default();
        items.push(format!(
            "Sweep `{}` (id {}), definition sha256 `{}`.",
            s.name,
            s.id,
            sha256_hex(canon.as_bytes())
        ));
        if !s.other_runs.is_empty() {
            items.push(format!(
                "Older runs of the same sweep (not in this report): {}.",
                s.other_runs.join(", ")
            ));
        }
    }
    for j in &d.judge_runs {
        items.push(format!("Judge run {} created {}.", j.id.0, j.created_at));
    }
    body.list(items);
    body.p("To regenerate this report (and the data behind it):");
    let subject = match &o.subject {
        crate::Subject::Sweep(n) => format!("--sweep {n}"),
        crate::Subject::Run(t) => format!("--run {t}"),
    };
    let mut steps = vec![d.run.argv.join(" ")];
    if let Some(j) = &d.judge {
        if let Some(cmd) = j.run.settings.get("started_command") {
            steps.push(format!("# judge: {}", compact(cmd)));
        }
        steps.push(format!("qarena judge --run {} ...", d.run.tag));
    }
    steps.push(format!(
        "qarena report {subject} --db {} -o {}",
        o.db.display(),
        o.out_dir.display()
    ));
    body.code(steps.join("\n"));
    let folder = o.runs_dir.join(&d.run.tag);
    let mut files = Vec::new();
    for sub in ["configs", "manifests", "results"] {
        if let Ok(rd) = std::fs::read_dir(folder.join(sub)) {
            let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            for p in names.into_iter().filter(|p| p.is_file()) {
                if let Ok(bytes) = std::fs::read(&p) {
                    files.push(vec![
                        format!("`{}`", p.display()),
                        bytes.len().to_string(),
                        format!("`{}`", sha256_hex(&bytes)),
                    ]);
                }
            }
        }
    }
    if files.is_empty() {
        body.p(format!(
            "Run folder `{}` not found (give `--runs-dir` where the run folders are).",
            folder.display()
        ));
    } else {
        body.p(format!("Files of the run folder `{}`:", folder.display()));
        body.table(&["file", "bytes", "sha256"], files);
    }
    let rows = d
        .points
        .iter()
        .map(|p| {
            vec![
                p.index.to_string(),
                p.name.clone(),
                p.variant_id.clone().unwrap_or_else(|| "-".into()),
                p.variant_sha256
                    .clone()
                    .map(|s| format!("`{s}`"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    body.table(&["#", "point", "variant id", "variant file sha256"], rows);

    // ------------------------------------------------- title and contents
    let mut doc = Doc::default();
    doc.h(1, title.clone());
    doc.p(format!(
        "Database `{}`, run `{}`. Side A of every game is the point's variant, side B the baseline.",
        o.db.display(),
        d.run.tag
    ));
    doc.h(2, "Contents");
    doc.list(
        body.sections()
            .iter()
            .map(|s| format!("[{s}](#{})", anchor(s)))
            .collect(),
    );
    doc.blocks.extend(body.blocks);
    // Guard against a Markdown table without rows rendering oddly.
    doc.blocks
        .retain(|b| !matches!(b, Block::Table(_, rows) if rows.is_empty()));
    Ok(Rendered {
        title,
        doc,
        plots: pl.plots,
        warnings: pl.warnings,
    })
}

/// A table-sized Elo: one-sided bounds and "n/a" get a footnote with the reason.
fn short_estimate(e: &Estimate, index: i64, notes: &mut Vec<String>) -> String {
    let mut note = |r: &str| notes.push(format!("Point {index}: {r}."));
    match e {
        Estimate::Value {
            value,
            lower,
            upper,
        } => format!("{value:+.1} [{lower:+.1}, {upper:+.1}]"),
        Estimate::LowerBound { lower, reason } => {
            note(reason);
            format!("≥ {lower:+.1}")
        }
        Estimate::UpperBound { upper, reason } => {
            note(reason);
            format!("≤ {upper:+.1}")
        }
        Estimate::NotEstimable { reason } => {
            note(reason);
            "n/a".into()
        }
    }
}

fn metric_corr(
    pts: &[(&PointInfo, &PointStats)],
    f: impl Fn(&PointStats) -> Option<MeanCi>,
) -> Option<(f64, usize)> {
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts
        .iter()
        .filter_map(|(p, s)| Some((p.effective_bits?, f(s)?.mean)))
        .unzip();
    pearson(&xs, &ys).map(|r| (r, xs.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_summary_lists_rules_and_default() {
        let s = strategy_summary(
            "name = \"x\"\n[[rule]]\nbiases = true\nscheme = \"keep\"\n[[rule]]\nroles = [\"trunk\"]\nscheme = \"levels3\"\ngranularity = \"channel\"\n[default]\nscheme = \"int4\"\ngranularity = \"channel\"\n",
        );
        assert_eq!(
            s,
            "biases=true → keep; roles=[trunk] → levels3/channel; else → int4/channel"
        );
        assert_eq!(strategy_summary("not = [toml"), "(unreadable strategy)");
    }
}
