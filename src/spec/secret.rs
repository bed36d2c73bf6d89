//! What of a spec's text is never shown: password hashes and passwords. Diagnostics quote the
//! source around what they point at, and a password hash (or a plain-text password refused as
//! one) must not reach a terminal or a CI log that way; [`mask`] blanks them byte for byte, so
//! every span still points at the same place.

/// The `crypt(3)` scheme ids a hash may start with (`$ID$`): whatever a `password=` could hold,
/// accepted or refused.
const CRYPT_IDS: &[&str] = &[
    "1", "2a", "2b", "2x", "2y", "5", "6", "7", "y", "gy", "apr1", "md5", "sha1", "argon2i",
    "argon2d", "argon2id", "scrypt", "pbkdf2",
];

/// `text` with secrets replaced by `*`, one per byte, line breaks kept:
/// - the value of every `password=` property (any case, the key quoted or not, spaces around
///   `=` as KDL v2 allows): a quoted, multi-line (`"""`), raw (`#"…"#`) string or a bare word;
/// - every string shaped like a `crypt(3)` hash (`$6$…`, `$2y$…`, `$apr1$…`), wherever it
///   stands (a hash given as an argument by mistake).
///
/// Text holding neither is returned as is. The result is always valid UTF-8 of the same length.
pub fn mask(text: &str) -> String {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    property_values(text, &mut spans);
    hash_shapes(text, &mut spans);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = text.as_bytes().to_vec();
    for (start, end) in spans {
        // Whole characters only, so the result stays UTF-8.
        let mut s = start.min(text.len());
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        let mut e = end.min(text.len());
        while !text.is_char_boundary(e) {
            e += 1;
        }
        for c in &mut out[s..e] {
            if *c != b'\n' && *c != b'\r' {
                *c = b'*';
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| "*".repeat(text.len()))
}

/// The value spans of `password=` properties.
fn property_values(text: &str, spans: &mut Vec<(usize, usize)>) {
    let lower = text.to_ascii_lowercase();
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let start = from + i;
        from = start + "password".len();
        // Only a property name: not the end of a longer identifier (`xpassword`).
        let prev = start.checked_sub(1).map(|p| b[p]);
        if prev.is_some_and(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)) {
            continue;
        }
        let mut j = from;
        // A quoted key: `"password"=`.
        if prev == Some(b'"') && b.get(j) == Some(&b'"') {
            j += 1;
        }
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
        let (body, end) = value_span(b, j);
        spans.push((body, end));
        from = end.max(from);
    }
}

/// The body of the KDL value starting at `j`: `(start, end)` without its quotes.
fn value_span(b: &[u8], j: usize) -> (usize, usize) {
    let find = |from: usize, close: &[u8]| {
        b.get(from..)
            .and_then(|rest| rest.windows(close.len()).position(|w| w == close))
            .map_or(b.len(), |p| from + p)
    };
    let rest = &b[j.min(b.len())..];
    if rest.starts_with(b"\"\"\"") {
        return (j + 3, find(j + 3, b"\"\"\""));
    }
    if rest.starts_with(b"\"") {
        let mut k = j + 1;
        while k < b.len() && b[k] != b'"' {
            k += if b[k] == b'\\' { 2 } else { 1 };
        }
        return (j + 1, k.min(b.len()));
    }
    let hashes = rest.iter().take_while(|c| **c == b'#').count();
    if hashes > 0 && rest.get(hashes) == Some(&b'"') {
        let multi = rest[hashes..].starts_with(b"\"\"\"");
        let quotes = if multi { 3 } else { 1 };
        let mut close = vec![b'"'; quotes];
        close.extend(std::iter::repeat_n(b'#', hashes));
        let body = j + hashes + quotes;
        return (body, find(body, &close));
    }
    let mut k = j;
    while k < b.len() && !b" \t\r\n;{}".contains(&b[k]) {
        k += 1;
    }
    (j, k)
}

/// Strings shaped like `$ID$…` with a known crypt id, up to a quote, space or line end.
fn hash_shapes(text: &str, spans: &mut Vec<(usize, usize)>) {
    let b = text.as_bytes();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let Some(id_len) = rest.find('$') else {
            continue;
        };
        if !CRYPT_IDS.contains(&&rest[..id_len]) {
            continue;
        }
        let mut k = i;
        while k < b.len() && !b" \t\r\n\"';{}".contains(&b[k]) {
            k += 1;
        }
        spans.push((i, k));
    }
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn password_values_are_blanked_in_place() {
        let cases = [
            (
                "user \"a\" password=\"abc$salt\"\n",
                "user \"a\" password=\"********\"\n",
            ),
            (
                "user a password = \"x\\\"y\";",
                "user a password = \"****\";",
            ),
            ("user a password=#\"p\"w\"#", "user a password=#\"***\"#"),
            ("user a password=hunter2 {", "user a password=******* {"),
            ("user a password=\"é\"", "user a password=\"**\""),
            ("user a Password=\"x\"", "user a Password=\"*\""),
            ("user a \"password\"=\"xy\"", "user a \"password\"=\"**\""),
            ("user a password=#é x", "user a password=*** x"),
            (
                "user a password=\"\"\"\nabc\n\"\"\"",
                "user a password=\"\"\"\n***\n\"\"\"",
            ),
            (
                "user a xpassword=\"x\" passwords",
                "user a xpassword=\"x\" passwords",
            ),
            ("// the password is secret", "// the password is secret"),
            // A hash given where it does not belong, and one in another property.
            ("user \"a\" \"$6$s$h\"", "user \"a\" \"******\""),
            ("x y=\"$2y$05$abc\" $HOME", "x y=\"**********\" $HOME"),
        ];
        for (text, want) in cases {
            let got = mask(text);
            assert_eq!(got, want, "{text:?}");
            assert_eq!(got.len(), text.len());
        }
        let unterminated = "user a password=\"abc\ndef";
        assert_eq!(mask(unterminated), "user a password=\"***\n***");
        // Another line's hash is never shown because a later value is odd.
        let two = "user \"a\" password=\"$6$s$secret\"\nuser \"b\" password=#é\n";
        assert!(!mask(two).contains("secret"), "{}", mask(two));
    }
}
