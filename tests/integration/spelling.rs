//! Other KDL v2 spellings of one generated spec ([`spell`]), for the generator
//! ([`crate::specgen`]): the model and the rendered files must not depend on them.

/// `text` in other KDL v2 spellings of the same document, one per bit of `syntax`: comments
/// (line, block, and slashdash on a node and on a property), identifier strings without quotes,
/// raw strings, a line continuation, `;` between nodes, CRLF line ends. The model — and every
/// rendered file but the manifest's input hashes — must not change.
pub fn spell(text: &str, syntax: u8) -> String {
    let bit = |n: u8| syntax & (1 << n) != 0;
    let mut lines: Vec<String> = Vec::new();
    if bit(0) {
        lines.push("/* generated: a block comment\n   over two lines */".into());
    }
    for (i, line) in text.lines().enumerate() {
        let top = line.starts_with("edge ");
        let mut line = line.to_string();
        if bit(1)
            && !line.trim_end().ends_with('{')
            && !line.trim().is_empty()
            && !line.trim_start().starts_with('}')
        {
            line += " /-ignored=\"slashdash\"";
        }
        if bit(4)
            && let Some(at) = line.find(" health=")
        {
            line.insert_str(at, " \\\n       ");
        }
        lines.push(line);
        if bit(0) && lines.last().is_some_and(|l| l.ends_with('{')) {
            lines.push("    // a line comment".into());
        }
        // A slashdashed top-level node with children, in `edge.kdl` only (the file order test
        // moves top-level nodes between files).
        if bit(1) && i == 0 && top {
            lines.push("/-stats bind=\"127.0.0.1:1\" {\n    whatever \"is ignored\"\n}".into());
        }
    }
    let mut out = lines.join("\n") + "\n";
    if bit(5) {
        // A node ended by `;` and the next one on the same line. (Not after a slashdashed node:
        // kdl-rs refuses `/-a; b`, kdl-org/kdl-rs#107; the loader says so in its help.)
        // (A `hosts` node with a block of rules ends its line with `{`: nothing to end there.)
        if let Some(at) = out.find("\n    hosts ")
            && let Some(end) = out[at + 1..].find('\n').map(|e| at + 1 + e)
            && !out[..end].ends_with('{')
        {
            out.replace_range(end..=end, "; ");
        }
    }
    if bit(2) || bit(3) {
        out = respell_strings(&out, bit(3), bit(2));
    }
    if bit(6) {
        out = out.replace('\n', "\r\n");
    }
    out
}

/// Each plain quoted string of `text` as an identifier string (`bare`, when KDL allows it)
/// or a raw string (`raw`, when it holds no `"` or `\`).
fn respell_strings(text: &str, bare: bool, raw: bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        // A string that starts a raw string already, or one holding escapes, stays.
        let Some(len) = rest[start + 1..].find(['"', '\\']) else {
            break;
        };
        let end = start + 1 + len;
        if rest.as_bytes()[end] == b'\\' || rest[..start].ends_with('#') {
            let close = rest[start + 1..]
                .match_indices('"')
                .find(|(i, _)| !rest[start + 1..start + 1 + i].ends_with('\\'))
                .map_or(rest.len(), |(i, _)| start + 2 + i);
            out += &rest[..close];
            rest = &rest[close..];
            continue;
        }
        let inner = &rest[start + 1..end];
        out += &rest[..start];
        let identifier = inner
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            && !["true", "false", "null", "inf", "nan"].contains(&inner);
        out += &if bare && identifier {
            inner.to_string()
        } else if raw {
            format!("#\"{inner}\"#")
        } else {
            format!("\"{inner}\"")
        };
        rest = &rest[end + 1..];
    }
    out + rest
}
