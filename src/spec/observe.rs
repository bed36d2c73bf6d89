//! The edge-wide nodes of what the edge reports and keeps, as written: `peers`, `metrics`,
//! `access-log` ([`crate::model::Peers`], [`crate::model::Metrics`],
//! [`crate::model::AccessLog`] once validated).

use super::{BypassSpec, Spanned};
use crate::model::{Bind, PathPrefix};

/// `peers bind=…`.
#[derive(Debug, Clone, Default)]
pub struct PeersSpec {
    /// Listen address.
    pub bind: Option<Spanned<Bind>>,
}

/// `metrics bind=… path=… { allow NETWORK|"trusted"… }`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSpec {
    /// Listen address.
    pub bind: Option<Spanned<Bind>>,
    /// Path.
    pub path: Option<Spanned<PathPrefix>>,
    /// `allow` entries.
    pub allow: Vec<Spanned<BypassSpec>>,
}

/// `access-log format=… target=… facility=…`.
#[derive(Debug, Clone, Default)]
pub struct AccessLogSpec {
    /// `format=`.
    pub format: Option<Spanned<crate::model::LogFormat>>,
    /// `target=`.
    pub target: Option<Spanned<crate::model::LogTarget>>,
    /// `facility=`.
    pub facility: Option<Spanned<String>>,
}
