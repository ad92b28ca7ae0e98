//! What can go wrong while reading a suite or probing a network.

use std::path::PathBuf;

/// A probe failure, naming the file, line or engine at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("suite {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A suite file that is not a suite; `line` is 1-based (0: the file as a whole).
    #[error("suite {name}, line {line}: {why}")]
    Suite {
        name: String,
        line: usize,
        why: String,
    },
    /// The engine could not be started or failed while answering.
    #[error("probe engine '{label}': {source}")]
    Engine {
        label: String,
        source: qarena_engine::EngineError,
    },
    /// The engine failed while answering for one position (0-based).
    #[error("probe engine '{label}', position {position}: {source}")]
    EngineAt {
        label: String,
        position: usize,
        source: Box<qarena_engine::EngineError>,
    },
    /// The engine answered something the probe cannot read.
    #[error("probe engine '{label}', position {position}: {why}")]
    BadAnswer {
        label: String,
        position: usize,
        why: String,
    },
    /// The suite is for another kind of model (a chess suite for a Go net).
    #[error("suite {suite} holds {suite_kind} positions, but {model} is a {model_kind} model")]
    WrongKind {
        suite: String,
        suite_kind: &'static str,
        model: String,
        model_kind: &'static str,
    },
    /// The two sides of a comparison answered for different positions.
    #[error(
        "the reference and the variant answered {reference} and {variant} positions of one suite"
    )]
    Mismatch { reference: usize, variant: usize },
    /// The engine did not evaluate with the network it was given.
    #[error("network {net} was not loaded by the probe engine: {detail}")]
    NetRejected { net: PathBuf, detail: String },
    /// Nothing was left to compare (e.g. every position was in check).
    #[error("nothing to compare: {why}")]
    NothingToCompare { why: String },
    /// The engine refused or garbled a command that is not about one
    /// position (set-up, self-play).
    #[error("probe engine '{label}': {why}")]
    Protocol { label: String, why: String },
    /// A probe or generator set up with values it cannot use.
    #[error("{0}")]
    Setup(String),
    #[error("interrupted")]
    Interrupted,
}

impl ProbeError {
    /// The probe was stopped on request (Ctrl-C): nothing about the model.
    pub fn is_interrupted(&self) -> bool {
        let stopped = |e: &qarena_engine::EngineError| {
            matches!(e, qarena_engine::EngineError::Stopped { .. })
        };
        match self {
            ProbeError::Interrupted => true,
            ProbeError::Engine { source, .. } => stopped(source),
            ProbeError::EngineAt { source, .. } => stopped(source),
            _ => false,
        }
    }

    /// The engine missed a deadline.
    pub fn is_timeout(&self) -> bool {
        let timeout = |e: &qarena_engine::EngineError| {
            matches!(e, qarena_engine::EngineError::Timeout { .. })
        };
        match self {
            ProbeError::Engine { source, .. } => timeout(source),
            ProbeError::EngineAt { source, .. } => timeout(source),
            _ => false,
        }
    }

    /// The engine failed (could not start, crashed, timed out, refused the
    /// net or broke the protocol), as opposed to bad input.
    pub fn is_engine_failure(&self) -> bool {
        matches!(
            self,
            ProbeError::Engine { .. }
                | ProbeError::EngineAt { .. }
                | ProbeError::BadAnswer { .. }
                | ProbeError::Protocol { .. }
                | ProbeError::NetRejected { .. }
        ) && !self.is_interrupted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qarena_engine::EngineError;
    use std::time::Duration;

    #[test]
    fn failures_are_told_apart_by_kind_not_text() {
        let timeout = || EngineError::Timeout {
            label: "k".into(),
            program: "katago".into(),
            waited: Duration::from_secs(1),
            what: "kata-raw-nn".into(),
        };
        let stopped = || EngineError::Stopped {
            label: "k".into(),
            program: "katago".into(),
            after: Duration::from_secs(1),
        };
        let at = |e| ProbeError::EngineAt {
            label: "k".into(),
            position: 3,
            source: Box::new(e),
        };
        assert!(at(timeout()).is_timeout());
        assert!(at(timeout()).is_engine_failure());
        assert!(at(stopped()).is_interrupted());
        assert!(!at(stopped()).is_engine_failure());
        assert!(ProbeError::Interrupted.is_interrupted());
        let suite = ProbeError::Setup("x".into());
        assert!(!suite.is_engine_failure() && !suite.is_timeout() && !suite.is_interrupted());
    }
}
