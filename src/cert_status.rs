//! Certificates as the box has them, for `edgeplan status`: per certificate group of the specs,
//! the PEM haproxy serves (certbot's lineage, the self-signed placeholder, another certificate,
//! or none), its issuer, names and expiry, certbot's lineage, and the last run of the group's
//! issue and renew units with their result — with a warning for what needs a person.
//!
//! Read on the box in two round trips: `openssl x509` of each PEM and lineage (the box script's
//! `x509`: only the certificate is read out, never a private key) and `systemctl show` of the
//! units (`unit-show`; skipped, and said, on a box without systemd).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::certbot;
use crate::model::Edge;
use crate::transport::{BoxClient, TransportError};

/// A real certificate that expires within this many days gets a warning: certbot renews 30 days
/// before expiry, so one this close means renewals have failed for two weeks or more.
pub const WARN_DAYS: i64 = 14;

/// What `openssl x509` says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct X509 {
    /// Subject (RFC 2253).
    pub subject: String,
    /// Issuer (RFC 2253).
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// Expiry, RFC 3339 UTC.
    pub not_after: String,
    /// DNS names of its subjectAltName.
    pub names: Vec<String>,
}

impl X509 {
    /// Parse `openssl x509 -noout -nameopt RFC2253 -subject -issuer -serial -enddate -dateopt
    /// iso_8601 -ext subjectAltName` output; `None` when a field is missing.
    pub fn parse(text: &str) -> Option<X509> {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        // `2026-12-02 01:53:10Z` → RFC 3339.
        let not_after: jiff::Timestamp = field("notAfter=")?.replacen(' ', "T", 1).parse().ok()?;
        let mut lines = text.lines();
        let names = lines
            .by_ref()
            .find(|l| l.starts_with("X509v3 Subject Alternative Name"))
            .and_then(|_| lines.next())
            .map(|l| {
                l.split(',')
                    .filter_map(|n| n.trim().strip_prefix("DNS:"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Some(X509 {
            subject: field("subject=")?,
            issuer: field("issuer=")?,
            serial: field("serial=")?,
            not_after: not_after.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            names,
        })
    }

    /// Self-signed (subject is issuer): the placeholder edgeplan makes.
    pub fn self_signed(&self) -> bool {
        self.subject == self.issuer
    }
}

/// What haproxy serves for a certificate group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// No PEM: haproxy refuses its configuration.
    Missing,
    /// edgeplan's self-signed placeholder (certbot has not issued it yet).
    Placeholder,
    /// certbot's lineage of that name.
    Lineage,
    /// Another certificate (put there by hand, or a lineage not installed yet).
    Other,
}

impl Served {
    fn describe(self) -> &'static str {
        match self {
            Served::Missing => "no PEM",
            Served::Placeholder => "self-signed placeholder",
            Served::Lineage => "certbot's lineage",
            Served::Other => "a certificate that is not certbot's lineage",
        }
    }
}

/// The last run of one of the group's units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitRun {
    /// The unit.
    pub unit: String,
    /// When it last started, RFC 3339 UTC.
    pub started: String,
    /// systemd's `Result` (`success`, `exit-code`, …).
    pub result: String,
    /// A retry is scheduled (`auto-restart`).
    pub retrying: bool,
}

/// One certificate group on the box.
#[derive(Debug, Clone, Serialize)]
pub struct CertStatus {
    /// Certificate name.
    pub name: String,
    /// Its domains in the specs.
    pub domains: Vec<String>,
    /// The PEM haproxy loads.
    pub pem: String,
    /// What that PEM is.
    pub served: Served,
    /// Its certificate.
    pub certificate: Option<X509>,
    /// certbot's lineage (`/etc/letsencrypt/live/NAME/cert.pem`), when there is one.
    pub lineage: Option<X509>,
    /// Whole days until the served certificate expires (negative: expired).
    pub expires_in_days: Option<i64>,
    /// The latest run of its issue or renew unit; `None` when neither ran (or no systemd).
    pub last_run: Option<UnitRun>,
    /// When its renew timer fires next, RFC 3339 UTC.
    pub next_renewal_check: Option<String>,
    /// Why the units could not be read (`systemd is not running`).
    pub units_note: Option<String>,
    /// What needs a person.
    pub warnings: Vec<String>,
}

/// `Tue 2026-12-01 02:02:34 UTC` (systemctl show --timestamp=utc) → RFC 3339; `None` when empty.
fn systemd_time(v: &str) -> Option<String> {
    let mut words = v.split_whitespace();
    let (_, day, time) = (words.next()?, words.next()?, words.next()?);
    let ts: jiff::Timestamp = format!("{day}T{time}Z").parse().ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn props(text: &str) -> BTreeMap<&str, &str> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

/// Read every certificate group of `edge` on the box `t` reaches, as of `now`.
///
/// # Errors
/// The box cannot be reached or its reply is unreadable.
pub fn gather(
    t: &mut BoxClient,
    edge: &Edge,
    now: jiff::Timestamp,
) -> Result<Vec<CertStatus>, TransportError> {
    let Some(acme) = &edge.acme else {
        return Ok(Vec::new());
    };
    let cert_dir = certbot::cert_dir(edge);
    let pem = |name: &str| certbot::pem_path(&cert_dir, name);
    let lineage = |name: &str| format!("{}/live/{name}/cert.pem", certbot::LETSENCRYPT_DIR);
    let names: Vec<String> = acme.certificates.keys().map(|n| n.to_string()).collect();

    let mut paths = Vec::new();
    for n in &names {
        paths.push(pem(n));
        paths.push(lineage(n));
    }
    let read = t.x509(&paths)?;
    let x509: BTreeMap<String, X509> = read
        .blobs
        .iter()
        .filter_map(|(p, b)| Some((p.clone(), X509::parse(&String::from_utf8_lossy(b))?)))
        .collect();
    let x509_note = read.skipped;

    let mut units = Vec::new();
    for n in &acme.certificates {
        units.push(certbot::issue_unit(n.0));
        units.push(certbot::renew_unit(n.0));
        units.push(certbot::renew_timer(n.0));
    }
    let read = t.unit_show(&units)?;
    let shown: BTreeMap<String, String> = read
        .blobs
        .iter()
        .map(|(u, b)| (u.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect();
    let units_note = read.skipped;

    let mut out = Vec::new();
    for (name, domains) in &acme.certificates {
        let n = name.to_string();
        let certificate = x509.get(&pem(&n)).cloned();
        let line = x509.get(&lineage(&n)).cloned();
        let served = match (&certificate, &line) {
            (None, _) => Served::Missing,
            (Some(c), Some(l)) if c.serial == l.serial => Served::Lineage,
            (Some(c), _) if c.self_signed() => Served::Placeholder,
            (Some(_), _) => Served::Other,
        };
        let expires_in_days = certificate.as_ref().and_then(|c| {
            let end: jiff::Timestamp = c.not_after.parse().ok()?;
            Some(end.duration_since(now).as_secs().div_euclid(86_400))
        });
        let runs: Vec<UnitRun> = [certbot::issue_unit(name), certbot::renew_unit(name)]
            .into_iter()
            .filter_map(|u| {
                let text = shown.get(&u)?;
                let p = props(text);
                Some(UnitRun {
                    started: systemd_time(p.get("ExecMainStartTimestamp")?)?,
                    result: p.get("Result").unwrap_or(&"").to_string(),
                    retrying: p.get("SubState") == Some(&"auto-restart"),
                    unit: u,
                })
            })
            .collect();
        let last_run = runs.into_iter().max_by(|a, b| a.started.cmp(&b.started));
        let next_renewal_check = shown.get(&certbot::renew_timer(name)).and_then(|t| {
            props(t)
                .get("NextElapseUSecRealtime")
                .copied()
                .and_then(systemd_time)
        });
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();

        let warnings = warnings(
            name,
            &pem(&n),
            x509_note.as_deref(),
            served,
            line.is_some(),
            certificate.as_ref(),
            &domains,
            expires_in_days,
            last_run.as_ref(),
        );
        out.push(CertStatus {
            name: n.clone(),
            domains,
            pem: pem(&n),
            served,
            certificate,
            lineage: line,
            expires_in_days,
            last_run,
            next_renewal_check,
            units_note: units_note.clone(),
            warnings,
        });
    }
    Ok(out)
}

/// What is wrong with one certificate group, for people: missing or placeholder PEM, not the
/// lineage, names not covered, expiry close or past, the last certbot run failed.
#[allow(clippy::too_many_arguments)]
fn warnings(
    name: &crate::model::CertName,
    pem: &str,
    x509_note: Option<&str>,
    served: Served,
    has_lineage: bool,
    certificate: Option<&X509>,
    domains: &[String],
    expires_in_days: Option<i64>,
    last_run: Option<&UnitRun>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(why) = &x509_note {
        warnings.push(format!("certificates not read: {why}"));
    }
    match served {
        Served::Missing if x509_note.is_none() => warnings.push(format!(
            "{} is missing: haproxy refuses its configuration until it exists",
            pem
        )),
        Served::Placeholder => warnings.push(
            "served a self-signed placeholder: clients do not trust it until certbot \
             issues the certificate"
                .into(),
        ),
        Served::Other if has_lineage => warnings.push(format!(
            "haproxy does not serve certbot's lineage {name}: `systemctl start {}` installs it",
            certbot::issue_unit(name)
        )),
        _ => {}
    }
    if let Some(c) = &certificate {
        let missing: Vec<&str> = domains
            .iter()
            .filter(|d| !c.names.contains(d))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() && served != Served::Missing {
            warnings.push(format!(
                "the served certificate does not cover {}",
                missing.join(", ")
            ));
        }
    }
    match expires_in_days {
        Some(d) if d < 0 => warnings.push(format!("expired {} days ago", -d)),
        Some(d) if d < WARN_DAYS && served != Served::Placeholder => warnings.push(format!(
            "expires in {d} days: certbot renews 30 days before expiry — see `journalctl -u {}`",
            certbot::renew_unit(name)
        )),
        _ => {}
    }
    if let Some(run) = &last_run
        && run.result != "success"
    {
        warnings.push(format!(
            "{} failed at {} ({}){}",
            run.unit,
            run.started,
            run.result,
            if run.retrying {
                "; systemd retries it"
            } else {
                ""
            }
        ));
    }
    warnings
}

/// The certificates for `edgeplan status` (text): one block per group.
pub fn render(list: &[CertStatus]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for c in list {
        let _ = write!(s, "  {}  {}", c.name, c.served.describe());
        if let Some(x) = &c.certificate {
            let _ = write!(s, ", issuer {}, expires {}", x.issuer, x.not_after);
            if let Some(d) = c.expires_in_days {
                let _ = write!(s, " (in {d} days)");
            }
        }
        s.push('\n');
        if let Some(x) = &c.certificate {
            let _ = writeln!(s, "    names: {}", x.names.join(", "));
        }
        match (&c.last_run, &c.units_note) {
            (Some(r), _) => {
                let _ = writeln!(s, "    last run: {} at {}: {}", r.unit, r.started, r.result);
            }
            (None, Some(why)) => {
                let _ = writeln!(s, "    last run: unknown ({why})");
            }
            (None, None) => {
                let _ = writeln!(s, "    last run: never");
            }
        }
        if let Some(n) = &c.next_renewal_check {
            let _ = writeln!(s, "    next renewal check: {n}");
        }
        for w in &c.warnings {
            let _ = writeln!(s, "    ! {w}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_output_parses() {
        let text = "subject=CN=veza.fr\nissuer=CN=Pebble Intermediate CA 1a2b3c\n\
                    serial=6334CF32\nnotAfter=2026-12-02 01:53:10Z\n\
                    X509v3 Subject Alternative Name: \n    DNS:veza.fr, DNS:www.veza.fr\n";
        let x = X509::parse(text).unwrap();
        assert_eq!(x.not_after, "2026-12-02T01:53:10Z");
        assert_eq!(x.names, ["veza.fr", "www.veza.fr"]);
        assert_eq!(x.issuer, "CN=Pebble Intermediate CA 1a2b3c");
        assert!(!x.self_signed());
        assert!(X509::parse("subject=CN=a\n").is_none());
    }

    #[test]
    fn systemd_times_parse() {
        assert_eq!(
            systemd_time("Tue 2026-12-01 02:02:34 UTC").as_deref(),
            Some("2026-12-01T02:02:34Z")
        );
        assert_eq!(systemd_time(""), None);
        assert_eq!(systemd_time("n/a"), None);
    }
}
