#!/usr/bin/env bash
# The prepared GPU run (tools/gpu_run.py): GPU benchmarks, then paper-scale Figure 6a and 6b.
# On the device machine, from the repository root, with the MNIST test files carried in gpu_data/mnist/:
#     tools/gpu_run.sh                       # writes every finished piece to $OUT
#     BUDGET_S=450 DEVICE=cuda tools/gpu_run.sh --max-epochs 150
# Dry run on a CPU (what the tests run):  OUT=/tmp/dry DEVICE=cpu tools/gpu_run.sh --preset tiny
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the results}"
DATA="${NOISYPROP_DATA:-$PWD/gpu_data}"
if [ ! -f "$DATA/mnist/t10k-images-idx3-ubyte.gz" ] || [ ! -f "$DATA/mnist/t10k-labels-idx1-ubyte.gz" ]; then
    echo "gpu_run.sh: the MNIST test files are not in $DATA/mnist/ (copy ../shared/data/mnist there, or set NOISYPROP_DATA)" >&2
    exit 2
fi
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" tools/gpu_run.py --out "$OUT" --data-root "$DATA" --device "${DEVICE:-cuda}" --budget-s "${BUDGET_S:-450}" "$@"
