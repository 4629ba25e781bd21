#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs a tiny
# consumer against it twice: with find_package(lowdim) and with pkg-config.
set -euo pipefail
src=$1 build=$2 mode=$3
work="$build/packaging-$mode"
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -name 'liblowdim.so*' -printf '%h\n' | head -1)
# The SONAME chain must be there: liblowdim.so -> liblowdim.so.MAJOR.MINOR -> the real file.
soname=$(objdump -p "$libdir/liblowdim.so" | awk '/SONAME/ {print $2}')
[ -e "$libdir/$soname" ] || { echo "SONAME $soname is not installed"; exit 1; }
case "$mode" in
  cmake)
    cmake -S "$src/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
    cmake --build "$work/consumer" >/dev/null
    LD_LIBRARY_PATH="$libdir" "$work/consumer/consumer" ;;
  pkg-config)
    export PKG_CONFIG_PATH="$libdir/pkgconfig"
    pkg-config --exists lowdim
    # shellcheck disable=SC2046
    ${CXX:-c++} -std=c++20 "$src/tests/consumer/main.cpp" -o "$work/consumer" $(pkg-config --cflags --libs lowdim)
    LD_LIBRARY_PATH="$libdir" "$work/consumer" ;;
esac
# The MPI layer, when it was built: lowdim::lowdim_mpi via find_package(lowdim COMPONENTS mpi), or
# pkg-config lowdim-mpi; the consumer runs as one rank under mpirun.
if [ -n "$(find "$work/prefix" -name 'lowdim-mpi-targets.cmake' | head -1)" ]; then
  run_mpi() {
    if command -v mpirun > /dev/null; then
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LD_LIBRARY_PATH="$libdir" timeout 60 mpirun -np 1 "$1"
    else
      LD_LIBRARY_PATH="$libdir" ldd "$1" | grep -q liblowdim_mpi
    fi
  }
  case "$mode" in
    cmake)
      cmake -S "$src/tests/consumer/mpi" -B "$work/consumer-mpi" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
      cmake --build "$work/consumer-mpi" >/dev/null
      run_mpi "$work/consumer-mpi/consumer_mpi" ;;
    pkg-config)
      pkg-config --exists lowdim-mpi
      # shellcheck disable=SC2046
      ${CXX:-c++} -std=c++20 "$src/tests/consumer/mpi/main.cpp" -o "$work/consumer_mpi" $(pkg-config --cflags --libs lowdim-mpi)
      run_mpi "$work/consumer_mpi" ;;
  esac
fi
# Hidden visibility: besides the C++ API (lowdim::) and the C API (lowdim_*) only weak instantiations of std/fmt
# templates may be exported.
stray=$(nm -D --defined-only "$libdir/liblowdim.so" | awk '{print $3}' | c++filt | grep -vE 'lowdim::|^lowdim_|std::|__gnu_cxx::|fmt::|^_init$|^_fini$' || true)
if [ -n "$stray" ]; then
  echo "liblowdim.so exports symbols outside its API:"; echo "$stray" | head; exit 1
fi
# The Python package, where make install put it: importable from the prefix alone.
if [ -n "${LOWDIM_TEST_PYTHON:-}" ]; then
  init=$(find "$work/prefix" -path '*/lowdim/__init__.py' | head -1)
  [ -n "$init" ] || { echo "make install did not install the Python package"; exit 1; }
  (cd "$work" && PYTHONPATH=$(dirname "$(dirname "$init")") "$LOWDIM_TEST_PYTHON" -c "
import lowdim, lowdim.sklearn, numpy as np
assert lowdim.__file__.startswith('$work/prefix'), lowdim.__file__
import os
for f in ['_lowdim.pyi', 'py.typed']:
    assert os.path.exists(os.path.join(os.path.dirname(lowdim.__file__), f)), 'not installed: ' + f
u, s, vt = lowdim.svd(np.diag([3.0, 2.0, 1.0]), rank=2)
assert np.allclose(s, [3.0, 2.0]), s
print('python package from', lowdim.__file__)")
fi
