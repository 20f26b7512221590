#!/bin/sh
# anchord over time: new bundles, signature refresh, SIGHUP, SIGTERM,
# kill -9 and restart, daemon mode.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

check "ceremony for the domain" make_domain http
start_anchord
assert "anchord answers" test -n "$ANCHORD_PID"

# A second instance on the same port is refused (the listening sockets
# share the port among anchord's own threads only).
check_exit 1 "a second anchord on the same port exits 1" \
    "$ANCHORD" -f -c "$CONF" --threads 2
assert "it says why" grep -q 'listen on 127.0.0.1 port' "$T/last.err"
assert "the first one still serves" test "$(http_code /healthz)" = 200

# A bundle committed by another writer is served within a second.
check "another writer publishes bundle 2" sh -c "'$PUBLISH' '$CONF' >'$T/seq'"
check "bundle 2 is served within a second of its commit" $PY - "$(URL /)" <<'PY'
import json, sys, time, urllib.request
t = time.monotonic()
while True:
    b = json.load(urllib.request.urlopen(sys.argv[1], timeout=2))
    if b["spiffe_sequence"] == 2:
        break
    assert time.monotonic() - t < 1.0, "still sequence %d" % b["spiffe_sequence"]
    time.sleep(0.05)
PY
"$ANCHORCTL" -c "$CONF" bundle --format spiffe >"$T/want2.json"
curl -s -o "$T/got2.json" "$(URL /)"
assert "GET / is bundle 2 byte for byte" cmp -s "$T/got2.json" "$T/want2.json"
curl -s -o "$T/b2.jws" "$(URL /bundle.jws)"
check "/bundle.jws is bundle 2 and verifies" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/out/signers-1.jws" \
    --typ spiffe-bundle+jws --payload-out "$T/p2.json" "$T/b2.jws"
assert "its payload is bundle 2" cmp -s "$T/p2.json" "$T/want2.json"

# SIGHUP: a new refresh hint reaches Cache-Control.
sed 's/refresh_hint: 300s/refresh_hint: 120s/' "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
kill -HUP "$ANCHORD_PID"
assert "after SIGHUP Cache-Control has the new refresh hint" \
    wait_for 5 sh -c "curl -s -D - -o /dev/null '$(URL /)' | grep -qi 'max-age=120'"

# SIGHUP with a broken configuration keeps the running one.
cp "$CONF" "$T/good.yaml"
echo "no_such_key: 1" >>"$CONF"
kill -HUP "$ANCHORD_PID"
assert "a broken configuration is refused and logged" \
    wait_for 5 grep -q 'keeping the running configuration' "$T/anchord.log"
assert "and anchord still serves" test "$(http_code /bundle.jws)" = 200
cp "$T/good.yaml" "$CONF"

# A short signature validity: the signer refreshes at half of it.
sed 's/bundle: .*/bundle: { refresh_hint: 2s, signature_validity: 8s }/' "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
kill -HUP "$ANCHORD_PID"
iat_of() {
	curl -s "$(URL /bundle.jws)" | $PY -c '
import base64, json, sys
e = json.load(sys.stdin)
h = json.loads(base64.urlsafe_b64decode(e["signatures"][0]["protected"] + "=="))
print(h["iat"], h["exp"], h["spiffe_sequence"])'
}
refreshed_with() {
	set -- $(iat_of)
	test "$(( $2 - $1 ))" -eq "$VALIDITY" -a "$1" -gt "$AFTER"
}
VALIDITY=8 AFTER=0
assert "after SIGHUP the signature is refreshed with the new validity" \
    wait_for 8 refreshed_with
set -- $(iat_of)
iat1=$1 seq1=$3
AFTER=$iat1
assert "at half of the validity it is refreshed again" wait_for 6 refreshed_with
set -- $(iat_of)
assert "the refresh keeps the sequence" test "$3" -eq "$seq1"
assert "/healthz stays 200 through the refreshes" test "$(http_code /healthz)" = 200
cp "$T/good.yaml" "$CONF"
kill -HUP "$ANCHORD_PID"

# SIGTERM: both processes stop, exit status 0.
SIGNER=$(signer_pid)
kill -TERM "$ANCHORD_PID"
wait "$ANCHORD_PID"
st=$?
ANCHORD_PID=
assert "SIGTERM: exit status 0 (got $st)" test "$st" -eq 0
assert "SIGTERM: the signer is gone too" sh -c "! kill -0 $SIGNER 2>/dev/null"
assert "SIGTERM: the port is closed" sh -c "! curl -s -o /dev/null '$(URL /)'"

# kill -9 of the network process: the signer follows; a restart serves.
start_anchord
SIGNER=$(signer_pid)
kill -KILL "$ANCHORD_PID"
wait "$ANCHORD_PID" 2>/dev/null
ANCHORD_PID=
assert "after kill -9 the signer stops by itself" \
    wait_for 5 sh -c "! kill -0 $SIGNER 2>/dev/null"
start_anchord
assert "after kill -9 a restart serves again" test "$(http_code /bundle.jws)" = 200
check "and what it serves verifies" sh -c "curl -s '$(URL /bundle.jws)' >'$T/b3.jws' && \
    $PY '$top_srcdir/tests/jws_verify.py' --signers '$T/out/signers-1.jws' \
    --typ spiffe-bundle+jws '$T/b3.jws' >/dev/null"

# kill -9 of the signer: the network process stops with an error.
SIGNER=$(signer_pid)
kill -KILL "$SIGNER"
wait "$ANCHORD_PID"
st=$?
ANCHORD_PID=
assert "a killed signer stops the network process with status 1 (got $st)" test "$st" -eq 1

# Daemon mode with a pid file.
"$ANCHORD" -c "$CONF" --pid-file "$T/anchord.pid" 2>>"$T/anchord.log"
assert "daemon mode: the starting process returns" test $? -eq 0
assert "daemon mode: serves" wait_for 10 sh -c "curl -s -o /dev/null '$(URL /healthz)'"
pid=$(cat "$T/anchord.pid" 2>/dev/null)
assert "daemon mode: the pid file names a running anchord" \
    sh -c "test -n '$pid' && grep -q anchord /proc/$pid/comm"
kill -TERM "$pid" 2>/dev/null
assert "daemon mode: SIGTERM stops it" wait_for 10 sh -c "! kill -0 $pid 2>/dev/null"
assert "daemon mode: the pid file is removed" test ! -e "$T/anchord.pid"

assert_log_clean
finish
