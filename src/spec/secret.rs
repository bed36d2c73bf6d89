//! What of a spec's text is never shown: the values of `password=` properties. Diagnostics
//! quote the source around what they point at, and a password hash (or a plain-text password
//! refused as one) must not reach a terminal or a CI log that way; [`mask`] blanks those values
//! byte for byte, so every span still points at the same place.

/// `text` with the value of every `password=` property (a quoted or raw KDL string, spaces
/// around `=` allowed as KDL v2 allows them) replaced by `*`, one per byte, line breaks kept.
/// Text without `password` is returned as is.
pub fn mask(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut from = 0;
    while let Some(i) = text[from..].find("password") {
        let start = from + i;
        from = start + "password".len();
        // Only a property name: not the end of a longer identifier (`xpassword`).
        let prev = start.checked_sub(1).map(|p| b[p]);
        if prev.is_some_and(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)) {
            continue;
        }
        let mut j = from;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        // The value: a quoted string (`"…"`, `\"` inside), a raw string (`#"…"#`), or a bare
        // word up to a space, `;`, `{` or line end.
        let end = match b.get(j) {
            Some(b'"') => {
                let mut k = j + 1;
                while k < b.len() && b[k] != b'"' {
                    k += if b[k] == b'\\' { 2 } else { 1 };
                }
                k.min(b.len())
            }
            Some(b'#') => {
                let hashes = b[j..].iter().take_while(|c| **c == b'#').count();
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let body = j + hashes + 1;
                b.get(body..)
                    .and_then(|rest| rest.windows(close.len()).position(|w| w == close))
                    .map_or(b.len(), |p| body + p)
            }
            _ => {
                let mut k = j;
                while k < b.len() && !b" \t\r\n;{}".contains(&b[k]) {
                    k += 1;
                }
                k
            }
        };
        let body_start = match b.get(j) {
            Some(b'"') => j + 1,
            Some(b'#') => j + b[j..].iter().take_while(|c| **c == b'#').count() + 1,
            _ => j,
        };
        for c in out.iter_mut().take(end).skip(body_start.min(end)) {
            if *c != b'\n' && *c != b'\r' {
                *c = b'*';
            }
        }
        from = end.max(from);
    }
    // Only ASCII bytes were replaced, each whole UTF-8 sequence with `*`s (a continuation byte
    // is never a line break): the result is valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn password_values_are_blanked_in_place() {
        let cases = [
            (
                "user \"a\" password=\"$6$salt$hash\"\n",
                "user \"a\" password=\"************\"\n",
            ),
            (
                "user a password = \"x\\\"y\";",
                "user a password = \"****\";",
            ),
            ("user a password=#\"p\"w\"#", "user a password=#\"***\"#"),
            ("user a password=hunter2 {", "user a password=******* {"),
            ("user a password=\"é\"", "user a password=\"**\""),
            (
                "user a xpassword=\"x\" passwords",
                "user a xpassword=\"x\" passwords",
            ),
            ("// the password is secret", "// the password is secret"),
        ];
        for (text, want) in cases {
            let got = mask(text);
            assert_eq!(got, want);
            assert_eq!(got.len(), text.len());
        }
        let unterminated = "user a password=\"abc\ndef";
        assert_eq!(mask(unterminated), "user a password=\"***\n***");
    }
}
