//! Section 7, provenance: run, command, versions, database, sweep
//! definition hash, how to regenerate, and the run folder's files.

use std::path::PathBuf;

use super::fmt::compact;
use super::{sha256_hex, Ctx};
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    let Ctx { d, o, .. } = *cx;
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
        crate::Subject::Evolution(n) => format!("--evolution {n}"),
        crate::Subject::Llm => "--llm".to_string(),
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
}
