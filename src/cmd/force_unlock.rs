//! `edgeplan force-unlock ID`: release a target's lock left by a run that died.

use std::process::ExitCode;

use super::{Format, Ui};
use crate::apply;
use crate::diag::Problems;

/// Release a target's lock left behind by a run that died (needs the lock's id)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lock id, as shown by the run that found the target locked
    pub id: String,

    #[command(flatten)]
    pub at: super::context::TargetArgs,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let result = (|| -> Result<String, Problems> {
        let mut s = args.at.session()?;
        apply::force_unlock(&mut s.client, &args.id).map_err(Problems::one)?;
        Ok(s.target().name.to_string())
    })();
    match result {
        Ok(name) => {
            println!("Lock {} of target {name} released.", args.id);
            ExitCode::SUCCESS
        }
        Err(p) => ui.fail(&p, Format::Text),
    }
}
