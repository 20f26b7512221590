#!/bin/sh
# audit.syslog: every committed audit record is copied to syslog
# (LOG_AUTHPRIV | LOG_NOTICE), in order, and a record of a transaction that
# was rolled back (a token fault in the middle of a rotation) is not.
. "$top_srcdir/tests/lib.sh"

SHIM="$top_builddir/tests/.libs/syslog-shim.so"
export ANCHOR_SYSLOG_FILE="$T/syslog"
# The shim is preloaded ahead of the sanitizer runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
new_token syslog
write_config "$T/anchor.yaml" syslog.example.com syslog "$FAULT_MODULE"
compressed_policy "$T/anchor.yaml"
printf 'audit: { syslog: true }\n' >>"$T/anchor.yaml"
C="-c $T/anchor.yaml"
T0=1767225600
run() { LD_PRELOAD="$SHIM" "$@"; }

assert "the syslog stand-in is built" test -f "$SHIM"
check "ceremony with audit.syslog" run "$CEREMONY" $C init --operator op --yes --now $T0
check "a rotation that generates the jwt successor" run "$ANCHORCTL" $C rotate --now $((T0 + 20 * 3600))
# At +24h the successor takes over (key.retired, key.activated) and the
# bundle is signed again; with the signature failing, the transaction that
# holds those records is rolled back.
check_fails "a rotation whose signature fails after the key transitions" \
    env ANCHOR_FAULT="C_Sign:1+:CKR_GENERAL_ERROR" LD_PRELOAD="$SHIM" \
    "$ANCHORCTL" $C rotate --now $((T0 + 24 * 3600))
assert "its key transitions were rolled back" \
    test "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM audit WHERE event = 'key.activated'")" -eq 3
check "the same rotation without the fault" run "$ANCHORCTL" $C rotate --now $((T0 + 24 * 3600))
assert "and now committed" \
    test "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM audit WHERE event = 'key.activated'")" -eq 4
check "a revocation" run "$ANCHORCTL" $C revoke --key \
    "$(db_query "$T/anchor.yaml" "SELECT kid FROM keys WHERE role = 'jwt' AND state = 'active'")" \
    --reason drill --now $((T0 + 21 * 3600))

db_query "$T/anchor.yaml" 'SELECT event FROM audit ORDER BY seq' >"$T/db-events"
sed -n 's/^<\([0-9]*\)> anchor-audit td=syslog.example.com ts=[0-9]* event=\([^ ]*\) .*/\2/p' \
    "$T/syslog" >"$T/syslog-events"
assert "every audit record reached syslog, in order, and nothing else ($(wc -l <"$T/db-events") records)" \
    cmp -s "$T/db-events" "$T/syslog-events"
assert "at the authpriv facility, notice level" \
    sh -c "! grep 'anchor-audit' '$T/syslog' | grep -qv '^<$((10 * 8 + 5))> '"
assert "the revocation's reason is in its syslog line" \
    grep -q 'event=key.revocation data=.*"reason":"drill"' "$T/syslog"
check "audit verify still passes" "$ANCHORCTL" $C audit verify
finish
