//! The haproxy lines and plan words of the policy rules ([`super::policy`]), spelled in one
//! place: the template writes the lines, `edgeplan route` shows them, the plan compares the
//! words.

use crate::model::{HeaderAction, HeaderRule};

use super::DENY_STATUS;

/// `, but from NETWORK…` for a rule's bypass networks (empty without).
pub(super) fn but_from(bypass: &[crate::model::Network]) -> String {
    if bypass.is_empty() {
        return String::new();
    }
    let nets: Vec<String> = bypass.iter().map(|n| n.to_string()).collect();
    format!(", but from {}", nets.join(" "))
}

/// A `set` rule the edge writes itself (a preset's or HSTS's header: names and values known
/// good, built without the spec's checks).
pub(super) fn preset(name: &str, value: &str) -> HeaderRule {
    HeaderRule {
        name: crate::model::HeaderName::preset(name),
        action: HeaderAction::Set {
            value: crate::model::HeaderValue::preset(value),
        },
    }
}

/// An access denial: haproxy's own 403 page, or the text `file` (as the box has it; the
/// template prefixes a staged tree's path).
pub fn deny_line(file: Option<&str>, when: &str) -> String {
    match file {
        None => format!("http-request deny deny_status {DENY_STATUS} if {when}"),
        Some(file) => format!(
            "http-request deny deny_status {DENY_STATUS} content-type \"text/plain; \
             charset=utf-8\" file {file} hdr Cache-Control no-store if {when}"
        ),
    }
}

/// The maintenance answer: `http-request return status 503 … file FILE hdr Retry-After N …`
/// (`file` as the box has it; the template prefixes a staged tree's path).
pub fn maintenance_line(file: &str, retry_after: u32, when: &str) -> String {
    format!(
        "http-request return status 503 content-type \"text/html; charset=utf-8\" file {file} \
         hdr Retry-After {retry_after} hdr Cache-Control no-store if {when}"
    )
}

/// `request header X-Env set "staging"`, `response header Server removed`.
pub(super) fn header_words(side: &str, h: &HeaderRule) -> String {
    match &h.action {
        HeaderAction::Set { value } => format!("{side} header {} set \"{value}\"", h.name),
        HeaderAction::Add { value } => format!("{side} header {} add \"{value}\"", h.name),
        HeaderAction::Del => format!("{side} header {} removed", h.name),
    }
}

/// `RULESET set-header NAME "VALUE" if COND` (or `add-header`, `del-header NAME`).
pub(super) fn header_line(ruleset: &str, h: &HeaderRule, cond: &str) -> String {
    let verb = h.action.verb();
    match &h.action {
        HeaderAction::Set { value } | HeaderAction::Add { value } => {
            format!("{ruleset} {verb} {} {} if {cond}", h.name, value.haproxy())
        }
        HeaderAction::Del => format!("{ruleset} {verb} {} if {cond}", h.name),
    }
}
