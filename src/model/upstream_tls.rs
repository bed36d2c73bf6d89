//! TLS from the edge to a backend: the server's certificate verified against a CA file on the
//! box (or, explicitly, not at all — a warning in `check` and the plan), the name sent (SNI)
//! and checked, and a client certificate for servers that ask for one (mTLS). Paths are on
//! the box: no key or certificate is ever in `out/`.

use serde::Serialize;

use super::{AbsPath, Host, Invalid};

/// How the backend's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verify", rename_all = "lowercase")]
pub enum BackendVerify {
    /// Against the CA certificates of `ca_file` (haproxy's `verify required ca-file`), and its
    /// name against the SNI sent, when there is one.
    Required {
        /// CA file on the box (PEM).
        ca_file: AbsPath,
    },
    /// Not at all (`verify none`): encrypted, but anyone on the path can pretend to be the
    /// server. Only when the spec says so.
    None,
}

/// `required` or `none` (the spec's `verify=`).
///
/// # Errors
///
/// [`Invalid`] otherwise.
pub fn parse_verify(s: &str) -> Result<bool, Invalid> {
    match s {
        "required" => Ok(true),
        "none" => Ok(false),
        _ => Err(Invalid::new("`required` or `none`", format!("is `{s}`"))),
    }
}

/// TLS to a backend's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendTls {
    /// The certificate check.
    #[serde(flatten)]
    pub verify: BackendVerify,
    /// The name sent (SNI) and the certificate must carry: the spec's `sni=`, else the
    /// server's host name; none for an IP address without `sni=` (the chain is checked, not
    /// the name).
    pub sni: Option<Host>,
    /// The edge's client certificate and key (one PEM file on the box), for servers that
    /// require one.
    pub client_certificate: Option<AbsPath>,
}

impl BackendTls {
    /// The `server` line's options: `ssl verify required ca-file F sni str(H) check-sni H crt C`.
    pub fn haproxy(&self) -> String {
        let mut s = String::from("ssl");
        match &self.verify {
            BackendVerify::Required { ca_file } => {
                s += &format!(" verify required ca-file {ca_file}")
            }
            BackendVerify::None => s += " verify none",
        }
        if let Some(h) = &self.sni {
            s += &format!(" sni str({h}) check-sni {h}");
        }
        if let Some(c) = &self.client_certificate {
            s += &format!(" crt {c}");
        }
        s
    }
}
