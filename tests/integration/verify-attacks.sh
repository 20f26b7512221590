#!/bin/sh
# anchor-verify against a real domain (anchor-ceremony over a private
# SoftHSM token) and against envelopes forged by tests/forge.py: with the
# domain's own key through pkcs11-tool (a legitimate signer, or a stolen
# key), and with attacker keys.  One test per rule, each with its exact
# exit code (DESIGN.md §2 "anchor-verify exit codes").
. "$top_srcdir/tests/lib.sh"

TD=prod.example.com
NOW=1767225600			# the ceremony
V=$((NOW + 120))		# the verifier's clock
DAY=86400
AV="$top_builddir/anchor-verify"
FORGE="$PY $top_srcdir/tests/forge.py"

new_token anchor-test
write_config "$T/anchor.yaml" $TD anchor-test
C="-c $T/anchor.yaml"

check "ceremony init" "$CEREMONY" $C init --operator "Alice Operator" \
    --witness "Bob Witness" --yes --now $NOW --out-dir "$T/out"
check "anchorctl bundle --format jws" \
    sh -c "'$ANCHORCTL' $C bundle --format jws >'$T/b1.jws'"
check "anchorctl bundle --format spiffe" \
    sh -c "'$ANCHORCTL' $C bundle --format spiffe >'$T/b1.json'"
S1="$T/out/signers-1.jws"
KEY1="anchor/$TD/bundle-signing/1"

# A second key in the token: the successor of a rotation, or the
# replacement after the first one was stolen.
check "a successor key in the token" pkcs11-tool --module "$SOFTHSM_MODULE" \
    --token-label anchor-test --login --pin "$PIN" --keypairgen \
    --key-type EC:prime256v1 --label test-successor --id 5e --usage-sign
export FORGE_MODULE="$SOFTHSM_MODULE" FORGE_TOKEN=anchor-test \
    FORGE_PIN_FILE="$T/pin"
check "attacker keys" sh -c "$FORGE keygen '$T/x.pem' &&
    $FORGE keygen --curve P-384 '$T/x384.pem'"
check "forge the attacks" $FORGE attacks --td $TD --signers "$S1" \
    --bundle "$T/b1.jws" --key1 "hsm:$KEY1" --key2 hsm:test-successor \
    --attacker "pem:$T/x.pem" --attacker384 "pem:$T/x384.pem" --now $V \
    --out "$T/f"
F="$T/f"

# pinned FILE...: the ceremony's signer set as the root of trust, no state.
pinned() {
	"$AV" --trust-domain $TD --signers "$S1" --now $V "$@"
}
# says TEXT: the last command's message contains TEXT.
says() {
	assert "  ... and says \"$1\"" grep -qF -- "$1" "$T/last.err"
}

# --- accepted ---------------------------------------------------------
check_exit 0 "the ceremony's bundle verifies against signer set 1" \
    pinned "$T/b1.jws"
assert "the verified bytes on stdout are anchorctl's F1 bundle" \
    cmp -s "$T/last.out" "$T/b1.json"
check_exit 0 "--out writes the verified bytes" pinned --out "$T/v1.json" "$T/b1.jws"
assert "  ... to the file and nothing to stdout" \
    sh -c "cmp -s '$T/v1.json' '$T/b1.json' && test ! -s '$T/last.out'"
check_exit 0 "bundle 2, signed in the token, verifies" pinned "$F/seq2.jws"
check_exit 0 "an envelope of exactly 1 MiB is within R1" pinned "$F/r1-at-cap.jws"
check_exit 0 "R6: an extra signature by an unknown kid is ignored" \
    pinned "$F/r6-extra-untrusted.jws"

# --- R1 to R4, R8, JSON, F1: malformed (3) ----------------------------
check_exit 3 "R1 oversize: 1 MiB + 1 byte" pinned "$F/r1-oversize.jws"
says "R1 size"
check_exit 3 "R1 --max-bytes applies to the bundle" \
    pinned --max-bytes 1000 "$T/b1.jws"
n=$(wc -c <"$S1")
check_exit 8 "R1 --max-bytes applies to the signer set" \
    pinned --max-bytes $((n - 1)) "$T/b1.jws"
check_exit 3 "R2 duplicate member in the envelope" pinned "$F/r2-dup-envelope.jws"
says "R2 duplicate member"
check_exit 3 "R2 duplicate member in a protected header" pinned "$F/r2-dup-header.jws"
check_exit 3 "R2 duplicate member in the payload" pinned "$F/r2-dup-payload.jws"
check_exit 3 "R3 flattened serialization" pinned "$F/r3-flattened.jws"
says "R3 envelope"
check_exit 3 "R3 compact serialization" pinned "$F/r3-compact.jws"
check_exit 3 "R3 nine signatures" pinned "$F/r3-nine-signatures.jws"
check_exit 3 "R3 an extra top-level member" pinned "$F/r3-extra-member.jws"
check_exit 3 "R4 unprotected header" pinned "$F/r4-unprotected-header.jws"
says "R4 signature 0"
check_exit 3 "R8 unknown crit" pinned "$F/r8-unknown-crit.jws"
says "R8 header 0"
check_exit 3 "R8 b64:false" pinned "$F/r8-b64-false.jws"
check_exit 3 "R8 embedded jwk (attacker's key under the real kid)" \
    pinned "$F/r8-embedded-jwk.jws"
check_exit 3 "R8 crit out of order" pinned "$F/r8-crit-order.jws"
check_exit 3 "R8 x5u" pinned "$F/r8-x5u.jws"
check_exit 3 "JSON nested 101 deep in a signed payload" \
    pinned "$F/json-deep-nesting.jws"
says "nested deeper than 64"
check_exit 3 "JSON invalid UTF-8 in a signed payload" \
    pinned "$F/json-invalid-utf8.jws"
check_exit 3 "JSON spiffe_sequence 1e400" pinned "$F/json-sequence-1e400.jws"
check_exit 3 "JSON spiffe_sequence 2^64" pinned "$F/json-sequence-2to64.jws"
check_exit 3 "F1 a signed payload without keys" pinned "$F/f1-no-keys.jws"
says "F1 bundle: keys is missing"

# --- R5, R6, R9, R10: not trusted (4) ---------------------------------
check_exit 4 "R5 alg none" pinned "$F/r5-alg-none.jws"
says "R5 alg"
check_exit 4 "R5 HS256 keyed with the public key" pinned "$F/r5-hs256-confusion.jws"
check_exit 4 "R5 ES384 under the P-256 kid (alg substitution)" \
    pinned "$F/r5-es384-substitution.jws"
check_exit 4 "R5 alg none under an unknown kid next to a valid signature" \
    pinned "$F/r5-none-unknown-kid.jws"
check_exit 4 "R6 untrusted kid (the attacker's own)" pinned "$F/r6-untrusted-kid.jws"
says "R6 untrusted"
check_exit 4 "R9 duplicated kid" pinned "$F/r9-duplicate-kid.jws"
says "R9 repeated kid"
check_exit 4 "R10 spoofed kid (attacker's signature under the real kid)" \
    pinned "$F/r10-spoofed-kid.jws"
says "R10 signature"
check_exit 4 "R10 DER instead of r||s" pinned "$F/r10-der.jws"
says "needs raw r||s of 64"
check_exit 4 "R10 mix and match: bundle 1's signature on bundle 4" \
    pinned "$F/r10-mix-and-match.jws"
check_exit 4 "R10 truncated signature" pinned "$F/r10-truncated.jws"
check_exit 4 "R10 r = 0" pinned "$F/r10-r-zero.jws"

# --- R7, R11, R12: wrong domain, type or mismatch (7) ------------------
check_exit 7 "R7 typ JWT" pinned "$F/r7-typ-jwt.jws"
says "R7 typ"
check_exit 7 "R7 the signer set offered as a bundle" pinned "$S1"
check_exit 7 "R12 wrong trust domain (signed by the real key)" \
    pinned "$F/r12-wrong-td.jws"
says "R12 wrong trust domain"
check_exit 7 "R12 header sequence 5, payload 4" pinned "$F/r12-seq-mismatch.jws"
says "R12 sequence mismatch"

# --- R13: time (6) ------------------------------------------------------
check_exit 6 "R13 not yet valid (iat 301 s ahead)" pinned "$F/r13-not-yet-valid.jws"
says "R13 not yet valid"
check_exit 6 "R13 valid for 30 days and 1 second" pinned "$F/r13-too-long.jws"
check_exit 0 "  ... accepted with --max-validity 31 days" \
    pinned --max-validity $((31 * DAY)) "$F/r13-too-long.jws"
check_exit 6 "R13 exp equal to iat" pinned "$F/r13-exp-before-iat.jws"
check_exit 6 "R13 freeze: the ceremony's bundle a day later" \
    "$AV" --trust-domain $TD --signers "$S1" --now $((NOW + DAY)) "$T/b1.jws"
says "R13 expired"

# --- R14 with a state file: rollback and equivocation (5) ---------------
ST="$T/state.json"
sv() {
	"$AV" --trust-domain $TD --state "$ST" "$@"
}
check_exit 0 "a first run with --state pins signer set 1 and stores bundle 2" \
    sv --signers "$S1" --now $V "$F/seq2.jws"
assert "  ... and creates the state file" test -s "$ST"
cp "$ST" "$T/state.2"
check_exit 5 "R14 rollback: bundle 1 after bundle 2" sv --now $V "$T/b1.jws"
says "R14 rollback: sequence 1 is not greater than stored 2"
assert "  ... and leaves the state untouched" cmp -s "$ST" "$T/state.2"
check_exit 5 "R14 equivocation: sequence 2 with other bytes" \
    sv --now $V "$F/r14-equivocation.jws"
says "R14 equivocation"
check_exit 0 "R14 refresh: sequence 2, same bytes, later iat" \
    sv --now $((V + 600)) "$F/seq2-refresh.jws"
check_exit 0 "R14 refresh: the earlier signature of the same bytes" \
    sv --now $((V + 600)) "$F/seq2.jws"
check_exit 6 "R13 freeze: bundle 2 replayed after it expired" \
    sv --now $((V - 60 + DAY)) "$F/seq2.jws"
check_exit 0 "bundle 3" sv --now $V "$F/seq3.jws"
check_exit 0 "--signers at or below the stored version is ignored" \
    sv --signers "$S1" --now $V "$F/seq3.jws"
cp "$ST" "$T/state.3"
check_exit 2 "a state for another trust domain exits 2" \
    "$AV" --trust-domain staging.example.com --state "$ST" --now $V "$F/seq3.jws"
assert "  ... and is left untouched" cmp -s "$ST" "$T/state.3"
printf '{"anchor_verify_state":1,' >"$ST"
check_exit 2 "a corrupt state exits 2" sv --signers "$S1" --now $V "$F/seq3.jws"
says "F4 state"
assert "  ... and is left untouched" \
    test "$(cat "$ST")" = '{"anchor_verify_state":1,'
cp "$T/state.3" "$ST"

# --- a stolen key: fast-forward, then recovery by a signer-set update ---
ST2="$T/state-stolen.json"
check_exit 0 "stolen key: the verifier holds bundle 1" \
    "$AV" --trust-domain $TD --state "$ST2" --signers "$S1" --now $V "$T/b1.jws"
check_exit 0 "stolen key: a bundle fast-forwarded to 1000 (no keys) verifies" \
    "$AV" --trust-domain $TD --state "$ST2" --now $V "$F/stolen-ff-1000.jws"
check_exit 5 "stolen key: the real bundle 2 is now a rollback" \
    "$AV" --trust-domain $TD --state "$ST2" --now $V "$F/seq2.jws"
check_exit 8 "recovery: a signer set signed only by the new key is refused" \
    "$AV" --trust-domain $TD --state "$ST2" --signers "$F/f3-not-cross-signed.jws" \
    --now $V "$F/recovery-seq2-key2.jws"
says "R6 untrusted: no signature has a kid of the current signer set"
check_exit 8 "recovery: one signed only by the old key is refused" \
    "$AV" --trust-domain $TD --state "$ST2" --signers "$F/f3-old-only.jws" \
    --now $V "$F/recovery-seq2-key2.jws"
check_exit 0 "recovery: signer set 2 drops the stolen key (min_sequence 2); bundle 2 verifies" \
    "$AV" --trust-domain $TD --state "$ST2" --signers "$F/recovery-signers-2.jws" \
    --now $V "$F/recovery-seq2-key2.jws"
check_exit 4 "recovery: the fast-forwarded bundle no longer verifies" \
    "$AV" --trust-domain $TD --state "$ST2" --now $V "$F/stolen-ff-1000.jws"
check_exit 4 "recovery: a new bundle by the stolen key is refused" \
    "$AV" --trust-domain $TD --state "$ST2" --now $V "$F/stolen-ff-1001.jws"
check_exit 4 "recovery: so is the old real bundle 3, signed by the old key" \
    "$AV" --trust-domain $TD --state "$ST2" --now $V "$F/seq3.jws"

# --- rotation: min_sequence, R11, threshold -----------------------------
ST3="$T/state-rotation.json"
rot() {
	"$AV" --trust-domain $TD --state "$ST3" --now $V "$@"
}
check_exit 0 "rotation: bundle 2 under signer set 1" rot --signers "$S1" "$F/seq2.jws"
check_exit 5 "R14 min_sequence: after signer set 2, an old bundle 3 by a still-trusted key" \
    rot --signers "$F/signers-2.jws" "$F/rot-seq3-key1.jws"
says "below min_sequence 5"
check_exit 0 "rotation: signer set 2 adds key2; bundle 5 by key2" \
    rot --signers "$F/signers-2.jws" "$F/rot-seq5-key2.jws"
check_exit 7 "R11 the two counted signatures disagree on exp" rot "$F/r11-disagree.jws"
says "R11 disagreement"
check_exit 0 "rotation: bundle 6 signed by both keys" rot "$F/rot-seq6-both.jws"
check_exit 4 "R9 threshold: signer set 3 needs both keys, bundle 7 has one" \
    rot --signers "$F/signers-3-threshold2.jws" "$F/rot-seq7-key1.jws"
says "R9 threshold: 1 of 2"
check_exit 0 "rotation: bundle 7 signed by both" \
    rot --signers "$F/signers-3-threshold2.jws" "$F/rot-seq7-both.jws"

# --- F3: signer-set chain failures (8) ----------------------------------
check_exit 0 "chain steps are applied in ascending version order" \
    pinned --signers "$F/signers-3-threshold2.jws" --signers "$F/signers-2.jws" \
    "$F/rot-seq7-both.jws"
check_exit 8 "F3 signer-set version skipped (3 without 2)" \
    pinned --signers "$F/f3-skip-to-3.jws" "$F/seq2.jws"
says "does not follow version 1"
check_exit 8 "F3 not cross-signed by the old version" \
    pinned --signers "$F/f3-not-cross-signed.jws" "$F/seq2.jws"
check_exit 8 "F3 not signed by its own keys" \
    pinned --signers "$F/f3-old-only.jws" "$F/seq2.jws"
check_exit 8 "F3 an attacker's version 2" pinned --signers "$F/f3-attacker-2.jws" "$F/seq2.jws"
check_exit 8 "F3 a version 2 for another trust domain" \
    pinned --signers "$F/f3-wrong-td.jws" "$F/seq2.jws"
check_exit 8 "F3 header trust domain differs from the payload's" \
    pinned --signers "$F/f3-header-td.jws" "$F/seq2.jws"
check_exit 8 "F3 header signers_version differs from the payload's" \
    pinned --signers "$F/f3-version-mismatch.jws" "$F/seq2.jws"
check_exit 8 "F3 repeated kid in the key list" \
    pinned --signers "$F/f3-duplicate-kid.jws" "$F/seq2.jws"
check_exit 8 "F3 kid that is not the key's thumbprint" \
    pinned --signers "$F/f3-kid-not-thumbprint.jws" "$F/seq2.jws"
check_exit 8 "F3 threshold above the number of keys" \
    pinned --signers "$F/f3-threshold-3-of-2.jws" "$F/seq2.jws"
check_exit 8 "F3 two different signer sets claim version 2" \
    pinned --signers "$F/signers-2.jws" --signers "$F/recovery-signers-2.jws" \
    "$F/seq2.jws"
check_exit 8 "F3 the pinned set re-signed by an attacker" \
    "$AV" --trust-domain $TD --signers "$F/f3-pinned-resigned.jws" --now $V "$T/b1.jws"
check_exit 8 "F3 a bundle given as the pinned set" \
    "$AV" --trust-domain $TD --signers "$T/b1.jws" --now $V "$T/b1.jws"
check_exit 8 "F3 a missing signer-set file" \
    pinned --signers "$T/no-such-file.jws" "$T/b1.jws"
check_exit 8 "F3 the pinned set for another expected trust domain" \
    "$AV" --trust-domain staging.example.com --signers "$S1" --now $V "$T/b1.jws"

# --- usage and I/O (2) ----------------------------------------------------
check_exit 2 "no --trust-domain" "$AV" --signers "$S1" "$T/b1.jws"
check_exit 2 "no root of trust" "$AV" --trust-domain $TD --now $V "$T/b1.jws"
says "no root of trust"
check_exit 2 "--state naming a missing file and no --signers" \
    "$AV" --trust-domain $TD --state "$T/none.json" "$T/b1.jws"
check_exit 2 "a trust domain that is not a SPIFFE name" \
    "$AV" --trust-domain Prod.Example.COM --signers "$S1" "$T/b1.jws"
check_exit 2 "no bundle" pinned
check_exit 2 "two bundles" pinned "$T/b1.jws" "$T/b1.jws"
check_exit 2 "a missing bundle" pinned "$T/none.jws"
check_exit 2 "--now that is not a number" "$AV" --trust-domain $TD \
    --signers "$S1" --now yesterday "$T/b1.jws"
check_exit 2 "--max-bytes 0" pinned --max-bytes 0 "$T/b1.jws"
check_exit 0 "--help" "$AV" --help
assert "  ... prints the usage line" grep -q '^usage: anchor-verify --trust-domain TD' "$T/last.out"

# --- interoperability ------------------------------------------------------
check "jwcrypto checks bundle 2 forged through the token" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$S1" \
    --typ spiffe-bundle+jws "$F/seq2.jws"
check_fails "jwcrypto also refuses the spoofed kid" \
    $PY "$top_srcdir/tests/jws_verify.py" --signers "$S1" \
    --typ spiffe-bundle+jws "$F/r10-spoofed-kid.jws"
check "jwcrypto makes a domain of its own" $FORGE interop --td $TD --now $NOW \
    --out "$T/j"
check_exit 0 "a signer set and a bundle made by jwcrypto verify" \
    "$AV" --trust-domain $TD --signers "$T/j/signers-1.jws" --now $V \
    --out "$T/j/verified.json" "$T/j/bundle-1.jws"
assert "  ... giving jwcrypto's payload bytes" \
    cmp -s "$T/j/verified.json" "$T/j/bundle-1.json"
check_exit 3 "jwcrypto's flattened serialization is refused (R3)" \
    "$AV" --trust-domain $TD --signers "$T/j/signers-1.jws" --now $V \
    "$T/j/bundle-1-flattened.jws"
check_exit 3 "jwcrypto's compact serialization is refused" \
    "$AV" --trust-domain $TD --signers "$T/j/signers-1.jws" --now $V \
    "$T/j/bundle-1-compact.jws"
finish
