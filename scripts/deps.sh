#!/bin/sh
# Install the Debian 12 packages anchor needs to build, test and run its
# quick start.  Idempotent: installs only what is missing.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config
libssl-dev libp11-dev libp11-kit-dev p11-kit libgnutls28-dev
libmicrohttpd-dev libjansson-dev libsqlite3-dev libyaml-dev
libcurl4-openssl-dev libgfshare-dev libcmocka-dev
softhsm2 opensc gnutls-bin openssl sqlite3 python3-jwcrypto python3-pykcs11
libengine-pkcs11-openssl faketime bc curl procps
clang libclang-rt-14-dev"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
