#!/usr/bin/python3
"""Verify an anchor JWS envelope (F2 signed bundle or F3 signer set) with
python3-jwcrypto, independently of anchor's own C code.

usage: jws_verify.py --signers F3.jws [--typ spiffe-bundle+jws|spiffe-signers+jws]
                     [--payload-out FILE] ENVELOPE.jws

The trusted keys and threshold come from the payload of the --signers file
(taken as trusted: pass the same file as ENVELOPE.jws to check an F3's
self-signature).  At least `threshold` distinct kids of that set must
verify.  The verified payload goes to --payload-out or stdout.
Exit 0 when verified, 1 with a message saying why not.
"""

import argparse
import base64
import json
import re
import sys

from jwcrypto import jwk, jws
from jwcrypto.common import JWException, JWSEHeaderParameter

CRIT = {
    "spiffe-bundle+jws": ["spiffe_trust_domain", "spiffe_sequence", "iat", "exp"],
    "spiffe-signers+jws": ["spiffe_trust_domain", "signers_version"],
}
# anchor's header members, known to jwcrypto as critical and protected
REGISTRY = {
    name: JWSEHeaderParameter(name, True, True, None)
    for name in ("spiffe_trust_domain", "spiffe_sequence", "iat", "exp",
                 "signers_version")
}
SIG_LEN = {"ES256": 64, "ES384": 96}
MAX_SIGNATURES = 8


class Failure(Exception):
    pass


def no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Failure("duplicate JSON member %r" % k)
        obj[k] = v
    return obj


def load_json(text, what):
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError as e:
        raise Failure("%s: not JSON: %s" % (what, e)) from None


def b64url(s, what):
    """Strict base64url: url-safe alphabet, no padding, canonical bits."""
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s) \
            or len(s) % 4 == 1:
        raise Failure("%s: not unpadded base64url" % what)
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != s:
        raise Failure("%s: non-canonical base64url" % what)
    return raw


def load_envelope(path):
    with open(path, "rb") as f:
        env = load_json(f.read().decode("utf-8"), path)
    if not isinstance(env, dict) or set(env) != {"payload", "signatures"}:
        raise Failure("%s: not exactly {payload, signatures}" % path)
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not 1 <= len(sigs) <= MAX_SIGNATURES:
        raise Failure("%s: 1 to %d signatures required" % (path, MAX_SIGNATURES))
    for s in sigs:
        if not isinstance(s, dict) or set(s) != {"protected", "signature"}:
            raise Failure("%s: a signature is not exactly {protected, signature}"
                          % path)
    return env


def load_signers(path):
    """The trusted keys (kid -> JWK) and threshold of an F3 payload."""
    env = load_envelope(path)
    sp = load_json(b64url(env["payload"], "signer-set payload").decode("utf-8"),
                   "signer-set payload")
    keys = {}
    for k in sp["keys"]:
        if set(k) != {"kty", "crv", "x", "y", "kid", "alg"}:
            raise Failure("signer-set key members: %s" % sorted(k))
        key = jwk.JWK(kty=k["kty"], crv=k["crv"], x=k["x"], y=k["y"])
        if key.thumbprint() != k["kid"]:
            raise Failure("kid %s is not the key's RFC 7638 thumbprint"
                          % k["kid"])
        if k["kid"] in keys:
            raise Failure("repeated kid %s in the signer set" % k["kid"])
        keys[k["kid"]] = (key, k["alg"])
    threshold = sp["threshold"]
    if not isinstance(threshold, int) or not 1 <= threshold <= len(keys):
        raise Failure("bad threshold %r" % threshold)
    return keys, threshold


def verify(env, keys, threshold, want_typ):
    payload = b64url(env["payload"], "payload")
    seen, verified = set(), set()
    for s in env["signatures"]:
        hdr = load_json(b64url(s["protected"], "protected header")
                        .decode("utf-8"), "protected header")
        kid, typ = hdr.get("kid"), hdr.get("typ")
        if kid in seen:
            raise Failure("repeated kid %s" % kid)
        seen.add(kid)
        if typ not in CRIT or (want_typ and typ != want_typ):
            raise Failure("typ %r, expected %s" % (typ, want_typ or
                                                  " or ".join(CRIT)))
        if hdr.get("crit") != CRIT[typ]:
            raise Failure("crit %r" % hdr.get("crit"))
        if kid not in keys:
            continue        # not a trusted signer: does not count
        key, alg = keys[kid]
        if len(b64url(s["signature"], "signature")) != SIG_LEN.get(alg):
            raise Failure("signature of kid %s: wrong length for %s"
                          % (kid, alg))
        one = jws.JWS(header_registry=REGISTRY)
        one.allowed_algs = list(SIG_LEN)
        try:
            one.deserialize(json.dumps({"payload": env["payload"],
                                        "protected": s["protected"],
                                        "signature": s["signature"]}))
            one.verify(key, alg=alg)
        except JWException as e:
            raise Failure("signature of kid %s does not verify: %s"
                          % (kid, e)) from None
        verified.add(kid)
    if len(verified) < threshold:
        raise Failure("%d trusted signature(s) verified, threshold is %d"
                      % (len(verified), threshold))
    return payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signers", required=True)
    ap.add_argument("--typ", choices=sorted(CRIT))
    ap.add_argument("--payload-out")
    ap.add_argument("envelope")
    args = ap.parse_args()
    try:
        keys, threshold = load_signers(args.signers)
        payload = verify(load_envelope(args.envelope), keys, threshold,
                         args.typ)
    except Failure as e:
        print("jws_verify: %s: %s" % (args.envelope, e), file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print("jws_verify: %s: malformed: %r" % (args.envelope, e),
              file=sys.stderr)
        return 1
    if args.payload_out:
        with open(args.payload_out, "wb") as f:
            f.write(payload)
    else:
        sys.stdout.buffer.write(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
