# shellcheck shell=bash
# A throwaway PostgreSQL cluster for tests and benches: `initdb` in a temp dir, `pg_ctl start` on a
# free loopback port, removed again by stop_postgres. Sourced; sets and exports PG_DIR, PG_PORT,
# PG_LOG and WOWLAB_TEST_POSTGRES_URL (postgres://postgres@127.0.0.1:PORT/postgres).
#
# initdb and postgres refuse to run as root (CI does), so as root the cluster runs as an
# unprivileged user: $WOWLAB_TEST_POSTGRES_USER, default `nobody`.

# The newest installed server's bin dir (Debian keeps initdb/pg_ctl off PATH).
pg_bin_dir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        echo "$d"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

# Installs the `postgresql` package when no server is found (Debian/Ubuntu, as root).
ensure_postgres_installed() {
    pg_bin_dir >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing postgresql" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || return 1
        pg_bin_dir >/dev/null
    else
        echo "no PostgreSQL server (initdb) found and cannot install it" >&2
        return 1
    fi
}

# A free TCP port on loopback (bind to 0, read it back, release it).
pg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the cluster's owner (unprivileged when we are root).
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "${WOWLAB_TEST_POSTGRES_USER:-nobody}" -- "$@"
    else
        "$@"
    fi
}

# start_postgres [TIMEOUT_S]: create and start the cluster; returns non-zero (with the log on
# stderr) if it does not accept connections in time.
start_postgres() {
    local timeout=${1:-60} bin
    ensure_postgres_installed || return 1
    bin=$(pg_bin_dir) || return 1
    PG_DIR=$(mktemp -d /tmp/wowlab-pg.XXXXXX)
    PG_PORT=$(pg_free_port)
    PG_LOG=$PG_DIR/server.log
    if [ "$(id -u)" = 0 ]; then
        chown "${WOWLAB_TEST_POSTGRES_USER:-nobody}" "$PG_DIR"
    fi
    # cd: runuser keeps the cwd, which the unprivileged user may not be allowed to read.
    if ! (cd "$PG_DIR" && pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres \
        --auth=trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1); then
        echo "initdb failed:" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    fi
    # A test cluster: no durability settings worth their fsyncs, sockets in the temp dir.
    if ! (cd "$PG_DIR" && pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w \
        -t "$timeout" -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200" start >/dev/null); then
        echo "postgres did not start; log:" >&2
        tail -n 40 "$PG_LOG" >&2
        return 1
    fi
    WOWLAB_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    export PG_DIR PG_PORT PG_LOG WOWLAB_TEST_POSTGRES_URL
}

# Stops the cluster this shell started and removes its directory.
stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    local bin
    bin=$(pg_bin_dir) || true
    if [ -n "$bin" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        (cd "$PG_DIR" && pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1) || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
    unset WOWLAB_TEST_POSTGRES_URL
}
