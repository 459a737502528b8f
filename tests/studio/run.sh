#!/usr/bin/env bash
# Studio browser tests: builds wowlab, starts `wowlab up --nodes 0` on a free port with a fresh
# data dir, then runs the Playwright suite (node --test), which signs up, starts and claims a
# separate `wowlab node` process, submits jobs and checks pages in Debian chromium.
# Env: CARGO_TARGET_DIR (default /work/target-studio), CHROMIUM (default /usr/bin/chromium),
#      STUDIO_RELEASE=1 for a release build, STUDIO_SCREENSHOTS=dir (default docs/screenshots),
#      STUDIO_TESTS="manage.test.mjs ..." to run only some suites.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-studio}"
profile_flag=""; profile_dir=debug
if [[ "${STUDIO_RELEASE:-0}" == 1 ]]; then profile_flag="--release"; profile_dir=release; fi

command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || {
  echo "chromium missing: apt-get install -y chromium" >&2; exit 1; }
(cd "$here" && [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund)
[[ -n "${WOWLAB_BIN:-}" ]] || (cd "$repo" && cargo build -j2 -q -p wowlab $profile_flag)
bin="${WOWLAB_BIN:-$CARGO_TARGET_DIR/$profile_dir/wowlab}"

tmp="$(mktemp -d /tmp/wowlab-studio.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
up_pid=""
cleanup() {
  if [[ -n "$up_pid" ]]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" up --nodes 0 --addr "127.0.0.1:$port" --data-dir "$tmp/up" >"$tmp/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/signin" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$up_pid" 2>/dev/null; then cat "$tmp/up.log" >&2; exit 1; fi
  sleep 0.2
done

export STUDIO_URL="http://127.0.0.1:$port" WOWLAB_BIN="$bin" STUDIO_TMP="$tmp"
export STUDIO_SCREENSHOTS="${STUDIO_SCREENSHOTS:-$repo/docs/screenshots}"
status=0
# A test that hangs fails after 5 minutes instead of holding CI until its hard limit.
(cd "$here" && node --test --test-concurrency=1 --test-timeout=300000 ${STUDIO_TESTS:-studio.test.mjs results.test.mjs node_live.test.mjs manage.test.mjs}) || status=$?
if [[ $status != 0 ]]; then echo "--- wowlab up log (tail) ---" >&2; tail -n 60 "$tmp/up.log" >&2; fi
exit $status
