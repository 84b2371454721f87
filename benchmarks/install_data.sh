#!/usr/bin/env bash
# The data sets the benchmarks need that pip does not bring: Debian's Fashion-MNIST
# (/usr/share/datasets/fashion-mnist/). scikit-learn's digits, scikit-image's photos and
# the EfficientNet-lite0 weights come with the `bench` extra.
set -euo pipefail
if [ -n "${HALP_FMNIST_DIR:-}" ] || [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  echo "Fashion-MNIST: present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get install -y -q dataset-fashion-mnist || {
  $SUDO apt-get update -q && $SUDO apt-get install -y -q dataset-fashion-mnist; }
