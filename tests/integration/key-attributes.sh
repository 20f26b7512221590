#!/bin/sh
# The ceremony's private keys, inspected with tools that are not anchor's:
# OpenSC's pkcs11-tool, GnuTLS's p11tool and PyKCS11.
. "$top_srcdir/tests/lib.sh"

new_token attrs
write_config "$T/anchor.yaml" attrs.example.com attrs
check "ceremony init" "$CEREMONY" -c "$T/anchor.yaml" init --operator op --yes

PIN=$(cat "$T/pin")
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label attrs --login --pin "$PIN" \
    --list-objects --type privkey >"$T/objs.txt" 2>&1
assert "pkcs11-tool lists three private keys" \
    test "$(grep -c '^Private Key Object' "$T/objs.txt")" -eq 3
for role in x509-ca jwt bundle-signing; do
	awk -v l="anchor/attrs.example.com/$role/1" '
	    /^Private Key Object/ { show = 0 }
	    $1 == "label:" && $2 == l { show = 1 }
	    show' "$T/objs.txt" >"$T/$role.txt"
	assert "$role: pkcs11-tool says sensitive, always sensitive, never extractable, local" \
	    grep -q 'Access: *sensitive, always sensitive, never extractable, local' "$T/$role.txt"
	assert "$role: usage is sign only (no decrypt, unwrap, derive)" \
	    grep -qx ' *Usage: *sign' "$T/$role.txt"
done

p11tool --provider "$SOFTHSM_MODULE" --list-all-privkeys --login --set-pin "$PIN" \
    "pkcs11:token=attrs" >"$T/p11tool.txt" 2>&1
assert "p11tool: every private key has CKA_SENSITIVE and CKA_NEVER_EXTRACTABLE" \
    test "$(grep -c 'Flags:.*CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' "$T/p11tool.txt")" -eq 3

# Read the attributes one by one, and try to read the private value.
check "PyKCS11: attributes false/true as required, CKA_VALUE unreadable" \
    $PY - "$SOFTHSM_MODULE" attrs "$T/pin" <<'PY'
import sys
import PyKCS11
from PyKCS11.LowLevel import CKA_VALUE, CKR_ATTRIBUTE_SENSITIVE
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == sys.argv[2]][0]
s = lib.openSession(slot)
s.login(open(sys.argv[3]).read().strip())
keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
assert len(keys) == 3, len(keys)
want = {PyKCS11.CKA_TOKEN: True, PyKCS11.CKA_PRIVATE: True,
        PyKCS11.CKA_SENSITIVE: True, PyKCS11.CKA_ALWAYS_SENSITIVE: True,
        PyKCS11.CKA_EXTRACTABLE: False, PyKCS11.CKA_NEVER_EXTRACTABLE: True,
        PyKCS11.CKA_SIGN: True, PyKCS11.CKA_DECRYPT: False,
        PyKCS11.CKA_UNWRAP: False, PyKCS11.CKA_DERIVE: False}
for k in keys:
    got = s.getAttributeValue(k, list(want))
    for (a, v), g in zip(want.items(), got):
        assert bool(g) == v, (PyKCS11.CKA[a], g)
    try:
        v = s.getAttributeValue(k, [CKA_VALUE])
        assert v == [None], "CKA_VALUE readable: %r" % (v,)
    except PyKCS11.PyKCS11Error as e:
        assert e.value == CKR_ATTRIBUTE_SENSITIVE, e
s.logout()
PY
finish
