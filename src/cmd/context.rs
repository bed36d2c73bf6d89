//! What the box commands share: `--specs`/`--templates`/`--target` ([`TargetArgs`],
//! [`RenderArgs`]) opening a [`Session`], and [`Terminal`], the [`Progress`] of the command line
//! — it prints what an operation reports and asks for approval on the terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use super::Ui;
use super::build::Inputs;
use crate::apply::ApplyError;
use crate::diag::Problems;
use crate::plan::show;
use crate::session::{Approve, Event, Progress, Session};

/// A clap value parser for durations as the specs write them (`500ms`, `60s`, `5m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::model::Duration::parse(s)
        .map(|d| std::time::Duration::from_millis(d.millis()))
        .map_err(|inv| format!("{} ({})", inv.reason, inv.expected))
}

/// Where the specs and the box are (commands that do not render).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,
}

impl TargetArgs {
    /// Load the specs once, select the target, open its transport.
    ///
    /// # Errors
    /// Invalid specs, an unknown or ambiguous target, a transport that cannot start.
    pub fn session(&self) -> Result<Session, Problems> {
        let opts = crate::BuildOptions {
            specs: self.specs.clone(),
            templates: None,
            colors: Vec::new(),
        };
        Session::open(&opts, self.target.as_deref())
    }
}

/// The inputs of a build and the box (commands that render for a target).
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub inputs: Inputs,

    /// Target (default: the only target of the specs)
    #[arg(long)]
    pub target: Option<String>,
}

impl RenderArgs {
    /// Load the inputs once, select the target, open its transport.
    ///
    /// # Errors
    /// Invalid inputs, an unknown or ambiguous target, a transport that cannot start.
    pub fn session(&self) -> Result<Session, Problems> {
        Session::open(&self.inputs.options(), self.target.as_deref())
    }
}

/// The command line's [`Progress`]: events printed on stdout, approval asked on the terminal.
pub struct Terminal {
    /// Colours and widths.
    pub ui: Ui,
    /// Approve without asking (`--auto-approve`).
    pub auto_approve: bool,
    /// Printed once, before the plan (`Switching env staging to green on target edge:`).
    pub before_plan: Option<String>,
    /// Print nothing (the command prints a JSON document instead).
    pub quiet: bool,
}

impl Terminal {
    /// A terminal that asks unless `auto_approve`.
    pub fn new(ui: Ui, auto_approve: bool) -> Terminal {
        Terminal {
            ui,
            auto_approve,
            before_plan: None,
            quiet: false,
        }
    }
}

impl Progress for Terminal {
    fn event(&mut self, event: Event<'_>) {
        if self.quiet {
            return;
        }
        match event {
            Event::Plan { plan, saved: None } => {
                if let Some(h) = self.before_plan.take() {
                    println!("{h}\n");
                }
                print!("{}", show::text(plan, self.ui.color_out));
            }
            Event::Plan {
                plan,
                saved: Some(file),
            } => println!(
                "Applying the saved plan {}: {}",
                file.display(),
                show::closing_line(plan)
            ),
            Event::GenerationRollback(p) => {
                println!(
                    "Rolling back target {} from generation {} to generation {}:",
                    p.target, p.from, p.to
                );
                for (env, a, b) in &p.colors {
                    println!("  {env}: {a} → {b}");
                }
                for (mark, path) in &p.files {
                    println!("  {mark} {path}");
                }
            }
            Event::EnvRollback(p) => println!(
                "Rolling back env {} on target {} from {} to {}:",
                p.env,
                p.target,
                p.from.as_ref().map_or(String::new(), |(c, r)| {
                    crate::rollback::shown_serving(*c, r.as_ref())
                }),
                crate::rollback::shown(p.to.0, p.to.1.as_ref())
            ),
            Event::Gate { report, last } => {
                if last {
                    println!(
                        "\nHealth gate ({} {}, from the box): {}",
                        report.env,
                        report.color,
                        if report.passed() {
                            "every instance is healthy"
                        } else {
                            "failed"
                        }
                    );
                    for l in report.lines() {
                        println!("  {l}");
                    }
                } else {
                    let bad = report.instances.iter().filter(|i| !i.healthy).count();
                    println!(
                        "  waiting: {bad} of {} not healthy yet (try {})",
                        report.instances.len(),
                        report.tries
                    );
                }
            }
            Event::Step(line) => println!("{line}"),
        }
    }

    fn approve(&mut self, what: Approve, question: &str) -> Result<(), ApplyError> {
        if self.auto_approve {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(ApplyError::NeedsApproval { what: what.verb() });
        }
        print!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() == "yes" {
            println!();
            Ok(())
        } else {
            Err(ApplyError::Cancelled { what: what.noun() })
        }
    }
}
