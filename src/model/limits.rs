//! Limits a policy puts on the requests it guards: the largest request body
//! ([`BodyLimit`], answered 413) and the request rate per client address ([`RateLimit`],
//! answered 429 with `Retry-After`), with the byte size and period values they are written in.

use std::fmt;

use serde::Serialize;

use super::{Duration, Invalid, check_chars};

/// A size in bytes as haproxy writes sizes: a whole number with an optional binary suffix
/// (`k` = 1024, `m` = 1024², `g` = 1024³, either case), at least 1 byte and at most 1 TiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(u64);

impl ByteSize {
    /// Parse `1048576`, `512k`, `10m`, `1g`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] for no number, another suffix, zero, or more than 1 TiB.
    pub fn parse(s: &str) -> Result<ByteSize, Invalid> {
        const E: &str = "a size such as `512k`, `10m`, `1g` or a number of bytes";
        check_chars(s, E, |c| c.is_ascii_alphanumeric())?;
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(Invalid::new(E, "has no number"));
        }
        let mult: u64 = match unit.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => 1 << 10,
            "m" => 1 << 20,
            "g" => 1 << 30,
            u => {
                return Err(Invalid::new(
                    E,
                    format!("unknown unit `{u}` (k, m, g: binary, as haproxy reads them)"),
                ));
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| Invalid::new(E, "number is too large"))?;
        match n.checked_mul(mult) {
            Some(0) => Err(Invalid::new(E, "is zero: that would refuse every body")),
            Some(b) if b <= 1 << 40 => Ok(ByteSize(b)),
            _ => Err(Invalid::new(E, "is more than 1 TiB")),
        }
    }

    /// Bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    /// The shortest exact spelling (`10m` rather than `10485760`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
            if self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a body limit does with a request body of no declared length (HTTP/1.1
/// `Transfer-Encoding: chunked`; over HTTP/2, no `content-length`), whose size haproxy cannot
/// know before forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chunked {
    /// Forward it: the upstream enforces its own limit (the default: streaming clients work).
    Pass,
    /// Answer 411 Length Required (RFC 9110 section 15.5.12) before forwarding any of it:
    /// an HTTP/1.1 chunked body, and an HTTP/2 `POST`, `PUT` or `PATCH` without
    /// `content-length` (haproxy 2.6 cannot tell such a request with a body from one without,
    /// so both are refused).
    Refuse,
}

impl Chunked {
    /// Parse `pass` or `refuse`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<Chunked, Invalid> {
        match s {
            "pass" => Ok(Chunked::Pass),
            "refuse" => Ok(Chunked::Refuse),
            _ => Err(Invalid::new("`pass` or `refuse`", format!("is `{s}`"))),
        }
    }
}

/// The largest request body: a request that declares a longer one (`Content-Length`, in
/// HTTP/1.1 and HTTP/2) is answered 413 before any of its body is forwarded — a client that
/// sent `Expect: 100-continue` never sends it. A body of no declared length is [`Chunked`]'s
/// decision (docs/policies.md, "`max-body`").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyLimit {
    /// Largest body.
    pub max: ByteSize,
    /// Bodies of no declared length.
    pub chunked: Chunked,
}

/// Status of a body over the limit (RFC 9110 section 15.5.14, Content Too Large).
pub const BODY_TOO_LARGE: u16 = 413;
/// Status of a body of no declared length where those are refused.
pub const LENGTH_REQUIRED: u16 = 411;
/// Status of a client over a rate limit (RFC 6585 section 4, Too Many Requests).
pub const TOO_MANY_REQUESTS: u16 = 429;

/// Longest rate-limit period: one day.
pub const MAX_RATE_PERIOD_MS: u64 = 86_400_000;

/// A request rate per client address (the address access rules see: the connection's source,
/// or the last `X-Forwarded-For` address from a `trusted` proxy): more than `requests` in the
/// sliding `period` are answered 429 with `Retry-After` (the period, in whole seconds). Every
/// request counts, refused ones included, so a client that keeps hammering stays limited.
/// Counted in a stick table per place (haproxy's `http_req_rate`), which a local `peers`
/// section carries across reloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Requests allowed per period (at least 1).
    pub requests: u32,
    /// The period (1 s to 1 day).
    pub period: Duration,
}

impl RateLimit {
    /// `Retry-After`: the period in whole seconds, rounded up.
    pub fn retry_after(&self) -> u64 {
        self.period.millis().div_ceil(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_haproxy_reads_them() {
        assert_eq!(ByteSize::parse("10m").unwrap().bytes(), 10 * 1024 * 1024);
        assert_eq!(ByteSize::parse("512K").unwrap().bytes(), 512 * 1024);
        assert_eq!(ByteSize::parse("1g").unwrap().bytes(), 1 << 30);
        assert_eq!(ByteSize::parse("1500").unwrap().bytes(), 1500);
        assert_eq!(ByteSize::parse("10485760").unwrap().to_string(), "10m");
        assert_eq!(ByteSize::parse("1500").unwrap().to_string(), "1500");
        for bad in [
            "",
            "m",
            "0",
            "0k",
            "10mb",
            "1.5m",
            "-1",
            "2048g",
            "99999999999999999999",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_rounds_the_period_up() {
        let r = |p: &str| RateLimit {
            requests: 1,
            period: Duration::parse(p).unwrap(),
        };
        assert_eq!(r("10s").retry_after(), 10);
        assert_eq!(r("1500ms").retry_after(), 2);
        assert_eq!(r("1m").retry_after(), 60);
    }
}
