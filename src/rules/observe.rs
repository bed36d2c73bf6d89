//! The access log and the metrics listener as the template writes them.
//!
//! The JSON access log is built field by field with haproxy's `json(utf8s)` converter on every
//! value drawn from the request (method, URI, version, host, user agent, referer, request id),
//! never with the `+E` log-format option: `+E` escapes `"` and `\` but also turns `]` into
//! `\]`, which JSON rejects, and passes control bytes raw (measured with haproxy 2.6.12;
//! `%{+json}` is ignored by 2.6). `json(utf8s)` writes JSON string escapes (`\"`, `\\`,
//! `\u0001`) and drops bytes that are not UTF-8. Values are cut before escaping (URI 640
//! bytes, headers 128), so that a line — at most six bytes per escaped byte — stays inside
//! the log line length ([`LOG_LEN`]) and is never truncated into invalid JSON. Headers are read
//! whole (`req.fhdr`: `req.hdr` would keep only what follows a User-Agent's last comma). The
//! other fields are haproxy's numbers and its own names.

use serde::Serialize;

use crate::model::{AccessLog, Edge, LogFormat, LogTarget};

/// Longest log line haproxy sends (`log … len`), bytes: rsyslog's default message size, which a
/// JSON line of the longest cut values, every byte escaped (six bytes at most), stays under:
/// 640 × 6 + 3 × 128 × 6 + 64 × 6 + about 500 of names and numbers ≈ 7 KiB.
pub const LOG_LEN: u32 = 8192;
/// Bytes of the URI kept in a JSON log line.
pub const LOG_URI_BYTES: u32 = 640;
/// Bytes of a header kept in a JSON log line (`Host`, `User-Agent`, `Referer`).
pub const LOG_HEADER_BYTES: u32 = 128;

/// The access log as the template writes it.
#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    /// The `log` target (`/dev/log`, `10.0.0.5:514`, `stdout`).
    pub target: String,
    /// `format raw` (the standard streams), else none (syslog's default).
    pub raw: bool,
    /// Syslog facility.
    pub facility: String,
    /// Line length.
    pub len: u32,
    /// Also send haproxy's notices to `local1` (the Debian default), for a syslog socket.
    pub notices: bool,
    /// The JSON `log-format`, when the format is JSON (else `option httplog`).
    pub json: Option<String>,
    /// The JSON `log-format` of TCP services, when the format is JSON (else `option tcplog`).
    pub tcp_json: Option<String>,
    /// The `http-request` lines that keep what the JSON line reads from the request.
    pub vars: Vec<String>,
}

/// The access log of `edge`.
pub fn log_view(edge: &Edge) -> LogView {
    let AccessLog {
        format,
        target,
        facility,
    } = &edge.access_log;
    let json = *format == LogFormat::Json;
    LogView {
        target: target.haproxy(),
        raw: target.raw(),
        facility: facility.clone(),
        len: LOG_LEN,
        notices: matches!(target, LogTarget::Socket(_)),
        json: json.then(|| json_format(edge.request_id.is_some())),
        tcp_json: json.then(tcp_json_format),
        vars: if json {
            [("user_agent", "user-agent"), ("referer", "referer")]
                .iter()
                .map(|(var, h)| {
                    format!(
                        "http-request set-var(txn.{var}) req.fhdr({h}),bytes(0,{LOG_HEADER_BYTES})"
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// The JSON log-format of a TCP service: one object per connection, haproxy's own values
/// only (nothing of the stream is read).
pub fn tcp_json_format() -> String {
    let fields = [
        ("time", "%Ts.%ms"),
        ("client", "\"%ci\""),
        ("client_port", "%cp"),
        ("frontend", "\"%f\""),
        ("backend", "\"%b\""),
        ("server", "\"%s\""),
        ("bytes_in", "%U"),
        ("bytes_out", "%B"),
        // The whole session (`%Ta` is HTTP's).
        ("time_total_ms", "%Tt"),
        ("time_queue_ms", "%Tw"),
        ("time_connect_ms", "%Tc"),
        ("termination", "\"%ts\""),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// The JSON log-format: one object per request (field names in docs/observability.md).
pub fn json_format(request_id: bool) -> String {
    let s = |sample: &str| format!("\"%[{sample},json(utf8s)]\"");
    let mut fields: Vec<(&str, String)> = vec![
        ("time", "%Ts.%ms".into()),
        ("client", "\"%ci\"".into()),
        ("client_port", "%cp".into()),
        ("frontend", "\"%f\"".into()),
        ("backend", "\"%b\"".into()),
        ("server", "\"%s\"".into()),
        ("method", s("capture.req.method")),
        (
            "uri",
            s(&format!("capture.req.uri,bytes(0,{LOG_URI_BYTES})")),
        ),
        // haproxy's own spelling of the version (`HTTP/2.0` too: capture.req.ver says
        // HTTP/1.1 for HTTP/2).
        ("version", "\"%HV\"".into()),
        (
            "host",
            s(&format!("var(txn.host),bytes(0,{LOG_HEADER_BYTES})")),
        ),
        ("status", "%ST".into()),
        ("bytes_in", "%U".into()),
        ("bytes_out", "%B".into()),
        ("time_total_ms", "%Ta".into()),
        ("time_response_ms", "%Tr".into()),
        ("time_queue_ms", "%Tw".into()),
        ("time_connect_ms", "%Tc".into()),
        ("termination", "\"%ts\"".into()),
        ("user_agent", s("var(txn.user_agent)")),
        ("referer", s("var(txn.referer)")),
    ];
    if request_id {
        fields.push(("request_id", s("var(txn.request_id),bytes(0,64)")));
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}
