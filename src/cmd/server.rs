//! `edgeplan server drain|ready|maint|list`: one instance in or out of rotation, and the state of
//! every instance, through the runtime API of the target's haproxy (docs/server.md).

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;

use super::target::open_target;
use super::{Format, Ui};
use crate::diag::Problems;
use crate::server::{self, Action, Runtime};

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
    pub target: super::target::TargetArgs,

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
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::model::Duration::parse(s)
        .map(|d| Duration::from_millis(d.millis()))
        .map_err(|inv| format!("{} ({})", inv.reason, inv.expected))
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
struct SetDoc<'a> {
    format_version: u32,
    target: &'a str,
    env: &'a str,
    component: &'a str,
    instance: &'a str,
    action: Action,
    #[serde(flatten)]
    change: &'a server::Change,
    /// Milliseconds `--wait` waited, when given.
    waited_ms: Option<u128>,
}

fn set(a: SetArgs, action: Action, ui: Ui) -> ExitCode {
    let fmt = a.at.format;
    let result = (|| -> Result<(), Problems> {
        let (_, edge) = crate::load(&a.at.target.specs)?;
        // The instance first: a name that is not in the specs is said before the box is reached.
        let named =
            server::find(&edge, &a.env, &a.component, &a.instance).map_err(Problems::one)?;
        let (target, mut t) =
            open_target(&edge, a.at.target.target.as_deref(), &a.at.target.specs)?;
        let mut rt = Runtime::new(&mut t, &edge);
        let change = server::set(&mut rt, &named, action).map_err(Problems::one)?;
        let text = fmt == Format::Text;
        if text {
            println!(
                "{}/{} (env {}, component {}, {}) on target {}: {} -> {}, {} session{}",
                change.backend,
                change.server,
                named.env.name,
                named.component.name,
                named.instance.color,
                target.name,
                change.before.as_str(),
                change.after.as_str(),
                change.sessions,
                if change.sessions == 1 { "" } else { "s" }
            );
        }
        let mut waited = None;
        if a.wait {
            if text {
                println!(
                    "Waiting until it {} (timeout {:.1}s)…",
                    match action {
                        Action::Ready => "is up",
                        _ => "has no session left",
                    },
                    a.timeout.as_secs_f64()
                );
            }
            let mut progress = |s: String| {
                if text {
                    println!("  {s}");
                }
            };
            let took = server::wait(
                &mut rt,
                &named,
                action,
                a.timeout,
                Duration::from_millis(250),
                &mut progress,
            )
            .map_err(Problems::one)?;
            if text {
                println!("Done after {:.1}s.", took.as_secs_f64());
            }
            waited = Some(took.as_millis());
        }
        if !text {
            let doc = SetDoc {
                format_version: server::FORMAT_VERSION,
                target: target.name.as_str(),
                env: named.env.name.as_str(),
                component: named.component.name.as_str(),
                instance: named.instance.name.as_str(),
                action,
                change: &change,
                waited_ms: waited,
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(p) => ui.fail(&p, fmt),
    }
}

fn list(a: ListArgs, ui: Ui) -> ExitCode {
    let fmt = a.at.format;
    let result = (|| -> Result<(), Problems> {
        let mut o = a.at.target.open()?;
        let target = o.target().clone();
        let mut rt = Runtime::new(&mut o.t, &o.edge);
        let list = server::status(&mut rt, &o.edge, a.env.as_deref()).map_err(Problems::one)?;
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
