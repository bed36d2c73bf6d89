//! `edgeplan apply [PLANFILE]`: lock the target, plan (or check a saved plan is still
//! current), confirm, then upload, validate on the box, activate, reload — see
//! [`crate::apply::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::context::{RenderArgs, Terminal};
use super::{Format, Ui};
use crate::apply::run::{self, Outcome, Request};

/// Apply the specs (or a saved plan) to a target: lock, upload, validate on the box, activate
/// atomically, reload
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `edgeplan plan --out-plan`: applied exactly, to its target (unless --target
    /// says otherwise), refused if stale
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,

    #[command(flatten)]
    pub at: RenderArgs,

    /// Apply without asking (needed when standard input is not a terminal)
    #[arg(long)]
    pub auto_approve: bool,

    /// When a probe fails after the reload, keep the new generation active (to look into it)
    /// instead of restoring the previous one
    #[arg(long)]
    pub no_rollback: bool,

    /// Generations to keep on the box, the active one included
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let req = Request {
        inputs: args.at.inputs.options(),
        target: args.at.target.clone(),
        plan_file: args.plan_file.clone(),
        keep: args.keep as usize,
        no_rollback: args.no_rollback,
    };
    match run::run(&req, &mut Terminal::new(ui, args.auto_approve)) {
        Ok(Outcome::NoChanges) => {}
        Ok(Outcome::FinishedPending) => {
            println!("\nApply complete! The interrupted apply is finished.")
        }
        Ok(Outcome::Applied { generation, counts }) => {
            let replaced = if counts.replace > 0 {
                format!(", {} replaced (kept in generation 0)", counts.replace)
            } else {
                String::new()
            };
            println!(
                "\nApply complete! Files: {} added{replaced}, {} changed, {} destroyed. \
                 Generation {generation} is active.",
                counts.add, counts.change, counts.remove
            );
        }
        Err(p) => return ui.fail(&p, Format::Text),
    }
    ExitCode::SUCCESS
}
