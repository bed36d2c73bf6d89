# Render a specs directory into the edge tree, exactly as `edgeplan build --out DIR` does (same
# layout, same manifest.json), then validate the tree's haproxy.cfg with `haproxy -c` against a
# placeholder certificate made inside the build (./check-haproxy.sh; the output is not touched).
#
#   pkgs.callPackage ./nix/render-edge.nix { edgeplan = ...; specs = ./specs; }
#
# The store keeps file modes as 0444/0555; manifest.json records the modes to install with.
{
  lib,
  runCommand,
  haproxy,
  openssl,
  gawk,
  edgeplan,
  # The specs directory (a path, copied to the store read only, or a store path).
  specs,
  # A directory of template overrides, or null for the embedded templates.
  templates ? null,
  name ? "edge",
  # The config to validate, relative to the tree; null skips the validation.
  haproxyConfig ? "etc/haproxy/haproxy.cfg",
}:
let
  args = import ./build-args.nix {
    inherit specs templates;
    out = placeholder "out";
  };
in
runCommand name
  {
    nativeBuildInputs = [
      edgeplan
      haproxy
      openssl
      gawk
    ];
    passthru = { inherit specs templates edgeplan; };
    meta.description = "HAProxy edge tree rendered by edgeplan";
  }
  ''
    edgeplan ${lib.escapeShellArgs args}
    ${lib.optionalString (haproxyConfig != null) ''
      bash ${./check-haproxy.sh} "$out" ${lib.escapeShellArg haproxyConfig}
    ''}
  ''
