#!/bin/sh
# A token error at every call of the ceremony: a clear error and a non-zero
# exit (or, where the error is absorbed, success), then a re-run without the
# fault completes the domain, which is consistent.  Also a token that stops
# answering for good (device error on every call from some point on).
. "$top_srcdir/tests/lib.sh"

export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
fresh() {
	rm -rf "$T/softhsm" "$T/state" "$T/trace"
	new_token faults
	write_config "$T/anchor.yaml" faults.example.com faults "$FAULT_MODULE"
}

fresh
ANCHOR_FAULT_TRACE="$T/trace" "$CEREMONY" -c "$T/anchor.yaml" init --operator op \
    --yes >/dev/null 2>&1
calls=$(wc -l <"$T/trace")
cp "$T/trace" "$T/calls"
assert "a ceremony makes token calls through the fault module ($calls)" test "$calls" -gt 20

run_point() {
	rule=$1 what=$2
	fresh
	ANCHOR_FAULT="$rule" "$CEREMONY" -c "$T/anchor.yaml" init --operator op \
	    --yes >"$T/run1.out" 2>"$T/run1.err"
	rc=$?
	if [ "$rc" -ne 0 ] && { [ "$rc" -ne 1 ] || ! grep -Eq \
	    'token|PIN|key|sign' "$T/run1.err"; }; then
		not_ok "$what: exit 1 with a message naming the token operation (exit $rc)"
		sed 's/^/# /' "$T/run1.err" | tail -5
		return
	fi
	if ! "$CEREMONY" -c "$T/anchor.yaml" init --operator op --yes \
	    >"$T/run2.out" 2>&1 && ! grep -q 'already exists' "$T/run2.out"; then
		not_ok "$what: a re-run without the fault completes"
		sed 's/^/# /' "$T/run2.out" | tail -5
		return
	fi
	if msg=$(domain_consistent "$T/anchor.yaml" faults); then
		ok "$what: $( [ "$rc" -eq 0 ] && echo absorbed || echo 'failed cleanly'), re-run completes, domain consistent"
	else
		not_ok "$what: domain consistent after the re-run"
		echo "$msg"
	fi
}

i=1
while [ "$i" -le "$calls" ]; do
	run_point "*:$i:CKR_GENERAL_ERROR" "general error at token call $i ($(sed -n "${i}p" "$T/calls"))"
	i=$((i + 1))
done
# The token goes away for good at a few points, through recovery's retries.
for i in 1 10 40 80 $calls; do
	run_point "*:$i+:CKR_DEVICE_ERROR" "token gone from call $i on"
done
finish
