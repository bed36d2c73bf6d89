//! `edgeplan rollback [--to GEN]`: re-activate an earlier generation kept on the box;
//! `edgeplan rollback --env ENV`: switch one env back to the colour and release of its previous
//! switch — see [`crate::rollback`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::context::{TargetArgs, Terminal};
use super::{Format, Ui};
use crate::rollback::{self, Outcome, Request};
use crate::session::Session;
use crate::switch;

/// Re-activate an earlier generation (validated, activated atomically, reloaded, checked)
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub at: TargetArgs,

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
    let opts = crate::BuildOptions {
        specs: args.at.specs.clone(),
        templates: args.templates.clone(),
        colors: Vec::new(),
    };
    let req = match &args.env {
        Some(env) => Request::Env(env.clone()),
        None => Request::Generation(args.to),
    };
    let mut term = Terminal::new(ui, args.auto_approve);
    let done = Session::open(&opts, args.at.target.as_deref())
        .and_then(|mut s| rollback::run(&mut s, &req, args.keep as usize, &mut term));
    match done {
        Ok(Outcome::Generation { to }) => {
            println!("\nRollback complete! Generation {to} is active.")
        }
        Ok(Outcome::Env { preview, switched }) => {
            let to = rollback::shown(preview.to.0, preview.to.1.as_ref());
            match switched {
                switch::Outcome::Switched { generation, .. } => println!(
                    "\nRollback complete! {}: {} → {to}. Generation {generation} is active.",
                    preview.env,
                    preview
                        .from
                        .as_ref()
                        .map_or("?".into(), |(c, _)| c.describe())
                ),
                _ => println!("\nRollback complete! {} is at {to}.", preview.env),
            }
        }
        Err(p) => return ui.fail(&p, Format::Text),
    }
    ExitCode::SUCCESS
}
