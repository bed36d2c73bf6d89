# edgeplan itself, built from Cargo.lock with nixpkgs' rustPlatform (Rust >= Cargo.toml's
# rust-version, so a recent nixpkgs). Called as `pkgs.callPackage ./nix/package.nix { }`.
{
  lib,
  rustPlatform,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "edgeplan";
  inherit (cargoToml.package) version;

  # The crate and what its tests read (specs/, tests/specs/); not the rendered out/, the docs
  # or the Nix files, so that editing those does not rebuild edgeplan.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.difference ../. (
      lib.fileset.unions (
        map lib.fileset.maybeMissing [
          ../out
          ../docs
          ../nix
          ../flake.nix
          ../flake.lock
          ../README.md
          ../target
          ../box
          ../result
        ]
      )
    );
  };

  cargoLock.lockFile = ../Cargo.lock;

  # checkPhase: the library's unit tests only. The integration tests drive real haproxy,
  # certbot + pebble, sshd, incus and nix, none of which a build sandbox has.
  cargoTestFlags = [ "--lib" ];

  meta = {
    inherit (cargoToml.package) description;
    license = lib.licenses.asl20;
    mainProgram = "edgeplan";
    platforms = lib.platforms.linux;
  };
}
