//! The checked model of an edge: value types that cannot hold an invalid state, and the
//! whole-edge [`Edge`] that [`crate::validate`] builds from the decoded [`crate::spec`].
//!
//! Every string that reaches a rendered file passes through one of these constructors, so the
//! templates never have to quote or escape anything: a `Host` is a lower-cased DNS name, a
//! `PathPrefix` holds only characters that cannot end an HAProxy token or start a comment, an
//! `Ident` is safe as an HAProxy section, ACL or server name. Maps are `BTreeMap` so that every
//! walk over the model, and so every rendered byte, is in a stable order.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Longest string any spec field may hold; anything longer is refused as hostile or a mistake.
pub const MAX_STRING: usize = 4096;

/// Why a value was refused; the decoder turns this into a spanned diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// What the value should have been ("a DNS host name").
    pub expected: &'static str,
    /// What is wrong with it.
    pub reason: String,
    /// True when the value carries characters that could change the meaning of a config file.
    pub unsafe_chars: bool,
}

impl Invalid {
    fn new(expected: &'static str, reason: impl Into<String>) -> Self {
        Invalid {
            expected,
            reason: reason.into(),
            unsafe_chars: false,
        }
    }
}

/// Describe the first character that may not appear in a config token, if any.
fn forbidden_char(s: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    s.chars().find(|c| !allowed(*c)).map(|c| match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        '\0' => "a NUL byte".to_string(),
        '#' => "`#` (starts a comment in haproxy.cfg)".to_string(),
        '"' | '\'' => format!("a quote `{c}`"),
        '\\' => "a backslash".to_string(),
        '`' => "a backtick".to_string(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("non-ASCII character `{c}` (U+{:04X})", c as u32),
        c => format!("`{c}`"),
    })
}

fn check_chars(
    s: &str,
    expected: &'static str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Invalid> {
    if s.len() > MAX_STRING {
        return Err(Invalid::new(
            expected,
            format!("{} bytes is too long", s.len()),
        ));
    }
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        let what = forbidden_char(s, allowed).unwrap_or_default();
        // Characters that could end a token, start a comment, quote, expand or add a line.
        let unsafe_chars =
            c.is_whitespace() || c.is_control() || !c.is_ascii() || "#\"'\\$;`".contains(c);
        return Err(Invalid {
            expected,
            reason: format!("contains {what}"),
            unsafe_chars,
        });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

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

/// The statuses a health check accepts: codes and ranges (`200`, `200-399`, `200,204`), as
/// haproxy's `http-check expect status` takes them. Default `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    /// Parse a comma-separated list of codes or `LOW-HIGH` ranges, each within 100..=599.
    ///
    /// # Errors
    /// Empty, not a number, out of 100..=599, a range whose low end is above its high end.
    pub fn parse(s: &str) -> Result<StatusSet, Invalid> {
        const E: &str = "HTTP status codes or ranges such as `200`, `200-399`, `200,204`";
        let code = |t: &str| -> Result<u16, Invalid> {
            let n: u16 = t
                .trim()
                .parse()
                .map_err(|_| Invalid::new(E, format!("`{t}` is not a status code")))?;
            if (100..=599).contains(&n) {
                Ok(n)
            } else {
                Err(Invalid::new(E, format!("{n} is not within 100..=599")))
            }
        };
        let mut out = Vec::new();
        for part in s.split(',') {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(Invalid::new(E, format!("range {lo}-{hi} is empty")));
            }
            out.push((lo, hi));
        }
        Ok(StatusSet(out))
    }

    /// Only 200.
    pub fn ok() -> StatusSet {
        StatusSet(vec![(200, 200)])
    }

    /// Does it accept `status`?
    pub fn accepts(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for StatusSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

string_newtype!(
    /// A string a health-check response body must contain: printable ASCII and spaces, no `"`
    /// or `\\` (rendered inside double quotes), at most 256 bytes.
    CheckString
);

impl CheckString {
    /// Check the string.
    ///
    /// # Errors
    /// Empty, a character outside printable ASCII, `"` or `\\`, longer than 256 bytes.
    pub fn parse(s: &str) -> Result<CheckString, Invalid> {
        const E: &str = "text the response body must contain (printable ASCII, no `\"` or `\\`)";
        if s.is_empty() {
            return Err(Invalid::new(E, "is empty"));
        }
        check_chars(s, E, |c| (' '..='~').contains(&c) && c != '"' && c != '\\')?;
        if s.len() > 256 {
            return Err(Invalid::new(E, "is longer than 256 characters"));
        }
        Ok(CheckString(s.to_string()))
    }
}

/// What a health check expects of the response, beyond its path.
#[derive(Debug, Clone, Serialize)]
pub struct HealthExpect {
    /// Accepted statuses (`http-check expect status`).
    pub status: StatusSet,
    /// A string the body must contain (`http-check expect string`).
    pub body: Option<CheckString>,
    /// How long a check may take (`timeout check`); `None`: haproxy's (the `inter`).
    pub timeout: Option<Duration>,
}

impl Default for HealthExpect {
    fn default() -> Self {
        HealthExpect {
            status: StatusSet::ok(),
            body: None,
            timeout: None,
        }
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

/// A TCP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Port(u16);

impl Port {
    /// Check an integer as a port.
    pub fn new(n: i128) -> Result<Port, Invalid> {
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(Invalid::new(
                "a TCP port",
                format!("{n} is not in 1..=65535"),
            )),
        }
    }
    /// A port known to be valid at compile time.
    pub const fn of(n: u16) -> Port {
        assert!(n > 0);
        Port(n)
    }
    /// The port number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`) or one address (`10.0.20.5`, a /32 or /128),
/// with no host bits set. Shown and rendered in CIDR form, as haproxy's `src` ACL takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Network(ipnet::IpNet);

impl Network {
    /// Parse `ADDRESS/PREFIX` or `ADDRESS`.
    ///
    /// # Errors
    /// Not an address or network, or host bits set (`10.0.0.5/8`: did you mean `10.0.0.0/8`?).
    pub fn parse(s: &str) -> Result<Network, Invalid> {
        const E: &str = "an IP network such as `10.0.0.0/8` or `2001:db8::/32`, or one address";
        let bad = |reason: String| Invalid {
            expected: E,
            reason,
            unsafe_chars: false,
        };
        let net = match s.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => s
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| bad("is not an IP address or network".into()))?,
        };
        if net.trunc() != net {
            return Err(bad(format!(
                "has host bits set (did you mean `{}`?)",
                net.trunc()
            )));
        }
        Ok(Network(net))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Network {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// A duration as HAProxy understands it, kept in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u32);

impl Duration {
    /// Parse `500ms`, `5s`, `30m`, `1h`, `2d`; at most 24 days (HAProxy keeps ms in a signed
    /// 32-bit timer).
    pub fn parse(s: &str) -> Result<Duration, Invalid> {
        const E: &str = "a duration such as `500ms`, `5s`, `1m`, `1h`";
        check_chars(s, E, |c| c.is_ascii_alphanumeric())?;
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(Invalid::new(E, "has no number"));
        }
        let mult: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(Invalid::new(E, "has no unit")),
            u => return Err(Invalid::new(E, format!("unknown unit `{u}`"))),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| Invalid::new(E, "number is too large"))?;
        let ms = n.checked_mul(mult).filter(|ms| *ms <= i32::MAX as u64);
        match ms {
            Some(ms) => Ok(Duration(ms as u32)),
            None => Err(Invalid::new(E, "is longer than 24 days")),
        }
    }
    /// A whole number of seconds.
    pub const fn secs(n: u32) -> Duration {
        Duration(n * 1000)
    }
    /// Milliseconds.
    pub fn millis(self) -> u64 {
        u64::from(self.0)
    }
}

impl fmt::Display for Duration {
    /// The shortest exact HAProxy spelling (`90s` rather than `90000ms`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms != 0 && ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Blue/green colour of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// The blue half.
    Blue,
    /// The green half.
    Green,
}

impl Color {
    /// Both colours in rendering order.
    pub const ALL: [Color; 2] = [Color::Blue, Color::Green];

    /// `blue` or `green`.
    pub fn parse(s: &str) -> Result<Color, Invalid> {
        match s {
            "blue" => Ok(Color::Blue),
            "green" => Ok(Color::Green),
            _ => Err(Invalid::new(
                "a colour: `blue` or `green`",
                format!("`{}` is neither", s.escape_debug()),
            )),
        }
    }
    /// The other colour.
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an upstream lives: a host name or IP, and a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Address {
    /// Host name (lower-cased) or IPv4 address; IPv6 literals are written `[::1]:80`.
    pub host: String,
    /// Port.
    pub port: Port,
}

impl Address {
    /// Parse `host:port`, `1.2.3.4:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<Address, Invalid> {
        const E: &str = "an address `host:port`";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))?;
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(Invalid::new(E, "has no `:port`"));
        };
        let port: i128 = port
            .parse()
            .map_err(|_| Invalid::new(E, format!("port `{port}` is not a number")))?;
        let port = Port::new(port).map_err(|e| Invalid::new(E, e.reason))?;
        let host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| Invalid::new(E, format!("`{v6}` is not an IPv6 address")))?;
            format!("[{v6}]")
        } else if host.parse::<std::net::Ipv4Addr>().is_ok() {
            host.to_string()
        } else {
            Host::parse(host)
                .map_err(|e| Invalid::new(E, format!("host {}", e.reason)))?
                .0
        };
        Ok(Address { host, port })
    }

    /// True when the host is a loopback IP or `localhost`.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A listening address: `*:443`, `0.0.0.0:80`, `127.0.0.1:9100`, `[::]:443`.
/// Serialized as HAProxy writes it (`:443`, `127.0.0.1:9100`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// IP to bind, or `*` for all.
    pub ip: String,
    /// Port.
    pub port: Port,
}

impl Bind {
    /// Parse a bind address; the host part must be `*` or an IP literal.
    pub fn parse(s: &str) -> Result<Bind, Invalid> {
        const E: &str = "a listen address `IP:port` or `*:port`";
        check_chars(s, E, |c| c.is_ascii_alphanumeric() || ".:[]*".contains(c))?;
        let Some((ip, port)) = s.rsplit_once(':') else {
            return Err(Invalid::new(E, "has no `:port`"));
        };
        let port: i128 = port
            .parse()
            .map_err(|_| Invalid::new(E, format!("port `{port}` is not a number")))?;
        let port = Port::new(port).map_err(|e| Invalid::new(E, e.reason))?;
        let ok = match ip.strip_prefix('[').map(|v6| v6.strip_suffix(']')) {
            // `[v6]`: brackets are for IPv6 literals only, and must be balanced.
            Some(inner) => inner.is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok()),
            None => ip == "*" || ip.parse::<std::net::IpAddr>().is_ok(),
        };
        if !ok {
            return Err(Invalid::new(
                E,
                format!("`{ip}` is not `*`, an IPv4 address or a bracketed IPv6 address"),
            ));
        }
        Ok(Bind {
            ip: ip.to_string(),
            port,
        })
    }

    /// True for 127.0.0.0/8 and ::1.
    pub fn is_loopback(&self) -> bool {
        let bare = self.ip.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip == "*" {
            write!(f, ":{}", self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
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

/// How a component's pool balances requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// `balance roundrobin`.
    Roundrobin,
    /// `balance leastconn`.
    Leastconn,
    /// `balance uri whole` + `hash-type consistent`.
    Uri,
}

impl Balance {
    /// `roundrobin`, `leastconn` or `uri`.
    pub fn parse(s: &str) -> Result<Balance, Invalid> {
        match s {
            "roundrobin" => Ok(Balance::Roundrobin),
            "leastconn" => Ok(Balance::Leastconn),
            "uri" => Ok(Balance::Uri),
            _ => Err(Invalid::new(
                "a balance mode: `roundrobin`, `leastconn` or `uri`",
                format!("`{}` is none of them", s.escape_debug()),
            )),
        }
    }
}

/// The ACME directory to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "url")]
pub enum Directory {
    /// Let's Encrypt production.
    Production,
    /// Let's Encrypt staging.
    Staging,
    /// Any other ACME server (`https://…`).
    Custom(String),
}

impl Directory {
    /// Let's Encrypt's production directory.
    pub const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
    /// Let's Encrypt's staging directory.
    pub const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

    /// `production`, `staging` or an `https://` URL.
    pub fn parse(s: &str) -> Result<Directory, Invalid> {
        const E: &str = "`production`, `staging` or an https:// directory URL";
        match s {
            "production" => return Ok(Directory::Production),
            "staging" => return Ok(Directory::Staging),
            _ => {}
        }
        check_chars(s, E, |c| {
            c.is_ascii_alphanumeric() || "-._~/:?=&+@".contains(c)
        })?;
        let Some(rest) = s.strip_prefix("https://") else {
            return Err(Invalid::new(
                E,
                "a custom directory must be an https:// URL",
            ));
        };
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        if host.parse::<std::net::Ipv4Addr>().is_err() {
            Host::parse(host).map_err(|e| Invalid::new(E, format!("URL host {}", e.reason)))?;
        }
        if let Some((_, port)) = authority.rsplit_once(':') {
            let n: i128 = port
                .parse()
                .map_err(|_| Invalid::new(E, "URL port is not a number"))?;
            Port::new(n).map_err(|e| Invalid::new(E, format!("URL port {}", e.reason)))?;
        }
        Ok(Directory::Custom(s.to_string()))
    }

    /// The directory URL.
    pub fn url(&self) -> &str {
        match self {
            Directory::Production => Self::PRODUCTION,
            Directory::Staging => Self::STAGING,
            Directory::Custom(u) => u,
        }
    }
}

/// Private key type of issued certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

impl KeyType {
    /// `ecdsa` or `rsa`.
    pub fn parse(s: &str) -> Result<KeyType, Invalid> {
        match s {
            "ecdsa" => Ok(KeyType::Ecdsa),
            "rsa" => Ok(KeyType::Rsa),
            _ => Err(Invalid::new(
                "a key type: `ecdsa` or `rsa`",
                format!("`{}` is neither", s.escape_debug()),
            )),
        }
    }
    /// certbot's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
        }
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

/// Unix file mode for the admin socket (`600` or `660`), serialized in octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(u32);

impl SocketMode {
    /// `0660`, the default.
    pub const DEFAULT: SocketMode = SocketMode(0o660);

    /// Only owner, or owner and group, may talk to the admin socket.
    pub fn parse(s: &str) -> Result<SocketMode, Invalid> {
        match s {
            "600" => Ok(SocketMode(0o600)),
            "660" => Ok(SocketMode(0o660)),
            _ if !s.is_empty() && s.len() <= 4 && s.chars().all(|c| ('0'..='7').contains(&c)) => {
                Err(Invalid::new(
                    "a socket mode: `600` or `660`",
                    format!("`{s}` would let other users drive haproxy's admin API"),
                ))
            }
            _ => Err(Invalid::new(
                "a socket mode: `600` or `660`",
                format!("`{}` is not an octal file mode", s.escape_debug()),
            )),
        }
    }
}

impl fmt::Display for SocketMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:o}", self.0)
    }
}

macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(Bind, SocketMode);

// ---------------------------------------------------------------------------------------------
// The whole edge.

/// The checked, merged model of every spec file.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Name of the edge (the HAProxy container).
    pub name: Ident,
    /// Public listeners.
    pub listen: Listen,
    /// TLS termination; `None` means HTTP only.
    pub tls: Option<Tls>,
    /// Let's Encrypt; `None` means certificates are managed elsewhere.
    pub acme: Option<Acme>,
    /// Stats page, loopback only.
    pub stats: Option<Stats>,
    /// Admin socket for the runtime API.
    pub admin: AdminSocket,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Health-check defaults.
    pub health: HealthDefaults,
    /// Base name of sticky cookies; each env appends `_<env>` unless it names its own.
    pub sticky_cookie: CookieName,
    /// Networks that may front the edge (a load balancer, the HA pair's peer, a PROXY protocol
    /// sender): the only sources whose client-identity headers (`X-Forwarded-For`, `Forwarded`,
    /// `X-Real-IP`, `X-Forwarded-Host`, `X-Forwarded-Port`) are believed. Empty: nobody.
    pub trusted: Vec<Network>,
    /// Environments by name.
    pub envs: BTreeMap<Ident, Env>,
    /// Outside backends by name.
    pub outside: BTreeMap<Ident, Outside>,
    /// Placeholder sites by name.
    pub placeholders: BTreeMap<Ident, Placeholder>,
    /// Deployment targets by name.
    pub targets: BTreeMap<Ident, Target>,
}

/// Public listeners.
#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// Plain HTTP (ACME challenges + redirect to https when TLS is on).
    pub http: Bind,
    /// HTTPS, present exactly when TLS is on.
    pub https: Option<Bind>,
}

/// TLS settings.
#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    /// Directory of combined PEMs (`cert + chain + key`), one per certificate.
    pub cert_dir: AbsPath,
    /// `TLSv1.2` or `TLSv1.3`.
    pub min_version: String,
}

/// Let's Encrypt / ACME settings shared by the whole edge.
#[derive(Debug, Clone, Serialize)]
pub struct Acme {
    /// Account e-mail.
    pub email: Email,
    /// ACME directory.
    pub directory: Directory,
    /// Loopback port of certbot's standalone challenge responder.
    pub challenge_port: Port,
    /// Loopback address it listens on (`127.0.0.1`, `[::1]`).
    pub challenge_host: String,
    /// Key type.
    pub key_type: KeyType,
    /// Certificate groups: name → domains (sorted).
    pub certificates: BTreeMap<CertName, Vec<Host>>,
}

/// Stats page.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Loopback listen address.
    pub bind: Bind,
    /// URI of the stats page.
    pub uri: PathPrefix,
}

/// Admin socket for the runtime API: a unix socket, or a loopback TCP address.
#[derive(Debug, Clone, Serialize)]
pub struct AdminSocket {
    /// Where it listens.
    pub endpoint: AdminEndpoint,
    /// Mode (unix sockets only).
    pub mode: SocketMode,
}

/// Where the admin socket listens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "at", rename_all = "lowercase")]
pub enum AdminEndpoint {
    /// A unix socket path.
    Unix(AbsPath),
    /// A loopback TCP address.
    Tcp(Address),
}

/// Timeouts.
#[derive(Debug, Clone, Serialize)]
pub struct Timeouts {
    /// Connect to a server.
    pub connect: Duration,
    /// Client inactivity.
    pub client: Duration,
    /// Server inactivity.
    pub server: Duration,
    /// Tunnel (WebSocket) inactivity.
    pub tunnel: Duration,
    /// Time to receive a whole request head.
    pub http_request: Duration,
    /// Keep-alive between requests.
    pub http_keep_alive: Duration,
    /// Time in queue.
    pub queue: Duration,
}

/// Health-check defaults applied to every server.
#[derive(Debug, Clone, Serialize)]
pub struct HealthDefaults {
    /// Interval between checks.
    pub interval: Duration,
    /// Failed checks before down.
    pub fall: u32,
    /// Passed checks before up.
    pub rise: u32,
    /// Linear weight ramp-up after recovery.
    pub slowstart: Duration,
    /// Cut sessions of a server marked down.
    pub shutdown_sessions: bool,
}

/// One environment (staging, prod…).
#[derive(Debug, Clone, Serialize)]
pub struct Env {
    /// Name.
    pub name: Ident,
    /// Public hosts.
    pub hosts: Vec<Host>,
    /// Colour taking traffic unless the box's state says otherwise.
    pub active_color: Color,
    /// How servers are named; `None` when every component lists its instances.
    pub container_pattern: Option<NamePattern>,
    /// The env's own sticky cookie name.
    pub cookie: CookieName,
    /// Components by name.
    pub components: BTreeMap<Ident, Component>,
    /// Path routes in rule order.
    pub routes: Vec<Route>,
    /// Component for everything no route matched (the spec's `default`, or the only component
    /// of an env of one); `None` → the default 503.
    pub default: Option<Ident>,
}

/// One component of an env (backend, stream, web).
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// Name.
    pub name: Ident,
    /// Port the component listens on in its container.
    pub port: Port,
    /// Health-check URL.
    pub health: HealthPath,
    /// What the health check expects.
    pub expect: HealthExpect,
    /// Balancing.
    pub balance: Balance,
    /// The sticky cookie that pins a client to one of its instances (`None`: not sticky). The
    /// env's cookie when it is the env's only sticky component, else `<env cookie>_<component>`:
    /// two components never overwrite each other's pin, and no two cookies of the edge share a
    /// name.
    pub cookie: Option<CookieName>,
    /// Backend name suffix: the backend is `<env>_<pool>`.
    pub pool: Ident,
    /// The servers of the pool: every instance of both colours, blue first, each colour in
    /// index (or spec) order. Each colour has at least one.
    pub instances: Vec<Instance>,
}

impl Component {
    /// The instances of one colour.
    pub fn instances_of(&self, color: Color) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |i| i.color == color)
    }

    /// The instance whose server is named `name`.
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name.as_str() == name)
    }
}

/// One instance of a component in one colour: one `server` line of its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Server name in haproxy.cfg, unique in the component: `blue`/`green` for a colour with
    /// one pattern instance, `blue-1`, `blue-2`… for several, the spec's name for an explicit
    /// `instance`. What `edgeplan server` takes.
    pub name: Ident,
    /// Colour it belongs to.
    pub color: Color,
    /// Host name or IP address (`[v6]`).
    pub host: String,
    /// Port.
    pub port: Port,
    /// Weight 1–256; `None`: HAProxy's default (1).
    pub weight: Option<u16>,
    /// Its number (1-based) when the container pattern names it; `None` for an explicit
    /// `instance`.
    pub index: Option<u32>,
}

impl Instance {
    /// Largest hash-ring id: ids times HAProxy's 4096 ring points per id stay below 2^32.
    pub const MAX_HASH_ID: u32 = (1 << 20) - 1;

    /// The server's `id` in a URI-hashed pool: derived from the instance alone — its colour and
    /// number for pattern instances (so `blue` keeps its id when it becomes `blue-1`), its name
    /// for explicit ones — with FNV-1a, folded into 1..=[`Self::MAX_HASH_ID`]. A server thus
    /// keeps its places on HAProxy's consistent-hash ring when others are added or removed
    /// (HAProxy places a server by its id, which by default is its position in the backend).
    pub fn hash_id(&self) -> u32 {
        let key = match self.index {
            Some(i) => format!("{}-{i}", self.color),
            None => self.name.to_string(),
        };
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h % Self::MAX_HASH_ID + 1
    }
}

/// Most instances a component may have per colour (`instances=`).
pub const MAX_INSTANCES: u32 = 64;
/// Largest server weight (HAProxy's limit).
pub const MAX_WEIGHT: u16 = 256;

/// A path route inside an env.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Name (ACL `<env>_is_<name>`).
    pub name: Ident,
    /// Target component.
    pub to: Ident,
    /// Path prefixes (any matches).
    pub prefixes: Vec<PathPrefix>,
    /// Path suffixes (any matches).
    pub suffixes: Vec<PathSuffix>,
}

/// A backend outside the deploy pipeline (Forgejo).
#[derive(Debug, Clone, Serialize)]
pub struct Outside {
    /// Name.
    pub name: Ident,
    /// Hosts routed to it.
    pub hosts: Vec<Host>,
    /// Where it lives.
    pub address: Address,
    /// Optional health-check URL.
    pub health: Option<HealthPath>,
    /// What the health check expects.
    pub expect: HealthExpect,
}

/// A placeholder site answering a fixed status and body.
#[derive(Debug, Clone, Serialize)]
pub struct Placeholder {
    /// Name.
    pub name: Ident,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Body,
}

/// How edgeplan reaches the edge box.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Name.
    pub name: Ident,
    /// Transport.
    pub transport: Transport,
    /// Validate command; the staged config path is appended as the last argument's value.
    pub validate: Vec<Arg>,
    /// Reload command.
    pub reload: Vec<Arg>,
    /// How long after the reload command a new haproxy worker must answer on the admin socket
    /// (default 30 s; [`crate::apply`] checks it).
    pub reload_timeout: Duration,
}

/// A transport to the edge box.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Transport {
    /// A local directory standing for the box's root.
    Local {
        /// Root directory (relative paths are relative to the specs directory).
        root: LocalPath,
    },
    /// The system `ssh` binary.
    Ssh {
        /// Host name or alias from the user's ssh config.
        host: Arg,
        /// User.
        user: Option<Arg>,
        /// Port.
        port: Option<Port>,
        /// Identity file.
        identity: Option<LocalPath>,
    },
    /// The `incus` CLI.
    Incus {
        /// Container name.
        container: Ident,
        /// Remote.
        remote: Option<Ident>,
    },
}

impl Edge {
    /// Every public host and what serves it, in a stable order.
    pub fn public_hosts(&self) -> BTreeMap<&Host, String> {
        let mut out = BTreeMap::new();
        for env in self.envs.values() {
            for h in &env.hosts {
                out.insert(h, format!("env {}", env.name));
            }
        }
        for o in self.outside.values() {
            for h in &o.hosts {
                out.insert(h, format!("outside {}", o.name));
            }
        }
        for p in self.placeholders.values() {
            for h in &p.hosts {
                out.insert(h, format!("placeholder {}", p.name));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lowercased_and_checked() {
        assert_eq!(Host::parse("Veza.FR").unwrap().as_str(), "veza.fr");
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a b",
            "a\nb",
            "a#b",
            "é.fr",
            &"x".repeat(64),
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Host::parse("a\nb").unwrap_err().unsafe_chars);
    }

    #[test]
    fn durations_round_trip() {
        for (s, ms, shown) in [
            ("5s", 5000, "5s"),
            ("90s", 90_000, "90s"),
            ("1h", 3_600_000, "1h"),
            ("500ms", 500, "500ms"),
            ("60s", 60_000, "1m"),
            ("0s", 0, "0ms"),
        ] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(d.millis(), ms);
            assert_eq!(d.to_string(), shown);
        }
        for bad in ["5", "s", "5y", "25d", "99999999999999999999s", "5 s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn addresses() {
        let a = Address::parse("10.0.20.105:3000").unwrap();
        assert_eq!(a.to_string(), "10.0.20.105:3000");
        assert!(Address::parse("[::1]:80").unwrap().is_loopback());
        for bad in ["x", "a:0", "a:70000", "a b:1", "[zz]:1"] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn patterns_fill() {
        let p = NamePattern::parse("veza-staging-{component}-{color}.lxd").unwrap();
        let (staging, web) = (
            Ident::parse("staging").unwrap(),
            Ident::parse("web").unwrap(),
        );
        let h = p.fill(&staging, &web, Color::Green, 2);
        assert_eq!(h.unwrap().as_str(), "veza-staging-web-green.lxd");
        assert!(!p.has_index());
        assert!(NamePattern::parse("veza-{component}.lxd").is_err());
        assert!(NamePattern::parse("veza-{component}-{colour}.lxd").is_err());
        let p = NamePattern::parse("{env}-{component}-{color}-{index}.lxd").unwrap();
        assert!(p.has_index());
        let h = p.fill(&staging, &web, Color::Blue, 3).unwrap();
        assert_eq!(h.as_str(), "staging-web-blue-3.lxd");
    }

    #[test]
    fn paths_refuse_config_syntax() {
        assert!(PathPrefix::parse("/api/").is_ok());
        for bad in ["api", "/a b", "/a#b", "/a\"", "/a\n"] {
            assert!(PathPrefix::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
    /// `(input, accepted)`; a refusal of a hostile value must be flagged unsafe.
    fn table<T: std::fmt::Debug>(
        parse: impl Fn(&str) -> Result<T, Invalid>,
        cases: &[(&str, bool)],
    ) {
        for (input, ok) in cases {
            let got = parse(input);
            assert_eq!(got.is_ok(), *ok, "{input:?} -> {got:?}");
            if let Err(inv) = got {
                let hostile = input.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || !c.is_ascii() || "#\"'\\$;`".contains(c)
                });
                assert_eq!(inv.unsafe_chars, hostile, "{input:?} -> {inv:?}");
                assert!(!inv.reason.contains('\n'), "raw newline in {inv:?}");
            }
        }
    }

    #[test]
    fn emails() {
        table(
            Email::parse,
            &[
                ("ops@veza.fr", true),
                ("first.last+edge@mail.example.org", true),
                ("ops@localhost", false),
                ("ops.veza.fr", false),
                ("@veza.fr", false),
                ("ops@", false),
                ("a@b@veza.fr", false),
                ("ops@veza..fr", false),
                ("ops@veza.fr\n--agree-tos", false),
                ("ops @veza.fr", false),
                ("opé@veza.fr", false),
                ("ops@veza.fr;reboot", false),
            ],
        );
        assert_eq!(Email::parse("ops@Veza.FR").unwrap().as_str(), "ops@veza.fr");
        assert!(Email::parse(&format!("{}@veza.fr", "a".repeat(65))).is_err());
    }

    #[test]
    fn certificate_names() {
        table(
            CertName::parse,
            &[
                ("veza.fr", true),
                ("forgejo.talas.group", true),
                ("wild_card-2", true),
                ("0day", true),
                ("", false),
                ("Veza.fr", false),
                (".hidden", false),
                ("-x", false),
                ("a..b", false),
                ("../etc", false),
                ("a/b", false),
                ("veza fr", false),
                ("veza\u{0}fr", false),
                ("tâlas.fr", false),
            ],
        );
        assert!(CertName::parse(&"a".repeat(63)).is_ok());
        assert!(CertName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn cookie_names_and_idents() {
        table(
            CookieName::parse,
            &[
                ("SERVERID", true),
                ("VEZA_SERVERID_prod", true),
                ("", false),
                ("SID;Domain=x", false),
                ("S ID", false),
                ("SID=", false),
            ],
        );
        table(
            Ident::parse,
            &[
                ("prod", true),
                ("talas_vitrine", true),
                ("r720-ssh", true),
                ("", false),
                ("1prod", false),
                ("_x", false),
                ("a.b", false),
                ("web\n", false),
                ("wéb", false),
            ],
        );
        assert!(Ident::parse(&"p".repeat(63)).is_ok());
        assert!(Ident::parse(&"p".repeat(64)).is_err());
    }

    #[test]
    fn binds() {
        for (input, shown, loopback) in [
            ("*:80", ":80", false),
            ("0.0.0.0:443", "0.0.0.0:443", false),
            ("127.0.0.1:9100", "127.0.0.1:9100", true),
            ("127.3.2.1:9100", "127.3.2.1:9100", true),
            ("[::]:443", "[::]:443", false),
            ("[::1]:9100", "[::1]:9100", true),
            ("*:65535", ":65535", false),
        ] {
            let b = Bind::parse(input).unwrap();
            assert_eq!(b.to_string(), shown, "{input}");
            assert_eq!(b.is_loopback(), loopback, "{input}");
        }
        table(
            Bind::parse,
            &[
                ("*:0", false),
                ("*:70000", false),
                ("*:99999999999999999999999", false),
                ("*", false),
                ("localhost:80", false),
                ("[::1:80", false),
                ("::1]:80", false),
                ("[[::1]]:80", false),
                ("[127.0.0.1]:80", false),
                ("[]:80", false),
                ("*:80#", false),
                ("*:80 ssl", false),
                ("*:80\n", false),
            ],
        );
    }

    #[test]
    fn directories() {
        assert_eq!(
            Directory::parse("production").unwrap(),
            Directory::Production
        );
        assert_eq!(
            Directory::parse("staging").unwrap().url(),
            Directory::STAGING
        );
        table(
            Directory::parse,
            &[
                ("https://acme.example.org/directory", true),
                ("https://127.0.0.1:14000/dir", true),
                ("https://pebble:14000/dir?x=1&y=2", true),
                ("Production", false),
                ("http://acme.example.org/directory", false),
                ("https://", false),
                ("https://acme.example.org:99999/dir", false),
                ("https://acme.example.org:x/dir", false),
                ("https://acme..org/dir", false),
                ("https://acme.example.org/dir\"", false),
                ("https://acme.example.org/ dir", false),
                ("https://acme.example.org/$(x)", false),
            ],
        );
    }

    #[test]
    fn socket_modes() {
        assert_eq!(SocketMode::parse("600").unwrap().to_string(), "600");
        assert_eq!(SocketMode::parse("660").unwrap().to_string(), "660");
        assert_eq!(SocketMode::DEFAULT.to_string(), "660");
        table(
            SocketMode::parse,
            &[
                ("666", false),
                ("777", false),
                ("0600", false),
                ("", false),
                ("rw", false),
            ],
        );
        // A closed set: anything else is refused as invalid, newline or not.
        assert!(SocketMode::parse("660\n").is_err());
        assert!(
            SocketMode::parse("666")
                .unwrap_err()
                .reason
                .contains("other users")
        );
        assert!(
            !SocketMode::parse("rw")
                .unwrap_err()
                .reason
                .contains("other users")
        );
    }

    #[test]
    fn bodies() {
        for ok in [
            "",
            "Coming soon.\n",
            "Bientôt : Talas ✨\n\tÀ très vite.\n",
            "quotes \" and # and ' are just text",
        ] {
            assert_eq!(Body::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "a\u{0}b",
            "a\rb",
            "\u{7}",
            "\u{1b}[2J",
            "\u{7f}",
            "a\u{85}b",
        ] {
            let inv = Body::parse(bad).unwrap_err();
            assert!(inv.unsafe_chars, "{bad:?}");
        }
        assert!(Body::parse(&"x".repeat(MAX_STRING + 1)).is_err());
    }

    #[test]
    fn commands_and_paths() {
        table(
            Arg::parse,
            &[
                ("haproxy", true),
                ("-c", true),
                ("--config=/etc/haproxy/haproxy.cfg", true),
                ("", false),
                ("-c;reboot", false),
                ("$(reboot)", false),
                ("`reboot`", false),
                ("a b", false),
                ("a\nb", false),
                ("a|b", false),
                ("a>b", false),
                ("a&b", false),
            ],
        );
        assert_eq!(Arg::parse("`x`").unwrap_err().reason, "contains a backtick");
        table(
            AbsPath::parse,
            &[
                ("/etc/haproxy/certs", true),
                ("/", true),
                ("certs", false),
                ("/etc/../shadow", false),
                ("/etc/my certs", false),
                ("/etc/certs\n", false),
            ],
        );
        assert_eq!(
            AbsPath::parse("/etc/haproxy/").unwrap().as_str(),
            "/etc/haproxy"
        );
        assert_eq!(AbsPath::parse("/").unwrap().as_str(), "/");
        table(
            PathSuffix::parse,
            &[
                (".m3u8", true),
                ("/index.html", true),
                ("", false),
                ("-f", false),
                ("-thumb.jpg", false),
                (".m3u8 .ts", false),
                (".ts#", false),
            ],
        );
        table(
            LocalPath::parse,
            &[
                ("box", true),
                ("~/.ssh/keys/edge deploy", true),
                ("", false),
                ("box\n", false),
                ("box\u{0}", false),
            ],
        );
        // A hostile value is reported as such even when it is also malformed otherwise.
        assert!(PathPrefix::parse("\n/api/").unwrap_err().unsafe_chars);
        assert!(!PathPrefix::parse("api/").unwrap_err().unsafe_chars);
    }

    #[test]
    fn enums_and_ports() {
        assert_eq!(Color::parse("green").unwrap(), Color::Green);
        assert_eq!(Color::Blue.other(), Color::Green);
        assert_eq!(KeyType::parse("rsa").unwrap().as_str(), "rsa");
        assert_eq!(Balance::parse("leastconn").unwrap(), Balance::Leastconn);
        for bad in ["Blue", "", "blue\n"] {
            let inv = Color::parse(bad).unwrap_err();
            assert!(!inv.reason.contains('\n'), "{inv:?}");
        }
        assert!(KeyType::parse("dsa").is_err());
        assert!(Balance::parse("random").is_err());
        for (n, ok) in [
            (0, false),
            (1, true),
            (65535, true),
            (65536, false),
            (-1, false),
            (i128::MAX, false),
        ] {
            assert_eq!(Port::new(n).is_ok(), ok, "{n}");
        }
    }
}
