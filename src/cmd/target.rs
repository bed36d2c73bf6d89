//! `--specs` and `--target`, and what every command that talks to a box does first: load the
//! specs once, pick the target, open its transport ([`Opened`]). One place instead of one copy
//! per command.

use std::path::{Path, PathBuf};

use crate::diag::Problems;
use crate::model::{Edge, Target};
use crate::transport::{self, Transport};

/// Where the specs and the box are.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,
}

impl TargetArgs {
    /// Load the specs, select the target, open its transport.
    ///
    /// # Errors
    /// Invalid specs, an unknown or ambiguous target, a transport that cannot start.
    pub fn open(&self) -> Result<Opened, Problems> {
        let (_, edge) = crate::load(&self.specs)?;
        Opened::new(edge, self.target.as_deref(), &self.specs)
    }
}

/// The specs, loaded once, and the chosen target's box.
pub struct Opened {
    /// The checked model.
    pub edge: Edge,
    /// The target's name (a key of `edge.targets`).
    target: crate::model::Ident,
    /// Its transport.
    pub t: Box<dyn Transport>,
}

impl Opened {
    /// Select `target` of `edge` (loaded from `specs`) and open its transport.
    ///
    /// # Errors
    /// An unknown or ambiguous target, a transport that cannot start.
    pub fn new(edge: Edge, target: Option<&str>, specs: &Path) -> Result<Opened, Problems> {
        let chosen = transport::select(&edge, target).map_err(Problems::one)?;
        let t = transport::open(chosen, specs).map_err(Problems::one)?;
        let target = chosen.name.clone();
        Ok(Opened { edge, target, t })
    }

    /// The chosen target.
    pub fn target(&self) -> &Target {
        &self.edge.targets[&self.target]
    }
}
