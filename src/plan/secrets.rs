//! Secrets inside files whose diffs a plan shows: the password hashes of haproxy.cfg's
//! `userlist` sections. A plan shows each as `(sensitive #FINGERPRINT)` — the first 8 hex digits
//! of the hash's blake3 digest, so a reviewer sees *which* user's credentials changed and
//! nothing that helps to guess a password (the digest of a salted hash).

/// `text` with the value after `password` or `insecure-password` on every `user` line (haproxy's
/// `userlist` syntax: `user NAME [password HASH | insecure-password PASS] [groups …]`)
/// replaced by a fingerprint. Other lines are kept byte for byte.
pub fn mask(text: &str) -> String {
    if !text.contains("password") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&mask_line(line));
    }
    out
}

/// The fingerprint of a secret: the first 8 hex digits of its blake3 digest.
pub fn fingerprint(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex()[..8].to_string()
}

fn mask_line(line: &str) -> std::borrow::Cow<'_, str> {
    let body = line.trim_start();
    if !body.starts_with("user ") {
        return line.into();
    }
    let words: Vec<&str> = body.split_whitespace().collect();
    // `user NAME password HASH …`: the keyword is the third word (a user may be named
    // `password`).
    let i = 2;
    if !words
        .get(i)
        .is_some_and(|w| *w == "password" || *w == "insecure-password")
    {
        return line.into();
    }
    let Some(secret) = words.get(i + 1) else {
        return line.into();
    };
    let indent = &line[..line.len() - body.len()];
    let fingerprint = fingerprint(secret);
    let mut masked: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    masked[i + 1] = format!("(sensitive #{fingerprint})");
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    format!("{indent}{}{newline}", masked.join(" ")).into()
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn hashes_are_fingerprinted_and_nothing_else_changes() {
        let cfg = "userlist team\n    user alice password $6$salt$abc groups ops\n    \
                   user bob insecure-password hunter2\nfrontend f\n    # a password here\n";
        let m = mask(cfg);
        assert!(!m.contains("$6$salt$abc") && !m.contains("hunter2"), "{m}");
        assert!(m.contains("    user alice password (sensitive #"), "{m}");
        assert!(m.contains(") groups ops\n"), "{m}");
        assert!(m.ends_with("frontend f\n    # a password here\n"), "{m}");
        // Same hash, same fingerprint; another hash, another one.
        assert_eq!(m, mask(cfg));
        assert_ne!(m, mask(&cfg.replace("abc", "abd")));
        assert_eq!(mask("no secrets\n"), "no secrets\n");
        // A user named like the keyword.
        let m = mask("    user password password $6$x$secret\n");
        assert!(
            !m.contains("$6$x$secret") && m.starts_with("    user password password ("),
            "{m}"
        );
    }
}
