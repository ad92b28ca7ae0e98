//! Strategies: ordered rules `selector -> QuantSpec` plus an optional
//! default, read from and written to TOML.
//!
//! ```toml
//! name = "int4-trunk-fp-heads"
//! [[rule]]
//! role = ["policy_head", "value_head"]   # one role or a list
//! name = "*bias*"                         # glob on the tensor name
//! layers = "0-3"                          # "5", "0-3" or "4-"
//! biases = false                          # match only non-biases
//! scheme = "keep"
//! [[rule]]
//! role = "trunk"
//! scheme = "int4"          # see Scheme's text forms
//! granularity = "group:32" # tensor | channel (default) | group:N
//! clip = "mse"             # none (default) | mse | percentile:P
//! outliers = 0.1           # percent of elements kept exact (default 0)
//! rounding = "nearest"     # (default) | error_compensating | activation_aware
//! scale = "f16"            # scale type: f16 (default) | bf16 | f32
//! [default]
//! scheme = "int8"
//! ```
//!
//! Invariants: a [`Strategy`] value is valid (every spec passed
//! [`QuantSpec::validate`]), the first matching rule wins, tensors no rule
//! matches get the default or are kept, and `parse(to_toml(s)) == s`. For
//! `scheme = "keep"` the other spec keys are ignored (normalised away).

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{SelectorError, SpecError, SpecPlace, StrategyError, StrategyProblem};
use crate::glob::Glob;
use crate::scheme::{Clipping, Granularity, QuantSpec, Rounding, ScaleType, Scheme};
use crate::tensor::{Role, TensorInfo};

/// Inclusive layer range; `end == None` means "and all later layers".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerRange {
    pub start: u32,
    pub end: Option<u32>,
}

impl LayerRange {
    pub fn contains(self, layer: u32) -> bool {
        layer >= self.start
            && match self.end {
                None => true,
                Some(end) => layer <= end,
            }
    }
}

impl fmt::Display for LayerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(e) if e == self.start => write!(f, "{e}"),
            Some(e) => write!(f, "{}-{e}", self.start),
            None => write!(f, "{}-", self.start),
        }
    }
}

impl FromStr for LayerRange {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, SelectorError> {
        let bad = || SelectorError::BadLayerRange {
            text: s.to_string(),
        };
        let num = |t: &str| -> Result<u32, SelectorError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let s_trim = s.trim();
        let range = match s_trim.split_once('-') {
            None => {
                let n = num(s_trim)?;
                LayerRange {
                    start: n,
                    end: Some(n),
                }
            }
            Some((a, "")) => LayerRange {
                start: num(a.trim())?,
                end: None,
            },
            Some((a, b)) => LayerRange {
                start: num(a.trim())?,
                end: Some(num(b.trim())?),
            },
        };
        if let Some(e) = range.end {
            if e < range.start {
                return Err(SelectorError::EmptyLayerRange {
                    text: s.to_string(),
                });
            }
        }
        Ok(range)
    }
}

/// Which tensors a rule applies to. Every present condition must hold;
/// an empty selector matches every tensor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Selector {
    /// Any of these roles (empty: any role).
    pub roles: Vec<Role>,
    pub name: Option<Glob>,
    /// Tensors without a layer index never match a layer range.
    pub layers: Option<LayerRange>,
    /// `Some(true)`: biases only; `Some(false)`: non-biases only.
    pub biases: Option<bool>,
}

impl Selector {
    pub fn matches(&self, t: &TensorInfo) -> bool {
        (self.roles.is_empty() || self.roles.contains(&t.role))
            && match &self.name {
                None => true,
                Some(g) => g.matches(&t.name),
            }
            && match self.layers {
                None => true,
                Some(r) => t.layer.is_some_and(|l| r.contains(l)),
            }
            && match self.biases {
                None => true,
                Some(b) => b == t.is_bias,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub selector: Selector,
    pub spec: QuantSpec,
}

/// The largest strategy file [`Strategy::from_file`] reads. Strategies are
/// rules, not data: even a per-tensor strategy for a large language model
/// is far below this.
pub const MAX_STRATEGY_BYTES: u64 = 4 << 20;

/// An ordered, validated list of rules; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StrategyData")]
pub struct Strategy {
    name: String,
    description: Option<String>,
    rules: Vec<Rule>,
    default: Option<QuantSpec>,
}

/// Unvalidated mirror of [`Strategy`] for deserialising (JSON manifests).
#[derive(Deserialize)]
struct StrategyData {
    name: String,
    description: Option<String>,
    rules: Vec<Rule>,
    default: Option<QuantSpec>,
}

impl TryFrom<StrategyData> for Strategy {
    type Error = StrategyError;
    fn try_from(d: StrategyData) -> Result<Self, StrategyError> {
        Strategy::new(d.name, d.description, d.rules, d.default)
    }
}

/// The semantic content of a strategy (no labels), for hashing.
#[derive(Serialize)]
struct Canonical<'a> {
    rules: &'a [Rule],
    default: &'a Option<QuantSpec>,
}

impl Strategy {
    /// Build from parts; every spec is validated.
    pub fn new(
        name: String,
        description: Option<String>,
        rules: Vec<Rule>,
        default: Option<QuantSpec>,
    ) -> Result<Strategy, StrategyError> {
        let invalid = |place: SpecPlace| {
            let name = name.clone();
            move |problem: SpecError| StrategyError::Invalid {
                name,
                place,
                problem,
            }
        };
        for (i, r) in rules.iter().enumerate() {
            r.spec.validate().map_err(invalid(SpecPlace::Rule(i + 1)))?;
        }
        if let Some(d) = &default {
            d.validate().map_err(invalid(SpecPlace::Default))?;
        }
        let norm = |s: QuantSpec| {
            if s.scheme == Scheme::Keep {
                QuantSpec::KEEP
            } else {
                s
            }
        };
        let rules = rules
            .into_iter()
            .map(|r| Rule {
                selector: r.selector,
                spec: norm(r.spec),
            })
            .collect();
        Ok(Strategy {
            name,
            description,
            rules,
            default: default.map(norm),
        })
    }

    /// One spec for every tensor (CLI `--scheme int4 --granularity group:32`).
    /// The name is derived from the spec, e.g. `int4-group:32`.
    pub fn uniform(spec: QuantSpec) -> Result<Strategy, StrategyError> {
        let name = spec.to_string().replace(' ', "-");
        Strategy::new(name, None, Vec::new(), Some(spec))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    pub fn default_spec(&self) -> Option<&QuantSpec> {
        self.default.as_ref()
    }

    /// The spec for a tensor and the index of the rule that chose it
    /// (`None`: the default, or keep when there is no default).
    pub fn resolve(&self, t: &TensorInfo) -> (Option<usize>, QuantSpec) {
        match self.rules.iter().position(|r| r.selector.matches(t)) {
            Some(i) => (Some(i), self.rules[i].spec),
            None => (None, self.default.unwrap_or(QuantSpec::KEEP)),
        }
    }

    /// Stable JSON of the rules and default only: name and description are
    /// labels, so two strategies that quantize identically serialise (and
    /// hash) identically. Field order is fixed by the types and there are
    /// no maps, so the text is deterministic.
    #[expect(
        clippy::expect_used,
        reason = "strategy types are plain data that always serialise to JSON"
    )]
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(&Canonical {
            rules: &self.rules,
            default: &self.default,
        })
        .expect("strategy types always serialise")
    }

    /// Read and parse a strategy TOML file.
    ///
    /// At most [`MAX_STRATEGY_BYTES`] are read: a larger file (or one that
    /// grows while it is read) is refused before parsing.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Strategy, StrategyError> {
        use std::io::Read;
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |source| StrategyError::Io {
            path: shown.clone(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_STRATEGY_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io)?;
        if bytes.len() as u64 > MAX_STRATEGY_BYTES {
            return Err(StrategyError::TooLarge {
                bytes: std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len()),
                path: shown,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ))
        })?;
        Strategy::parse(&text, &shown)
    }

    /// Parse TOML text; `source_name` (usually the path) names it in errors
    /// and, without a `name` key, gives the strategy its name (file stem).
    pub fn parse(text: &str, source_name: &str) -> Result<Strategy, StrategyError> {
        let err = |span: Option<Range<usize>>, key: Option<&str>, problem: StrategyProblem| {
            let (line, column) = span.map_or((1, 1), |s| locate(text, s.start));
            StrategyError::Parse {
                source_name: source_name.to_string(),
                line,
                column,
                key: key.map(str::to_string),
                problem,
            }
        };
        let raw: RawDoc = toml::from_str(text).map_err(|e| {
            err(
                e.span(),
                None,
                StrategyProblem::Toml(e.message().to_string()),
            )
        })?;
        let name = match raw.name {
            Some(n) => n.into_inner(),
            None => Path::new(source_name)
                .file_stem()
                .map_or_else(|| source_name.to_string(), |s| s.to_string_lossy().into()),
        };
        let mut rules = Vec::with_capacity(raw.rule.len());
        for r in raw.rule {
            let roles = match &r.role {
                None => Vec::new(),
                Some(v) => {
                    parse_roles(v).map_err(|m| err(Some(v.span()), Some("role"), m.into()))?
                }
            };
            let layers = match &r.layers {
                None => None,
                Some(v) => {
                    let layers = parse_layers(v)
                        .map_err(|m| err(Some(v.span()), Some("layers"), m.into()))?;
                    Some(layers)
                }
            };
            let selector = Selector {
                roles,
                name: r.name.as_ref().map(|n| Glob::new(n.get_ref())),
                layers,
                biases: r.biases,
            };
            let spec = r
                .spec()
                .build()
                .map_err(|(s, k, m)| err(Some(s), Some(k), m.into()))?;
            rules.push(Rule { selector, spec });
        }
        let default = match raw.default {
            None => None,
            Some(d) => Some(
                d.build()
                    .map_err(|(s, k, m)| err(Some(s), Some(k), m.into()))?,
            ),
        };
        // Specs were checked key by key above, so this cannot fail.
        Strategy::new(name, raw.description, rules, default)
    }

    /// TOML text that [`Strategy::parse`] reads back to an equal value.
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut out = format!("name = {}\n", q(&self.name));
        if let Some(d) = &self.description {
            out += &format!("description = {}\n", q(d));
        }
        let spec_lines = |s: &QuantSpec, out: &mut String| {
            *out += &format!("scheme = {}\n", q(&s.scheme.to_string()));
            if s.scheme == Scheme::Keep {
                return;
            }
            *out += &format!("granularity = {}\n", q(&s.granularity.to_string()));
            if s.clipping != Clipping::None {
                *out += &format!("clip = {}\n", q(&s.clipping.to_string()));
            }
            if s.outlier_percent != 0.0 {
                // `{:?}` always prints a decimal point or exponent (a TOML
                // float) and the shortest text that reads back exactly.
                *out += &format!("outliers = {:?}\n", s.outlier_percent);
            }
            if s.rounding != Rounding::Nearest {
                *out += &format!("rounding = {}\n", q(&s.rounding.to_string()));
            }
            if s.scale_type != ScaleType::F16 {
                *out += &format!("scale = {}\n", q(s.scale_type.as_str()));
            }
        };
        for r in &self.rules {
            out += "\n[[rule]]\n";
            let sel = &r.selector;
            match sel.roles.as_slice() {
                [] => {}
                [one] => out += &format!("role = {}\n", q(one.as_str())),
                many => {
                    let list: Vec<String> = many.iter().map(|r| q(r.as_str())).collect();
                    out += &format!("role = [{}]\n", list.join(", "));
                }
            }
            if let Some(g) = &sel.name {
                out += &format!("name = {}\n", q(g.as_str()));
            }
            if let Some(l) = sel.layers {
                out += &format!("layers = {}\n", q(&l.to_string()));
            }
            if let Some(b) = sel.biases {
                out += &format!("biases = {b}\n");
            }
            spec_lines(&r.spec, &mut out);
        }
        if let Some(d) = &self.default {
            out += "\n[default]\n";
            spec_lines(d, &mut out);
        }
        out
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn locate(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn parse_roles(v: &Spanned<toml::Value>) -> Result<Vec<Role>, SelectorError> {
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![s.parse()?]),
        toml::Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                toml::Value::String(s) => s.parse(),
                other => Err(SelectorError::RoleNotText {
                    found: other.type_str(),
                }),
            })
            .collect(),
        toml::Value::Array(_) => Err(SelectorError::EmptyRoleList),
        other => Err(SelectorError::RolesType {
            found: other.type_str(),
        }),
    }
}

fn parse_layers(v: &Spanned<toml::Value>) -> Result<LayerRange, SelectorError> {
    match v.get_ref() {
        toml::Value::String(s) => s.parse(),
        toml::Value::Integer(n) => match u32::try_from(*n) {
            Ok(n) => Ok(LayerRange {
                start: n,
                end: Some(n),
            }),
            Err(_) => Err(SelectorError::LayerOutOfRange { layer: *n }),
        },
        other => Err(SelectorError::LayersType {
            found: other.type_str(),
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    name: Option<Spanned<String>>,
    description: Option<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
    default: Option<RawSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    role: Option<Spanned<toml::Value>>,
    name: Option<Spanned<String>>,
    layers: Option<Spanned<toml::Value>>,
    biases: Option<bool>,
    scheme: Spanned<String>,
    granularity: Option<Spanned<String>>,
    clip: Option<Spanned<String>>,
    outliers: Option<Spanned<f64>>,
    rounding: Option<Spanned<String>>,
    scale: Option<Spanned<String>>,
}

impl RawRule {
    /// The spec keys of a rule; kept as separate fields above because serde
    /// cannot combine `flatten` with `deny_unknown_fields` (or with spans).
    fn spec(&self) -> RawSpec {
        RawSpec {
            scheme: self.scheme.clone(),
            granularity: self.granularity.clone(),
            clip: self.clip.clone(),
            outliers: self.outliers.clone(),
            rounding: self.rounding.clone(),
            scale: self.scale.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    scheme: Spanned<String>,
    granularity: Option<Spanned<String>>,
    clip: Option<Spanned<String>>,
    outliers: Option<Spanned<f64>>,
    rounding: Option<Spanned<String>>,
    scale: Option<Spanned<String>>,
}

type SpanErr = (Range<usize>, &'static str, SpecError);

fn field<T: FromStr<Err = SpecError>>(
    v: &Option<Spanned<String>>,
    key: &'static str,
    default: T,
) -> Result<T, SpanErr> {
    match v {
        None => Ok(default),
        Some(s) => s.get_ref().parse().map_err(|m| (s.span(), key, m)),
    }
}

impl RawSpec {
    fn build(&self) -> Result<QuantSpec, SpanErr> {
        let scheme: Scheme = field(&Some(self.scheme.clone()), "scheme", Scheme::Keep)?;
        let mut spec = QuantSpec::new(scheme)
            .with_granularity(field(
                &self.granularity,
                "granularity",
                Granularity::Channel,
            )?)
            .with_clipping(field(&self.clip, "clip", Clipping::None)?)
            .with_rounding(field(&self.rounding, "rounding", Rounding::Nearest)?)
            .with_scale_type(field(&self.scale, "scale", ScaleType::F16)?);
        if let Some(o) = &self.outliers {
            spec.outlier_percent = *o.get_ref();
            if let Err(m) = QuantSpec::KEEP
                .with_outlier_percent(spec.outlier_percent)
                .validate()
            {
                return Err((o.span(), "outliers", m));
            }
        }
        if let Err(m) = spec.validate() {
            // Only cross-key checks remain; point at the key that adds the
            // conflict rather than at the scheme.
            let span = self.clip.as_ref().map_or(self.scheme.span(), |c| c.span());
            return Err((span, "clip", m));
        }
        Ok(spec)
    }
}

#[cfg(test)]
#[path = "strategy_tests.rs"]
mod tests;
