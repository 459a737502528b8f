# shellcheck shell=bash
# Idempotent installers for what the test suites and benches need. Sourced by scripts/test and
# bench/beacon/run. Each function is quiet when everything is already there.

# Debian packages per tool: `need_apt <command> <package>` queues a package when its command is
# missing; `install_apt` installs the queue (one `apt-get update` first, only when needed).
# Later suites add lines like `need_apt redis-server redis-server`, `need_apt psql postgresql`,
# `need_apt chromium chromium`.
APT_QUEUE=()
need_apt() {
    local cmd=$1 pkg=$2
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
        APT_QUEUE+=("$pkg")
    fi
}
install_apt() {
    [ ${#APT_QUEUE[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${APT_QUEUE[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${APT_QUEUE[@]}" >/dev/null
    APT_QUEUE=()
}

# Node dependencies of the JS compat suite, from the committed package-lock.json. Re-run only
# when the lock file changed since the last install.
ensure_node_deps() {
    local dir=$1
    command -v node >/dev/null || { echo "node is missing (need Node >= 20)" >&2; return 1; }
    local stamp="$dir/node_modules/.lock-stamp"
    if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    echo "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
    cp "$dir/package-lock.json" "$stamp"
}

# A Python venv with the pinned requirements; prints nothing when up to date.
ensure_python_venv() {
    local venv=$1 req=$2
    local py=${PYTHON:-python3}
    command -v "$py" >/dev/null || { echo "python3 is missing" >&2; return 1; }
    if [ ! -x "$venv/bin/python" ]; then
        echo "creating venv $venv"
        "$py" -m venv "$venv" || return 1
    fi
    local stamp="$venv/.requirements-stamp"
    if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
        return 0
    fi
    echo "pip install -r $req"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" || return 1
    cp "$req" "$stamp"
}

# cargo-fuzz from crates.io when missing.
ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "installing cargo-fuzz"
        cargo install cargo-fuzz --locked --quiet || return 1
    fi
}
