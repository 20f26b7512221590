#!/bin/sh
# anchor quick start: build, make a private SoftHSM token, run the key
# ceremony, start anchord on localhost, then fetch the signed bundle over
# HTTP and check it against signer set version 1 with anchor-verify and with
# an independent JOSE implementation (jwcrypto).
#
# Everything lives under ./quickstart (token, PIN file, state, config); run
# it again to start over.  anchord keeps running; the last lines say how to
# stop it.  PORT=NNNN picks another port than 8443.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh

echo "== building"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p build-quickstart
(cd build-quickstart && { [ -f Makefile ] || ../configure -q; } && make -s -j"$(nproc)" >/dev/null)
B="$top/build-quickstart"

QS="$top/quickstart"
PORT=${PORT:-8443}
if [ -f "$QS/anchord.pid" ]; then
	kill "$(cat "$QS/anchord.pid")" 2>/dev/null || true
	sleep 1
fi
rm -rf "$QS"
mkdir -p "$QS/tokens"
chmod 700 "$QS"

echo "== private SoftHSM token"
cat >"$QS/softhsm2.conf" <<CONF
directories.tokendir = $QS/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF="$QS/softhsm2.conf"
umask 077
od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$QS/pin"
printf '\n' >>"$QS/pin"
so_pin=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
umask 022
softhsm2-util --init-token --free --label anchor-quickstart \
    --so-pin "$so_pin" --pin "$(cat "$QS/pin")" >/dev/null
unset so_pin
echo "token anchor-quickstart, PIN in $QS/pin (mode 0600)"

cat >"$QS/anchor.yaml" <<CONF
trust_domain: quickstart.example.org
state_dir: $QS/state
pkcs11:
  module: /usr/lib/softhsm/libsofthsm2.so
  token: "pkcs11:token=anchor-quickstart"
  pin_source: file:$QS/pin
ca_subject: { country: [US], organization: [Quickstart Example] }
bundle: { refresh_hint: 300s, signature_validity: 24h }
federation:
  # Plain HTTP on the loopback for this demonstration only: a signed bundle
  # does not need a trusted channel.  Production uses https_web or
  # https_spiffe (see anchord(8)).
  allow_insecure_http: true
  bundle_endpoint: { address: 127.0.0.1, port: $PORT, profile: http }
CONF

echo "== key ceremony"
"$B/anchor-ceremony" -c "$QS/anchor.yaml" init --operator "$(id -un)" \
    --witness "quickstart" --yes --out-dir "$QS/ceremony"

echo "== status"
"$B/anchorctl" -c "$QS/anchor.yaml" status

echo "== starting anchord on http://127.0.0.1:$PORT"
user_opts=""
if [ "$(id -u)" -eq 0 ]; then
	# The network process drops to nobody; the signer keeps the state's owner.
	user_opts="--user nobody"
fi
"$B/anchord" -c "$QS/anchor.yaml" $user_opts -p "$QS/anchord.pid" 2>"$QS/anchord.log"
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
	i=$((i + 1))
	if [ $i -gt 50 ]; then
		echo "anchord did not come up:"; cat "$QS/anchord.log"; exit 1
	fi
	sleep 0.2
done
echo "healthz: $(curl -s "http://127.0.0.1:$PORT/healthz")"

echo "== fetching the signed bundle: curl http://127.0.0.1:$PORT/bundle.jws"
curl -sf -D "$QS/headers.txt" -o "$QS/bundle.jws" "http://127.0.0.1:$PORT/bundle.jws"
grep -i -E '^(content-type|etag|cache-control):' "$QS/headers.txt"
cat "$QS/bundle.jws"; echo

echo "== anchor-verify against signer set version 1 (pinned by its fingerprint)"
"$B/anchor-verify" --trust-domain quickstart.example.org \
    --signers "$QS/ceremony/signers-1.jws" --state "$QS/relying-party.state" \
    --out "$QS/bundle.json" "$QS/bundle.jws"
echo "accepted: sequence $(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spiffe_sequence"])' "$QS/bundle.json")"

echo "== the same check with jwcrypto, an independent JOSE implementation"
/usr/bin/python3 "$top/tests/jws_verify.py" --signers "$QS/ceremony/signers-1.jws" \
    --typ spiffe-bundle+jws --payload-out "$QS/bundle-jwcrypto.json" "$QS/bundle.jws"
cmp "$QS/bundle.json" "$QS/bundle-jwcrypto.json"
curl -sf -o "$QS/served.json" "http://127.0.0.1:$PORT/"
cmp "$QS/bundle.json" "$QS/served.json"
echo "both verifiers accept it, and GET / serves exactly the verified payload:"
/usr/bin/python3 -m json.tool "$QS/bundle.json"

echo
echo "anchord is running (pid $(cat "$QS/anchord.pid")); stop it with:"
echo "    kill \$(cat $QS/anchord.pid)"
