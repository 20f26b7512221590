# Shared by the bench scripts: an optimised build (no sanitizers) in
# build-bench, and a private SoftHSM token with a ceremony run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/build-bench"
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

bench_build() {
	"$top/scripts/deps.sh"
	(cd "$top" && { [ -x configure ] || autoreconf -fi >/dev/null 2>&1; })
	mkdir -p "$B"
	if [ ! -f "$B/Makefile" ]; then
		(cd "$B" && "$top/configure" -q CFLAGS="-O2 -g") >/dev/null
	fi
	make -s -C "$B" -j"$(nproc)" >/dev/null
}

# bench_domain DIR TD: token, PIN file, config and ceremony under DIR.
bench_domain() {
	d=$1 td=$2
	rm -rf "$d"
	mkdir -p "$d/tokens"
	chmod 700 "$d"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
	    "$d" >"$d/softhsm2.conf"
	export SOFTHSM2_CONF="$d/softhsm2.conf"
	(umask 077; od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$d/pin")
	softhsm2-util --init-token --free --label bench --pin "$(cat "$d/pin")" \
	    --so-pin "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >/dev/null
	cat >"$d/anchor.yaml" <<CONF
trust_domain: $td
state_dir: $d/state
pkcs11:
  module: $SOFTHSM_MODULE
  token: "pkcs11:token=bench"
  pin_source: file:$d/pin
CONF
}

# now_ns: monotonic-enough wall clock in nanoseconds.
now_ns() { date +%s%N; }
