#!/bin/bash
# Thirty simulated days on a SoftHSM token through `anchorctl rotate --now`
# at hourly steps with compressed lifetimes (CA 2d, JWT 1d, bundle-signing
# 8d).  At every step: exactly one active key per role; the sequence rises
# by exactly one per content change; and a relying party that pinned signer
# set version 1 at the ceremony, and fetches only the bundle (and the signer
# sets when a signature stops counting), accepts every bundle with
# anchor-verify.  At the end: every key was in the bundle at least
# prepublish before use and at least overlap after it stopped.
. "$top_srcdir/tests/lib.sh"

VERIFY="$top_builddir/anchor-verify"
new_token month
write_config "$T/anchor.yaml" month.example.com month
compressed_policy "$T/anchor.yaml"
C="-c $T/anchor.yaml"
T0=1767225600
check "ceremony" "$CEREMONY" $C init --operator op --yes --now $T0 --out-dir "$T/out"

db="$T/state/anchor.db"
prev_seq=0 prev_sha=""
bad_active=0 bad_seq=0 rejected=0 chain_updates=0 steps=0 changes=0
first_bad=""
for ((h = 0; h <= 720; h++)); do
	t=$((T0 + h * 3600))
	if ((h > 0)) && ! "$ANCHORCTL" $C rotate --now $t >"$T/rot.out" 2>&1; then
		first_bad=${first_bad:-"rotate failed at hour $h: $(tail -1 "$T/rot.out")"}
		break
	fi
	steps=$((steps + 1))
	read -r active seq <<<"$(sqlite3 -separator ' ' "$db" \
	    "SELECT (SELECT group_concat(role) FROM (SELECT role FROM keys WHERE state = 'active' ORDER BY role)), (SELECT max(sequence) FROM bundles)")"
	if [ "$active" != "bundle-signing,jwt,x509-ca" ]; then
		bad_active=$((bad_active + 1))
		first_bad=${first_bad:-"hour $h: active keys $active"}
	fi
	"$ANCHORCTL" $C bundle --format spiffe >"$T/f1.json"
	sha=$(sha256sum <"$T/f1.json")
	if [ "$sha" != "$prev_sha" ]; then
		changes=$((changes + 1))
		if [ "$seq" -ne $((prev_seq + 1)) ]; then
			bad_seq=$((bad_seq + 1))
			first_bad=${first_bad:-"hour $h: content changed, sequence $prev_seq -> $seq"}
		fi
	elif [ "$seq" -ne "$prev_seq" ]; then
		bad_seq=$((bad_seq + 1))
		first_bad=${first_bad:-"hour $h: sequence $prev_seq -> $seq without a content change"}
	fi
	prev_seq=$seq prev_sha=$sha

	# The relying party.
	"$ANCHORCTL" $C bundle --format jws >"$T/bundle.jws"
	if [ -f "$T/rp.state" ]; then
		"$VERIFY" --trust-domain month.example.com --state "$T/rp.state" \
		    --now $t "$T/bundle.jws" >/dev/null 2>"$T/rp.err"
	else
		"$VERIFY" --trust-domain month.example.com --signers "$T/out/signers-1.jws" \
		    --state "$T/rp.state" --now $t "$T/bundle.jws" >/dev/null 2>"$T/rp.err"
	fi
	rc=$?
	if [ "$rc" -eq 4 ]; then
		# A signature stopped counting: fetch the newer signer sets.
		latest=$(sqlite3 "$db" 'SELECT max(version) FROM signer_sets')
		args=()
		for ((v = 2; v <= latest; v++)); do
			"$ANCHORCTL" $C signers --version $v >"$T/signers-$v.jws"
			args+=(--signers "$T/signers-$v.jws")
		done
		"$VERIFY" --trust-domain month.example.com "${args[@]}" --state "$T/rp.state" \
		    --now $t "$T/bundle.jws" >/dev/null 2>"$T/rp.err"
		rc=$?
		chain_updates=$((chain_updates + 1))
	fi
	if [ "$rc" -ne 0 ]; then
		rejected=$((rejected + 1))
		first_bad=${first_bad:-"hour $h: relying party exit $rc: $(cat "$T/rp.err")"}
	fi
done
[ -n "$first_bad" ] && echo "# first problem: $first_bad"
assert "721 hourly steps ran" test "$steps" -eq 721
assert "exactly one active key per role at every step" test "$bad_active" -eq 0
assert "the sequence rose by exactly one per content change ($changes changes)" test "$bad_seq" -eq 0
assert "the relying party accepted every bundle ($chain_updates signer-set updates)" \
    test "$rejected" -eq 0 -a "$chain_updates" -ge 1

# Windows, from the stored timestamps (the ceremony's keys had no predecessor).
check "every successor was published at least prepublish before activation" \
    test "$(sqlite3 "$db" "SELECT count(*) FROM keys WHERE serial > 1 AND activated_at > 0 AND
        activated_at - published_at < CASE role WHEN 'x509-ca' THEN 21600 WHEN 'jwt' THEN 14400 ELSE 172800 END")" -eq 0
check "every retired key stayed at least overlap before removal" \
    test "$(sqlite3 "$db" "SELECT count(*) FROM keys WHERE removed_at > 0 AND
        removed_at - retired_at < CASE role WHEN 'x509-ca' THEN 21600 WHEN 'jwt' THEN 10800 ELSE 172800 END")" -eq 0
sqlite3 -separator ' ' "$db" "SELECT role, count(*),
    min(CASE WHEN serial > 1 AND activated_at > 0 THEN activated_at - published_at END),
    min(CASE WHEN removed_at > 0 THEN removed_at - retired_at END) FROM keys GROUP BY role" |
    while read -r role n pre ov; do
	echo "# $role: $n keys, shortest prepublish ${pre}s, shortest overlap ${ov}s"
    done
echo "# $prev_seq bundles, $(sqlite3 "$db" 'SELECT max(version) FROM signer_sets') signer-set versions"
assert "the bundle-signing key rolled over (signer set 3 dropped the first key)" \
    test "$(sqlite3 "$db" 'SELECT max(version) FROM signer_sets')" -ge 3
check "database integrity" sh -c "sqlite3 '$db' 'PRAGMA integrity_check' | grep -qx ok"
finish
