"""File readers against NumPy, in one run, on the same files: Fashion-MNIST train
images (IDX .gz) -> float32 matrix, vs gzip + numpy.frombuffer + astype; the same
60000 x 784 float32 matrix as .npy, vs numpy.load (and mmap_mode='r')."""
import gzip
import os
import sys
import tempfile

import numpy as np

from common import Comparison, bench_binary, run_ours, time_peer

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
idx = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
if not os.path.exists(idx):
    sys.exit(f"skipped: {idx} is missing (Debian package dataset-fashion-mnist)")


def numpy_idx():
    with gzip.open(idx, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(60000, 784).astype(np.float32)


with tempfile.TemporaryDirectory() as scratch:
    npy = os.path.join(scratch, "fashion.npy")
    np.save(npy, numpy_idx())
    ours = run_ours(bench_binary(build, "bench_io"), ".*", env={"LOWDIM_BENCH_IDX": idx, "LOWDIM_BENCH_NPY": npy})
    cmp = Comparison("io", build)
    peer_s, _ = time_peer(numpy_idx, repeats=5)
    cmp.add("IDX .gz -> 60000x784 float32", ours["BM_ReadMatrixIdxGz/repeats:5/real_time"], "gzip + np.frombuffer + astype",
            peer_s)
    cmp.add("IDX .gz streamed, 1000-row blocks", ours["BM_RowReaderIdxGz/repeats:5/real_time"],
            "gzip + np.frombuffer + astype", peer_s, "bounded memory vs whole file")
    peer_s, _ = time_peer(lambda: np.load(npy), repeats=5)
    cmp.add(".npy 188 MB float32 -> matrix", ours["BM_ReadMatrixNpy/repeats:5/real_time"], "np.load", peer_s)
    peer_s, _ = time_peer(lambda: float(np.load(npy, mmap_mode="r")[:, 400].sum()), repeats=5)
    cmp.add(".npy mapped, touch every row", ours["BM_MappedNpy/repeats:5/real_time"], "np.load(mmap_mode='r')", peer_s)
    cmp.report()
