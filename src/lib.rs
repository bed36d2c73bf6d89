//! edgeplan: a declarative HTTP edge. KDL specs go in; a checked model, a content-hashed,
//! deterministic tree of haproxy/certbot/systemd files, plans and applies come out.
//!
//! The pipeline, one module per stage: [`spec`] (files → spanned structs) → [`validate`]
//! (→ [`model::Edge`]) → [`render`] → [`output`]; [`diag`] prints the problems of any stage.

pub mod apply;
pub mod canary;
pub mod cert_status;
pub mod certbot;
pub mod cmd;
pub mod colors;
pub mod diag;
pub mod fault;
pub mod fuzzing;
pub mod gate;
pub mod hash;
pub mod layout;
pub mod model;
pub mod output;
pub mod plan;
pub mod probes;
pub mod reach;
pub mod render;
pub mod rollback;
pub mod route;
pub mod rules;
pub mod server;
pub mod server_state;
pub mod session;
pub mod spec;
pub mod state;
pub mod status;
pub mod style;
pub mod switch;
pub mod traffic;
pub mod transport;
pub mod units;
pub mod validate;

use std::path::Path;

/// Load and validate the specs under `dir`: the decoded spec (for its files and spans) and the
/// checked model, or every problem found.
pub fn load(dir: &Path) -> Result<(spec::Spec, model::Edge), diag::Problems> {
    LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let spec = spec::load(dir).map_err(diag::Problems::from_spec)?;
    let edge = validate::validate(&spec).map_err(diag::Problems::from_validate)?;
    Ok((spec, edge))
}

/// Everything one build produced: the inputs, the model, and the rendered tree.
#[derive(Debug)]
pub struct Build {
    /// The decoded spec (files and spans).
    pub spec: spec::Spec,
    /// The checked model.
    pub edge: model::Edge,
    /// Active colours rendered.
    pub colors: state::ActiveColors,
    /// Templates in effect.
    pub templates: render::Templates,
    /// Input hash.
    pub input_hash: String,
    /// Rendered files.
    pub rendered: render::Rendered,
    /// Their manifest.
    pub manifest: output::Manifest,
}

/// How to build: where the specs and template overrides are, and colour overrides.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Specs directory.
    pub specs: std::path::PathBuf,
    /// Template override directory.
    pub templates: Option<std::path::PathBuf>,
    /// What envs serve where it differs from the specs (from the box's state or the command
    /// line).
    pub colors: Vec<(model::Ident, state::Serving)>,
}

/// Everything known before rendering: enough to tell whether an out dir is already current.
#[derive(Debug)]
pub struct Prepared {
    /// The decoded spec.
    pub spec: spec::Spec,
    /// The checked model.
    pub edge: model::Edge,
    /// Active colours.
    pub colors: state::ActiveColors,
    /// Templates in effect.
    pub templates: render::Templates,
    /// Input hash.
    pub input_hash: String,
}

/// Load, validate, hash and render; nothing is written.
pub fn build(opts: &BuildOptions) -> Result<Build, diag::Problems> {
    prepare(opts)?.render()
}

/// How many times this process has read and checked a specs directory ([`load`]). A command
/// reads its specs once ([`Loaded`]); the test suite holds it to that.
pub fn loads() -> usize {
    LOADS.load(std::sync::atomic::Ordering::Relaxed)
}

static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The inputs of a build, read and checked once: the decoded spec, the model and the templates
/// in effect. Builds with any active colours come from it without reading a file again
/// ([`Loaded::build`]), so a command that learns the box's colours after choosing its target
/// renders from the same read.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The decoded spec.
    pub spec: spec::Spec,
    /// The checked model.
    pub edge: model::Edge,
    /// Templates in effect.
    pub templates: render::Templates,
}

/// Read and check the specs and templates `opts` names (its colours are not used).
///
/// # Errors
/// The specs do not load or check; a template override is unreadable.
pub fn load_inputs(opts: &BuildOptions) -> Result<Loaded, diag::Problems> {
    let (spec, edge) = load(&opts.specs)?;
    let templates = match &opts.templates {
        Some(dir) => render::Templates::with_overrides(dir).map_err(diag::Problems::one)?,
        None => render::Templates::embedded(),
    };
    Ok(Loaded {
        spec,
        edge,
        templates,
    })
}

impl Loaded {
    /// Hash the inputs with `colors` overriding the specs' active colours, without rendering.
    ///
    /// # Errors
    /// A colour names an env the specs do not have.
    pub fn prepare(
        &self,
        colors: &[(model::Ident, state::Serving)],
    ) -> Result<Prepared, diag::Problems> {
        self.clone().into_prepared(colors)
    }

    /// Render with `colors` overriding the specs' active colours.
    ///
    /// # Errors
    /// A colour names an unknown env; rendering fails.
    pub fn build(
        &self,
        colors: &[(model::Ident, state::Serving)],
    ) -> Result<Build, diag::Problems> {
        self.prepare(colors)?.render()
    }

    fn into_prepared(
        self,
        overrides: &[(model::Ident, state::Serving)],
    ) -> Result<Prepared, diag::Problems> {
        let Loaded {
            spec,
            edge,
            templates,
        } = self;
        prepared(spec, edge, templates, overrides)
    }
}

/// Load, validate and hash the inputs, without rendering.
pub fn prepare(opts: &BuildOptions) -> Result<Prepared, diag::Problems> {
    load_inputs(opts)?.into_prepared(&opts.colors)
}

fn prepared(
    spec: spec::Spec,
    edge: model::Edge,
    templates: render::Templates,
    overrides: &[(model::Ident, state::Serving)],
) -> Result<Prepared, diag::Problems> {
    let mut colors = state::ActiveColors::from_specs(&edge);
    for (env, color) in overrides {
        if !colors.set(env, *color) {
            return Err(diag::Problems::one(state::StateError::UnknownEnv {
                env: env.to_string(),
                known: edge
                    .envs
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }));
        }
    }
    let input_hash = hash::input_hash(&spec.files, &templates, &colors);
    Ok(Prepared {
        spec,
        edge,
        colors,
        templates,
        input_hash,
    })
}

impl Prepared {
    /// Render the files and their manifest.
    pub fn render(self) -> Result<Build, diag::Problems> {
        let Prepared {
            spec,
            edge,
            colors,
            templates,
            input_hash,
        } = self;
        let rendered =
            render::render(&edge, &colors, &templates, &input_hash).map_err(diag::Problems::one)?;
        let color_names = colors
            .0
            .iter()
            .map(|(e, c)| (e.to_string(), c.to_string()))
            .collect();
        let manifest = output::Manifest::of(&rendered, &input_hash, color_names);
        Ok(Build {
            spec,
            edge,
            colors,
            templates,
            input_hash,
            rendered,
            manifest,
        })
    }
}
