#!/usr/bin/env bash
# Fetch, here, the wheels that bench/gpu_run.sh installs on a lent GPU machine, which has no
# network: what `python -m bench.gpu_step` imports and the machine's image lacks (its package
# list: the device tool's KINDS.md), pinned to the versions tested here (bench/gpu_wheels.txt),
# for its Python 3.12. Into .whl/ (git-ignored; ~37 MB of the 64 MiB a call may carry).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
while read -r spec; do
  [ -n "$spec" ] || continue
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "$spec" 2>/dev/null \
    || python3 -m pip wheel -q --no-deps -w .whl "$spec"   # a pure-Python sdist (drain3): build it
done < bench/gpu_wheels.txt
du -sh .whl
