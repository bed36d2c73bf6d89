//! Comparing a build with the box's state: drift (the active generation's files as they are
//! now), the file changes apply would make (with their notes), their current content (one more
//! round trip), and the semantic summary against the box's model.

use std::collections::BTreeMap;

use super::semantic::{self, ModelSummary, SemanticChange};
use super::{Action, Change, Drift, DriftKind, is_sensitive, mode_str, sha256_hex};
use crate::Build;
use crate::output::Manifest;
use crate::transport::{BoxClient, BoxState, Live, LiveKind, TransportError};

/// What is at a path the state does not list.
const ABSENT: Live = Live {
    kind: LiveKind::Absent,
    mode: None,
    sha256: None,
};

/// The active generation's files (`expected`: path → sha256; `old_modes`: path → mode) as the
/// box has them now.
pub(super) fn drift(
    state: &BoxState,
    expected: &BTreeMap<String, String>,
    old_modes: &BTreeMap<&str, &str>,
) -> Vec<Drift> {
    let absent = &ABSENT;
    // Drift: the active generation's files as they are now.
    let mut drift = Vec::new();
    for (path, sha) in expected {
        let live = state.live.get(path).unwrap_or(absent);
        let d = |kind, message: &str| Drift {
            path: path.clone(),
            kind,
            message: message.to_string(),
        };
        match live.kind {
            LiveKind::Absent | LiveKind::Dangling => drift.push(d(DriftKind::Deleted, "deleted")),
            LiveKind::Ours => {
                if live.sha256.as_deref() != Some(sha.as_str()) {
                    drift.push(d(DriftKind::Modified, "content edited"));
                } else if let (Some(m), Some(want)) = (live.mode, old_modes.get(path.as_str()))
                    && mode_str(m) != *want
                {
                    drift.push(d(
                        DriftKind::ModeChanged,
                        &format!("mode {want} -> {}", mode_str(m)),
                    ));
                }
            }
            LiveKind::File | LiveKind::Link | LiveKind::Other => {
                let what = if live.sha256.as_deref() == Some(sha.as_str()) {
                    "replaced by a copy (same content)"
                } else {
                    "replaced by a different file"
                };
                drift.push(d(DriftKind::Replaced, what));
            }
        }
    }
    drift
}

/// The file changes that make the box serve `build`, sorted by path; `before` is filled later
/// ([`fill_before`]).
pub(super) fn changes(
    build: &Build,
    state: &BoxState,
    expected: &BTreeMap<String, String>,
    drift: &[Drift],
    cert_dir: Option<&str>,
) -> Vec<Change> {
    let absent = &ABSENT;
    let drifted: BTreeMap<&str, &Drift> = drift.iter().map(|d| (d.path.as_str(), d)).collect();
    let mut changes = Vec::new();
    for (path, file) in &build.rendered.files {
        let live = state.live.get(path).unwrap_or(absent);
        let sha = sha256_hex(&file.content);
        let sensitive = is_sensitive(path, Some(&file.content), cert_dir);
        let managed = expected.contains_key(path);
        let same = live.sha256.as_deref() == Some(sha.as_str()) && live.mode == Some(file.mode);
        let (action, note) = match live.kind {
            LiveKind::Ours if same => continue,
            LiveKind::Ours => (
                Action::Update,
                drifted
                    .get(path.as_str())
                    .map(|_| "restores a file changed outside edgeplan".to_string()),
            ),
            LiveKind::Absent | LiveKind::Dangling if managed => (
                Action::Create,
                Some("restores a file deleted outside edgeplan".to_string()),
            ),
            LiveKind::Absent | LiveKind::Dangling => (Action::Create, None),
            LiveKind::Other => (
                Action::Create,
                Some("something that is not a file is in the way; apply will refuse".into()),
            ),
            LiveKind::File | LiveKind::Link if managed => (
                Action::Update,
                Some("restores a file replaced outside edgeplan".to_string()),
            ),
            LiveKind::File | LiveKind::Link => (
                Action::Replace,
                Some(
                    "replaces a file edgeplan did not write; apply keeps it for a rollback to \
                     the box from before edgeplan"
                        .into(),
                ),
            ),
        };
        changes.push(Change {
            action,
            path: path.clone(),
            mode_before: live.mode.map(mode_str),
            mode_after: Some(mode_str(file.mode)),
            sensitive,
            note,
            before: None,
            after: (!sensitive)
                .then(|| super::secrets::mask(&String::from_utf8_lossy(&file.content))),
        });
    }
    for path in expected.keys() {
        if build.rendered.files.contains_key(path) {
            continue;
        }
        let live = state.live.get(path).unwrap_or(absent);
        if live.kind == LiveKind::Ours && live.exists() {
            changes.push(Change {
                action: Action::Delete,
                path: path.clone(),
                mode_before: live.mode.map(mode_str),
                mode_after: None,
                sensitive: is_sensitive(path, None, cert_dir),
                note: None,
                before: None,
                after: None,
            });
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));

    changes
}

/// The current content of the files that will change, in one round trip (a file found to hold
/// a secret is marked sensitive instead).
pub(super) fn fill_before(
    transport: &mut BoxClient,
    state: &BoxState,
    changes: &mut [Change],
    cert_dir: Option<&str>,
) -> Result<(), TransportError> {
    // One more round trip for the current content of files that will change.
    let wanted: Vec<String> = changes
        .iter()
        .filter(|c| c.action != Action::Delete && !c.sensitive)
        .filter(|c| state.live.get(&c.path).is_some_and(|l| l.exists()))
        .map(|c| c.path.clone())
        .collect();
    let fetched = transport.fetch(&wanted)?;
    for c in changes.iter_mut() {
        if let Some(b) = fetched.get(&c.path) {
            if is_sensitive(&c.path, Some(b), cert_dir) {
                c.sensitive = true;
                c.after = None;
            } else {
                c.before = Some(super::secrets::mask(&String::from_utf8_lossy(b)));
            }
        }
        if c.action != Action::Delete && c.before.is_none() && !c.sensitive {
            c.before = Some(String::new());
        }
    }

    Ok(())
}

/// The semantic summary of `build`, the changes against the box's model (with a note when it
/// cannot be read), and the hosts that stop being served.
pub(super) fn semantic(
    build: &Build,
    state: &BoxState,
    old_manifest: &Option<Manifest>,
) -> (
    ModelSummary,
    Vec<SemanticChange>,
    Option<String>,
    Vec<String>,
) {
    let model = ModelSummary::of(build);
    let (old_model, semantic_note) = match (&state.model, &old_manifest) {
        (Some(text), _) => match ModelSummary::parse(text) {
            Ok(m) => (Some(m), None),
            Err(e) => (
                None,
                Some(format!("the box's model summary is unreadable ({e})")),
            ),
        },
        (None, None) => (Some(ModelSummary::empty()), None),
        (None, Some(_)) => (
            None,
            Some("the box's generation has no model summary".to_string()),
        ),
    };
    let (mut semantic, hosts_disappearing) = match &old_model {
        Some(old) => (
            semantic::diff(old, &model),
            semantic::hosts_disappearing(old, &model),
        ),
        None => (Vec::new(), Vec::new()),
    };
    // A certificate new to edgeplan whose certbot lineage is already on the box is adopted:
    // its issue unit's `certbot certonly --cert-name NAME` keeps it unless it is due or its
    // domains differ, and the deploy hook's --converge installs it for haproxy.
    for s in &mut semantic {
        let Some(name) = s.subject.strip_prefix("certificate ") else {
            continue;
        };
        let lineage = crate::certbot::lineage_path(name);
        if s.kind == "certificate_added" && state.live.get(&lineage).is_some_and(|l| l.exists()) {
            s.kind = "certificate_adopted";
            s.message = format!(
                "certificate {name}: certbot's lineage on the box is adopted (issued again only \
                 when due or when its domains differ): {}",
                s.added.join(", ")
            );
        }
    }

    (model, semantic, semantic_note, hosts_disappearing)
}
