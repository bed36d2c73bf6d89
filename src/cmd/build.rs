//! `edgeplan build`: render the specs into the out dir (or check that it is fresh).

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Format, Ui};
use crate::diag::Problems;
use crate::output::{self, OutputError};

/// Render the specs into an output tree with a manifest
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,

    /// Output directory (files at their paths on the box, plus manifest.json)
    #[arg(long, default_value = "out")]
    pub out: PathBuf,

    /// Write nothing; exit 1 with a summary if the out dir is not exactly what would be rendered
    #[arg(long)]
    pub check: bool,

    /// Output format of diagnostics
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The inputs of a build, shared by every command that builds.
#[derive(Debug, Clone, clap::Args)]
pub struct Inputs {
    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Directory of template overrides (files named like the embedded templates)
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

impl Inputs {
    /// Build options without colour overrides.
    pub fn options(&self) -> crate::BuildOptions {
        crate::BuildOptions {
            specs: self.specs.clone(),
            templates: self.templates.clone(),
            colors: Vec::new(),
        }
    }
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let prepared = match crate::prepare(&args.inputs.options()) {
        Ok(p) => p,
        Err(p) => return ui.fail(&p, args.format),
    };
    let out_shown = args.out.display().to_string();
    // Always rendered, never trusted from the manifest's input hash: the hash covers the
    // specs, templates and edgeplan's version, not its code, so a renderer change within one
    // version would otherwise pass `--check` with a stale tree. Rendering takes milliseconds;
    // an unchanged tree is not written again.
    let build = match prepared.render() {
        Ok(b) => b,
        Err(p) => return ui.fail(&p, args.format),
    };
    if args.check {
        let diff = output::diff(&args.out, &build.rendered, &build.manifest);
        if diff.is_empty() {
            println!(
                "{out_shown} is up to date (tree {})",
                &build.manifest.tree_hash[..16]
            );
            return ExitCode::SUCCESS;
        }
        let e = OutputError::Stale {
            dir: out_shown,
            count: diff.len(),
            summary: diff.join("\n"),
        };
        return ui.fail(&Problems::one(e), args.format);
    }
    match output::write(&args.out, &build.rendered, &build.manifest) {
        Ok(r) if r.unchanged => println!(
            "{out_shown} is up to date (input {})",
            &build.input_hash[..16]
        ),
        Ok(r) => {
            for p in &r.written {
                println!("  wrote {p}");
            }
            for p in &r.removed {
                println!("  removed {p}");
            }
            println!(
                "built {out_shown}: {} files, input {}, tree {}",
                build.manifest.files.len(),
                &build.input_hash[..16],
                &build.manifest.tree_hash[..16]
            );
        }
        Err(e) => return ui.fail(&Problems::one(e), args.format),
    }
    ExitCode::SUCCESS
}
