//! `edgeplan server drain|ready|maint|list`: one instance in or out of rotation, and the state of
//! every instance, through the runtime API of the target's haproxy (docs/server.md).

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::context::Terminal;
use super::{Format, Ui};
use crate::diag::Problems;
use crate::server::{self, Action, Runtime, rotation};

/// Take an instance in or out of rotation on the running haproxy, or list them
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do
    #[command(subcommand)]
    pub command: Sub,
}

/// `edgeplan server` subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Stop new requests to an instance; clients pinned by its sticky cookie and open sessions
    /// stay (before a planned restart)
    Drain(SetArgs),
    /// Put an instance back in rotation
    Ready(SetArgs),
    /// Take an instance out entirely: clients pinned to it are re-dispatched to the others
    Maint(SetArgs),
    /// Show every instance: state, health, last check, sessions, weight
    List(ListArgs),
}

/// Where the specs and the box are.
#[derive(Debug, clap::Args)]
pub struct Where {
    #[command(flatten)]
    pub target: super::context::TargetArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `drain`, `ready`, `maint`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The env
    pub env: String,

    /// The component
    pub component: String,

    /// The instance: its server name (`blue`, `blue-2`, or the name of an `instance`)
    pub instance: String,

    #[command(flatten)]
    pub at: Where,

    /// Then wait until the instance has no session left (drain, maint) or is up (ready)
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits (a duration: 500ms, 60s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::context::parse_duration)]
    pub timeout: Duration,
}

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this env
    pub env: Option<String>,

    #[command(flatten)]
    pub at: Where,
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    match args.command {
        Sub::Drain(a) => set(a, Action::Drain, ui),
        Sub::Ready(a) => set(a, Action::Ready, ui),
        Sub::Maint(a) => set(a, Action::Maint, ui),
        Sub::List(a) => list(a, ui),
    }
}

/// The JSON document of `drain`, `ready`, `maint`.
#[derive(Debug, Serialize)]
struct SetDoc {
    format_version: u32,
    #[serde(flatten)]
    outcome: rotation::Outcome,
}

fn set(a: SetArgs, action: Action, ui: Ui) -> ExitCode {
    let fmt = a.at.format;
    let req = rotation::Request {
        env: a.env,
        component: a.component,
        instance: a.instance,
        action,
        wait: a.wait.then_some(a.timeout),
    };
    let mut term = Terminal::new(ui, false);
    term.quiet = fmt == Format::Json;
    match a
        .at
        .target
        .session()
        .and_then(|mut s| rotation::run(&mut s, &req, &mut term))
    {
        Ok(outcome) => {
            if fmt == Format::Json {
                let doc = SetDoc {
                    format_version: server::FORMAT_VERSION,
                    outcome,
                };
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(p) => ui.fail(&p, fmt),
    }
}

fn list(a: ListArgs, ui: Ui) -> ExitCode {
    let fmt = a.at.format;
    let result = (|| -> Result<(), Problems> {
        let mut session = a.at.target.session()?;
        let target = session.target().clone();
        let s = session.scope();
        let mut rt = Runtime::new(s.t, &s.loaded.edge);
        let list =
            server::status(&mut rt, &s.loaded.edge, a.env.as_deref()).map_err(Problems::one)?;
        match fmt {
            Format::Text => print!("{}", server::render_list(&list)),
            Format::Json => {
                let doc = server::ListDoc {
                    format_version: server::FORMAT_VERSION,
                    target: target.name.as_str(),
                    instances: &list,
                };
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, fmt),
    }
}
