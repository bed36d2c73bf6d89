//! `edgeplan route`: explain where a request lands, from the same routing table the haproxy
//! config is rendered from.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{Format, Ui};
use crate::diag::Problems;
use crate::route::{self, Request};
use crate::rules;
use crate::state::ActiveColors;

/// Explain where a request lands: frontend, ACLs, rule, backend, server and cookie
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The request's URL (http:// or https://; its authority is the Host header as sent), or
    /// tcp://HOST:PORT for a connection to a TCP service
    pub url: String,

    /// A cookie the request carries, NAME=VALUE (repeatable)
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    pub cookies: Vec<String>,

    /// A header the request carries, NAME=VALUE (repeatable; `Host` replaces the URL's)
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// Basic credentials the request carries, USER:PASSWORD (as `curl -u`; checked against the
    /// userlist's hashes as haproxy checks them, never shown)
    #[arg(long, value_name = "USER:PASSWORD", value_parser = user_password)]
    pub user: Option<(String, String)>,

    /// Specs directory (holds edge.kdl and env/*.kdl)
    #[arg(long, default_value = "specs")]
    pub specs: PathBuf,

    /// The client's address: whether its identity headers (X-Forwarded-For…) are believed
    /// depends on the spec's `trusted` networks
    #[arg(long, value_name = "ADDR")]
    pub from: Option<std::net::IpAddr>,

    /// Active colours instead of the specs' ones, ENV=COLOR,… (repeatable)
    #[arg(long, value_name = "ENV=COLOR,…")]
    pub colors: Vec<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Run the command.
#[allow(clippy::result_large_err)] // the closure returns a diagnostic, once
pub fn run(args: Args, ui: Ui) -> ExitCode {
    let edge = match crate::load(&args.specs) {
        Ok((_, edge)) => edge,
        Err(problems) => return ui.fail(&problems, args.format),
    };
    if args.url.to_ascii_lowercase().starts_with("tcp://") {
        let ex = match route::explain_tcp(&edge, &args.url) {
            Ok(ex) => ex,
            Err(e) => return ui.fail(&Problems::one(e), args.format),
        };
        let text = match args.format {
            Format::Json => serde_json::to_string_pretty(&ex).unwrap_or_default() + "\n",
            Format::Text => route::render_tcp_text(&ex),
        };
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let explained = (|| {
        let mut colors = ActiveColors::from_specs(&edge);
        route::apply_colors(&edge, &mut colors, &args.colors)?;
        let mut headers = args.headers.clone();
        if let Some((user, password)) = &args.user {
            headers.push(format!(
                "Authorization={}",
                route::Credentials::header(user, password)
            ));
        }
        let mut req = Request::parse(&args.url, &args.cookies, &headers)?;
        req.from = args.from;
        route::explain(&rules::routing(&edge, &colors), &req)
    })();
    let ex = match explained {
        Ok(ex) => ex,
        Err(e) => return ui.fail(&Problems::one(e), args.format),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&ex).unwrap_or_default() + "\n",
        Format::Text => route::render_text(&ex, ui.color_out),
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// `USER:PASSWORD`, split at the first `:` (RFC 7617: a user name holds no `:`).
fn user_password(s: &str) -> Result<(String, String), String> {
    s.split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .ok_or_else(|| "write USER:PASSWORD (a `:` between them)".to_string())
}
