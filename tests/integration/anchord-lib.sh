# Helpers for anchord's integration tests; sourced after tests/lib.sh.

ANCHORD="$top_builddir/anchord"
PUBLISH="$top_builddir/tests/anchord-publish"
ANCHORD_PID=

# A free TCP port on the loopback.
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_domain PROFILE [MODULE]: a token, a configuration with a bundle
# endpoint on a free port ($PORT) and a ceremony.  Extra YAML for the
# bundle_endpoint goes in $ENDPOINT_EXTRA.
make_domain() {
	profile=$1; module=${2:-$SOFTHSM_MODULE}
	new_token anchor-test
	PORT=$(free_port)
	CONF="$T/anchor.yaml"
	write_config "$CONF" prod.example.com anchor-test "$module"
	cat >>"$CONF" <<CONF
federation:
  allow_insecure_http: true
  bundle_endpoint: { address: 127.0.0.1, port: $PORT, profile: $profile${ENDPOINT_EXTRA:-} }
CONF
	"$CEREMONY" -c "$CONF" init --operator "Test Operator" --yes \
	    --out-dir "$T/out" ${CEREMONY_NOW:+--now $CEREMONY_NOW} >"$T/ceremony.out" 2>&1
}

URL() {
	echo "${SCHEME:-http}://127.0.0.1:$PORT$1"
}

# start_anchord [OPTIONS...]: run in the foreground (in the background of
# this shell), wait until it answers.
start_anchord() {
	"$ANCHORD" -f -v -c "$CONF" "$@" >>"$T/anchord.log" 2>&1 &
	ANCHORD_PID=$!
	wait_for 10 sh -c "curl -sk -o /dev/null '$(URL /healthz)'"
}

# wait_for SECONDS COMMAND...: retry every 0.1 s.
wait_for() {
	limit=$(( $1 * 10 )); shift
	i=0
	while [ $i -lt $limit ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

signer_pid() {
	pgrep -P "$ANCHORD_PID" -x anchord | head -1
}

stop_anchord() {
	if [ -n "$ANCHORD_PID" ] && kill -0 "$ANCHORD_PID" 2>/dev/null; then
		kill -TERM "$ANCHORD_PID"
		wait "$ANCHORD_PID"
	fi
	ANCHORD_PID=
}

# http_code PATH [CURL OPTIONS...]
http_code() {
	p=$1; shift
	curl -sk -o /dev/null -w '%{http_code}' "$@" "$(URL "$p")"
}

anchord_cleanup() {
	if [ -n "$ANCHORD_PID" ]; then
		kill -KILL "$ANCHORD_PID" 2>/dev/null
		wait "$ANCHORD_PID" 2>/dev/null
	fi
	# Sanitizer reports from either process end up in the log.
	if grep -q "ERROR: \(Address\|Leak\)Sanitizer\|runtime error:" "$T/anchord.log" 2>/dev/null; then
		sed 's/^/# /' "$T/anchord.log" | grep -A30 "Sanitizer\|runtime error" | head -60
	fi
	rm -rf "$T"
}
trap anchord_cleanup EXIT

# assert_log_clean: no sanitizer report in the daemon's log so far.
assert_log_clean() {
	assert "no sanitizer report in the anchord log" \
	    sh -c "! grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error:' '$T/anchord.log'"
}
