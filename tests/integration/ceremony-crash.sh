#!/bin/sh
# kill -9 of the ceremony at every token call (before the call reaches the
# token, and right after it returned for the calls that change the token):
# the next run completes the domain, which is then consistent.
. "$top_srcdir/tests/lib.sh"

export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
fresh() {
	rm -rf "$T/softhsm" "$T/state" "$T/trace"
	new_token crash
	write_config "$T/anchor.yaml" crash.example.com crash "$FAULT_MODULE"
}

# How many token calls does a ceremony make?
fresh
ANCHOR_FAULT_TRACE="$T/trace" "$CEREMONY" -c "$T/anchor.yaml" init --operator op \
    --yes >/dev/null 2>&1
calls=$(wc -l <"$T/trace")
cp "$T/trace" "$T/calls"
assert "a ceremony makes token calls through the fault module ($calls)" test "$calls" -gt 20

run_point() {
	rule=$1 what=$2
	fresh
	# (the braces keep the shell's "Killed" notice out of the log)
	{ ANCHOR_FAULT="$rule" "$CEREMONY" -c "$T/anchor.yaml" init --operator op \
	    --yes >"$T/run1.out" 2>&1; rc=$?; } 2>/dev/null
	if [ "$rc" -ne 137 ]; then
		not_ok "$what: killed (exit $rc, want 137)"
		return
	fi
	# The next run completes the domain, or refuses cleanly when the
	# kill came after the domain was complete.
	if ! "$CEREMONY" -c "$T/anchor.yaml" init --operator op --yes \
	    >"$T/run2.out" 2>&1 && ! grep -q 'already exists' "$T/run2.out"; then
		not_ok "$what: the next run completes"
		sed 's/^/# /' "$T/run2.out" | tail -5
		return
	fi
	if msg=$(domain_consistent "$T/anchor.yaml" crash); then
		ok "$what: killed, the next run completes, the domain is consistent"
	else
		not_ok "$what: domain consistent after the re-run"
		echo "$msg"
	fi
}

i=1
while [ "$i" -le "$calls" ]; do
	run_point "*:$i:KILL" "kill before token call $i ($(sed -n "${i}p" "$T/calls"))"
	i=$((i + 1))
done
for f in C_GenerateKeyPair C_Sign C_Login; do
	n=$(grep -c "^$f\$" "$T/calls")
	i=1
	while [ "$i" -le "$n" ]; do
		run_point "$f:$i:KILL-AFTER" "kill right after $f #$i"
		i=$((i + 1))
	done
done
finish
