//! Showing a plan: text for terminals (Terraform's `+ ~ -` markers and closing line, coloured
//! diffs on a tty), a versioned JSON document for CI, and markdown for pull-request comments
//! (summary first, diffs folded, a loud banner when something is destroyed or a host
//! disappears, capped below the comment size limit). The formats are documented in
//! `docs/plan.md`.

use std::fmt::Write as _;

use anstyle::Style;
use serde::Serialize;
use similar::TextDiff;

use crate::style::{self, paint};

mod markdown;

pub use markdown::{MARKDOWN_CAP, markdown};

use super::semantic::SemanticChange;
use super::{Action, Change, Counts, Drift, Plan};

/// Version of the JSON document.
pub const JSON_FORMAT_VERSION: u32 = 1;

fn symbol_color(symbol: &str) -> Style {
    match symbol {
        "+" => style::ADDED,
        "-" => style::REMOVED,
        _ => style::CHANGED,
    }
}

/// The health gate and the probes that run, when the plan changes something.
fn probes_text(plan: &Plan, color: bool) -> String {
    let mut o = String::new();
    if plan.has_changes() && !plan.gate.is_empty() {
        let head = "Health gate before traffic moves (from the box):";
        let _ = writeln!(o, "\n{}", paint(head, style::HEADING, color));
        for g in &plan.gate {
            let _ = writeln!(o, "  {g}");
        }
    }
    if plan.has_changes() && !plan.probes.is_empty() {
        let head = "Probes after the reload (a failure restores the box):";
        let _ = writeln!(o, "\n{}", paint(head, style::HEADING, color));
        for p in &plan.probes {
            let _ = writeln!(o, "  {p}");
        }
    }
    o
}

/// The closing line.
pub fn closing_line(plan: &Plan) -> String {
    let c = plan.counts();
    if plan.changes.is_empty() {
        if plan.pending_reload {
            "No file changes; apply will finish the interrupted apply (reload).".into()
        } else {
            "No changes. The box matches the build.".into()
        }
    } else {
        format!("Plan: {}.", c.summary())
    }
}

/// True when the only lines that differ are the provenance header (`# Rendered by edgeplan
/// VERSION; …`): a new edgeplan version touches every file's header; those files are listed,
/// but their diffs are noise. (The header carries no input hash, so a spec change touches
/// only the files whose content it changes.)
pub fn provenance_only(c: &Change) -> bool {
    let (Some(before), Some(after)) = (c.before.as_deref(), c.after.as_deref()) else {
        return false;
    };
    let is_header = |l: &str| l.contains("# Rendered by edgeplan ");
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    before != after
        && b.len() == a.len()
        && b.iter()
            .zip(&a)
            .all(|(x, y)| x == y || (is_header(x) && is_header(y)))
}

/// A unified diff of a change (`None` when there is nothing to show).
pub fn unified_diff(c: &Change) -> Option<String> {
    if c.sensitive || provenance_only(c) {
        return None;
    }
    let (before, after) = (c.before.as_deref()?, c.after.as_deref()?);
    if before == after {
        return None;
    }
    let diff = TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{}", c.path), &format!("b/{}", c.path))
        .to_string();
    Some(text)
}

fn describe_change(c: &Change) -> String {
    let mut s = c.path.clone();
    let mut extra = Vec::new();
    match (c.action, &c.mode_before, &c.mode_after) {
        (Action::Create | Action::Replace, _, Some(m)) => extra.push(m.clone()),
        (Action::Update, Some(a), Some(b)) if a != b => extra.push(format!("mode {a} -> {b}")),
        _ => {}
    }
    if c.sensitive {
        extra.push("sensitive: content not shown".into());
    } else if provenance_only(c) {
        extra.push("provenance header only".into());
    }
    if let Some(n) = &c.note {
        extra.push(n.clone());
    }
    if !extra.is_empty() {
        let _ = write!(s, " ({})", extra.join("; "));
    }
    s
}

fn base_line(plan: &Plan) -> String {
    match &plan.base {
        None => "fresh box, nothing applied by edgeplan yet".into(),
        Some(b) => match &b.tree_hash {
            Some(t) => format!(
                "generation {} (tree {})",
                b.generation,
                &t[..16.min(t.len())]
            ),
            None => format!(
                "generation {} (what was there before edgeplan)",
                b.generation
            ),
        },
    }
}

/// The plan as text; `color` adds ANSI colours.
pub fn text(plan: &Plan, color: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} {} ({})",
        paint("Target", style::HEADING, color),
        plan.target,
        plan.transport
    );
    let _ = writeln!(o, "  box:   {}", base_line(plan));
    let _ = writeln!(
        o,
        "  build: input {}, tree {}",
        &plan.input_hash[..16],
        &plan.tree_hash[..16]
    );
    if let Some(l) = &plan.lock {
        let _ = writeln!(
            o,
            "\n{} the box is locked by {}",
            paint("Note:", style::HEADING, color),
            l.describe()
        );
    }
    if plan.pending_reload {
        let _ = writeln!(
            o,
            "\n{} an earlier apply stopped after activating its files and before its reload \
             was checked; apply will reload.",
            paint("Note:", style::HEADING, color)
        );
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            o,
            "\n{}",
            paint(
                "Changed outside edgeplan since it last applied:",
                style::HEADING,
                color
            )
        );
        for d in &plan.drift {
            let _ = writeln!(
                o,
                "  {} {}: {}",
                paint("~", style::CHANGED, color),
                d.path,
                d.message
            );
        }
        let _ = writeln!(
            o,
            "  The planned changes below put these files back as edgeplan renders them."
        );
    }
    if !plan.semantic.is_empty() || plan.semantic_note.is_some() {
        let _ = writeln!(o, "\n{}", paint("Summary:", style::HEADING, color));
        for s in &plan.semantic {
            let sym = s.marker.symbol();
            let _ = writeln!(
                o,
                "  {} {}",
                paint(sym, symbol_color(sym), color),
                s.message
            );
        }
        if let Some(n) = &plan.semantic_note {
            let _ = writeln!(o, "  (no semantic summary: {n})");
        }
    }
    if !plan.units.is_empty() {
        let _ = writeln!(o, "\n{}", paint("Units:", style::HEADING, color));
        for u in plan.units.describe() {
            let _ = writeln!(o, "  {u}");
        }
    }
    o += &probes_text(plan, color);
    if !plan.changes.is_empty() {
        let _ = writeln!(o, "\nedgeplan will perform the following actions:\n");
        for c in &plan.changes {
            let sym = c.action.symbol();
            let _ = writeln!(
                o,
                "  {} {}",
                paint(sym, symbol_color(sym), color),
                describe_change(c)
            );
            if let Some(d) = unified_diff(c) {
                for line in d.lines() {
                    let colored = if !color {
                        line.to_string()
                    } else if line.starts_with("+++") || line.starts_with("---") {
                        paint(line, style::HEADING, true)
                    } else if line.starts_with('+') {
                        paint(line, style::ADDED, true)
                    } else if line.starts_with('-') {
                        paint(line, style::REMOVED, true)
                    } else if line.starts_with("@@") {
                        paint(line, style::HUNK, true)
                    } else {
                        line.to_string()
                    };
                    let _ = writeln!(o, "      {colored}");
                }
            }
        }
    }
    let _ = writeln!(o, "\n{}", paint(&closing_line(plan), style::HEADING, color));
    o
}

/// The JSON document (`format_version` 1).
#[derive(Debug, Serialize)]
pub struct JsonPlan<'a> {
    /// [`JSON_FORMAT_VERSION`].
    pub format_version: u32,
    /// edgeplan version.
    pub edgeplan_version: &'static str,
    /// Target name.
    pub target: &'a str,
    /// How it is reached.
    pub transport: &'a str,
    /// Build hashes.
    pub build: JsonBuild<'a>,
    /// What the box had.
    pub base: Option<&'a super::Base>,
    /// The state hash a saved plan is bound to.
    pub state_hash: &'a str,
    /// Planned file changes.
    pub changes: Vec<JsonChange<'a>>,
    /// Semantic changes.
    pub semantic: &'a [SemanticChange],
    /// Why there is no semantic summary.
    pub semantic_note: Option<&'a str>,
    /// Hosts served now and not after the apply.
    pub hosts_disappearing: &'a [String],
    /// Units apply enables, starts, stops and disables.
    pub units: &'a crate::units::UnitPlan,
    /// Probes sent through the box's haproxy after the reload (absent when none).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub probes: &'a [String],
    /// A switch's health gate (absent for an apply).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub gate: &'a [String],
    /// Files changed outside edgeplan.
    pub drift: &'a [Drift],
    /// Counts.
    pub summary: JsonSummary,
    /// Who holds the box's lock.
    pub lock: Option<&'a crate::transport::Lock>,
}

/// Build hashes.
#[derive(Debug, Serialize)]
pub struct JsonBuild<'a> {
    /// Input hash.
    pub input_hash: &'a str,
    /// Tree hash.
    pub tree_hash: &'a str,
}

/// One change in JSON.
#[derive(Debug, Serialize)]
pub struct JsonChange<'a> {
    /// The change.
    #[serde(flatten)]
    pub change: &'a Change,
    /// Unified diff (absent for sensitive files and deletions).
    pub diff: Option<String>,
}

/// Counts in JSON.
#[derive(Debug, Serialize)]
pub struct JsonSummary {
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Drifted files.
    pub drift: usize,
    /// Anything for apply to do (the `--detailed-exitcode` 2).
    pub has_changes: bool,
    /// An earlier apply's reload is pending.
    pub pending_reload: bool,
    /// Something is destroyed or a host disappears.
    pub destructive: bool,
}

/// The plan as a JSON document.
pub fn json(plan: &Plan) -> String {
    let doc = JsonPlan {
        format_version: JSON_FORMAT_VERSION,
        edgeplan_version: env!("CARGO_PKG_VERSION"),
        target: &plan.target,
        transport: &plan.transport,
        build: JsonBuild {
            input_hash: &plan.input_hash,
            tree_hash: &plan.tree_hash,
        },
        base: plan.base.as_ref(),
        state_hash: &plan.state_hash,
        changes: plan
            .changes
            .iter()
            .map(|c| JsonChange {
                change: c,
                diff: unified_diff(c),
            })
            .collect(),
        semantic: &plan.semantic,
        semantic_note: plan.semantic_note.as_deref(),
        hosts_disappearing: &plan.hosts_disappearing,
        units: &plan.units,
        probes: &plan.probes,
        gate: &plan.gate,
        drift: &plan.drift,
        summary: JsonSummary {
            counts: plan.counts(),
            drift: plan.drift.len(),
            has_changes: plan.has_changes(),
            pending_reload: plan.pending_reload,
            destructive: destructive(plan),
        },
        lock: plan.lock.as_ref(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Something is destroyed, or a host stops being served.
fn destructive(plan: &Plan) -> bool {
    plan.counts().remove > 0 || !plan.hosts_disappearing.is_empty()
}

#[cfg(test)]
mod tests {
    use super::markdown::fence;
    use super::*;
    use crate::plan::semantic::ModelSummary;

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            target: "box".into(),
            transport: "local directory /b".into(),
            input_hash: "1".repeat(64),
            tree_hash: "2".repeat(64),
            base: None,
            state_hash: "3".repeat(64),
            changes,
            semantic: vec![],
            semantic_note: None,
            hosts_disappearing: vec![],
            drift: vec![],
            pending_reload: false,
            lock: None,
            model: ModelSummary::empty(),
            units: Default::default(),
            probes: Vec::new(),
            gate: Vec::new(),
        }
    }

    fn change(action: Action, path: &str, before: &str, after: &str) -> Change {
        Change {
            action,
            path: path.into(),
            mode_before: Some("0644".into()),
            mode_after: Some("0644".into()),
            sensitive: false,
            note: None,
            before: Some(before.into()),
            after: Some(after.into()),
        }
    }

    /// Probes are listed (text, markdown, JSON) when the plan changes something, and the JSON
    /// has no `probes` key when there are none.
    #[test]
    fn probes_that_will_run_are_shown() {
        let change = Change {
            action: Action::Update,
            path: "etc/haproxy/haproxy.cfg".into(),
            mode_before: Some("0644".into()),
            mode_after: Some("0644".into()),
            sensitive: false,
            note: None,
            before: Some("a\n".into()),
            after: Some("b\n".into()),
        };
        let mut p = plan(vec![change]);
        assert!(!json(&p).contains("\"probes\""));
        let line = "env prod: GET /api/health (Host veza.fr), expects status 200, 3 tries";
        p.probes = vec![line.into()];
        let t = text(&p, false);
        assert!(
            t.contains("Probes after the reload (a failure restores the box):\n  env prod: GET"),
            "{t}"
        );
        assert!(markdown(&p).contains(&format!("#### Probes after the reload\n\n- {line}")));
        assert!(json(&p).contains(line));
        let none = plan(Vec::new());
        let mut quiet = none.clone();
        quiet.probes = vec![line.into()];
        assert!(
            !text(&quiet, false).contains("Probes after"),
            "no changes: nothing runs"
        );
    }

    #[test]
    fn header_only_changes_are_listed_without_a_diff() {
        let h = |x: &str| format!("# Rendered by edgeplan {x}; the input hash is in …\nbind :80\n");
        let c = change(Action::Update, "etc/a.cfg", &h("aaa"), &h("bbb"));
        assert!(provenance_only(&c));
        assert!(unified_diff(&c).is_none());
        assert!(describe_change(&c).contains("provenance header only"));
        let real = change(
            Action::Update,
            "etc/a.cfg",
            &h("aaa"),
            &h("bbb").replace(":80", ":81"),
        );
        assert!(!provenance_only(&real));
        assert!(unified_diff(&real).unwrap().contains("+bind :81"));
    }

    #[test]
    fn text_has_markers_diffs_and_closing_line() {
        let p = plan(vec![
            change(Action::Update, "etc/a.cfg", "a\nb\nc\n", "a\nB\nc\n"),
            change(Action::Create, "etc/new.txt", "", "hello\n"),
        ]);
        let t = text(&p, false);
        assert!(t.contains("  ~ etc/a.cfg\n"), "{t}");
        assert!(t.contains("      -b\n      +B\n"), "{t}");
        assert!(
            t.contains("  + etc/new.txt (0644)\n      --- a/etc/new.txt"),
            "{t}"
        );
        assert!(
            t.ends_with("Plan: 1 to add, 1 to change, 0 to destroy.\n"),
            "{t}"
        );
        assert!(!t.contains('\x1b'));
        assert!(text(&p, true).contains("\x1b[32m+B"));
        assert!(text(&plan(vec![]), false).ends_with("No changes. The box matches the build.\n"));
    }

    #[test]
    fn sensitive_files_show_no_content_anywhere() {
        let mut c = change(Action::Update, "etc/haproxy/certs/x.pem", "", "SECRET\n");
        c.sensitive = true;
        let p = plan(vec![c]);
        for out in [text(&p, false), json(&p), markdown(&p)] {
            assert!(!out.contains("SECRET"), "{out}");
            assert!(out.contains("etc/haproxy/certs/x.pem"));
        }
    }

    #[test]
    fn markdown_is_capped_with_a_note_and_a_banner() {
        let big = "x\n".repeat(5_000);
        let changes: Vec<Change> = (0..20)
            .map(|i| change(Action::Create, &format!("etc/f{i:02}"), "", &big))
            .chain([change(Action::Delete, "etc/old", "", "")])
            .collect();
        let md = markdown(&plan(changes));
        assert!(md.len() <= MARKDOWN_CAP, "{}", md.len());
        assert!(md.contains("> [!CAUTION]\n> **This plan destroys 1 file.**"));
        assert!(md.contains("file diffs left out"), "{md}");
        assert!(md.contains("- `- etc/old`"), "deletions are always listed");
        assert!(md.contains("<details><summary><code>+ etc/f00 (0644)</code></summary>"));
    }

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(fence("a ``` b"), "````");
        assert_eq!(fence("plain"), "```");
    }
}
