//! Terminal styles, the one painter for every command's coloured output (anstyle): a style per
//! meaning, not per colour, so the plan, `route` and `status` colour the same things the same
//! way. Diagnostics are miette's own.

use anstyle::{AnsiColor, Style};

/// Something added (`+`).
pub const ADDED: Style = AnsiColor::Green.on_default();
/// Something removed (`-`).
pub const REMOVED: Style = AnsiColor::Red.on_default();
/// Something changed (`~`).
pub const CHANGED: Style = AnsiColor::Yellow.on_default();
/// A diff's hunk header (`@@ … @@`).
pub const HUNK: Style = AnsiColor::Cyan.on_default();
/// A heading or the line that sums up.
pub const HEADING: Style = Style::new().bold();
/// Something said in passing (a note, a step that did not decide).
pub const ASIDE: Style = Style::new().dimmed();

/// `s` in `style` when `on`, else as it is.
pub fn paint(s: &str, style: Style, on: bool) -> String {
    if on {
        format!("{}{s}{}", style.render(), style.render_reset())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_render_the_usual_sgr_codes() {
        assert_eq!(paint("+a", ADDED, true), "\x1b[32m+a\x1b[0m");
        assert_eq!(paint("x", HEADING, true), "\x1b[1mx\x1b[0m");
        assert_eq!(paint("x", REMOVED, false), "x");
    }
}
