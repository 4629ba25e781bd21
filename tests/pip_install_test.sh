#!/usr/bin/env bash
# pip install . with Debian's pip, setuptools and CMake (no build isolation: nothing is
# downloaded) into a scratch prefix, then lowdim is imported from there and used.
set -euo pipefail
src=$1 work=$2 python=${3:-/usr/bin/python3}
rm -rf "$work" && mkdir -p "$work"
# A copy of the tree, so the build leaves nothing in the source checkout.
mkdir -p "$work/src"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/src" -xf -
LOWDIM_BUILD_JOBS=${LOWDIM_BUILD_JOBS:-2} "$python" -m pip install --no-build-isolation --no-deps --no-index \
  --prefix "$work/prefix" "$work/src" >"$work/pip.log" 2>&1 || { tail -30 "$work/pip.log"; exit 1; }
init=$(find "$work/prefix" -path '*/lowdim/__init__.py' | head -1)
[ -n "$init" ] || { echo "pip installed no lowdim package under $work/prefix"; exit 1; }
cd "$work"
PYTHONPATH=$(dirname "$(dirname "$init")") "$python" -c "
import lowdim, lowdim.sklearn, numpy as np
assert lowdim.__file__.startswith('$work/prefix'), lowdim.__file__
import os
for f in ['_lowdim.pyi', 'py.typed']:
    assert os.path.exists(os.path.join(os.path.dirname(lowdim.__file__), f)), 'not installed: ' + f
x = np.random.default_rng(0).standard_normal((50, 8))
y = lowdim.sklearn.PCA(n_components=3).fit_transform(x)
assert y.shape == (50, 3)
help(lowdim.svd)
print('pip-installed lowdim', lowdim.__version__, 'from', lowdim.__file__)" | tail -1
