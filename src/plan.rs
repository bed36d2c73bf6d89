//! Plans: what `apply` would change on a target, computed from a build and the box's state.
//!
//! The box answers one `state` request (its active generation's manifest, checksums and model
//! summary, the lock, and the live status of every path involved); files whose live content
//! differs from the build are then fetched in one more request, for diffs. A file is planned
//! when what is *live* differs from the build — so a file changed outside edgeplan is both
//! reported as drift and planned back, never silently overwritten. Secret material is never
//! fetched or shown: certificate paths and anything that looks like a private key are listed
//! without content, and the password hashes of haproxy.cfg are shown as fingerprints
//! ([`secrets`]).
//!
//! [`show`] renders a plan as text, JSON or markdown; [`saved`] is the plan file that
//! `apply FILE` applies exactly.

mod compare;
pub mod saved;
pub mod secrets;
pub mod semantic;
pub mod show;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::Digest;

use crate::Build;
use crate::output::Manifest;
use crate::transport::{BoxClient, BoxState, Lock, TransportError};
use semantic::{ModelSummary, SemanticChange};

/// The main config, validated on the box before activation.
pub const CONFIG_PATH: &str = crate::layout::HAPROXY_CFG.rel();

/// sha256 of `bytes`, hex (what the box can compute with `sha256sum`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// What happens to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new file.
    Create,
    /// Content or mode changes.
    Update,
    /// The file goes away.
    Delete,
    /// A file edgeplan did not write is there (a box taken over from another tool, e.g. an
    /// Ansible role's haproxy.cfg): edgeplan's file replaces it; apply keeps the original in
    /// generation 0, so `rollback` to the box from before edgeplan puts it back.
    Replace,
}

impl Action {
    /// Terraform's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Replace => "-/+",
        }
    }
}

/// One planned file change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// Path on the box, relative to `/`.
    pub path: String,
    /// Mode now (four octal digits), if there is a file.
    pub mode_before: Option<String>,
    /// Mode after.
    pub mode_after: Option<String>,
    /// Content is never shown.
    pub sensitive: bool,
    /// Why, when it is not obvious.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Current content (for diffs; never for sensitive files).
    #[serde(skip)]
    pub before: Option<String>,
    /// Planned content (for diffs; never for sensitive files).
    #[serde(skip)]
    pub after: Option<String>,
}

/// How a file changed outside edgeplan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Content edited (through edgeplan's link).
    Modified,
    /// Mode changed.
    ModeChanged,
    /// Deleted.
    Deleted,
    /// Replaced by another file or link.
    Replaced,
}

/// A file that differs from what edgeplan last applied.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// Path.
    pub path: String,
    /// How.
    pub kind: DriftKind,
    /// One line for people.
    pub message: String,
}

/// What the box had when the plan was made.
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    /// Active generation (0: only files that were there before edgeplan).
    pub generation: u64,
    /// Its tree hash (none for generation 0).
    pub tree_hash: Option<String>,
}

/// `Plan: N to add, N to change, N to destroy.` (`N to replace` after the adds when there are
/// any).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Files created.
    pub add: usize,
    /// Files updated.
    pub change: usize,
    /// Files deleted.
    pub remove: usize,
    /// Files edgeplan did not write, replaced.
    pub replace: usize,
}

impl Counts {
    /// `N to add, N to change, N to destroy` (`, N to replace` after the adds when any).
    pub fn summary(&self) -> String {
        let replace = if self.replace > 0 {
            format!(", {} to replace", self.replace)
        } else {
            String::new()
        };
        format!(
            "{} to add{replace}, {} to change, {} to destroy",
            self.add, self.change, self.remove
        )
    }
}

/// A plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Target name.
    pub target: String,
    /// How it is reached.
    pub transport: String,
    /// Build input hash.
    pub input_hash: String,
    /// Build tree hash.
    pub tree_hash: String,
    /// What the box had; `None` for a fresh box.
    pub base: Option<Base>,
    /// Hash of the box state the plan was made against.
    pub state_hash: String,
    /// File changes, by path.
    pub changes: Vec<Change>,
    /// Semantic changes.
    pub semantic: Vec<SemanticChange>,
    /// Why there is no semantic summary, when there is none.
    pub semantic_note: Option<String>,
    /// Hosts served now and not after.
    pub hosts_disappearing: Vec<String>,
    /// Changes made outside edgeplan.
    pub drift: Vec<Drift>,
    /// An earlier apply stopped before its reload was checked.
    pub pending_reload: bool,
    /// Who holds the lock.
    pub lock: Option<Lock>,
    /// The new model summary.
    pub model: ModelSummary,
    /// Units apply enables, starts, stops and disables ([`crate::units`]).
    pub units: crate::units::UnitPlan,
    /// The probes sent through the box's haproxy after the reload ([`crate::probes`]), one
    /// line each.
    pub probes: Vec<String>,
    /// A switch's health gate: the instances checked from the box before traffic moves
    /// ([`crate::gate`]), one line each; empty for an apply.
    pub gate: Vec<String>,
}

impl Plan {
    /// Files to add, change, destroy.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ch in &self.changes {
            match ch.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Delete => c.remove += 1,
                Action::Replace => c.replace += 1,
            }
        }
        c
    }

    /// Anything for apply to do?
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || self.pending_reload
    }
}

fn mode_str(m: u32) -> String {
    format!("{m:04o}")
}

/// Paths whose content must never be shown: certificates and private keys.
pub fn is_sensitive(path: &str, content: Option<&[u8]>, cert_dir: Option<&str>) -> bool {
    let under_certs = cert_dir.is_some_and(|d| {
        let d = d.trim_start_matches('/').trim_end_matches('/');
        !d.is_empty() && path.starts_with(d) && path[d.len()..].starts_with('/')
    });
    let key_like = [".pem", ".key", ".p12", ".pfx"]
        .iter()
        .any(|s| path.ends_with(s));
    let key_content = content.is_some_and(|c| {
        c.windows(b"PRIVATE KEY-----".len())
            .any(|w| w == b"PRIVATE KEY-----")
    });
    under_certs || key_like || key_content
}

/// The hash of the box state a plan depends on (the lock excluded).
pub fn state_hash(state: &BoxState) -> String {
    let mut h = blake3::Hasher::new_derive_key("edgeplan 2026-11 plan state v1");
    let mut field = |b: &[u8]| {
        h.update(&(b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(
        state
            .generation
            .map_or("-".into(), |g| g.to_string())
            .as_bytes(),
    );
    for t in [&state.manifest, &state.files, &state.pending] {
        field(t.as_deref().unwrap_or("\0absent").as_bytes());
    }
    // Colour state (none on most boxes: their hash is unchanged).
    for (env, text) in &state.colors {
        field(env.as_bytes());
        field(text.as_bytes());
    }
    for (path, l) in &state.live {
        field(path.as_bytes());
        field(format!("{:?} {:?} {:?}", l.kind, l.mode, l.sha256).as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// The box's manifest, parsed; a clear error when it is corrupt.
pub fn box_manifest(
    state: &BoxState,
    transport: &BoxClient,
) -> Result<Option<Manifest>, TransportError> {
    match &state.manifest {
        None => Ok(None),
        Some(text) => Manifest::parse(text).map(Some).map_err(|e| {
            transport.corrupt(&format!(
                "the box's manifest (generation {}) is unreadable: {e}",
                state.generation.unwrap_or(0)
            ))
        }),
    }
}

/// The paths a plan reads on the box (relative to `/`): every file the build renders, and
/// certbot's lineage of every certificate ([`crate::certbot::lineage_path`]) — a lineage already
/// there (a box taken over from another tool) is adopted, not issued again.
pub fn probe(build: &Build) -> Vec<String> {
    let mut paths: Vec<String> = build.rendered.files.keys().cloned().collect();
    if let Some(acme) = &build.edge.acme {
        paths.extend(acme.certificates.keys().map(crate::certbot::lineage_path));
    }
    paths
}

/// Make a plan: read the box's state, compare, fetch what differs.
pub fn make(build: &Build, transport: &mut BoxClient) -> Result<Plan, TransportError> {
    let state = transport.read_state(&probe(build))?;
    make_from(build, transport, &state)
}

/// Make a plan against a state already read.
pub fn make_from(
    build: &Build,
    transport: &mut BoxClient,
    state: &BoxState,
) -> Result<Plan, TransportError> {
    let old_manifest = box_manifest(state, transport)?;
    let cert_dir = build.edge.tls.as_ref().map(|t| t.cert_dir.as_str());
    let expected = state.expected();
    let old_modes: BTreeMap<&str, &str> = old_manifest
        .iter()
        .flat_map(|m| m.files.iter())
        .map(|f| (f.path.as_str(), f.mode.as_str()))
        .collect();
    let drift = compare::drift(state, &expected, &old_modes);
    let mut changes = compare::changes(build, state, &expected, &drift, cert_dir);
    compare::fill_before(transport, state, &mut changes, cert_dir)?;
    let (model, semantic, semantic_note, hosts_disappearing) =
        compare::semantic(build, state, &old_manifest);
    let with = |a: Action| {
        changes
            .iter()
            .filter(move |c| c.action == a)
            .map(|c| c.path.as_str())
    };
    let units = crate::units::UnitPlan::of(
        with(Action::Create).chain(with(Action::Replace)),
        with(Action::Update),
        with(Action::Delete),
    );
    Ok(Plan {
        units,
        probes: probe_lines(&build.edge, None),
        gate: Vec::new(),
        target: transport.target().to_string(),
        transport: transport.describe(),
        input_hash: build.input_hash.clone(),
        tree_hash: build.manifest.tree_hash.clone(),
        base: state.generation.map(|g| Base {
            generation: g,
            tree_hash: old_manifest.as_ref().map(|m| m.tree_hash.clone()),
        }),
        state_hash: state_hash(state),
        changes,
        semantic,
        semantic_note,
        hosts_disappearing,
        drift,
        pending_reload: state.pending.is_some(),
        lock: state.lock.clone(),
        model,
    })
}

/// One line per probe of `edge` (of env `only`, when given): `env prod: GET /api/health (Host
/// veza.fr), expects status 200, 3 tries`.
pub fn probe_lines(edge: &crate::model::Edge, only: Option<&crate::model::Ident>) -> Vec<String> {
    edge.envs
        .values()
        .filter(|e| only.is_none_or(|o| *o == e.name))
        .flat_map(|e| {
            e.probes.iter().map(move |p| {
                let mut s = format!(
                    "env {}: GET {} (Host {}), expects status {}",
                    e.name, p.path, p.host, p.expect.status
                );
                if let Some(b) = &p.expect.body {
                    s += &format!(" and \"{b}\" in the body");
                }
                if let Some(t) = &p.expect.timeout {
                    s += &format!(" within {t}");
                }
                s + &format!(", {} tr{}", p.tries, if p.tries == 1 { "y" } else { "ies" })
            })
        })
        .collect()
}

/// The plan against the session's target: the build with the colours the box runs (they are
/// inputs of the build), compared with the box's state. Read only: no lock is taken (a plan
/// says when someone holds it).
///
/// # Errors
/// The box cannot be read; its colour state is unreadable; rendering fails.
pub fn against(
    session: &mut crate::session::Session,
) -> Result<(crate::Build, Plan), crate::diag::Problems> {
    let s = session.scope();
    let (build, state, _) = crate::colors::build_for_box(s.loaded, s.t)?;
    let plan = make_from(&build, s.t, &state).map_err(crate::diag::Problems::one)?;
    Ok((build, plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths_and_contents() {
        let certs = Some("/etc/haproxy/certs");
        assert!(is_sensitive("etc/haproxy/certs/veza.fr.pem", None, certs));
        assert!(is_sensitive("etc/haproxy/certs/x", None, certs));
        assert!(!is_sensitive("etc/haproxy/certsx/x", None, certs));
        assert!(is_sensitive("etc/x.key", None, None));
        assert!(is_sensitive(
            "etc/x.txt",
            Some(b"-----BEGIN EC PRIVATE KEY-----\n"),
            None
        ));
        assert!(!is_sensitive(
            "etc/haproxy/haproxy.cfg",
            Some(b"global\n"),
            certs
        ));
    }

    #[test]
    fn sha256_matches_sha256sum() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
