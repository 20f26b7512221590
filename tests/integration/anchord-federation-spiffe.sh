#!/bin/bash
# Two anchords federated both ways over https_spiffe.  Trust domains A and
# B each have their own token, state and anchord serving with profile
# https_spiffe (the endpoint's X509-SVID issued by the domain's own CA).
# Each pins the other's signer set version 1 and is given the other's
# current bundle out of band (bootstrap) before the first connection; then
# each anchord's fetcher takes the other's bundle by itself.  B runs with
# lifetimes of seconds and `anchorctl rotate` at the real clock: within
# about a minute and a half B publishes new JWT keys and rolls its
# bundle-signing key over (signer sets 2 and 3), and A's fetcher follows
# every new bundle of B with no manual step.
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

# get NAME PATH [CURL OPTIONS...]: PATH of NAME's anchord over TLS, the
# SVID checked against NAME's CA and its DNS name.
get() {
	name=$1 p=$2
	shift 2
	eval "port=\$PORT_$name"
	curl -sf --max-time 5 --cacert "$T/$name-ca.pem" \
	    --resolve "bundles.$name.example.org:$port:127.0.0.1" "$@" \
	    "https://bundles.$name.example.org:$port$p"
}

# start_d NAME: anchord of domain NAME, in the background.
start_d() {
	"$ANCHORD" -f -v -c "$T/$1/anchor.yaml" --fetch-interval-max 2 \
	    >>"$T/$1/anchord.log" 2>&1 &
	eval "PID_$1=$!"
	wait_for 10 get "$1" /healthz -o /dev/null
}

stop_d() {
	eval "pid=\$PID_$1"
	kill -TERM "$pid"
	wait "$pid"
	st=$?
	eval "PID_$1="
	return $st
}

# metric NAME SAMPLE: the value of one sample of NAME's /metrics.
metric() {
	get "$1" /metrics | sed -n "s/^$2 //p"
}
metric_is() {
	test "$(metric "$1" "$2")" = "$3"
}

# seq_of FILE: the spiffe_sequence of a SPIFFE bundle.
seq_of() {
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["spiffe_sequence"])' "$1"
}

T0=$(date +%s)
make_domain a a.example.org
make_domain b b.example.org
PORT_a=$(free_port)
PORT_b=$(free_port)
EP_a=spiffe://a.example.org/anchor/bundle-endpoint
EP_b=spiffe://b.example.org/anchor/bundle-endpoint
for d in a b; do
	sed -i 's/refresh_hint: 300s, signature_validity: 24h/refresh_hint: 2s, signature_validity: 1h/' \
	    "$T/$d/anchor.yaml"
done
# B's keys, in seconds: JWT successors published 30 s after activation
# (active at 40 s, the predecessor gone at 50 s); the bundle-signing
# successor in signer set 2 at 40 s, active at 60 s, its predecessor
# dropped by signer set 3 at 80 s.  The X.509 CA keeps its default
# lifetime, and the endpoint its SVID.
cat >>"$T/b/anchor.yaml" <<CONF
keys:
  jwt:            { lifetime: 40s, prepublish: 10s, overlap: 10s, purge: 1d }
  bundle_signing: { lifetime: 60s, prepublish: 20s, overlap: 20s, purge: 1d }
CONF
check "ceremony of trust domain A" ceremony a "$T0"
check "ceremony of trust domain B" ceremony b "$T0"
cp "$T/a/out/signers-1.jws" "$T/a-signers-1.jws"
cp "$T/b/out/signers-1.jws" "$T/b-signers-1.jws"

# conf NAME PEER_NAME: the endpoint of NAME and its federation with PEER_NAME.
conf() {
	n=$1 p=$2
	eval "port=\$PORT_$n ep=\$EP_$n pport=\$PORT_$p pep=\$EP_$p"
	cat >>"$T/$n/anchor.yaml" <<CONF
federation:
  bundle_endpoint:
    address: 127.0.0.1
    port: $port
    profile: https_spiffe
    endpoint_spiffe_id: "$ep"
    dns_names: [bundles.$n.example.org]
  federates_with:
    $p.example.org:
      bundle_endpoint_url: https://127.0.0.1:$pport/
      bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: "$pep" } }
      signers: $T/$p-signers-1.jws
      allow: ["spiffe://$p.example.org/ns/*"]
CONF
}
conf a b
conf b a
FILE_a="$T/a/state/federated/b.example.org.json"	# B's bundle, at A
FILE_b="$T/b/state/federated/a.example.org.json"	# A's bundle, at B
A="-c $T/a/anchor.yaml"
B="-c $T/b/anchor.yaml"

# The out-of-band exchange: each side's current bundle, and its CA for curl.
"$ANCHORCTL" $A bundle --format spiffe >"$T/a-boot.json"
"$ANCHORCTL" $B bundle --format spiffe >"$T/b-boot.json"
"$ANCHORCTL" $A bundle --format pem >"$T/a-ca.pem"
"$ANCHORCTL" $B bundle --format pem >"$T/b-ca.pem"
check "A bootstraps B's bundle" "$ANCHORCTL" $A federation bootstrap b.example.org \
    --bundle "$T/b-boot.json" --operator alice
assert "which pins B's signer set version 1" \
    grep -q 'b.example.org.*signer set version 1' "$T/last.out" "$T/last.err"
check "B bootstraps A's bundle" "$ANCHORCTL" $B federation bootstrap a.example.org \
    --bundle "$T/a-boot.json" --operator bob
assert "the bootstraps are audited" sh -c \
    "test $(audit_count "$T/a/anchor.yaml" peer.bundle.bootstrap alice) -eq 1 &&
     test $(audit_count "$T/b/anchor.yaml" peer.bundle.bootstrap bob) -eq 1"

check "B's anchord starts with https_spiffe" start_d b
check "A's anchord starts with https_spiffe" start_d a
# svid_uri NAME: the URI SAN of the certificate NAME's endpoint presents,
# verified against NAME's CA.
svid_uri() {
	eval "port=\$PORT_$1"
	openssl s_client -connect "127.0.0.1:$port" -CAfile "$T/$1-ca.pem" \
	    -verify_return_error </dev/null 2>/dev/null |
	    openssl x509 -noout -ext subjectAltName 2>/dev/null | grep -o 'URI:[^, ]*'
}
assert "A's endpoint presents an X509-SVID for $EP_a from A's CA" \
    test "$(svid_uri a)" = "URI:$EP_a"
assert "B's endpoint presents an X509-SVID for $EP_b from B's CA" \
    test "$(svid_uri b)" = "URI:$EP_b"

# The first fetches, by the fetchers alone.
get b / -o "$T/b1.json"
get a / -o "$T/a1.json"
assert "A's fetcher stores B's bundle fetched over https_spiffe" \
    wait_for 20 sh -c "cmp -s '$FILE_a' '$T/b1.json' &&
	test \"\$(sqlite3 '$T/a/state/anchor.db' \"SELECT origin FROM peer_bundles WHERE trust_domain = 'b.example.org'\")\" = fetched"
assert "B's fetcher stores A's bundle fetched over https_spiffe" \
    wait_for 20 sh -c "cmp -s '$FILE_b' '$T/a1.json' &&
	test \"\$(sqlite3 '$T/b/state/anchor.db' \"SELECT origin FROM peer_bundles WHERE trust_domain = 'a.example.org'\")\" = fetched"
seq1=$(seq_of "$T/b1.json")
aseq=$(seq_of "$T/a1.json")
assert "A's /metrics: B's sequence $seq1" \
    wait_for 5 metric_is a 'anchord_peer_sequence{trust_domain="b.example.org"}' "$seq1"
assert "B's /metrics: A's sequence $aseq" \
    wait_for 5 metric_is b 'anchord_peer_sequence{trust_domain="a.example.org"}' "$aseq"

# B rotates at the real clock every 3 s; after each new bundle A's consumer
# file must follow within 10 s.  Bounded: at most 150 s from the ceremony.
last=$seq1 cur=$seq1 n_new=0 fails=0 jwt_seen=1 sv_seen=1
deadline=$((T0 + 150))
while [ "$(date +%s)" -lt "$deadline" ]; do
	sleep 3
	"$ANCHORCTL" $B rotate >>"$T/rotate.out" 2>&1 || {
		fails=$((fails + 1))
		echo "# rotate failed: $(tail -1 "$T/rotate.out")"
	}
	want=$(db_query "$T/b/anchor.yaml" 'SELECT max(sequence) FROM bundles' 2>/dev/null)
	# B's anchord serves a new bundle within a second.
	i=0
	while [ $i -lt 30 ]; do
		get b / -o "$T/cur.json" && cur=$(seq_of "$T/cur.json") &&
		    { [ -z "$want" ] || [ "$cur" -ge "$want" ]; } && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$cur" -ne "$last" ]; then
		n_new=$((n_new + 1))
		if wait_for 10 cmp -s "$FILE_a" "$T/cur.json" &&
		    wait_for 5 metric_is a 'anchord_peer_sequence{trust_domain="b.example.org"}' "$cur"; then
			:
		else
			fails=$((fails + 1))
			echo "# B's sequence $cur did not reach A (A has $(metric a 'anchord_peer_sequence{trust_domain="b.example.org"}'))"
		fi
		[ "$cur" -gt "$last" ] || fails=$((fails + 1))
		last=$cur
		cp "$T/cur.json" "$T/last-b.json"
	fi
	jwt_seen=$(db_query "$T/b/anchor.yaml" "SELECT max(serial) FROM keys WHERE role = 'jwt'")
	sv_seen=$(db_query "$T/b/anchor.yaml" 'SELECT max(version) FROM signer_sets')
	sv_a=$(db_query "$T/a/anchor.yaml" "SELECT signers_version FROM peer_bundles WHERE trust_domain = 'b.example.org'")
	# Done once B's signer set 3 (the old key dropped) has reached A.
	[ "$sv_seen" -ge 3 ] && [ "$sv_a" -ge 3 ] && [ "$jwt_seen" -ge 2 ] && break
done
echo "# after $(( $(date +%s) - T0 )) s: B published $n_new new bundles (sequence $seq1 -> $last), JWT keys $jwt_seen, signer set version $sv_seen; A holds signer set version $sv_a"
assert "B published a new JWT key" test "$jwt_seen" -ge 2
assert "B rolled its bundle-signing key over (signer sets 2 and 3)" test "$sv_seen" -ge 3
assert "B's served bundle changed several times" test "$n_new" -ge 3
assert "A followed every new bundle of B with no manual step" test "$fails" -eq 0
assert "A follows B's signer-set chain to version $sv_seen" test "$sv_a" = "$sv_seen"
assert "B's bundle is now signed by the new key alone" \
    test "$(db_query "$T/b/anchor.yaml" "SELECT state FROM keys WHERE role = 'bundle-signing' AND serial = 1")" = removed
get b /bundle.jws -o "$T/b-last.jws"
get b /signers/2.jws -o "$T/b-signers-2.jws"
get b /signers/3.jws -o "$T/b-signers-3.jws"
check "B's served signed bundle verifies from its signer set 1 through sets 2 and 3" \
    "$top_builddir/anchor-verify" --trust-domain b.example.org --signers "$T/b-signers-1.jws" \
    --signers "$T/b-signers-2.jws" --signers "$T/b-signers-3.jws" "$T/b-last.jws"
get b / -o "$T/b-final.json"
assert "A's consumer file is B's current bundle" cmp -s "$FILE_a" "$T/b-final.json"
assert "A's /metrics: B's sequence rose to $(seq_of "$T/b-final.json")" \
    wait_for 5 metric_is a 'anchord_peer_sequence{trust_domain="b.example.org"}' "$(seq_of "$T/b-final.json")"
assert "A's /metrics: no rejected fetch of B" \
    metric_is a 'anchord_peer_fetch_total{trust_domain="b.example.org",result="rejected"}' 0
assert "A's /metrics: no failure of B now" \
    metric_is a 'anchord_peer_consecutive_failures{trust_domain="b.example.org"}' 0
assert "A audits no rejection" test "$(audit_count "$T/a/anchor.yaml" peer.bundle.rejected)" -eq 0
"$ANCHORCTL" $A federation show b.example.org >"$T/show.json"
assert "anchorctl federation show at A gives the same bytes" cmp -s "$T/show.json" "$T/b-final.json"

# The other way: B still holds A's bundle, fetched over TLS.
get a / -o "$T/a-final.json"
assert "B's consumer file is A's current bundle" cmp -s "$FILE_b" "$T/a-final.json"
assert "B's /metrics: fetches of A keep succeeding" \
    metric_is b 'anchord_peer_consecutive_failures{trust_domain="a.example.org"}' 0
assert "B's /metrics: no rejected fetch of A" \
    metric_is b 'anchord_peer_fetch_total{trust_domain="a.example.org",result="rejected"}' 0
assert "A is healthy" test "$(get a /healthz -o /dev/null -w '%{http_code}')" = 200
assert "B is healthy" test "$(get b /healthz -o /dev/null -w '%{http_code}')" = 200
for n in a b; do
	check "$n's audit chain verifies" "$ANCHORCTL" -c "$T/$n/anchor.yaml" audit verify
done

check "SIGTERM: A's anchord exits 0" stop_d a
check "SIGTERM: B's anchord exits 0" stop_d b
assert "no sanitizer report in the anchord logs" \
    sh -c "! grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' '$T/a/anchord.log' '$T/b/anchord.log'"
fed_finish
