//! `edgeplan status`: what a target runs — see [`crate::status`].

use std::process::ExitCode;

use super::context::RenderArgs;
use super::{Format, Ui};
use crate::status;

/// Show a target's state: each env's active colour, release and last switches; the active
/// generation, its input hash, drift
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub at: RenderArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    match args.at.session().and_then(|mut s| status::gather(&mut s)) {
        Ok(s) => {
            match args.format {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default())
                }
                Format::Text => print!("{}", status::text(&s)),
            }
            ExitCode::SUCCESS
        }
        Err(p) => ui.fail(&p, args.format),
    }
}
