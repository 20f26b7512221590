#!/bin/sh
# PIN custody: the PIN never reaches argv, the environment, the output, the
# transcript or the database; k-of-n shares rebuild it with any k custodians
# and not with k-1; a domain can be unlocked from shares.
. "$top_srcdir/tests/lib.sh"

new_token custody
write_config "$T/anchor.yaml" custody.example.com custody
PIN=$(cat "$T/pin")

# Hold the ceremony at its second confirmation (after login, keys in the
# token) and look at the live process from outside.
mkfifo "$T/answers"
"$CEREMONY" -c "$T/anchor.yaml" init --operator op --out-dir "$T/out" \
    <"$T/answers" >"$T/ceremony.out" 2>&1 &
pid=$!
exec 3>"$T/answers"
echo yes >&3
i=0
while ! grep -q 'publishes signer set version 1' "$T/ceremony.out" 2>/dev/null &&
    [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
assert "the ceremony is waiting after login" grep -q 'Logged in to token custody' "$T/ceremony.out"
assert "the PIN is not in the process's argv" sh -c "! tr '\0' '\n' </proc/$pid/cmdline | grep -qF '$PIN'"
assert "the PIN is not in the process's environment" sh -c "! tr '\0' '\n' </proc/$pid/environ | grep -qF '$PIN'"
echo yes >&3
exec 3>&-
wait $pid
assert "the ceremony completes" test $? -eq 0
assert "the PIN is not in the output, the transcript or the database" \
    sh -c "! grep -rqaF '$PIN' '$T/ceremony.out' '$T/out' '$T/state'"
check "PRAGMA integrity_check" sh -c "sqlite3 '$T/state/anchor.db' 'PRAGMA integrity_check' | grep -qx ok"

# k-of-n shares through the CLI.
mkdir -p "$T/shares"
check "pin split 5 shares, threshold 3" "$CEREMONY" pin split --shares 5 --threshold 3 \
    --pin-source "file:$T/pin" --out-dir "$T/shares"
assert "five share files, mode 0600" \
    test "$(find "$T/shares" -name 'pin-share-*.txt' -perm 0600 | wc -l)" -eq 5
assert "no share contains the PIN" sh -c "! grep -qF '$PIN' '$T'/shares/*"
ok_sets=0; bad=0
for set in "1 2 3" "1 2 4" "1 2 5" "1 3 4" "1 3 5" "1 4 5" "2 3 4" "2 3 5" "2 4 5" "3 4 5"; do
	rm -f "$T/joined"
	for s in $set; do cat "$T/shares/pin-share-$s.txt"; echo; done |
	    "$CEREMONY" pin join --out "$T/joined" >/dev/null 2>&1
	if [ -f "$T/joined" ] && [ "$(cat "$T/joined")" = "$PIN" ]; then
		ok_sets=$((ok_sets + 1))
	else
		bad=$((bad + 1))
	fi
done
assert "every 3 of the 5 shares rebuild the PIN ($ok_sets of 10)" test "$ok_sets" -eq 10
assert "the rebuilt PIN file is mode 0600" test "$(stat -c %a "$T/joined")" = 600
refused=0
for set in "1 2" "2 5" "3 4" "1 5"; do
	rm -f "$T/joined"
	for s in $set; do cat "$T/shares/pin-share-$s.txt"; echo; done |
	    "$CEREMONY" pin join --out "$T/joined" >/dev/null 2>&1 || refused=$((refused + 1))
	[ -f "$T/joined" ] && refused=-100
done
assert "2 of the 5 shares are refused and write nothing" test "$refused" -eq 4
# A damaged share among three is caught, not turned into a wrong PIN.
{ cat "$T/shares/pin-share-1.txt"; echo; cat "$T/shares/pin-share-2.txt"; echo
  sed 's/\(.\)$/\1/; s/:\([0-9a-f]\)\([0-9a-f]*\)$/:\2\1/' "$T/shares/pin-share-3.txt"; echo; } >"$T/damaged"
rm -f "$T/joined"
check_fails "a damaged share is refused" sh -c "'$CEREMONY' pin join --out '$T/joined' <'$T/damaged'"
assert "and no PIN file is written" test ! -e "$T/joined"

# The domain unlocked by three custodians typing their shares.
sed -i "s|pin_source: file:.*|pin_source: shares|" "$T/anchor.yaml"
for s in 2 4 5; do cat "$T/shares/pin-share-$s.txt"; echo; done >"$T/three"
check "rotate --force jwt with the PIN rebuilt from 3 shares on stdin" \
    sh -c "'$ANCHORCTL' -c '$T/anchor.yaml' rotate --force jwt <'$T/three'"
assert "it generated the successor in the token" grep -q 'generated anchor/custody.example.com/jwt/2' "$T/last.out"
finish
