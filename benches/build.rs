//! Build benchmark with a synthetic spec generator. Prints figures; asserts nothing
//! (speed targets belong here, not in timed tests). Run: `cargo bench --bench build`.
//!
//! Targets (issue 3): no-op rebuild within 3x the wall time of `edgeplan --version`;
//! 10 000 hosts <= 300 ms and <= 200 MiB peak RSS; 10x the input <= 12x the time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgeplan")
}

/// A valid specs dir with `envs` environments of `hosts_per_env` hosts each.
fn generate(dir: &Path, envs: usize, hosts_per_env: usize) {
    std::fs::create_dir_all(dir.join("env")).unwrap();
    let mut edge = String::from(
        "edge \"bench\"\nlisten http=\"*:80\" https=\"*:443\"\ntls cert-dir=\"/etc/haproxy/certs\"\n\
         stats bind=\"127.0.0.1:9100\"\nacme email=\"ops@example.org\" challenge-port=8888 {\n",
    );
    for e in 0..envs {
        edge += &format!("    certificate \"cert-e{e}\" hosts-of=\"e{e}\"\n");
    }
    edge += "}\ntarget \"box\" {\n    local root=\"box\"\n}\n";
    std::fs::write(dir.join("edge.kdl"), edge).unwrap();
    for e in 0..envs {
        let hosts: Vec<String> = (0..hosts_per_env)
            .map(|h| format!("\"h{h}.e{e}.example.org\""))
            .collect();
        let text = format!(
            "env \"e{e}\" {{\n    hosts {}\n    container-pattern \"e{e}-{{component}}-{{color}}.lxd\"\n    \
             component \"api\" port=8080 health=\"/health\" sticky=#true\n    \
             component \"stream\" port=8082 balance=\"uri\"\n    component \"web\" port=3000\n    \
             route \"api\" to=\"api\" {{\n        prefix \"/api/\"\n    }}\n    \
             route \"seg\" to=\"stream\" {{\n        prefix \"/hls/\"\n        suffix \".ts\"\n    }}\n    \
             default \"web\"\n}}\n",
            hosts.join(" ")
        );
        std::fs::write(dir.join(format!("env/e{e:04}.kdl")), text).unwrap();
    }
}

fn run(args: &[&str], cwd: &Path) -> Duration {
    let t = Instant::now();
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// Median of `n` runs; `prep` runs before each (untimed).
fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| f()).collect();
    v.sort();
    v[n / 2]
}

fn peak_rss_kib(args: &[&str], cwd: &Path) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let n = 7;

    let version = median(n, || run(&["--version"], root));
    let specs = repo.join("specs");
    let specs = specs.to_str().unwrap();
    let mut i = 0;
    let bundled = median(n, || {
        i += 1;
        run(
            &["build", "--specs", specs, "--out", &format!("fresh{i}")],
            root,
        )
    });
    run(&["build", "--specs", specs, "--out", "noop"], root);
    let noop = median(n, || {
        run(&["build", "--specs", specs, "--out", "noop"], root)
    });

    generate(&root.join("small"), 50, 20);
    generate(&root.join("large"), 500, 20);
    let mut j = 0;
    let small = median(n, || {
        j += 1;
        run(
            &["build", "--specs", "small", "--out", &format!("s{j}")],
            root,
        )
    });
    let mut k = 0;
    let large = median(n, || {
        k += 1;
        run(
            &["build", "--specs", "large", "--out", &format!("l{k}")],
            root,
        )
    });
    let rss = peak_rss_kib(&["build", "--specs", "large", "--out", "rss"], root);
    // The same build with the out dir on tmpfs: what edgeplan costs, apart from the disk.
    let shm = Path::new("/dev/shm");
    let large_tmpfs = shm.is_dir().then(|| {
        let dir = tempfile::tempdir_in(shm).unwrap();
        let large = root.join("large");
        let large = large.to_str().unwrap();
        let mut m = 0;
        median(n, || {
            m += 1;
            let out = dir.path().join(format!("l{m}"));
            run(
                &["build", "--specs", large, "--out", out.to_str().unwrap()],
                root,
            )
        })
    });

    println!("edgeplan build benchmark (median of {n} runs, wall time)");
    println!(
        "  edgeplan --version                 {:8.2} ms",
        ms(version)
    );
    println!(
        "  build bundled specs (fresh out)    {:8.2} ms",
        ms(bundled)
    );
    println!(
        "  no-op rebuild of bundled specs     {:8.2} ms  ({:.2}x --version; target <= 3x)",
        ms(noop),
        ms(noop) / ms(version)
    );
    println!("  50 envs / 1 000 hosts              {:8.2} ms", ms(small));
    println!(
        "  500 envs / 10 000 hosts            {:8.2} ms  (target <= 300 ms)",
        ms(large)
    );
    if let Some(t) = large_tmpfs {
        println!("  500 envs / 10 000 hosts, out on tmpfs{:8.2} ms", ms(t));
    }
    println!(
        "  scaling 10x input                  {:8.2}x      (target <= 12x)",
        ms(large) / ms(small)
    );
    match rss {
        Some(kib) => println!(
            "  peak RSS, 10 000 hosts             {:8.1} MiB (target <= 200 MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS: /usr/bin/time not available"),
    }
}
