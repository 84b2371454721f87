#!/usr/bin/env bash
# Every benchmark behind the README's figures, one after another, on a quiet machine.
# Tables are printed and also kept in benchmarks/out/ (JSON, markdown, PNG).
# About 2 hours on 2 cores (the zoo exports, when not cached, take longer); each script
# also has --quick for a smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p benchmarks/out
bash benchmarks/install_data.sh             # Debian's Fashion-MNIST, if missing (apt-get)
run() { local script=$1; shift; echo "== $script $*"
        "$PY" "benchmarks/$script" "$@" 2>&1 | tee "benchmarks/out/${script%.py}.log"; }

run groups_zoo.py                           # issue 2: groups across the torchvision zoo, capture time
run rewrite_coverage.py                     # issue 3: rewrite coverage, equivalence, half-pruned latency
run lut_build_time.py                       # issue 4: LUT build time
run latency_fidelity.py                     # issue 4: predicted vs measured latency
run lut_staircase.py                        # issue 4: one layer's staircase
run solver_optimality.py                    # issue 5: exact vs brute force, HALP's greedy
run solver_speed.py                         # issue 5: solve time on real structures
run prune_budget.py                         # issue 5: hitting the budget, end-to-end time
run prune_alternatives.py --budgets 0.3,0.5,0.7   # issue 5: against uniform and global magnitude
run fmnist_benchmark.py                     # issue 6: HALP while fine-tuning (needs dataset-fashion-mnist)
run efficientnet_lite0_oneshot.py           # issue 6: a real pretrained network, one-shot
run twin_agreement.py                       # issue 11 groundwork: the torch twin against ONNX Runtime
run fidelity_oneshot.py                     # issue 10: accuracy vs measured latency, Fashion-MNIST ResNet
run fidelity_oneshot.py --model models/fmnist_mobilenet.onnx   # issue 10: the second family
run efficientnet_lite0_fidelity.py --budgets 0.9,0.7           # issue 10: EfficientNet-lite0 agreement
run efficientnet_lite0_fidelity.py --budgets 0.9,0.7 --calibration other-images
run recovery_cost.py                        # issue 10: scoring + reconstruction cost in inferences
