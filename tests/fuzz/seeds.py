#!/usr/bin/python3
"""Write seed corpora for the libFuzzer targets in tests/fuzz/.

usage: seeds.py VECTORS OUTDIR

OUTDIR/envelope, OUTDIR/signers and OUTDIR/bundle receive valid inputs
signed with the key of RFC 7515 appendix A.3 (the key the targets pin) and
the SPIFFE bundles of VECTORS/spiffe.
"""

import base64
import glob
import os
import shutil
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import forge  # noqa: E402

TD = "prod.example.com"
NOW = 1767225600
D = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"	# RFC 7515 A.3


def main():
    vectors, out = sys.argv[1], sys.argv[2]
    for sub in ("envelope", "signers", "bundle"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    d = int.from_bytes(base64.urlsafe_b64decode(D + "="), "big")
    priv = ec.derive_private_key(d, ec.SECP256R1())
    pem = os.path.join(out, "a3.pem")
    with open(pem, "wb") as f:
        f.write(priv.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    k = forge.Key("pem:" + pem)
    bundles = sorted(glob.glob(os.path.join(vectors, "spiffe", "**", "*.json"),
                               recursive=True))
    for i, b in enumerate(bundles):
        shutil.copy(b, os.path.join(out, "bundle", "spiffe-%d.json" % i))
    f1 = forge.cj({"keys": [], "spiffe_sequence": 5,
                   "spiffe_refresh_hint": 300}).encode()
    for seq, payload in ((5, f1), (1, open(bundles[0], "rb").read())):
        env = forge.envelope(payload, [{"header": forge.hdr2(
            k, TD, seq, NOW - 60, NOW + 86400), "key": k}])
        with open(os.path.join(out, "envelope", "seq%d.jws" % seq), "w") as f:
            f.write(env)
    with open(os.path.join(out, "signers", "signers-1.jws"), "w") as f:
        f.write(forge.f3(TD, 1, 1, 1, [k], [k]))
    with open(os.path.join(out, "signers", "signers-2.jws"), "w") as f:
        f.write(forge.f3(TD, 2, 1, 3, [k], [k]))
    os.unlink(pem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
