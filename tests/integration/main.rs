//! The one integration-test binary: whole CLI runs through a small builder ([`common::Test`]),
//! fixtures, and tests against real components (haproxy, sshd, certbot + pebble, incus, nix).

mod apply;
mod box_acme;
mod canary;
mod certbot;
mod change_scope;
mod check;
mod common;
mod converge;
mod corpus;
mod debian_box;
mod determinism;
mod docs;
mod edgebox;
mod fixtures;
mod fresh_box;
mod fuzz;
mod gate;
mod layout;
mod live;
mod load_once;
mod nix;
mod pipeline;
mod plan;
mod policygen;
mod ports;
mod prepare;
mod preview;
mod probes;
mod reload_state;
mod route;
mod server;
mod specgen;
mod spelling;
mod switch;
mod traffic;
