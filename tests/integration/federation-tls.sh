#!/bin/bash
# Federation over TLS between two trust domains made here.
#  https_web: B's plain SPIFFE bundle (no signers, as a SPIRE server serves
#   it) behind a certificate of a test CA given with --ca-file.  Another
#   CA's certificate, or one for another host, is refused; B's rotations
#   come through.
#  https_spiffe: B's signed bundle behind an X509-SVID for B's endpoint
#   SPIFFE ID, issued by B's CA key in its token; the first connection is
#   authenticated by a bundle given out of band (bootstrap), later ones by
#   the last bundle fetched.  An SVID with another SPIFFE ID or from
#   another trust domain's CA is refused.  Through an X.509 CA rollover at
#   B the endpoint's new SVID is accepted with no manual step; after a
#   missed rollover the endpoint can no longer be authenticated until an
#   operator gives a current bundle.
# Certificates are checked at the --now of the refresh; this test runs at
# the real time so that openssl's certificates need no faked clock.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/federation-lib.sh"

T0=$(date +%s)
H=3600
make_domain a a.example.org
make_domain b b.example.org
compressed_policy "$T/b/anchor.yaml"
check "ceremony of trust domain A" ceremony a $T0
check "ceremony of trust domain B" ceremony b $T0
check "B publishes" publish b
A="-c $T/a/anchor.yaml"
B="-c $T/b/anchor.yaml"
FILE="$T/a/state/federated/b.example.org.json"
cp "$T/b/out/signers-1.jws" "$T/b-signers-1.jws"
EP=spiffe://b.example.org/anchor/bundle-endpoint

# certificate NAME CA_PREFIX EXT: a P-256 key and certificate signed by CA_PREFIX.{pem,key}.
certificate() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -subj "/CN=$1" -out "$T/$1.csr" 2>/dev/null &&
	    printf '%b' "$3" >"$T/$1.ext" &&
	    openssl x509 -req -in "$T/$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-CAcreateserial -CAserial "$T/serial" -days 30 \
		-extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
# root NAME: a self-signed test CA.
root() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -days 30 -subj "/CN=$1" 2>/dev/null
}
# svid NAME DOMAIN SERIAL SPIFFE_ID: an X509-SVID issued by x509-ca key
# SERIAL of DOMAIN (a or b) inside its token, through OpenSSL's engine.
svid() {
	name=$1 dom=$2 serial=$3 id=$4
	c="$T/$dom/anchor.yaml"
	ckaid=$(db_query "$c" "SELECT hex(ckaid) FROM keys WHERE role = 'x509-ca' AND serial = $serial" | sed 's/../%&/g')
	db_query "$c" "SELECT writefile('$T/$name-ca.der', cert_der) FROM keys WHERE role = 'x509-ca' AND serial = $serial" >/dev/null
	openssl x509 -inform der -in "$T/$name-ca.der" -out "$T/$name-ca.pem" &&
	    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -subj "/O=SPIRE" -out "$T/$name.csr" 2>/dev/null &&
	    printf 'subjectAltName=URI:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,%s\nextendedKeyUsage=serverAuth\n' \
		"$id" "${KU:-digitalSignature}" >"$T/$name.ext" &&
	    env PKCS11_MODULE_PATH="$SOFTHSM_MODULE" openssl x509 -req -in "$T/$name.csr" \
		-engine pkcs11 -CAkeyform engine \
		-CAkey "pkcs11:token=$dom;id=$ckaid;type=private;pin-value=$(cat "$T/$dom/pin")" \
		-CA "$T/$name-ca.pem" -CAcreateserial -CAserial "$T/serial" -days 7 \
		-extfile "$T/$name.ext" -out "$T/$name.pem" 2>/dev/null
}
# present SERVER NAME: the server's certificate and key from now on.
present() {
	cp "$T/$2.key" "$T/$1.key" && cp "$T/$2.pem" "$T/$1.pem"
}
unchanged() {
	cmp -s "$FILE" "$T/file-before"
}

# ---- https_web, plain bundle ----
check "a test web CA" root webca
check "a rogue CA" root rogueca
check "a certificate for 127.0.0.1 from the test CA" certificate web "$T/webca" \
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n'
check "one for 127.0.0.1 from the rogue CA" certificate rogue "$T/rogueca" \
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
check "one for another host from the test CA" certificate otherhost "$T/webca" \
    'subjectAltName=DNS:bundles.other.example\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n'
present W web
check "B's https_web endpoint" start_server W "$T/b/www" --cert "$T/W.pem" --key "$T/W.key"

check "add B as a plain https_web peer with the test CA" "$ANCHORCTL" $A federation add b.example.org \
    --url "https://127.0.0.1:$PORT_W/bundle.json" --profile https_web --ca-file "$T/webca.pem" --now $T0
check "refresh" "$ANCHORCTL" $A federation refresh --now $((T0 + 60))
assert "accepts B's plain bundle, sequence 1" grep -q '^b.example.org: accepted sequence 1$' "$T/last.out"
assert "the consumer file is B's bundle" cmp -s "$FILE" "$T/b/www/bundle.json"
cp "$FILE" "$T/file-before"
present W rogue
check_fails "a certificate from another CA" "$ANCHORCTL" $A federation refresh --now $((T0 + 120))
assert "is refused" grep -q 'rejected: .*SSL certificate problem' "$T/last.out"
assert "the last good bundle stays" unchanged
present W otherhost
check_fails "a certificate for another host name" "$ANCHORCTL" $A federation refresh --now $((T0 + 180))
assert "is refused" grep -q 'rejected: .*matches target host name' "$T/last.out"
assert "the last good bundle stays" unchanged
echo "# $(cat "$T/last.out")"
present W web
check "B rotates (a JWT successor)" "$ANCHORCTL" $B rotate --now $((T0 + 20 * H))
check "and publishes" publish b
check "refresh" "$ANCHORCTL" $A federation refresh --now $((T0 + 20 * H))
assert "picks up B's sequence 2" grep -q '^b.example.org: accepted sequence 2$' "$T/last.out"
assert "into the consumer file" cmp -s "$FILE" "$T/b/www/bundle.json"
assert "both refusals are audited" \
    test "$(audit_count "$T/a/anchor.yaml" peer.bundle.rejected 'SSL')" -eq 2
check "remove the https_web peer" "$ANCHORCTL" $A federation remove b.example.org --reason "moving to https_spiffe" --now $((T0 + 20 * H + 60))

# ---- https_spiffe, signed bundle ----
check "B's endpoint SVID from its CA key 1" svid svid1 b 1 "$EP"
check "an SVID with another SPIFFE ID from the same key" svid wrongid b 1 spiffe://b.example.org/not-the-endpoint
check "an SVID with B's endpoint ID from A's CA key" svid foreign a 1 "$EP"
KU=digitalSignature,cRLSign check "an SVID that may sign CRLs" svid crlsign b 1 "$EP"
present S svid1
check "B's https_spiffe endpoint" start_server S "$T/b/www" --cert "$T/S.pem" --key "$T/S.key"
"$ANCHORCTL" $B bundle --format spiffe >"$T/bootstrap.json"

check "add B with https_spiffe, signers and a bootstrap bundle" "$ANCHORCTL" $A federation add b.example.org \
    --url "https://127.0.0.1:$PORT_S/" --profile https_spiffe --endpoint-id "$EP" \
    --signers "$T/b-signers-1.jws" --bundle "$T/bootstrap.json" --operator bob --now $((T0 + 21 * H))
assert "it names the pinned signer set" grep -q 'pinned signer set version 1 of b.example.org, fingerprint' "$T/last.out"
assert "the bootstrap bundle is audited" test "$(audit_count "$T/a/anchor.yaml" peer.bundle.bootstrap bob)" -eq 1
check "refresh" "$ANCHORCTL" $A federation refresh --now $((T0 + 21 * H))
assert "accepts B's signed bundle over https_spiffe" grep -q '^b.example.org: accepted sequence 2, signer set version 1' "$T/last.out"
cp "$FILE" "$T/file-before"
present S wrongid
check_fails "an SVID with another SPIFFE ID" "$ANCHORCTL" $A federation refresh --now $((T0 + 22 * H))
assert "is refused naming both IDs" \
    grep -q "rejected: .*TLS: the endpoint presents spiffe://b.example.org/not-the-endpoint, not $EP" "$T/last.out"
assert "the last good bundle stays" unchanged
present S foreign
check_fails "an SVID from another trust domain's CA" "$ANCHORCTL" $A federation refresh --now $((T0 + 22 * H))
assert "is refused: it does not chain to B's bundle" \
    grep -q 'rejected: .*TLS: the endpoint.s certificate does not chain to the stored bundle of b.example.org' "$T/last.out"
assert "the last good bundle stays" unchanged
present S web
check_fails "a Web PKI certificate without a SPIFFE ID" "$ANCHORCTL" $A federation refresh --now $((T0 + 22 * H))
assert "is refused" grep -q 'rejected: .*TLS: the endpoint.s certificate does not chain' "$T/last.out"
present S crlsign
check_fails "an SVID that may sign CRLs" "$ANCHORCTL" $A federation refresh --now $((T0 + 22 * H))
assert "is refused: not an X509-SVID" grep -q 'rejected: .*TLS: .*may sign certificates or CRLs' "$T/last.out"
assert "the last good bundle stays" unchanged
assert "the four refusals are audited" \
    test "$(audit_count "$T/a/anchor.yaml" peer.bundle.rejected 'TLS: the endpoint')" -eq 4
present S svid1

# B's X.509 CA rollover (CA lifetime 2d, prepublish 6h, overlap 6h): CA 2
# is published at 42h and used from 48h, when the endpoint gets its new
# SVID; CA 1 leaves the bundle at 54h.
fails=0 renewed=0
for ((h = 24; h <= 60; h += 6)); do
	t=$((T0 + h * H))
	"$ANCHORCTL" $B rotate --now $t >/dev/null 2>&1 && publish b || fails=$((fails + 1))
	ca2=$(db_query "$T/b/anchor.yaml" "SELECT state FROM keys WHERE role = 'x509-ca' AND serial = 2")
	if [ "$ca2" = active ] && [ $renewed -eq 0 ]; then
		svid svid2 b 2 "$EP" && present S svid2 && renewed=$h
	fi
	"$ANCHORCTL" $A federation refresh --now $t >"$T/ref.out" 2>&1 || {
		fails=$((fails + 1))
		echo "# hour $h: $(cat "$T/ref.out")"
	}
	cmp -s "$FILE" "$T/b/www/bundle.json" || fails=$((fails + 1))
done
assert "the endpoint moved to an SVID of CA 2 (at hour $renewed)" test "$renewed" -eq 48
assert "every refresh through the CA rollover succeeded with no manual step" test "$fails" -eq 0
assert "CA 1 has left B's bundle" \
    test "$(db_query "$T/b/anchor.yaml" "SELECT state FROM keys WHERE role = 'x509-ca' AND serial = 1")" = removed
cp "$FILE" "$T/file-before"
present S svid1
check_fails "an SVID of the CA that left the bundle" "$ANCHORCTL" $A federation refresh --now $((T0 + 61 * H))
assert "is refused" grep -q 'does not chain to the stored bundle' "$T/last.out"
assert "the last good bundle stays" unchanged
present S svid2

# A misses the next rollover (CA 3 published at 90h, used from 96h, CA 2
# gone at 102h): the stored bundle no longer authenticates the endpoint.
for ((h = 66; h <= 108; h += 6)); do
	"$ANCHORCTL" $B rotate --now $((T0 + h * H)) >/dev/null 2>&1 && publish b
done
check "B's endpoint SVID from CA 3" svid svid3 b 3 "$EP"
present S svid3
check_fails "after a missed CA rollover" "$ANCHORCTL" $A federation refresh --now $((T0 + 108 * H))
assert "the endpoint is refused" grep -q 'does not chain to the stored bundle' "$T/last.out"
check "list shows the failure" "$ANCHORCTL" $A federation list
assert "with its reason" grep -q 'b.example.org .*failing (2): .*does not chain' "$T/last.out"
"$ANCHORCTL" $B bundle --format spiffe >"$T/current.json"
check "an operator gives B's current bundle" "$ANCHORCTL" $A federation bootstrap b.example.org \
    --bundle "$T/current.json" --operator carol --now $((T0 + 108 * H + 60))
check "refresh" "$ANCHORCTL" $A federation refresh --now $((T0 + 108 * H + 120))
assert "accepts B's bundle again" grep -q '^b.example.org: accepted sequence' "$T/last.out"
assert "the consumer file is B's bundle" cmp -s "$FILE" "$T/b/www/bundle.json"

cp "$FILE" "$T/file-before"
check_fails "a refresh at a time the endpoint's SVID has expired" "$ANCHORCTL" $A federation refresh --now $((T0 + 30 * 24 * H))
assert "is refused: certificates are checked at --now" grep -q 'rejected: .*certificate has expired' "$T/last.out"
assert "the last good bundle stays" unchanged

# https_spiffe needs a bundle before the first connection.
check "add c.example.org with https_spiffe and no bundle" "$ANCHORCTL" $A federation add c.example.org \
    --url "https://127.0.0.1:$PORT_S/" --profile https_spiffe --endpoint-id spiffe://c.example.org/server
requests=$(wc -l <"$T/S.log")
check_fails "refresh of c.example.org" "$ANCHORCTL" $A federation refresh c.example.org
assert "is refused before connecting, saying what to do" grep -q 'no bundle of c.example.org .* federation bootstrap' "$T/last.out"
assert "nothing was fetched" test "$(wc -l <"$T/S.log")" -eq "$requests"
check "A's audit chain verifies" "$ANCHORCTL" $A audit verify
fed_finish
