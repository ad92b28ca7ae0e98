//! The sweep definition file (TOML) and the points it expands to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qarena_arena::chess::ChessSettings;
use qarena_arena::{EngineConfig, GoSettings, Timeouts};
use qarena_quant::{Clipping, Granularity, LayerRange, Role, Scheme, Strategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SweepError;

/// How the engine under test is started: a match's [`EngineConfig`] whose
/// `name` and `model` each point fills in (`{model}` is the variant file),
/// plus `model_option`.
///
/// In a sweep file it is the `[engine]` table of a match config without
/// `name`, `model` and `cwd`, plus `model_option`.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineTemplate {
    /// Command, protocol, config, options and init; `name` and `model` are
    /// replaced per point by [`EngineTemplate::engine`].
    pub base: EngineConfig,
    /// UCI: pass the model with this option (e.g. `EvalFile`) instead of `{model}`.
    pub model_option: Option<String>,
}

/// The keys of a sweep's `[engine]` table.
const ENGINE_KEYS: &[&str] = &[
    "command",
    "protocol",
    "model_option",
    "config",
    "options",
    "init",
];

impl EngineTemplate {
    /// The engine a match starts for one side: named `name`, playing `model`.
    pub fn engine(&self, name: &str, model: &Path) -> EngineConfig {
        let mut e = self.base.clone();
        e.name = name.to_string();
        let abs = qarena_arena::command::absolute(model);
        if let Some(opt) = &self.model_option {
            e.options.insert(opt.clone(), abs.display().to_string());
        }
        e.model = Some(abs);
        e
    }
}

/// A key of the `[engine]` table; any other is refused as it is read, so the
/// TOML reader points at it.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct EngineKey(String);

impl<'de> Deserialize<'de> for EngineKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = String::deserialize(d)?;
        if ENGINE_KEYS.contains(&k.as_str()) {
            Ok(EngineKey(k))
        } else {
            Err(serde::de::Error::unknown_field(&k, ENGINE_KEYS))
        }
    }
}

// The table is read through EngineConfig's own serde, so the two cannot drift
// apart; only the keys a sweep does not take are refused first, with serde's
// usual message.
impl<'de> Deserialize<'de> for EngineTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table: serde_json::Map<String, serde_json::Value> =
            BTreeMap::<EngineKey, serde_json::Value>::deserialize(d)?
                .into_iter()
                .map(|(k, v)| (k.0, v))
                .collect();
        let model_option = table
            .remove("model_option")
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?;
        table.insert("name".into(), serde_json::Value::String(String::new()));
        let base =
            serde_json::from_value(serde_json::Value::Object(table)).map_err(D::Error::custom)?;
        Ok(EngineTemplate { base, model_option })
    }
}

impl Serialize for EngineTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut table = match serde_json::to_value(&self.base).map_err(S::Error::custom)? {
            serde_json::Value::Object(t) => t,
            _ => return Err(S::Error::custom("an engine config serialises as a table")),
        };
        table.retain(|k, _| ENGINE_KEYS.contains(&k.as_str()));
        if let Some(o) = &self.model_option {
            table.insert("model_option".into(), serde_json::Value::String(o.clone()));
        }
        table.serialize(s)
    }
}

/// A point's own way of starting the engine (`[point.engine]`): another
/// binary, or options added to the sweep's (an engine's own INT8 or FP16
/// mode), so a real speed-up is measured next to its strength.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointEngine {
    /// Replaces the sweep engine's `command` (same placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Added to (or replacing) the sweep engine's UCI options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A reference opponent every point also plays (`[[anchor]]`), so the
/// ladder sits on an absolute scale: e.g. Stockfish at
/// `UCI_LimitStrength`/`UCI_Elo`, or GNU Go at a level. It plays its own
/// engine (no model of the sweep) under the sweep's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorDef {
    /// Player name in the rating fit; unique among points and anchors.
    pub name: String,
    /// The absolute rating it stands for (e.g. its `UCI_Elo`); the rating
    /// fit is anchored at the first anchor that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elo: Option<f64>,
    /// Engine command (default: the sweep engine's command without its
    /// model); the protocol is the sweep's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// UCI options (e.g. `UCI_LimitStrength = "true"`, `UCI_Elo = "1500"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// GTP commands sent after start-up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<String>,
    /// Games against each point (default: the sweep's `anchor_games`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub games: Option<u32>,
}

impl AnchorDef {
    /// The anchor's engine: its own command (or the sweep engine's, which
    /// must then not need a model), the sweep engine's options with the
    /// anchor's on top, and its init commands.
    pub fn engine(&self, template: &EngineTemplate) -> Result<EngineConfig, SweepError> {
        let mut e = template.base.clone();
        e.name = self.name.clone();
        e.model = None;
        match &self.command {
            Some(c) => {
                e.command = c.clone();
                e.config = None;
                e.init = self.init.clone();
            }
            None if e.command.contains("{model}") => {
                return Err(SweepError::Input(format!(
                    "anchor '{}' needs its own `command`: the sweep engine's names {{model}}",
                    self.name
                )))
            }
            None => e.init.extend(self.init.iter().cloned()),
        }
        e.options.extend(self.options.clone());
        Ok(e)
    }
}

/// One explicit point: a strategy from a file or inline (`rule`, `default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<PathBuf>,
    /// This point's own engine command or options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<PointEngine>,
    /// Inline strategy tables (`rule = [...]`, `default = {...}`).
    #[serde(flatten)]
    pub inline: toml::Table,
}

/// A module target of the generator: which roles (and layers) degrade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    #[serde(with = "text::roles")]
    pub roles: Vec<Role>,
    #[serde(
        default,
        with = "text::layers",
        skip_serializing_if = "Option::is_none"
    )]
    pub layers: Option<LayerRange>,
    /// Severities for this target only (default: the generator's `levels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<u32>>,
}

/// Module target × severity: one point per pair. Severity is a number of
/// quantization levels (symmetric grid −L..L, `log2(2L+1)` bits), so it is
/// continuous and `--refine` can add points between two levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub targets: Vec<Target>,
    pub levels: Vec<u32>,
    #[serde(
        default = "default_granularity",
        serialize_with = "text::write",
        deserialize_with = "text::granularity"
    )]
    pub granularity: Granularity,
    #[serde(
        default = "default_clip",
        serialize_with = "text::write",
        deserialize_with = "text::clip"
    )]
    pub clip: Clipping,
    /// Scheme of every other weight tensor (e.g. `int4` so each point is
    /// "the INT4 baseline with the target degraded further"); biases are
    /// always kept. Default: keep.
    #[serde(
        default = "default_rest",
        serialize_with = "text::write",
        deserialize_with = "text::rest"
    )]
    pub rest: Scheme,
    #[serde(
        default = "default_granularity",
        serialize_with = "text::write",
        deserialize_with = "text::rest_granularity"
    )]
    pub rest_granularity: Granularity,
}

fn default_rest() -> Scheme {
    Scheme::Keep
}

fn default_granularity() -> Granularity {
    Granularity::Channel
}
fn default_clip() -> Clipping {
    Clipping::None
}

/// Serde for the generator's typed fields in the text forms strategies use
/// (`group:32`, `percentile:99.9`, `fc_0`, `0-3`), so a sweep file reads
/// like a strategy file and a value that is not one fails when the file is
/// read, with the key named.
mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use qarena_quant::{Clipping, Granularity, LayerRange, Role, Scheme};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn write<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    fn parse<E: serde::de::Error, T>(text: &str, key: &str) -> Result<T, E>
    where
        T: FromStr,
        T::Err: Display,
    {
        text.parse()
            .map_err(|e| E::custom(format!("key '{key}': {e}")))
    }

    pub fn granularity<'de, D: Deserializer<'de>>(d: D) -> Result<Granularity, D::Error> {
        parse(&String::deserialize(d)?, "granularity")
    }
    pub fn rest_granularity<'de, D: Deserializer<'de>>(d: D) -> Result<Granularity, D::Error> {
        parse(&String::deserialize(d)?, "rest_granularity")
    }
    pub fn clip<'de, D: Deserializer<'de>>(d: D) -> Result<Clipping, D::Error> {
        parse(&String::deserialize(d)?, "clip")
    }
    pub fn rest<'de, D: Deserializer<'de>>(d: D) -> Result<Scheme, D::Error> {
        parse(&String::deserialize(d)?, "rest")
    }

    pub mod roles {
        use super::*;

        pub fn serialize<S: Serializer>(v: &[Role], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|r| r.as_str()))
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|r| parse(r, "roles"))
                .collect()
        }
    }

    pub mod layers {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<LayerRange>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(l) => s.collect_str(l),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<LayerRange>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(l) => parse(&l, "layers").map(Some),
                None => Ok(None),
            }
        }
    }
}

/// `--refine` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refine {
    /// Rounds of "add a point inside the steepest drop".
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// Stop refining a gap narrower than this many bits.
    #[serde(default = "default_min_gap")]
    pub min_gap_bits: f64,
}

fn default_rounds() -> u32 {
    3
}
fn default_min_gap() -> f64 {
    0.25
}

impl Default for Refine {
    fn default() -> Self {
        Refine {
            rounds: default_rounds(),
            min_gap_bits: default_min_gap(),
        }
    }
}

/// A sweep: variants of one model, each played against one baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub model: PathBuf,
    pub engine: EngineTemplate,
    /// The point every other point plays against; `original` is the
    /// unmodified model. KataGo sweeps use the INT4 point by convention.
    #[serde(default = "default_baseline")]
    pub baseline: String,
    #[serde(default = "default_games")]
    pub games: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_restarts")]
    pub restarts: u32,
    #[serde(default = "default_late")]
    pub late_blocks: usize,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub go: GoSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chess: Option<ChessSettings>,
    #[serde(default, rename = "point", skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<PointDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<Generator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine: Option<Refine>,
    /// Reference opponents every point (the original included) also plays.
    #[serde(default, rename = "anchor", skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<AnchorDef>,
    /// Games of each point against each anchor (default 20).
    #[serde(default = "default_anchor_games")]
    pub anchor_games: u32,
}

fn default_anchor_games() -> u32 {
    20
}

fn default_baseline() -> String {
    "original".to_string()
}
fn default_games() -> u32 {
    100
}
fn default_concurrency() -> usize {
    1
}
fn default_restarts() -> u32 {
    20
}
fn default_late() -> usize {
    2
}

/// A point ready to be built and played.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub name: String,
    /// The resolved strategy as TOML (stored with the sweep so a resume
    /// rebuilds exactly the same variant).
    pub strategy_toml: String,
    /// Generator points: target name and levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// The point's own engine command or options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<PointEngine>,
}

impl Point {
    pub fn strategy(&self) -> Result<Strategy, SweepError> {
        Strategy::parse(&self.strategy_toml, &format!("point '{}'", self.name))
            .map_err(|e| SweepError::Input(format!("point '{}': {e}", self.name)))
    }
    /// Code bits of a generator point's grid.
    pub fn bits(&self) -> Option<f64> {
        self.levels.map(|l| f64::from(2 * l + 1).log2())
    }
}

/// The strategy that keeps every tensor: the original model.
pub fn original_point() -> Point {
    Point {
        name: "original".to_string(),
        strategy_toml: "name = \"original\"\ndescription = \"the unmodified model\"\n[default]\nscheme = \"keep\"\n".to_string(),
        target: None,
        levels: None,
        engine: None,
    }
}

/// The point a generator makes for `target` at `levels`.
pub fn generator_point(g: &Generator, t: &Target, levels: u32) -> Result<Point, SweepError> {
    let name = format!("{}-L{levels}", t.name);
    let roles: Vec<String> = t
        .roles
        .iter()
        .map(|r| format!("{:?}", r.as_str()))
        .collect();
    let mut text = format!(
        "name = \"{name}\"\ndescription = \"{} at ±{levels} levels ({:.2} bits), rest {}\"\n[[rule]]\nrole = [{}]\nbiases = false\nscheme = \"levels{levels}\"\ngranularity = \"{}\"\nclip = \"{}\"\n",
        t.name,
        f64::from(2 * levels + 1).log2(),
        g.rest,
        roles.join(", "),
        g.granularity,
        g.clip
    );
    if let Some(l) = &t.layers {
        text.push_str(&format!("layers = \"{l}\"\n"));
    }
    text.push_str("[[rule]]\nbiases = true\nscheme = \"keep\"\n");
    text.push_str(&format!(
        "[default]\nscheme = \"{}\"\ngranularity = \"{}\"\n",
        g.rest, g.rest_granularity
    ));
    let p = Point {
        name,
        strategy_toml: text,
        target: Some(t.name.clone()),
        levels: Some(levels),
        engine: None,
    };
    p.strategy()?;
    Ok(p)
}

impl SweepDef {
    pub fn from_file(path: &Path) -> Result<SweepDef, SweepError> {
        let text = fs_err::read_to_string(path)
            .map_err(|e| SweepError::Input(format!("reading sweep file: {e}")))?;
        let def: SweepDef = toml::from_str(&text).map_err(|e| {
            SweepError::Input(format!(
                "malformed sweep file {}: {}",
                path.display(),
                e.to_string().trim_end().replace('\n', " ")
            ))
        })?;
        Ok(def.relative_to(path.parent().unwrap_or(Path::new("."))))
    }

    /// The sweep `name` of a project config (`qarena.toml`): `[sweeps.NAME]`
    /// may refer by name to `[engines.X]`, `[models.X]` (`path = ...`) and
    /// `[strategies.X]` (an inline strategy, or `file = ...`).
    pub fn from_project(path: &Path, name: &str) -> Result<SweepDef, SweepError> {
        let text = fs_err::read_to_string(path)
            .map_err(|e| SweepError::Input(format!("reading project config: {e}")))?;
        let bad =
            |what: String| SweepError::Input(format!("project config {}: {what}", path.display()));
        let root: toml::Table =
            toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().replace('\n', " ")))?;
        let section = |key: &str| -> toml::Table {
            root.get(key)
                .and_then(|v| v.as_table())
                .cloned()
                .unwrap_or_default()
        };
        let (engines, models, strategies, sweeps) = (
            section("engines"),
            section("models"),
            section("strategies"),
            section("sweeps"),
        );
        let mut sweep = sweeps
            .get(name)
            .and_then(|v| v.as_table())
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = sweeps.keys().map(String::as_str).collect();
                bad(format!(
                    "no sweep named '{name}' (sweeps: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
        sweep
            .entry("name")
            .or_insert_with(|| toml::Value::String(name.to_string()));
        if let Some(toml::Value::String(e)) = sweep.get("engine").cloned() {
            let t = engines.get(&e).cloned().ok_or_else(|| {
                bad(format!(
                    "sweep '{name}' names engine '{e}', which [engines] lacks"
                ))
            })?;
            sweep.insert("engine".into(), t);
        }
        if let Some(toml::Value::String(m)) = sweep.get("model").cloned() {
            if let Some(p) = models.get(&m).and_then(|v| v.get("path")).cloned() {
                sweep.insert("model".into(), p);
            }
        }
        if let Some(toml::Value::Array(points)) = sweep.get_mut("point") {
            for point in points.iter_mut() {
                let Some(pt) = point.as_table_mut() else {
                    continue;
                };
                let Some(toml::Value::String(sname)) = pt.get("strategy").cloned() else {
                    continue;
                };
                let Some(st) = strategies.get(&sname).and_then(|v| v.as_table()) else {
                    continue; // a file path
                };
                pt.remove("strategy");
                if let Some(file) = st.get("file") {
                    pt.insert("strategy".into(), file.clone());
                } else {
                    for (k, v) in st {
                        if k != "name" && k != "description" {
                            pt.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        let def: SweepDef =
            toml::Value::Table(sweep)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    bad(format!(
                        "sweep '{name}': {}",
                        e.to_string().trim_end().replace('\n', " ")
                    ))
                })?;
        Ok(def.relative_to(path.parent().unwrap_or(Path::new("."))))
    }

    /// Makes paths in the definition relative to `base` (the file's folder).
    fn relative_to(mut self, base: &Path) -> SweepDef {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.model);
        // The config and a relative program path (`./x`, `../x`) too.
        self.engine.base.resolve_relative(base);
        let program = |command: &mut Option<String>| {
            if let Some(c) = command.as_mut() {
                let mut e = EngineConfig::from_command("", c, self.engine.base.protocol);
                e.resolve_relative(base);
                *c = e.command;
            }
        };
        for a in &mut self.anchors {
            program(&mut a.command);
        }
        for p in &mut self.points {
            if let Some(e) = p.engine.as_mut() {
                program(&mut e.command);
            }
        }
        for p in &mut self.points {
            if let Some(s) = p.strategy.as_mut() {
                fix(s);
            }
        }
        if let Some(o) = self.chess.as_mut().and_then(|c| c.openings.as_mut()) {
            fix(o);
        }
        self
    }

    /// The coarse list of points: `original` first, then explicit points,
    /// then generator points (target by target, mildest first).
    pub fn points(&self) -> Result<Vec<Point>, SweepError> {
        let mut out = vec![original_point()];
        for p in &self.points {
            if p.name == "original" {
                return Err(SweepError::Input(
                    "the point name 'original' is reserved for the unmodified model".into(),
                ));
            }
            let text = match &p.strategy {
                Some(path) => fs_err::read_to_string(path).map_err(|e| {
                    SweepError::Input(format!("point '{}': reading strategy: {e}", p.name))
                })?,
                None => {
                    let mut t = p.inline.clone();
                    t.insert("name".into(), toml::Value::String(p.name.clone()));
                    toml::to_string(&t)
                        .map_err(|e| SweepError::Input(format!("point '{}': {e}", p.name)))?
                }
            };
            let point = Point {
                name: p.name.clone(),
                strategy_toml: text,
                target: None,
                levels: None,
                engine: p.engine.clone(),
            };
            point.strategy()?;
            out.push(point);
        }
        if let Some(g) = &self.generator {
            for t in &g.targets {
                let mut levels = t.levels.clone().unwrap_or_else(|| g.levels.clone());
                levels.sort_unstable_by(|a, b| b.cmp(a));
                levels.dedup();
                for l in levels {
                    out.push(generator_point(g, t, l)?);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &out {
            if !seen.insert(p.name.clone()) {
                return Err(SweepError::Input(format!(
                    "two points are named '{}'",
                    p.name
                )));
            }
        }
        for a in &self.anchors {
            if !seen.insert(a.name.clone()) {
                return Err(SweepError::Input(format!(
                    "anchor '{}': the name is already a point's or another anchor's",
                    a.name
                )));
            }
            if a.elo.is_some_and(|e| !e.is_finite()) {
                return Err(SweepError::Input(format!(
                    "anchor '{}': elo must be a finite number",
                    a.name
                )));
            }
        }
        if !out.iter().any(|p| p.name == self.baseline) {
            return Err(SweepError::Input(format!(
                "baseline '{}' is not a point of the sweep (points: {})",
                self.baseline,
                out.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"s\"\nmodel = \"m.nnue\"\n[engine]\ncommand = \"e\"\n";

    fn def(generator: &str) -> Result<SweepDef, toml::de::Error> {
        toml::from_str(&format!("{BASE}[generator]\nlevels = [3]\n{generator}"))
    }

    #[test]
    fn generator_fields_are_typed_with_strategy_spellings() {
        let d = def("granularity = \"group:32\"\nclip = \"percentile:99.9\"\nrest = \"int4\"\n\
             [[generator.targets]]\nname = \"fc\"\nroles = [\"fc_0\", \"fc_1\"]\nlayers = \"0-3\"\n")
        .unwrap();
        let g = d.generator.as_ref().unwrap();
        assert_eq!(g.granularity, Granularity::Group(32));
        assert_eq!(g.clip, Clipping::Percentile(99.9));
        assert_eq!(g.rest.to_string(), "int4");
        assert_eq!(g.rest_granularity, Granularity::Channel);
        assert_eq!(g.targets[0].roles, [Role::Fc0, Role::Fc1]);
        assert_eq!(
            g.targets[0].layers.map(|l| l.to_string()).as_deref(),
            Some("0-3")
        );
        // The stored form (JSON on the run) reads back to the same value.
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["generator"]["granularity"], "group:32");
        assert_eq!(json["generator"]["targets"][0]["roles"][0], "fc_0");
        let back: SweepDef = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
        let p = generator_point(g, &g.targets[0], 3).unwrap();
        let s = p.strategy().unwrap();
        assert_eq!(s.rules()[0].selector.roles, [Role::Fc0, Role::Fc1]);
    }

    #[test]
    fn unknown_generator_values_fail_at_load_naming_the_key() {
        let target = "[[generator.targets]]\nname = \"t\"\nroles = [\"trunk\"]\n";
        for (field, want) in [
            (
                "granularity = \"row\"",
                "key 'granularity': unknown granularity 'row'",
            ),
            ("clip = \"max\"", "key 'clip': unknown clip 'max'"),
            ("rest = \"int9\"", "key 'rest': unknown scheme 'int9'"),
            (
                "rest_granularity = \"group:0\"",
                "key 'rest_granularity': unknown granularity",
            ),
        ] {
            let e = def(&format!("{field}\n{target}")).unwrap_err().to_string();
            assert!(e.contains(want), "{field}: {e}");
        }
        let e = def("[[generator.targets]]\nname = \"t\"\nroles = [\"trunkk\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key 'roles': unknown role 'trunkk' (expected stem"),
            "{e}"
        );
        let e = def("[[generator.targets]]\nname = \"t\"\nroles = [\"trunk\"]\nlayers = \"3-1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key 'layers': layer range '3-1' is empty"),
            "{e}"
        );
    }

    #[test]
    fn engine_table_reads_as_an_engine_config() {
        let text = format!(
            "{BASE}protocol = \"uci\"\nmodel_option = \"EvalFile\"\nconfig = \"c.cfg\"\n\
             init = [\"x\"]\noptions = {{ Threads = \"1\" }}\n"
        );
        let d: SweepDef = toml::from_str(&text).unwrap();
        let e = d.engine.engine("p", Path::new("/v/net.nnue"));
        assert_eq!(e.name, "p");
        assert_eq!(e.command, "e");
        assert_eq!(e.protocol, qarena_arena::Protocol::Uci);
        assert_eq!(e.config.as_deref(), Some(Path::new("c.cfg")));
        assert_eq!(e.init, ["x"]);
        assert_eq!(e.options["Threads"], "1");
        assert_eq!(e.options["EvalFile"], "/v/net.nnue");
        assert_eq!(e.model.as_deref(), Some(Path::new("/v/net.nnue")));
        // Stored as JSON on the run: the same keys as the file, read back equal.
        let json = serde_json::to_value(&d.engine).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "command",
                "config",
                "init",
                "model_option",
                "options",
                "protocol"
            ]
        );
        let back: EngineTemplate = serde_json::from_value(json).unwrap();
        assert_eq!(back, d.engine);

        for (key, want) in [
            ("name = \"x\"", "unknown field `name`, expected one of `command`, `protocol`, `model_option`, `config`, `options`, `init`"),
            ("cwd = \"d\"", "unknown field `cwd`"),
            ("model = \"m\"", "unknown field `model`"),
            ("protocol = \"xboard\"", "unknown variant `xboard`, expected `gtp` or `uci`"),
            ("init = 3", "invalid type: integer `3`, expected a sequence"),
        ] {
            let e = toml::from_str::<SweepDef>(&format!("{BASE}{key}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{key}: {e}");
        }
        let e = toml::from_str::<SweepDef>("name = \"s\"\nmodel = \"m\"\n[engine]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `command`"), "{e}");
    }

    #[test]
    fn from_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("qarena-sweep-def-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        fs_err::write(
            &path,
            format!("{BASE}[generator]\nlevels = [3]\nclip = \"max\"\ntargets = []\n"),
        )
        .unwrap();
        let e = SweepDef::from_file(&path).unwrap_err().to_string();
        let _ = fs_err::remove_dir_all(&dir);
        assert!(
            e.contains("malformed sweep file") && e.contains("bad.toml"),
            "{e}"
        );
        assert!(e.contains("key 'clip': unknown clip 'max'"), "{e}");
    }
}
