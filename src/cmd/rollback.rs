//! `edgeplan rollback [--to GEN]`: re-activate an earlier generation kept on the box;
//! `edgeplan rollback --env ENV`: switch one env back to the colour and release of its previous
//! switch (see [`crate::switch`]).

use std::path::PathBuf;
use std::process::ExitCode;

use super::apply::confirm;
use super::{Format, Ui};
use crate::apply::{self, ApplyError};
use crate::diag::Problems;
use crate::switch;
use crate::transport::{BoxClient, parse_sha256_list};

/// Re-activate an earlier generation (validated, activated atomically, reloaded, checked)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub at: super::target::TargetArgs,

    /// Generation to re-activate (default: the newest one older than the active one)
    #[arg(long, value_name = "GEN", conflicts_with = "env")]
    pub to: Option<u64>,

    /// Fast rollback of one env: switch it back to the colour and release of its previous
    /// switch, leaving the other envs alone
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,

    /// Directory of template overrides (with --env, which renders the specs)
    #[arg(long, requires = "env")]
    pub templates: Option<PathBuf>,

    /// Roll back without asking (needed when standard input is not a terminal)
    #[arg(long)]
    pub auto_approve: bool,

    /// Generations to keep on the box, the active one included
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let result = (|| -> Result<(), Problems> {
        let loaded = crate::load_inputs(&crate::BuildOptions {
            specs: args.at.specs.clone(),
            templates: args.templates.clone(),
            colors: Vec::new(),
        })?;
        let edge = &loaded.edge;
        let env = match &args.env {
            Some(e) => Some(switch::find_env(edge, e).map_err(Problems::one)?),
            None => None,
        };
        let (target, mut t) =
            super::target::open_target(edge, args.at.target.as_deref(), &args.at.specs)?;
        super::target::under_lock(&mut t, "rollback", |t| match &env {
            Some(env) => fast(&args, ui, &loaded, env, target, t),
            None => locked(&args, edge, target, t),
        })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, Format::Text),
    }
}

/// `--env`: a switch back to the previous history entry of the env.
fn fast(
    args: &Args,
    ui: Ui,
    loaded: &crate::Loaded,
    env: &crate::model::Ident,
    target: &crate::model::Target,
    t: &mut BoxClient,
) -> Result<(), Problems> {
    let edge = &loaded.edge;
    let state = t.read_state(&[]).map_err(Problems::one)?;
    let colors = switch::read(edge, &state, t.target()).map_err(Problems::one)?;
    let prev = colors.get(env);
    let (color, release) = switch::rollback_target(prev, env, t.target()).map_err(Problems::one)?;
    let now = prev.map_or(String::new(), |s| {
        format!(
            "{}{}",
            s.color,
            s.release
                .as_ref()
                .map_or(String::new(), |r| format!(" (release {r})"))
        )
    });
    let to = format!(
        "{color}{}",
        release
            .as_ref()
            .map_or(String::new(), |r| format!(" (release {r})"))
    );
    println!(
        "Rolling back env {env} on target {} from {now} to {to}:",
        target.name
    );
    if !args.auto_approve {
        confirm(
            &format!("Roll back env {env} on target {} to {to}?", target.name),
            "Rollback",
        )
        .map_err(Problems::one)?;
    }
    let req = switch::Request {
        env: env.clone(),
        color,
        release,
        action: switch::Action::Rollback,
    };
    let mut out = |text: String| print!("{text}");
    let mut log = |line: String| println!("{line}");
    let outcome = switch::switch(
        loaded,
        target,
        t,
        &req,
        args.keep as usize,
        ui.color_out,
        &mut out,
        &mut log,
    )?;
    match outcome {
        switch::Outcome::Switched { generation, .. } => println!(
            "\nRollback complete! {env}: {} → {to}. Generation {generation} is active.",
            prev.map_or("?".into(), |s| s.color.to_string())
        ),
        _ => println!("\nRollback complete! {env} is at {to}."),
    }
    Ok(())
}

fn locked(
    args: &Args,
    edge: &crate::model::Edge,
    target: &crate::model::Target,
    t: &mut BoxClient,
) -> Result<(), Problems> {
    // Colour state first: an unreadable one stops the rollback before anything changes.
    let state = t.read_state(&[]).map_err(Problems::one)?;
    let colors = switch::read(edge, &state, t.target()).map_err(Problems::one)?;
    let gens = t.generations().map_err(Problems::one)?;
    let err = |message: String| {
        Problems::one(ApplyError::Generation {
            target: target.name.to_string(),
            message,
        })
    };
    let Some(from) = gens.current else {
        return Err(err("no generation is active: nothing to roll back".into()));
    };
    let known: Vec<u64> = gens.list.iter().map(|g| g.number).collect();
    let to = match args.to {
        Some(n) if n == from => return Err(err(format!("generation {n} is already active"))),
        Some(n) if known.contains(&n) => n,
        Some(n) => {
            return Err(err(format!(
                "there is no generation {n} on the box (kept: {})",
                known
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => known
            .iter()
            .copied()
            .filter(|n| *n < from)
            .max()
            .ok_or_else(|| err(format!("no generation older than {from} is kept")))?,
    };
    let sums = |n: u64| {
        parse_sha256_list(
            gens.list
                .iter()
                .find(|g| g.number == n)
                .and_then(|g| g.files.as_deref())
                .unwrap_or(""),
        )
    };
    let (from_sums, to_sums) = (sums(from), sums(to));
    println!(
        "Rolling back target {} from generation {from} to generation {to}:",
        target.name
    );
    // The colours each generation serves (its manifest's): what the rollback moves, first.
    let served = |n: u64| {
        gens.list
            .iter()
            .find(|g| g.number == n)
            .and_then(|g| g.manifest.as_deref())
            .and_then(|m| crate::output::Manifest::parse(m).ok())
            .map(|m| m.colors)
            .unwrap_or_default()
    };
    let (served_from, served_to) = (served(from), served(to));
    for env in edge.envs.keys() {
        if let (Some(a), Some(b)) = (served_from.get(env.as_str()), served_to.get(env.as_str()))
            && a != b
        {
            println!("  {env}: {a} → {b}");
        }
    }
    let paths: std::collections::BTreeSet<&String> =
        from_sums.keys().chain(to_sums.keys()).collect();
    for p in paths {
        let mark = match (from_sums.get(p), to_sums.get(p)) {
            (None, Some(_)) => "+",
            (Some(_), None) => "-",
            (Some(a), Some(b)) if a != b => "~",
            _ => continue,
        };
        println!("  {mark} {p}");
    }
    if !args.auto_approve {
        confirm(
            &format!("Roll back target {} to generation {to}?", target.name),
            "Rollback",
        )
        .map_err(Problems::one)?;
    }
    let mut log = |line: String| println!("{line}");
    apply::rollback(
        t,
        target,
        &edge.admin.endpoint,
        from,
        to,
        &from_sums,
        &to_sums,
        args.keep as usize,
        &mut log,
    )
    .map_err(Problems::one)?;
    // The generation serves the colours it was rendered with: record them where they differ
    // from the box's colour state, so plan and apply keep them.
    switch::record_generation_colors(t, edge, &colors, &served_to, to, &mut log)
        .map_err(Problems::one)?;
    println!("\nRollback complete! Generation {to} is active.");
    Ok(())
}
