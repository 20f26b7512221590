#!/bin/sh
# Token trouble while anchord runs, injected through the fault module:
# the last good signed bundle stays served, /healthz says 503, and anchord
# recovers by itself when the token comes back.  It never serves an
# expired signature.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
export ANCHOR_FAULT_FILE="$T/faults"
: >"$ANCHOR_FAULT_FILE"
fault() {
	printf '%s\n' "$1" >"$T/faults.new" && mv "$T/faults.new" "$ANCHOR_FAULT_FILE"
}

# The domain's only signature is two days old: expired.
CEREMONY_NOW=$(( $(date +%s) - 2 * 86400 ))
check "ceremony through the fault module (no faults yet)" \
    make_domain http "$FAULT_MODULE"

# Start with the token gone.
fault '*:1+:CKR_TOKEN_NOT_PRESENT'
start_anchord --probe-interval 1 --backoff-max 2
assert "anchord answers" test -n "$ANCHORD_PID"
"$ANCHORCTL" -c "$CONF" bundle --format spiffe >"$T/want.json"
curl -s -o "$T/got.json" "$(URL /)"
assert "GET / is served from the store without the token" cmp -s "$T/got.json" "$T/want.json"
assert "/bundle.jws with an expired signature is 503" test "$(http_code /bundle.jws)" = 503
assert "/healthz is 503" test "$(http_code /healthz)" = 503
curl -s "$(URL /healthz)" >"$T/health"
assert "/healthz says the signature expired" grep -q expired "$T/health"
curl -s -o "$T/metrics" "$(URL /metrics)"
assert "metrics: token down" grep -qx 'anchord_token_up 0' "$T/metrics"
assert "metrics: token errors counted" \
    grep -Eq '^anchord_token_errors_total [1-9][0-9]*$' "$T/metrics"
SIGNER=$(signer_pid)

# The token comes back: anchord signs again and serves a fresh signature.
start=$(date +%s)
fault ''
assert "/bundle.jws is served again within 10 s of the token's return" \
    wait_for 10 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' '$(URL /bundle.jws)')\" = 200"
curl -s -o "$T/b1.jws" "$(URL /bundle.jws)"
check "the new signature verifies with jwcrypto" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/out/signers-1.jws" \
    --typ spiffe-bundle+jws --payload-out "$T/p1.json" "$T/b1.jws"
assert "same bundle bytes" cmp -s "$T/p1.json" "$T/want.json"
check "same sequence, iat from now" $PY - "$T/b1.jws" "$start" <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
h = json.loads(base64.urlsafe_b64decode(e["signatures"][0]["protected"] + "=="))
assert h["spiffe_sequence"] == 1, h
assert h["iat"] >= int(sys.argv[2]) - 1, h
assert h["exp"] - h["iat"] == 86400, h
PY
assert "/healthz is 200 again" wait_for 5 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' '$(URL /healthz)')\" = 200"
assert "the signer has the fault module mapped" grep -q anchor-fault "/proc/$SIGNER/maps"
assert "the network process has neither module mapped" \
    sh -c "! grep -q 'softhsm\|anchor-fault' /proc/$ANCHORD_PID/maps"
etag=$(curl -s -D - -o /dev/null "$(URL /bundle.jws)" | sed -n 's/^[Ee][Tt]ag: *//p' | tr -d '\r')

# Device errors on every signature: unhealthy, still serving the same bytes.
fault 'C_Sign:1+:CKR_DEVICE_ERROR'
assert "/healthz turns 503 on device errors" \
    wait_for 8 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' '$(URL /healthz)')\" = 503"
curl -s "$(URL /healthz)" >"$T/health"
assert "/healthz says the token does not answer" grep -q 'token does not answer' "$T/health"
assert "the last good /bundle.jws is still served, unchanged" \
    test "$(http_code /bundle.jws -H "If-None-Match: $etag")" = 304
assert "GET / is still served" test "$(http_code /)" = 200

# The token disappears altogether (every call fails), then returns.
fault '*:1+:CKR_DEVICE_REMOVED'
sleep 3
assert "still serving /bundle.jws while the token is gone" test "$(http_code /bundle.jws)" = 200
assert "still 503 on /healthz" test "$(http_code /healthz)" = 503
fault ''
assert "recovers by itself: /healthz 200 within 10 s" \
    wait_for 10 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' '$(URL /healthz)')\" = 200"
assert "the network process is the same one (no restart)" kill -0 "$ANCHORD_PID"
assert "the signer process is the same one (no restart)" test "$(signer_pid)" = "$SIGNER"
assert "the log tells the token failed and answers again" \
    sh -c "grep -q 'retrying with back-off' '$T/anchord.log' && grep -q 'answers' '$T/anchord.log'"

# A refused PIN is not tried again (each try counts toward the lockout)
# until the operator reloads.
stop_anchord
fault 'C_Login:1+:CKR_PIN_INCORRECT'
start_anchord --probe-interval 1 --backoff-max 1
assert "a refused PIN is reported" \
    wait_for 5 grep -q 'refused the PIN' "$T/anchord.log"
sleep 3
assert "and not tried again (one refusal in 3 s)" \
    test "$(grep -c 'refused the PIN' "$T/anchord.log")" -eq 1
assert "/healthz is 503 meanwhile" test "$(http_code /healthz)" = 503
assert "the bundle is still served" test "$(http_code /bundle.jws)" = 200
fault ''
kill -HUP "$ANCHORD_PID"
assert "after SIGHUP the token is opened again: /healthz 200" \
    wait_for 10 sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' '$(URL /healthz)')\" = 200"

stop_anchord
assert_log_clean
finish
