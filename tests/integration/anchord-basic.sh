#!/bin/sh
# anchord over plain HTTP: what it serves, how it answers, and what the
# network process does not have (the module, the PIN, root).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/integration/anchord-lib.sh"

check "ceremony for the domain" make_domain http
# Each process under its own user: the signer owns the state, the PIN file
# and the token; the network process is nobody.
chmod 711 "$T"
chown -R daemon "$T/state" "$T/softhsm" "$T/pin"
start_anchord --user nobody --signer-user daemon
assert "anchord answers" test -n "$ANCHORD_PID"

# What is served equals what the state holds.
"$ANCHORCTL" -c "$CONF" bundle --format spiffe >"$T/want.json"
curl -s -D "$T/h1" -o "$T/got.json" "$(URL /)"
assert "GET / is byte-identical to anchorctl bundle --format spiffe" \
    cmp -s "$T/got.json" "$T/want.json"
assert "GET / is application/json" grep -qi '^Content-Type: application/json' "$T/h1"
assert "GET / has Cache-Control public, max-age=300" \
    grep -qi '^Cache-Control: public, max-age=300' "$T/h1"
curl -s -D "$T/h2" -o "$T/got.jws" "$(URL /bundle.jws)"
assert "/bundle.jws is application/jose+json" \
    grep -qi '^Content-Type: application/jose+json' "$T/h2"
check "/bundle.jws verifies with jwcrypto against signers-1.jws" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$T/out/signers-1.jws" \
    --typ spiffe-bundle+jws --payload-out "$T/payload.json" "$T/got.jws"
assert "the /bundle.jws payload is the bytes of /" cmp -s "$T/payload.json" "$T/got.json"
curl -s -o "$T/s.jws" "$(URL /signers.jws)"
curl -s -o "$T/s1.jws" "$(URL /signers/1.jws)"
assert "/signers.jws is signer set 1" cmp -s "$T/s.jws" "$T/out/signers-1.jws"
assert "/signers/1.jws is signer set 1" cmp -s "$T/s1.jws" "$T/out/signers-1.jws"
assert "/signers/2.jws is 404" test "$(http_code /signers/2.jws)" = 404
assert "/signers/01.jws is 404" test "$(http_code /signers/01.jws)" = 404

# ETag and If-None-Match.
etag=$(sed -n 's/^[Ee][Tt]ag: *//p' "$T/h1" | tr -d '\r')
assert "GET / has a strong ETag" sh -c "echo '$etag' | grep -Eq '^\"[0-9a-f]{32}\"$'"
assert "If-None-Match with the ETag gives 304" \
    test "$(http_code / -H "If-None-Match: $etag")" = 304
curl -s -D "$T/h304" -o "$T/b304" -H "If-None-Match: \"x\", W/$etag" "$(URL /)"
assert "a weak match in a list gives 304 without a body" \
    sh -c "head -1 '$T/h304' | grep -q ' 304' && test ! -s '$T/b304'"
assert "the 304 carries the ETag" grep -qF "$etag" "$T/h304"
assert "If-None-Match with another ETag gives 200" \
    test "$(http_code / -H 'If-None-Match: "0123"')" = 200
assert "/bundle.jws has its own ETag" \
    test "$(http_code /bundle.jws -H "If-None-Match: $etag")" = 200

# HEAD: the headers of GET, no body.
curl -s -I -o "$T/head" "$(URL /bundle.jws)"
len=$(sed -n 's/^[Cc]ontent-[Ll]ength: *//p' "$T/head" | tr -d '\r')
check "HEAD has no body and the length of GET" $PY - "$(URL /bundle.jws)" "$len" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
c.request("HEAD", u.path)
r = c.getresponse()
assert r.status == 200, r.status
assert r.read() == b""
assert r.getheader("Content-Length") == sys.argv[2], r.getheader("Content-Length")
assert int(sys.argv[2]) > 100
PY

# Methods, bodies, paths, headers.
assert "POST / is 405" test "$(http_code / -X POST)" = 405
assert "PUT /bundle.jws is 405" test "$(http_code /bundle.jws -X PUT)" = 405
assert "DELETE /healthz is 405" test "$(http_code /healthz -X DELETE)" = 405
curl -s -D "$T/h405" -o /dev/null -X POST "$(URL /)"
assert "405 says Allow: GET, HEAD" grep -qi '^Allow: GET, HEAD' "$T/h405"
assert "POST with a body is 413" test "$(http_code / -d x=1)" = 413
assert "GET with a body is 413" test "$(http_code /bundle.jws -X GET -d x=1)" = 413
assert "GET with a chunked body is 413" \
    test "$(http_code / -X GET -H 'Transfer-Encoding: chunked' -d x)" = 413
assert "an unknown path is 404" test "$(http_code /nope)" = 404
assert "an unknown path with POST is 404" test "$(http_code /nope -X POST)" = 404
big=$(head -c 40000 /dev/zero | tr '\0' a)
assert "an overlong header is 431 (libmicrohttpd)" \
    test "$(http_code / -H "X-Big: $big")" = 431

# Keep-alive: a second request on the same connection.
curl -sv -o /dev/null -o /dev/null "$(URL /)" "$(URL /bundle.jws)" 2>"$T/ka"
assert "two requests share one connection" grep -q 'Re-using existing connection' "$T/ka"
assert "no Connection: close on a normal reply" sh -c "! grep -qi '< Connection: close' '$T/ka'"

# Health and metrics.
assert "/healthz is 200 with a fresh signature and a live token" \
    test "$(http_code /healthz)" = 200
curl -s -o "$T/metrics" "$(URL /metrics)"
assert "metrics: sequence 1" grep -qx 'anchord_bundle_sequence 1' "$T/metrics"
assert "metrics: requests by path and code" \
    grep -Eq '^anchord_http_requests_total\{path="/",code="200"\} [0-9]+$' "$T/metrics"
assert "metrics: 405 counted" \
    grep -Eq '^anchord_http_requests_total\{path="/",code="405"\} [0-9]+$' "$T/metrics"
assert "metrics: keys by role and state" \
    grep -qx 'anchord_keys{role="bundle-signing",state="active"} 1' "$T/metrics"
assert "metrics: seconds to signature expiry" \
    grep -Eq '^anchord_bundle_signature_expiry_seconds [0-9]{4,}$' "$T/metrics"
assert "metrics: token up, no token errors" \
    sh -c "grep -qx 'anchord_token_up 1' '$T/metrics' && grep -qx 'anchord_token_errors_total 0' '$T/metrics'"

# The process split.
NET=$ANCHORD_PID
SIGNER=$(signer_pid)
assert "there is a signer process" test -n "$SIGNER"
assert "the signer has the PKCS#11 module mapped" grep -q libsofthsm2 "/proc/$SIGNER/maps"
assert "the signer runs as daemon" \
    sh -c "grep -Eq '^Uid:[[:space:]]+1[[:space:]]+1[[:space:]]+1' /proc/$SIGNER/status"
assert "the signer is not dumpable (its memory is closed to others)" \
    sh -c "! setpriv --reuid=daemon --regid=daemon --clear-groups cat /proc/$SIGNER/environ >/dev/null 2>&1"
assert "the network process has no PKCS#11 module mapped" \
    sh -c "! grep -q 'softhsm\|anchor-fault' /proc/$NET/maps"
assert "the network process runs as nobody" \
    sh -c "grep -Eq '^Uid:[[:space:]]+65534[[:space:]]+65534[[:space:]]+65534' /proc/$NET/status"
assert "the network process has no supplementary root group" \
    sh -c "grep -Eq '^Groups:[[:space:]]+65534[[:space:]]*$' /proc/$NET/status"
assert "the network process has no_new_privs" grep -Eq '^NoNewPrivs:[[:space:]]+1' "/proc/$NET/status"
PIN=$(cat "$T/pin")
assert "the PIN is not in the network process's environment" \
    sh -c "! tr '\0' '\n' </proc/$NET/environ | grep -qF '$PIN'"
# Read every readable mapping of the network process (as root); the trust
# domain name must be found (the scan works), the PIN must not.
check "the PIN is not in the network process's memory" $PY - "$NET" "$PIN" <<'PY'
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
assert_log_clean
finish
