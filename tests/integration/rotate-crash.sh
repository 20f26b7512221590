#!/bin/sh
# kill -9 of `anchorctl rotate` at each of its token calls and at random
# moments, each followed by a normal run.  The run is a late one (six days
# after the ceremony with a compressed policy): it generates a successor for
# every role and publishes signer set 2 and bundle 2.  After each crash and
# re-run: integrity ok, one active key per role, token objects and rows
# agree, the bundle verifies, and no sequence was reused or went down.
. "$top_srcdir/tests/lib.sh"

export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
new_token rc
write_config "$T/anchor.yaml" rc.example.com rc "$FAULT_MODULE"
compressed_policy "$T/anchor.yaml"
C="-c $T/anchor.yaml"
T0=1767225600
LATE=$((T0 + 144 * 3600))
check "ceremony" "$CEREMONY" $C init --operator op --yes --now $T0
# Snapshot of token and state, restored before each crash.
cp -a "$T/softhsm/tokens" "$T/tokens.snap"
cp -a "$T/state" "$T/state.snap"
restore() {
	rm -rf "$T/softhsm/tokens" "$T/state"
	cp -a "$T/tokens.snap" "$T/softhsm/tokens"
	cp -a "$T/state.snap" "$T/state"
}

ANCHOR_FAULT_TRACE="$T/trace" "$ANCHORCTL" $C rotate --now $LATE >"$T/ref.out" 2>&1
calls=$(wc -l <"$T/trace")
cp "$T/trace" "$T/calls"
assert "the late run generates three keys and publishes bundle 2 ($calls token calls)" \
    test "$(grep -c '^generated' "$T/ref.out")" -eq 3 -a \
    "$(db_query "$T/anchor.yaml" 'SELECT max(sequence) FROM bundles')" -eq 2

after_crash() {
	what=$1
	if ! "$ANCHORCTL" $C rotate --now $LATE >"$T/run2.out" 2>&1; then
		not_ok "$what: the next run succeeds"
		sed 's/^/# /' "$T/run2.out" | tail -5
		return
	fi
	seqs=$(db_query "$T/anchor.yaml" 'SELECT group_concat(sequence) FROM bundles')
	if [ "$seqs" != "1,2" ]; then
		not_ok "$what: sequences after the re-run are 1,2 (got $seqs)"
		return
	fi
	if [ "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM keys")" -ne 6 ]; then
		not_ok "$what: exactly one successor per role"
		return
	fi
	if msg=$(domain_consistent "$T/anchor.yaml" rc); then
		ok "$what: next run completes, one successor per role, sequences 1,2, consistent"
	else
		not_ok "$what: consistent after the re-run"
		echo "$msg"
	fi
}

i=1
while [ "$i" -le "$calls" ]; do
	restore
	{ ANCHOR_FAULT="*:$i:KILL" "$ANCHORCTL" $C rotate --now $LATE >/dev/null 2>&1
	  rc=$?; } 2>/dev/null
	if [ "$rc" -ne 137 ]; then
		not_ok "kill at token call $i: killed (exit $rc)"
	else
		after_crash "kill at token call $i ($(sed -n "${i}p" "$T/calls"))"
	fi
	i=$((i + 1))
done
for f in C_GenerateKeyPair C_Sign; do
	n=$(grep -c "^$f\$" "$T/calls")
	i=1
	while [ "$i" -le "$n" ]; do
		restore
		{ ANCHOR_FAULT="$f:$i:KILL-AFTER" "$ANCHORCTL" $C rotate --now $LATE \
		    >/dev/null 2>&1; rc=$?; } 2>/dev/null
		[ "$rc" -eq 137 ] && after_crash "kill right after $f #$i" ||
		    not_ok "kill right after $f #$i: killed (exit $rc)"
		i=$((i + 1))
	done
done
# Random moments: a SIGKILL from outside after 0 to 60 ms.
n=0
while [ "$n" -lt 30 ]; do
	restore
	"$ANCHORCTL" $C rotate --now $LATE >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$(od -An -N1 -tu1 /dev/urandom | awk '{ printf "%02d", $1 % 60 }')"
	kill -9 "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	after_crash "random kill $((n + 1))"
	n=$((n + 1))
done
finish
