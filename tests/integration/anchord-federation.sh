#!/bin/sh
# anchord fetches its federation peers by itself.  Two trust domains made
# here: B's signed bundle is served by B's own anchord (plain http,
# allow_insecure_http), A federates with B through B's pinned signer set
# and runs anchord.  A's fetcher takes B's bundle, follows a rotation of B
# without a manual step, counts B's outage in /metrics while keeping the
# last good bundle and serving its own, and drops B when a reload takes it
# out of the configuration.  Only A's signer maps the PKCS#11 module.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"
. "$top_srcdir/tests/integration/federation-lib.sh"

PID_a= PID_b=
cleanup() {
	for pid in $PID_a $PID_b; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	fed_cleanup
}
trap cleanup EXIT

# start_d NAME PORT [OPTIONS...]: anchord of domain NAME, in the background.
start_d() {
	name=$1 port=$2
	shift 2
	"$ANCHORD" -f -v -c "$T/$name/anchor.yaml" "$@" \
	    >>"$T/$name/anchord.log" 2>&1 &
	eval "PID_$name=$!"
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"
}

# stop_d NAME: SIGTERM, and the exit status.
stop_d() {
	eval "pid=\$PID_$1"
	kill -TERM "$pid"
	wait "$pid"
	st=$?
	eval "PID_$1="
	return $st
}

# metric NAME LABELS: the value of one sample of A's /metrics.
metric() {
	curl -s "http://127.0.0.1:$PORT_A/metrics" |
	    sed -n "s/^$1{$2} //p"
}

# metric_is NAME LABELS VALUE
metric_is() {
	test "$(metric "$1" "$2")" = "$3"
}

# metric_ge NAME LABELS MIN
metric_ge() {
	v=$(metric "$1" "$2")
	[ -n "$v" ] && [ "$v" -ge "$3" ]
}

NOW=$(date +%s)
make_domain a a.example.org
make_domain b b.example.org
PORT_A=$(free_port)
PORT_B=$(free_port)
# B asks its peers to fetch every 2 s (signatures stay valid for 24 h).
sed -i 's/refresh_hint: 300s/refresh_hint: 2s/' "$T/b/anchor.yaml"
cat >>"$T/b/anchor.yaml" <<CONF
federation:
  allow_insecure_http: true
  bundle_endpoint: { address: 127.0.0.1, port: $PORT_B, profile: http }
CONF
check "ceremony of trust domain A" ceremony a "$NOW"
check "ceremony of trust domain B" ceremony b "$NOW"
cp "$T/b/out/signers-1.jws" "$T/b-signers-1.jws"
cat >>"$T/a/anchor.yaml" <<CONF
federation:
  allow_insecure_http: true
  bundle_endpoint: { address: 127.0.0.1, port: $PORT_A, profile: http }
  federates_with:
    b.example.org:
      bundle_endpoint_url: http://127.0.0.1:$PORT_B/
      signers: $T/b-signers-1.jws
      allow: ["spiffe://b.example.org/ns/payments/*"]
CONF
cp "$T/a/anchor.yaml" "$T/a-with-b.yaml"
FILE="$T/a/state/federated/b.example.org.json"
B_URL="http://127.0.0.1:$PORT_B"
A_URL="http://127.0.0.1:$PORT_A"

check "B's anchord serves B's bundle" start_d b "$PORT_B"
# The hint of 2 s is raised to the 30 s minimum; the option bounds it for
# the test.
check "A's anchord starts" start_d a "$PORT_A" --fetch-interval-max 2

# The first fetch, without any anchorctl run.
curl -s -o "$T/b1.json" "$B_URL/"
assert "A's anchord writes B's bundle to the consumer file by itself" \
    wait_for 20 cmp -s "$FILE" "$T/b1.json"
seq1=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["spiffe_sequence"])' "$T/b1.json")
assert "the peer was taken in from the configuration (audited)" \
    test "$(audit_count "$T/a/anchor.yaml" federation.added)" -eq 1
assert "the acceptance is audited" \
    test "$(audit_count "$T/a/anchor.yaml" peer.bundle.accepted)" -ge 1
assert "/metrics: B's sequence" \
    wait_for 5 metric_is anchord_peer_sequence 'trust_domain="b.example.org"' "$seq1"
assert "/metrics: fetches of B that succeeded" \
    wait_for 5 metric_ge anchord_peer_fetch_total 'trust_domain="b.example.org",result="ok"' 1
assert "/metrics: no failures of B" \
    metric_is anchord_peer_consecutive_failures 'trust_domain="b.example.org"' 0
assert "/metrics: last success of B is a time" \
    metric_ge anchord_peer_last_success_timestamp_seconds 'trust_domain="b.example.org"' "$NOW"
assert "/metrics: the fetcher is up" \
    sh -c "curl -s '$A_URL/metrics' | grep -qx 'anchord_peer_fetcher_up 1'"
assert "fetches repeat on the schedule" \
    wait_for 10 metric_ge anchord_peer_fetch_total 'trust_domain="b.example.org",result="ok"' 3

# The process split of A: network, signer, fetcher.
SIGNER_A=$(pgrep -P "$PID_a" -x anchord | head -1)
FETCHER_A=$(pgrep -P "$PID_a" -x anchord-fetcher | head -1)
assert "A has a signer process" test -n "$SIGNER_A"
assert "A has a fetcher process" test -n "$FETCHER_A"
assert "A's signer maps the PKCS#11 module" grep -q libsofthsm2 "/proc/$SIGNER_A/maps"
assert "A's fetcher does not map the PKCS#11 module" \
    sh -c "! grep -q 'softhsm\|anchor-fault' /proc/$FETCHER_A/maps"
assert "A's network process does not map the PKCS#11 module" \
    sh -c "! grep -q 'softhsm\|anchor-fault' /proc/$PID_a/maps"
assert "A's fetcher has no_new_privs" grep -Eq '^NoNewPrivs:[[:space:]]+1' "/proc/$FETCHER_A/status"
assert "no other process of A" \
    test "$(pgrep -P "$PID_a" | wc -l)" -eq 2
PIN_A=$(cat "$T/a/pin")
assert "the PIN is not in the fetcher's environment" \
    sh -c "! tr '\0' '\n' </proc/$FETCHER_A/environ | grep -qF '$PIN_A'"

# B publishes a new bundle: A follows with no manual step.
check "B rotates its JWT key" "$ANCHORCTL" -c "$T/b/anchor.yaml" rotate --force jwt
curl -s -o "$T/b2.json" "$B_URL/"
assert "B's anchord serves the new bundle" wait_for 5 sh -c \
    "curl -s '$B_URL/' >'$T/b2.json' && ! cmp -s '$T/b1.json' '$T/b2.json'"
seq2=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["spiffe_sequence"])' "$T/b2.json")
assert "with a higher sequence ($seq1 -> $seq2)" test "$seq2" -gt "$seq1"
assert "A's consumer file follows within 10 s" wait_for 10 cmp -s "$FILE" "$T/b2.json"
assert "/metrics: B's new sequence" \
    wait_for 5 metric_is anchord_peer_sequence 'trust_domain="b.example.org"' "$seq2"
"$ANCHORCTL" -c "$T/a/anchor.yaml" federation show b.example.org >"$T/show.json"
assert "anchorctl federation show gives the same bytes" cmp -s "$T/show.json" "$T/b2.json"

# B stops: A keeps the last good bundle, counts failures, serves its own.
check "B's anchord stops" stop_d b
assert "/metrics: failures of B are counted" \
    wait_for 15 metric_ge anchord_peer_consecutive_failures 'trust_domain="b.example.org"' 2
assert "/metrics: as transport errors" \
    metric_ge anchord_peer_fetch_total 'trust_domain="b.example.org",result="error"' 2
assert "/metrics: no rejection" \
    metric_is anchord_peer_fetch_total 'trust_domain="b.example.org",result="rejected"' 0
assert "/metrics: last failure of B is a time" \
    metric_ge anchord_peer_last_failure_timestamp_seconds 'trust_domain="b.example.org"' "$NOW"
assert "A keeps B's last good bundle" cmp -s "$FILE" "$T/b2.json"
assert "/metrics: B's sequence is still the last good one" \
    metric_is anchord_peer_sequence 'trust_domain="b.example.org"' "$seq2"
"$ANCHORCTL" -c "$T/a/anchor.yaml" bundle --format spiffe >"$T/a.json"
curl -s -o "$T/a-got.json" "$A_URL/"
assert "A keeps serving its own bundle" cmp -s "$T/a-got.json" "$T/a.json"
assert "A stays healthy" test "$(curl -s -o /dev/null -w '%{http_code}' "$A_URL/healthz")" = 200
assert "a repeated outage is audited once, not at every fetch" \
    test "$(audit_count "$T/a/anchor.yaml" peer.bundle.rejected)" -eq 1

# B comes back: the failures end.
check "B's anchord starts again" start_d b "$PORT_B"
assert "/metrics: B's failures are back to 0" \
    wait_for 15 metric_is anchord_peer_consecutive_failures 'trust_domain="b.example.org"' 0

# SIGHUP re-reads the peer list: B left the configuration.
sed -i '/federates_with:/,$d' "$T/a/anchor.yaml"
kill -HUP "$PID_a"
assert "after SIGHUP without B, the consumer file is removed" \
    wait_for 10 test ! -e "$FILE"
assert "and /metrics no longer lists B" wait_for 5 sh -c \
    "! curl -s '$A_URL/metrics' | grep -q 'trust_domain=\"b.example.org\"'"
cp "$T/a-with-b.yaml" "$T/a/anchor.yaml"
kill -HUP "$PID_a"
assert "a configuration listing B again: a writer warns it stays removed" \
    wait_for 10 grep -q 'b.example.org.*removed' "$T/a/anchord.log"

# SIGTERM stops all three processes.
check "SIGTERM: A's anchord exits 0" stop_d a
assert "SIGTERM: A's fetcher is gone" sh -c "! kill -0 $FETCHER_A 2>/dev/null"
assert "SIGTERM: A's signer is gone" sh -c "! kill -0 $SIGNER_A 2>/dev/null"
check "B's anchord stops" stop_d b
assert "no sanitizer report in A's log" \
    sh -c "! grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' '$T/a/anchord.log'"
fed_finish
