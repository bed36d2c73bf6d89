//! `edgeplan rollback [--to GEN]`: re-activate an earlier generation kept on the box.

use std::path::PathBuf;
use std::process::ExitCode;

use super::apply::confirm;
use super::{Format, Ui};
use crate::apply::{self, ApplyError, LockGuard};
use crate::diag::Problems;
use crate::transport::{self, Transport, parse_sha256_list};

/// Re-activate an earlier generation (validated, activated atomically, reloaded, checked)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Specs directory (holds the targets)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,

    /// Generation to re-activate (default: the newest one older than the active one)
    #[arg(long, value_name = "GEN")]
    pub to: Option<u64>,

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
        let (_, edge) = crate::load(&args.specs)?;
        let target = transport::select(&edge, args.target.as_deref()).map_err(Problems::one)?;
        let mut t = transport::open(target, &args.specs).map_err(Problems::one)?;
        let guard = LockGuard::take(t.as_mut(), "rollback").map_err(Problems::one)?;
        let result = locked(&args, target, t.as_mut());
        let released = guard.release(t.as_mut());
        result?;
        released.map_err(Problems::one)
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, Format::Text),
    }
}

fn locked(
    args: &Args,
    target: &crate::model::Target,
    t: &mut dyn Transport,
) -> Result<(), Problems> {
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
        from,
        to,
        &from_sums,
        &to_sums,
        args.keep as usize,
        &mut log,
    )
    .map_err(Problems::one)?;
    println!("\nRollback complete! Generation {to} is active.");
    Ok(())
}
