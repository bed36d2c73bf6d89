//! What the suite needs built before it runs, built once by `scripts/test.sh` ahead of the
//! timed tests: the Debian box image ([`crate::debian_box::image`], cached in
//! [`crate::debian_box::CACHE_DIR`]) and the static edgeplan the Nix tests put in the sandbox
//! (`target/nix-static`). Each is also built on demand by the first test that needs it (so a
//! single test runs alone); doing it here keeps a cold machine's minutes out of the tests'
//! time limits — on a fresh 2-core machine the image took 163 s and the static build ~3 min,
//! inside a test that then hit its 5-minute limit.

/// `scripts/test.sh` runs this (`--run-ignored only`) before the suite; ignored otherwise.
#[test]
#[ignore = "scripts/test.sh runs it before the suite: it builds what the suite needs"]
fn build_what_the_suite_needs() {
    let image = crate::debian_box::image();
    let bin = crate::nix::static_edgeplan();
    println!("box image {image}; static edgeplan {}", bin.display());
}
