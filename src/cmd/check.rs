//! `edgeplan check`: load and validate the specs; a summary on success, every problem otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::{Format, Ui};
use crate::model::Edge;

/// Check the specs and report every problem at once
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Serialize)]
struct Summary<'a> {
    format_version: u32,
    ok: bool,
    edge: &'a str,
    envs: Vec<&'a str>,
    hosts: Vec<&'a str>,
    components: usize,
    certificates: Vec<&'a str>,
    /// TCP services.
    tcp: Vec<&'a str>,
    /// What is valid but unsafe (TLS to a backend without verification).
    warnings: Vec<String>,
    diagnostics: [(); 0],
}

/// Run the command.
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let edge = match crate::load(&args.specs) {
        Ok((_, edge)) => edge,
        Err(problems) => return ui.fail(&problems, args.format),
    };
    match args.format {
        Format::Json => {
            let s = summary(&edge);
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        }
        Format::Text => print!("{}", text(&edge)),
    }
    ExitCode::SUCCESS
}

fn summary(edge: &Edge) -> Summary<'_> {
    Summary {
        format_version: 1,
        ok: true,
        edge: edge.name.as_str(),
        envs: edge.envs.keys().map(|k| k.as_str()).collect(),
        hosts: edge.public_hosts().keys().map(|h| h.as_str()).collect(),
        components: edge.envs.values().map(|e| e.components.len()).sum(),
        certificates: edge
            .acme
            .iter()
            .flat_map(|a| a.certificates.keys())
            .map(|k| k.as_str())
            .collect(),
        tcp: edge.tcp.keys().map(|k| k.as_str()).collect(),
        warnings: edge.warnings(),
        diagnostics: [],
    }
}

fn text(edge: &Edge) -> String {
    let mut out = format!("edge {}: specs are valid\n", edge.name);
    for env in edge.envs.values() {
        let hosts: Vec<&str> = env.hosts.iter().map(|h| h.as_str()).collect();
        // A component with several instances in its active colour shows how many: `stream ×3`.
        let comps: Vec<String> = env
            .components
            .values()
            .map(|c| match c.instances_of(env.active_color).count() {
                1 => c.name.to_string(),
                n => format!("{} ×{n}", c.name),
            })
            .collect();
        out += &format!(
            "  env {}: {} (active {}), components {}{}\n",
            env.name,
            hosts.join(", "),
            env.active_color,
            comps.join(", "),
            env.preview
                .as_ref()
                .map_or(String::new(), |p| format!(", preview {p}"))
        );
    }
    for o in edge.outside.values() {
        let hosts: Vec<&str> = o.hosts.iter().map(|h| h.as_str()).collect();
        out += &format!(
            "  outside {}: {} -> {}{}\n",
            o.name,
            hosts.join(", "),
            o.address,
            if o.tls.is_some() { " (TLS)" } else { "" }
        );
    }
    for t in edge.tcp.values() {
        let servers: Vec<String> = t.servers.iter().map(|s| s.to_string()).collect();
        out += &format!(
            "  tcp {}: {} -> {}\n",
            t.name,
            t.bind.written(),
            servers.join(", ")
        );
    }
    for p in edge.placeholders.values() {
        let hosts: Vec<&str> = p.hosts.iter().map(|h| h.as_str()).collect();
        out += &format!(
            "  placeholder {}: {} -> {}\n",
            p.name,
            hosts.join(", "),
            p.status
        );
    }
    if let Some(acme) = &edge.acme {
        for (name, domains) in &acme.certificates {
            let d: Vec<&str> = domains.iter().map(|h| h.as_str()).collect();
            out += &format!("  certificate {name}: {}\n", d.join(", "));
        }
    }
    let n_hosts = edge.public_hosts().len();
    let n_comp: usize = edge.envs.values().map(|e| e.components.len()).sum();
    let n_cert = edge.acme.as_ref().map_or(0, |a| a.certificates.len());
    out += &format!(
        "{} envs, {n_hosts} hosts, {n_comp} components, {n_cert} certificates\n",
        edge.envs.len()
    );
    for w in edge.warnings() {
        out += &format!("warning: {w}\n");
    }
    out
}
