# Shared helpers for anchor's shell integration tests.  Each test sources
# this file, gets a private temporary directory with its own SoftHSM token,
# and reports in TAP.

set -u

: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PY=/usr/bin/python3

CEREMONY="$top_builddir/anchor-ceremony"
ANCHORCTL="$top_builddir/anchorctl"
FAULT_MODULE="$top_builddir/pkcs11/.libs/anchor-fault.so"

T=$(mktemp -d "${TMPDIR:-/tmp}/anchor-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
_tap_n=0
_tap_failed=0

# The plan is printed at the end (TAP allows a trailing plan), so a test that
# dies half-way is reported as incomplete.

ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $*"
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	desc=$1; shift
	if "$@" >"$T/last.out" 2>"$T/last.err"; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/# /' "$T/last.out" "$T/last.err" | tail -20
	fi
}

# check_fails DESCRIPTION COMMAND...: the command must fail.
check_fails() {
	desc=$1; shift
	if "$@" >"$T/last.out" 2>"$T/last.err"; then
		not_ok "$desc (unexpectedly succeeded)"
		sed 's/^/# /' "$T/last.out" | tail -10
	else
		ok "$desc"
	fi
}

# check_exit CODE DESCRIPTION COMMAND...: exact exit code.
check_exit() {
	want=$1; desc=$2; shift 2
	"$@" >"$T/last.out" 2>"$T/last.err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (exit $got, want $want)"
		sed 's/^/# /' "$T/last.out" "$T/last.err" | tail -20
	fi
}

# assert DESCRIPTION TEST-EXPRESSION...
assert() {
	desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

finish() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}

# new_token LABEL: a private SoftHSM token under $T/softhsm, PIN in $T/pin.
new_token() {
	label=$1
	mkdir -p "$T/softhsm/tokens"
	cat >"$T/softhsm/softhsm2.conf" <<CONF
directories.tokendir = $T/softhsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	export SOFTHSM2_CONF="$T/softhsm/softhsm2.conf"
	PIN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	SO_PIN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	umask 077
	printf '%s\n' "$PIN" >"$T/pin"
	umask 022
	softhsm2-util --init-token --free --label "$label" --pin "$PIN" \
	    --so-pin "$SO_PIN" >/dev/null
}

# write_config FILE TRUST_DOMAIN LABEL [MODULE]: a minimal anchor.yaml.
write_config() {
	file=$1; td=$2; label=$3; module=${4:-$SOFTHSM_MODULE}
	cat >"$file" <<CONF
trust_domain: $td
state_dir: $T/state
pkcs11:
  module: $module
  token: "pkcs11:token=$label"
  pin_source: file:$T/pin
ca_subject: { country: [US], organization: [Example Corp] }
bundle: { refresh_hint: 300s, signature_validity: 24h }
CONF
}

# domain_consistent CONFIG LABEL: the state after a crash or a fault is one
# the product can stand on: the database passes its integrity check, exactly
# one key per role is active, the token holds exactly the private keys the
# rows say it does, and the latest bundle verifies (jwcrypto) against signer
# set version 1.  Prints the first problem and fails.
domain_consistent() {
	conf=$1 label=$2
	db=$(sed -n 's/^state_dir: *//p' "$conf")/anchor.db
	ic=$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)
	[ "$ic" = ok ] || { echo "# integrity_check: $ic"; return 1; }
	act=$(sqlite3 "$db" "SELECT group_concat(role) FROM (SELECT role FROM keys WHERE state = 'active' ORDER BY role)")
	[ "$act" = "bundle-signing,jwt,x509-ca" ] || { echo "# active keys: $act"; return 1; }
	rows=$(sqlite3 "$db" "SELECT lower(hex(ckaid)) FROM keys WHERE state != 'destroyed' ORDER BY 1" | tr '\n' ' ')
	toks=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$label" --login \
	    --pin "$(cat "$T/pin")" --list-objects --type privkey 2>/dev/null |
	    sed -n 's/^ *ID: *//p' | sort | tr '\n' ' ')
	[ "$rows" = "$toks" ] || { echo "# rows [$rows] token [$toks]"; return 1; }
	"$ANCHORCTL" -c "$conf" signers --version 1 >"$T/dc-signers.jws" 2>/dev/null &&
	    "$ANCHORCTL" -c "$conf" bundle --format jws >"$T/dc-bundle.jws" 2>/dev/null ||
	    { echo "# anchorctl cannot read the domain"; return 1; }
	$PY "$top_srcdir/tests/jws_verify.py" --signers "$T/dc-signers.jws" \
	    --typ spiffe-bundle+jws "$T/dc-bundle.jws" >/dev/null 2>"$T/dc-verify.err" ||
	    { echo "# bundle does not verify: $(cat "$T/dc-verify.err")"; return 1; }
	return 0
}

# compressed_policy FILE: short lifetimes so that a month holds many rotations
# (CA 2d, JWT 1d, bundle-signing 8d) and signatures valid for 6 hours.
compressed_policy() {
	sed -i 's/signature_validity: 24h/signature_validity: 6h/' "$1"
	cat >>"$1" <<CONF
keys:
  x509_ca:        { lifetime: 2d, prepublish: 6h, overlap: 6h, purge: 1d }
  jwt:            { lifetime: 1d, prepublish: 4h, overlap: 3h, purge: 1d }
  bundle_signing: { lifetime: 8d, prepublish: 2d, overlap: 2d, purge: 2d }
CONF
}

# db_query CONFIG SQL: run a read-only query on the domain's database.
db_query() {
	sqlite3 "$(sed -n 's/^state_dir: *//p' "$1")/anchor.db" "$2"
}
