//! `edgeplan plan` end to end over local boxes, a real sshd, and bad input.

use crate::edgebox::{EDGE, Edgebox, Sshd, env, redact_hashes};

fn specs_a() -> Vec<(&'static str, String)> {
    vec![
        ("edge.kdl", EDGE.to_string()),
        (
            "env/prod.kdl",
            env("prod", &["veza.fr", "www.veza.fr"], "blue"),
        ),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(p, t)| (*p, t.as_str())).collect()
}

fn seeded() -> Edgebox {
    let b = Edgebox::new(&as_refs(&specs_a()));
    b.seed();
    b
}

/// The `Summary:` paragraph of a plan's text.
fn summary_of(stdout: &str) -> String {
    stdout
        .split("\n\n")
        .find(|s| s.starts_with("Summary:"))
        .unwrap()
        .to_string()
}

fn plan(b: &Edgebox, extra: &[&str]) -> String {
    let mut args = vec!["plan"];
    args.extend(extra);
    redact_hashes(&b.run(&args).folded())
}

#[test]
fn fresh_box_plans_every_file() {
    let b = Edgebox::new(&as_refs(&specs_a()));
    insta::assert_snapshot!(plan(&b, &[]), @r#"
    --- stdout
    Target box (local directory [TMP]/box)
      box:   fresh box, nothing applied by edgeplan yet
      build: input [H16], tree [H16]

    Summary:
      + env prod added: veza.fr, www.veza.fr (active blue), components web
      + placeholder talas added: talas.fr answer 503
      + access log: httplog to /dev/log (local0)
      + listener http: 127.0.0.1:8080

    edgeplan will perform the following actions:

      + etc/haproxy/edgeplan-servers.list (0644)
          --- a/etc/haproxy/edgeplan-servers.list
          +++ b/etc/haproxy/edgeplan-servers.list
          @@ -0,0 +1,6 @@
          +# Rendered by edgeplan 0.1.0; the input hash is in the generation's manifest.json.
          +# Do not edit on the box: `edgeplan plan` reports edits as drift and `apply` replaces them.
          +# The servers of haproxy.cfg: BACKEND SERVER HOST PORT WEIGHT. Before a reload, the runtime
          +# state of a server is kept only when this line is unchanged (haproxy-save-state).
          +prod_web_pool blue prod-web-blue.lxd 3000 1
          +prod_web_pool green prod-web-green.lxd 3000 1
      + etc/haproxy/errors/default_503.txt (0644)
          --- a/etc/haproxy/errors/default_503.txt
          +++ b/etc/haproxy/errors/default_503.txt
          @@ -0,0 +1 @@
          +No site is served at this address.
      + etc/haproxy/errors/talas_backend.txt (0644)
          --- a/etc/haproxy/errors/talas_backend.txt
          +++ b/etc/haproxy/errors/talas_backend.txt
          @@ -0,0 +1 @@
          +Soon.
      + etc/haproxy/haproxy.cfg (0644)
          --- a/etc/haproxy/haproxy.cfg
          +++ b/etc/haproxy/haproxy.cfg
          @@ -0,0 +1,13 @@
          +# test config of test-edge
          +global
          +    stats socket /run/admin.sock mode 600 level admin
          +defaults
          +    mode http
          +    timeout connect 1s
          +    timeout client 5s
          +    timeout server 5s
          +frontend http
          +    bind 127.0.0.1:8080
          +    # env prod (blue): veza.fr www.veza.fr
          +    # static talas_backend: /etc/haproxy/errors/talas_backend.txt
          +    # static default_503: /etc/haproxy/errors/default_503.txt
      + etc/systemd/system/haproxy.service.d/edgeplan.conf (0644)
          --- a/etc/systemd/system/haproxy.service.d/edgeplan.conf
          +++ b/etc/systemd/system/haproxy.service.d/edgeplan.conf
          @@ -0,0 +1,14 @@
          +# Rendered by edgeplan 0.1.0; the input hash is in the generation's manifest.json.
          +# Do not edit on the box: `edgeplan plan` reports edits as drift and `apply` replaces them.
          +#
          +# haproxy.service for edge test-edge.
          +# - Every reload (edgeplan's, the certbot deploy hook's, `systemctl reload haproxy` typed by
          +#   hand) first saves the servers' admin state and health for the new worker, then runs
          +#   Debian's check and reload. The helper never fails a reload.
          +
          +[Service]
          +# An empty ExecReload= resets Debian's list; the two after the helper are Debian's own.
          +ExecReload=
          +ExecReload=/usr/local/lib/edgeplan/haproxy-save-state
          +ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS
          +ExecReload=/bin/kill -USR2 $MAINPID
      + usr/local/lib/edgeplan/haproxy-save-state (0755)
          --- a/usr/local/lib/edgeplan/haproxy-save-state
          +++ b/usr/local/lib/edgeplan/haproxy-save-state
          @@ -0,0 +1,71 @@
          +#!/bin/sh
          +# Rendered by edgeplan 0.1.0; the input hash is in the generation's manifest.json.
          +# Do not edit on the box: `edgeplan plan` reports edits as drift and `apply` replaces them.
          +#
          +# Before every reload of haproxy — edgeplan's, the certbot deploy hook's, `systemctl reload
          +# haproxy` typed by hand (haproxy.service's drop-in runs this first) — save the running
          +# haproxy's server states to /var/lib/haproxy/server-state, which the new worker loads
          +# (`load-server-state-from-file global`). What carries across the reload is only what an
          +# operator or the health checks decided: admin state (drain, maint, ready) and health, and only
          +# for a server whose identity is unchanged in the config about to be loaded (same backend,
          +# server name, address and port, listed in /etc/haproxy/edgeplan-servers.list). A server whose address or port
          +# changed, or that is gone, is left out: it starts from the config. Address, port and weight
          +# always come from the config (haproxy would otherwise restore the saved ones).
          +#
          +# Never fails a reload: says what it did on stdout, exits 0. POSIX sh; needs socat and awk.
          +# EDGEPLAN_BOX_ROOT (default /) prefixes every path, for boxes rooted elsewhere.
          +set -u
          +R=${EDGEPLAN_BOX_ROOT:-/}
          +R=${R%/}
          +state="$R/var/lib/haproxy/server-state"
          +ids="$R/etc/haproxy/edgeplan-servers.list"
          +endpoint="unix-connect:$R/run/admin.sock"
          +if ! command -v socat >/dev/null 2>&1; then
          +	echo "skipped: socat is not installed on the box"
          +	exit 0
          +fi
          +if [ ! -f "$ids" ]; then
          +	echo "skipped: no $ids"
          +	exit 0
          +fi
          +mkdir -p "$(dirname "$state")"
          +tmp="$state.edgeplan-new"
          +if ! echo "show servers state" | socat -t 10 stdio "$endpoint" >"$tmp" 2>/dev/null ||
          +	[ "$(head -n 1 "$tmp")" != 1 ]; then
          +	rm -f "$tmp"
          +	echo "skipped: haproxy is not running or did not answer \`show servers state\`"
          +	exit 0
          +fi
          +# `show servers state` format 1 (HAProxy management guide, "show servers state"): $2 be_name,
          +# $4 srv_name, $5 srv_addr, $8 srv_uweight, $9 srv_iweight, $18 srv_fqdn, $19 srv_port.
          +# The identity list: BACKEND SERVER HOST PORT WEIGHT, one server per line.
          +if awk -v ids="$ids" -v out="$tmp.kept" '
          +BEGIN {
          +	while ((getline line < ids) > 0) {
          +		if (line ~ /^#/) continue
          +		n = split(line, f, " ")
          +		if (n >= 5) { k = f[1] " " f[2]; host[k] = f[3]; port[k] = f[4]; weight[k] = f[5] }
          +	}
          +	kept = 0; left = 0
          +}
          +NR == 1 || /^#/ { print > out; next }
          +NF < 19 { next }
          +{
          +	k = $2 " " $4
          +	h = ($18 != "-" && $18 != "") ? $18 : $5
          +	if (!(k in host) || h != host[k] || $19 != port[k]) { left++; next }
          +	$8 = weight[k]; $9 = weight[k]
          +	kept++
          +	print > out
          +}
          +END { printf "%d %d\n", kept, left }
          +' "$tmp" >"$tmp.count"; then
          +	mv -f "$tmp.kept" "$state"
          +	read -r kept left <"$tmp.count"
          +	rm -f "$tmp" "$tmp.count"
          +	echo "saved the state of $kept servers to /var/lib/haproxy/server-state; $left left to start from the config (address or port changed, or gone)"
          +else
          +	rm -f "$tmp" "$tmp.kept" "$tmp.count"
          +	echo "skipped: could not filter the server states"
          +fi
          +exit 0

    Plan: 6 to add, 0 to change, 0 to destroy.
    --- exit 0
    "#);
}

/// Specs A with the prod env's hosts and colour, with or without the placeholder, and
/// optionally an ACME certificate group for the env's hosts.
fn specs(
    hosts: &[&str],
    color: &str,
    placeholder: bool,
    acme: bool,
) -> Vec<(&'static str, String)> {
    let mut edge = EDGE.to_string();
    if !placeholder {
        edge = edge.replace(
            "placeholder \"talas\" status=503 {\n    hosts \"talas.fr\"\n    body \"Soon.\\n\"\n}\n",
            "",
        );
    }
    if acme {
        let domains: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
        edge += &format!(
            "acme email=\"ops@veza.fr\" directory=\"staging\" challenge-port=8888 {{\n    \
             certificate \"veza.fr\" {{\n        domains {}\n    }}\n}}\n",
            domains.join(" ")
        );
    }
    vec![
        ("edge.kdl", edge),
        ("env/prod.kdl", env("prod", hosts, color)),
    ]
}

/// A box at specs A; specs changed: a host added to prod, prod's colour switched, the
/// placeholder (and its error page) removed.
fn spec_change() -> Edgebox {
    let b = Edgebox::new(&as_refs(&specs(
        &["veza.fr", "www.veza.fr"],
        "blue",
        true,
        false,
    )));
    b.seed();
    b.set_specs(&as_refs(&specs(
        &["veza.fr", "www.veza.fr", "shop.veza.fr"],
        "green",
        false,
        false,
    )));
    b
}

#[test]
fn no_change_is_no_changes_and_exit_0() {
    let b = seeded();
    insta::assert_snapshot!(plan(&b, &["--detailed-exitcode"]), @r"
    --- stdout
    Target box (local directory [TMP]/box)
      box:   generation 1 (tree [H16])
      build: input [H16], tree [H16]

    No changes. The box matches the build.
    --- exit 0
    ");
    let json = b.run(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["summary"]["has_changes"], false);
    assert_eq!(v["changes"].as_array().unwrap().len(), 0);
}

#[test]
fn spec_change_text() {
    let b = spec_change();
    insta::assert_snapshot!(plan(&b, &["--detailed-exitcode"]), @"
    --- stdout
    Target box (local directory [TMP]/box)
      box:   generation 1 (tree [H16])
      build: input [H16], tree [H16]

    Summary:
      + env prod: host shop.veza.fr added
      ~ env prod: active colour blue -> green
      - placeholder talas removed: talas.fr no longer served

    edgeplan will perform the following actions:

      - etc/haproxy/errors/talas_backend.txt
      ~ etc/haproxy/haproxy.cfg
          --- a/etc/haproxy/haproxy.cfg
          +++ b/etc/haproxy/haproxy.cfg
          @@ -8,6 +8,5 @@
               timeout server 5s
           frontend http
               bind 127.0.0.1:8080
          -    # env prod (blue): veza.fr www.veza.fr
          -    # static talas_backend: /etc/haproxy/errors/talas_backend.txt
          +    # env prod (green): veza.fr www.veza.fr shop.veza.fr
               # static default_503: /etc/haproxy/errors/default_503.txt

    Plan: 0 to add, 1 to change, 1 to destroy.
    --- exit 2
    ");
}

#[test]
fn spec_change_json() {
    let b = spec_change();
    insta::assert_snapshot!(plan(&b, &["--format", "json"]), @r#"
    --- stdout
    {
      "format_version": 1,
      "edgeplan_version": "0.1.0",
      "target": "box",
      "transport": "local directory [TMP]/box",
      "build": {
        "input_hash": "[H64]",
        "tree_hash": "[H64]"
      },
      "base": {
        "generation": 1,
        "tree_hash": "[H64]"
      },
      "state_hash": "[H64]",
      "changes": [
        {
          "action": "delete",
          "path": "etc/haproxy/errors/talas_backend.txt",
          "mode_before": "0644",
          "mode_after": null,
          "sensitive": false,
          "diff": null
        },
        {
          "action": "update",
          "path": "etc/haproxy/haproxy.cfg",
          "mode_before": "0644",
          "mode_after": "0644",
          "sensitive": false,
          "diff": "--- a/etc/haproxy/haproxy.cfg\n+++ b/etc/haproxy/haproxy.cfg\n@@ -8,6 +8,5 @@\n     timeout server 5s\n frontend http\n     bind 127.0.0.1:8080\n-    # env prod (blue): veza.fr www.veza.fr\n-    # static talas_backend: /etc/haproxy/errors/talas_backend.txt\n+    # env prod (green): veza.fr www.veza.fr shop.veza.fr\n     # static default_503: /etc/haproxy/errors/default_503.txt\n"
        }
      ],
      "semantic": [
        {
          "kind": "host_added",
          "marker": "add",
          "subject": "env prod",
          "message": "env prod: host shop.veza.fr added",
          "added": [
            "shop.veza.fr"
          ]
        },
        {
          "kind": "color_changed",
          "marker": "change",
          "subject": "env prod",
          "message": "env prod: active colour blue -> green"
        },
        {
          "kind": "placeholder_removed",
          "marker": "remove",
          "subject": "placeholder talas",
          "message": "placeholder talas removed: talas.fr no longer served",
          "removed": [
            "talas.fr"
          ]
        }
      ],
      "semantic_note": null,
      "hosts_disappearing": [
        "talas.fr"
      ],
      "units": {
        "enable_start": [],
        "enable_start_no_block": [],
        "stop_disable": []
      },
      "drift": [],
      "summary": {
        "add": 0,
        "change": 1,
        "remove": 1,
        "replace": 0,
        "drift": 0,
        "has_changes": true,
        "pending_reload": false,
        "destructive": true
      },
      "lock": null
    }
    --- exit 0
    "#);
}

#[test]
fn spec_change_markdown() {
    let b = spec_change();
    insta::assert_snapshot!(plan(&b, &["--format", "markdown"]), @"
    --- stdout
    ### edgeplan plan for `box`

    > [!CAUTION]
    > **This plan destroys 1 file and stops serving `talas.fr`.**

    **Plan: 0 to add, 1 to change, 1 to destroy.**

    #### Summary

    - `+` env prod: host shop.veza.fr added
    - `~` env prod: active colour blue -> green
    - `-` placeholder talas removed: talas.fr no longer served

    #### Files

    - `- etc/haproxy/errors/talas_backend.txt`

    <details><summary><code>~ etc/haproxy/haproxy.cfg</code></summary>

    ```diff
    --- a/etc/haproxy/haproxy.cfg
    +++ b/etc/haproxy/haproxy.cfg
    @@ -8,6 +8,5 @@
         timeout server 5s
     frontend http
         bind 127.0.0.1:8080
    -    # env prod (blue): veza.fr www.veza.fr
    -    # static talas_backend: /etc/haproxy/errors/talas_backend.txt
    +    # env prod (green): veza.fr www.veza.fr shop.veza.fr
         # static default_503: /etc/haproxy/errors/default_503.txt
    ```

    </details>

    <sub>target box (local directory [TMP]/box) · box generation 1 (tree [H16]) · build input [H16] tree [H16]</sub>
    --- exit 0
    ");
}

#[test]
fn drift_is_reported_apart_and_planned_back() {
    let b = seeded();
    let root = b.root();
    // Edited through edgeplan's link (as an editor writing in place would).
    let cfg = root.join("etc/haproxy/haproxy.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("timeout client 5s", "timeout client 9s")).unwrap();
    // Deleted, and replaced by a plain file (as `sed -i` would).
    std::fs::remove_file(root.join("etc/haproxy/errors/talas_backend.txt")).unwrap();
    let d = root.join("etc/haproxy/errors/default_503.txt");
    std::fs::remove_file(&d).unwrap();
    std::fs::write(&d, "Go away.\n").unwrap();
    insta::assert_snapshot!(plan(&b, &["--detailed-exitcode"]), @"
    --- stdout
    Target box (local directory [TMP]/box)
      box:   generation 1 (tree [H16])
      build: input [H16], tree [H16]

    Changed outside edgeplan since it last applied:
      ~ etc/haproxy/errors/default_503.txt: replaced by a different file
      ~ etc/haproxy/errors/talas_backend.txt: deleted
      ~ etc/haproxy/haproxy.cfg: content edited
      The planned changes below put these files back as edgeplan renders them.

    edgeplan will perform the following actions:

      ~ etc/haproxy/errors/default_503.txt (restores a file replaced outside edgeplan)
          --- a/etc/haproxy/errors/default_503.txt
          +++ b/etc/haproxy/errors/default_503.txt
          @@ -1 +1 @@
          -Go away.
          +No site is served at this address.
      + etc/haproxy/errors/talas_backend.txt (0644; restores a file deleted outside edgeplan)
          --- a/etc/haproxy/errors/talas_backend.txt
          +++ b/etc/haproxy/errors/talas_backend.txt
          @@ -0,0 +1 @@
          +Soon.
      ~ etc/haproxy/haproxy.cfg (restores a file changed outside edgeplan)
          --- a/etc/haproxy/haproxy.cfg
          +++ b/etc/haproxy/haproxy.cfg
          @@ -4,7 +4,7 @@
           defaults
               mode http
               timeout connect 1s
          -    timeout client 9s
          +    timeout client 5s
               timeout server 5s
           frontend http
               bind 127.0.0.1:8080

    Plan: 1 to add, 2 to change, 0 to destroy.
    --- exit 2
    ");
}

#[test]
fn several_targets_need_a_choice() {
    let mut specs = specs_a();
    specs[0].1 += "target \"other\" {\n    local root=\"../other\"\n}\n";
    let b = Edgebox::new(&as_refs(&specs));
    insta::assert_snapshot!(plan(&b, &[]), @r"
    --- stderr
    edgeplan::transport::choose_target

      × the specs define several targets; choose one with --target
      help: targets: box, other
    error: 1 problem found
    --- exit 1
    ");
    insta::assert_snapshot!(plan(&b, &["--target", "nope"]), @r"
    --- stderr
    edgeplan::transport::unknown_target

      × no target named `nope`
      help: targets: box, other
    error: 1 problem found
    --- exit 1
    ");
    assert_eq!(b.run(&["plan", "--target", "other"]).code, 0);
}

#[test]
fn corrupt_remote_manifest_is_a_clear_error() {
    let b = seeded();
    let m = b.root().join("var/lib/edgeplan/current/manifest.json");
    std::fs::write(&m, "{ not json").unwrap();
    insta::assert_snapshot!(plan(&b, &[]), @r"
    --- stderr
    edgeplan::transport::corrupt

      × target `box`: the box's manifest (generation 1) is unreadable: key must be
      │ a string at line 1 column 3
      help: edgeplan's state on the box is under /var/lib/edgeplan; inspect it, or
            move it away to start over (the box is then treated as fresh)
    error: 1 problem found
    --- exit 1
    ");
    // An unreadable lock is an error too, not a panic.
    std::fs::write(m.parent().unwrap().join("../../lock"), "garbage").unwrap();
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 1, "{}", out.folded());
}

#[test]
fn missing_state_dir_is_a_fresh_box() {
    let b = seeded();
    std::fs::remove_dir_all(b.root().join("var/lib/edgeplan")).unwrap();
    let out = b.run(&["plan", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["base"], serde_json::Value::Null);
    // The links left behind resolve nowhere: every file is to be created again.
    assert_eq!(v["summary"]["add"], 6, "{}", out.stdout);
}

#[test]
fn unreachable_ssh_target_is_a_clear_error() {
    let mut specs = specs_a();
    let port = crate::edgebox::free_port();
    specs[0].1 = specs[0].1.replace(
        "local root=\"../box\"",
        &format!("ssh host=\"127.0.0.1\" port={port}"),
    );
    let b = Edgebox::new(&as_refs(&specs));
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 1);
    let text = out.folded().replace(&port.to_string(), "[PORT]");
    insta::assert_snapshot!(text, @r"
    --- stderr
    edgeplan::transport::unreachable

      × cannot reach target `box` (ssh -p [PORT] 127.0.0.1): ssh: connect to host
      │ 127.0.0.1 port [PORT]: Connection refused
      help: check that the box is up and that `ssh -p [PORT] 127.0.0.1` works by
            hand
    error: 1 problem found
    --- exit 1
    ");
}

#[test]
fn missing_incus_container_is_a_clear_error() {
    let mut specs = specs_a();
    specs[0].1 = specs[0].1.replace(
        "local root=\"../box\"",
        "incus container=\"no-such-edgeplan-box\"",
    );
    let b = Edgebox::new(&as_refs(&specs));
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 1, "{}", out.folded());
    assert!(
        out.stderr.contains("cannot reach target `box`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn saved_plan_holds_the_tree_and_is_bound_to_the_state() {
    let b = spec_change();
    let out = b.run(&["plan", "--out-plan", "edge.plan"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    assert!(out.stdout.contains("Saved the plan to edge.plan."));
    let p = edgeplan::plan::saved::SavedPlan::read(&b.path().join("edge.plan")).unwrap();
    assert_eq!(p.target, "box");
    assert_eq!(p.base_generation, Some(1));
    assert_eq!(p.files.len(), p.manifest.files.len());
    let json = b.run(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["state_hash"], p.state_hash.as_str());
    assert_eq!(v["build"]["tree_hash"], p.tree_hash.as_str());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(b.path().join("edge.plan"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// The ssh transport against a real sshd: the same plan as the local target, over exactly one
/// connection.
#[test]
fn ssh_plan_equals_local_plan_over_one_connection() {
    let b = spec_change();
    let sshd = Sshd::start(&b.root());
    let mut specs = specs(
        &["veza.fr", "www.veza.fr", "shop.veza.fr"],
        "green",
        false,
        false,
    );
    specs[0].1 += "target \"edge-ssh\" {\n    ssh host=\"edgebox\"\n}\n";
    b.set_specs(&as_refs(&specs));
    let ssh_cmd = sshd.ssh_command();
    let env = [("EDGEPLAN_SSH_COMMAND", ssh_cmd.as_str())];
    for format in ["text", "json", "markdown"] {
        let local = b.run(&["plan", "--target", "box", "--format", format]);
        let before = sshd.connections();
        let started = std::time::Instant::now();
        let remote = b.run_with(&["plan", "--target", "edge-ssh", "--format", format], &env);
        let took = started.elapsed();
        assert_eq!(remote.code, 0, "{}", remote.folded());
        assert_eq!(sshd.connections() - before, 1, "one connection per plan");
        eprintln!("ssh plan ({format}): {took:?}, 1 connection");
        let normalize = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("local directory") && !l.contains("ssh -F"))
                .filter(|l| !l.contains("\"target\"") && !l.contains("\"transport\""))
                .filter(|l| !l.starts_with("### edgeplan plan for"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(normalize(&local.stdout), normalize(&remote.stdout));
    }
}

#[test]
fn certificate_group_change_is_summarized() {
    let b = Edgebox::new(&as_refs(&specs(
        &["veza.fr", "www.veza.fr"],
        "blue",
        true,
        true,
    )));
    b.seed();
    b.set_specs(&as_refs(&specs(
        &["veza.fr", "www.veza.fr", "shop.veza.fr"],
        "blue",
        true,
        true,
    )));
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    // The summary only: the certbot files themselves belong to the certbot tests.
    let summary = summary_of(&out.stdout);
    insta::assert_snapshot!(summary, @r"
    Summary:
      + env prod: host shop.veza.fr added
      ~ certificate veza.fr will be re-issued: + shop.veza.fr
    ");
}

/// A policy added to an env and another changed edge-wide: the summary names each rule that
/// comes or goes, by the requests it applies to.
#[test]
fn policy_changes_are_summarized() {
    let policy = |allow: &str| {
        format!("{EDGE}\npolicy \"office\" {{\n    allow \"{allow}\"\n}}\npolicies \"office\"\n")
    };
    let prod = env("prod", &["veza.fr", "www.veza.fr"], "blue");
    let b = Edgebox::new(&[
        ("edge.kdl", policy("10.0.10.0/24").as_str()),
        ("env/prod.kdl", prod.as_str()),
    ]);
    b.seed();
    let prod_headers = prod.replacen(
        "\n}",
        "\n    response-header set \"X-Robots-Tag\" \"noindex\"\n}",
        1,
    );
    assert_ne!(prod, prod_headers);
    b.set_specs(&[
        ("edge.kdl", policy("10.0.20.0/24").as_str()),
        ("env/prod.kdl", prod_headers.as_str()),
    ]);
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    let summary = summary_of(&out.stdout);
    insta::assert_snapshot!(summary, @r#"
    Summary:
      ~ policies of env prod: + response header X-Robots-Tag set "noindex"
      ~ policies of every request: + policy office: 403 to clients outside 10.0.20.0/24, - policy office: 403 to clients outside 10.0.10.0/24
    "#);
}

/// A redirect site added: the summary says which hosts go where (over plain HTTP: this edge
/// has no https listener, so a redirect to one of its hosts stays on http).
#[test]
fn a_redirect_site_is_summarized() {
    let prod = env("prod", &["veza.fr", "www.veza.fr"], "blue");
    let b = Edgebox::new(&[("edge.kdl", EDGE), ("env/prod.kdl", prod.as_str())]);
    b.seed();
    let edge = format!(
        "{EDGE}\nredirect \"old\" to=\"http://veza.fr\" status=308 {{\n    hosts \"old.veza.fr\"\n}}\n"
    );
    b.set_specs(&[("edge.kdl", edge.as_str()), ("env/prod.kdl", prod.as_str())]);
    let out = b.run(&["plan"]);
    assert_eq!(out.code, 0, "{}", out.folded());
    let summary = summary_of(&out.stdout);
    assert!(
        summary.contains("+ redirect old added: old.veza.fr -> http://veza.fr (308)"),
        "{summary}"
    );
}
