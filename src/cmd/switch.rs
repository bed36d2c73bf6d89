//! `edgeplan switch ENV COLOR`: move one env's traffic to a colour — see [`crate::switch`].

use std::process::ExitCode;

use super::build::Inputs;
use super::{Format, Ui};
use crate::diag::Problems;
use crate::switch::{self, Action, Outcome, Release, Request};

/// Move one env's traffic to a colour: render the specs with it, validate on the box, activate,
/// hand traffic over, reload, check, record
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The env, as the specs name it
    pub env: String,

    /// The colour to take the env's traffic: blue or green
    #[arg(value_name = "COLOR")]
    pub new_color: String,

    /// Release the colour runs (a commit SHA, a tag), recorded in the env's history
    #[arg(long, value_name = "ID")]
    pub release: Option<String>,

    #[command(flatten)]
    pub inputs: Inputs,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,

    /// Generations to keep on the box, the active one included
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    match run_inner(&args, ui) {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, Format::Text),
    }
}

fn run_inner(args: &Args, ui: Ui) -> Result<(), Problems> {
    let opts = args.inputs.options();
    let loaded = crate::load_inputs(&opts)?;
    let edge = &loaded.edge;
    // Every problem with the arguments at once.
    let env = switch::find_env(edge, &args.env);
    let color = switch::parse_color(&args.new_color);
    let release = args
        .release
        .as_deref()
        .map(|r| Release::parse(r).map_err(switch::SwitchError::from))
        .transpose();
    let (env, color, release) = match (env, color, release) {
        (Ok(e), Ok(c), Ok(r)) => (e, c, r),
        (e, c, r) => {
            let mut p = Problems(Vec::new());
            for err in [e.err(), c.err(), r.err()].into_iter().flatten() {
                p.0.push(Box::new(err));
            }
            return Err(p);
        }
    };
    let (target, mut t) = super::target::open_target(edge, args.target.as_deref(), &opts.specs)?;
    let req = Request {
        env: env.clone(),
        color,
        release: release.clone(),
        action: Action::Switch,
    };
    let mut out = |text: String| {
        println!(
            "Switching env {env} to {color} on target {}:\n",
            target.name
        );
        print!("{text}");
    };
    let mut log = |line: String| println!("{line}");
    let outcome = super::target::under_lock(&mut t, "switch", |t| {
        switch::switch(
            &loaded,
            target,
            t,
            &req,
            args.keep as usize,
            ui.color_out,
            &mut out,
            &mut log,
        )
    })?;
    let rel = |r: &Option<Release>| {
        r.as_ref()
            .map_or(String::new(), |r| format!(" (release {r})"))
    };
    match outcome {
        Outcome::AlreadyActive { release: now } => println!(
            "Env {env} is already {color}{} on target {}: nothing to do.",
            rel(&now),
            target.name
        ),
        Outcome::Switched { from, generation } => println!(
            "\nSwitch complete! {env}: {from} → {color}{}. Generation {generation} is active.",
            rel(&release)
        ),
        Outcome::Recorded { from } => println!(
            "\nSwitch complete! {env}: {from} → {color}{} (the box already served {color}; \
             recorded).",
            rel(&release)
        ),
    }
    Ok(())
}
