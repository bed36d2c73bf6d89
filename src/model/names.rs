//! Checked text: every string of the model that reaches a rendered file — host names,
//! identifiers, certificate and cookie names, URL paths, file paths, e-mail addresses, command
//! arguments, name patterns, page bodies. Each constructor refuses what could break out of its
//! place in HAProxy's, systemd's or certbot's syntax.

use std::fmt;

use serde::Serialize;

use super::{Color, Invalid, check_chars};

string_newtype!(
    /// A fully qualified DNS host name, lower-cased, without port or trailing dot.
    Host
);

impl Host {
    /// Check `s` as an ASCII DNS name (IDNs must be given in punycode).
    pub fn parse(s: &str) -> Result<Host, Invalid> {
        const E: &str = "a DNS host name (IDNs in punycode, `xn--…`)";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || c == '-' || c == '.')?;
        let lower = s.to_ascii_lowercase();
        if lower.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        if lower.len() > 253 {
            return Err(Invalid::new(
                E,
                format!("is {} characters long; at most 253", lower.len()),
            ));
        }
        for label in lower.split('.') {
            if label.is_empty() {
                return Err(Invalid::new(
                    E,
                    "has an empty label (`..`, or a leading/trailing dot)",
                ));
            }
            if label.len() > 63 {
                return Err(Invalid::new(
                    E,
                    format!("has a label of {} characters; at most 63", label.len()),
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(Invalid::new(
                    E,
                    format!("label `{label}` starts or ends with `-`"),
                ));
            }
        }
        Ok(Host(lower))
    }
}

string_newtype!(
    /// A name safe as an HAProxy backend, ACL, server or cookie-value fragment and as a file name.
    Ident
);

impl Ident {
    /// Letters, digits, `_` and `-`, starting with a letter, at most 63 characters.
    pub fn parse(s: &str) -> Result<Ident, Invalid> {
        const E: &str = "a name (letters, digits, `_`, `-`; starting with a letter)";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')?;
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        if s.len() > 63 {
            return Err(Invalid::new(
                E,
                format!("is {} characters long; at most 63", s.len()),
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(Invalid::new(E, "must start with a letter"));
        }
        Ok(Ident(s.to_string()))
    }
}

string_newtype!(
    /// A certificate name (certbot's `--cert-name`, the PEM's file name): like a host name,
    /// lower-case letters, digits, `.`, `_`, `-`.
    CertName
);

impl CertName {
    /// Check a certificate name.
    pub fn parse(s: &str) -> Result<CertName, Invalid> {
        const E: &str = "a certificate name (lower-case letters, digits, `.`, `_`, `-`)";
        check_chars(s, E, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)
        })?;
        if s.is_empty() || s.len() > 63 {
            return Err(Invalid::new(E, "must be 1 to 63 characters long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || s.contains("..") {
            return Err(Invalid::new(
                E,
                "must start with a letter or digit and not contain `..`",
            ));
        }
        Ok(CertName(s.to_string()))
    }
}

string_newtype!(
    /// An HTTP cookie name (RFC 6265 token, restricted to `A-Z a-z 0-9 _ -`).
    CookieName
);

impl CookieName {
    /// Check a cookie name.
    pub fn parse(s: &str) -> Result<CookieName, Invalid> {
        const E: &str = "a cookie name (letters, digits, `_`, `-`)";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')?;
        if s.is_empty() || s.len() > 64 {
            return Err(Invalid::new(E, "must be 1 to 64 characters long"));
        }
        Ok(CookieName(s.to_string()))
    }
}

/// Characters allowed in a URL path piece that reaches haproxy.cfg: unreserved, `/`, `%` and a
/// few sub-delimiters that are inert in HAProxy's tokenizer.
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~/%+,=:@!".contains(c)
}

string_newtype!(
    /// A URL path or path prefix, starting with `/`.
    PathPrefix
);

impl PathPrefix {
    /// `/.well-known/acme-challenge/`, where ACME http-01 challenges arrive (RFC 8555 §8.3).
    pub fn acme_challenge() -> PathPrefix {
        PathPrefix(crate::rules::ACME_PREFIX.to_string())
    }

    /// Check a path: starts with `/`, only inert URL characters.
    pub fn parse(s: &str) -> Result<PathPrefix, Invalid> {
        const E: &str = "a URL path starting with `/`";
        check_chars(s, E, path_char)?;
        if !s.starts_with('/') {
            return Err(Invalid::new(E, "must start with `/`"));
        }
        if s.len() > 1024 {
            return Err(Invalid::new(E, "is longer than 1024 characters"));
        }
        Ok(PathPrefix(s.to_string()))
    }
}

string_newtype!(
    /// The URL a health check requests: a path starting with `/`, optionally with a query string
    /// (`/health?full=1`), only inert URL characters.
    HealthPath
);

impl HealthPath {
    /// Check a health-check URL: a [`PathPrefix`], then optionally `?` and a query of inert URL
    /// characters (`&` `=` `;` too).
    ///
    /// # Errors
    /// Not starting with `/`, a character that is not inert, longer than 1024 bytes.
    pub fn parse(s: &str) -> Result<HealthPath, Invalid> {
        const E: &str = "a URL path starting with `/`, optionally with a `?query`";
        let (path, query) = s.split_once('?').unwrap_or((s, ""));
        PathPrefix::parse(path).map_err(|e| Invalid { expected: E, ..e })?;
        check_chars(query, E, |c| path_char(c) || "&;?".contains(c))?;
        if s.len() > 1024 {
            return Err(Invalid::new(E, "is longer than 1024 characters"));
        }
        Ok(HealthPath(s.to_string()))
    }
}

string_newtype!(
    /// A string a health-check response body must contain (or a TCP check sends): printable
    /// ASCII and spaces, no `"`, `\\` or `$` (rendered inside double quotes, where haproxy reads
    /// `$NAME` as an environment variable), at most 256 bytes.
    CheckString
);

impl CheckString {
    /// Check the string.
    ///
    /// # Errors
    /// Empty, a character outside printable ASCII, `"` or `\\`, longer than 256 bytes.
    pub fn parse(s: &str) -> Result<CheckString, Invalid> {
        const E: &str = "text the response body must contain (printable ASCII, no `\"`, `\\`, `$`)";
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        // `$` too: haproxy expands `$NAME` from its environment inside double quotes.
        check_chars(s, E, |c| {
            (' '..='~').contains(&c) && c != '"' && c != '\\' && c != '$'
        })?;
        if s.len() > 256 {
            return Err(Invalid::new(E, "is longer than 256 characters"));
        }
        Ok(CheckString(s.to_string()))
    }
}

string_newtype!(
    /// A URL path suffix such as `.m3u8`.
    PathSuffix
);

impl PathSuffix {
    /// Check a suffix: non-empty, only inert URL characters.
    pub fn parse(s: &str) -> Result<PathSuffix, Invalid> {
        const E: &str = "a URL path suffix";
        check_chars(s, E, path_char)?;
        if s.is_empty() || s.len() > 256 {
            return Err(Invalid::new(E, "must be 1 to 256 characters long"));
        }
        // HAProxy reads a pattern starting with `-` as a flag (`-f FILE` loads patterns).
        if s.starts_with('-') {
            return Err(Invalid::new(
                E,
                "must not start with `-` (HAProxy would read it as an ACL flag)",
            ));
        }
        Ok(PathSuffix(s.to_string()))
    }
}

string_newtype!(
    /// An absolute file system path on the edge box.
    AbsPath
);

impl AbsPath {
    /// Absolute, no `..` component, only `A-Z a-z 0-9 . _ - / +` characters.
    pub fn parse(s: &str) -> Result<AbsPath, Invalid> {
        const E: &str = "an absolute path";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || "._-/+".contains(c))?;
        if !s.starts_with('/') {
            return Err(Invalid::new(E, "must start with `/`"));
        }
        if s.split('/').any(|p| p == "..") {
            return Err(Invalid::new(E, "must not contain `..`"));
        }
        Ok(AbsPath(s.trim_end_matches('/').to_string()).or_root())
    }

    fn or_root(self) -> AbsPath {
        if self.0.is_empty() {
            AbsPath("/".into())
        } else {
            self
        }
    }
}

string_newtype!(
    /// A local directory path as written in a spec (relative to the specs directory or absolute).
    LocalPath
);

impl LocalPath {
    /// Any path without control characters.
    pub fn parse(s: &str) -> Result<LocalPath, Invalid> {
        const E: &str = "a directory path";
        check_chars(s, E, |c| !c.is_control())?;
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        Ok(LocalPath(s.to_string()))
    }
}

string_newtype!(
    /// An e-mail address for the ACME account.
    Email
);

impl Email {
    /// A conservative `local@domain` check; the domain must be a valid [`Host`].
    pub fn parse(s: &str) -> Result<Email, Invalid> {
        const E: &str = "an e-mail address";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || "._+-@".contains(c))?;
        let Some((local, domain)) = s.split_once('@') else {
            return Err(Invalid::new(E, "has no `@`"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(Invalid::new(E, "local part must be 1 to 64 characters"));
        }
        let domain =
            Host::parse(domain).map_err(|e| Invalid::new(E, format!("domain {}", e.reason)))?;
        if !domain.as_str().contains('.') {
            return Err(Invalid::new(E, "domain has no dot"));
        }
        Ok(Email(format!("{local}@{domain}")))
    }
}

string_newtype!(
    /// One argument of a command run on the edge box (validate, reload, probe).
    Arg
);

impl Arg {
    /// Shell- and config-inert characters only.
    pub fn parse(s: &str) -> Result<Arg, Invalid> {
        const E: &str = "a command argument";
        check_chars(s, E, |c| {
            c.is_ascii_alphanumeric() || "._/=:@%+,-".contains(c)
        })?;
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        Ok(Arg(s.to_string()))
    }
}

/// Text of a placeholder page body: printable UTF-8, newlines and tabs, at most 4 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Body(String);

impl Body {
    /// Check a body. It is served verbatim from an error file, never parsed as config.
    pub fn parse(s: &str) -> Result<Body, Invalid> {
        const E: &str = "a page body (printable text)";
        check_chars(s, E, |c| c == '\n' || c == '\t' || !c.is_control())?;
        Ok(Body(s.to_string()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pattern such as `veza-staging-{component}-{color}.lxd` that names a component's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NamePattern(String);

impl NamePattern {
    /// The placeholders a pattern may use.
    pub const PLACEHOLDERS: [&str; 4] = ["{env}", "{component}", "{color}", "{index}"];

    /// A pattern must name `{component}` and `{color}` and give a valid host name once filled.
    pub fn parse(s: &str) -> Result<NamePattern, Invalid> {
        const E: &str = "a container-name pattern with `{component}` and `{color}`";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || ".-{}".contains(c))?;
        for needed in ["{component}", "{color}"] {
            if !s.contains(needed) {
                return Err(Invalid::new(E, format!("does not contain `{needed}`")));
            }
        }
        let mut probe = s.to_string();
        for p in Self::PLACEHOLDERS {
            probe = probe.replace(p, "x");
        }
        if probe.contains(['{', '}']) {
            return Err(Invalid::new(
                E,
                "has an unknown placeholder; known: `{env}`, `{component}`, `{color}`, `{index}`",
            ));
        }
        Host::parse(&probe).map_err(|e| Invalid::new(E, format!("filled in, {}", e.reason)))?;
        Ok(NamePattern(s.to_string()))
    }

    /// True when the pattern numbers instances (`{index}`).
    pub fn has_index(&self) -> bool {
        self.0.contains("{index}")
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Fill the pattern for one server: instance `index` (1-based) of `component` in `color`.
    pub fn fill(
        &self,
        env: &Ident,
        component: &Ident,
        color: Color,
        index: u32,
    ) -> Result<Host, Invalid> {
        let s = self
            .0
            .replace("{env}", env.as_str())
            .replace("{component}", component.as_str())
            .replace("{color}", color.as_str())
            .replace("{index}", &index.to_string());
        Host::parse(&s)
    }
}
