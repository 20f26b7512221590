#!/bin/bash
# Selective trust end to end: A federates with B allowing only
# spiffe://b.example.org/ns/*/sa/web.  `anchorctl verify-svid` accepts a B
# workload's X509-SVID with an allowed ID, refuses one outside `allow`,
# refuses an SVID signed by a CA key B has since dropped, and refuses
# everything from B once A removed the federation.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/federation-lib.sh"

T0=$(date +%s)
make_domain a a.example.org
make_domain b b.example.org
check "ceremony of A" ceremony a $T0
check "ceremony of B" ceremony b $T0
check "B publishes to a mirror" publish b
check "B's mirror serves" start_server B "$T/b/www"
cat >>"$T/a/anchor.yaml" <<CONF
federation:
  allow_insecure_http: true
  federates_with:
    b.example.org:
      bundle_endpoint_url: http://127.0.0.1:$PORT_B/
      signers: $T/b/out/signers-1.jws
      allow: ["spiffe://b.example.org/ns/*/sa/web"]
CONF
A="-c $T/a/anchor.yaml"
check "A fetches B's bundle" "$ANCHORCTL" $A federation refresh --now $((T0 + 60))

# issue NAME ID: an X509-SVID for ID from B's active CA key in B's token.
issue() {
	id=$(db_query "$T/b/anchor.yaml" "SELECT hex(ckaid) FROM keys WHERE role = 'x509-ca' AND state = 'active'" | sed 's/../%&/g')
	# The bundle holds exactly the active CA here (no successor yet).
	"$ANCHORCTL" -c "$T/b/anchor.yaml" bundle --format pem >"$T/$1.capem"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -subj "/O=SPIRE" -out "$T/$1.csr" 2>/dev/null
	printf 'subjectAltName=URI:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
	    "$2" >"$T/$1.ext"
	PKCS11_MODULE_PATH="$SOFTHSM_MODULE" openssl x509 -req \
	    -in "$T/$1.csr" -engine pkcs11 -CAkeyform engine \
	    -CAkey "pkcs11:token=b;id=$id;type=private;pin-value=$(cat "$T/b/pin")" \
	    -CA "$T/$1.capem" -CAcreateserial -CAserial "$T/srl" -days 1 \
	    -extfile "$T/$1.ext" -out "$T/$1.pem"
}
check "B's CA issues an SVID for an allowed ID" issue web spiffe://b.example.org/ns/prod/sa/web
check "B's CA issues an SVID for an ID outside allow" issue db spiffe://b.example.org/ns/prod/sa/db

check "verify-svid accepts the allowed ID" "$ANCHORCTL" $A verify-svid "$T/web.pem"
assert "and prints the SPIFFE ID" grep -qx 'spiffe://b.example.org/ns/prod/sa/web' "$T/last.out"
check_exit 1 "verify-svid refuses an ID outside allow" "$ANCHORCTL" $A verify-svid "$T/db.pem"
assert "naming the reason" grep -q 'not allowed' "$T/last.err"

# B revokes the CA that issued the SVID; A refreshes: the chain now fails.
ca1=$(db_query "$T/b/anchor.yaml" "SELECT kid FROM keys WHERE role = 'x509-ca' AND state = 'active'")
check "B revokes its CA key" "$ANCHORCTL" -c "$T/b/anchor.yaml" revoke --key "$ca1" \
    --reason "compromise drill" --now $((T0 + 120))
check "B publishes again" publish b
check "A fetches B's new bundle" "$ANCHORCTL" $A federation refresh --now $((T0 + 180))
check_exit 1 "an SVID signed by the key B dropped is refused" "$ANCHORCTL" $A verify-svid "$T/web.pem"
assert "as a chain failure" grep -q "does not verify against the peer's bundle" "$T/last.err"
check "B's new CA issues an SVID" issue web2 spiffe://b.example.org/ns/dev/sa/web
check "verify-svid accepts it" "$ANCHORCTL" $A verify-svid "$T/web2.pem"

# Removing the federation: nothing from B counts any more.
check "A removes B" "$ANCHORCTL" $A federation remove b.example.org --reason "partnership ended" --operator alice
check_exit 1 "a valid SVID from a removed peer is refused" "$ANCHORCTL" $A verify-svid "$T/web2.pem"
assert "because B is no longer a peer" grep -q 'not a federated' "$T/last.err"
check_exit 2 "verify-svid without a certificate file is a usage error" "$ANCHORCTL" $A verify-svid "$T/nothing.pem"
fed_finish
