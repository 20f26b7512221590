#!/bin/sh
# Operator mistakes around the ceremony: each gives a clear error and a
# non-zero exit, and a corrected re-run succeeds.
. "$top_srcdir/tests/lib.sh"

new_token errs
write_config "$T/anchor.yaml" errs.example.com errs
C="-c $T/anchor.yaml"

# Wrong PIN: the token refuses, nothing is generated.
cp "$T/pin" "$T/pin.good"
printf 'wrong-pin\n' >"$T/pin"
check_exit 1 "wrong PIN: exit 1" "$CEREMONY" $C init --operator op --yes
assert "wrong PIN: the message says so" grep -q 'PIN incorrect' "$T/last.err"
cp "$T/pin.good" "$T/pin"

# A PIN file others can read is refused before the token is touched.
chmod 0644 "$T/pin"
check_exit 2 "world-readable PIN file: configuration error" "$CEREMONY" $C init --operator op --yes
assert "world-readable PIN file: the message names file, line and key" \
    grep -q "anchor.yaml:[0-9]*: .*pin_source" "$T/last.err"
chmod 0600 "$T/pin"

# Missing token.
write_config "$T/missing-token.yaml" errs.example.com no-such-token
check_exit 1 "missing token: exit 1" "$CEREMONY" -c "$T/missing-token.yaml" init --operator op --yes
assert "missing token: the message names the token" grep -q 'no-such-token' "$T/last.err"

# Missing module.
write_config "$T/missing-module.yaml" errs.example.com errs /nonexistent/libpkcs11.so
check_exit 1 "missing module: exit 1" "$CEREMONY" -c "$T/missing-module.yaml" init --operator op --yes
assert "missing module: the message names the module" grep -q '/nonexistent/libpkcs11.so' "$T/last.err"

# A PIN in the token URI is refused.
sed 's|pkcs11:token=errs|pkcs11:token=errs?pin-value=1234|' "$T/anchor.yaml" >"$T/pinuri.yaml"
check_exit 2 "pin-value in the token URI is refused" "$CEREMONY" -c "$T/pinuri.yaml" init --operator op --yes
assert "pin-value: the message names the key" grep -q 'pkcs11.token' "$T/last.err"

# Declining the confirmation generates nothing.
check_exit 1 "answering no at the first confirmation cancels" \
    sh -c "echo no | '$CEREMONY' $C init --operator op"
assert "cancelled: the message says nothing was generated" grep -q 'nothing was generated' "$T/last.err"
check_exit 1 "no input at all (closed stdin) cancels" \
    sh -c "'$CEREMONY' $C init --operator op </dev/null"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label errs --login --pin "$(cat "$T/pin")" \
    --list-objects >"$T/objs.txt" 2>&1
assert "after all of the above the token holds no object" \
    sh -c "! grep -q 'Object;' '$T/objs.txt'"

# Missing --operator is a usage error.
check_exit 2 "init without --operator is a usage error" "$CEREMONY" $C init --yes

# The corrected run succeeds, typing yes twice.
check "a corrected run succeeds with typed confirmations" \
    sh -c "printf 'yes\nyes\n' | '$CEREMONY' $C init --operator op --out-dir '$T/out'"
check "and the domain is usable" "$ANCHORCTL" $C bundle --format jws
finish
