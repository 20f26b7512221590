#!/bin/sh
# The audit log: every ceremony step and key event is a record in a hash
# chain with signed checkpoints; editing, deleting, reordering or rewriting
# records in the database makes `anchorctl audit verify` fail and name the
# first bad record.
. "$top_srcdir/tests/lib.sh"

new_token audit
write_config "$T/anchor.yaml" audit.example.com audit
compressed_policy "$T/anchor.yaml"
C="-c $T/anchor.yaml"
T0=1767225600
check "ceremony" "$CEREMONY" $C init --operator "Alice" --witness "Bob" --yes --now $T0
check "rotations over two days" sh -c "for h in 6 12 20 24 30 42 48; do '$ANCHORCTL' $C rotate --now \$(( $T0 + h * 3600 )) || exit 1; done"
jwt=$(db_query "$T/anchor.yaml" "SELECT kid FROM keys WHERE role = 'jwt' AND state = 'active'")
check "a revocation" "$ANCHORCTL" $C revoke --key "$jwt" --reason "laptop stolen" --operator carol --now $((T0 + 49 * 3600))

check "audit list" "$ANCHORCTL" $C audit list
cp "$T/last.out" "$T/list.txt"
for ev in ceremony.started key.generated key.published key.activated signers.published \
    bundle.published ceremony.completed key.retired key.removed bundle.signed key.revoked key.revocation; do
	assert "the log has $ev" grep -q " $ev " "$T/list.txt"
done
assert "the ceremony record names operator and witnesses" \
    grep -q 'ceremony.started.*"operator":"Alice".*"witnesses":\["Bob"\]' "$T/list.txt"
assert "the revocation names reason and operator" \
    grep -q 'key.revocation.*"operator":"carol".*"reason":"laptop stolen"' "$T/list.txt"
check "audit list --json --since" sh -c "'$ANCHORCTL' $C audit list --json --since $((T0 + 24 * 3600)) >'$T/list.json'"
check "JSON records are in order and all at or after --since" $PY - "$T/list.json" $((T0 + 24 * 3600)) <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows and all(r["ts"] >= int(sys.argv[2]) for r in rows)
assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
assert all(len(r["hash"]) == 64 for r in rows)
PY
check "audit verify on the untouched log" "$ANCHORCTL" $C audit verify
assert "it reports signed checkpoints" grep -Eq 'records, [1-9][0-9]* signed checkpoints, all verify' "$T/last.out"

# Tampering, each on a fresh copy, as someone with write access to the file
# would do it: the append-only triggers dropped first.
db="$T/state/anchor.db"
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
cp "$db" "$T/clean.db"
tamper() {
	cp "$T/clean.db" "$db"
	rm -f "$db-wal" "$db-shm"
	sqlite3 "$db" "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
	    DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete; $1"
}
n=$(sqlite3 "$T/clean.db" 'SELECT max(seq) FROM audit')

tamper "UPDATE audit SET record = replace(record, 'laptop stolen', 'routine') WHERE event = 'key.revocation'"
bad=$(sqlite3 "$T/clean.db" "SELECT seq FROM audit WHERE event = 'key.revocation'")
check_exit 1 "an edited record fails verification" "$ANCHORCTL" $C audit verify
assert "and is named as the first bad record ($bad)" grep -q "first bad record is $bad\b" "$T/last.err"

tamper "DELETE FROM audit WHERE seq = 5"
check_exit 1 "a deleted record fails verification" "$ANCHORCTL" $C audit verify
assert "the record after the gap is named (6)" grep -q "first bad record is 6\b" "$T/last.err"

tamper "UPDATE audit SET record = (SELECT record FROM audit WHERE seq = 8) WHERE seq = 7"
check_exit 1 "a reordered (copied) record fails verification" "$ANCHORCTL" $C audit verify
assert "record 7 is named" grep -q "first bad record is 7\b" "$T/last.err"

# A rewritten chain: every hash recomputed after an edit, checkpoints'
# hashes too; only the signatures give it away.
cp "$T/clean.db" "$db"; rm -f "$db-wal" "$db-shm"
$PY - "$db" <<'PY'
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for t in ("audit_no_update", "audit_no_delete", "audit_checkpoints_no_update",
          "audit_checkpoints_no_delete"):
    db.execute("DROP TRIGGER %s" % t)
prev = bytes(32)
for seq, record in db.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall():
    record = record.replace("laptop stolen", "routine")
    h = hashlib.sha256(prev + record.encode()).digest()
    db.execute("UPDATE audit SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?",
               (record, prev, h, seq))
    db.execute("UPDATE audit_checkpoints SET hash = ? WHERE seq = ?", (h, seq))
    prev = h
db.commit()
PY
check_exit 1 "a consistently rewritten chain fails on its checkpoint signatures" "$ANCHORCTL" $C audit verify
assert "and names where the rewrite lies" grep -q "does not verify: the chain was rewritten at or before record" "$T/last.err"
finish
