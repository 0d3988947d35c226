#!/usr/bin/env bash
# The proving run of "Training that teaches" (bench/loop_gemma.md): Gemma 3 270M base → SFT on
# the teacher's rows → DPO on its pairs → parent / SFT / DPO evaluated on the held-out splits,
# all in the compact-symptom prompt profile, all served by vLLM, graded by the one grader. Run it in the
# background; each stage is skipped when its result is already registered, and training resumes
# from its last checkpoint, so a killed run goes on where it stopped:
#   DATA=/tmp/g15 nohup bash bench/loop_gemma.sh > /tmp/g15/loop.log 2>&1 &
# The promoted checkpoint (if one beats the base) is bundled under bench/artifacts/ to commit.
# Shorter runs (within one working session): SFT_STEPS=28 DPO=0 LIMIT=10 SPLITS="held-out held-out-targets".
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export OPSAGENT_DATA_DIR=${DATA:?set DATA to the data directory (it holds trajectories/ and models/)}
OPS=${OPS:-.venv/bin/opsagent}
EPISODES=${EPISODES:-700}   # teacher scenarios to collect when the store is empty (half also perturbed)
LIMIT=${LIMIT:-40}          # scenarios per held-out split (held-out-targets: TARGETS)
TARGETS=${TARGETS:-20}      # held-out-target scenarios
SFT_STEPS=${SFT_STEPS:-}    # stop SFT after this many optimizer steps (default: one epoch)
DPO=${DPO:-1}               # 0: stop after SFT (parent and SFT are evaluated)
DPO_STEPS=${DPO_STEPS:-}    # stop DPO after this many optimizer steps of 8 pairs (default: one epoch)
PAIRS=${PAIRS:-teacher}     # DPO pairs: teacher (the export's teacher vs perturbed teacher), answers
                            # (the SFT checkpoint's own wrong answers, greedy first, as minimal edits) or
                            # unseen (its wrong answers to new training worlds against the teacher's,
                            # APO-zero: dpo-apo-gemma's recipe, at least as good as its parent on confirm)
QUESTIONS=${QUESTIONS:-327} # answers: teacher investigations the SFT checkpoint answers
SAMPLES=${SAMPLES:-3}       # answers: the greedy answer, then samples at 0.5 where it was right
UNSEEN=${UNSEEN:-1000}      # unseen: new training worlds to collect; every distinct investigation among
                            # them is asked (1,000 gave 408 questions, 110 pairs within 4,096 tokens;
                            # its DPO needs MALLOC_MMAP_THRESHOLD_=1048576 on 24 GB: OOM at step 13 without)
SPLITS=${SPLITS:-"held-out held-out-targets held-out-faults"}
PROFILE=${PROFILE:-compact-symptom}  # the export's prompt profile (sft-gemma / dpo-gemma were trained on compact)
RENAMED=${RENAMED:-0}       # share of one-service incidents also exported with the culprit renamed
HANDOVERS=${HANDOVERS:-0}   # 1: also export the teacher's right diagnoses handed to a human (dns_failure, ...)
MIN_PER_FAULT=${MIN_PER_FAULT:-0}  # near-duplicates taken back until each fault type has this many rows
SFT_ID=${SFT_ID:-sft-gemma}  # checkpoint ids: another run's ids keep its bundle under bench/artifacts/ apart
DPO_ID=${DPO_ID:-dpo-gemma}
WORKERS=${WORKERS:-6}       # eval episodes at once: the model is the bottleneck, vLLM batches them
EVAL_OUT=${EVAL_OUT:-$DATA/eval}  # graded episodes kept there: a rerun (or a larger LIMIT) runs only the missing
export OPSAGENT_VLLM__KV_CACHE_GIB=${OPSAGENT_VLLM__KV_CACHE_GIB:-4}  # WORKERS conversations of up to ~10k tokens
export OPSAGENT_AGENT__LLM__TIMEOUT_S=${OPSAGENT_AGENT__LLM__TIMEOUT_S:-900}  # vLLM shares the 2 cores
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

[ -f "$DATA/models/registry/gemma3-270m.json" ] || { stamp import; $OPS model import-base gemma3-270m --current; }
if [ ! -d "$DATA/trajectories" ]; then
  stamp collect; $OPS trajectories collect --split train --episodes "$EPISODES" --workers 2 --perturbed 0.5 \
    --augmented 0.3 --seed 1
fi
[ -d "$DATA/data/sft" ] || { stamp export; $OPS trajectories export --out "$DATA/data" --tokenizer-of gemma3-270m \
                                            --max-tokens 8192 --profile "$PROFILE" --renamed-service "$RENAMED" \
                                            --min-per-fault "$MIN_PER_FAULT" $([ "$HANDOVERS" = 0 ] || echo --hand-overs); }
cd "$DATA"
[ -f "models/registry/$SFT_ID.json" ] || { stamp sft; "$REPO/$OPS" train sft --id "$SFT_ID" \
  --config "$REPO/bench/loop_gemma/sft.yaml" ${SFT_STEPS:+--max-steps "$SFT_STEPS"}; }
dpo_config=dpo.yaml dpo_data=data/dpo
if [ "$PAIRS" = answers ]; then
  dpo_config=dpo-edit.yaml dpo_data=answers/dpo
  [ "$DPO" = 0 ] || [ -d "$dpo_data" ] || { stamp answer-pairs; "$REPO/$OPS" trajectories answer-pairs \
    --checkpoint "$SFT_ID" --out answers --questions "$QUESTIONS" --samples "$SAMPLES" --temperature 0.5 \
    --greedy-first --minimal-edit; }
elif [ "$PAIRS" = unseen ]; then
  # New training worlds (seed 7: none of the SFT collection's) in a store of their own, so the
  # questions are investigations the SFT checkpoint never trained on; the models are shared.
  dpo_config=dpo-unseen-apo.yaml dpo_data=unseen-worlds/unseen/dpo
  if [ "$DPO" != 0 ] && [ ! -d "$dpo_data" ]; then
    mkdir -p unseen-worlds && ln -sfn ../models unseen-worlds/models
    [ -d unseen-worlds/trajectories ] || { stamp collect-unseen; OPSAGENT_DATA_DIR="$DATA/unseen-worlds" \
      "$REPO/$OPS" trajectories collect --split train --episodes "$UNSEEN" --workers 2 --perturbed 0 \
      --augmented 0.3 --seed 7; }
    stamp answer-pairs
    (cd unseen-worlds && OPSAGENT_DATA_DIR="$DATA/unseen-worlds" "$REPO/$OPS" trajectories answer-pairs \
      --checkpoint "$SFT_ID" --out unseen --questions "$UNSEEN" --samples 2 --temperature 0.5 --greedy-first \
      $([ "$HANDOVERS" = 0 ] || echo --hand-overs))
  fi
fi
[ "$DPO" = 0 ] || [ -f "models/registry/$DPO_ID.json" ] || { stamp dpo; "$REPO/$OPS" train dpo \
  --config "$REPO/bench/loop_gemma/$dpo_config" --dataset "$dpo_data" --id "$DPO_ID" --base "$SFT_ID" \
  ${DPO_STEPS:+--max-steps "$DPO_STEPS"}; }
cd "$REPO"
stamp eval
# Trained checkpoints first: each one's figures are registered as soon as its episodes are done.
checkpoints=(--checkpoint "$SFT_ID" --checkpoint gemma3-270m)
[ "$DPO" = 0 ] || checkpoints=(--checkpoint "$DPO_ID" "${checkpoints[@]}")
limits=(--limit "$LIMIT")
[[ " $SPLITS " != *" held-out-targets "* ]] || limits+=(--limit "held-out-targets=$TARGETS")
# shellcheck disable=SC2046  # one --scenarios per split
$OPS eval "${checkpoints[@]}" $(printf -- '--scenarios %s ' $SPLITS) "${limits[@]}" --workers "$WORKERS" \
  --out "$EVAL_OUT"
# Promotion by the one rule (better task score on held-out, no safety regression on any split):
# SFT against the base, then DPO against whichever is current. A refusal is a result, not an error.
stamp promote
$OPS model promote "$SFT_ID" --split "held-out@$LIMIT" || true
[ "$DPO" = 0 ] || $OPS model promote "$DPO_ID" --split "held-out@$LIMIT" || true
current=$(cat "$DATA/models/current")
[ "$current" = gemma3-270m ] || $OPS model export "$current" --out bench/artifacts
stamp done
