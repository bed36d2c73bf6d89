//! The TCP-service node as written: `tcp NAME bind=… { server ADDR…; check … }`
//! ([`crate::model::TcpService`] once validated).

use super::Spanned;
use crate::model::{Address, Bind, CheckString, Duration, Ident};

/// `tcp NAME bind=… balance=… maxconn=N timeout=… send-proxy=… { server ADDR…; check … }`.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Name.
    pub name: Spanned<Ident>,
    /// `bind=`.
    pub bind: Option<Spanned<Bind>>,
    /// `server` entries.
    pub servers: Vec<Spanned<Address>>,
    /// `check send=… expect=…`.
    pub check: Option<Spanned<TcpCheckSpec>>,
    /// `balance=`.
    pub balance: Option<Spanned<crate::model::TcpBalance>>,
    /// `maxconn=`.
    pub maxconn: Option<Spanned<u32>>,
    /// `timeout=`.
    pub timeout: Option<Spanned<Duration>>,
    /// `send-proxy=`.
    pub send_proxy: Option<Spanned<crate::model::ProxyVersion>>,
}

/// `check send="…" expect="…"` of a TCP service.
#[derive(Debug, Clone, Default)]
pub struct TcpCheckSpec {
    /// `send=`.
    pub send: Option<Spanned<CheckString>>,
    /// `expect=`.
    pub expect: Option<Spanned<CheckString>>,
}
