//! edgeplan: a declarative HTTP edge. KDL specs go in; a checked model, a content-hashed,
//! deterministic tree of haproxy/certbot/systemd files, plans and applies come out.
//!
//! The pipeline, one module per stage: [`spec`] (files → spanned structs) → [`validate`]
//! (→ [`model::Edge`]) → [`render`] → [`output`]; [`diag`] prints the problems of any stage.

pub mod cmd;
pub mod diag;
pub mod model;
pub mod render;
pub mod rules;
pub mod spec;
pub mod state;
pub mod validate;

use std::path::Path;

/// Load and validate the specs under `dir`: the decoded spec (for its files and spans) and the
/// checked model, or every problem found.
pub fn load(dir: &Path) -> Result<(spec::Spec, model::Edge), diag::Problems> {
    let spec = spec::load(dir).map_err(diag::Problems::from_spec)?;
    let edge = validate::validate(&spec).map_err(diag::Problems::from_validate)?;
    Ok((spec, edge))
}
