# A stand-in for nixpkgs, for evaluating and building the repository's real flake.nix offline:
#   nix flake check --override-input nixpkgs path:STUB --no-write-lock-file --option sandbox false
# It implements only what ../../../flake.nix and ../../../nix/*.nix use, with nixpkgs' calling
# conventions, so that the flake's own wiring and shell (render, haproxy -c check, out/
# freshness) really run. Tools come from the host (/usr/bin, /usr/sbin: haproxy, openssl,
# gawk/awk, bash, coreutils), hence `sandbox false` (Debian's default). rustPlatform does not
# compile: it installs the prebuilt `edgeplan` binary that the test places next to this file.
{
  description = "minimal offline stand-in for nixpkgs (edgeplan tests only)";

  outputs =
    { self }:
    let
      b = builtins;
      hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

      lib = rec {
        genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
        importTOML = path: b.fromTOML (b.readFile path);
        optionalString = cond: s: if cond then s else "";
        escapeShellArg = arg: "'${b.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
        escapeShellArgs = args: b.concatStringsSep " " (map escapeShellArg args);
        licenses.asl20 = { spdxId = "Apache-2.0"; };
        platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
        # Only the shapes: the source is not used by the stand-in rustPlatform.
        fileset = {
          toSource = { root, fileset }: root;
          difference = a: c: a;
          unions = l: l;
          maybeMissing = p: p;
        };
      };

      mkPkgs =
        system:
        let
          # A host tool: "${tool}/bin" is /usr/bin.
          tool = name: { inherit name; outPath = "/usr"; };
          # The trailing `:` keeps bash alive after the script's last command. Without it bash
          # execs that command, and a coreutils program closes stdout before exiting: Nix 2.8
          # (sandbox off) then sees the log pty hang up and SIGKILLs the still-running builder.
          shellDrv =
            name: script: env:
            b.derivation (
              env
              // {
                inherit name system;
                builder = "/bin/bash";
                args = [
                  "-euo"
                  "pipefail"
                  "-c"
                  "${script}\n:"
                ];
              }
            );
          pkgs = {
            inherit lib;
            stdenv.hostPlatform.system = system;

            callPackage =
              fn: args:
              let
                f = if b.isFunction fn then fn else import fn;
                auto = b.intersectAttrs (b.functionArgs f) pkgs;
              in
              f (auto // args);

            runCommand =
              name: env: script:
              let
                drv = shellDrv name script (
                  b.removeAttrs env [ "nativeBuildInputs" "passthru" "meta" ]
                  // {
                    PATH = b.concatStringsSep ":" (
                      map (p: "${p}/bin") (env.nativeBuildInputs or [ ]) ++ [ hostPath ]
                    );
                  }
                );
              in
              drv // (env.passthru or { }) // { meta = env.meta or { }; };

            mkShell =
              attrs:
              shellDrv "stub-shell" "echo stub > $out" { PATH = hostPath; }
              // { packages = attrs.packages or [ ]; };

            rustPlatform.buildRustPackage =
              attrs:
              shellDrv "${attrs.pname}-${attrs.version}"
                "mkdir -p $out/bin && cp ${./edgeplan} $out/bin/edgeplan"
                { PATH = hostPath; }
              // {
                inherit (attrs) pname version cargoTestFlags;
                cargoLockFile = toString attrs.cargoLock.lockFile;
                meta = attrs.meta or { };
              };

            haproxy = tool "haproxy";
            openssl = tool "openssl";
            gawk = tool "gawk";
            socat = tool "socat";
            certbot = tool "certbot";
            pebble = tool "pebble";
            openssh = tool "openssh";
            rsync = tool "rsync";
            shellcheck = tool "shellcheck";
            cargo = tool "cargo";
            rustc = tool "rustc";
            clippy = tool "clippy";
            rustfmt = tool "rustfmt";
            rust-analyzer = tool "rust-analyzer";
            nixfmt = shellDrv "stub-nixfmt" "echo stub > $out" { PATH = hostPath; };
          };
        in
        pkgs;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] mkPkgs;
    };
}
