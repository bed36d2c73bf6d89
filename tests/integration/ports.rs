//! Loopback ports for every server a test starts, and the one retry that makes them safe on a
//! shared machine.
//!
//! A port found free (bound, read back, released) can be taken before the server binds it: by
//! another test, by another process on the machine, or — the common case — as the source port
//! of some outgoing connection, since `bind(…:0)` hands out ports of the kernel's ephemeral range
//! that `connect` uses too. So:
//! 1. ports are picked **outside the ephemeral range** (`/proc/sys/net/ipv4/ip_local_port_range`),
//!    where no outgoing connection lands, starting at a per-process random offset and never
//!    handed out twice by one test process; a port is offered only when TCP and UDP binds on
//!    127.0.0.1 succeed;
//! 2. a stand-in server that binds in this process takes its listener from [`listener`] and
//!    keeps it (no gap at all);
//! 3. whatever starts an outside server (haproxy, sshd, pebble, a box's haproxy on a port written
//!    into specs) on picked ports runs inside [`retry`]: when the server says its port was taken
//!    ([`PortTaken`], recognised by [`bind_failed`] in its log), the whole set-up runs again on
//!    fresh ports, a few times, and the test fails loudly after that.

#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// A server could not bind a port it was given: what it said.
#[derive(Debug)]
pub struct PortTaken(pub String);

/// How many times [`retry`] sets up again before failing the test.
pub const ATTEMPTS: usize = 5;

/// The range ports are picked from: below the ephemeral range when there is room (at least
/// 2 000 ports above 10 000), else above it. Source: `ip(7)`, `ip_local_port_range`.
fn range() -> (u32, u32) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_else(|_| "32768 60999".into());
    let mut it = text
        .split_whitespace()
        .filter_map(|t| t.parse::<u32>().ok());
    let (lo, hi) = (it.next().unwrap_or(32768), it.next().unwrap_or(60999));
    if lo >= 12_000 {
        (10_000, lo)
    } else {
        assert!(
            hi < 63_000,
            "the ephemeral port range {lo}-{hi} leaves no room for test servers"
        );
        (hi + 1, 65_535)
    }
}

/// A loopback port no other process holds and this process never handed out, outside the
/// ephemeral range (module docs). Panics when none is left.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let (lo, hi) = range();
    let span = hi - lo;
    // A per-process offset, so concurrent test processes start far apart.
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (lo + (seed.wrapping_add(n.wrapping_mul(7919))) % span) as u16;
        let mut given = GIVEN.lock().unwrap();
        let given = given.get_or_insert_with(HashSet::new);
        if given.contains(&port) {
            continue;
        }
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {lo}..{hi}");
}

/// `N` distinct free ports.
pub fn free_ports<const N: usize>() -> [u16; N] {
    std::array::from_fn(|_| free_port())
}

/// A listener on a fresh loopback port, held from the start (for stand-ins in this process).
pub fn listener() -> TcpListener {
    listener_at("127.0.0.1")
}

/// A listener on `ip` (a loopback address: any of 127.0.0.0/8 on Linux) and a fresh port.
pub fn listener_at(ip: &str) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind((ip, free_port())) {
            return l;
        }
    }
    panic!("cannot bind a listener on {ip}");
}

/// Whether a server's log says it could not bind its address: haproxy (`cannot bind socket`,
/// `Starting frontend …: cannot bind`), sshd and Go servers such as pebble (`Address already in
/// use` / `address already in use`), and `bind: …` errors in general.
pub fn bind_failed(log: &str) -> bool {
    let l = log.to_ascii_lowercase();
    l.contains("address already in use") || l.contains("cannot bind")
}

/// Run `setup` (which picks its ports with [`free_port`] and starts servers on them) until it
/// does not report a taken port, [`ATTEMPTS`] times at most. `what` names the set-up in the
/// failure message.
pub fn retry<T>(what: &str, mut setup: impl FnMut() -> Result<T, PortTaken>) -> T {
    let mut said = Vec::new();
    for attempt in 1..=ATTEMPTS {
        match setup() {
            Ok(t) => return t,
            Err(PortTaken(why)) => {
                eprintln!("{what}: a port was taken (attempt {attempt}), again on fresh ports");
                said.push(why);
            }
        }
    }
    panic!("{what}: a port was taken {ATTEMPTS} times in a row:\n{said:#?}");
}
