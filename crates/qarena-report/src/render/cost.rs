//! Part of section 3: what each point's strength costs and buys — time per
//! move, reported speed, CPU and memory next to Elo and bytes — and, with
//! anchors, every player's rating on the anchors' absolute scale.

use qarena_store::{PointCost, Slot};

use super::fmt::{fmt_opt, point_label};
use super::Ctx;
use crate::doc::Doc;

pub(super) fn render(cx: &Ctx, body: &mut Doc) {
    speed(cx, body);
    absolute(cx, body);
}

fn speed(cx: &Ctx, body: &mut Doc) {
    let Ctx { d, stats, .. } = *cx;
    let costs: Vec<(usize, PointCost)> = d
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| PointCost::of(&d.costs, p.index, Slot::A).map(|c| (i, c)))
        .collect();
    if costs.is_empty() {
        return;
    }
    body.h(3, "Strength vs speed vs bytes");
    body.p(
        "What each point's engine cost while it played its games against the baseline: wall \
         time per move as qarena measured it, the same over the baseline's time in the same \
         games (paired by game), the speed the engine itself reported (nodes/s from UCI \
         `info`, visits/s from KataGo's analysis over the measured time), CPU time per move \
         and the peak resident memory of the engine process (VmHWM). Means over games with \
         95% intervals. Fake-quantized variants are computed at the original precision, so \
         these figures reflect the engine's arithmetic, not the nominal bits; a point that \
         names its own engine binary or options (`[point.engine]`, e.g. an engine's own \
         INT8 or FP16 mode) measures a real speed-up.",
    );
    let rows = costs
        .iter()
        .map(|(i, c)| {
            let (p, s) = (&d.points[*i], &stats[*i]);
            // The reasons behind bounds are footnoted in the results table.
            let elo = s
                .elo
                .as_ref()
                .map(|e| super::results::short_estimate(&e.elo, p.index, &mut Vec::new()))
                .unwrap_or_else(|| "-".into());
            let ci = |m: Option<qarena_stats::MeanCi>, digits: usize, scale: f64| {
                m.map(|m| m.fmt(digits, scale))
                    .unwrap_or_else(|| "-".into())
            };
            vec![
                p.index.to_string(),
                point_label(p),
                fmt_opt(p.effective_bits, 3),
                p.bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                elo,
                ci(c.move_ms, 2, 1.0),
                c.move_ms_ratio
                    .map(|r| format!("{:.3} ± {:.3}", r.ratio, r.half_width))
                    .unwrap_or_else(|| "-".into()),
                c.reported_speed
                    .map(|(m, unit)| format!("{} {unit}", m.fmt(0, 1.0)))
                    .unwrap_or_else(|| "-".into()),
                ci(c.cpu_ms, 2, 1.0),
                fmt_opt(c.peak_rss_mib_max, 0),
            ]
        })
        .collect();
    body.table(
        &[
            "#",
            "point",
            "bits/w",
            "bytes",
            "Elo [95% CI]",
            "ms/move",
            "time vs baseline",
            "reported speed",
            "CPU ms/move",
            "peak RSS MiB",
        ],
        rows,
    );
}

fn absolute(cx: &Ctx, body: &mut Doc) {
    let Some(r) = &cx.d.ratings else {
        return;
    };
    body.h(3, "Absolute scale");
    body.p(format!(
        "Every point (the original included) also played the sweep's anchors. One \
         Bradley–Terry fit over every game of the run (points against the baseline and \
         against the anchors) places all players on one scale, anchored at `{}` = {:.0}; \
         intervals are 95%. The other anchors are fitted like any player, so their fitted \
         ratings against the ratings they state show how far the scale holds under this \
         run's limits (an engine's Elo calibration was made at its own time control).",
        r.anchor, r.anchor_elo
    ));
    let rows = r
        .players
        .iter()
        .map(|(name, rating, stated)| {
            vec![
                name.clone(),
                format!("{:.0}", rating.elo),
                format!("[{:.0}, {:.0}]", rating.lower(), rating.upper()),
                rating.games.to_string(),
                format!("{:.3}", rating.score),
                fmt_opt(*stated, 0),
            ]
        })
        .collect();
    body.table(
        &[
            "player",
            "Elo",
            "95% interval",
            "games",
            "score",
            "stated Elo",
        ],
        rows,
    );
}
