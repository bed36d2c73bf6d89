//! Let's Encrypt on the edge box: certbot's shared defaults, the systemd units that issue, renew
//! and bootstrap each certificate group, and the scripts that install certificates into HAProxy.
//!
//! One set-up for the whole edge (the edge is shared by every environment, so is its certificate
//! set). What [`files`] renders, at its path on the box:
//!
//! * `etc/letsencrypt/cli.ini`: account e-mail, ACME directory, key type, the standalone
//!   authenticator on the loopback challenge port behind HAProxy's :80 ACME route. Never domains.
//! * per certificate group `NAME`, in `etc/systemd/system/`:
//!   * `edgeplan-cert-NAME.service`: issue, or re-issue when the domain set changed
//!     (`certbot certonly --cert-name NAME -d …`), with the deploy hook;
//!   * `edgeplan-renew-NAME.service` + `.timer`: daily, randomized, persistent
//!     `certbot renew --cert-name NAME --no-random-sleep-on-renew`;
//!   * `edgeplan-selfsigned-NAME.service` (TLS on only): a self-signed placeholder PEM made on the
//!     box while the real one does not exist, so HAProxy can start before the first issuance.
//! * `etc/letsencrypt/renewal-hooks/deploy/edgeplan-haproxy`: builds `CERT_DIR/NAME.pem`
//!   (full chain + key) from `$RENEWED_LINEAGE`, checks the config, reloads HAProxy.
//! * `usr/local/lib/edgeplan/selfsigned-pem`: the placeholder maker.
//! * `etc/systemd/system/haproxy.service.d/edgeplan.conf` (TLS on only): HAProxy starts after the
//!   placeholders.
//! * `etc/systemd/system/certbot.service.d/edgeplan.conf`: Debian's packaged `certbot.timer`
//!   stands down while edgeplan's deploy hook is installed (see `docs/certificates.md`).
//!
//! Every value printed comes from the checked model: certificate names are `[a-z0-9._-]`, at
//! most 63 characters, so they are valid in systemd unit names and file names as they are, and
//! host names and paths contain nothing systemd (`%`, `$`, `\`, quotes) or bash would interpret.

use serde::Serialize;

use crate::model::{CertName, Edge, Host};

use crate::layout;

/// certbot's configuration directory on the box ([`layout::LETSENCRYPT_DIR`]).
pub const LETSENCRYPT_DIR: &str = layout::LETSENCRYPT_DIR.abs();
/// certbot's shared defaults.
pub const CLI_INI: &str = layout::CLI_INI.abs();
/// The deploy hook (certbot runs every file of this directory after each renewal).
pub const DEPLOY_HOOK: &str = layout::DEPLOY_HOOK.abs();
/// The self-signed placeholder maker.
pub const SELFSIGNED_HELPER: &str = layout::SELFSIGNED_HELPER.abs();
/// Where systemd units go.
pub const UNIT_DIR: &str = layout::UNIT_DIR.abs();
/// The certbot binary of Debian's package.
pub const CERTBOT: &str = layout::CERTBOT_BIN.abs();
/// The haproxy binary of Debian's package.
pub const HAPROXY: &str = layout::HAPROXY_BIN.abs();
/// HAProxy's configuration file.
pub const HAPROXY_CFG: &str = layout::HAPROXY_CFG.abs();
/// Certificate directory when the spec has no `tls` block (certificates issued ahead of TLS).
pub const DEFAULT_CERT_DIR: &str = layout::DEFAULT_CERT_DIR.abs();
/// Let's Encrypt's limit of names per certificate.
pub const MAX_DOMAINS: usize = 100;

/// Name of the unit that issues certificate `name`.
pub fn issue_unit(name: &CertName) -> String {
    format!("edgeplan-cert-{name}.service")
}
/// Name of the unit that renews certificate `name`.
pub fn renew_unit(name: &CertName) -> String {
    format!("edgeplan-renew-{name}.service")
}
/// certbot's lineage of certificate `name` as the plan probes it on the box: its
/// `fullchain.pem`, relative to `/` (`etc/letsencrypt/live/NAME/fullchain.pem`).
pub fn lineage_path(name: impl std::fmt::Display) -> String {
    format!(
        "{}/live/{name}/fullchain.pem",
        LETSENCRYPT_DIR.trim_start_matches('/')
    )
}

/// The directory haproxy loads the certificates from: the spec's `tls cert-dir`, else
/// [`DEFAULT_CERT_DIR`] (certificates issued ahead of TLS).
pub fn cert_dir(edge: &Edge) -> String {
    edge.tls
        .as_ref()
        .map_or_else(|| DEFAULT_CERT_DIR.to_string(), |t| t.cert_dir.to_string())
}

/// The PEM haproxy loads for certificate `name` (full chain and key) in `cert_dir`.
pub fn pem_path(cert_dir: &str, name: impl std::fmt::Display) -> String {
    format!("{}/{name}.pem", cert_dir.trim_end_matches('/'))
}

/// Name of the timer that starts [`renew_unit`].
pub fn renew_timer(name: &CertName) -> String {
    format!("edgeplan-renew-{name}.timer")
}
/// Name of the unit that makes the self-signed placeholder of certificate `name`.
pub fn selfsigned_unit(name: &CertName) -> String {
    format!("edgeplan-selfsigned-{name}.service")
}

/// The self-signed placeholder units haproxy must start after (TLS with certificates; else
/// none), in certificate order.
pub fn selfsigned_units(edge: &Edge) -> Vec<String> {
    match (&edge.acme, &edge.tls) {
        (Some(acme), Some(_)) => acme
            .certificates
            .iter()
            .filter(|(_, domains)| !domains.is_empty())
            .map(|(name, _)| selfsigned_unit(name))
            .collect(),
        _ => Vec::new(),
    }
}

/// One file to render: which template, where on the box (relative to `/`), mode, and context.
#[derive(Debug)]
pub struct FileSpec {
    /// Template name (an entry of [`crate::render::EMBEDDED`]).
    pub template: &'static str,
    /// Path relative to the box root.
    pub path: String,
    /// Unix mode.
    pub mode: u32,
    /// What the template sees.
    pub ctx: minijinja::Value,
}

/// One certificate group as the templates see it.
#[derive(Debug, Serialize)]
struct Cert {
    name: String,
    /// Domains in `-d` order: the certificate name first when it is one of them (certbot makes
    /// the first domain the subject's CN), then the others sorted.
    domains: Vec<String>,
    pem: String,
    issue_unit: String,
    renew_unit: String,
    renew_timer: String,
    selfsigned_unit: String,
    /// edgeplan's certbot units ordered before this one's issue unit ([`certbot_order`]).
    issue_after: Vec<String>,
    /// The same for its renew unit.
    renew_after: Vec<String>,
}

/// certbot runs one instance at a time: it locks its config, work and logs directories and a
/// second instance exits 1 ("Another instance of Certbot is already running"), which would
/// leave a unit failed for its hour of `RestartSec`. So edgeplan's certbot units are ordered in
/// one total order — every issue unit, then every renew unit, each group in certificate order —
/// and each unit is `After=` the ones before it: units started together (the issue units an
/// apply starts, renew timers firing together after boot) queue instead of failing, and the
/// order has no cycle. Returns, per certificate, the units before its issue and renew units.
fn certbot_order(certs: &[Cert]) -> Vec<(Vec<String>, Vec<String>)> {
    let issue: Vec<String> = certs.iter().map(|c| c.issue_unit.clone()).collect();
    let renew: Vec<String> = certs.iter().map(|c| c.renew_unit.clone()).collect();
    (0..certs.len())
        .map(|i| {
            let before_issue = issue[..i].to_vec();
            let before_renew = issue.iter().chain(&renew[..i]).cloned().collect();
            (before_issue, before_renew)
        })
        .collect()
}

/// Paths and settings every template sees.
#[derive(Debug, Serialize)]
struct View<'a> {
    version: &'a str,
    input_hash: &'a str,
    edge_name: String,
    email: String,
    server: String,
    key_type: &'static str,
    challenge_address: String,
    challenge_port: u16,
    tls: bool,
    cert_dir: String,
    cli_ini: &'static str,
    letsencrypt_dir: &'static str,
    deploy_hook: &'static str,
    selfsigned_helper: &'static str,
    certbot: &'static str,
    haproxy: &'static str,
    haproxy_cfg: &'static str,
    certs: Vec<Cert>,
}

/// `-d` order of a group's domains.
fn domain_order(name: &CertName, domains: &[Host]) -> Vec<String> {
    let mut out: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
    out.sort();
    out.dedup();
    if let Some(i) = out.iter().position(|d| d == name.as_str()) {
        let first = out.remove(i);
        out.insert(0, first);
    }
    out
}

/// The certbot, systemd and hook files of `edge`; none when ACME is off.
pub fn files(edge: &Edge, version: &str, input_hash: &str) -> Vec<FileSpec> {
    let Some(acme) = &edge.acme else {
        return Vec::new();
    };
    let cert_dir = cert_dir(edge);
    let mut certs: Vec<Cert> = acme
        .certificates
        .iter()
        .filter(|(_, domains)| !domains.is_empty())
        .map(|(name, domains)| Cert {
            name: name.to_string(),
            domains: domain_order(name, domains),
            pem: pem_path(&cert_dir, name),
            issue_unit: issue_unit(name),
            renew_unit: renew_unit(name),
            renew_timer: renew_timer(name),
            selfsigned_unit: selfsigned_unit(name),
            issue_after: Vec::new(),
            renew_after: Vec::new(),
        })
        .collect();
    let order = certbot_order(&certs);
    for (c, (issue, renew)) in certs.iter_mut().zip(order) {
        c.issue_after = issue;
        c.renew_after = renew;
    }
    let view = View {
        version,
        input_hash,
        edge_name: edge.name.to_string(),
        email: acme.email.to_string(),
        server: acme.directory.url().to_string(),
        key_type: acme.key_type.as_str(),
        // certbot takes the bare IP; `[::1]` is how the model (and haproxy) write IPv6.
        challenge_address: acme
            .challenge_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        challenge_port: acme.challenge_port.get(),
        tls: edge.tls.is_some(),
        cert_dir,
        cli_ini: CLI_INI,
        letsencrypt_dir: LETSENCRYPT_DIR,
        deploy_hook: DEPLOY_HOOK,
        selfsigned_helper: SELFSIGNED_HELPER,
        certbot: CERTBOT,
        haproxy: HAPROXY,
        haproxy_cfg: HAPROXY_CFG,
        certs,
    };
    let unit = |name: &str| format!("{}/{name}", UNIT_DIR.trim_start_matches('/'));
    // Serialize the view once: per-file contexts share it (a `Value` clone is a refcount).
    let view_value = minijinja::Value::from_serialize(&view);
    let shared = |template: &'static str, path: String, mode: u32| FileSpec {
        template,
        path,
        mode,
        ctx: view_value.clone(),
    };
    let mut out = vec![
        shared(
            "certbot-cli.ini.j2",
            CLI_INI.trim_start_matches('/').to_string(),
            0o644,
        ),
        shared(
            "certbot-deploy-hook.sh.j2",
            DEPLOY_HOOK.trim_start_matches('/').to_string(),
            0o755,
        ),
        shared(
            "certbot-service-dropin.conf.j2",
            unit("certbot.service.d/edgeplan.conf"),
            0o644,
        ),
    ];
    if view.tls {
        out.push(shared(
            "selfsigned-pem.sh.j2",
            SELFSIGNED_HELPER.trim_start_matches('/').to_string(),
            0o755,
        ));
    }
    for cert in &view.certs {
        let per_cert = |template: &'static str, path: String| FileSpec {
            template,
            path,
            mode: 0o644,
            ctx: minijinja::context! { cert => cert, ..view_value.clone() },
        };
        out.push(per_cert("edgeplan-cert.service.j2", unit(&cert.issue_unit)));
        out.push(per_cert(
            "edgeplan-renew.service.j2",
            unit(&cert.renew_unit),
        ));
        out.push(per_cert("edgeplan-renew.timer.j2", unit(&cert.renew_timer)));
        if view.tls {
            out.push(per_cert(
                "edgeplan-selfsigned.service.j2",
                unit(&cert.selfsigned_unit),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_name_first_then_sorted() {
        let name = CertName::parse("veza.fr").unwrap();
        let hosts: Vec<Host> = ["www.veza.fr", "staging.veza.fr", "veza.fr"]
            .iter()
            .map(|h| Host::parse(h).unwrap())
            .collect();
        assert_eq!(
            domain_order(&name, &hosts),
            ["veza.fr", "staging.veza.fr", "www.veza.fr"]
        );
        let other = CertName::parse("group-1").unwrap();
        assert_eq!(
            domain_order(&other, &hosts),
            ["staging.veza.fr", "veza.fr", "www.veza.fr"]
        );
    }

    /// systemd unit names: `[A-Za-z0-9:_.\\-]`, at most 255 bytes, and `@` only for templates.
    /// Every valid certificate name gives valid unit names as it is.
    #[test]
    fn every_cert_name_makes_valid_unit_names() {
        let longest = "a".repeat(63);
        for s in [
            "veza.fr",
            "forgejo.talas.group",
            "a_b-c.d",
            "0",
            longest.as_str(),
        ] {
            let name = CertName::parse(s).unwrap();
            for unit in [
                issue_unit(&name),
                renew_unit(&name),
                renew_timer(&name),
                selfsigned_unit(&name),
            ] {
                assert!(unit.len() <= 255, "{unit}");
                assert!(
                    unit.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":_.-".contains(c)),
                    "{unit}"
                );
            }
        }
        for bad in ["a@b", "a b", "a\\x2d", "a%i", "A", "-a", "a/b", "a..b"] {
            assert!(CertName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// Every certbot unit is ordered after every unit before it in one list (issue units, then
    /// renew units): no two can run at once, and the `After=` graph has no cycle.
    #[test]
    fn certbot_units_form_one_order() {
        let certs: Vec<Cert> = ["a.fr", "b.fr", "c.fr"]
            .iter()
            .map(|n| {
                let name = CertName::parse(n).unwrap();
                Cert {
                    name: n.to_string(),
                    domains: vec![n.to_string()],
                    pem: String::new(),
                    issue_unit: issue_unit(&name),
                    renew_unit: renew_unit(&name),
                    renew_timer: renew_timer(&name),
                    selfsigned_unit: selfsigned_unit(&name),
                    issue_after: Vec::new(),
                    renew_after: Vec::new(),
                }
            })
            .collect();
        let order = certbot_order(&certs);
        let mut all = Vec::new();
        let mut after = Vec::new();
        for (c, (issue, _)) in certs.iter().zip(&order) {
            all.push(c.issue_unit.clone());
            after.push(issue.clone());
        }
        for (c, (_, renew)) in certs.iter().zip(&order) {
            all.push(c.renew_unit.clone());
            after.push(renew.clone());
        }
        for (i, before) in after.iter().enumerate() {
            assert_eq!(before, &all[..i], "{}", all[i]);
        }
        assert!(
            order[0]
                .1
                .contains(&issue_unit(&CertName::parse("a.fr").unwrap()))
        );
    }
}
