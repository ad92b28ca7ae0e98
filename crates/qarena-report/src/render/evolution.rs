//! The report of a survival tournament (`qarena report --evolution NAME`):
//! every evolution stored under the name (one per seed, and boundary scans
//! named `NAME@<bits>`), read from the database alone.
//!
//! Sections: summary; the Pareto front of each seed (screening figure
//! against bits per weight) with a plot against the hand recipes; how far
//! the seeds agree (best figure, the fronts at common bit levels, and which
//! groups get bits); the check on unseen positions against hand recipes;
//! the survival boundary; survival by group (which parts of the model
//! never survive with few bits); negative results (every failure by kind and
//! operator, dominated genomes, operators that never helped); the game
//! stage (gates and Bradley–Terry ratings); provenance.

use std::collections::BTreeMap;

use qarena_store::{EvolutionCheck, EvolutionRecord, GenomeRecord, Store};

use super::plots::Plotter;
use super::Rendered;
use crate::doc::Doc;
use crate::plot::{Chart, Legend, Pt, Series};
use crate::{ReportError, ReportOptions};

/// One evolution and what it stored.
struct Evo {
    rec: EvolutionRecord,
    genomes: Vec<GenomeRecord>,
    checks: Vec<EvolutionCheck>,
}

impl Evo {
    fn label(&self) -> String {
        format!("{} seed {}", self.rec.name, self.rec.seed)
    }
    fn budget(&self) -> Option<f64> {
        self.rec
            .budget
            .get("bits_per_weight")
            .and_then(|v| v.as_f64())
    }
    fn alive(&self) -> impl Iterator<Item = &GenomeRecord> {
        self.genomes
            .iter()
            .filter(|g| g.failure.is_none() && g.quality.is_some())
    }
}

fn quality(g: &GenomeRecord) -> f64 {
    g.quality.unwrap_or(f64::INFINITY)
}

/// The alive genomes no other alive genome beats on both bits and quality,
/// by increasing bits.
fn front(e: &Evo) -> Vec<&GenomeRecord> {
    let mut alive: Vec<&GenomeRecord> = e.alive().collect();
    alive.sort_by(|a, b| {
        a.genome
            .bits_per_weight
            .total_cmp(&b.genome.bits_per_weight)
            .then(quality(a).total_cmp(&quality(b)))
    });
    let mut out: Vec<&GenomeRecord> = Vec::new();
    for g in alive {
        if out.last().is_none_or(|l| quality(g) < quality(l)) {
            out.push(g);
        }
    }
    out
}

/// The best quality of an evolution within `bits`.
fn best_within(e: &Evo, bits: f64) -> Option<f64> {
    e.alive()
        .filter(|g| g.genome.bits_per_weight <= bits + 1e-9)
        .map(quality)
        .min_by(f64::total_cmp)
}

/// `role [weights|vectors] [layers]` → `scheme granularity [clip]` for
/// each rule of a stored strategy, read straight from its TOML.
fn allocation(toml_text: &str) -> Vec<(String, String)> {
    let Ok(v) = toml_text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let Some(rules) = v.get("rule").and_then(|r| r.as_array()) else {
        return Vec::new();
    };
    let s = |r: &toml::Value, k: &str| r.get(k).and_then(|x| x.as_str()).map(str::to_string);
    rules
        .iter()
        .map(|r| {
            let role = s(r, "role").unwrap_or_else(|| "other".into());
            let part = match r.get("biases").and_then(|x| x.as_bool()) {
                Some(true) => format!("{role} vectors"),
                Some(false) => format!("{role} weights"),
                None => role,
            };
            let group = match s(r, "layers") {
                Some(l) => format!("{part} {l}"),
                None => part,
            };
            let mut spec = s(r, "scheme").unwrap_or_default();
            if let Some(g) = s(r, "granularity") {
                spec = format!("{spec} {g}");
            }
            if let Some(c) = s(r, "clip") {
                spec = format!("{spec} clip {c}");
            }
            if let Some(o) = r.get("outliers").and_then(|x| x.as_float()) {
                spec = format!("{spec} +{o}% outliers");
            }
            (group, spec)
        })
        .collect()
}

fn f4(x: f64) -> String {
    format!("{x:.4}")
}

/// Screened, survived, share and best figure of a (screened, survived,
/// best) count.
fn survival_cells((n, alive, best): (usize, usize, f64)) -> [String; 4] {
    [
        n.to_string(),
        alive.to_string(),
        format!("{:.0}%", 100.0 * alive as f64 / n.max(1) as f64),
        if best.is_finite() {
            f4(best)
        } else {
            "-".into()
        },
    ]
}

/// Writes the evolution report of `name`.
pub(crate) fn render(
    store: &Store,
    name: &str,
    o: &ReportOptions,
) -> Result<Rendered, ReportError> {
    let mut evos = Vec::new();
    for rec in store.evolutions()? {
        let belongs = rec.name == name
            || rec
                .name
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('@'));
        if belongs {
            let genomes = store.genomes(rec.id)?;
            let checks = store.evolution_checks(rec.id)?;
            evos.push(Evo {
                rec,
                genomes,
                checks,
            });
        }
    }
    if evos.is_empty() {
        return Err(ReportError::Input(format!(
            "no evolution named '{name}' in {} — `qarena evolve run --name {name}` makes one",
            o.db.display()
        )));
    }
    let (main, scans): (Vec<&Evo>, Vec<&Evo>) = evos.iter().partition(|e| e.rec.name == name);
    let mut pl = Plotter::new(&o.out_dir, o.font.as_deref());
    let mut body = Doc::default();
    summary(&mut body, &evos);
    fronts(&mut body, &mut pl, &main)?;
    agreement(&mut body, &main);
    unseen(store, &mut body, &main)?;
    boundary(&mut body, &evos, &scans);
    by_group(&mut body, &evos);
    negative(&mut body, &evos);
    games(store, &mut body, &main)?;
    provenance(&mut body, &evos, o);
    let title = format!("qarena report: evolution {name}");
    let mut doc = Doc::default();
    doc.h(1, &title);
    doc.p(format!(
        "Database `{}`. Quality is what the evolution selected on, on its screening suite \
         unless said otherwise (lower is better): for KataGo nets the policy KL plus the value \
         head's win/loss KL (evolutions before the value term: policy KL alone), for NNUE nets \
         the centipawn error. The check on unseen positions compares the probe's headline \
         figure alone (policy KL, centipawn error).",
        o.db.display()
    ));
    super::contents(&mut doc, body);
    Ok(Rendered {
        title,
        doc,
        plots: pl.plots,
        warnings: pl.warnings,
    })
}

fn summary(doc: &mut Doc, evos: &[Evo]) {
    doc.h(2, "Summary");
    let rows = evos
        .iter()
        .map(|e| {
            let alive: Vec<_> = e.alive().collect();
            let best = alive
                .iter()
                .min_by(|a, b| quality(a).total_cmp(&quality(b)));
            vec![
                e.label(),
                e.budget().map_or("-".into(), |b| format!("{b}")),
                e.genomes.len().to_string(),
                alive.len().to_string(),
                (e.genomes.len() - alive.len()).to_string(),
                best.map_or("-".into(), |g| {
                    format!(
                        "{} at {:.3} bits/w (genome {})",
                        f4(quality(g)),
                        g.genome.bits_per_weight,
                        g.id.0
                    )
                }),
                e.rec.status.to_string(),
            ]
        })
        .collect();
    doc.table(
        &[
            "evolution",
            "budget bits/w",
            "genomes",
            "survived",
            "died or unscreened",
            "best quality",
            "status",
        ],
        rows,
    );
}

fn fronts(doc: &mut Doc, pl: &mut Plotter<'_>, main: &[&Evo]) -> Result<(), ReportError> {
    doc.h(2, "Pareto fronts");
    doc.p(
        "Each seed's front: the surviving genomes that no other survivor beats on both bits \
         per weight and quality. Hand recipes are probed on the same screening positions by \
         `qarena evolve check`.",
    );
    let mut series = Vec::new();
    for e in main {
        let f = front(e);
        doc.h(3, format!("Front of {}", e.label()));
        doc.table(
            &["genome", "generation", "operator", "bits/w", "quality"],
            f.iter()
                .map(|g| {
                    vec![
                        g.id.0.to_string(),
                        g.genome.generation.to_string(),
                        g.genome.operator.clone(),
                        format!("{:.3}", g.genome.bits_per_weight),
                        f4(quality(g)),
                    ]
                })
                .collect(),
        );
        series.push(Series {
            scatter: false,
            name: e.label(),
            points: f
                .iter()
                .map(|g| Pt {
                    x: g.genome.bits_per_weight,
                    y: quality(g),
                    lo: None,
                    hi: None,
                })
                .collect(),
        });
    }
    let mut recipes: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for e in main {
        for k in e.checks.iter().filter(|k| k.suite == "screen") {
            recipes.insert(k.subject.clone(), (k.bits_per_weight, k.quality));
        }
    }
    if !recipes.is_empty() {
        series.push(Series {
            scatter: false,
            name: "hand recipes".into(),
            points: recipes
                .values()
                .map(|&(x, y)| Pt {
                    x,
                    y,
                    lo: None,
                    hi: None,
                })
                .collect(),
        });
    }
    pl.add(
        doc,
        "evolution_fronts.png",
        Chart {
            title: "Pareto fronts of each seed and hand recipes".into(),
            x_label: "effective bits per weight".into(),
            y_label: "quality on the screen (lower is better)".into(),
            series,
            refs: Vec::new(),
            legend: Legend::UpperRight,
        },
        "Lines join each seed's front; the hand recipes' line joins the recipes in order of bits.",
    )
}

fn agreement(doc: &mut Doc, main: &[&Evo]) {
    doc.h(2, "Do the seeds agree?");
    if main.len() < 2 {
        doc.p("One seed only: run the evolution again with other `--seed`s to see how far independent runs agree.");
        return;
    }
    let budget = main
        .iter()
        .filter_map(|e| e.budget())
        .fold(f64::INFINITY, f64::min);
    let bests: Vec<f64> = main.iter().filter_map(|e| best_within(e, budget)).collect();
    if let (Some(lo), Some(hi)) = (
        bests.iter().copied().reduce(f64::min),
        bests.iter().copied().reduce(f64::max),
    ) {
        let mean = bests.iter().sum::<f64>() / bests.len() as f64;
        doc.p(format!(
            "Best quality within {budget} bits/w over {} seeds: mean {}, from {} to {} \
             (the worst seed's best is {:.0}% above the best seed's).",
            bests.len(),
            f4(mean),
            f4(lo),
            f4(hi),
            100.0 * (hi / lo - 1.0)
        ));
    }
    // The fronts at common bit levels.
    let lowest = main
        .iter()
        .flat_map(|e| front(e).first().map(|g| g.genome.bits_per_weight))
        .fold(0.0, f64::max);
    let mut levels = Vec::new();
    let mut b = (lowest * 4.0).ceil() / 4.0;
    while b <= budget + 1e-9 {
        levels.push(b);
        b += 0.25;
    }
    if levels.last().is_none_or(|l| (budget - l).abs() > 1e-9) {
        levels.push(budget);
    }
    let mut header = vec!["within bits/w".to_string()];
    header.extend(main.iter().map(|e| format!("seed {}", e.rec.seed)));
    header.push("max / min".into());
    let rows = levels
        .iter()
        .map(|&l| {
            let q: Vec<Option<f64>> = main.iter().map(|e| best_within(e, l)).collect();
            let mut row = vec![format!("{l:.2}")];
            row.extend(q.iter().map(|x| x.map_or("-".into(), f4)));
            let known: Vec<f64> = q.iter().flatten().copied().collect();
            row.push(
                match (
                    known.iter().copied().reduce(f64::min),
                    known.iter().copied().reduce(f64::max),
                ) {
                    (Some(lo), Some(hi)) if known.len() == q.len() && lo > 0.0 => {
                        format!("{:.2}", hi / lo)
                    }
                    _ => "-".into(),
                },
            );
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    doc.p("The fronts side by side: each seed's best quality within each bit level.");
    doc.table(&header, rows);
    // Which groups get bits in each seed's best genome.
    let mut groups: Vec<String> = Vec::new();
    let mut by_seed = Vec::new();
    for e in main {
        let best = e
            .alive()
            .filter(|g| g.genome.bits_per_weight <= budget + 1e-9)
            .min_by(|a, b| quality(a).total_cmp(&quality(b)));
        let alloc: BTreeMap<String, String> = best
            .map(|g| allocation(&g.genome.strategy_toml))
            .unwrap_or_default()
            .into_iter()
            .inspect(|(group, _)| {
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            })
            .collect();
        by_seed.push(alloc);
    }
    let mut header = vec!["group".to_string()];
    header.extend(main.iter().map(|e| format!("seed {}", e.rec.seed)));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    doc.p("What each seed's best genome within the budget does to each group of tensors.");
    doc.table(
        &header,
        groups
            .iter()
            .map(|gr| {
                let mut row = vec![gr.clone()];
                row.extend(
                    by_seed
                        .iter()
                        .map(|a| a.get(gr).cloned().unwrap_or_else(|| "(merged)".into())),
                );
                row
            })
            .collect(),
    );
}

fn unseen(store: &Store, doc: &mut Doc, main: &[&Evo]) -> Result<(), ReportError> {
    doc.h(2, "On unseen positions, against hand recipes");
    let mut rows = Vec::new();
    for e in main {
        let Some((genome, vs)) = versus(&e.checks) else {
            continue;
        };
        let screen = |subject: &str| {
            e.checks
                .iter()
                .find(|k| k.suite == "screen" && k.subject == subject)
                .map(|k| f4(k.quality))
        };
        let genome_screen = e
            .genomes
            .iter()
            .find(|g| format!("genome:{}", g.id.0) == genome.subject)
            .map(|g| f4(quality(g)));
        rows.push(vec![
            format!("{} ({})", genome.subject, e.label()),
            format!("{:.3}", genome.bits_per_weight),
            genome.bytes.to_string(),
            genome_screen.unwrap_or_else(|| "-".into()),
            f4(genome.quality),
            "-".into(),
            "-".into(),
        ]);
        for (k, change) in vs {
            let interval = match (genome.probe, k.probe) {
                (Some(g), Some(r)) => store.paired_probe_ratio(g, r)?.map_or("-".into(), |x| {
                    format!(
                        "[{:+.1}%, {:+.1}%]",
                        100.0 * (x.lower() - 1.0),
                        100.0 * (x.upper() - 1.0)
                    )
                }),
                _ => "-".into(),
            };
            rows.push(vec![
                k.subject.clone(),
                format!("{:.3}", k.bits_per_weight),
                k.bytes.to_string(),
                screen(&k.subject).unwrap_or_else(|| "-".into()),
                f4(k.quality),
                format!("{:+.1}%", 100.0 * change),
                interval,
            ]);
        }
    }
    if rows.is_empty() {
        doc.p("No check yet: `qarena evolve check MODEL --name NAME --recipe FILE...` probes the best genome of each seed on positions the evolution never saw, and the recipes on both position sets.");
        return Ok(());
    }
    doc.p("The best genome of each seed within its budget on positions it never saw, and each hand recipe on the same positions. `evolved vs recipe` is the evolved genome's figure relative to the recipe's (negative: the evolved strategy is better), with its 95% interval paired by position (delta method; see `docs/statistics.md`).");
    doc.table(
        &[
            "strategy",
            "bits/w",
            "bytes",
            "screen",
            "unseen",
            "evolved vs recipe",
            "95% interval",
        ],
        rows,
    );
    Ok(())
}

/// The newest genome's unseen check and, per recipe, its unseen check
/// with the genome's figure relative to it.
fn versus(checks: &[EvolutionCheck]) -> Option<(&EvolutionCheck, Vec<(&EvolutionCheck, f64)>)> {
    let unseen: Vec<&EvolutionCheck> = checks.iter().filter(|k| k.suite == "unseen").collect();
    // The newest genome check: the best genome when the check last ran.
    let genome = *unseen
        .iter()
        .rev()
        .find(|k| k.subject.starts_with("genome:"))?;
    let recipes = unseen
        .iter()
        .filter(|k| k.subject.starts_with("recipe:"))
        .map(|k| (*k, genome.quality / k.quality - 1.0))
        .collect();
    Some((genome, recipes))
}

fn boundary(doc: &mut Doc, evos: &[Evo], scans: &[&Evo]) {
    doc.h(2, "Survival boundary");
    let mut bins: BTreeMap<i64, (usize, usize, f64)> = BTreeMap::new();
    for e in evos {
        for g in &e.genomes {
            if g.quality.is_none() && g.failure.is_none() {
                continue;
            }
            let bin = (g.genome.bits_per_weight * 4.0).floor() as i64;
            let entry = bins.entry(bin).or_insert((0, 0, f64::INFINITY));
            entry.0 += 1;
            if g.failure.is_none() {
                entry.1 += 1;
                entry.2 = entry.2.min(quality(g));
            }
        }
    }
    let lowest_alive = evos
        .iter()
        .flat_map(|e| e.alive())
        .map(|g| g.genome.bits_per_weight)
        .fold(f64::INFINITY, f64::min);
    let all_dead_below = bins
        .iter()
        .take_while(|(_, (_, alive, _))| *alive == 0)
        .last()
        .map(|(b, _)| (*b + 1) as f64 / 4.0);
    doc.p(format!(
        "Every genome screened, from every seed{}, by bits per weight (bins of 0.25). {} {}",
        if scans.is_empty() {
            String::new()
        } else {
            format!(" and {} boundary scan(s) at lower budgets", scans.len())
        },
        match all_dead_below {
            Some(b) => format!("Every genome below {b:.2} bits/w died: that is the survival boundary."),
            None => "No bit level where every genome died was reached: evolve at lower budgets (e.g. `--name NAME@3 --max-bits 3`) to find the boundary.".to_string(),
        },
        if lowest_alive.is_finite() {
            format!("The cheapest survivor has {lowest_alive:.3} bits/w.")
        } else {
            "No genome survived.".to_string()
        }
    ));
    doc.table(
        &["bits/w", "screened", "survived", "share", "best quality"],
        bins.iter()
            .map(|(b, cell)| {
                let mut row = vec![format!(
                    "{:.2}–{:.2}",
                    *b as f64 / 4.0,
                    (*b + 1) as f64 / 4.0
                )];
                row.extend(survival_cells(*cell));
                row
            })
            .collect(),
    );
}

/// Nominal bits of a scheme as a strategy spells it (`keep`: 32).
fn scheme_bits(scheme: &str) -> Option<u32> {
    match scheme {
        "keep" => Some(32),
        "nf4" | "fp4" => Some(4),
        s if s.starts_with("fp8") => Some(8),
        s => {
            let digits: String = s.chars().skip_while(|c| !c.is_ascii_digit()).collect();
            let n: u32 = digits.parse().ok()?;
            // levelsN has 2N+1 levels.
            if s.starts_with("levels") {
                Some(32 - (2 * n + 1).leading_zeros())
            } else {
                Some(n)
            }
        }
    }
}

/// Per part (role, weights or vectors) and its fewest nominal bits in a
/// genome, how many genomes survived and how good the best was: which
/// groups get bits and which never survive with few.
fn by_group(doc: &mut Doc, evos: &[Evo]) {
    doc.h(2, "Survival by group");
    // (part, bits) -> (genomes, survived, best quality)
    let mut cells: BTreeMap<(String, u32), (usize, usize, f64)> = BTreeMap::new();
    for e in evos {
        for g in &e.genomes {
            if g.quality.is_none() && g.failure.is_none() {
                continue;
            }
            let Ok(v) = g.genome.strategy_toml.parse::<toml::Table>() else {
                continue;
            };
            let Some(rules) = v.get("rule").and_then(|r| r.as_array()) else {
                continue;
            };
            let mut fewest: BTreeMap<String, u32> = BTreeMap::new();
            for r in rules {
                let role = r.get("role").and_then(|x| x.as_str()).unwrap_or("other");
                let part = match r.get("biases").and_then(|x| x.as_bool()) {
                    Some(true) => format!("{role} vectors"),
                    Some(false) => format!("{role} weights"),
                    None => role.to_string(),
                };
                let Some(bits) = r
                    .get("scheme")
                    .and_then(|x| x.as_str())
                    .and_then(scheme_bits)
                else {
                    continue;
                };
                let e = fewest.entry(part).or_insert(bits);
                *e = (*e).min(bits);
            }
            for (part, bits) in fewest {
                let c = cells.entry((part, bits)).or_insert((0, 0, f64::INFINITY));
                c.0 += 1;
                if g.failure.is_none() {
                    c.1 += 1;
                    c.2 = c.2.min(quality(g));
                }
            }
        }
    }
    if cells.is_empty() {
        doc.p("No genome to group.");
        return;
    }
    // The starkest contrast per part: its deadliest bit level with enough
    // genomes against its safest one. Fewer bits and fewer survivors is
    // the expected direction; more bits and fewer survivors is not (the
    // budget couples the parts: bits given to one are taken from others).
    let mut expected = Vec::new();
    let mut surprising = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let parts: Vec<String> = cells.keys().map(|(p, _)| p.clone()).collect();
    for part in parts.iter().filter(|p| seen.insert((*p).clone())) {
        let levels: Vec<(u32, f64, usize)> = cells
            .iter()
            .filter(|((p, _), c)| p == part && c.0 >= 5)
            .map(|((_, b), c)| (*b, c.1 as f64 / c.0 as f64, c.0))
            .collect();
        let worst = levels.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let safest = levels.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(w), Some(sf)) = (worst, safest) {
            if sf.1 - w.1 >= 0.3 {
                let line = format!(
                    "{part}: {:.0}% of the {} genomes giving it {} bits survived, against {:.0}% of the {} giving it {}.",
                    100.0 * w.1,
                    w.2,
                    w.0,
                    100.0 * sf.1,
                    sf.2,
                    sf.0
                );
                if w.0 < sf.0 {
                    expected.push(line);
                } else {
                    surprising.push(line);
                }
            }
        }
    }
    doc.p("Every screened genome, by the fewest nominal bits it gives each part of the model (a role's weights or its vectors: biases and norms; `keep` counts as 32): how many there were, how many survived, and the best survivor's figure. The budget couples the parts, so these are associations, not effects.");
    if expected.is_empty() && surprising.is_empty() {
        doc.p("No part's survival depends strongly on its bits (no gap of 30 points or more between bit levels with 5 genomes or more).");
    }
    if !expected.is_empty() {
        doc.p("Parts that die with few bits (gaps of 30 points or more between bit levels with 5 genomes or more):");
        doc.list(expected);
    }
    if !surprising.is_empty() {
        doc.p("Non-intuitive: parts whose genomes die more often with *more* bits (within the budget, bits given to them are taken from the rest of the model):");
        doc.list(surprising);
    }
    doc.table(
        &[
            "part",
            "fewest bits",
            "genomes",
            "survived",
            "share",
            "best quality",
        ],
        cells
            .iter()
            .map(|((part, bits), cell)| {
                let mut row = vec![part.clone(), bits.to_string()];
                row.extend(survival_cells(*cell));
                row
            })
            .collect(),
    );
}

fn negative(doc: &mut Doc, evos: &[Evo]) {
    doc.h(2, "Negative results");
    let mut by_kind: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for e in evos {
        for g in &e.genomes {
            if let Some(f) = &g.failure {
                *by_kind
                    .entry((f.clone(), g.genome.operator.clone()))
                    .or_default() += 1;
                let detail = g.failure_detail.clone().unwrap_or_default();
                let ex = examples
                    .entry(f.clone())
                    .or_insert((f64::NEG_INFINITY, String::new()));
                // The most expensive genome that still died says most.
                if g.genome.bits_per_weight > ex.0 {
                    *ex = (
                        g.genome.bits_per_weight,
                        format!("genome {} ({}): {detail}", g.id.0, e.label()),
                    );
                }
            }
        }
    }
    if by_kind.is_empty() {
        doc.p("No genome died.");
    } else {
        doc.p("Genomes that died, by failure and by the operator that made them. Every one is stored with its strategy, parents and detail (`genomes` table).");
        doc.table(
            &["failure", "operator", "genomes"],
            by_kind
                .iter()
                .map(|((f, op), n)| vec![f.clone(), op.clone(), n.to_string()])
                .collect(),
        );
        doc.p("The most expensive genome that died, per failure:");
        doc.list(
            examples
                .iter()
                .map(|(f, (bits, text))| format!("{f} at {bits:.3} bits/w: {text}"))
                .collect(),
        );
    }
    // Operators: how often a child beat its first parent.
    let mut ops: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut dominated = 0;
    for e in evos {
        let by_id: BTreeMap<i64, &GenomeRecord> = e.genomes.iter().map(|g| (g.id.0, g)).collect();
        let on_front: Vec<i64> = front(e).iter().map(|g| g.id.0).collect();
        dominated += e.alive().filter(|g| !on_front.contains(&g.id.0)).count();
        for g in &e.genomes {
            let entry = ops.entry(g.genome.operator.clone()).or_default();
            entry.0 += 1;
            if g.failure.is_some() {
                entry.2 += 1;
            }
            let parent = g.genome.parent_a.and_then(|p| by_id.get(&p.0));
            if let (Some(q), Some(p)) = (g.quality, parent.and_then(|p| p.quality)) {
                if q < p {
                    entry.1 += 1;
                }
            }
        }
    }
    doc.p(format!(
        "{dominated} surviving genomes are dominated (another survivor has fewer bits and a better figure). By operator: children made, children better than their first parent, children that died."
    ));
    doc.table(
        &["operator", "children", "better than parent", "died"],
        ops.iter()
            .map(|(op, (n, better, died))| {
                vec![
                    op.clone(),
                    n.to_string(),
                    better.to_string(),
                    died.to_string(),
                ]
            })
            .collect(),
    );
}

fn games(store: &Store, doc: &mut Doc, main: &[&Evo]) -> Result<(), ReportError> {
    doc.h(2, "Games");
    let mut any = false;
    for e in main {
        let matches = store.evolution_matches(e.rec.id)?;
        if matches.is_empty() {
            continue;
        }
        any = true;
        doc.h(3, format!("Game stage of {}", e.label()));
        let mut rows = Vec::new();
        for m in &matches {
            let games = store.games(m.run)?;
            let tally = qarena_store::tally_games(&games);
            let w = tally.wdl();
            let elo = tally.elo(0.95).map_or("-".into(), |r| {
                match (r.elo.value(), r.elo.lower(), r.elo.upper()) {
                    (Some(v), Some(lo), Some(hi)) => format!("{v:+.0} [{lo:+.0}, {hi:+.0}]"),
                    _ => r.elo.reason().unwrap_or("-").to_string(),
                }
            });
            rows.push(vec![
                m.stage.clone(),
                m.player_a.clone(),
                m.player_b.clone(),
                format!("{}/{}/{}", w.wins, w.draws, w.losses),
                elo,
            ]);
        }
        doc.table(&["stage", "A", "B", "W/D/L of A", "Elo of A (95%)"], rows);
        let ratings = store.evolution_ratings(e.rec.id, "original")?;
        doc.p("Ratings from every game above (Bradley–Terry, anchored at the original, 95% intervals):");
        doc.table(
            &["player", "Elo", "95% interval", "games", "score"],
            ratings
                .iter()
                .map(|(p, r)| {
                    vec![
                        p.clone(),
                        format!("{:+.1}", r.elo),
                        format!("[{:+.1}, {:+.1}]", r.lower(), r.upper()),
                        r.games.to_string(),
                        if r.score.is_finite() {
                            format!("{:.3}", r.score)
                        } else {
                            "-".into()
                        },
                    ]
                })
                .collect(),
        );
    }
    if !any {
        doc.p("No games yet: `qarena evolve games MODEL --name NAME` promotes the best survivors to SPRT-gated matches against the original and a league with hand recipes.");
    }
    Ok(())
}

fn provenance(doc: &mut Doc, evos: &[Evo], o: &ReportOptions) {
    doc.h(2, "Provenance");
    doc.p(format!("Database `{}`.", o.db.display()));
    doc.table(
        &[
            "evolution id",
            "name",
            "seed",
            "model sha256",
            "budget",
            "settings",
            "created",
        ],
        evos.iter()
            .map(|e| {
                vec![
                    e.rec.id.0.to_string(),
                    e.rec.name.clone(),
                    e.rec.seed.to_string(),
                    e.rec.model_sha256.chars().take(12).collect(),
                    e.rec.budget.to_string(),
                    format!("`{}`", e.rec.settings),
                    e.rec.created_at.clone(),
                ]
            })
            .collect(),
    );
}
