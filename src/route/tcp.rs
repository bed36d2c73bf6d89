//! `edgeplan route tcp://HOST:PORT`: which TCP service takes a connection to that port (and
//! address, when the URL names one), and what haproxy does with it — forward it unread to one
//! of the service's servers — from the same model the `tcp_NAME` sections are rendered from.

use std::fmt::Write as _;

use miette::{NamedSource, SourceSpan};
use serde::Serialize;

use super::RouteError;
use crate::model::{Edge, TcpService};

/// A TCP service as `route` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TcpServiceView {
    /// Name.
    pub name: String,
    /// haproxy's frontend and backend (`tcp_NAME`).
    pub section: String,
    /// Where it listens, as the spec writes it.
    pub bind: String,
    /// Servers: `sN HOST:PORT`.
    pub servers: Vec<String>,
    /// Balancing.
    pub balance: String,
    /// The health check, in words.
    pub check: String,
    /// `send-proxy` or `send-proxy-v2`, when the servers get a PROXY header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_proxy: Option<&'static str>,
    /// Idle timeout, both ways.
    pub timeout: String,
}

/// What the edge does with a TCP connection.
#[derive(Debug, Clone, Serialize)]
pub struct TcpExplanation {
    /// Format of this document.
    pub format_version: u32,
    /// The URL as given.
    pub url: String,
    /// The port connected to.
    pub port: u16,
    /// `forward` (a TCP service takes it) or `no_listener`.
    pub outcome: &'static str,
    /// The service, when one takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TcpServiceView>,
    /// Things worth knowing (a specific bind address, a PROXY header, `accept-proxy`).
    pub notes: Vec<String>,
}

fn bad(url: &str, at: usize, len: usize, reason: &str, help: &str) -> RouteError {
    RouteError::BadUrl {
        src: NamedSource::new("URL", url.to_string()),
        span: SourceSpan::from(at..at + len),
        reason: reason.to_string(),
        label: reason.to_string(),
        help: help.to_string(),
    }
}

/// Explain a connection to `url` (`tcp://HOST:PORT`) on `edge`.
///
/// # Errors
///
/// [`RouteError::BadUrl`] for a URL that is not `tcp://HOST:PORT`.
pub fn explain_tcp(edge: &Edge, url: &str) -> Result<TcpExplanation, RouteError> {
    let rest = url.strip_prefix("tcp://").ok_or_else(|| {
        bad(
            url,
            0,
            url.len().min(6),
            "not a tcp:// URL",
            "write tcp://HOST:PORT",
        )
    })?;
    let rest = rest.trim_end_matches('/');
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(bad(
            url,
            6,
            rest.len(),
            "no port",
            "a TCP service is chosen by its port: tcp://git.example.org:22",
        ));
    };
    let Ok(port) = port.parse::<u16>() else {
        let at = 6 + host.len() + 1;
        return Err(bad(
            url,
            at,
            port.len(),
            "not a port",
            "a port is 1 to 65535",
        ));
    };
    let address: Option<std::net::IpAddr> = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok();
    // The services on that port, and whether the URL's address reaches each.
    let on_port: Vec<&TcpService> = edge
        .tcp
        .values()
        .filter(|t| t.bind.port.get() == port)
        .collect();
    let reaches = |t: &TcpService| match (address, t.bind.addr()) {
        (Some(a), Some(b)) if !b.is_unspecified() => a == b,
        _ => true,
    };
    let mut notes = Vec::new();
    let taken = on_port.iter().find(|t| reaches(t)).copied();
    if taken.is_none()
        && let Some(t) = on_port.first()
    {
        notes.push(format!(
            "tcp service {} listens on {} only: {host} is not that address",
            t.name,
            t.bind.written()
        ));
    }
    let http_ports = [
        Some(("http", edge.listen.http.port.get())),
        edge.listen.https.as_ref().map(|b| ("https", b.port.get())),
    ];
    if on_port.is_empty()
        && let Some((scheme, _)) = http_ports.iter().flatten().find(|(_, p)| *p == port)
    {
        notes.push(format!(
            "port {port} is the edge's {scheme} listener: explain a request with \
             {scheme}://{host}:{port}/PATH"
        ));
    }
    if on_port.is_empty() {
        let listed: Vec<String> = edge
            .tcp
            .values()
            .map(|t| format!("{} on {}", t.name, t.bind.written()))
            .collect();
        notes.push(if listed.is_empty() {
            "the edge has no TCP service".to_string()
        } else {
            format!("the edge's TCP services: {}", listed.join(", "))
        });
    }
    if let Some(t) = taken {
        if address.is_none() && !t.bind.is_wildcard() {
            notes.push(format!(
                "{host} must resolve to {} (the only address the service listens on)",
                t.bind.addr().map(|a| a.to_string()).unwrap_or_default()
            ));
        }
        notes.push(
            "forwarded unread: no host name, path or header chooses anything (the host name \
             only chose the address)"
                .into(),
        );
        if let Some(p) = t.send_proxy {
            notes.push(format!(
                "the servers get a PROXY header ({}) first: they see the client's address, \
                 and must read it",
                p.keyword()
            ));
        }
        if edge.listen.accept_proxy {
            notes.push(
                "from a trusted network the connection must start with a PROXY header \
                 (`accept-proxy`)"
                    .into(),
            );
        }
    }
    Ok(TcpExplanation {
        format_version: 1,
        url: url.to_string(),
        port,
        outcome: if taken.is_some() {
            "forward"
        } else {
            "no_listener"
        },
        service: taken.map(view),
        notes,
    })
}

fn view(t: &TcpService) -> TcpServiceView {
    let check = match (&t.check.send, &t.check.expect) {
        (Some(s), Some(e)) => format!("sends \"{s}\", expects \"{e}\""),
        (None, Some(e)) => format!("expects \"{e}\" in what the server says first"),
        (Some(s), None) => format!("sends \"{s}\""),
        (None, None) => "connects".into(),
    };
    TcpServiceView {
        name: t.name.to_string(),
        section: t.section(),
        bind: t.bind.written(),
        servers: t
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("s{} {s}", i + 1))
            .collect(),
        balance: t.balance.to_string(),
        check,
        send_proxy: t.send_proxy.map(|p| p.keyword()),
        timeout: t.timeout.to_string(),
    }
}

/// The explanation as text.
pub fn render_tcp_text(ex: &TcpExplanation) -> String {
    let mut o = format!("Connection {}\n  port {}\n", ex.url, ex.port);
    match &ex.service {
        Some(s) => {
            let _ = writeln!(
                o,
                "\ntcp service {} (frontend {}, bind {})",
                s.name, s.section, s.bind
            );
            let _ = writeln!(o, "  balance {} over:", s.balance);
            for srv in &s.servers {
                let _ = writeln!(o, "    {srv}  check {}", s.check);
            }
            if let Some(p) = s.send_proxy {
                let _ = writeln!(o, "  {p} to each server");
            }
            let _ = writeln!(o, "  idle timeout {} both ways", s.timeout);
            for n in &ex.notes {
                let _ = writeln!(o, "  note: {n}");
            }
            let _ = writeln!(
                o,
                "\nresult: forwarded to a server of {} ({}), unread",
                s.section, s.balance
            );
        }
        None => {
            for n in &ex.notes {
                let _ = writeln!(o, "  note: {n}");
            }
            let _ = writeln!(
                o,
                "\nresult: nothing of the edge listens on port {}: the connection is refused",
                ex.port
            );
        }
    }
    o
}
