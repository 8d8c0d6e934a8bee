#!/usr/bin/env bash
# The GPU check of docs/benchmarks.md in one command: for the Qwen3-Embedding
# 0.6B and 4B shapes (random weights, bf16 weights and autocast, 512-token
# cap, checkpointing on), training throughput, TFLOP/s, MFU and peak memory
# of ours against the reference, at the largest batch both sides fit
# (doubling from 32 until one side runs out of memory), then the evaluation
# text encoding, dataset order vs length-sorted.
#
# Usage (from the repository root, on a machine with one CUDA GPU):
#   bash tools/analysis_tools/gpu_benchmark.sh [OUT_DIR]
# Captions: $QWENCLIP_ROCOV2_TEXT/test_captions.csv if set, else synthetic.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-work_dirs/gpu_benchmark}
mkdir -p "$OUT"
CONFIG=configs/qwenclip/qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2.py
CAPTIONS=()
if [ -n "${QWENCLIP_ROCOV2_TEXT:-}" ]; then
    CAPTIONS=(--lengths real --captions "$QWENCLIP_ROCOV2_TEXT/test_captions.csv")
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
for SHAPE in 0.6b 4b; do
    BATCH=32
    while :; do
        LOG="$OUT/${SHAPE}_b${BATCH}.txt"
        python tools/analysis_tools/benchmark.py "$CONFIG" --shape "$SHAPE" \
            --device cuda --amp --max-length 512 --grad-checkpointing on \
            --batch-size "$BATCH" --steps 10 --warmup 3 --effects \
            "${CAPTIONS[@]}" 2>&1 | tee "$LOG"
        if grep -q 'failed:' "$LOG" || [ "$BATCH" -ge 1024 ]; then
            break
        fi
        BATCH=$((BATCH * 2))
    done
    python tools/analysis_tools/benchmark.py "$CONFIG" --shape "$SHAPE" \
        --device cuda --amp --max-length 512 --steps 1 --warmup 0 \
        --no-effects --eval-captions 0 --eval-batch-size 256 \
        "${CAPTIONS[@]}" 2>&1 | tee "$OUT/${SHAPE}_eval.txt"
done
grep -H 'throughput vs reference\|effects\|evaluation text' "$OUT"/*.txt
