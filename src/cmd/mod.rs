//! The command line: global options, one file per subcommand, one dispatch `match`.

mod apply;
mod build;
mod check;
mod context;
mod force_unlock;
mod generations;
mod hash;
mod hash_password;
mod plan;
mod rollback;
mod route;
mod server;
mod status;
mod switch;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{self, Problems};

/// Turn declarative KDL specs into a reviewed, deployed HAProxy edge
#[derive(Debug, Parser)]
#[command(name = "edgeplan", version, about, max_term_width = 100)]
pub struct Cli {
    /// When to use colour (`NO_COLOR` set means never, unless `always`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// The subcommand
    #[command(subcommand)]
    pub command: Command,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// Output format of commands that report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text
    Text,
    /// JSON for machines
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the specs and report every problem at once
    Check(check::Args),
    /// Render the specs into an output tree with a manifest
    Build(build::Args),
    /// Print the input hash (specs, templates, version, active colours)
    Hash(hash::Args),
    /// Hash a password for a `userlist` (sha512crypt): from the terminal without echo, or the
    /// first line of standard input
    HashPassword(hash_password::Args),
    /// Explain where a request lands: frontend, ACLs, rule, backend, server and cookie
    Route(route::Args),
    /// Show what `apply` would change on a target (files, hosts, certificates, drift)
    Plan(plan::Args),
    /// Apply the specs (or a saved plan) to a target: lock, upload, validate on the box, activate
    /// atomically, reload
    Apply(apply::Args),
    /// Move one env's traffic to a colour (blue/green): render, validate on the box, activate,
    /// hand traffic over, reload, check, record
    Switch(switch::Args),
    /// Re-activate an earlier generation (validated, activated atomically, reloaded, checked), or
    /// with --env switch one env back to its previous colour and release
    Rollback(rollback::Args),
    /// Show a target's state: each env's colour, release and last switches; the active
    /// generation, its input hash, drift
    Status(status::Args),
    /// List the generations kept on a target's box, the active one marked
    Generations(generations::Args),
    /// Release a target's lock left behind by a run that died (needs the lock's id)
    ForceUnlock(force_unlock::Args),
    /// Take an instance in or out of rotation on the running haproxy (drain, ready, maint), or
    /// list every instance's state, health and sessions
    Server(server::Args),
}

/// What every command gets besides its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Colour on stdout.
    pub color_out: bool,
    /// Colour on stderr.
    pub color_err: bool,
}

impl Ui {
    fn new(choice: ColorChoice) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let pick = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Ui {
            color_out: pick(std::io::stdout().is_terminal()),
            color_err: pick(std::io::stderr().is_terminal()),
        }
    }

    /// Print problems on stderr (text) or stdout (JSON) and return exit code 1.
    pub fn fail(&self, problems: &Problems, format: Format) -> ExitCode {
        match format {
            Format::Json => print!("{}", diag::render_json(problems)),
            Format::Text => eprint!(
                "{}",
                diag::render_text(problems, self.color_err, term_width())
            ),
        }
        ExitCode::from(1)
    }
}

/// Terminal width for diagnostics: `COLUMNS` if set, else 100.
fn term_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(100)
}

/// Parse the command line and run.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

/// Run the command line `args` (the program name first), as the binary does.
pub fn run_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli),
        Err(e) => {
            let _ = e.print();
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let ui = Ui::new(cli.color);
    match cli.command {
        Command::Check(args) => check::run(args, ui),
        Command::Build(args) => build::run(args, ui),
        Command::Hash(args) => hash::run(args, ui),
        Command::HashPassword(args) => hash_password::run(args),
        Command::Route(args) => route::run(args, ui),
        Command::Plan(args) => plan::run(args, ui),
        Command::Apply(args) => apply::run(args, ui),
        Command::Switch(args) => switch::run(args, ui),
        Command::Rollback(args) => rollback::run(args, ui),
        Command::Status(args) => status::run(args, ui),
        Command::Generations(args) => generations::run(args, ui),
        Command::ForceUnlock(args) => force_unlock::run(args, ui),
        Command::Server(args) => server::run(args, ui),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
