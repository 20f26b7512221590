# Helpers for the federation tests; sourced after tests/lib.sh.  Two or
# more trust domains live side by side in $T: each has its own SoftHSM
# token (one SoftHSM directory holds them all), PIN file, configuration and
# state.  Peers serve their files through tests/peer-server.py on
# 127.0.0.1, on ports the system picks.

PEER_SERVER="$top_srcdir/tests/peer-server.py"
VERIFY="$top_builddir/anchor-verify"
SERVER_PIDS=

# Sanitizer reports of every program, also of those expected to fail, go
# to files that fed_finish checks.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:log_path=$T/sanitizer"
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$T/sanitizer"
export ASAN_OPTIONS UBSAN_OPTIONS

# Every request goes to 127.0.0.1 directly.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

fed_cleanup() {
	for pid in $SERVER_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$T"
}
trap fed_cleanup EXIT

# make_domain NAME TD: configuration $T/NAME/anchor.yaml, token label NAME.
make_domain() {
	name=$1 td=$2
	mkdir -p "$T/$name"
	new_token "$name"
	mv "$T/pin" "$T/$name/pin"
	write_config "$T/$name/anchor.yaml" "$td" "$name"
	sed -i -e "s|^state_dir: .*|state_dir: $T/$name/state|" \
	    -e "s|file:$T/pin|file:$T/$name/pin|" "$T/$name/anchor.yaml"
}

# ceremony NAME NOW
ceremony() {
	"$CEREMONY" -c "$T/$1/anchor.yaml" init --operator op --yes --now "$2" \
	    --out-dir "$T/$1/out" >"$T/$1/ceremony.out" 2>&1
}

# publish NAME: the domain's bundle (F2 and F1) and every signer-set
# version into $T/NAME/www, as a static mirror of its bundle endpoint.
publish() {
	c="$T/$1/anchor.yaml" w="$T/$1/www"
	mkdir -p "$w/signers"
	"$ANCHORCTL" -c "$c" bundle --format jws >"$w/.bundle.jws" &&
	    mv "$w/.bundle.jws" "$w/bundle.jws" || return 1
	"$ANCHORCTL" -c "$c" bundle --format spiffe >"$w/.bundle.json" &&
	    mv "$w/.bundle.json" "$w/bundle.json" || return 1
	latest=$(db_query "$c" 'SELECT max(version) FROM signer_sets')
	for v in $(seq 1 "$latest"); do
		[ -s "$w/signers/$v.jws" ] ||
		    "$ANCHORCTL" -c "$c" signers --version "$v" >"$w/signers/$v.jws" ||
		    return 1
	done
	cp "$w/signers/$latest.jws" "$w/signers.jws"
}

# start_server NAME DIR [--cert FILE --key FILE]: peer-server.py in the
# background; its port in $PORT_<NAME>, its mode file $T/NAME.mode.
start_server() {
	name=$1 dir=$2
	shift 2
	rm -f "$T/$name.port"
	$PY "$PEER_SERVER" --dir "$dir" --port-file "$T/$name.port" \
	    --mode-file "$T/$name.mode" --log "$T/$name.log" "$@" \
	    >"$T/$name.server.out" 2>&1 &
	SERVER_PIDS="$SERVER_PIDS $!"
	i=0
	while [ ! -s "$T/$name.port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$T/$name.port" ] || return 1
	eval "PORT_$name=$(cat "$T/$name.port")"
}

# serve NAME MODE...: what the server NAME does from now on.
serve() {
	name=$1
	shift
	echo "$*" >"$T/$name.mode"
}

# audit_count CONFIG EVENT [LIKE]: records of EVENT whose text matches LIKE.
audit_count() {
	db_query "$1" "SELECT count(*) FROM audit WHERE event = '$2' AND record LIKE '%${3:-}%'"
}

# fed_finish: no sanitizer report from any program, then the TAP plan.
fed_finish() {
	if ls "$T"/sanitizer* >/dev/null 2>&1; then
		not_ok "no sanitizer reports"
		head -40 "$T"/sanitizer* | sed 's/^/# /'
	else
		ok "no sanitizer reports"
	fi
	finish
}
