# edgeplan's box side: the only code that runs on the edge box, the same for every transport
# (`local` runs it with sh, `ssh` and `incus` on the box). POSIX sh; works with dash and
# busybox ash. Invoked as `sh -c SCRIPT edgeplan-box OP ARGS...`; replies on stdout, framed:
#
#   edgeplan-box 1           first line of every reply (protocol version)
#   blob SIZE NAME           then SIZE bytes and a newline
#   absent NAME
#   path KIND MODE SHA256 P  KIND: ours (edgeplan's link) | link (another symlink) | file |
#                            dangling | other | absent; MODE/SHA256 are `-` when not a file
#
# Layout under $ROOT/var/lib/edgeplan (ROOT is `/` unless the box sets EDGEPLAN_BOX_ROOT):
#   current -> generations/N        the active generation (an atomic symlink swap)
#   generations/N/tree/...          the files; live paths are relative symlinks into current/tree
#   generations/N/{manifest.json,model.json,files.sha256,modes,check.in,units.in/,meta.json}
#   staging/TREE_HASH/              an uploaded tree, checked, not yet a generation
#   layout                          the layout's version (LAYOUT below, crate::layout::VERSION)
#   lock -> lock.d/ID.json          the lock: a symlink named after its id, to the holder's JSON
#   pending-reload, history, backup/
#   colors/ENV.json                 the env's active colour and last switches (edgeplan switch)
# Exit codes (crate::transport::protocol::Exit): 0 ok, 1 error (stderr says why), 3 locked (the
# lock is in the reply), 5 the validate command refused the staged config, 6 no admin socket
# (or haproxy does not answer on it), 7 socat is not installed, 8 the box's layout is newer
# than this script's.

set -eu
umask 022
ROOT=${EDGEPLAN_BOX_ROOT:-/}
case $ROOT in
/*) ;;
*) echo "edgeplan-box: EDGEPLAN_BOX_ROOT must be absolute, not $ROOT" >&2; exit 1 ;;
esac
case $ROOT in
*[!A-Za-z0-9._/+-]*) echo "edgeplan-box: unsupported characters in EDGEPLAN_BOX_ROOT $ROOT" >&2; exit 1 ;;
esac
ROOT=${ROOT%/}
S="$ROOT/var/lib/edgeplan"
G="$S/generations"
# The layout version this script writes and reads. 1 (no `layout` file) is the layout of
# edgeplan before versions: the same but for the lock, a plain file holding the JSON.
LAYOUT=2

die() {
	echo "edgeplan-box: $*" >&2
	exit 1
}

header() { echo "edgeplan-box 1"; }

# blob NAME FILE: the file framed, or its absence.
blob() {
	if [ -f "$2" ]; then
		c=$(cat "$2"; echo x)
		c=${c%x}
		printf 'blob %s %s\n' "$(printf %s "$c" | wc -c | tr -d ' ')" "$1"
		printf '%s\n' "$c"
	else
		printf 'absent %s\n' "$1"
	fi
}

# The active generation's number, or nothing.
current() {
	if [ -L "$S/current" ]; then
		c=$(readlink "$S/current")
		echo "${c#generations/}"
	fi
}

# The paths a generation holds (one per line).
paths_of() {
	if [ -f "$G/$1/files.sha256" ]; then cut -c67- "$G/$1/files.sha256"; fi
}

# uplink P: the relative link target of live path P (into current/tree).
uplink() {
	d=${1%/*}
	if [ "$d" = "$1" ]; then up=; else up=$(printf '%s/' "$d" | sed 's#[^/]*/#../#g'); fi
	printf '%svar/lib/edgeplan/current/tree/%s' "$up" "$1"
}

is_ours() { [ -L "$ROOT/$1" ] && [ "$(readlink "$ROOT/$1")" = "$(uplink "$1")" ]; }

status() {
	l="$ROOT/$1"
	if [ -L "$l" ]; then
		if is_ours "$1"; then k="ours"; else k="link"; fi
		if [ ! -e "$l" ]; then
			printf 'path dangling - - %s\n' "$1"
			return
		fi
	elif [ -f "$l" ]; then
		k="file"
	elif [ -e "$l" ]; then
		k=other
	else
		printf 'path absent - - %s\n' "$1"
		return
	fi
	if [ ! -f "$l" ]; then
		printf 'path other - - %s\n' "$1"
		return
	fi
	m=$(stat -L -c %a "$l")
	h=$(sha256sum <"$l" | cut -c1-64)
	printf 'path %s %s %s %s\n' "$k" "$m" "$h" "$1"
}

# state PATH...: everything a plan needs, in one reply.
op_state() {
	header
	printf 'root %s\n' "${ROOT:-/}"
	cur=$(current)
	printf 'current %s\n' "${cur:--}"
	if [ -n "$cur" ] && [ ! -d "$G/$cur" ]; then
		die "current points to generation $cur, which does not exist"
	fi
	for f in manifest.json model.json files.sha256 meta.json; do
		if [ -n "$cur" ]; then blob "$f" "$G/$cur/$f"; else printf 'absent %s\n' "$f"; fi
	done
	blob lock "$S/lock"
	blob pending "$S/pending-reload"
	for f in "$S"/colors/*.json; do
		if [ -f "$f" ]; then
			n=${f##*/}
			blob "color/${n%.json}" "$f"
		fi
	done
	{
		if [ -n "$cur" ]; then paths_of "$cur"; fi
		for p in "$@"; do printf '%s\n' "$p"; done
	} | sort -u | while IFS= read -r p; do status "$p"; done
	echo end
}

# fetch PATH...: the content of live files.
op_fetch() {
	header
	for p in "$@"; do blob "$p" "$ROOT/$p"; done
	echo end
}

# The version of the box's layout: the `layout` file's, 1 for state without one, nothing for
# a box edgeplan never wrote to.
layout_version() {
	if [ -f "$S/layout" ]; then
		cat "$S/layout"
	elif [ -d "$S" ]; then
		echo 1
	fi
}

# Every operation first: a layout newer than this script's stops it (exit 8) before it reads or
# writes anything. An older one is read as it is and upgraded by the next lock (op_lock).
check_layout() {
	v=$(layout_version)
	case $v in
	'' | "$LAYOUT" | 1) ;;
	*[!0-9]*) die "unreadable layout version '$v' in $S/layout" ;;
	*)
		if [ "$v" -gt "$LAYOUT" ]; then
			echo "edgeplan-box: the box's state ($S) has layout version $v; this edgeplan knows up to $LAYOUT" >&2
			exit 8
		fi
		;;
	esac
}

# An id is what edgeplan makes (hex and dashes): it names a file.
check_id() {
	case $1 in
	'' | *[!0-9a-f-]*) die "bad lock id '$1'" ;;
	esac
}

# lock ID < LOCKJSON: take the lock, or reply with its holder and exit 3. The lock is the
# symlink `lock` -> `lock.d/ID.json`: created in one step (symlink(2) fails when it exists), its
# id read back with readlink, its JSON read through it. Taking it upgrades an older layout.
op_lock() {
	check_id "$1"
	mkdir -p "$S/lock.d"
	t="$S/lock.d/$1.json"
	cat >"$t"
	header
	if ln -s "lock.d/$1.json" "$S/lock" 2>/dev/null; then
		if [ "$(layout_version)" != "$LAYOUT" ]; then
			printf '%s\n' "$LAYOUT" >"$S/.layout.tmp" && mv -f "$S/.layout.tmp" "$S/layout"
		fi
		echo locked
	else
		rm -f "$t"
		blob lock "$S/lock"
		exit 3
	fi
}

# The id of the lock's holder; for a layout-1 lock (a plain file) the one in its JSON.
lock_id() {
	if [ -L "$S/lock" ]; then
		l=$(readlink "$S/lock")
		l=${l#lock.d/}
		echo "${l%.json}"
	else
		sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' "$S/lock"
	fi
}

# unlock ID: release the lock if ID holds it; otherwise reply with the holder and exit 3.
op_unlock() {
	header
	if [ ! -L "$S/lock" ] && [ ! -e "$S/lock" ]; then
		echo "absent lock"
		exit 3
	fi
	if [ "$(lock_id)" = "$1" ]; then
		rm -f "$S/lock" "$S/lock.d/$1.json"
		echo unlocked
	else
		blob lock "$S/lock"
		exit 3
	fi
}

verify() { (cd "$1/tree" && sha256sum -c ../files.sha256 >/dev/null 2>&1); }

# stage TREE_HASH < TAR: unpack an uploaded tree, set modes, check every checksum.
op_stage() {
	d="$S/staging/$1"
	header
	if [ -d "$d" ] && verify "$d"; then
		cat >/dev/null
		echo reused
		return
	fi
	rm -rf "$d"
	t="$S/staging/.$1.$$"
	rm -rf "$t"
	mkdir -p "$t"
	tar -x -f - -C "$t" || die "cannot unpack the upload"
	while read -r m p; do chmod "$m" "$t/tree/$p"; done <"$t/modes"
	verify "$t" || die "the uploaded files do not match their checksums"
	mv "$t" "$d"
	echo staged
}

dir_of() {
	case $1 in
	staging/* | generations/*) echo "$S/$1" ;;
	*) die "bad directory $1" ;;
	esac
}

# bootstrap_certs DIR: before validation, make the self-signed placeholder PEM of every
# certificate group of the staged tree that has none on the box yet, with the staged helper and
# the words of its staged edgeplan-selfsigned-NAME.service (what the unit does at boot). The
# helper never touches an existing PEM: a real certificate cannot be clobbered. Without them
# haproxy cannot validate or start a TLS config on a fresh box. Replies `+ NOTE` for each.
bootstrap_certs() {
	staged=$1
	for u in "$staged"/tree/etc/systemd/system/edgeplan-selfsigned-*.service; do
		[ -f "$u" ] || continue
		pem=$(sed -n 's/^ConditionPathExists=!//p' "$u")
		words=$(sed -n 's/^ExecStart=//p' "$u")
		if [ -z "$pem" ] || [ -z "$words" ] || [ -e "$ROOT$pem" ]; then continue; fi
		# shellcheck disable=SC2086 # the unit's words: edgeplan's own names, one word each
		set -- $words
		helper="$staged/tree$1"
		shift
		out=$(EDGEPLAN_HAPROXY_CERT_DIR="$ROOT${pem%/*}" "$helper" "$@" 2>&1) ||
			die "could not make the placeholder $pem: $out"
		echo "+ made a self-signed placeholder $pem (no certificate yet)"
	done
}

# validate DIR [UNIT...] -- CMD...: run CMD on the staged config (CMD + path, as the service
# would read it) and systemd-analyze verify on changed units when it exists. Exit 5 if refused.
# Replies `$ COMMAND` for each check run, `! NOTE` for each check that could not run and
# `+ NOTE` for what it had to make first (placeholder certificates).
op_validate() {
	d=$(dir_of "$1")
	shift
	units=
	if [ $# -gt 0 ] && [ "$1" != -- ]; then
		mkdir -p "$d/check/units"
		rm -f "$d/check/units/"*
	fi
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		u="$d/check/units/${1##*/}"
		if [ -f "$d/units.in/${1##*/}" ]; then
			sed "s|@EDGEPLAN_TREE@|$d/tree|g" "$d/units.in/${1##*/}" >"$u"
		else
			cp "$d/tree/$1" "$u"
		fi
		units="$units $u"
		shift
	done
	[ $# -gt 0 ] && shift
	header
	bootstrap_certs "$d"
	if [ $# -gt 0 ]; then
		if [ -f "$d/check.in" ]; then
			mkdir -p "$d/check"
			sed "s|@EDGEPLAN_TREE@|$d/tree|g" "$d/check.in" >"$d/check/haproxy.cfg"
			cfg="$d/check/haproxy.cfg"
		elif [ -f "$d/tree/etc/haproxy/haproxy.cfg" ]; then
			cfg="$d/tree/etc/haproxy/haproxy.cfg"
		else
			cfg=
		fi
		if [ -n "$cfg" ]; then
			echo "\$ $* $cfg"
			rc=0
			"$@" "$cfg" 2>&1 || rc=$?
			if [ "$rc" -ne 0 ]; then
				echo "exit status $rc"
				exit 5
			fi
		fi
	fi
	if [ -n "$units" ]; then
		if command -v systemd-analyze >/dev/null 2>&1; then
			echo "\$ systemd-analyze verify$units"
			rc=0
			# shellcheck disable=SC2086 # $units: staged paths of edgeplan's own unit names, one word each
			err=$(systemd-analyze verify $units 2>&1) || rc=$?
			if [ "$rc" -ne 0 ] || [ -n "$err" ]; then
				printf '%s\nexit status %s\n' "$err" "$rc"
				exit 5
			fi
		else
			echo "! units not verified: systemd-analyze is not installed on the box"
		fi
	fi
	echo ok
}

# The numbers of the generations on the box, one per line, unsorted.
gen_numbers() {
	for x in "$G"/*; do
		b=${x##*/}
		case $b in '' | *[!0-9]*) continue ;; esac
		echo "$b"
	done
}

next_gen() {
	n=1
	for b in $(gen_numbers); do
		if [ "$b" -ge "$n" ]; then n=$((b + 1)); fi
	done
	echo "$n"
}

# promote TREE_HASH < META: the staged tree becomes the next generation.
op_promote() {
	d="$S/staging/$1"
	[ -d "$d" ] || die "nothing is staged for tree $1"
	mkdir -p "$G"
	n=$(next_gen)
	cat >"$d/meta.json"
	mv "$d" "$G/$n"
	header
	echo "generation $n"
}

# Keep a file about to be replaced by a link: into the active generation when that generation
# lacks it (generation 0 holds what was on the box before edgeplan), else into backup/.
keep() {
	p=$1
	l="$ROOT/$p"
	cur=$(current)
	if [ -z "$cur" ]; then
		mkdir -p "$G/0/tree"
		: >"$G/0/files.sha256"
		: >"$G/0/modes"
		ln -s generations/0 "$S/current.new"
		mv -f -T "$S/current.new" "$S/current"
		cur=0
	fi
	if [ ! -e "$G/$cur/tree/$p" ]; then
		mkdir -p "$(dirname "$G/$cur/tree/$p")"
		cp -p "$l" "$G/$cur/tree/$p"
		(cd "$G/$cur/tree" && sha256sum "$p") >>"$G/$cur/files.sha256"
		printf '%s %s\n' "$(stat -c %a "$l")" "$p" >>"$G/$cur/modes"
		echo "adopted $p into generation $cur"
	else
		mkdir -p "$(dirname "$S/backup/$p")"
		cp -p "$l" "$S/backup/$p"
		echo "saved $p to backup/"
	fi
}

# link GEN: make every path of GEN a link into current/tree. Nothing changes for haproxy: a path
# that is already linked keeps resolving to the active generation, a new one resolves nowhere
# until the swap.
op_link() {
	[ -f "$G/$1/files.sha256" ] || die "generation $1 does not exist"
	header
	paths_of "$1" | while IFS= read -r p; do
		l="$ROOT/$p"
		if is_ours "$p"; then continue; fi
		if [ -d "$l" ] && [ ! -L "$l" ]; then die "$p is a directory on the box"; fi
		if [ -f "$l" ]; then keep "$p"; fi
		mkdir -p "$(dirname "$l")"
		rm -f "$l.edgeplan-new"
		ln -s "$(uplink "$p")" "$l.edgeplan-new"
		mv -f -T "$l.edgeplan-new" "$l"
		echo "linked $p"
	done
}

# swap GEN|-: the atomic step. GEN becomes active (or none, `-`); pending-reload records it.
op_swap() {
	prev=$(current)
	header
	if [ "$1" = - ]; then
		rm -f "$S/current"
	else
		[ -d "$G/$1" ] || die "generation $1 does not exist"
		printf '%s %s\n' "$1" "${prev:--}" >"$S/pending-reload.new"
		mv -f "$S/pending-reload.new" "$S/pending-reload"
		rm -f "$S/current.new"
		ln -s "generations/$1" "$S/current.new"
		mv -f -T "$S/current.new" "$S/current"
	fi
	echo "swapped ${prev:--} $1"
}

# prune: remove edgeplan's links to paths the active generation does not hold.
op_prune() {
	cur=$(current)
	header
	keepf="$S/.keep.$$"
	if [ -n "$cur" ]; then paths_of "$cur" >"$keepf"; else : >"$keepf"; fi
	for f in "$G"/*/files.sha256; do
		if [ -f "$f" ]; then cut -c67- "$f"; fi
	done | sort -u | while IFS= read -r p; do
		if grep -qxF "$p" "$keepf"; then continue; fi
		if is_ours "$p"; then
			rm -f "$ROOT/$p"
			echo "removed $p"
		fi
	done
	rm -f "$keepf"
}

# run CMD...: run a command on the box; its output, then its exit status on the last line.
# The output goes through a file: a command that leaves a daemon behind (`haproxy -D`) must not
# write into the reply after its exit status, nor hold the session open.
op_run() {
	header
	out=$(mktemp) || die "cannot make a temporary file"
	rc=0
	"$@" </dev/null >"$out" 2>&1 || rc=$?
	cat "$out"
	rm -f "$out"
	printf '\nedgeplan-box-exit %s\n' "$rc"
}

# True (having said `skipped: WHY`) when the units here are not the running system's: a box
# root that is not `/`, or no systemd running.
no_systemd() {
	if [ -n "$ROOT" ]; then
		echo "skipped: the box root is $ROOT, not the running system"
	elif [ ! -d /run/systemd/system ] || ! command -v systemctl >/dev/null 2>&1; then
		echo "skipped: systemd is not running"
	else
		return 1
	fi
}

# daemon-reload: `systemctl daemon-reload` when this box runs systemd; skipped for a box root
# that is not `/` (its units are not the running system's) and where systemd is not PID 1.
op_daemon_reload() {
	header
	if no_systemd; then
		:
	else
		rc=0
		systemctl daemon-reload 2>&1 || rc=$?
		printf '\nedgeplan-box-exit %s\n' "$rc"
		return
	fi
	printf '\nedgeplan-box-exit 0\n'
}

# units ACTION:UNIT...: enable, start, stop and disable edgeplan's units (crate::units):
# enable-start (enable --now), enable-start-no-block (enable, then start without waiting),
# stop-disable (disable --now). Replies one `ACTION:UNIT ok|failed: WHY` line each; skipped,
# and said, when the box root is not the running system or systemd is not running.
op_units() {
	header
	if no_systemd; then
		return
	fi
	for a in "$@"; do
		u=${a#*:}
		case $u in '' | *[!A-Za-z0-9._@-]*) die "bad unit name '$u'" ;; esac
		case $a in
		enable-start:*) out=$(systemctl enable --now "$u" 2>&1) ;;
		enable-start-no-block:*) out=$(systemctl enable "$u" 2>&1 && systemctl start --no-block "$u" 2>&1) ;;
		stop-disable:*) out=$(systemctl disable --now "$u" 2>&1) ;;
		*) die "unknown unit action '$a'" ;;
		esac && echo "$a ok" || echo "$a failed: $(echo "$out" | tr '\n' ' ')"
	done
}

# record-color ENV < JSON: replace the env's colour state atomically.
op_record_color() {
	case $1 in '' | *[!A-Za-z0-9_-]*) die "bad env name '$1'" ;; esac
	mkdir -p "$S/colors"
	cat >"$S/colors/.$1.json.new"
	mv -f "$S/colors/.$1.json.new" "$S/colors/$1.json"
	header
	echo recorded
}

# finish KEEP < HISTORY_LINE: the apply is complete: clear pending-reload, record history, drop
# leftovers of interrupted uploads and all but the KEEP newest generations (never the active
# one, never generation 0).
op_finish() {
	header
	cat >>"$S/history"
	rm -f "$S/pending-reload"
	rm -rf "$S/staging"
	cur=$(current)
	n=0
	for x in $(gen_numbers | sort -rn); do
		if [ "$x" = 0 ] || [ "$x" = "$cur" ]; then continue; fi
		n=$((n + 1))
		if [ "$n" -ge "$1" ]; then
			rm -rf "${G:?}/$x"
			echo "dropped generation $x"
		fi
	done
	echo finished
}

# generations: every generation's manifest and meta, the active one and the history.
op_generations() {
	header
	printf 'current %s\n' "$(current || true)"
	for x in $(gen_numbers | sort -n); do
		printf 'generation %s\n' "$x"
		blob manifest "$G/$x/manifest.json"
		blob meta "$G/$x/meta.json"
		blob files "$G/$x/files.sha256"
		if verify "$G/$x"; then echo intact; else echo modified; fi
	done
	blob history "$S/history"
	echo end
}

# admin_addr ENDPOINT: socat's address for haproxy's CLI at ENDPOINT (`unix:/PATH`, a path on
# the box under its root, or `tcp:HOST:PORT`); fails when the unix socket is not there.
admin_addr() {
	case $1 in
	unix:/*)
		p="$ROOT${1#unix:}"
		[ -S "$p" ] || return 1
		printf 'unix-connect:%s' "$p"
		;;
	tcp:*) printf 'tcp:%s' "${1#tcp:}" ;;
	*) return 1 ;;
	esac
}

# cli ADDR CMD OUT: one command on haproxy's CLI, its answer into OUT.
cli() { printf '%s\n' "$2" | socat -t 10 stdio "$1" >"$3" 2>/dev/null; }

# admin ENDPOINT CMD...: run each CMD on haproxy's admin socket (the runtime API); one blob per
# answer, named by its position. Exit 6: no socket there, or haproxy does not answer on it;
# 7: socat, which talks to the socket, is not installed.
op_admin() {
	ep=$1
	shift
	header
	if ! command -v socat >/dev/null 2>&1; then
		echo "edgeplan-box: socat is not installed on the box; the runtime API needs it" >&2
		exit 7
	fi
	rc=0
	addr=$(admin_addr "$ep") || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "edgeplan-box: there is no admin socket at ${ep#*:} on the box" >&2
		exit 6
	fi
	d=$(mktemp -d)
	n=0
	for c in "$@"; do
		n=$((n + 1))
		if ! cli "$addr" "$c" "$d/$n"; then
			rm -rf "$d"
			echo "edgeplan-box: haproxy does not answer on its admin socket ${ep#*:}" >&2
			exit 6
		fi
	done
	n=0
	for c in "$@"; do
		n=$((n + 1))
		blob "$n" "$d/$n"
	done
	rm -rf "$d"
	echo end
}

# save-state: before a reload, run the rendered helper that saves the running haproxy's server
# states for the new worker (admin state and health of the servers whose identity is unchanged;
# crate::server_state). Skipped, and said, when the live tree has no helper.
op_save_state() {
	header
	h="$ROOT/usr/local/lib/edgeplan/haproxy-save-state"
	if [ ! -x "$h" ]; then
		echo "skipped: no /usr/local/lib/edgeplan/haproxy-save-state on the box"
		return
	fi
	EDGEPLAN_BOX_ROOT=$ROOT "$h"
}

# x509 PATH...: what `openssl x509` says of the first certificate in each file (subject,
# issuer, serial, notAfter in ISO 8601, subjectAltName; a PEM's private key is never read out),
# one blob per path named by the path; absent when there is no such file or it holds no
# certificate. `skipped: WHY` when openssl is not installed.
op_x509() {
	header
	if ! command -v openssl >/dev/null 2>&1; then
		echo "skipped: openssl is not installed on the box"
		echo end
		return
	fi
	d=$(mktemp -d) || die "cannot make a temporary directory"
	for p in "$@"; do
		if [ -f "$ROOT$p" ] && openssl x509 -noout -nameopt RFC2253 -subject -issuer -serial \
			-enddate -dateopt iso_8601 -ext subjectAltName -in "$ROOT$p" >"$d/x" 2>/dev/null; then
			blob "$p" "$d/x"
		else
			printf 'absent %s\n' "$p"
		fi
	done
	rm -rf "$d"
	echo end
}

# probe SECONDS ID SCHEME ADDR PATH HOST [ID SCHEME ADDR PATH HOST]...: a GET of PATH from ADDR
# (`IP:PORT`, `[V6]:PORT`, `NAME:PORT`) with `Host: HOST` — over https (SCHEME `https`: TLS to
# ADDR with HOST as the server name, the certificate not checked) or plain http — at most SECONDS
# each (decimals with curl, whole seconds with wget; https needs curl) — what the health gate
# and the probes after activation ask. One blob per probe named ID: `status CODE
# SECONDS` (SECONDS `-` when wget answered), or `error MESSAGE`; and a blob ID.body with the
# first 64 KiB of the body. curl when the box has it, else wget (busybox or GNU); `skipped: WHY`
# when it has neither.
op_probe() {
	header
	secs=$1
	shift
	if command -v curl >/dev/null 2>&1; then
		tool=curl
	elif command -v wget >/dev/null 2>&1; then
		tool=wget
	else
		echo "skipped: neither curl nor wget is installed on the box"
		echo end
		return
	fi
	d=$(mktemp -d) || die "cannot make a temporary directory"
	ids=
	# Every probe at once, each in the background: a try takes one time limit, not one each.
	while [ $# -ge 5 ]; do
		probe_one "$1" "$2" "$3" "$4" "$5" &
		ids="$ids $1"
		shift 5
	done
	wait
	for id in $ids; do
		blob "$id" "$d/$id.r"
		head -c 65536 "$d/$id.b" >"$d/$id.b64"
		blob "$id.body" "$d/$id.b64"
	done
	rm -rf "$d"
	echo end
}

# probe_one ID SCHEME ADDR PATH HOST: one probe of op_probe, its answer in $d/ID.r and its body
# in $d/ID.b. curl: one total time limit (-m), the same for connecting, no globbing (-g), no
# redirects followed. wget: under `timeout` (its -T is per read, and GNU wget retries).
probe_one() {
	: >"$d/$1.b"
	port=${3##*:}
	ip=${3%:*}
	ip=${ip#[}
	ip=${ip%]}
	if [ "$tool" = curl ]; then
		if [ "$2" = https ]; then
			w=$(curl -gsS -o "$d/$1.b" -m "$secs" --connect-timeout "$secs" -H "Host: $5" \
				-w '%{http_code} %{time_total}' -k --resolve "$5:$port:$ip" \
				"https://$5:$port$4" 2>"$d/$1.e") && ok=1 || ok=0
		else
			w=$(curl -gsS -o "$d/$1.b" -m "$secs" --connect-timeout "$secs" -H "Host: $5" \
				-w '%{http_code} %{time_total}' "http://$3$4" 2>"$d/$1.e") && ok=1 || ok=0
		fi
		if [ "$ok" = 1 ]; then
			printf 'status %s\n' "$w" >"$d/$1.r"
		else
			printf 'error %s\n' "$(tr '\n' ' ' <"$d/$1.e" | cut -c1-300)" >"$d/$1.r"
		fi
	elif [ "$2" = https ]; then
		printf 'error https probes need curl on the box\n' >"$d/$1.r"
	else
		wsecs=${secs%%.*}
		[ "${wsecs:-0}" -ge 1 ] 2>/dev/null || wsecs=1
		if command -v timeout >/dev/null 2>&1; then
			timeout "$((wsecs + 1))" wget -q -S -O "$d/$1.b" -T "$wsecs" --header "Host: $5" \
				"http://$3$4" 2>"$d/$1.e" || true
		else
			wget -q -S -O "$d/$1.b" -T "$wsecs" --header "Host: $5" "http://$3$4" 2>"$d/$1.e" || true
		fi
		code=$(sed -n 's/^ *HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$d/$1.e" | tail -n 1)
		if [ -n "$code" ]; then
			printf 'status %s -\n' "$code" >"$d/$1.r"
		else
			printf 'error %s\n' "$(tr '\n' ' ' <"$d/$1.e" | cut -c1-300)" >"$d/$1.r"
		fi
	fi
}

# unit-show UNIT...: `systemctl show` of each unit (a few properties, UTC times), one blob per
# unit; `skipped: WHY` when the box root is not the running system or systemd is not running.
op_unit_show() {
	header
	if no_systemd; then
		:
	else
		d=$(mktemp -d) || die "cannot make a temporary directory"
		for u in "$@"; do
			systemctl show --timestamp=utc -p ActiveState -p SubState -p Result \
				-p ExecMainStartTimestamp -p ExecMainExitTimestamp -p NRestarts \
				-p NextElapseUSecRealtime -p LastTriggerUSec -p UnitFileState \
				"$u" >"$d/u" 2>/dev/null || true
			blob "$u" "$d/u"
		done
		rm -rf "$d"
	fi
	echo end
}

op=${1:-}
[ $# -gt 0 ] && shift
check_layout
case $op in
state) op_state "$@" ;;
fetch) op_fetch "$@" ;;
lock) op_lock "$@" ;;
unlock) op_unlock "$@" ;;
stage) op_stage "$@" ;;
validate) op_validate "$@" ;;
promote) op_promote "$@" ;;
link) op_link "$@" ;;
swap) op_swap "$@" ;;
prune) op_prune "$@" ;;
run) op_run "$@" ;;
daemon-reload) op_daemon_reload ;;
units) op_units "$@" ;;
finish) op_finish "$@" ;;
generations) op_generations "$@" ;;
record-color) op_record_color "$@" ;;
admin) op_admin "$@" ;;
save-state) op_save_state ;;
x509) op_x509 "$@" ;;
probe) op_probe "$@" ;;
unit-show) op_unit_show "$@" ;;
*) die "unknown operation '$op'" ;;
esac
