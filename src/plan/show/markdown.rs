//! The plan as markdown for a pull-request comment: the summary first, diffs folded in
//! `<details>`, a loud banner when something is destroyed or a host disappears, capped below the
//! forges' comment size limit.

use std::fmt::Write as _;

use super::super::Plan;
use super::super::semantic::{Marker, SemanticChange};
use super::{base_line, closing_line, describe_change, destructive, unified_diff};

/// Markdown output stays below this many characters (GitHub and Forgejo cap comments at
/// 65 536).
pub const MARKDOWN_CAP: usize = 60_000;

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

/// A code fence longer than any backtick run in `s`.
pub(super) fn fence(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in s.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn md_semantic(s: &SemanticChange) -> String {
    let sym = match s.marker {
        Marker::Add => "+",
        Marker::Change => "~",
        Marker::Remove => "-",
    };
    format!("- {} {}\n", code(sym), s.message)
}

/// The plan as markdown for a pull-request comment, at most [`MARKDOWN_CAP`] characters.
pub fn markdown(plan: &Plan) -> String {
    markdown_capped(plan, MARKDOWN_CAP)
}

fn markdown_capped(plan: &Plan, cap: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "### edgeplan plan for {}\n", code(&plan.target));
    let c = plan.counts();
    if destructive(plan) {
        let mut what = Vec::new();
        if c.remove > 0 {
            what.push(format!(
                "destroys {} file{}",
                c.remove,
                if c.remove == 1 { "" } else { "s" }
            ));
        }
        if !plan.hosts_disappearing.is_empty() {
            what.push(format!(
                "stops serving {}",
                plan.hosts_disappearing
                    .iter()
                    .map(|h| code(h))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let _ = writeln!(
            head,
            "> [!CAUTION]\n> **This plan {}.**\n",
            what.join(" and ")
        );
    }
    let _ = writeln!(head, "**{}**\n", closing_line(plan));
    if !plan.semantic.is_empty() {
        let _ = writeln!(head, "#### Summary\n");
        for s in &plan.semantic {
            head += &md_semantic(s);
        }
        head.push('\n');
    }
    if let Some(n) = &plan.semantic_note {
        let _ = writeln!(head, "_No semantic summary: {n}._\n");
    }
    if !plan.units.is_empty() {
        let _ = writeln!(head, "#### Units\n");
        for u in plan.units.describe() {
            let _ = writeln!(head, "- {u}");
        }
        head.push('\n');
    }
    if plan.has_changes() && !plan.probes.is_empty() {
        let _ = writeln!(head, "#### Probes after the reload\n");
        for p in &plan.probes {
            let _ = writeln!(head, "- {p}");
        }
        head.push('\n');
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            head,
            "#### Changed outside edgeplan\n\nThese files differ from what edgeplan last \
             applied; this plan puts them back.\n"
        );
        for d in &plan.drift {
            let _ = writeln!(head, "- {} {}: {}", code("~"), code(&d.path), d.message);
        }
        head.push('\n');
    }
    if plan.pending_reload {
        let _ = writeln!(
            head,
            "_An earlier apply stopped before its reload was checked; apply will reload._\n"
        );
    }
    let foot = format!(
        "<sub>target {} ({}) · box {} · build input {} tree {}</sub>\n",
        plan.target,
        plan.transport.replace('<', "&lt;"),
        base_line(plan),
        &plan.input_hash[..16],
        &plan.tree_hash[..16]
    );
    if plan.changes.is_empty() {
        return head + &foot;
    }
    let _ = writeln!(head, "#### Files\n");
    let mut body = String::new();
    let mut left_out = 0;
    let note_room = 300;
    for ch in &plan.changes {
        let line = format!("{} {}", ch.action.symbol(), describe_change(ch));
        let short = format!("- {}\n", code(&line));
        let block = match unified_diff(ch) {
            Some(d) => {
                let f = fence(&d);
                format!(
                    "<details><summary><code>{}</code></summary>\n\n{f}diff\n{d}{f}\n\n</details>\n\n",
                    line.replace('&', "&amp;").replace('<', "&lt;")
                )
            }
            None => short.clone() + "\n",
        };
        let used = head.len() + body.len() + foot.len() + note_room;
        if used + block.len() <= cap {
            body += &block;
        } else if used + short.len() <= cap {
            body += &short;
            left_out += 1;
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        let _ = writeln!(
            body,
            "\n> [!NOTE]\n> Truncated to stay under {cap} characters: {left_out} file diff{} \
             left out. Run `edgeplan plan` for the full plan.\n",
            if left_out == 1 { "" } else { "s" }
        );
    }
    head + &body + &foot
}
