#!/bin/sh
# anchorctl rotate and revoke on a SoftHSM token: nothing to do means no
# output and no change; dry runs change nothing; runs at the same moment do
# the work once; a clock going backwards undoes and republishes nothing;
# revocation takes a key out of the next bundle; the last trusted
# bundle-signing key cannot be revoked.
. "$top_srcdir/tests/lib.sh"

new_token rot
write_config "$T/anchor.yaml" rot.example.com rot
compressed_policy "$T/anchor.yaml"
C="-c $T/anchor.yaml"
T0=1767225600
check "ceremony" "$CEREMONY" $C init --operator op --yes --now $T0 --out-dir "$T/out"

check "rotate with nothing due succeeds" "$ANCHORCTL" $C rotate --now $((T0 + 60))
assert "and prints nothing" test ! -s "$T/last.out"
seq0=$(db_query "$T/anchor.yaml" 'SELECT max(sequence) FROM bundles')

# 20h: the JWT successor (lifetime 1d, prepublish 4h) is due.
sqlite3 "$T/state/anchor.db" .dump >"$T/before.sql"
check "dry run at +20h" "$ANCHORCTL" $C rotate --dry-run --now $((T0 + 20 * 3600))
assert "dry run plans the jwt successor" grep -q 'would generate jwt' "$T/last.out"
sqlite3 "$T/state/anchor.db" .dump >"$T/after.sql"
assert "dry run changes nothing" cmp -s "$T/before.sql" "$T/after.sql"

# Two runs at the same moment: one does the work, the other finds none.
( "$ANCHORCTL" $C rotate --now $((T0 + 20 * 3600)) >"$T/r1.out" 2>&1; echo $? >"$T/r1.rc" ) &
( "$ANCHORCTL" $C rotate --now $((T0 + 20 * 3600)) >"$T/r2.out" 2>&1; echo $? >"$T/r2.rc" ) &
wait
assert "both concurrent runs exit 0" test "$(cat "$T/r1.rc")$(cat "$T/r2.rc")" = 00
assert "exactly one of them generated the successor" \
    test "$(cat "$T/r1.out" "$T/r2.out" | grep -c 'generated anchor/rot.example.com/jwt/2')" -eq 1
assert "one jwt key published, none duplicated" \
    test "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM keys WHERE role = 'jwt'")" -eq 2
assert "one new sequence" \
    test "$(db_query "$T/anchor.yaml" 'SELECT max(sequence) FROM bundles')" -eq $((seq0 + 1))

# The clock goes back 10 hours: nothing undone, nothing published again.
sqlite3 "$T/state/anchor.db" 'SELECT sequence FROM bundles; SELECT kid, state FROM keys' >"$T/before.txt"
check "rotate with the clock 10h back" "$ANCHORCTL" $C rotate --now $((T0 + 10 * 3600))
assert "prints nothing" test ! -s "$T/last.out"
sqlite3 "$T/state/anchor.db" 'SELECT sequence FROM bundles; SELECT kid, state FROM keys' >"$T/after.txt"
assert "and changes no key or bundle" cmp -s "$T/before.txt" "$T/after.txt"

# Early rollover on request.
check "rotate --force x509-ca" "$ANCHORCTL" $C rotate --force x509-ca --now $((T0 + 21 * 3600))
assert "generates a CA successor at once" grep -q 'generated anchor/rot.example.com/x509-ca/2' "$T/last.out"
check_exit 2 "rotate --force nonsense: usage error" "$ANCHORCTL" $C rotate --force nonsense

# Revocation of the active CA key.  First an X509-SVID issued by it (with
# OpenSSL's PKCS#11 engine at the simulated time), valid against the bundle.
ca1=$(db_query "$T/anchor.yaml" "SELECT kid FROM keys WHERE role = 'x509-ca' AND serial = 1")
ca1id=$(db_query "$T/anchor.yaml" "SELECT hex(ckaid) FROM keys WHERE kid = '$ca1'" | sed 's/../%&/g')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/svid.key" -subj "/O=SPIRE" -out "$T/svid.csr" 2>/dev/null
printf 'subjectAltName=URI:spiffe://rot.example.com/ns/prod/sa/web\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$T/svid.ext"
at=$(date -u -d @$((T0 + 21 * 3600)) '+%Y-%m-%d %H:%M:%S')
check "an SVID is issued by the active CA key in the token" env PKCS11_MODULE_PATH="$SOFTHSM_MODULE" \
    faketime -f "@$at" openssl x509 -req -in "$T/svid.csr" -engine pkcs11 -CAkeyform engine \
    -CAkey "pkcs11:token=rot;id=$ca1id;type=private;pin-value=$(cat "$T/pin")" \
    -CA "$T/out/ca-1.pem" -CAcreateserial -CAserial "$T/srl" -days 1 \
    -extfile "$T/svid.ext" -out "$T/svid.pem"
"$ANCHORCTL" $C bundle --format pem >"$T/pem-before.pem"
check "the SVID verifies against the bundle before the revocation" \
    openssl verify -attime $((T0 + 22 * 3600)) -CAfile "$T/pem-before.pem" "$T/svid.pem"
check "revoke the active CA key" "$ANCHORCTL" $C revoke --key "$ca1" \
    --reason "key compromise drill" --operator alice --now $((T0 + 22 * 3600))
assert "its successor is activated" grep -q 'activated anchor/rot.example.com/x509-ca/2' "$T/last.out"
"$ANCHORCTL" $C bundle --format pem >"$T/pem-after.pem"
"$ANCHORCTL" $C bundle --format spiffe >"$T/bundle.json"
check_fails "the SVID no longer verifies against the new bundle" \
    openssl verify -attime $((T0 + 22 * 3600)) -CAfile "$T/pem-after.pem" "$T/svid.pem"
assert "the revoked CA is out of the next bundle" \
    test "$(grep -c 'BEGIN CERTIFICATE' "$T/pem-after.pem")" -eq 1
assert "and the SPIFFE bundle has one x509 authority" \
    test "$(grep -o 'x509-svid' "$T/bundle.json" | wc -l)" -eq 1
assert "the revocation is audited with reason and operator" \
    test "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM audit WHERE event = 'key.revocation' AND record LIKE '%key compromise drill%' AND record LIKE '%alice%'")" -eq 1
check_fails "revoking it again is refused" "$ANCHORCTL" $C revoke --key "$ca1" --reason again
check_fails "revoking an unknown kid is refused" "$ANCHORCTL" $C revoke --key nosuchkid --reason x

# The only bundle-signing key cannot be revoked.
bs1=$(db_query "$T/anchor.yaml" "SELECT kid FROM keys WHERE role = 'bundle-signing'")
check_fails "revoking the last trusted bundle-signing key is refused" \
    "$ANCHORCTL" $C revoke --key "$bs1" --reason test --now $((T0 + 23 * 3600))
assert "the refusal says why" grep -q 'last bundle-signing key' "$T/last.err"
assert "and one active key per role remains" \
    test "$(db_query "$T/anchor.yaml" "SELECT count(*) FROM keys WHERE state = 'active'")" -eq 3

# The timeline: past and scheduled states of every key, successors included.
check "status --timeline" "$ANCHORCTL" $C status --timeline --days 8 --now $((T0 + 23 * 3600))
assert "timeline shows the revoked CA with an x" grep -Eq '^x509-ca 1 +[-#=]*x' "$T/last.out"
assert "timeline shows scheduled successors" grep -q '^jwt 3 (next)' "$T/last.out"
check "status --timeline --json" sh -c "'$ANCHORCTL' $C status --timeline --json --days 8 --now $((T0 + 23 * 3600)) >'$T/tl.json'"
check "the JSON timeline keeps every active span after its published span" $PY - "$T/tl.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timeline"]
assert any(k["projected"] for k in t)
for k in t:
    s = {x["state"]: x for x in k["spans"]}
    if "active" in s and "published" in s and k["serial"] > 1:
        assert s["active"]["from"] >= s["published"]["to"], k
        assert s["active"]["from"] - s["published"]["from"] >= 4 * 3600 or k["role"] != "jwt", k
PY
finish
