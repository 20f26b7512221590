#!/bin/sh
# anchord https_web with its TLS key in the token: the signer signs each
# handshake, the network process never loads the module.  TLS 1.2 and 1.3,
# handshakes in parallel, the rate limit, a token fault (new handshakes fail,
# open connections keep being served, recovery without a restart), and the
# keys that are refused at start (RSA, none, ambiguous, another token, one
# of the domain's own keys).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

export ANCHOR_FAULT_MODULE="$SOFTHSM_MODULE"
export ANCHOR_FAULT_FILE="$T/faults"
: >"$ANCHOR_FAULT_FILE"
fault() {
	printf '%s\n' "$1" >"$T/faults.new" && mv "$T/faults.new" "$ANCHOR_FAULT_FILE"
}

check "ceremony for the domain" make_domain http
TOKEN=anchor-test
PIN=$(cat "$T/pin")
p11() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN" --login \
	    --pin "$PIN" "$@" >/dev/null 2>&1
}
check "an EC P-256 TLS key is generated in the token" \
    p11 --keypairgen --key-type EC:prime256v1 --label tls --id 7f000000000000000000000000000001
p11 --keypairgen --key-type rsa:3072 --label tls-rsa --id 7f000000000000000000000000000002
p11 --keypairgen --key-type EC:prime256v1 --label dup --id 7f000000000000000000000000000003
p11 --keypairgen --key-type EC:prime256v1 --label dup --id 7f000000000000000000000000000004

# A test CA, and a certificate for the token key (CSR signed in the token
# through OpenSSL's PKCS#11 engine).
mkdir -p "$T/pki"
cd "$T/pki" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj "/CN=anchord test CA" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
check "a CSR for the token key" env PKCS11_MODULE_PATH="$SOFTHSM_MODULE" \
    openssl req -new -engine pkcs11 -keyform engine \
    -key "pkcs11:token=$TOKEN;object=tls;type=private;pin-value=$PIN" \
    -subj "/CN=localhost" -out tls.csr
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >ext
check "the test CA signs it" openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key \
    -CAcreateserial -days 1 -out tls.pem -extfile ext
cat tls.pem ca.pem >chain.pem
cd - >/dev/null || exit 1

# set_key URI: the https_web endpoint with this key.
set_key() {
	sed "s|profile: [a-z_]*.*}|profile: https_web, cert_file: $T/pki/chain.pem, key: \"$1\" }|" \
	    "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
}
# refused URI MESSAGE: anchord stops at start and says why, with no PIN.
refused() {
	set_key "$1"
	: >"$T/refused.log"
	timeout 20 "$ANCHORD" -f -c "$CONF" >"$T/refused.log" 2>&1
	rc=$?
	test "$rc" -ne 0 -a "$rc" -ne 124 && grep -q "$2" "$T/refused.log" &&
	    ! grep -qF "$PIN" "$T/refused.log"
}

set_key "pkcs11:token=$TOKEN;object=tls"
SCHEME=https
start_anchord --tls-sign-rate 1000
assert "anchord answers with the key in the token" test -n "$ANCHORD_PID"
assert "it says where the key is" grep -q "https_web key pkcs11:token=$TOKEN;object=tls found in token" "$T/anchord.log"
check "TLS 1.2: curl --cacert <test CA> fetches /bundle.jws" \
    curl -sf --cacert "$T/pki/ca.pem" --tlsv1.2 --tls-max 1.2 -o "$T/b12.jws" \
    "https://localhost:$PORT/bundle.jws"
check "and it verifies against signer set 1" \
    "$top_builddir/anchor-verify" --trust-domain prod.example.com \
    --signers "$T/out/signers-1.jws" "$T/b12.jws"
check "TLS 1.3: curl --cacert <test CA> fetches /bundle.jws" \
    curl -sf --cacert "$T/pki/ca.pem" --tlsv1.3 -o "$T/b13.jws" \
    "https://localhost:$PORT/bundle.jws"
check "and it verifies against signer set 1" \
    "$top_builddir/anchor-verify" --trust-domain prod.example.com \
    --signers "$T/out/signers-1.jws" "$T/b13.jws"
check "openssl verifies the server's ECDSA signature and chain" sh -c \
    "openssl s_client -connect 127.0.0.1:$PORT -CAfile '$T/pki/ca.pem' -verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"

# 40 handshakes at once, TLS 1.2 and 1.3 mixed, over both HTTP threads:
# every answer reaches the handshake that asked.
parallel_ok() {
	i=0; pids=
	while [ $i -lt 20 ]; do
		{ curl -sf --cacert "$T/pki/ca.pem" --tlsv1.2 --tls-max 1.2 -o /dev/null \
		    "https://localhost:$PORT/" || echo fail >>"$T/par.fail"; } &
		pids="$pids $!"
		{ curl -sf --cacert "$T/pki/ca.pem" --tlsv1.3 -o /dev/null \
		    "https://localhost:$PORT/bundle.jws" || echo fail >>"$T/par.fail"; } &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids
	test ! -s "$T/par.fail"
}
rm -f "$T/par.fail"
check "40 handshakes in parallel all succeed" parallel_ok
curl -sf --cacert "$T/pki/ca.pem" -o "$T/metrics" "https://localhost:$PORT/metrics"
assert "metrics count the token signatures" \
    grep -Eq '^anchord_tls_token_signatures_total\{result="ok"\} (4[5-9]|[5-9][0-9]|[0-9]{3,})$' "$T/metrics"
assert "metrics show the limit" grep -qx 'anchord_tls_token_signature_limit 1000' "$T/metrics"

NET=$ANCHORD_PID
SIGNER=$(signer_pid)
assert "the signer has the PKCS#11 module mapped" grep -q libsofthsm2 "/proc/$SIGNER/maps"
assert "the network process has no PKCS#11 module mapped" \
    sh -c "! grep -q 'softhsm\|anchor-fault\|pkcs11' /proc/$NET/maps"
check "the PIN is not in the network process's memory" \
    $PY - "$NET" "$PIN" <<'PY'
import re, sys
pid, pin = sys.argv[1], sys.argv[2].encode()
found_td = False
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if perms[0] != "r" or hi - lo > (1 << 30):
            continue
        for off in range(lo, hi, 1 << 20):
            try:
                mem.seek(off)
                chunk = mem.read(min(1 << 20, hi - off) + len(pin))
            except OSError:
                continue
            assert pin not in chunk, "PIN found at %x (%s)" % (off, line.strip())
            found_td = found_td or b"prod.example.com" in chunk
assert found_td, "scan did not find the trust domain: it read nothing"
PY
stop_anchord

# The rate limit: 2 signatures a second, 12 handshakes at once.
start_anchord --tls-sign-rate 2
burst() {
	i=0; pids=
	while [ $i -lt 12 ]; do
		curl -s --cacert "$T/pki/ca.pem" -o /dev/null "https://localhost:$PORT/" &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids
}
sleep 1
burst
sleep 1
curl -sf --cacert "$T/pki/ca.pem" -o "$T/metrics" "https://localhost:$PORT/metrics"
assert "over the limit, handshakes are refused and counted" \
    grep -Eq '^anchord_tls_token_signatures_total\{result="rate_limited"\} [1-9][0-9]*$' "$T/metrics"
assert "the limit is logged" grep -q 'more than 2 token signatures a second' "$T/anchord.log"
stop_anchord

# Token trouble: through the fault module.  New handshakes fail cleanly,
# a connection opened before keeps being served (/healthz 503), and the
# server recovers by itself.
sed "s|module: .*|module: $FAULT_MODULE|" "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"
start_anchord --probe-interval 1 --backoff-max 2 --timeout 60
assert "anchord answers through the fault module" test -n "$ANCHORD_PID"
check "a token fault fails new handshakes, keeps open connections, and clears" \
    $PY - "$PORT" "$T/pki/ca.pem" "$ANCHOR_FAULT_FILE" <<'PY'
import http.client, os, ssl, sys, time
port, ca, faults = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
def fault(s):
    with open(faults + ".new", "w") as f:
        f.write(s + "\n")
    os.rename(faults + ".new", faults)
def new_handshake():
    try:
        c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
        c.request("GET", "/healthz")
        c.getresponse().read()
        c.close()
        return True
    except (ssl.SSLError, OSError):
        return False
def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()
def until(pred, secs):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False
old = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
assert until(lambda: get(old, "/healthz")[0] == 200, 10), "not healthy at first"
fault("C_Sign:1+:CKR_DEVICE_ERROR")
t0 = time.time()
assert until(lambda: not new_handshake(), 10), "new handshakes still succeed"
t = time.time()
assert not new_handshake(), "a handshake succeeded during the fault"
assert time.time() - t < 4, "a failing handshake took %.1f s" % (time.time() - t)
assert until(lambda: get(old, "/healthz")[0] == 503, 10), "/healthz not 503"
st, body = get(old, "/bundle.jws")
assert st == 200 and body, "the bundle is not served on the open connection"
fault("*:1+:CKR_DEVICE_REMOVED")
time.sleep(2)
assert not new_handshake(), "a handshake succeeded with the token gone"
assert get(old, "/bundle.jws")[0] == 200
fault("")
assert until(new_handshake, 15), "no recovery within 15 s"
assert until(lambda: get(old, "/healthz")[0] == 200, 10), "/healthz not 200 again"
PY
assert "the network process is the same one (no restart)" kill -0 "$ANCHORD_PID"
curl -sf --cacert "$T/pki/ca.pem" -o "$T/metrics" "https://localhost:$PORT/metrics"
assert "failed token signatures are counted" \
    grep -Eq '^anchord_tls_token_signatures_total\{result="token"\} [1-9][0-9]*$' "$T/metrics"
assert "the log tells the TLS signature failed" grep -q 'signing a TLS handshake\|token probe' "$T/anchord.log"
stop_anchord
sed "s|module: .*|module: $SOFTHSM_MODULE|" "$CONF" >"$T/c.new" && mv "$T/c.new" "$CONF"

# Keys refused at start, each with a reason.
check "an RSA key is refused (TLS 1.3 needs RSA-PSS)" \
    refused "pkcs11:token=$TOKEN;object=tls-rsa" 'is an RSA key: TLS 1.3 signs with RSA-PSS'
check "a URI naming no key is refused" \
    refused "pkcs11:token=$TOKEN" 'names no key'
check "a URI matching no key is refused" \
    refused "pkcs11:object=missing" 'no private key in token anchor-test matches'
check "an ambiguous URI is refused" \
    refused "pkcs11:object=dup" 'is ambiguous: 2 private keys'
# The certificate is for "tls": this one gets as far as comparing them.
check "the same label with an id picks one key" \
    refused "pkcs11:object=dup;id=%7f%00%00%00%00%00%00%00%00%00%00%00%00%00%00%04" \
    'is not for the https_web key'
check "another token than the configured one is refused" \
    refused "pkcs11:token=other;object=tls" 'names another token'
BS=$(sqlite3 "$T/state/anchor.db" "SELECT label FROM keys WHERE role = 'bundle-signing' LIMIT 1")
check "one of the domain's own keys is refused" \
    refused "pkcs11:object=$BS" "one of the domain's own keys"
CA=$(sqlite3 "$T/state/anchor.db" "SELECT label FROM keys WHERE role = 'x509-ca' LIMIT 1")
check "the CA key is refused too" \
    refused "pkcs11:object=$CA" "one of the domain's own keys"
cp "$T/pki/chain.pem" "$T/pki/chain.bak"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
    -out "$T/pki/chain.pem" -days 1 -subj /CN=x >/dev/null 2>&1
check "a certificate for another key is refused" \
    refused "pkcs11:object=tls" 'is not for the https_web key'
cp "$T/pki/chain.bak" "$T/pki/chain.pem"

assert_log_clean
assert "no sanitizer report at the refusals" \
    sh -c "! grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' '$T/refused.log'"
finish
