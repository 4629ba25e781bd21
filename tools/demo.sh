#!/usr/bin/env bash
# make demo: the main job on Fashion-MNIST.
set -euo pipefail
build=${1:-build}
data=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
"$build/lowdim" info
echo
"$build/lowdim" inspect "$data"
