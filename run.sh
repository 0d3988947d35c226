#!/usr/bin/env bash
# One entry point that sets everything up idempotently, then runs what you ask for:
#   ./run.sh demo   the main job: a fault playing out in the simulated cluster and being mitigated
#   ./run.sh test   lint + the whole test suite
#   ./run.sh bench  the benchmarks under bench/
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY=$VENV/bin/python

setup() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    # The sandbox's real monitoring stack; kubectl for the API tests where Debian has it.
    command -v prometheus >/dev/null || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null \
      || missing+=(prometheus-alertmanager)
    if [ ${#missing[@]} -gt 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
  fi
  [ -x "$PY" ] || python3 -m venv "$VENV"
  # Re-install only when the declared dependencies change.
  local stamp=$VENV/.opsagent-deps
  local want
  want=$(sha256sum pyproject.toml run.sh | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    # torch first: the CPU build on local disk. Anything that pulls torch before it drags in CUDA.
    "$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
    "$PY" -m pip install -q --disable-pip-version-check -e ".[dev,train]"
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-demo}
shift || true
setup
case "$cmd" in
  demo)  exec "$VENV/bin/opsagent" sandbox demo "$@" ;;
  test)  "$VENV/bin/ruff" check . && exec "$PY" -m pytest "$@" ;;
  bench) exec "$PY" -m bench "$@" ;;
  *) echo "usage: ./run.sh demo|test|bench [args]" >&2; exit 2 ;;
esac
