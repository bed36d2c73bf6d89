//! Saved plans (`plan --out-plan FILE`, `apply FILE`): the plan's changes plus everything apply
//! needs to apply exactly what was reviewed — the rendered files, their manifest and model
//! summary — bound to the build's tree hash and to the hash of the box state the plan was made
//! against. A plan file holds the rendered files in clear; treat it like the config itself.
//! Format: `docs/plan.md`.

use std::collections::BTreeMap;
use std::path::Path;

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::semantic::ModelSummary;
use super::{Action, Counts, Plan};
use crate::hash;
use crate::output::Manifest;
use crate::render::{Rendered, RenderedFile};

/// Version of the plan file format.
pub const PLAN_FORMAT_VERSION: u32 = 1;
/// `kind` of a plan file.
pub const PLAN_KIND: &str = "edgeplan-plan";

/// A problem with a plan file.
#[derive(Debug, Error, Diagnostic)]
pub enum PlanFileError {
    /// Reading or writing failed.
    #[error("cannot {action} plan file {path}: {message}")]
    #[diagnostic(code(edgeplan::plan::io))]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// Path.
        path: String,
        /// OS message.
        message: String,
    },
    /// Not a plan file, or damaged.
    #[error("{path} is not a usable edgeplan plan: {message}")]
    #[diagnostic(
        code(edgeplan::plan::invalid),
        help("make a new one with `edgeplan plan --out-plan FILE`")
    )]
    Invalid {
        /// Path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One planned change in a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedChange {
    /// `create`, `update` or `delete`.
    pub action: String,
    /// Path.
    pub path: String,
}

/// The plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// [`PLAN_KIND`].
    pub kind: String,
    /// edgeplan version that made it.
    pub edgeplan_version: String,
    /// Target name.
    pub target: String,
    /// Build input hash.
    pub input_hash: String,
    /// Build tree hash (the manifest's).
    pub tree_hash: String,
    /// Hash of the box state the plan was made against.
    pub state_hash: String,
    /// Active generation then.
    pub base_generation: Option<u64>,
    /// Counts.
    pub summary: SavedCounts,
    /// Planned changes.
    pub changes: Vec<SavedChange>,
    /// The build's manifest.
    pub manifest: Manifest,
    /// The build's model summary (stored on the box at apply).
    pub model: ModelSummary,
    /// Rendered files: path → content.
    pub files: BTreeMap<String, String>,
}

/// Counts in a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCounts {
    /// Files added.
    pub add: usize,
    /// Files changed.
    pub change: usize,
    /// Files removed.
    pub remove: usize,
    /// Files edgeplan did not write, replaced (absent from plans of older versions).
    #[serde(default)]
    pub replace: usize,
}

impl From<Counts> for SavedCounts {
    fn from(c: Counts) -> Self {
        SavedCounts {
            add: c.add,
            change: c.change,
            remove: c.remove,
            replace: c.replace,
        }
    }
}

impl SavedPlan {
    /// The plan file of `plan` made from `build`.
    pub fn new(plan: &Plan, build: &crate::Build) -> SavedPlan {
        SavedPlan {
            format_version: PLAN_FORMAT_VERSION,
            kind: PLAN_KIND.into(),
            edgeplan_version: env!("CARGO_PKG_VERSION").into(),
            target: plan.target.clone(),
            input_hash: plan.input_hash.clone(),
            tree_hash: plan.tree_hash.clone(),
            state_hash: plan.state_hash.clone(),
            base_generation: plan.base.as_ref().map(|b| b.generation),
            summary: plan.counts().into(),
            changes: plan
                .changes
                .iter()
                .map(|c| SavedChange {
                    action: match c.action {
                        Action::Create => "create",
                        Action::Update => "update",
                        Action::Delete => "delete",
                        Action::Replace => "replace",
                    }
                    .into(),
                    path: c.path.clone(),
                })
                .collect(),
            manifest: build.manifest.clone(),
            model: plan.model.clone(),
            files: build
                .rendered
                .files
                .iter()
                .map(|(p, f)| (p.clone(), String::from_utf8_lossy(&f.content).into_owned()))
                .collect(),
        }
    }

    /// Write it (mode 0600: it holds the rendered files).
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let json = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::output::write_atomic(path, json.as_bytes(), 0o600).map_err(|e| PlanFileError::Io {
            action: "write",
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Read and check a plan file: format, and that its files are exactly its manifest.
    pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Io {
            action: "read",
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| PlanFileError::Invalid {
            path: shown.clone(),
            message,
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if v.get("kind").and_then(|k| k.as_str()) != Some(PLAN_KIND) {
            return Err(invalid(format!("its `kind` is not `{PLAN_KIND}`")));
        }
        let version = v.get("format_version").and_then(|k| k.as_u64());
        if version != Some(u64::from(PLAN_FORMAT_VERSION)) {
            return Err(invalid(format!(
                "format_version {version:?} is not supported (expected {PLAN_FORMAT_VERSION})"
            )));
        }
        let plan: SavedPlan = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
        let manifest = Manifest::parse(&plan.manifest.to_json()).map_err(invalid)?;
        if manifest.tree_hash != plan.tree_hash {
            return Err(invalid("its manifest is not for its tree hash".into()));
        }
        let listed: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        let held: Vec<&str> = plan.files.keys().map(String::as_str).collect();
        if listed != held {
            return Err(invalid("its files are not those of its manifest".into()));
        }
        for f in &manifest.files {
            if hash::content_hash(plan.files[&f.path].as_bytes()) != f.blake3 {
                return Err(invalid(format!("file {} does not match its hash", f.path)));
            }
        }
        Ok(plan)
    }

    /// The rendered files (without check copies, see [`Rendered::checks`]).
    pub fn rendered(&self) -> Rendered {
        Rendered {
            files: self
                .manifest
                .files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        RenderedFile {
                            mode: f.mode_bits().unwrap_or(0o644),
                            content: self.files[&f.path].as_bytes().to_vec(),
                        },
                    )
                })
                .collect(),
            // The check copies are not saved: `apply` takes them from the current build,
            // whose tree hash it checked equals the plan's.
            checks: Default::default(),
        }
    }
}
