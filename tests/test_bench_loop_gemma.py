"""bench/loop_gemma.sh, the long Gemma run, with a stand-in for `opsagent` that records its calls
and leaves what each stage leaves (the real stages take hours and are measured in
bench/loop_gemma.md): the stages run in order from the right directories, a second run skips
every stage whose result is there, and each DPO pair source gets its own inputs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUB = """#!/usr/bin/env bash
echo "$* | cwd=$PWD | data=$OPSAGENT_DATA_DIR" >> "$CALLS"
D=$OPSAGENT_DATA_DIR
case "$1 $2" in
  "model import-base") mkdir -p "$D/models/registry"; echo '{}' > "$D/models/registry/gemma3-270m.json";;
  "trajectories collect") mkdir -p "$D/trajectories";;
  "trajectories export") mkdir -p "$D/data/sft" "$D/data/dpo";;
  "trajectories answer-pairs") mkdir -p "${4:?}/dpo";;
  "train sft"|"train dpo") id=$(echo "$*" | sed -E 's/.*--id ([^ ]+).*/\\1/')
                           echo '{}' > "models/registry/$id.json";;
  "model export") exit 9;;  # the stand-in never promotes: current stays the base
esac
"""


def run(tmp_path: Path, **env: str) -> list[str]:
    stub, calls, data = tmp_path / "opsagent", tmp_path / "calls.log", tmp_path / "data"
    stub.write_text(STUB)
    stub.chmod(0o755)
    data.mkdir(exist_ok=True)
    (data / "models").mkdir(exist_ok=True)
    (data / "models" / "current").write_text("gemma3-270m\n")
    calls.write_text("")
    given = {"DATA": str(data), "OPS": os.path.relpath(stub, REPO), "CALLS": str(calls), **env}
    subprocess.run(["bash", str(REPO / "bench" / "loop_gemma.sh")], check=True, capture_output=True,
                   text=True, env={**os.environ, **given})
    return calls.read_text().splitlines()


def test_the_stages_run_in_order_and_a_second_run_skips_what_is_done(tmp_path):
    calls = run(tmp_path, HANDOVERS="1", MIN_PER_FAULT="12")
    assert [c.split(" --")[0] for c in calls] == [
        "model import-base gemma3-270m", "trajectories collect", "trajectories export", "train sft",
        "train dpo", "eval", "model promote sft-gemma", "model promote dpo-gemma"]
    [export] = [c for c in calls if c.startswith("trajectories export")]
    assert "--min-per-fault 12 --hand-overs" in export
    [sft] = [c for c in calls if c.startswith("train sft")]
    assert f"cwd={tmp_path / 'data'} " in sft  # trains from the data directory, not the checkout
    again = [c.split(" --")[0] for c in run(tmp_path)]
    assert again == ["eval", "model promote sft-gemma", "model promote dpo-gemma"]  # resumes at the eval


def test_unseen_pairs_come_from_new_worlds_in_a_store_of_their_own(tmp_path):
    calls = run(tmp_path, PAIRS="unseen", HANDOVERS="1")
    data = tmp_path / "data"
    collect = [c for c in calls if c.startswith("trajectories collect")]
    assert len(collect) == 2 and "--seed 1" in collect[0] and "--seed 7 " in collect[1] + " "
    assert "--episodes 1000 " in collect[1]  # enough worlds for the 100 pairs
    assert collect[1].endswith(f"data={data}/unseen-worlds")  # not the SFT collection's store
    [pairs] = [c for c in calls if c.startswith("trajectories answer-pairs")]
    assert "--checkpoint sft-gemma --out unseen --questions 1000" in pairs and "--hand-overs" in pairs
    assert f"cwd={data}/unseen-worlds" in pairs
    [dpo] = [c for c in calls if c.startswith("train dpo")]
    assert "dpo-unseen-apo.yaml --dataset unseen-worlds/unseen/dpo" in dpo and f"cwd={data} " in dpo
    assert (data / "unseen-worlds" / "models").resolve() == (data / "models").resolve()
