#!/usr/bin/python3
"""Forge anchor envelopes (F2 signed bundles, F3 signer sets) for
tests/integration/verify-attacks.sh, independently of anchor's own C code.

Keys are named by a spec:
  hsm:LABEL   a key in the test's SoftHSM token, used through pkcs11-tool
              (the domain's real key: legitimately, or as a stolen key);
              needs FORGE_MODULE, FORGE_TOKEN and FORGE_PIN_FILE
  pem:FILE    a software key (an attacker's), PEM private key

usage:
  forge.py keygen [--curve P-256|P-384] OUT.pem
  forge.py attacks --td TD --signers S1.jws --bundle B1.jws --key1 SPEC
                   --key2 SPEC --attacker SPEC --attacker384 SPEC
                   --now NOW --out DIR
  forge.py interop --td TD --now NOW --out DIR

`attacks` writes one file per attack into DIR (see the names below);
`interop` makes a whole domain with python3-jwcrypto alone.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)

CRIT2 = ["spiffe_trust_domain", "spiffe_sequence", "iat", "exp"]
CRIT3 = ["spiffe_trust_domain", "signers_version"]
DAY = 86400


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ub64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def cj(obj):
    """Compact JSON, members in the order given (as anchor writes it)."""
    return json.dumps(obj, separators=(",", ":"))


class Key:
    """A signing key: in the token (hsm:LABEL) or in software (pem:FILE)."""

    def __init__(self, spec):
        kind, _, arg = spec.partition(":")
        self.spec = spec
        if kind == "hsm":
            self.label = arg
            self.priv = None
            self.id = self._find_id(arg)
            der = self._pkcs11("--read-object", "--type", "pubkey",
                               "--label", arg, out=True)
            self.pub = serialization.load_der_public_key(der)
        elif kind == "pem":
            with open(arg, "rb") as f:
                self.priv = serialization.load_pem_private_key(f.read(), None)
            self.pub = self.priv.public_key()
        else:
            raise SystemExit("forge.py: bad key spec %r" % spec)
        self.size = (self.pub.curve.key_size + 7) // 8
        self.crv = {32: "P-256", 48: "P-384"}[self.size]
        self.alg = {32: "ES256", 48: "ES384"}[self.size]
        nums = self.pub.public_numbers()
        self.x = b64u(nums.x.to_bytes(self.size, "big"))
        self.y = b64u(nums.y.to_bytes(self.size, "big"))
        tp = cj({"crv": self.crv, "kty": "EC", "x": self.x, "y": self.y})
        self.kid = b64u(hashlib.sha256(tp.encode()).digest())

    def _find_id(self, label):
        """pkcs11-tool --sign selects the key by --id only."""
        with open(os.environ["FORGE_PIN_FILE"]) as f:
            pin = f.read().strip()
        listing = subprocess.run(
            ["pkcs11-tool", "--module", os.environ["FORGE_MODULE"],
             "--token-label", os.environ["FORGE_TOKEN"], "--login", "--pin",
             pin, "--list-objects", "--type", "privkey"],
            check=True, capture_output=True, text=True).stdout
        cur = None
        for line in listing.splitlines():
            k, _, v = line.strip().partition(":")
            if k == "label":
                cur = v.strip()
            elif k == "ID" and cur == label:
                return v.strip()
        raise SystemExit("forge.py: no private key labelled %r" % label)

    def _pkcs11(self, *args, out=False, data=None):
        with tempfile.TemporaryDirectory() as d:
            cmd = ["pkcs11-tool", "--module", os.environ["FORGE_MODULE"],
                   "--token-label", os.environ["FORGE_TOKEN"]]
            if not out or data is not None:
                with open(os.environ["FORGE_PIN_FILE"]) as f:
                    cmd += ["--login", "--pin", f.read().strip()]
            if data is not None:
                with open(os.path.join(d, "in"), "wb") as f:
                    f.write(data)
                cmd += ["-i", os.path.join(d, "in")]
            cmd += list(args) + ["-o", os.path.join(d, "out")]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            with open(os.path.join(d, "out"), "rb") as f:
                return f.read()

    def jwk(self):
        return {"kty": "EC", "crv": self.crv, "x": self.x, "y": self.y,
                "kid": self.kid, "alg": self.alg}

    def sign(self, msg, der=False):
        """ECDSA over SHA-256/384 of msg: raw r||s, or DER."""
        h = hashes.SHA256() if self.size == 32 else hashes.SHA384()
        if self.priv is not None:
            r, s = decode_dss_signature(self.priv.sign(msg, ec.ECDSA(h)))
        else:
            dg = hashlib.new(h.name, msg).digest()
            raw = self._pkcs11("--sign", "-m", "ECDSA", "--id", self.id,
                               data=dg)
            r = int.from_bytes(raw[:self.size], "big")
            s = int.from_bytes(raw[self.size:], "big")
        if der:
            return encode_dss_signature(r, s)
        return r.to_bytes(self.size, "big") + s.to_bytes(self.size, "big")


def hdr2(key_or_kid, td, seq, iat, exp, alg=None, typ="spiffe-bundle+jws",
         crit=CRIT2, extra=None, kid=None):
    """An F2 protected header in anchor's member order, as text."""
    if isinstance(key_or_kid, Key):
        alg = alg or key_or_kid.alg
        kid = kid or key_or_kid.kid
    h = {"alg": alg, "kid": kid, "typ": typ, "crit": crit,
         "spiffe_trust_domain": td, "spiffe_sequence": seq, "iat": iat,
         "exp": exp}
    h.update(extra or {})
    return cj(h)


def hdr3(key, td, version, extra=None):
    h = {"alg": key.alg, "kid": key.kid, "typ": "spiffe-signers+jws",
         "crit": CRIT3, "spiffe_trust_domain": td, "signers_version": version}
    h.update(extra or {})
    return cj(h)


def envelope(payload, sigs, top_extra=None):
    """sigs: dicts with header (text), key (Key or None), der, signature
    (bytes, used when key is None), hmac (bytes: HS256 with that secret),
    extra (members added to the signature object)."""
    p64 = b64u(payload)
    out = []
    for s in sigs:
        h64 = b64u(s["header"].encode())
        msg = (h64 + "." + p64).encode()
        if s.get("hmac") is not None:
            sig = hmac.new(s["hmac"], msg, hashlib.sha256).digest()
        elif s.get("key") is not None:
            sig = s["key"].sign(msg, der=s.get("der", False))
        else:
            sig = s.get("signature", b"")
        o = {"protected": h64, "signature": b64u(sig)}
        o.update(s.get("extra") or {})
        out.append(o)
    env = {"payload": p64, "signatures": out}
    env.update(top_extra or {})
    return cj(env)


def f3_payload(td, version, threshold, min_seq, keys):
    return cj({"spiffe_trust_domain": td, "version": version,
               "threshold": threshold, "min_sequence": min_seq,
               "keys": [k.jwk() for k in keys]}).encode()


def f3(td, version, threshold, min_seq, keys, by, td_header=None):
    p = f3_payload(td, version, threshold, min_seq, keys)
    return envelope(p, [{"header": hdr3(k, td_header or td, version), "key": k}
                        for k in by])


def write(d, name, text):
    with open(os.path.join(d, name), "w" if isinstance(text, str) else "wb") as f:
        f.write(text)


def cmd_keygen(args):
    curve = ec.SECP384R1() if args.curve == "P-384" else ec.SECP256R1()
    k = ec.generate_private_key(curve)
    with open(args.out, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))


def cmd_attacks(a):
    td, now, d = a.td, a.now, a.out
    k1, k2 = Key(a.key1), Key(a.key2)
    x, x384 = Key(a.attacker), Key(a.attacker384)
    os.makedirs(d, exist_ok=True)
    with open(a.bundle) as f:
        b1 = json.load(f)
    base = json.loads(ub64u(b1["payload"]))

    def payload(seq, extra=None, drop=None):
        p = dict(base)
        p["spiffe_sequence"] = seq
        for m in drop or ():
            del p[m]
        p.update(extra or {})
        return cj(p).encode()

    iat, exp = now - 60, now - 60 + DAY

    def signed(name, seq, key=k1, **kw):
        write(d, name, envelope(payload(seq), [
            {"header": hdr2(key, td, seq, kw.get("iat", iat),
                            kw.get("exp", exp)), "key": key}]))

    # accepted baselines
    signed("seq2.jws", 2)
    signed("seq2-refresh.jws", 2, iat=iat + 600, exp=exp + 600)
    signed("seq3.jws", 3)

    # R1: one byte over 1 MiB (whitespace after a valid envelope)
    e = envelope(payload(4), [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}])
    write(d, "r1-oversize.jws", e + " " * (1024 * 1024 + 1 - len(e)))
    write(d, "r1-at-cap.jws", e + " " * (1024 * 1024 - len(e)))

    # R2: duplicate members in the envelope, a header, the payload
    e = envelope(payload(4), [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}])
    write(d, "r2-dup-envelope.jws", '{"payload":"e30",' + e[1:])
    h = hdr2(k1, td, 4, iat, exp)
    write(d, "r2-dup-header.jws", envelope(payload(4), [
        {"header": '{"kid":"%s",' % x.kid + h[1:], "key": k1}]))
    p = payload(4)
    write(d, "r2-dup-payload.jws", envelope(
        b'{"spiffe_sequence":99,' + p[1:],
        [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))

    # R3: flattened, compact, nine signatures, extra top-level member
    e = json.loads(envelope(payload(4), [{"header": hdr2(k1, td, 4, iat, exp),
                                          "key": k1}]))
    s0 = e["signatures"][0]
    write(d, "r3-flattened.jws", cj({"payload": e["payload"],
                                     "protected": s0["protected"],
                                     "signature": s0["signature"]}))
    write(d, "r3-compact.jws", "%s.%s.%s" % (s0["protected"], e["payload"],
                                             s0["signature"]))
    write(d, "r3-nine-signatures.jws", cj({"payload": e["payload"],
                                           "signatures": [s0] * 9}))
    write(d, "r3-extra-member.jws", cj(dict(e, unprotected={"kid": k1.kid})))

    # R4: an unprotected header next to the protected one
    write(d, "r4-unprotected-header.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1,
         "extra": {"header": {"alg": "none"}}}]))

    # R5: alg none, HS256 keyed with the public key, ES384 under the
    # P-256 kid (alg substitution), ES512
    write(d, "r5-alg-none.jws", envelope(payload(4), [
        {"header": hdr2(None, td, 4, iat, exp, alg="none", kid=k1.kid),
         "signature": b""}]))
    pem = k1.pub.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    write(d, "r5-hs256-confusion.jws", envelope(payload(4), [
        {"header": hdr2(None, td, 4, iat, exp, alg="HS256", kid=k1.kid),
         "hmac": pem}]))
    write(d, "r5-es384-substitution.jws", envelope(payload(4), [
        {"header": hdr2(None, td, 4, iat, exp, alg="ES384", kid=k1.kid),
         "key": x384}]))
    write(d, "r5-none-unknown-kid.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1},
        {"header": hdr2(None, td, 4, iat, exp, alg="none", kid="attacker"),
         "signature": b""}]))

    # R6: only the attacker's own kid; and next to a real one (ignored)
    write(d, "r6-untrusted-kid.jws", envelope(payload(4), [
        {"header": hdr2(x, td, 4, iat, exp), "key": x}]))
    write(d, "r6-extra-untrusted.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1},
        {"header": hdr2(x, td, 4, iat, exp), "key": x}]))

    # R7: wrong typ, signed by the real key; the signer set as a bundle
    write(d, "r7-typ-jwt.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp, typ="JWT"), "key": k1}]))

    # R8: unknown crit, b64:false, an embedded jwk (attacker's key and
    # signature under the real kid), crit out of order, x5u
    write(d, "r8-unknown-crit.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp, crit=CRIT2 + ["urn:x"],
                        extra={"urn:x": 1}), "key": k1}]))
    write(d, "r8-b64-false.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp, crit=CRIT2 + ["b64"],
                        extra={"b64": False}), "key": k1}]))
    xj = {m: x.jwk()[m] for m in ("kty", "crv", "x", "y")}
    write(d, "r8-embedded-jwk.jws", envelope(payload(4), [
        {"header": hdr2(x, td, 4, iat, exp, kid=k1.kid, extra={"jwk": xj}),
         "key": x}]))
    write(d, "r8-crit-order.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp, crit=list(reversed(CRIT2))),
         "key": k1}]))
    write(d, "r8-x5u.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp,
                        extra={"x5u": "https://attacker.example/"}),
         "key": k1}]))

    # R9: the real signature twice
    write(d, "r9-duplicate-kid.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1},
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))

    # R10: spoofed kid, DER, mix and match, truncated, r = 0
    write(d, "r10-spoofed-kid.jws", envelope(payload(4), [
        {"header": hdr2(x, td, 4, iat, exp, kid=k1.kid), "key": x}]))
    write(d, "r10-der.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1, "der": True}]))
    real = b1["signatures"][0]
    write(d, "r10-mix-and-match.jws", cj({
        "payload": b64u(payload(4)),
        "signatures": [{"protected": real["protected"],
                        "signature": real["signature"]}]}))
    good = json.loads(envelope(payload(4), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))
    sig = ub64u(good["signatures"][0]["signature"])
    write(d, "r10-truncated.jws", cj(dict(good, signatures=[dict(
        good["signatures"][0], signature=b64u(sig[:-1]))])))
    write(d, "r10-r-zero.jws", cj(dict(good, signatures=[dict(
        good["signatures"][0], signature=b64u(bytes(32) + sig[32:]))])))

    # F1: a payload that is not a SPIFFE bundle; nesting 100 deep
    write(d, "f1-no-keys.jws", envelope(payload(4, drop=["keys"]), [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))
    deep = payload(4)[:-1] + b',"x":' + b"[" * 100 + b"]" * 100 + b"}"
    write(d, "json-deep-nesting.jws", envelope(deep, [
        {"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))
    write(d, "json-invalid-utf8.jws", envelope(
        payload(4)[:-1] + b',"x":"\xff"}',
        [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))
    write(d, "json-sequence-1e400.jws", envelope(
        payload(4).replace(b'"spiffe_sequence":4', b'"spiffe_sequence":1e400'),
        [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))
    write(d, "json-sequence-2to64.jws", envelope(
        payload(4).replace(b'"spiffe_sequence":4',
                           b'"spiffe_sequence":18446744073709551616'),
        [{"header": hdr2(k1, td, 4, iat, exp), "key": k1}]))

    # R12: another trust domain, header/payload sequence mismatch
    write(d, "r12-wrong-td.jws", envelope(payload(4), [
        {"header": hdr2(k1, "staging.example.com", 4, iat, exp), "key": k1}]))
    write(d, "r12-seq-mismatch.jws", envelope(payload(4), [
        {"header": hdr2(k1, td, 5, iat, exp), "key": k1}]))

    # R13: not yet valid, valid for too long, exp before iat
    signed("r13-not-yet-valid.jws", 4, iat=now + 301, exp=now + DAY)
    signed("r13-too-long.jws", 4, iat=iat, exp=iat + 30 * DAY + 1)
    signed("r13-exp-before-iat.jws", 4, iat=iat, exp=iat)

    # R14: equivocation (sequence 2, other bytes); fast-forward by the key
    write(d, "r14-equivocation.jws", envelope(payload(2, extra={"x": 1}), [
        {"header": hdr2(k1, td, 2, iat, exp), "key": k1}]))
    write(d, "stolen-ff-1000.jws", envelope(payload(1000, extra={"keys": []}), [
        {"header": hdr2(k1, td, 1000, iat, exp), "key": k1}]))
    write(d, "stolen-ff-1001.jws", envelope(payload(1001, extra={"keys": []}), [
        {"header": hdr2(k1, td, 1001, iat, exp), "key": k1}]))

    # Signer sets.  Rotation: version 2 adds key2 (min_sequence 5);
    # version 3 requires both (threshold 2, min_sequence 7).
    write(d, "signers-2.jws", f3(td, 2, 1, 5, [k1, k2], [k1, k2]))
    write(d, "signers-3-threshold2.jws", f3(td, 3, 2, 7, [k1, k2], [k1, k2]))
    signed("rot-seq3-key1.jws", 3)
    signed("rot-seq5-key2.jws", 5, key=k2)
    write(d, "r11-disagree.jws", envelope(payload(6), [
        {"header": hdr2(k1, td, 6, iat, exp), "key": k1},
        {"header": hdr2(k2, td, 6, iat, exp + 60), "key": k2}]))
    write(d, "rot-seq6-both.jws", envelope(payload(6), [
        {"header": hdr2(k1, td, 6, iat, exp), "key": k1},
        {"header": hdr2(k2, td, 6, iat, exp), "key": k2}]))
    signed("rot-seq7-key1.jws", 7)
    write(d, "rot-seq7-both.jws", envelope(payload(7), [
        {"header": hdr2(k1, td, 7, iat, exp), "key": k1},
        {"header": hdr2(k2, td, 7, iat, exp), "key": k2}]))
    # Recovery after a stolen key1: version 2 = {key2}, min_sequence 2.
    write(d, "recovery-signers-2.jws", f3(td, 2, 1, 2, [k2], [k1, k2]))
    signed("recovery-seq2-key2.jws", 2, key=k2)
    # Refused chain steps.
    write(d, "f3-not-cross-signed.jws", f3(td, 2, 1, 2, [k2], [k2]))
    write(d, "f3-old-only.jws", f3(td, 2, 1, 2, [k2], [k1]))
    write(d, "f3-skip-to-3.jws", f3(td, 3, 1, 2, [k1, k2], [k1, k2]))
    write(d, "f3-attacker-2.jws", f3(td, 2, 1, 1, [x], [x]))
    write(d, "f3-wrong-td.jws", f3("staging.example.com", 2, 1, 2, [k1, k2],
                                   [k1, k2]))
    write(d, "f3-header-td.jws", f3(td, 2, 1, 2, [k1, k2], [k1, k2],
                                    td_header="staging.example.com"))
    write(d, "f3-version-mismatch.jws", envelope(
        f3_payload(td, 2, 1, 2, [k1, k2]),
        [{"header": hdr3(k, td, 3), "key": k} for k in (k1, k2)]))
    p = json.loads(f3_payload(td, 2, 1, 2, [k1, k2]))
    p["keys"][1]["kid"] = k1.kid
    write(d, "f3-duplicate-kid.jws", envelope(cj(p).encode(), [
        {"header": hdr3(k1, td, 2), "key": k1}]))
    p = json.loads(f3_payload(td, 2, 1, 2, [k1, k2]))
    p["keys"][1]["kid"] = x.kid
    write(d, "f3-kid-not-thumbprint.jws", envelope(cj(p).encode(), [
        {"header": hdr3(k1, td, 2), "key": k1}]))
    write(d, "f3-threshold-3-of-2.jws", f3(td, 2, 3, 2, [k1, k2], [k1, k2]))
    # A pinned signer set re-signed by an attacker (payload unchanged).
    s1 = json.loads(open(a.signers).read())
    write(d, "f3-pinned-resigned.jws", envelope(ub64u(s1["payload"]), [
        {"header": hdr3(x, td, 1, extra={}).replace(x.kid, k1.kid), "key": x}]))


def cmd_interop(a):
    """A domain made with jwcrypto alone: two P-256 keys, signer set 1
    (threshold 2) and bundle 1, both in General JSON Serialization."""
    from jwcrypto import jwk, jws
    from jwcrypto.common import JWSEHeaderParameter, json_encode

    td, now, d = a.td, a.now, a.out
    os.makedirs(d, exist_ok=True)
    reg = {n: JWSEHeaderParameter(n, True, True, None) for n in
           ("spiffe_trust_domain", "spiffe_sequence", "iat", "exp",
            "signers_version")}
    keys = [jwk.JWK.generate(kty="EC", crv="P-256") for _ in range(2)]
    pub = []
    for k in keys:
        p = json.loads(k.export_public())
        pub.append({"kty": "EC", "crv": "P-256", "x": p["x"], "y": p["y"],
                    "kid": k.thumbprint(), "alg": "ES256"})
    sp = cj({"spiffe_trust_domain": td, "version": 1, "threshold": 2,
             "min_sequence": 1, "keys": pub}).encode()

    def make(payload, extra_hdr, typ, crit):
        o = jws.JWS(payload)
        o.header_registry.update(reg)
        for k in keys:
            h = {"alg": "ES256", "kid": k.thumbprint(), "typ": typ,
                 "crit": crit}
            h.update(extra_hdr)
            o.add_signature(k, alg="ES256", protected=json_encode(h))
        return o.serialize(compact=False)

    write(d, "signers-1.jws", make(sp, {"spiffe_trust_domain": td,
                                        "signers_version": 1},
                                   "spiffe-signers+jws", CRIT3))
    f1 = cj({"keys": [{"kty": "EC", "use": "jwt-svid", "kid": pub[0]["kid"],
                       "crv": "P-256", "x": pub[0]["x"], "y": pub[0]["y"]}],
             "spiffe_sequence": 1, "spiffe_refresh_hint": 300}).encode()
    write(d, "bundle-1.json", f1)
    write(d, "bundle-1.jws", make(f1, {"spiffe_trust_domain": td,
                                       "spiffe_sequence": 1, "iat": now,
                                       "exp": now + DAY},
                                  "spiffe-bundle+jws", CRIT2))
    # one signature: jwcrypto writes the flattened form, which R3 refuses
    o = jws.JWS(f1)
    o.header_registry.update(reg)
    o.add_signature(keys[0], alg="ES256", protected=json_encode({
        "alg": "ES256", "kid": keys[0].thumbprint(), "typ": "spiffe-bundle+jws",
        "crit": CRIT2, "spiffe_trust_domain": td, "spiffe_sequence": 1,
        "iat": now, "exp": now + DAY}))
    write(d, "bundle-1-flattened.jws", o.serialize(compact=False))
    write(d, "bundle-1-compact.jws", o.serialize(compact=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("--curve", default="P-256", choices=["P-256", "P-384"])
    k.add_argument("out")
    t = sub.add_parser("attacks")
    for o in ("td", "signers", "bundle", "key1", "key2", "attacker",
              "attacker384", "out"):
        t.add_argument("--" + o, required=True)
    t.add_argument("--now", type=int, required=True)
    i = sub.add_parser("interop")
    i.add_argument("--td", required=True)
    i.add_argument("--now", type=int, required=True)
    i.add_argument("--out", required=True)
    a = ap.parse_args()
    {"keygen": cmd_keygen, "attacks": cmd_attacks, "interop": cmd_interop}[
        a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
