#!/bin/sh
# anchor quick start: build, make a private SoftHSM token, run the key
# ceremony, then fetch the signed bundle and check it with an independent
# JOSE implementation (jwcrypto) against signer set version 1.
#
# Everything lives under ./quickstart (token, PIN file, state, config); run
# it again to start over.
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
CONF

echo "== key ceremony"
"$B/anchor-ceremony" -c "$QS/anchor.yaml" init --operator "$(id -un)" \
    --witness "quickstart" --yes --out-dir "$QS/ceremony"

echo "== status"
"$B/anchorctl" -c "$QS/anchor.yaml" status

echo "== signed bundle (anchorctl bundle --format jws)"
"$B/anchorctl" -c "$QS/anchor.yaml" bundle --format jws >"$QS/bundle.jws"
cat "$QS/bundle.jws"; echo

echo "== verifying with jwcrypto against signer set version 1"
/usr/bin/python3 "$top/tests/jws_verify.py" --signers "$QS/ceremony/signers-1.jws" \
    --typ spiffe-bundle+jws --payload-out "$QS/bundle.json" "$QS/bundle.jws"
echo "verified SPIFFE bundle:"
/usr/bin/python3 -m json.tool "$QS/bundle.json"
