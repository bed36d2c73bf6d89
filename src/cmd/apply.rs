//! `edgeplan apply [PLANFILE]`: lock the target, plan (or check a saved plan is still
//! current), confirm, then upload, validate on the box, activate, reload — see [`crate::apply`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::build::Inputs;
use super::{Format, Ui};
use crate::apply::{self, ApplyError, Candidate};
use crate::colors;
use crate::diag::Problems;
use crate::plan::{self, saved::SavedPlan, show};
use crate::transport::{self, BoxClient};

/// Apply the specs (or a saved plan) to a target: lock, upload, validate on the box, activate
/// atomically, reload
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `edgeplan plan --out-plan`: applied exactly, refused if stale
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,

    #[command(flatten)]
    pub inputs: Inputs,

    /// Target to apply to (default: the saved plan's, or the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,

    /// Apply without asking (needed when standard input is not a terminal)
    #[arg(long)]
    pub auto_approve: bool,

    /// Generations to keep on the box, the active one included
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
}

/// Ask `question` on the terminal; true for `yes`.
pub fn confirm(question: &str, what: &'static str) -> Result<(), ApplyError> {
    if !std::io::stdin().is_terminal() {
        return Err(ApplyError::NeedsApproval {
            what: if what == "Apply" {
                "apply"
            } else {
                "roll back"
            },
        });
    }
    print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        println!();
        Ok(())
    } else {
        Err(ApplyError::Cancelled { what })
    }
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    match run_inner(&args, ui) {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, Format::Text),
    }
}

fn run_inner(args: &Args, ui: Ui) -> Result<(), Problems> {
    let saved = match &args.plan_file {
        Some(p) => Some(SavedPlan::read(p).map_err(Problems::one)?),
        None => None,
    };
    let loaded = crate::load_inputs(&args.inputs.options())?;
    let build = loaded.build(&[])?;
    let name = args
        .target
        .as_deref()
        .or(saved.as_ref().map(|s| s.target.as_str()));
    let target = &transport::select(&build.edge, name)
        .map_err(Problems::one)?
        .clone();
    if let Some(s) = &saved
        && s.target != target.name.as_str()
    {
        return Err(Problems::one(ApplyError::StalePlan {
            reason: format!(
                "it was made for target `{}`, not `{}`",
                s.target, target.name
            ),
        }));
    }
    let mut t = transport::open(target, &args.inputs.specs).map_err(Problems::one)?;
    super::target::under_lock(&mut t, "apply", |t| {
        locked(args, ui, &loaded, build, target, saved.as_ref(), t)
    })
}

#[allow(clippy::too_many_arguments)]
fn locked(
    args: &Args,
    ui: Ui,
    loaded: &crate::Loaded,
    build: crate::Build,
    target: &crate::model::Target,
    saved: Option<&SavedPlan>,
    t: &mut BoxClient,
) -> Result<(), Problems> {
    let state = t
        .read_state(&crate::plan::probe(&build))
        .map_err(Problems::one)?;
    // The colours the box runs (read under the lock) are inputs of the build: a plain apply
    // keeps them.
    let box_colors = colors::read(&build.edge, &state, t.target()).map_err(Problems::one)?;
    let build = &colors::with_box_colors(loaded, build, &box_colors)?;
    let mut plan = plan::make_from(build, t, &state).map_err(Problems::one)?;
    // The state was read under this apply's own lock: not a note for the reader.
    plan.lock = None;
    match saved {
        Some(s) => {
            if s.state_hash != plan.state_hash {
                return Err(Problems::one(ApplyError::StalePlan {
                    reason: format!(
                        "target `{}` changed since the plan was made (generation then {}, now {})",
                        target.name,
                        s.base_generation.map_or("none".into(), |g| g.to_string()),
                        state.generation.map_or("none".into(), |g| g.to_string()),
                    ),
                }));
            }
            if s.tree_hash != build.manifest.tree_hash {
                return Err(Problems::one(ApplyError::StalePlan {
                    reason: "the build changed since the plan was made (its tree hash differs)"
                        .into(),
                }));
            }
            println!(
                "Applying the saved plan {}: {}",
                args.plan_file
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                show::closing_line(&plan)
            );
        }
        None => {
            print!("{}", show::text(&plan, ui.color_out));
            if plan.has_changes() && !args.auto_approve {
                confirm(
                    &format!(
                        "Do you want to perform these actions on target {}?",
                        target.name
                    ),
                    "Apply",
                )
                .map_err(Problems::one)?;
            }
        }
    }
    if !plan.has_changes() {
        return Ok(());
    }
    let mut log = |line: String| println!("{line}");
    let keep = args.keep as usize;
    if plan.changes.is_empty() {
        apply::finish_pending(
            t,
            target,
            &build.edge.admin.endpoint,
            state.generation,
            keep,
            &mut log,
        )
        .map_err(Problems::one)?;
        println!("\nApply complete! The interrupted apply is finished.");
        return Ok(());
    }
    let from_plan = saved.map(SavedPlan::rendered);
    let candidate = Candidate {
        manifest: saved.map_or(&build.manifest, |s| &s.manifest),
        rendered: from_plan.as_ref().unwrap_or(&build.rendered),
        model: saved.map_or(&plan.model, |s| &s.model),
    };
    let n = apply::apply(
        t,
        target,
        &build.edge.admin.endpoint,
        state.generation,
        &state.expected(),
        &candidate,
        keep,
        &mut log,
    )
    .map_err(Problems::one)?;
    let c = plan.counts();
    let replaced = if c.replace > 0 {
        format!(", {} replaced (kept in generation 0)", c.replace)
    } else {
        String::new()
    };
    println!(
        "\nApply complete! Files: {} added{replaced}, {} changed, {} destroyed. Generation {n} is active.",
        c.add, c.change, c.remove
    );
    Ok(())
}
