# shellcheck shell=bash
# Start and stop a beacon process for tests and benches. Sourced; sets BEACON_PID, BEACON_PORT,
# BEACON_URL (http://127.0.0.1:PORT) and BEACON_LOG.

# A free TCP port on loopback (bind to 0, read it back, release it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_beacon BIN CONFIG LOG [TIMEOUT_S]: launch `BIN beacon --config CONFIG` on a free port and
# wait until it logs "beacon listening on http://ADDR" and answers /health.
start_beacon() {
    local bin=$1 config=$2 log=$3 timeout=${4:-30}
    BEACON_PORT=$(free_port)
    BEACON_LOG=$log
    : >"$log"
    WOWLAB_BEACON_HTTP_SERVER_PORT=$BEACON_PORT \
        RUST_LOG=${RUST_LOG:-info} "$bin" beacon --config "$config" >>"$log" 2>&1 &
    BEACON_PID=$!
    local deadline=$((SECONDS + timeout))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$BEACON_PID" 2>/dev/null; then
            echo "beacon exited during start-up; log:" >&2
            tail -n 40 "$log" >&2
            BEACON_PID=""
            return 1
        fi
        if grep -q "beacon listening on http://" "$log"; then
            BEACON_URL="http://127.0.0.1:$BEACON_PORT"
            # The log line names the address it bound; trust it over our guess.
            local addr
            addr=$(grep -o "beacon listening on http://[^ ]*" "$log" | head -n1 | sed 's|.*http://||; s|\x1b\[[0-9;]*m||g')
            [ -n "$addr" ] && BEACON_URL="http://$addr"
            export BEACON_URL BEACON_PORT BEACON_PID
            return 0
        fi
        sleep 0.2
    done
    echo "beacon did not become ready within ${timeout}s; log:" >&2
    tail -n 40 "$log" >&2
    stop_beacon
    return 1
}

# Stop the beacon this shell started (by PID), waiting briefly for a graceful exit.
stop_beacon() {
    [ -n "${BEACON_PID:-}" ] || return 0
    if kill -0 "$BEACON_PID" 2>/dev/null; then
        kill -TERM "$BEACON_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$BEACON_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$BEACON_PID" 2>/dev/null || true
    fi
    wait "$BEACON_PID" 2>/dev/null || true
    BEACON_PID=""
}
