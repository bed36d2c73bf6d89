//! Rendering: the embedded minijinja templates (overridable by name from a directory), the
//! view model they see, and the set of files they produce at their paths on the edge box.
//!
//! Templates are the only way text is produced. They run with strict undefined behaviour and no
//! auto-escaping; every value they print was already checked by [`crate::model`], so nothing
//! needs quoting here. The view model is built from ordered maps and vectors only, so the same
//! inputs always give the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use thiserror::Error;

use crate::model::Edge;
use crate::rules::{self, Routing};
use crate::state::ActiveColors;

/// The templates compiled into the binary: name → text.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "haproxy.cfg.j2",
        include_str!("../templates/haproxy.cfg.j2"),
    ),
    (
        "static-body.txt.j2",
        include_str!("../templates/static-body.txt.j2"),
    ),
    ("page.html.j2", include_str!("../templates/page.html.j2")),
    // Server state across reloads: see crate::server_state.
    (
        "server-identities.list.j2",
        include_str!("../templates/server-identities.list.j2"),
    ),
    (
        "haproxy-save-state.sh.j2",
        include_str!("../templates/haproxy-save-state.sh.j2"),
    ),
    (
        "haproxy-service-dropin.conf.j2",
        include_str!("../templates/haproxy-service-dropin.conf.j2"),
    ),
    // Let's Encrypt and systemd: see crate::certbot.
    (
        "certbot-cli.ini.j2",
        include_str!("../templates/certbot-cli.ini.j2"),
    ),
    (
        "certbot-deploy-hook.sh.j2",
        include_str!("../templates/certbot-deploy-hook.sh.j2"),
    ),
    (
        "certbot-service-dropin.conf.j2",
        include_str!("../templates/certbot-service-dropin.conf.j2"),
    ),
    (
        "edgeplan-cert.service.j2",
        include_str!("../templates/edgeplan-cert.service.j2"),
    ),
    (
        "edgeplan-renew.service.j2",
        include_str!("../templates/edgeplan-renew.service.j2"),
    ),
    (
        "edgeplan-renew.timer.j2",
        include_str!("../templates/edgeplan-renew.timer.j2"),
    ),
    (
        "edgeplan-selfsigned.service.j2",
        include_str!("../templates/edgeplan-selfsigned.service.j2"),
    ),
    (
        "selfsigned-pem.sh.j2",
        include_str!("../templates/selfsigned-pem.sh.j2"),
    ),
];

/// A problem while loading templates or rendering.
#[derive(Debug, Error, Diagnostic)]
pub enum RenderError {
    /// A template failed to compile or render.
    #[error("template `{name}` failed: {message}")]
    #[diagnostic(code(edgeplan::render::template), help("{help}"))]
    Template {
        /// Template name.
        name: String,
        /// minijinja's message, with line.
        message: String,
        /// Where the template came from.
        help: String,
    },
    /// An override file that matches no template.
    #[error("template override `{path}` does not replace any template")]
    #[diagnostic(
        code(edgeplan::render::unknown_override),
        help("known templates: {known}")
    )]
    UnknownOverride {
        /// File.
        path: String,
        /// Known names.
        known: String,
    },
    /// The override directory could not be read.
    #[error("cannot read templates from {path}: {message}")]
    #[diagnostic(code(edgeplan::render::io))]
    Io {
        /// Path.
        path: String,
        /// OS message.
        message: String,
    },
}

/// Where a template in effect came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum Origin {
    /// Compiled into edgeplan.
    Embedded,
    /// A user override file.
    Override(PathBuf),
}

/// One template in effect.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its text.
    pub text: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The templates in effect: the embedded ones, some replaced by user overrides.
#[derive(Debug, Clone)]
pub struct Templates(pub BTreeMap<String, Template>);

impl Templates {
    /// Only the embedded templates.
    pub fn embedded() -> Templates {
        Templates(
            EMBEDDED
                .iter()
                .map(|(n, t)| {
                    (
                        n.to_string(),
                        Template {
                            text: t.to_string(),
                            origin: Origin::Embedded,
                        },
                    )
                })
                .collect(),
        )
    }

    /// Embedded templates with overrides from `dir` (files named like a template; any other
    /// file is an error so a typo cannot silently leave the embedded one in effect).
    pub fn with_overrides(dir: &Path) -> Result<Templates, RenderError> {
        let mut t = Templates::embedded();
        let io = |e: &dyn std::fmt::Display| RenderError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
            let entry = entry.map_err(|e| io(&e))?;
            if entry.file_type().is_dir() {
                continue;
            }
            let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let name = rel.to_string_lossy().replace('\\', "/");
            let Some(slot) = t.0.get_mut(&name) else {
                return Err(RenderError::UnknownOverride {
                    path: entry.path().display().to_string(),
                    known: EMBEDDED
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let text = std::fs::read_to_string(entry.path()).map_err(|e| io(&e))?;
            *slot = Template {
                text,
                origin: Origin::Override(entry.path().to_path_buf()),
            };
        }
        Ok(t)
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Unix mode.
    pub mode: u32,
    /// Content.
    pub content: Vec<u8>,
}

/// Every rendered file by its path on the box, relative to `/` (`etc/haproxy/haproxy.cfg`).
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Files.
    pub files: BTreeMap<String, RenderedFile>,
    /// The check copies: haproxy.cfg and each unit (not drop-ins) as validation reads them,
    /// rendered by the same templates with `tree` set to [`crate::layout::TREE_PLACEHOLDER`],
    /// so every path of a file of this generation points into the staged tree
    /// ([`crate::transport::generation`]). Path → content; not part of the tree or its hash.
    pub checks: BTreeMap<String, Vec<u8>>,
}

/// Does `path` get a check copy: the main config, or a unit `systemd-analyze verify` reads on
/// its own (directly in the unit directory; drop-ins are merged into their unit).
pub fn has_check_copy(path: &str) -> bool {
    path == crate::layout::HAPROXY_CFG.rel()
        || path
            .strip_prefix(crate::layout::UNIT_DIR.rel())
            .and_then(|p| p.strip_prefix('/'))
            .is_some_and(|name| !name.contains('/'))
}

/// What every template sees.
#[derive(Serialize)]
struct View<'a> {
    version: &'static str,
    input_hash: &'a str,
    edge: &'a Edge,
    routing: &'a Routing,
    colors: &'a ActiveColors,
}

/// Render every file of the edge.
pub fn render(
    edge: &Edge,
    colors: &ActiveColors,
    templates: &Templates,
    input_hash: &str,
) -> Result<Rendered, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    for (name, t) in &templates.0 {
        env.add_template_owned(name.clone(), t.text.clone())
            .map_err(|e| template_error(name, t, &e))?;
    }
    // `tree` prefixes every path of a file of this generation: empty for the files, the
    // placeholder for their check copies.
    env.add_global("tree", "");
    env.add_global("local_peer", rules::LOCAL_PEER);
    env.add_global("peers_section", rules::PEERS_SECTION);
    let mut check_env = env.clone();
    check_env.add_global("tree", crate::layout::TREE_PLACEHOLDER);
    let routing = rules::routing(edge, colors);
    let view = View {
        version: env!("CARGO_PKG_VERSION"),
        input_hash,
        edge,
        routing: &routing,
        colors,
    };
    let mut out = Rendered::default();
    let mut one =
        |name: &str, path: String, mode: u32, ctx: minijinja::Value| -> Result<(), RenderError> {
            let t = &templates.0[name];
            let tmpl = env
                .get_template(name)
                .map_err(|e| template_error(name, t, &e))?;
            if has_check_copy(&path) {
                let check = check_env
                    .get_template(name)
                    .and_then(|c| c.render(&ctx))
                    .map_err(|e| template_error(name, t, &e))?;
                out.checks.insert(path.clone(), check.into_bytes());
            }
            let text = tmpl.render(ctx).map_err(|e| template_error(name, t, &e))?;
            out.files.insert(
                path,
                RenderedFile {
                    mode,
                    content: text.into_bytes(),
                },
            );
            Ok(())
        };
    one(
        "haproxy.cfg.j2",
        "etc/haproxy/haproxy.cfg".into(),
        0o644,
        minijinja::Value::from_serialize(&view),
    )?;
    for b in &routing.backends {
        let rules::Role::Static {
            status,
            body_file,
            of,
            ..
        } = &b.role
        else {
            continue;
        };
        let body = match of {
            rules::StaticOf::Placeholder(p) => edge.placeholders[p].body.as_str().to_string(),
            rules::StaticOf::Unmatched => "No site is served at this address.\n".to_string(),
        };
        let ctx = minijinja::context! { body => body, status => status, backend => b.name };
        one(
            "static-body.txt.j2",
            body_file.trim_start_matches('/').to_string(),
            0o644,
            ctx,
        )?;
    }
    // Maintenance and error pages, once each (a named policy used in several places shares
    // its page).
    let mut pages = std::collections::BTreeSet::new();
    for e in routing.backends.iter().flat_map(|b| &b.error_pages) {
        if pages.insert(e.file.clone()) {
            let ctx = minijinja::context! { page => e.page.as_str() };
            one(
                "page.html.j2",
                e.file.trim_start_matches('/').to_string(),
                0o644,
                ctx,
            )?;
        }
    }
    for p in routing.frontends.iter().flat_map(|f| &f.policies) {
        if let rules::PolicyAction::Deny {
            file: Some(file),
            body: Some(body),
            ..
        } = &p.action
            && pages.insert(file.clone())
        {
            let ctx = minijinja::context! { body => body, status => 403, backend => p.origin };
            one(
                "static-body.txt.j2",
                file.trim_start_matches('/').to_string(),
                0o644,
                ctx,
            )?;
        }
        if let rules::PolicyAction::Maintenance { file, page, .. } = &p.action
            && pages.insert(file.clone())
        {
            let ctx = minijinja::context! { page => page.as_str() };
            one(
                "page.html.j2",
                file.trim_start_matches('/').to_string(),
                0o644,
                ctx,
            )?;
        }
    }
    for f in crate::server_state::files(edge, &routing, view.version, input_hash) {
        one(f.template, f.path, f.mode, f.ctx)?;
    }
    for f in crate::certbot::files(edge, view.version, input_hash) {
        one(f.template, f.path, f.mode, f.ctx)?;
    }
    Ok(out)
}

fn template_error(name: &str, t: &Template, e: &minijinja::Error) -> RenderError {
    let mut message = e.to_string();
    if let Some(line) = e.line() {
        message = format!("{message} (line {line})");
    }
    let help = match &t.origin {
        Origin::Embedded => "this is an embedded template: please report it as a bug".to_string(),
        Origin::Override(p) => format!("fix the override {}", p.display()),
    };
    RenderError::Template {
        name: name.to_string(),
        message,
        help,
    }
}
