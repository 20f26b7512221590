#!/bin/bash
# An adversarial bundle endpoint.  Trust domain A federates with B (signed
# bundle over plain http, B's signer set pinned), with C (a plain SPIFFE
# bundle over https_web, as a SPIRE server serves it) and with D (plain,
# at first without spiffe_sequence).  The endpoints serve, in turn: a
# bundle signed by an unknown key (also with a forged signer set), an older
# sequence, the same sequence with other content, an expired signature,
# another trust domain's bundle, 2 MiB, a slow drip beyond the timeout, a
# redirect to another scheme, a 500, a connection closed with nothing.
# Each is refused; the last good bundle stays (consumer file and `show`
# unchanged); the audit log records why; `anchorctl audit verify` passes.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/federation-lib.sh"

FORGE="$top_srcdir/tests/peer-forge.py"
T0=1767225600
make_domain a a.example.org
make_domain b b.example.org
check "ceremony of trust domain A" ceremony a $T0
check "ceremony of trust domain B" ceremony b $T0
check "B publishes" publish b
check "B's endpoint (http)" start_server B "$T/b/www"
cp "$T/b/out/signers-1.jws" "$T/b-signers-1.jws"

# C and D: plain bundles behind a test CA's certificate.
# Certificates valid at the simulated time.
then="$(date -u -d @$((T0 - 86400)) '+%Y-%m-%d %H:%M:%S')"
check "a test CA" faketime -f "@$then" openssl req -x509 -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" \
    -days 3650 -subj "/CN=Test CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/web.key" \
    -subj "/CN=127.0.0.1" -out "$T/web.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' >"$T/web.ext"
check "a certificate for the https endpoint" faketime -f "@$then" \
    openssl x509 -req -in "$T/web.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -CAserial "$T/ca.srl" -days 3650 -extfile "$T/web.ext" -out "$T/web.pem"
mkdir -p "$T/c/www/d"
$PY "$FORGE" plain --from "$T/b/www/bundle.json" --seq 10 "$T/c/www/bundle.json"
$PY "$FORGE" plain --from "$T/b/www/bundle.json" --no-seq "$T/c/www/d/bundle.json"
check "C's and D's endpoint (https_web)" start_server C "$T/c/www" --cert "$T/web.pem" --key "$T/web.key"

cat >>"$T/a/anchor.yaml" <<CONF
federation:
  allow_insecure_http: true
  federates_with:
    b.example.org:
      bundle_endpoint_url: http://127.0.0.1:$PORT_B
      signers: $T/b-signers-1.jws
CONF
A="-c $T/a/anchor.yaml"
B="-c $T/b/anchor.yaml"
ADB="$T/a/anchor.yaml"
check "add C (https_web, test CA)" "$ANCHORCTL" $A federation add c.example.org \
    --url "https://127.0.0.1:$PORT_C/bundle.json" --ca-file "$T/ca.pem" --now $T0
check "add D (https_web, test CA)" "$ANCHORCTL" $A federation add d.example.org \
    --url "https://127.0.0.1:$PORT_C/d/bundle.json" --ca-file "$T/ca.pem" --now $T0
check "the first refresh takes all three" "$ANCHORCTL" $A federation refresh --now $((T0 + 60))
assert "B accepted" grep -q '^b.example.org: accepted sequence 1, signer set version 1' "$T/last.out"
assert "C accepted" grep -q '^c.example.org: accepted sequence 10$' "$T/last.out"
assert "D accepted without a sequence" grep -q '^d.example.org: accepted (no sequence)$' "$T/last.out"

# refused DESCRIPTION TD PATTERN [REFRESH OPTIONS...]: the next refresh of TD
# is refused for a reason matching PATTERN; the consumer file and show are
# unchanged; one rejection record says why; the audit chain verifies.
refused() {
	local what=$1 td=$2 pattern=$3 f last
	shift 3
	f="$T/a/state/federated/$td.json"
	cp "$f" "$T/file-before"
	"$ANCHORCTL" $A federation show "$td" >"$T/show-before"
	"$ANCHORCTL" $A federation show "$td" --format pem >"$T/pem-before"
	last=$(db_query "$ADB" 'SELECT max(seq) FROM audit')
	check_exit 1 "$what: refused" "$ANCHORCTL" $A federation refresh "$td" "$@"
	sed -n "s/^$td: rejected: /# /p" "$T/last.out"
	if grep -Eq "^$td: rejected: .*$pattern" "$T/last.out"; then
		ok "$what: because $pattern"
	else
		not_ok "$what: because $pattern"
		sed 's/^/# /' "$T/last.out" "$T/last.err"
	fi
	assert "$what: the consumer file is unchanged" cmp -s "$f" "$T/file-before"
	"$ANCHORCTL" $A federation show "$td" >"$T/show-after"
	"$ANCHORCTL" $A federation show "$td" --format pem >"$T/pem-after"
	assert "$what: show is unchanged" cmp -s "$T/show-before" "$T/show-after"
	assert "$what: show --format pem too" cmp -s "$T/pem-before" "$T/pem-after"
	db_query "$ADB" "SELECT json_extract(record, '\$.data.trust_domain') || ': ' ||
	    json_extract(record, '\$.data.reason') FROM audit
	    WHERE seq > $last AND event = 'peer.bundle.rejected'" >"$T/rej"
	if [ "$(wc -l <"$T/rej")" -eq 1 ] && grep -Eq "^$td: .*$pattern" "$T/rej"; then
		ok "$what: audited with the reason"
	else
		not_ok "$what: audited with the reason"
		sed 's/^/# /' "$T/rej"
	fi
	check "$what: the audit chain verifies" "$ANCHORCTL" $A audit verify
}

# ---- B: signed bundle over http ----
"$ANCHORCTL" $B bundle --format jws >"$T/b-seq1.jws"
check "B publishes sequence 2 (early JWT rollover)" "$ANCHORCTL" $B rotate --force jwt --now $((T0 + 600))
check "and its mirror has it" publish b
check "A takes sequence 2" "$ANCHORCTL" $A federation refresh b.example.org --now $((T0 + 660))
assert "accepted" grep -q '^b.example.org: accepted sequence 2' "$T/last.out"
now=$((T0 + 720))
export FORGE_MODULE="$SOFTHSM_MODULE" FORGE_TOKEN=b FORGE_PIN_FILE="$T/b/pin"
$PY "$top_srcdir/tests/forge.py" keygen "$T/attacker.pem"
BKEY=hsm:anchor/b.example.org/bundle-signing/1

$PY "$FORGE" bundle --from "$T/b/www/bundle.jws" --key "pem:$T/attacker.pem" --seq 3 "$T/x-unknown.jws"
serve B file /bundle.jws "$T/x-unknown.jws"
refused "a bundle signed by an unknown key" b.example.org 'R6.*no newer signer set' --now $now
assert "A looked for a newer signer set" grep -q 'GET /signers/2.jws 404' "$T/B.log"
$PY "$FORGE" signers --td b.example.org --version 2 --min-sequence 3 --key "pem:$T/attacker.pem" "$T/x-signers-2.jws"
serve B file /bundle.jws "$T/x-unknown.jws" /signers/2.jws "$T/x-signers-2.jws"
refused "and with a forged signer set version 2" b.example.org 'signers/2.jws: .*threshold' --now $now

serve B file /bundle.jws "$T/b-seq1.jws"
refused "an older sequence (B's genuine sequence 1)" b.example.org 'R14' --now $now

$PY "$FORGE" bundle --from "$T/b/www/bundle.jws" --key "$BKEY" --set spiffe_refresh_hint=60 "$T/x-equivocate.jws"
serve B file /bundle.jws "$T/x-equivocate.jws"
refused "the same sequence with other content (B's real key)" b.example.org 'R14' --now $now

serve B normal
exp=$($PY -c 'import json,sys,base64; h=json.load(open(sys.argv[1]))["signatures"][0]["protected"]; print(json.loads(base64.urlsafe_b64decode(h+"="*(-len(h)%4)))["exp"])' "$T/b/www/bundle.jws")
refused "an expired signature (B's bundle, frozen)" b.example.org 'R13' --now $((exp + 60))

"$ANCHORCTL" $A bundle --format jws >"$T/a-bundle.jws"
serve B file /bundle.jws "$T/a-bundle.jws"
refused "another trust domain's bundle (A's own)" b.example.org 'R6' --now $now
$PY "$FORGE" bundle --from "$T/b/www/bundle.jws" --key "$BKEY" --td c.example.org --seq 3 "$T/x-other-td.jws"
serve B file /bundle.jws "$T/x-other-td.jws"
refused "a bundle naming another trust domain, signed by B's real key" b.example.org 'R12' --now $now

serve B big
refused "2 MiB with a Content-Length" b.example.org 'larger than 1048576 bytes' --now $now
serve B big chunked
refused "2 MiB chunked" b.example.org 'larger than 1048576 bytes' --now $now

serve B drip
start=$(date +%s)
refused "a slow drip beyond the total timeout" b.example.org 'timed out' --now $now --timeout 2
assert "the drip was cut after the timeout" test $(($(date +%s) - start)) -lt 20

serve B redirect "https://127.0.0.1:$PORT_C"
refused "a redirect from http:// to https://" b.example.org 'redirect to .* refused: only' --now $now
serve B redirect "http://127.0.0.1:$PORT_B"
refused "a redirect loop" b.example.org 'Maximum \(3\) redirects' --now $now
serve B status 500
refused "a 500" b.example.org 'HTTP status 500' --now $now
check_exit 1 "the same 500 again" "$ANCHORCTL" $A federation refresh b.example.org --now $((now + 60))
assert "is counted" test "$(db_query "$ADB" "SELECT failures FROM peers WHERE trust_domain = 'b.example.org'")" -ge 2
assert "but not audited a second time" test "$(audit_count "$ADB" peer.bundle.rejected 'HTTP status 500')" -eq 1
serve B close
refused "a connection closed with nothing" b.example.org 'Empty reply' --now $now

# A redirect in the same scheme is followed, and not remembered.
serve B redirect "http://127.0.0.1:$PORT_B/mirror"
check "a redirect to a mirror in the same scheme is followed" "$ANCHORCTL" $A federation refresh b.example.org --now $now
assert "the bundle is unchanged" grep -q '^b.example.org: unchanged sequence 2' "$T/last.out"
assert "it came from the mirror" grep -q 'GET /mirror/bundle.jws 200' "$T/B.log"
serve B normal
: >"$T/B.log"
check "the next refresh" "$ANCHORCTL" $A federation refresh b.example.org --now $now
assert "goes to the configured URL again" grep -q '^GET /bundle.jws 200' "$T/B.log"
assert "and resets the failure count" test "$(db_query "$ADB" "SELECT failures FROM peers WHERE trust_domain = 'b.example.org'")" -eq 0

# ---- C: plain bundle over https_web ----
$PY "$FORGE" plain --from "$T/c/www/bundle.json" --seq 9 "$T/c-9.json"
serve C file /bundle.json "$T/c-9.json"
refused "C: an older sequence" c.example.org 'rollback: sequence 9 is lower than the stored 10' --now $now
$PY "$FORGE" plain --from "$T/c/www/bundle.json" --set spiffe_refresh_hint=60 "$T/c-10b.json"
serve C file /bundle.json "$T/c-10b.json"
refused "C: the same sequence with other content" c.example.org 'equivocation: sequence 10' --now $now
$PY "$FORGE" plain --from "$T/c/www/bundle.json" --no-seq "$T/c-noseq.json"
serve C file /bundle.json "$T/c-noseq.json"
refused "C: a bundle that drops its sequence" c.example.org 'no spiffe_sequence, but the stored bundle has sequence 10' --now $now
printf '{"keys":[],"keys":[]}' >"$T/c-dup.json"
serve C file /bundle.json "$T/c-dup.json"
refused "C: duplicate members" c.example.org 'not a SPIFFE bundle: R2' --now $now
printf 'not json' >"$T/c-junk.json"
serve C file /bundle.json "$T/c-junk.json"
refused "C: not JSON" c.example.org 'not a SPIFFE bundle' --now $now
serve C redirect "http://127.0.0.1:$PORT_B"
refused "C: a redirect to http://" c.example.org 'redirect to .* refused: only' --now $now
serve C big
refused "C: 2 MiB over TLS" c.example.org 'larger than 1048576 bytes' --now $now
serve C status 503
refused "C: a 503" c.example.org 'HTTP status 503' --now $now
$PY "$FORGE" plain --from "$T/c/www/bundle.json" --seq 11 "$T/c-11.json"
serve C file /bundle.json "$T/c-11.json"
check "C: a newer sequence is accepted" "$ANCHORCTL" $A federation refresh c.example.org --now $now
assert "sequence 11" grep -q '^c.example.org: accepted sequence 11$' "$T/last.out"
assert "into the consumer file" cmp -s "$T/a/state/federated/c.example.org.json" "$T/c-11.json"
assert "the database refuses a lower sequence itself" \
    sh -c "! sqlite3 '$T/a/state/anchor.db' \"UPDATE peer_bundles SET sequence = 5 WHERE trust_domain = 'c.example.org'\" 2>/dev/null"

# ---- D: a plain bundle without spiffe_sequence ----
serve C normal
$PY "$FORGE" plain --from "$T/c/www/d/bundle.json" --set spiffe_refresh_hint=120 "$T/c/www/d/bundle.json"
check "D: without a sequence the latest bundle is taken" "$ANCHORCTL" $A federation refresh d.example.org --now $now
assert "accepted" grep -q '^d.example.org: accepted (no sequence)$' "$T/last.out"
$PY "$FORGE" plain --from "$T/c/www/d/bundle.json" --seq 4 "$T/c/www/d/bundle.json"
check "D: a bundle with a sequence" "$ANCHORCTL" $A federation refresh d.example.org --now $now
assert "accepted" grep -q '^d.example.org: accepted sequence 4$' "$T/last.out"
$PY "$FORGE" plain --from "$T/c/www/d/bundle.json" --no-seq "$T/c/www/d/bundle.json"
refused "D: then one without a sequence again" d.example.org 'no spiffe_sequence' --now $now

check "list" "$ANCHORCTL" $A federation list
assert "shows B ok, C ok, D failing" sh -c "grep -q '^b.example.org .* ok$' '$T/last.out' &&
    grep -q '^c.example.org .* ok$' '$T/last.out' && grep -q '^d.example.org .*failing (1)' '$T/last.out'"
check "list --json" sh -c "'$ANCHORCTL' $A federation list --json >'$T/list.json'"
check "carries the status for monitoring" $PY - "$T/list.json" <<'PY'
import json, sys
peers = {p["trust_domain"]: p for p in json.load(open(sys.argv[1]))}
assert set(peers) == {"b.example.org", "c.example.org", "d.example.org"}, peers
d = peers["d.example.org"]["status"]
assert d["consecutive_failures"] == 1 and "no spiffe_sequence" in d["last_error"], d
assert peers["b.example.org"]["bundle"]["sequence"] == 2
assert peers["c.example.org"]["bundle"]["sequence"] == 11
PY
total=$(audit_count "$ADB" peer.bundle.rejected)
echo "# $total rejections audited"
check "A's audit chain verifies at the end" "$ANCHORCTL" $A audit verify
fed_finish
