#!/bin/sh
# Slow and idle clients: they do not delay others, the per-IP cap and the
# connection timeout bound them.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

SLOW="$top_srcdir/tests/integration/slowloris.py"

# answered_within SECONDS PATH: a normal client gets a full 200 in time.
answered_within() {
	curl -s -o /dev/null -m "$1" -w '%{http_code}' "$(URL "$2")" | grep -qx 200
}

check "ceremony for the domain" make_domain http
start_anchord --max-connections 2000 --max-per-ip 20 --threads 2 --timeout 4
assert "anchord answers" test -n "$ANCHORD_PID"

# 500 connections from 50 addresses (10 each, under the per-IP cap), half
# of them with half a request, half idle.
srcs=$(seq 10 59 | sed 's/^/127.0.0./' | paste -sd, -)
$PY "$SLOW" 127.0.0.1 "$PORT" 500 "$srcs" 3 >"$T/slow1" 2>&1 &
slow=$!
wait_for 10 grep -q holding "$T/slow1"
held=$(sed -n 's/^holding //p' "$T/slow1")
assert "500 slow and idle connections are held open (got ${held:-none})" \
    test "${held:-0}" -ge 490
assert "a normal client is answered within a second meanwhile" answered_within 1 /
assert "and /bundle.jws too" answered_within 1 /bundle.jws
wait $slow

# 500 from one address: the per-IP cap (20 per thread, 2 threads) turns
# most of them away at once.
$PY "$SLOW" 127.0.0.1 "$PORT" 500 127.0.0.2 3 >"$T/slow2" 2>&1 &
slow=$!
wait_for 10 grep -q holding "$T/slow2"
held=$(sed -n 's/^holding //p' "$T/slow2")
assert "one address holds at most threads x the per-IP cap (held ${held:-none})" \
    test "${held:-999}" -le 40
assert "a client from another address is answered within a second" answered_within 1 /
wait $slow

# An idle connection is closed after the timeout (4 s here).
check "an idle connection is closed by the server after the timeout" \
    $PY - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(15)
t = time.monotonic()
assert s.recv(1) == b""
d = time.monotonic() - t
assert 3 <= d <= 8, d
PY

stop_anchord
assert_log_clean
finish
