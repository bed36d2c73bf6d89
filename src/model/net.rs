//! Network values: ports, IP networks (the trust model's), upstream addresses, listener binds
//! and the admin socket's file mode.

use std::fmt;

use serde::Serialize;

use super::{Host, Invalid, check_chars};

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

    /// True when every address of `other` is in this network.
    pub fn contains(&self, other: &Network) -> bool {
        self.0.contains(&other.0)
    }

    /// True when `ip` is in this network; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is
    /// taken as the IPv4 address, as haproxy's `src` and `-m ip` compare it.
    pub fn holds(&self, ip: std::net::IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
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
                .as_str()
                .to_string()
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

    /// As the spec writes it (`*:22`; haproxy's spelling, the `Display`, is `:22`).
    pub fn written(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The address bound: `None` for `*` (every IPv4 address).
    pub fn addr(&self) -> Option<std::net::IpAddr> {
        self.ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// Is it IPv6 (`[…]`)? `*` is IPv4, as haproxy binds it.
    pub fn is_v6(&self) -> bool {
        self.addr().is_some_and(|a| a.is_ipv6())
    }

    /// Does it bind every address of its family (`*`, `0.0.0.0`, `[::]`, `[::0]`)?
    pub fn is_wildcard(&self) -> bool {
        self.addr().is_none_or(|a| a.is_unspecified())
    }

    /// True for 127.0.0.0/8 and ::1.
    pub fn is_loopback(&self) -> bool {
        self.addr().is_some_and(|a| a.is_loopback())
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

serialize_as_display!(Bind, SocketMode);
