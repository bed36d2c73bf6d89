# Offline test flake: no inputs (nixpkgs cannot be fetched here), no shell. It renders a specs
# directory with `builtins.derivation`, the builder being a statically linked edgeplan binary
# that the test places next to this file, with the same command line as the real flake's
# lib.renderEdge (../../nix/build-args.nix). tests/integration/nix.rs copies, into a temp git
# repository (flakes only see tracked files):
#   flake.nix            this file
#   edgeplan             the static binary (the builder)
#   nix/build-args.nix   from the repo
#   specs/               the specs to render
#   probe-specs          one line: an absolute path to specs outside the store
# and builds `.#edge` with `--option sandbox true --option substituters ''`.
{
  description = "edgeplan offline render test (no inputs)";

  outputs =
    { self }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      render =
        system: name: specs:
        builtins.derivation {
          inherit name system;
          builder = ./edgeplan;
          args = import ./nix/build-args.nix {
            inherit specs;
            out = builtins.placeholder "out";
          };
        };
      perSystem = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
    in
    {
      packages = perSystem (system: {
        # specs/ rendered; must have the tree hash of `edgeplan build` on the same files.
        edge = render system "edge" ./specs;
        # Specs named by an absolute path outside the store (a plain string, so not copied in):
        # with the sandbox on, the builder cannot see them and this build must fail.
        probe = render system "sandbox-probe" (
          builtins.head (builtins.match "([^\n]*)\n?" (builtins.readFile ./probe-specs))
        );
      });
    };
}
