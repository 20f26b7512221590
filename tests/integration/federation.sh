#!/bin/bash
# Federation between two trust domains made here, each with its own SoftHSM
# token and state.  A federates with B, whose signed bundle comes from a
# plain http mirror (signers pinned, allow_insecure_http).  A follows B for
# 19 simulated days of rotations at compressed lifetimes, through two
# bundle-signing rollovers, the second while A was not refreshing, with no
# manual step.  Removal takes B out of the consumer file and `show` at once
# and is audited; a removed configuration peer stays removed until added
# back.  Bad input is refused clearly and stores nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/federation-lib.sh"

T0=1767225600
H=3600
DAY=86400
make_domain a a.example.org
make_domain b b.example.org
compressed_policy "$T/b/anchor.yaml"
check "ceremony of trust domain A" ceremony a $T0
check "ceremony of trust domain B" ceremony b $T0
check "B publishes its bundle and signer set to a mirror" publish b
check "B's mirror serves on 127.0.0.1" start_server B "$T/b/www"

# Out of band: B hands its signer set version 1 and its fingerprint to A.
cp "$T/b/out/signers-1.jws" "$T/b-signers-1.jws"
fp=$($PY - "$T/b-signers-1.jws" <<'PY'
import base64, hashlib, json, sys
p = json.load(open(sys.argv[1]))["payload"]
h = hashlib.sha256(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).hexdigest()
print(" ".join(h[i:i + 4] for i in range(0, 64, 4)))
PY
)
cat >>"$T/a/anchor.yaml" <<CONF
federation:
  allow_insecure_http: true
  federates_with:
    b.example.org:
      bundle_endpoint_url: http://127.0.0.1:$PORT_B/
      signers: $T/b-signers-1.jws
      allow: ["spiffe://b.example.org/ns/payments/*"]
CONF
A="-c $T/a/anchor.yaml"
B="-c $T/b/anchor.yaml"
FILE="$T/a/state/federated/b.example.org.json"

check "list before any writer run names the configured peer" "$ANCHORCTL" $A federation list
assert "as not taken in yet" grep -q 'b.example.org.*not taken in yet' "$T/last.out"

# The first refresh: B's bundle is verified against the pinned signer set.
check "A's first refresh" "$ANCHORCTL" $A federation refresh --now $((T0 + 60))
assert "reports B's sequence 1 accepted" grep -q '^b.example.org: accepted sequence 1, signer set version 1' "$T/last.out"
assert "the peer was taken from the configuration" grep -q 'b.example.org: added from' "$T/last.err"
assert "naming the pinned fingerprint" grep -q "signer set version 1 pinned, fingerprint $fp" "$T/last.err"
assert "which is the one B's ceremony read aloud" grep -q "$fp" "$T/b/ceremony.out"
assert "the consumer file holds B's bundle" cmp -s "$FILE" "$T/b/www/bundle.json"
assert "and is readable by a local SPIRE server (0644)" test "$(stat -c %a "$FILE")" = 644
"$ANCHORCTL" $A federation show b.example.org >"$T/show.json"
assert "show (spiffe) gives the same bytes" cmp -s "$T/show.json" "$T/b/www/bundle.json"
"$ANCHORCTL" $A federation show b.example.org --format pem >"$T/show.pem"
"$ANCHORCTL" $B bundle --format pem >"$T/b.pem"
assert "show --format pem gives B's CA certificates" cmp -s "$T/show.pem" "$T/b.pem"
check "show --format json" sh -c "'$ANCHORCTL' $A federation show b.example.org --format json >'$T/show-meta.json'"
check "which names the pinned fingerprint, sequence and allow patterns" $PY - "$T/show-meta.json" "$fp" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["trust_domain"] == "b.example.org" and o["source"] == "config", o
assert o["signers"]["pinned_fingerprint"] == sys.argv[2], o["signers"]
assert o["signers"]["version"] == 1 and o["bundle"]["sequence"] == 1, o
assert o["allow"] == ["spiffe://b.example.org/ns/payments/*"], o["allow"]
assert o["status"]["consecutive_failures"] == 0 and o["status"]["last_success"], o
assert len(o["bundle"]["x509_authorities"]) == 1 and len(o["bundle"]["jwt_authorities"]) == 1
PY
bca=$(db_query "$T/b/anchor.yaml" "SELECT kid FROM keys WHERE role = 'x509-ca' AND serial = 1")
assert "the addition is audited with the pinned fingerprint" \
    test "$(audit_count "$T/a/anchor.yaml" federation.added "$fp")" -eq 1
assert "the acceptance is audited with domain, sequence and B's key ids" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT count(*) FROM audit WHERE event = 'peer.bundle.accepted' AND record LIKE '%\"trust_domain\":\"b.example.org\"%' AND record LIKE '%\"sequence\":1,%' AND record LIKE '%$bca%'")" -eq 1
check "a second refresh at once" "$ANCHORCTL" $A federation refresh --now $((T0 + 120))
assert "finds it unchanged" grep -q '^b.example.org: unchanged sequence 1' "$T/last.out"
assert "and audits no second acceptance" test "$(audit_count "$T/a/anchor.yaml" peer.bundle.accepted)" -eq 1

# 19 days in 6-hour steps: B rotates and publishes; A refreshes, except
# from day 12 to day 18.5, while B's second bundle-signing rollover runs
# (its signer set moves from version 3 to 5).
steps=0 refreshes=0 failures=0 mismatches=0 skipped=0 changes=0
first_bad="" last_sha=$(sha256sum <"$T/b/www/bundle.json")
for ((h = 6; h <= 19 * 24; h += 6)); do
	t=$((T0 + h * H))
	steps=$((steps + 1))
	if ! "$ANCHORCTL" $B rotate --now $t >"$T/rot.out" 2>&1 || ! publish b; then
		first_bad=${first_bad:-"B's rotation or publication failed at hour $h: $(tail -1 "$T/rot.out")"}
		break
	fi
	sha=$(sha256sum <"$T/b/www/bundle.json")
	if [ "$sha" != "$last_sha" ]; then
		changes=$((changes + 1))
		last_sha=$sha
	fi
	if ((h > 12 * 24 && h < 18 * 24 + 12)); then
		skipped=$((skipped + 1))
		continue
	fi
	refreshes=$((refreshes + 1))
	if ! "$ANCHORCTL" $A federation refresh --now $t >"$T/ref.out" 2>&1; then
		failures=$((failures + 1))
		first_bad=${first_bad:-"hour $h: $(cat "$T/ref.out")"}
	elif ! cmp -s "$FILE" "$T/b/www/bundle.json"; then
		mismatches=$((mismatches + 1))
		first_bad=${first_bad:-"hour $h: the consumer file is not B's bundle"}
	fi
done
[ -n "$first_bad" ] && echo "# first problem: $first_bad"
echo "# $steps steps, $refreshes refreshes by A, $skipped skipped, $changes bundle changes at B"
assert "B rotated for 19 days" test "$steps" -eq 76
b_signers=$(db_query "$T/b/anchor.yaml" 'SELECT max(version) FROM signer_sets')
assert "B went through two bundle-signing rollovers (signer set version $b_signers)" test "$b_signers" -ge 5
assert "every refresh of A succeeded with no manual step" test "$failures" -eq 0 -a "$refreshes" -gt 40
assert "after each, A's consumer file was B's current bundle" test "$mismatches" -eq 0
check "show --format json at the end" sh -c "'$ANCHORCTL' $A federation show b.example.org --format json >'$T/end.json'"
assert "A follows B's latest signer set version" \
    test "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["signers"]["version"])' "$T/end.json")" -eq "$b_signers"
assert "A fetched signer sets 2 and 3 for the first rollover" \
    test "$(grep -c 'GET /signers/[23].jws 200' "$T/B.log")" -eq 2
assert "and 4 and 5 in one refresh after the missed one" \
    test "$(grep -c 'GET /signers/[45].jws 200' "$T/B.log")" -eq 2
assert "no bundle of B was rejected" test "$(audit_count "$T/a/anchor.yaml" peer.bundle.rejected)" -eq 0
assert "each new bundle of B that A saw was audited once" \
    test "$(audit_count "$T/a/anchor.yaml" peer.bundle.accepted)" -ge 20
b_seq=$(db_query "$T/b/anchor.yaml" 'SELECT max(sequence) FROM bundles')
assert "A stores B's latest sequence ($b_seq)" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT sequence FROM peer_bundles WHERE trust_domain = 'b.example.org'")" -eq "$b_seq"
check "A's audit chain verifies" "$ANCHORCTL" $A audit verify
check "list" "$ANCHORCTL" $A federation list
assert "shows B ok at signer set version $b_signers" grep -Eq "^b.example.org +config +https_web +v$b_signers +$b_seq .* ok$" "$T/last.out"

# Removal: at once, audited with domain, reason and operator.
tend=$((T0 + 19 * DAY + 60))
check "federation remove" "$ANCHORCTL" $A federation remove b.example.org \
    --reason "partner offboarded" --operator alice --now $tend
assert "the consumer file is gone" test ! -e "$FILE"
check_fails "show refuses the removed peer" "$ANCHORCTL" $A federation show b.example.org
assert "saying it was removed" grep -q 'b.example.org was removed on' "$T/last.err"
assert "the removal is audited with domain, reason and operator" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT count(*) FROM audit WHERE event = 'federation.removed' AND record LIKE '%\"operator\":\"alice\"%' AND record LIKE '%\"reason\":\"partner offboarded\"%' AND record LIKE '%\"trust_domain\":\"b.example.org\"%'")" -eq 1
assert "no bundle of B is stored any more" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT count(*) FROM peer_bundles")" -eq 0
requests=$(wc -l <"$T/B.log")
check "a refresh after the removal" "$ANCHORCTL" $A federation refresh --now $((tend + 60))
assert "warns that the configured peer stays removed" grep -q 'b.example.org was removed on .* stays removed although' "$T/last.err"
assert "and fetches nothing from B" test "$(wc -l <"$T/B.log")" -eq "$requests"
assert "nor brings the consumer file back" test ! -e "$FILE"
check "list" "$ANCHORCTL" $A federation list
assert "shows B removed with the reason" grep -q 'b.example.org .*removed .*partner offboarded' "$T/last.out"
check_fails "removing it again is refused" "$ANCHORCTL" $A federation remove b.example.org --reason again

# Added back from the configuration: pinned again at version 1, A follows
# the chain to B's current signer set in one refresh.
check "federation add brings the configured peer back" "$ANCHORCTL" $A federation add b.example.org --operator alice --now $((tend + 120))
check "refresh" "$ANCHORCTL" $A federation refresh b.example.org --now $((tend + 180))
assert "accepts B's current bundle under signer set version $b_signers" \
    grep -q "^b.example.org: accepted sequence $b_seq, signer set version $b_signers" "$T/last.out"
assert "the consumer file is back" cmp -s "$FILE" "$T/b/www/bundle.json"

# Bad input: clear errors, nothing stored.
audit_before=$(db_query "$T/a/anchor.yaml" 'SELECT count(*) FROM audit')
check_exit 1 "show of an unknown trust domain" "$ANCHORCTL" $A federation show c.example.org
assert "says there is no such peer" grep -q 'no peer c.example.org' "$T/last.err"
check_exit 1 "remove of an unknown trust domain" "$ANCHORCTL" $A federation remove c.example.org --reason x
assert "says there is no such peer" grep -q 'no peer c.example.org' "$T/last.err"
check_exit 1 "adding our own trust domain" "$ANCHORCTL" $A federation add a.example.org --url https://127.0.0.1:1/
assert "is refused as our own" grep -q 'our own trust domain' "$T/last.err"
check_exit 1 "an http:// URL without signers" "$ANCHORCTL" $A federation add c.example.org --url "http://127.0.0.1:$PORT_B/"
assert "is refused" grep -q 'http:// URL is accepted only for a peer with signers' "$T/last.err"
check_exit 1 "a signers file of another trust domain" "$ANCHORCTL" $A federation add c.example.org \
    --url "http://127.0.0.1:$PORT_B/" --signers "$T/b-signers-1.jws"
assert "is refused naming both" grep -q 'not a signer set of c.example.org' "$T/last.err"
echo "# $(cat "$T/last.err")"
check_exit 1 "an endpoint SPIFFE ID of another trust domain" "$ANCHORCTL" $A federation add c.example.org \
    --url https://127.0.0.1:1/ --profile https_spiffe --endpoint-id spiffe://b.example.org/server
assert "is refused (trust is not transitive)" grep -q 'only self-serving' "$T/last.err"
check_exit 1 "an allow pattern outside the peer's domain" "$ANCHORCTL" $A federation add c.example.org \
    --url https://127.0.0.1:1/ --allow 'spiffe://b.example.org/*'
assert "is refused" grep -q 'not a SPIFFE ID pattern in trust domain c.example.org' "$T/last.err"
check_exit 1 "a URL with userinfo" "$ANCHORCTL" $A federation add c.example.org --url https://u:p@127.0.0.1:1/
check_exit 1 "a profile that does not exist" "$ANCHORCTL" $A federation add c.example.org --url https://127.0.0.1:1/ --profile spiffe
check_exit 1 "an invalid trust domain name" "$ANCHORCTL" $A federation add 'C.Example' --url https://127.0.0.1:1/
check_exit 1 "a configured peer with other parameters" "$ANCHORCTL" $A federation add b.example.org --url https://127.0.0.1:1/
assert "is sent to the configuration" grep -q 'is configured in' "$T/last.err"
check_exit 2 "show without a trust domain is a usage error" "$ANCHORCTL" $A federation show
check_exit 2 "remove without a reason is a usage error" "$ANCHORCTL" $A federation remove b.example.org
check_exit 2 "an unknown subcommand is a usage error" "$ANCHORCTL" $A federation frobnicate
assert "nothing was stored for c.example.org or a.example.org" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT count(*) FROM peers WHERE trust_domain <> 'b.example.org'")" -eq 0
assert "and nothing audited" test "$(db_query "$T/a/anchor.yaml" 'SELECT count(*) FROM audit')" -eq "$audit_before"
assert "the database refuses our own trust domain as a peer too" \
    sh -c "! sqlite3 '$T/a/state/anchor.db' \"INSERT INTO peers (trust_domain, url, profile, source, added_at) VALUES ('a.example.org', 'https://x/', 'https_web', 'cli', 1)\" 2>/dev/null"
assert "and an http:// peer without signers" \
    sh -c "! sqlite3 '$T/a/state/anchor.db' \"INSERT INTO peers (trust_domain, url, profile, source, added_at) VALUES ('d.example.org', 'http://x/', 'https_web', 'cli', 1)\" 2>/dev/null"

# The same signers file given for c.example.org in the configuration.
cp "$T/a/anchor.yaml" "$T/a/with-c.yaml"
printf '    c.example.org:\n      bundle_endpoint_url: http://127.0.0.1:%s/\n      signers: %s\n' \
    "$PORT_B" "$T/b-signers-1.jws" >>"$T/a/with-c.yaml"
check_exit 1 "a configured peer whose signers file is another domain's" \
    "$ANCHORCTL" -c "$T/a/with-c.yaml" federation refresh --now $((tend + 240))
assert "is reported with the file and the reason" \
    grep -q "error: peer c.example.org in $T/a/with-c.yaml: signers file .* is not a signer set of c.example.org" "$T/last.err"
assert "while B is still refreshed" grep -q '^b.example.org: unchanged' "$T/last.out"
assert "and c.example.org is not stored" \
    test "$(db_query "$T/a/anchor.yaml" "SELECT count(*) FROM peers WHERE trust_domain = 'c.example.org'")" -eq 0

# Without allow_insecure_http, http:// is refused even with signers; and the
# configured peer that left the configuration is removed.
sed '/^federation:/,$d' "$T/a/anchor.yaml" >"$T/a/strict.yaml"
check_exit 1 "an http:// URL without allow_insecure_http" "$ANCHORCTL" -c "$T/a/strict.yaml" federation add c.example.org \
    --url "http://127.0.0.1:$PORT_B/" --signers "$T/b-signers-1.jws"
assert "is refused naming the setting" grep -q 'allow_insecure_http' "$T/last.err"
assert "the configured peer that left the configuration was removed" \
    test "$(audit_count "$T/a/anchor.yaml" federation.removed 'no longer in the configuration')" -eq 1
assert "with its consumer file" test ! -e "$FILE"
check "A's audit chain still verifies" "$ANCHORCTL" $A audit verify
check "B's audit chain verifies" "$ANCHORCTL" $B audit verify
fed_finish
