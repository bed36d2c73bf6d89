//! `edgeplan switch ENV COLOR`: move one env's traffic to a colour — see [`crate::switch`].

use std::process::ExitCode;

use super::context::{RenderArgs, Terminal};
use super::{Format, Ui};
use crate::switch::{self, Outcome, Release};

/// Move one env's traffic to a colour: render the specs with it, validate on the box, activate,
/// hand traffic over, reload, check, record
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The env, as the specs name it
    pub env: String,

    /// The colour to take the env's traffic: blue or green
    #[arg(value_name = "COLOR")]
    pub new_color: String,

    /// A canary: send PERCENT (1–99) of new sessions to COLOR and keep both colours in
    /// rotation; repeat with another PERCENT to change it, switch without it to complete
    #[arg(long, value_name = "PERCENT")]
    pub weight: Option<u32>,

    /// Release the colour runs (a commit SHA, a tag), recorded in the env's history
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,

    /// Before traffic moves, wait up to DURATION for every instance of the new colour to pass
    /// its health check from the box (default: one try)
    #[arg(long, value_name = "DURATION", value_parser = super::context::parse_duration, default_value = "0s")]
    pub wait: std::time::Duration,

    /// Switch without the health gate (said in the env's history)
    #[arg(long, conflicts_with = "wait")]
    pub force: bool,

    /// When a probe of the env fails after the reload, keep the new colour active (to look
    /// into it) instead of rolling back
    #[arg(long)]
    pub no_rollback: bool,

    #[command(flatten)]
    pub at: RenderArgs,

    /// Generations to keep on the box, the active one included
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let mut term = Terminal::new(ui, true);
    let done = args.at.session().and_then(|mut s| {
        term.before_plan = Some(format!(
            "Switching env {} to {}{} on target {}:",
            args.env,
            args.new_color,
            args.weight.map_or(String::new(), |w| format!(
                " (canary: {w} % of new sessions)"
            )),
            s.target().name
        ));
        let target = s.target().name.to_string();
        let switched = switch::run(
            &mut s,
            &args.env,
            &args.new_color,
            args.weight,
            args.release.as_deref(),
            &switch::Options {
                gate: (!args.force).then_some(args.wait),
                no_rollback: args.no_rollback,
                keep: args.keep as usize,
            },
            &mut term,
        )?;
        Ok((target, switched))
    });
    let (target, (req, outcome)) = match done {
        Ok(x) => x,
        Err(p) => return ui.fail(&p, Format::Text),
    };
    let env = &req.env;
    let shown = |r: Option<Release>| r.map_or(String::new(), |r| format!(" (release {r})"));
    let done = if req.percent.is_some() {
        "Canary set"
    } else {
        "Switch complete"
    };
    match outcome {
        Outcome::AlreadyActive { serving, release } => println!(
            "Env {env} is already {}{} on target {target}: nothing to do.",
            serving.describe(),
            shown(release)
        ),
        Outcome::Switched {
            from,
            to,
            release,
            generation,
        } => println!(
            "\n{done}! {env}: {} → {}{}. Generation {generation} is active.",
            from.describe(),
            to.describe(),
            shown(release)
        ),
        Outcome::Recorded { from, to, release } => println!(
            "\n{done}! {env}: {} → {}{} (the box already served {}; recorded).",
            from.describe(),
            to.describe(),
            shown(release),
            to.describe()
        ),
    }
    ExitCode::SUCCESS
}
