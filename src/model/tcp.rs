//! TCP services: a listener of its own that forwards connections, unread, to outside servers —
//! SSH for a git forge on the edge's one public address being the case that asks for it —
//! with TCP health checks, balancing, a connection limit, long timeouts, and the PROXY
//! protocol so the servers see the client's address.

use std::fmt;

use serde::Serialize;

use super::{Address, Bind, CheckString, Duration, Ident, Invalid};

/// How a TCP service spreads connections over its servers (haproxy's `balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TcpBalance {
    /// The server with the fewest connections (the default: sessions last long).
    Leastconn,
    /// In turn.
    Roundrobin,
    /// By the client's address: one client, one server.
    Source,
    /// The first server with a free slot (`maxconn`), then the next.
    First,
}

impl TcpBalance {
    /// Parse `leastconn`, `roundrobin`, `source` or `first`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<TcpBalance, Invalid> {
        match s {
            "leastconn" => Ok(TcpBalance::Leastconn),
            "roundrobin" => Ok(TcpBalance::Roundrobin),
            "source" => Ok(TcpBalance::Source),
            "first" => Ok(TcpBalance::First),
            _ => Err(Invalid::new(
                "`leastconn`, `roundrobin`, `source` or `first`",
                format!("is `{s}`"),
            )),
        }
    }
}

impl fmt::Display for TcpBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpBalance::Leastconn => "leastconn",
            TcpBalance::Roundrobin => "roundrobin",
            TcpBalance::Source => "source",
            TcpBalance::First => "first",
        })
    }
}

/// The PROXY protocol header a TCP service sends its servers first (haproxy's `send-proxy`,
/// `send-proxy-v2`; the protocol: haproxy's doc/proxy-protocol.txt), so they see the client's
/// address. Only for servers that read it: OpenSSH's sshd does not (Forgejo's and Gitea's
/// built-in SSH servers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    /// Version 1, text.
    V1,
    /// Version 2, binary.
    V2,
}

impl ProxyVersion {
    /// Parse `v1` or `v2`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] otherwise.
    pub fn parse(s: &str) -> Result<ProxyVersion, Invalid> {
        match s {
            "v1" => Ok(ProxyVersion::V1),
            "v2" => Ok(ProxyVersion::V2),
            _ => Err(Invalid::new("`v1` or `v2`", format!("is `{s}`"))),
        }
    }

    /// haproxy's server keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            ProxyVersion::V1 => "send-proxy",
            ProxyVersion::V2 => "send-proxy-v2",
        }
    }
}

/// A TCP health check: connect, then optionally send a line and expect a string in what the
/// server says (an SSH server's banner starts `SSH-`). Without either: the connection alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TcpCheck {
    /// Sent after connecting, followed by CRLF.
    pub send: Option<CheckString>,
    /// Expected in the server's answer.
    pub expect: Option<CheckString>,
}

/// A TCP service (`tcp NAME bind=… { server ADDR… }`).
#[derive(Debug, Clone, Serialize)]
pub struct TcpService {
    /// Name (`tcp_NAME` in haproxy.cfg).
    pub name: Ident,
    /// Where it listens.
    pub bind: Bind,
    /// Its servers, in order.
    pub servers: Vec<Address>,
    /// Health check of each server.
    pub check: TcpCheck,
    /// Balancing.
    pub balance: TcpBalance,
    /// Connections per server at most (more wait in the queue).
    pub maxconn: Option<u32>,
    /// Idle timeout of a connection, both ways (`timeout client`, `server`, `tunnel`).
    pub timeout: Duration,
    /// PROXY protocol to the servers.
    pub send_proxy: Option<ProxyVersion>,
}

impl TcpService {
    /// The haproxy frontend and backend name.
    pub fn section(&self) -> String {
        format!("tcp_{}", self.name)
    }
}

/// Idle timeout of a TCP service when the spec sets none: an hour (a git clone over SSH, an
/// idle interactive session).
pub const TCP_DEFAULT_TIMEOUT: Duration = Duration::secs(3600);
