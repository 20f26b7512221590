#!/bin/sh
# A short, bounded libFuzzer run of each verifier parser, seeded with valid
# inputs (tests/fuzz/seeds.py) and the shared third-party vectors.  Needs a
# tree configured with --enable-fuzzing (scripts/test.sh does): without the
# targets this test fails rather than skips.
. "$top_srcdir/tests/lib.sh"

SECONDS_EACH=${ANCHOR_FUZZ_SECONDS:-20}
F="$top_builddir/tests/fuzz"
V="$ANCHOR_VECTORS"

for t in envelope signers bundle; do
	assert "fuzz-$t is built (configure --enable-fuzzing)" test -x "$F/fuzz-$t"
done
check "seed corpora from valid inputs" $PY "$top_srcdir/tests/fuzz/seeds.py" "$V" "$T/seeds"
mkdir -p "$T/corpus-bundle" "$T/corpus-envelope" "$T/corpus-signers"
cp "$T"/seeds/bundle/* "$T/corpus-bundle/" 2>/dev/null
cp "$V"/jsontestsuite/test_parsing/*.json "$T/corpus-bundle/"
cp "$T"/seeds/envelope/* "$V"/jose/rfc7515-appendix/*.json "$T/corpus-envelope/" 2>/dev/null
cp "$T"/seeds/signers/* "$T/corpus-signers/" 2>/dev/null

for t in envelope signers bundle; do
	[ -x "$F/fuzz-$t" ] || { not_ok "fuzz-$t ran"; continue; }
	mkdir -p "$T/crash-$t"
	# The library is leak-checked by the fuzzer's own LeakSanitizer.
	if ASAN_OPTIONS=detect_leaks=1 "$F/fuzz-$t" -max_total_time="$SECONDS_EACH" \
	    -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$T/crash-$t/" "$T/corpus-$t" "$T/seeds/$t" \
	    >"$T/fuzz-$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/fuzz-$t.log")
		ok "fuzz-$t: ${SECONDS_EACH}s, ${runs:-?} executions, nothing found"
		echo "# fuzz-$t executions: ${runs:-?}"
	else
		not_ok "fuzz-$t found a problem"
		grep -E 'ERROR|SUMMARY|runtime error' "$T/fuzz-$t.log" | head -10 | sed 's/^/# /'
	fi
done
finish
