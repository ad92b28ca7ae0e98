//! Section 2, the protocol: model, engine, settings, the paired design
//! and the table of variants.

use qarena_store::{EngineSlot, Slot, Termination};
use serde_json::Value;

use super::fmt::{compact, point_label, short};
use super::Ctx;
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    let Ctx {
        d, stats, finished, ..
    } = *cx;
    let def = d.sweep.as_ref().map(|s| &s.definition);
    // A run's stored settings carry both games' sections (Go's with its
    // defaults); only the one the run played is shown.
    let (ours, other) = if d.is_chess() {
        ("chess", "go")
    } else {
        ("go", "chess")
    };
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
        for key in [ours, "timeouts"] {
            match def.get(key).filter(|v| !v.is_null()) {
                Some(v) => items.push(format!("Settings `{key}`: {}", compact(v))),
                None if key == "chess" => {
                    items.push("Settings `chess`: the defaults (no `[chess]` section).".into())
                }
                None => {}
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
            let mut m = m.clone();
            if let Some(o) = m.as_object_mut() {
                o.remove(other);
            }
            items.push(format!("Settings: {}", compact(&m)));
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
