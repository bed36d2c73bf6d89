//! What the edge tells its operators and keeps across reloads: the Prometheus metrics
//! listener ([`Metrics`]), the access log ([`AccessLog`]: its format and where it goes), and
//! the local peer ([`Peers`]) that carries stick tables (rate limits) from the old haproxy
//! process to the new one on every reload.

use std::fmt;

use serde::Serialize;

use super::{AbsPath, Bind, Invalid, Network, PathPrefix};

/// The local `peers` section's address: where the new haproxy process listens so the old one
/// can teach it the stick tables on a reload. Loopback only (one edge; issue 24's pair adds
/// the other node).
#[derive(Debug, Clone, Serialize)]
pub struct Peers {
    /// Loopback listen address (default `127.0.0.1:10000`).
    pub bind: Bind,
}

/// A Prometheus endpoint: haproxy's built-in exporter (`prometheus-exporter` service, in
/// Debian's build: `haproxy -vv` lists it) on a listener of its own. Clients outside `allow`
/// are refused (403); a listener off loopback needs an `allow` list (validation).
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Listen address.
    pub bind: Bind,
    /// Path of the metrics page (default `/metrics`); any other path is 404.
    pub path: PathPrefix,
    /// Networks that may scrape; empty: any (only allowed on loopback).
    pub allow: Vec<Network>,
}

/// The access log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// haproxy's `option httplog` (the default; what log tools for haproxy parse).
    Httplog,
    /// One JSON object per line ([`crate::rules::json_format`]).
    Json,
}

impl LogFormat {
    /// Parse `httplog` or `json`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<LogFormat, Invalid> {
        match s {
            "httplog" => Ok(LogFormat::Httplog),
            "json" => Ok(LogFormat::Json),
            _ => Err(Invalid::new("`httplog` or `json`", format!("is `{s}`"))),
        }
    }
}

/// Where log lines go (haproxy's `log` target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "at", rename_all = "lowercase")]
pub enum LogTarget {
    /// A syslog unix socket on the box (default `/dev/log`; haproxy sends to it from inside
    /// its chroot, so on Debian it is `/var/lib/haproxy/dev/log`, which rsyslog creates).
    Socket(AbsPath),
    /// A syslog server over UDP (`IP:PORT`).
    Udp(std::net::SocketAddr),
    /// haproxy's standard output, unframed (`format raw`): the journal under systemd.
    Stdout,
    /// haproxy's standard error, unframed.
    Stderr,
}

impl LogTarget {
    /// Parse `/dev/log` (a path), `IP:PORT` (`[v6]:PORT`), `stdout` or `stderr`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<LogTarget, Invalid> {
        const E: &str = "a log target: a syslog socket path (`/dev/log`), `IP:PORT` (UDP \
                         syslog), `stdout` or `stderr`";
        match s {
            "stdout" => return Ok(LogTarget::Stdout),
            "stderr" => return Ok(LogTarget::Stderr),
            _ => {}
        }
        if s.starts_with('/') {
            return AbsPath::parse(s)
                .map(LogTarget::Socket)
                .map_err(|e| Invalid { expected: E, ..e });
        }
        s.parse::<std::net::SocketAddr>()
            .ok()
            .filter(|a| a.port() != 0)
            .map(LogTarget::Udp)
            .ok_or_else(|| Invalid::new(E, format!("`{s}` is none of these")))
    }

    /// The default: `/dev/log`.
    pub fn default_socket() -> LogTarget {
        LogTarget::Socket(AbsPath::parse("/dev/log").expect("an absolute path"))
    }

    /// haproxy's spelling of the target.
    pub fn haproxy(&self) -> String {
        self.to_string()
    }

    /// The line format haproxy must use for it: `raw` (no syslog header) for the standard
    /// streams, else syslog's default.
    pub fn raw(&self) -> bool {
        matches!(self, LogTarget::Stdout | LogTarget::Stderr)
    }
}

impl fmt::Display for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTarget::Socket(p) => write!(f, "{p}"),
            LogTarget::Udp(a) => write!(f, "{a}"),
            LogTarget::Stdout => f.write_str("stdout"),
            LogTarget::Stderr => f.write_str("stderr"),
        }
    }
}

/// Syslog facilities haproxy accepts for access logs (RFC 5424 section 6.2.1 names).
pub const LOG_FACILITIES: &[&str] = &[
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", "user",
    "daemon",
];

/// The access log: one line per request in `format`, to `target` with syslog `facility`.
#[derive(Debug, Clone, Serialize)]
pub struct AccessLog {
    /// Line format.
    pub format: LogFormat,
    /// Where lines go.
    pub target: LogTarget,
    /// Syslog facility ([`LOG_FACILITIES`], default `local0`).
    pub facility: String,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog {
            format: LogFormat::Httplog,
            target: LogTarget::default_socket(),
            facility: "local0".into(),
        }
    }
}

/// Check a syslog facility name ([`LOG_FACILITIES`]).
///
/// # Errors
///
/// [`Invalid`] for another name.
pub fn log_facility(s: &str) -> Result<String, Invalid> {
    if LOG_FACILITIES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(Invalid::new(
            "a syslog facility: `local0`…`local7`, `user` or `daemon`",
            format!("is `{s}`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_targets() {
        assert_eq!(
            LogTarget::parse("/dev/log").unwrap(),
            LogTarget::default_socket()
        );
        assert!(LogTarget::parse("stdout").unwrap().raw());
        assert_eq!(
            LogTarget::parse("[::1]:514").unwrap().haproxy(),
            "[::1]:514"
        );
        assert_eq!(
            LogTarget::parse("10.0.0.5:514").unwrap().haproxy(),
            "10.0.0.5:514"
        );
        for bad in [
            "",
            "syslog",
            "10.0.0.5",
            "10.0.0.5:0",
            "host:514",
            "dev/log",
        ] {
            assert!(LogTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
