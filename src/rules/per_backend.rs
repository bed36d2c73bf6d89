//! What a backend carries from the policies of its place (an env for its pools, an outside
//! backend for its own, the edge for both): the error pages haproxy answers instead of its
//! own, and gzip compression — both per backend in haproxy 2.6, so they stand only where a
//! backend is the place's own.

use crate::model::{Attached, Edge, Rules};

/// The compression of a backend of `place` (an env's or an outside backend's rules): the
/// place's, else the edge's — at each, the last of its policies and inline rules that sets one.
pub fn compression(edge: &Edge, place: Option<&Attached>) -> Option<Vec<String>> {
    let of = |attached: &Attached| {
        attached
            .uses
            .iter()
            .filter_map(|n| edge.policies.get(n))
            .map(|p| &p.rules)
            .chain(std::iter::once(&attached.inline))
            .filter_map(|r| r.compression.as_ref())
            .next_back()
            .map(|c| c.types.iter().map(|t| t.to_string()).collect())
    };
    place.and_then(of).or_else(|| of(&edge.policy))
}

/// The error pages of a backend of `place` (an env's or an outside backend's rules, with the id
/// of its inline rules: `env.NAME`, `site.NAME`): the edge's, then the place's — the later page
/// of a status replacing the earlier — in status order.
pub fn error_pages(edge: &Edge, place: Option<(&Attached, &str)>) -> Vec<super::ErrorPageView> {
    let mut out: Vec<super::ErrorPageView> = Vec::new();
    walk_pages(edge, &edge.policy, "edge", &mut out);
    if let Some((attached, id)) = place {
        walk_pages(edge, attached, id, &mut out);
    }
    out.sort_by_key(|p| p.status);
    out
}

fn walk_pages(edge: &Edge, attached: &Attached, id: &str, out: &mut Vec<super::ErrorPageView>) {
    for name in &attached.uses {
        if let Some(p) = edge.policies.get(name) {
            add_pages(&p.rules, &format!("policy.{name}"), out);
        }
    }
    add_pages(&attached.inline, id, out);
}

fn add_pages(rules: &Rules, id: &str, out: &mut Vec<super::ErrorPageView>) {
    for p in &rules.error_pages {
        let view = super::ErrorPageView {
            status: p.status,
            file: format!("{}/error.{id}.{}.html", super::ERRORS_DIR, p.status),
            page: p.page.clone(),
        };
        match out.iter_mut().find(|x| x.status == p.status) {
            Some(x) => *x = view,
            None => out.push(view),
        }
    }
}
