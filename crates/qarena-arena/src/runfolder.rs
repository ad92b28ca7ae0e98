//! The run folder: `runs/<run-tag>/{configs,logs,results,manifests}`.
//!
//! Everything a run writes besides the database lives here, so a run can be
//! inspected, shipped or pruned as one directory.

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct RunFolder {
    pub root: PathBuf,
}

impl RunFolder {
    /// Creates (or reuses, on resume) the folder tree for `tag` under `runs_dir`.
    pub fn create(runs_dir: &Path, tag: &str) -> std::io::Result<RunFolder> {
        let root = runs_dir.join(tag);
        for sub in ["configs", "logs", "results", "manifests"] {
            fs_err::create_dir_all(root.join(sub))?;
        }
        Ok(RunFolder { root })
    }

    pub fn configs(&self) -> PathBuf {
        self.root.join("configs")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }
    pub fn manifests(&self) -> PathBuf {
        self.root.join("manifests")
    }

    /// Writes pretty JSON, replacing the file atomically (write + rename) so
    /// a crash never leaves half a file.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        fs_err::write(&tmp, text + "\n")?;
        fs_err::rename(&tmp, path)
    }
}

/// Facts about the machine and software, written to `manifests/environment.json`.
#[derive(Debug, Serialize)]
pub struct Environment {
    pub qarena_version: String,
    pub os: String,
    pub arch: String,
    pub kernel: Option<String>,
    pub cpu: Option<String>,
    pub cpus: usize,
}

impl Environment {
    pub fn capture() -> Environment {
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                    l.trim_start_matches("PRETTY_NAME=")
                        .trim_matches('"')
                        .to_string()
                })
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        Environment {
            qarena_version: env!("CARGO_PKG_VERSION").to_string(),
            os,
            arch: std::env::consts::ARCH.to_string(),
            kernel,
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}
