{
  description = "edgeplan: declarative HTTP edge, KDL specs to a reviewed HAProxy + Let's Encrypt tree";

  # No flake.lock is committed yet: it cannot be made offline. The first `nix build` on a
  # machine with network writes one; commit it there. edgeplan needs Rust >= Cargo.toml's
  # rust-version, hence nixos-unstable.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: prev: { edgeplan = final.callPackage ./nix/package.nix { }; };

      lib = {
        # The rendered tree of a specs directory as a derivation: same layout and manifest.json
        # as `edgeplan build --specs SPECS --out DIR`, validated with `haproxy -c`.
        #   edgeplan.lib.renderEdge { pkgs = nixpkgs.legacyPackages.x86_64-linux; specs = ./specs; }
        # Give `pkgs` or `system`; `edgeplan` defaults to this flake's package for that pkgs.
        renderEdge =
          {
            specs,
            system ? throw "edgeplan.lib.renderEdge: pass `pkgs` or `system`",
            pkgs ? nixpkgs.legacyPackages.${system},
            edgeplan ? pkgs.callPackage ./nix/package.nix { },
            templates ? null,
            name ? "edge",
            haproxyConfig ? "etc/haproxy/haproxy.cfg",
          }:
          pkgs.callPackage ./nix/render-edge.nix {
            inherit
              edgeplan
              specs
              templates
              name
              haproxyConfig
              ;
          };
      };

      packages = forAllSystems (pkgs: rec {
        edgeplan = pkgs.callPackage ./nix/package.nix { };
        default = edgeplan;
        # The bundled specs/ rendered: `nix build .#edge` gives the tree of `edgeplan build`.
        edge = self.lib.renderEdge {
          inherit pkgs edgeplan;
          specs = ./specs;
        };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.edgeplan}/bin/edgeplan";
          meta.description = "edgeplan command line";
        };
      });

      checks = forAllSystems (
        pkgs:
        let
          inherit (self.packages.${pkgs.stdenv.hostPlatform.system}) edgeplan edge;
        in
        {
          # Builds edgeplan and runs its unit tests (checkPhase).
          inherit edgeplan;
          # Renders specs/ and validates it with haproxy -c.
          inherit edge;
          # The committed out/ is what edgeplan renders, and the Nix render is that same tree.
          # out/ is copied first: the store has read-only 0444 files, `--check` compares modes.
          out-fresh = pkgs.runCommand "edgeplan-out-fresh" { nativeBuildInputs = [ edgeplan ]; } ''
            cp -R ${./out} out
            chmod -R u+w out
            edgeplan build --check --specs ${./specs} --out out
            cmp ${edge}/manifest.json out/manifest.json
            touch "$out"
          '';
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            pkgs.rust-analyzer
            pkgs.haproxy
            pkgs.socat
            pkgs.certbot
            pkgs.pebble
            pkgs.openssl
            pkgs.openssh
            pkgs.rsync
            pkgs.shellcheck
            pkgs.nixfmt
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}
