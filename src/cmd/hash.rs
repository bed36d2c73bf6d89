//! `edgeplan hash`: print the input hash of the specs, templates and colours in effect.

use std::process::ExitCode;

use super::build::Inputs;
use super::{Format, Ui};

/// Print the input hash (specs, templates, version, active colours)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,

    /// Print the tree hash of the rendered output instead
    #[arg(long)]
    pub tree: bool,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    match crate::build(&args.inputs.options()) {
        Ok(b) => {
            println!(
                "{}",
                if args.tree {
                    &b.manifest.tree_hash
                } else {
                    &b.input_hash
                }
            );
            ExitCode::SUCCESS
        }
        Err(p) => ui.fail(&p, Format::Text),
    }
}
