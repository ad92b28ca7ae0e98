//! The tensor catalogue types shared by model formats and quantizers.
//!
//! A model format (crate `qarena-models`) describes each weight tensor with a
//! [`TensorInfo`]; quantizers select tensors by [`Role`], name and layer and
//! operate on `f32` values. Formats that store integers (Stockfish NNUE) hand
//! out their integers as `f32` and say so in [`StorageType`], so quantizers
//! work "in the integer domain" and the writer rounds back.

use serde::{Deserialize, Serialize};

use crate::error::SelectorError;

/// What a tensor does in the network; strategies select by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// First layer(s) that read the input planes (KataGo initial conv).
    Stem,
    /// Residual trunk block (not among the last N).
    Trunk,
    /// One of the last N trunk blocks.
    Late,
    PolicyHead,
    ValueHead,
    /// NNUE feature transformer weights and biases.
    FeatureTransformer,
    /// NNUE PSQT weights.
    Psqt,
    /// NNUE first affine layer of a layer stack.
    Fc0,
    Fc1,
    Fc2,
    Embedding,
    Attention,
    Mlp,
    Norm,
    LmHead,
    /// Anything a format cannot classify.
    Other,
}

impl Role {
    pub const ALL: [Role; 16] = [
        Role::Stem,
        Role::Trunk,
        Role::Late,
        Role::PolicyHead,
        Role::ValueHead,
        Role::FeatureTransformer,
        Role::Psqt,
        Role::Fc0,
        Role::Fc1,
        Role::Fc2,
        Role::Embedding,
        Role::Attention,
        Role::Mlp,
        Role::Norm,
        Role::LmHead,
        Role::Other,
    ];

    /// The snake_case name used in strategies, tables and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stem => "stem",
            Role::Trunk => "trunk",
            Role::Late => "late",
            Role::PolicyHead => "policy_head",
            Role::ValueHead => "value_head",
            Role::FeatureTransformer => "feature_transformer",
            Role::Psqt => "psqt",
            Role::Fc0 => "fc_0",
            Role::Fc1 => "fc_1",
            Role::Fc2 => "fc_2",
            Role::Embedding => "embedding",
            Role::Attention => "attention",
            Role::Mlp => "mlp",
            Role::Norm => "norm",
            Role::LmHead => "lm_head",
            Role::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::str::FromStr for Role {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Role, SelectorError> {
        Role::parse(s).ok_or_else(|| SelectorError::UnknownRole {
            text: s.to_string(),
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the format stores a tensor's elements on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageType {
    F32,
    F16,
    Bf16,
    I8,
    I16,
    I32,
}

impl StorageType {
    pub fn bits(self) -> u32 {
        match self {
            StorageType::I8 => 8,
            StorageType::F16 | StorageType::Bf16 | StorageType::I16 => 16,
            StorageType::F32 | StorageType::I32 => 32,
        }
    }
    /// Integer storage: quantizers must produce integral values in range.
    pub fn is_integer(self) -> bool {
        matches!(self, StorageType::I8 | StorageType::I16 | StorageType::I32)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::F32 => "f32",
            StorageType::F16 => "f16",
            StorageType::Bf16 => "bf16",
            StorageType::I8 => "i8",
            StorageType::I16 => "i16",
            StorageType::I32 => "i32",
        }
    }
}

/// One weight tensor of a model, as listed by `qarena inspect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// Unique, stable name within the model (e.g. `trunk.block3.conv1.w`).
    pub name: String,
    /// Shape with the output axis first: `[out, in, ...]` for matrices and
    /// convolutions (`[out_c, in_c, kh, kw]`), `[n]` for vectors.
    pub shape: Vec<usize>,
    pub dtype: StorageType,
    pub role: Role,
    /// Block / layer / stack index where the format has one.
    pub layer: Option<u32>,
    /// True for biases, norms and other vectors that strategies usually keep.
    pub is_bias: bool,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn bytes(&self) -> u64 {
        self.numel() as u64 * u64::from(self.dtype.bits()) / 8
    }
}
