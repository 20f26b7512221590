#!/usr/bin/python3
"""Forge what an adversarial bundle endpoint serves in anchor's federation
tests, with tests/forge.py's keys (hsm:LABEL for a key in the test's
SoftHSM token, pem:FILE for an attacker's software key).

usage:
  peer-forge.py bundle --from F2.jws --key SPEC [--td TD] [--seq N]
                [--set MEMBER=JSON ...] [--iat N] [--exp N] OUT
      F2.jws's payload and header times, changed as asked, signed by SPEC
  peer-forge.py signers --td TD --version N --min-sequence N --key SPEC OUT
      a signer set of SPEC's key alone, signed by it
  peer-forge.py plain --from F1.json [--seq N|--no-seq]
                [--set MEMBER=JSON ...] OUT
      an unsigned SPIFFE bundle (compact JSON) with these changes
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forge  # noqa: E402


def edits(obj, sets):
    for s in sets or ():
        k, _, v = s.partition("=")
        obj[k] = json.loads(v)
    return obj


def cmd_bundle(a):
    with open(a.__dict__["from"]) as f:
        env = json.load(f)
    payload = json.loads(forge.ub64u(env["payload"]))
    hdr = json.loads(forge.ub64u(env["signatures"][0]["protected"]))
    if a.seq is not None:
        payload["spiffe_sequence"] = a.seq
    edits(payload, a.set)
    key = forge.Key(a.key)
    td = a.td or hdr["spiffe_trust_domain"]
    iat = a.iat if a.iat is not None else hdr["iat"]
    exp = a.exp if a.exp is not None else hdr["exp"]
    p = forge.cj(payload).encode()
    h = forge.hdr2(key, td, payload["spiffe_sequence"], iat, exp)
    forge.write(os.path.dirname(a.out) or ".", os.path.basename(a.out),
                forge.envelope(p, [{"header": h, "key": key}]))


def cmd_signers(a):
    key = forge.Key(a.key)
    forge.write(os.path.dirname(a.out) or ".", os.path.basename(a.out),
                forge.f3(a.td, a.version, 1, a.min_sequence, [key], [key]))


def cmd_plain(a):
    with open(a.__dict__["from"]) as f:
        b = json.load(f)
    if a.no_seq:
        b.pop("spiffe_sequence", None)
    elif a.seq is not None:
        b["spiffe_sequence"] = a.seq
    edits(b, a.set)
    with open(a.out, "w") as f:
        f.write(forge.cj(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("--from", required=True)
    b.add_argument("--key", required=True)
    b.add_argument("--td")
    b.add_argument("--seq", type=int)
    b.add_argument("--set", action="append")
    b.add_argument("--iat", type=int)
    b.add_argument("--exp", type=int)
    b.add_argument("out")
    s = sub.add_parser("signers")
    s.add_argument("--td", required=True)
    s.add_argument("--version", type=int, required=True)
    s.add_argument("--min-sequence", type=int, required=True)
    s.add_argument("--key", required=True)
    s.add_argument("out")
    p = sub.add_parser("plain")
    p.add_argument("--from", required=True)
    p.add_argument("--seq", type=int)
    p.add_argument("--no-seq", action="store_true")
    p.add_argument("--set", action="append")
    p.add_argument("out")
    a = ap.parse_args()
    {"bundle": cmd_bundle, "signers": cmd_signers, "plain": cmd_plain}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
