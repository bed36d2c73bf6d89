//! The other checked values: durations (HAProxy's units), status sets and health-check
//! expectations, the blue/green colour, balance algorithms, ACME directories and key types.

use std::fmt;

use serde::Serialize;

use super::{CheckString, Host, Invalid, Port, check_chars};

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
