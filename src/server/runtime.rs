//! Talking to haproxy's runtime API on the box ([`Runtime`], over [`BoxClient::admin`]) and
//! reading what it answers: `show servers state` rows and admin-state bits, `show stat` CSV, the
//! worker's PID; saving server states before a reload.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::model::{AdminEndpoint, Edge};
use crate::transport::{AdminRefusal, BoxClient, TransportError};

/// `srv_admin_state` bits (HAProxy's `enum srv_admin`).
pub(super) mod admin_bits {
    /// Forced maintenance (`set server … state maint`, or `disabled` in the config).
    pub const FMAINT: u32 = 0x01;
    /// Maintenance inherited from a tracked server.
    pub const IMAINT: u32 = 0x02;
    /// `disabled` in the config.
    pub const CMAINT: u32 = 0x04;
    /// Forced drain (`set server … state drain`).
    pub const FDRAIN: u32 = 0x08;
    /// Drain inherited from a tracked server.
    pub const IDRAIN: u32 = 0x10;
    /// Maintenance because its name does not resolve.
    pub const RMAINT: u32 = 0x20;
    /// Maintenance because of a hostname change.
    pub const HMAINT: u32 = 0x40;
}

/// The administrative state of a server, as edgeplan names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// In rotation.
    Ready,
    /// Draining: sticky clients only.
    Drain,
    /// In maintenance.
    Maint,
    /// `disabled` in the config and not overridden: the inactive colour.
    Disabled,
}

impl AdminState {
    /// From `srv_admin_state`.
    pub fn of(bits: u32) -> AdminState {
        use admin_bits::*;
        if bits & CMAINT != 0 && bits & FMAINT != 0 {
            AdminState::Disabled
        } else if bits & (FMAINT | IMAINT | RMAINT | HMAINT) != 0 {
            AdminState::Maint
        } else if bits & (FDRAIN | IDRAIN) != 0 {
            AdminState::Drain
        } else {
            AdminState::Ready
        }
    }
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
            AdminState::Disabled => "disabled",
        }
    }
}

/// One row of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// Backend.
    pub backend: String,
    /// Server.
    pub server: String,
    /// Address haproxy uses.
    pub addr: String,
    /// Port.
    pub port: String,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u32,
    /// `srv_admin_state` bits.
    pub admin_state: u32,
    /// Current weight (user weight).
    pub weight: u32,
    /// Configured weight.
    pub config_weight: u32,
}

/// Parse `show servers state [BACKEND]` (format version 1).
pub fn parse_servers_state(text: &str) -> Result<Vec<StateRow>, String> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("1") => {}
        Some(other) => return Err(format!("unknown `show servers state` format `{other}`")),
        None => return Err("`show servers state` answered nothing".into()),
    }
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or("`show servers state` has no header line")?;
    let cols: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or(format!("`show servers state` has no column {name}"))
    };
    let (be, srv, addr, op, adm, uw, iw, port) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_addr")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
        col("srv_iweight")?,
        col("srv_port")?,
    );
    let mut out = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let get = |i: usize| f.get(i).copied().unwrap_or_default();
        let num = |i: usize| {
            get(i)
                .parse::<u32>()
                .map_err(|_| format!("bad number `{}` in `{l}`", get(i)))
        };
        out.push(StateRow {
            backend: get(be).to_string(),
            server: get(srv).to_string(),
            addr: get(addr).to_string(),
            port: get(port).to_string(),
            op_state: num(op)?,
            admin_state: num(adm)?,
            weight: num(uw)?,
            config_weight: num(iw)?,
        });
    }
    Ok(out)
}

/// `show stat` rows: column → value. The answer is CSV (HAProxy management guide, "show
/// stat": a `# ` before the header line); fields may be quoted, so it is read with a CSV reader.
pub fn parse_stat(text: &str) -> Vec<BTreeMap<String, String>> {
    let Some(body) = text.strip_prefix("# ") else {
        return Vec::new();
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let Ok(cols) = reader.headers().cloned() else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .filter(|r| !(r.len() == 1 && r[0].is_empty()))
        .map(|r| {
            cols.iter()
                .zip(r.iter())
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The admin socket of a target, through its transport.
pub struct Runtime<'t> {
    t: &'t mut BoxClient,
    endpoint: AdminEndpoint,
}

impl<'t> Runtime<'t> {
    /// The admin socket the specs name, on the box `t` reaches.
    pub fn new(t: &'t mut BoxClient, edge: &Edge) -> Runtime<'t> {
        Runtime::at(t, &edge.admin.endpoint)
    }

    /// The admin socket at `endpoint`, on the box `t` reaches.
    pub fn at(t: &'t mut BoxClient, endpoint: &AdminEndpoint) -> Runtime<'t> {
        Runtime {
            t,
            endpoint: endpoint.clone(),
        }
    }

    /// The endpoint, as shown in messages (`/run/haproxy/admin.sock`, `127.0.0.1:9999`).
    pub fn shown_endpoint(&self) -> String {
        self.endpoint.shown()
    }

    /// Run `commands` on the admin socket in one round trip; their answers.
    pub fn run(&mut self, commands: &[String]) -> Result<Vec<String>, ServerError> {
        let target = self.t.target().to_string();
        match self.t.admin(&self.endpoint, commands)? {
            Ok(answers) => Ok(answers),
            Err(AdminRefusal::NoSocket(message)) => Err(ServerError::NoAdminSocket {
                target,
                message,
                endpoint: self.shown_endpoint(),
            }),
            Err(AdminRefusal::NoSocat) => Err(ServerError::NoSocat { target }),
        }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        self.t.target()
    }
}

/// The PID of the haproxy process answering on the admin socket (`show info`'s `Pid:`, the
/// worker's in master-worker mode); `None` when nothing answers there or socat is missing.
pub fn worker_pid(rt: &mut Runtime<'_>) -> Option<u32> {
    let info = rt.run(&["show info".to_string()]).ok()?;
    info.first()?
        .lines()
        .find_map(|l| l.strip_prefix("Pid: "))
        .and_then(|p| p.trim().parse().ok())
}

/// Before a reload: save the running haproxy's server states into the server-state-file of the
/// live config (the box script's `save-state`); a sentence saying what was done or why not.
pub fn save_state(t: &mut BoxClient) -> Result<String, TransportError> {
    let text = t.save_state()?.trim().to_string();
    Ok(match text.strip_prefix("skipped: ") {
        Some(why) => format!("Server states not saved before the reload: {why}."),
        None => {
            let mut s = text;
            if let Some(first) = s.get(..1) {
                s = first.to_uppercase() + &s[1..];
            }
            format!("{s}.")
        }
    })
}
