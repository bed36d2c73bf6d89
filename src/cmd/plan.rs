//! `edgeplan plan`: build, compare with a target's box, show what apply would change.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::context::RenderArgs;
use super::{Format, Ui};
use crate::diag::Problems;
use crate::plan::{self, saved::SavedPlan, show};

/// Show what `apply` would change on a target (files, hosts, certificates, drift)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub at: RenderArgs,

    /// Save the plan to FILE, for `edgeplan apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out_plan: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// `--format` values of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Human-readable text
    Text,
    /// A versioned JSON document for CI (docs/plan.md)
    Json,
    /// Markdown for a pull-request comment
    Markdown,
}

impl PlanFormat {
    /// How errors are shown.
    pub fn diagnostics(self) -> Format {
        match self {
            PlanFormat::Json => Format::Json,
            _ => Format::Text,
        }
    }
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let fmt = args.format.diagnostics();
    let made = args.at.session().and_then(|mut s| plan::against(&mut s));
    let (build, plan) = match made {
        Ok(x) => x,
        Err(p) => return ui.fail(&p, fmt),
    };
    if let Some(path) = &args.out_plan
        && let Err(e) = SavedPlan::new(&plan, &build).write(path)
    {
        return ui.fail(&Problems::one(e), fmt);
    }
    match args.format {
        PlanFormat::Text => print!("{}", show::text(&plan, ui.color_out)),
        PlanFormat::Json => print!("{}", show::json(&plan)),
        PlanFormat::Markdown => print!("{}", show::markdown(&plan)),
    }
    if let Some(path) = &args.out_plan
        && args.format == PlanFormat::Text
    {
        println!(
            "\nSaved the plan to {}. To apply exactly it: edgeplan apply {}",
            path.display(),
            path.display()
        );
    }
    if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
