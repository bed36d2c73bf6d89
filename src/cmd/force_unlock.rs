//! `edgeplan force-unlock ID`: release a target's lock left by a run that died.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Format, Ui};
use crate::apply;
use crate::diag::Problems;
use crate::transport;

/// Release a target's lock left behind by a run that died (needs the lock's id)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lock id, as shown by the run that found the target locked
    pub id: String,

    /// Specs directory (holds the targets)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let result = (|| -> Result<String, Problems> {
        let (_, edge) = crate::load(&args.specs)?;
        let target = transport::select(&edge, args.target.as_deref()).map_err(Problems::one)?;
        let mut t = transport::open(target, &args.specs).map_err(Problems::one)?;
        apply::force_unlock(t.as_mut(), &args.id).map_err(Problems::one)?;
        Ok(target.name.to_string())
    })();
    match result {
        Ok(name) => {
            println!("Lock {} of target {name} released.", args.id);
            ExitCode::SUCCESS
        }
        Err(p) => ui.fail(&p, Format::Text),
    }
}
