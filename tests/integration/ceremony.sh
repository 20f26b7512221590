#!/bin/sh
# The key ceremony end to end on a private SoftHSM token, checked with
# tools that are not anchor's own: openssl, jwcrypto, sqlite3.
. "$top_srcdir/tests/lib.sh"

new_token anchor-test
write_config "$T/anchor.yaml" prod.example.com anchor-test
C="-c $T/anchor.yaml"
NOW=1767225600

check "ceremony init runs" "$CEREMONY" $C init --operator "Alice Operator" \
    --witness "Bob Witness" --witness "Carol Witness" --yes --now $NOW \
    --out-dir "$T/out"
cp "$T/last.out" "$T/ceremony.out"
assert "ceremony prints the signer-set fingerprint" \
    grep -Eq '^    ([0-9a-f]{4} ){15}[0-9a-f]{4}$' "$T/ceremony.out"
assert "ceremony wrote signer set 1, CA certificate and transcript" \
    test -s "$T/out/signers-1.jws" -a -s "$T/out/ca-1.pem" -a \
    -s "$T/out/transcript-$NOW.json"

# The CA certificate, checked by OpenSSL.
check "CA certificate passes openssl verify -x509_strict" \
    openssl verify -x509_strict -check_ss_sig -attime $((NOW + 60)) -CAfile "$T/out/ca-1.pem" "$T/out/ca-1.pem"
openssl x509 -in "$T/out/ca-1.pem" -noout -ext subjectAltName,basicConstraints,keyUsage \
    >"$T/ext.txt" 2>&1
assert "CA certificate has the SPIFFE URI SAN" grep -q 'URI:spiffe://prod.example.com$' "$T/ext.txt"
assert "CA certificate is a critical CA:TRUE" grep -q 'critical' "$T/ext.txt"
assert "CA certificate key usage is keyCertSign, cRLSign" \
    grep -q 'Certificate Sign, CRL Sign' "$T/ext.txt"

# anchorctl read side.
check "anchorctl bundle --format spiffe" sh -c "'$ANCHORCTL' $C bundle --format spiffe >'$T/bundle.json'"
check "anchorctl bundle --format jws" sh -c "'$ANCHORCTL' $C bundle --format jws >'$T/bundle.jws'"
check "anchorctl bundle --format pem" sh -c "'$ANCHORCTL' $C bundle --format pem >'$T/bundle.pem'"
check "anchorctl signers" sh -c "'$ANCHORCTL' $C signers >'$T/signers.jws'"
assert "anchorctl signers equals the ceremony's signers-1.jws" cmp -s "$T/signers.jws" "$T/out/signers-1.jws"
assert "the PEM bundle is the CA certificate" cmp -s "$T/bundle.pem" "$T/out/ca-1.pem"

# An independent JOSE implementation verifies both envelopes.
check "jwcrypto verifies signer set 1 with its own keys" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/signers.jws" \
    --typ spiffe-signers+jws "$T/signers.jws"
check "jwcrypto verifies the signed bundle with the signer-set keys" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/signers.jws" \
    --typ spiffe-bundle+jws --payload-out "$T/payload.json" "$T/bundle.jws"
assert "the JWS payload is byte-identical to anchorctl bundle --format spiffe" \
    cmp -s "$T/payload.json" "$T/bundle.json"

# The F1 bundle as a SPIFFE consumer reads it.
check "bundle has sequence 1, one x509-svid with one x5c and no kid, one jwt-svid with kid" \
    $PY - "$T/bundle.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
assert b["spiffe_sequence"] == 1 and b["spiffe_refresh_hint"] == 300, b
x = [k for k in b["keys"] if k["use"] == "x509-svid"]
j = [k for k in b["keys"] if k["use"] == "jwt-svid"]
assert len(x) == 1 and len(x[0]["x5c"]) == 1 and "kid" not in x[0], x
assert len(j) == 1 and len(j[0]["kid"]) == 43, j
PY

# status
check "anchorctl status --json" sh -c "'$ANCHORCTL' $C status --json --now $NOW >'$T/status.json'"
check "status shows one active key per role and sequence 1" \
    $PY - "$T/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["bundle"]["sequence"] == 1
roles = sorted(k["role"] for k in s["keys"] if k["state"] == "active")
assert roles == ["bundle-signing", "jwt", "x509-ca"], roles
PY

# Transcript
check "verify-transcript accepts the transcript" \
    "$CEREMONY" verify-transcript "$T/out/transcript-$NOW.json"
fp=$(sed -n 's/^    \(\([0-9a-f]\{4\} \)\{15\}[0-9a-f]\{4\}\)$/\1/p' "$T/ceremony.out")
check "verify-transcript checks the fingerprint read aloud" \
    "$CEREMONY" verify-transcript --fingerprint "$fp" "$T/out/transcript-$NOW.json"
check_fails "verify-transcript refuses another fingerprint" \
    "$CEREMONY" verify-transcript --fingerprint "0000${fp#????}" "$T/out/transcript-$NOW.json"
# Change one byte of the operator's name.
sed 's/Alice Operator/Alice Operatos/' "$T/out/transcript-$NOW.json" >"$T/tampered.json"
check_fails "verify-transcript catches one changed byte" \
    "$CEREMONY" verify-transcript "$T/tampered.json"

# A second init changes nothing.
sqlite3 "$T/state/anchor.db" .dump >"$T/before.sql"
check_fails "a second init on the same domain is refused" \
    "$CEREMONY" $C init --operator Mallory --yes --out-dir "$T/out2"
sqlite3 "$T/state/anchor.db" .dump >"$T/after.sql"
assert "the refused init changed nothing" cmp -s "$T/before.sql" "$T/after.sql"

# The PIN is nowhere: database, transcript, outputs.
PIN=$(cat "$T/pin")
assert "the PIN is not in the database, transcript or output" \
    sh -c "! grep -rqaF '$PIN' '$T/state' '$T/out' '$T/ceremony.out'"
check "database integrity check" sh -c "sqlite3 '$T/state/anchor.db' 'PRAGMA integrity_check' | grep -qx ok"
finish
