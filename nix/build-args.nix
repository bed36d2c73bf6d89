# The `edgeplan build` command line of a render derivation, shared by ../flake.nix
# (lib.renderEdge) and the offline test flake (../tests/nix/flake.nix), so that both run the
# very same command. `specs` and `templates` are paths (copied to the store, read only) or
# store path strings; `out` is where the tree goes, usually `builtins.placeholder "out"`.
{
  specs,
  out,
  templates ? null,
}:
[
  "build"
  "--specs"
  "${specs}"
]
++ (if templates == null then [ ] else [ "--templates" "${templates}" ])
++ [
  "--out"
  out
]
