//! `edgeplan generations`: the generations kept on a target's box.

use std::process::ExitCode;

use serde::Serialize;

use super::{Format, Ui};
use crate::diag::Problems;
use crate::output::Manifest;
use crate::transport::{self, Generations};

/// List the generations kept on a target's box, the active one marked
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub at: super::context::TargetArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// One generation, for people and machines.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Number.
    pub generation: u64,
    /// Active.
    pub current: bool,
    /// Tree hash (none for generation 0).
    pub tree_hash: Option<String>,
    /// Files.
    pub files: usize,
    /// When it was made.
    pub created: Option<String>,
    /// By whom.
    pub by: Option<String>,
    /// False when a file was changed in place on the box.
    pub intact: bool,
}

/// The rows of `generations`, newest first.
pub fn rows(g: &Generations) -> Vec<Row> {
    let mut rows: Vec<Row> = g
        .list
        .iter()
        .map(|x| {
            let meta: serde_json::Value = x
                .meta
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            let field = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
            Row {
                generation: x.number,
                current: g.current == Some(x.number),
                tree_hash: x
                    .manifest
                    .as_deref()
                    .and_then(|m| Manifest::parse(m).ok())
                    .map(|m| m.tree_hash),
                files: transport::parse_sha256_list(x.files.as_deref().unwrap_or("")).len(),
                created: field("created"),
                by: field("by"),
                intact: x.intact,
            }
        })
        .collect();
    rows.reverse();
    rows
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let result = (|| -> Result<Generations, Problems> {
        args.at
            .session()?
            .client
            .generations()
            .map_err(Problems::one)
    })();
    let g = match result {
        Ok(g) => g,
        Err(p) => return ui.fail(&p, args.format),
    };
    let rows = rows(&g);
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({ "format_version": 1, "generations": rows });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            if rows.is_empty() {
                println!("No generations: edgeplan has not applied anything to this box.");
            }
            for r in &rows {
                let what = match &r.tree_hash {
                    Some(t) => format!(
                        "tree {}, {} files, {} by {}",
                        &t[..16.min(t.len())],
                        r.files,
                        r.created.as_deref().unwrap_or("?"),
                        r.by.as_deref().unwrap_or("?")
                    ),
                    None => format!(
                        "{} file{} that {} on the box before edgeplan",
                        r.files,
                        if r.files == 1 { "" } else { "s" },
                        if r.files == 1 { "was" } else { "were" }
                    ),
                };
                println!(
                    "{} {:>3}  {what}{}",
                    if r.current { "*" } else { " " },
                    r.generation,
                    if r.intact {
                        ""
                    } else {
                        "  (files changed on the box)"
                    }
                );
            }
        }
    }
    ExitCode::SUCCESS
}
