# shellcheck shell=bash
# Start and stop the backing services of the distributed beacon suites: a NATS server (with
# JetStream, temp store dir) and a Redis server, each on a loopback port picked here. Sourced;
# needs free_port from lib/beacon.sh. Exports WOWLAB_TEST_NATS_URL / WOWLAB_TEST_REDIS_URL for
# every suite started afterwards (cargo test, node, python) and records the PIDs so that
# stop_services ends exactly what it started.

SERVICES_DIR=""
NATS_PID="" REDIS_PID=""

# The binaries may live in /usr/sbin (Debian) which is not on every PATH.
service_bin() {
    command -v "$1" 2>/dev/null && return 0
    for d in /usr/sbin /usr/bin /usr/local/bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

# wait_for_log PID LOG PATTERN TIMEOUT_S: until LOG has PATTERN (0), PID died or time ran out (1).
wait_for_log() {
    local pid=$1 log=$2 pattern=$3 timeout=$4
    local deadline=$((SECONDS + timeout))
    while [ $SECONDS -lt "$deadline" ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        grep -q "$pattern" "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_nats LOGDIR: nats-server -js on a free loopback port; sets NATS_PID, exports the URL.
start_nats() {
    local logdir=$1 bin port
    bin=$(service_bin nats-server) || { echo "nats-server is not installed" >&2; return 1; }
    SERVICES_DIR=${SERVICES_DIR:-$(mktemp -d -t wowlab-services.XXXXXX)}
    port=$(free_port)
    mkdir -p "$SERVICES_DIR/nats-store"
    : >"$logdir/nats.log"
    "$bin" -a 127.0.0.1 -p "$port" -js -sd "$SERVICES_DIR/nats-store" >>"$logdir/nats.log" 2>&1 &
    NATS_PID=$!
    if ! wait_for_log "$NATS_PID" "$logdir/nats.log" "Server is ready" 20; then
        echo "nats-server did not start; log:" >&2
        tail -n 20 "$logdir/nats.log" >&2
        stop_pid "$NATS_PID"; NATS_PID=""
        return 1
    fi
    export WOWLAB_TEST_NATS_URL="nats://127.0.0.1:$port"
    echo "nats-server up at $WOWLAB_TEST_NATS_URL (pid $NATS_PID)"
}

# start_redis LOGDIR: redis-server without persistence on a free loopback port.
start_redis() {
    local logdir=$1 bin port
    bin=$(service_bin redis-server) || { echo "redis-server is not installed" >&2; return 1; }
    SERVICES_DIR=${SERVICES_DIR:-$(mktemp -d -t wowlab-services.XXXXXX)}
    port=$(free_port)
    : >"$logdir/redis.log"
    "$bin" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$SERVICES_DIR" \
        --daemonize no >>"$logdir/redis.log" 2>&1 &
    REDIS_PID=$!
    if ! wait_for_log "$REDIS_PID" "$logdir/redis.log" "Ready to accept connections" 20; then
        echo "redis-server did not start; log:" >&2
        tail -n 20 "$logdir/redis.log" >&2
        stop_pid "$REDIS_PID"; REDIS_PID=""
        return 1
    fi
    export WOWLAB_TEST_REDIS_URL="redis://127.0.0.1:$port"
    echo "redis-server up at $WOWLAB_TEST_REDIS_URL (pid $REDIS_PID)"
}

# TERM, a short grace period, then KILL; only the given PID.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Stops what start_nats/start_redis started and removes their temp dir.
stop_services() {
    stop_pid "$NATS_PID"; NATS_PID=""
    stop_pid "$REDIS_PID"; REDIS_PID=""
    if [ -n "$SERVICES_DIR" ]; then
        rm -rf "$SERVICES_DIR"
        SERVICES_DIR=""
    fi
}
