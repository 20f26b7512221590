#!/bin/sh
# anchord over TLS: https_web with a certificate from a test CA (reloaded
# on SIGHUP), TLS 1.2 as the minimum, and https_spiffe with an X509-SVID
# issued by the domain's CA through the signer and renewed at half-life.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

# A test CA and a server certificate for 127.0.0.1 and localhost.
mkdir -p "$T/pki"
cd "$T/pki" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj "/CN=anchord test CA" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
server_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -out "$1.csr" -subj "/CN=localhost" >/dev/null 2>&1 &&
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 1 -out "$1.pem" \
	    -extfile /dev/stdin >/dev/null 2>&1 <<EXT
subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth
EXT
}
server_cert one && server_cert two
cat one.pem ca.pem >chain.pem
cp one.key server.key
chmod 600 server.key one.key two.key
cd - >/dev/null || exit 1

ENDPOINT_EXTRA=", cert_file: $T/pki/chain.pem, key: $T/pki/server.key"
check "ceremony for the domain" make_domain https_web
SCHEME=https
start_anchord
assert "anchord answers" test -n "$ANCHORD_PID"

check "curl --cacert <test CA> fetches /bundle.jws over https_web" \
    curl -sf --cacert "$T/pki/ca.pem" -o "$T/b.jws" "https://localhost:$PORT/bundle.jws"
check "it verifies with jwcrypto" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/out/signers-1.jws" \
    --typ spiffe-bundle+jws "$T/b.jws"
"$ANCHORCTL" -c "$CONF" bundle --format spiffe >"$T/want.json"
curl -sf --cacert "$T/pki/ca.pem" -o "$T/got.json" "https://localhost:$PORT/"
assert "GET / over TLS is byte-identical to anchorctl's" cmp -s "$T/got.json" "$T/want.json"
check "TLS 1.2 is accepted" \
    curl -sf --cacert "$T/pki/ca.pem" --tlsv1.2 --tls-max 1.2 -o /dev/null "https://localhost:$PORT/"
check "TLS 1.3 is accepted" \
    curl -sf --cacert "$T/pki/ca.pem" --tlsv1.3 -o /dev/null "https://localhost:$PORT/"
check_fails "TLS 1.1 is refused" sh -c "openssl s_client -connect 127.0.0.1:$PORT \
    -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1 | grep -q 'Cipher is ECDHE'"
check "keep-alive over TLS" sh -c "curl -sv --cacert '$T/pki/ca.pem' -o /dev/null -o /dev/null \
    'https://localhost:$PORT/' 'https://localhost:$PORT/bundle.jws' 2>&1 | grep -q 'Re-using existing connection'"
check "the whole chain is presented" sh -c "openssl s_client -connect 127.0.0.1:$PORT \
    -showcerts </dev/null 2>/dev/null | grep -c 'BEGIN CERTIFICATE' | grep -qx 2"

# SIGHUP picks up a renewed certificate.
serial() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
	    openssl x509 -noout -serial
}
s1=$(serial)
assert "the first certificate is served" \
    test "$s1" = "$(openssl x509 -in "$T/pki/one.pem" -noout -serial)"
cat "$T/pki/two.pem" "$T/pki/ca.pem" >"$T/pki/chain.pem"
cp "$T/pki/two.key" "$T/pki/server.key"
kill -HUP "$ANCHORD_PID"
want2=$(openssl x509 -in "$T/pki/two.pem" -noout -serial)
assert "after SIGHUP the renewed certificate is served" \
    wait_for 5 sh -c "test \"\$(openssl s_client -connect 127.0.0.1:$PORT </dev/null 2>/dev/null | openssl x509 -noout -serial)\" = '$want2'"
check "and curl still verifies it" \
    curl -sf --cacert "$T/pki/ca.pem" -o /dev/null "https://localhost:$PORT/bundle.jws"
# A key that does not match is refused; the running certificate stays.
cp "$T/pki/one.key" "$T/pki/server.key"
kill -HUP "$ANCHORD_PID"
assert "a mismatched key on SIGHUP is refused and logged" \
    wait_for 5 grep -q 'does not belong' "$T/anchord.log"
check "the previous certificate is still served" \
    curl -sf --cacert "$T/pki/ca.pem" -o /dev/null "https://localhost:$PORT/"
stop_anchord

# https_spiffe: an X509-SVID from the domain's own CA.
SPIFFE_ID=spiffe://prod.example.com/anchord/bundle-endpoint
sed "s|profile: https_web.*|profile: https_spiffe, endpoint_spiffe_id: \"$SPIFFE_ID\", dns_names: [bundles.prod.example.com] }|" \
    "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
PORT=$(free_port)
sed "s/port: [0-9]*/port: $PORT/" "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
start_anchord --svid-ttl 12s --user nobody
assert "anchord answers with https_spiffe" test -n "$ANCHORD_PID"
"$ANCHORCTL" -c "$CONF" bundle --format pem >"$T/td-ca.pem"

svid_check() {
	$PY - "$PORT" "$T/td-ca.pem" "$SPIFFE_ID" <<'PY'
import socket, ssl, sys
port, ca, want = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False          # SPIFFE authenticates the ID, not a host name
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
    with ctx.wrap_socket(s) as t:
        cert = t.getpeercert()
        uris = [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]
        assert uris == [want], uris
        t.sendall(b"GET /bundle.jws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            data += b
        assert data.startswith(b"HTTP/1.1 200"), data[:40]
        print(cert["serialNumber"])
PY
}
assert "the SVID arrives" wait_for 10 svid_check
check "the server certificate chains to the domain CA and its URI SAN is $SPIFFE_ID" svid_check
serial1=$(svid_check)
check "openssl verifies the chain against the domain CA" sh -c \
    "openssl s_client -connect 127.0.0.1:$PORT -CAfile '$T/td-ca.pem' -verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"
check "curl --cacert <the domain CA> connects to the configured DNS name" \
    curl -sf --cacert "$T/td-ca.pem" --resolve "bundles.prod.example.com:$PORT:127.0.0.1" \
    -o "$T/spiffe-bundle.jws" "https://bundles.prod.example.com:$PORT/bundle.jws"
check "and what it fetched verifies against signer set 1" \
    "$top_builddir/anchor-verify" --trust-domain prod.example.com --signers "$T/out/signers-1.jws" \
    "$T/spiffe-bundle.jws"
check_fails "curl refuses a host name the SVID does not carry" \
    curl -sf --cacert "$T/td-ca.pem" -o /dev/null "https://localhost:$PORT/"
openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -noout -text >"$T/svid.txt"
assert "the SVID is not a CA and is for digital signatures" \
    sh -c "grep -q 'CA:FALSE' '$T/svid.txt' && grep -q 'Digital Signature' '$T/svid.txt'"
assert "the SVID has exactly one URI SAN, beside the DNS name" \
    sh -c "test \$(grep -o 'URI:' '$T/svid.txt' | wc -l) -eq 1 && grep -q 'DNS:bundles.prod.example.com' '$T/svid.txt'"
check "the network process has no module mapped and runs as nobody" sh -c \
    "! grep -q 'softhsm\|anchor-fault' /proc/$ANCHORD_PID/maps && grep -Eq '^Uid:[[:space:]]+65534' /proc/$ANCHORD_PID/status"
renewed() {
	s=$(svid_check) && test -n "$s" -a "$s" != "$serial1"
}
assert "the SVID is renewed at half its life (12 s TTL)" wait_for 12 renewed
check "the renewed SVID verifies too" svid_check

stop_anchord
assert_log_clean
finish
