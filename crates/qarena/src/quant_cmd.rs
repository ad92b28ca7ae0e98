//! `qarena inspect` and `qarena quantize`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use qarena_models::{LoadOptions, Model};
use qarena_quant::Strategy;
use qarena_variant::{build_variant_calibrated, BuildOptions, Calibration};

use crate::{CliResult, Exit};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file: KataGo (.bin.gz, .bin, .txt.gz, .txt), Stockfish NNUE
    /// (.nnue, SF 15.1 architecture), or safetensors (F32/F16/BF16).
    pub model: PathBuf,
    /// KataGo: how many of the last trunk blocks get the role `late`.
    #[arg(long, default_value_t = 2)]
    pub late_blocks: usize,
    /// Print the catalogue as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// Model file to quantize (any format `qarena inspect` reads).
    pub model: PathBuf,
    /// Strategy TOML (see `strategies/`): ordered rules, first match wins.
    #[arg(long, short, conflicts_with = "scheme")]
    pub strategy: Option<PathBuf>,
    /// One scheme for every tensor: keep, int2..int8, uint2..uint8,
    /// levels1..levels127, nf4, fp4, fp8_e4m3, fp8_e5m2, lut1..lut8.
    #[arg(long)]
    pub scheme: Option<String>,
    /// With --scheme: tensor, channel or group:N.
    #[arg(long, default_value = "channel")]
    pub granularity: String,
    /// With --scheme: none, mse or percentile:P.
    #[arg(long, default_value = "none")]
    pub clip: String,
    /// With --scheme: percent of largest magnitudes kept exact.
    #[arg(long, default_value_t = 0.0)]
    pub outliers: f64,
    /// Also copy the variant here (its manifest goes next to it as
    /// `<OUT>.manifest.json`).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Variant cache: `<DIR>/<id>/` holds the variant and its manifest.
    #[arg(long, default_value = "variants")]
    pub cache: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub late_blocks: usize,
    /// Rebuild even if the cache has this variant.
    #[arg(long)]
    pub force: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
    /// Probe the variant against the input model (seconds, no games) and
    /// add the figures to its manifest; stored in --db too.
    #[arg(long)]
    pub probe: bool,
    /// Position suite for --probe (default: the shipped one for the game).
    #[arg(long, requires = "probe")]
    pub probe_suite: Option<PathBuf>,
    /// Calibration positions for rules with rounding = "error_compensating"
    /// or "activation_aware" (from the inputs each layer sees): a Go suite
    /// for KataGo nets, a chess suite for NNUE nets (`qarena probe positions
    /// --from-run TAG` makes one from stored games). Defaults: the shipped
    /// suites/go9-calib.suite and suites/chess-calib.suite, whose positions
    /// no default probe reports on. A suite that is also the probe's is
    /// refused.
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Use only the first N calibration positions.
    #[arg(long)]
    pub calib_positions: Option<usize>,
    /// GPTQ dampening: a share of the mean Hessian diagonal added to it
    /// (default 0.01 for KataGo nets, 0.1 for NNUE nets, whose binary
    /// feature inputs leave many directions unmeasured).
    #[arg(long)]
    pub gptq_damp: Option<f64>,
    /// Measure each layer's inputs on the net whose earlier layers are
    /// already quantized (slower; one forward pass per layer).
    #[arg(long)]
    pub calib_sequential: bool,
    #[command(flatten)]
    pub engines: crate::probe_cmd::EngineArgs,
    #[command(flatten)]
    pub db: crate::cli::DbArgs,
}

fn model_error(e: qarena_models::ModelError) -> Exit {
    Exit::input(e)
}

pub fn inspect(a: InspectArgs) -> CliResult {
    let model = Model::load_with(
        &a.model,
        &LoadOptions {
            late_blocks: a.late_blocks,
        },
    )
    .map_err(model_error)?;
    if a.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "path": a.model.display().to_string(),
            "format": model.format().name(),
            "description": model.description(),
            "bytes": model.file_bytes(),
            "params": model.num_params(),
            "tensors": model.catalogue(),
        }))
        .map_err(|e| Exit::input(anyhow!(e)))?;
        println!("{text}");
        return Ok(());
    }
    println!("{}: {}", a.model.display(), model.description());
    println!(
        "{:<44} {:<20} {:>5} {:<20} {:<5} {:>10} {:>11}",
        "name", "role", "layer", "shape", "dtype", "params", "bytes"
    );
    for t in model.catalogue() {
        let shape = format!("{:?}", t.shape);
        println!(
            "{:<44} {:<20} {:>5} {:<20} {:<5} {:>10} {:>11}",
            t.name,
            t.role.as_str(),
            t.layer.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
            shape,
            t.dtype.as_str(),
            t.numel(),
            t.bytes()
        );
    }
    println!(
        "{} tensors, {} parameters, {} bytes on disk",
        model.catalogue().len(),
        model.num_params(),
        model.file_bytes()
    );
    Ok(())
}

/// A one-rule strategy from `--scheme` and friends.
pub fn strategy_from_flags(
    scheme: &str,
    granularity: &str,
    clip: &str,
    outliers: f64,
) -> Result<Strategy, Exit> {
    let text = format!(
        "name = \"{scheme}-{}\"\n[default]\nscheme = \"{scheme}\"\ngranularity = \"{granularity}\"\nclip = \"{clip}\"\noutliers = {outliers:?}\n",
        granularity.replace(':', "")
    );
    Strategy::parse(&text, "command-line flags").map_err(Exit::input)
}

pub fn load_strategy(path: &Path) -> Result<Strategy, Exit> {
    Strategy::from_file(path).map_err(Exit::input)
}

/// The calibration a strategy with error-compensating rules needs.
fn calibrate(a: &QuantizeArgs, strategy: &Strategy) -> Result<Calibration, Exit> {
    let model = Model::load_with(
        &a.model,
        &LoadOptions {
            late_blocks: a.late_blocks,
        },
    )
    .map_err(model_error)?;
    let nnue = model.format() == qarena_models::Format::Nnue;
    if model.katago_arch().is_none() && !nnue {
        return Err(Exit::input(anyhow!(
            "strategy {} rounds with error compensation, which `qarena quantize` computes for KataGo and NNUE nets \
             ({} is {}); language models take calibration text with `qarena llm ... --calib FILE`",
            strategy.name(),
            a.model.display(),
            model.format().name()
        )));
    }
    let game = if nnue { "chess" } else { "go" };
    let suite = match &a.calib {
        Some(p) => qarena_probe::Suite::load(p).map_err(Exit::input)?,
        None => qarena_probe::calibration_suite(game).map_err(Exit::input)?,
    };
    let probe_suite = match &a.probe_suite {
        Some(p) => Some(qarena_probe::Suite::load(p).map_err(Exit::input)?),
        None if a.probe => Some(qarena_probe::default_suite(game).map_err(Exit::input)?),
        None => None,
    };
    if let Some(p) = probe_suite.filter(|p| p.sha256() == suite.sha256()) {
        return Err(Exit::input(anyhow!(
            "the calibration suite {} is the probe's suite {}: calibrate on other positions than the ones the variant is scored on",
            suite.name,
            p.name
        )));
    }
    if let Some(d) = a
        .gptq_damp
        .filter(|d| !(d.is_finite() && (0.0..=10.0).contains(d)))
    {
        return Err(Exit::input(anyhow!(
            "--gptq-damp {d} is not a dampening: give a share of the mean Hessian diagonal in 0..=10 (0.01 is usual)"
        )));
    }
    let settings = qarena_probe::native::CalibrationSettings {
        positions: a.calib_positions,
        damp: a.gptq_damp.unwrap_or(if nnue { 0.1 } else { 0.01 }),
        ..Default::default()
    };
    if nnue {
        eprintln!("calibrating on the positions of {} ...", suite.name);
        return qarena_probe::native::calibrate_nnue(&model, &suite, &settings)
            .map_err(Exit::input);
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} calibrating {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |n: usize, total: usize| {
        pb.set_length(total as u64);
        pb.set_position(n as u64);
    };
    let cal = if a.calib_sequential {
        pb.set_message("layers");
        qarena_probe::native::calibrate_sequential(
            &model,
            &suite,
            strategy,
            &settings,
            &mut progress,
        )
    } else {
        pb.set_message("positions");
        qarena_probe::native::calibrate(&model, &suite, &settings, &mut progress)
    }
    .map_err(Exit::input)?;
    pb.finish_and_clear();
    Ok(cal)
}

pub fn quantize(a: QuantizeArgs) -> CliResult {
    let strategy = match (&a.strategy, &a.scheme) {
        (Some(p), _) => load_strategy(p)?,
        (None, Some(s)) => strategy_from_flags(s, &a.granularity, &a.clip, a.outliers)?,
        (None, None) => {
            return Err(Exit::input(anyhow!(
                "give --strategy FILE or --scheme NAME (see `qarena quantize --help`)"
            )))
        }
    };
    if !a.model.is_file() {
        return Err(Exit::input(anyhow!(
            "model file {} does not exist",
            a.model.display()
        )));
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} quantizing {bar:30} {pos}/{len} tensors")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let opts = BuildOptions {
        cache_dir: a.cache.clone(),
        late_blocks: a.late_blocks,
        force: a.force,
    };
    let progress = |n: usize, total: usize| {
        pb.set_length(total as u64);
        pb.set_position(n as u64);
    };
    let calibration = if qarena_variant::needs_calibration(&strategy) {
        Some(calibrate(&a, &strategy)?)
    } else {
        None
    };
    let mut v =
        build_variant_calibrated(&a.model, &strategy, &opts, calibration.as_ref(), &progress)
            .map_err(Exit::input)?;
    pb.finish_and_clear();
    if a.probe {
        let stop = qarena_engine::install_shutdown_flag();
        let probed = crate::probe_cmd::probe_one(
            &a.engines,
            &a.db.db,
            &a.model,
            &v.path,
            a.probe_suite.as_deref(),
            false,
            &stop,
        )?;
        let r = &probed.report;
        v.manifest.probe = Some(serde_json::json!({
            "probe": r.probe,
            "suite": r.suite,
            "suite_sha256": r.suite_sha256,
            "positions": r.positions,
            "primary": r.comparison.primary,
            "metrics": r.comparison.metrics,
        }));
        qarena_variant::write_manifest(&v.dir, &v.manifest).map_err(Exit::storage)?;
    }
    if let Some(out) = &a.output {
        fs_err::copy(&v.path, out).map_err(Exit::input)?;
        let mut m = out.as_os_str().to_owned();
        m.push(".manifest.json");
        fs_err::copy(v.dir.join("manifest.json"), PathBuf::from(m)).map_err(Exit::input)?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v.manifest).map_err(|e| Exit::input(anyhow!(e)))?
        );
        return Ok(());
    }
    let m = &v.manifest;
    println!(
        "{} ({}) with strategy '{}'{}",
        m.input.path,
        m.input.description,
        m.strategy_name,
        if v.cached { " [cached]" } else { "" }
    );
    print!("{}", qarena_variant::role_table(m));
    println!(
        "variant {}: {} ({} bytes, sha256 {})",
        v.id,
        a.output.as_ref().unwrap_or(&v.path).display(),
        m.output_bytes,
        &m.output_sha256[..16]
    );
    println!(
        "effective {:.3} bits/weight, {} bytes of weights after (from {}); manifest {}",
        m.total.effective_bits,
        m.total.bytes_after,
        m.total.bytes_before,
        v.dir.join("manifest.json").display()
    );
    if let Some(c) = &m.calibration {
        println!(
            "calibrated ({}) on {} positions of {} (sha256 {}), damp {}",
            c.method,
            c.samples,
            c.source,
            &c.sha256[..c.sha256.len().min(16)],
            c.damp
        );
    }
    if let Some(p) = &m.probe {
        let figures: Vec<String> = p["metrics"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .take(8)
                    .filter_map(|x| {
                        Some(format!(
                            "{} {:.4}",
                            x["name"].as_str()?,
                            x["value"].as_f64()?
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "probe {} on {} ({} positions): {}",
            p["probe"].as_str().unwrap_or("?"),
            p["suite"].as_str().unwrap_or("?"),
            p["positions"],
            figures.join(", ")
        );
    }
    Ok(())
}
