#!/bin/sh
# Build anchor from scratch with AddressSanitizer and UndefinedBehaviorSanitizer
# and run every test.  The last line is the summary "N passed, N failed".
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
rm -rf build-test
mkdir build-test
cd build-test
../configure --enable-sanitizers --enable-strict --enable-fuzzing >configure.out 2>&1 || {
	cat configure.out; echo "0 passed, 1 failed"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs" >make.out 2>&1 || {
	tail -50 make.out; echo "0 passed, 1 failed"; exit 1; }
status=0
make -j"$jobs" check || status=$?

# automake's harness counts every TAP result of every test program.
count() { sed -n "s/^# $1: *\([0-9]*\)$/\1/p" test-suite.log | head -n 1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR)
skip=$(count SKIP); xpass=$(count XPASS)
pass=${pass:-0}; fail=${fail:-0}; err=${err:-0}; skip=${skip:-0}; xpass=${xpass:-0}
failed=$((fail + err + xpass + skip))
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
	# Show what failed: the logs of failing tests.
	grep -l -E '^(FAIL|ERROR|SKIP|XPASS):' $(find . -name '*.log' ! -name test-suite.log ! -name config.log) 2>/dev/null |
	    while read -r log; do echo "=== $log"; tail -40 "$log"; done
	[ "$failed" -gt 0 ] || failed=1
fi
if [ "$skip" -gt 0 ]; then
	echo "$skip test(s) skipped: a skip counts as a failure"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
